// Command provision prepares the interpreters of the test matrix: the
// reference python-build-standalone builds, a free-threaded 3.13 built from
// source, and a `venv --copies` copy of Debian's python3.11. It prints every interpreter's name, version and path.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"pyscope/internal/pybuilds"
	"pyscope/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, minor := range pybuilds.Minors() {
		if _, err := pybuilds.Get(minor); err != nil {
			return fmt.Errorf("python %s: %v", minor, err)
		}
	}
	if _, err := pybuilds.GetFreeThreaded(os.Stdout); err != nil {
		return err
	}
	if err := makeVenv(); err != nil {
		return err
	}
	m, err := testenv.Matrix()
	if err != nil {
		return err
	}
	for _, in := range m {
		out, err := exec.Command(in.Path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])").Output()
		if err != nil {
			return fmt.Errorf("%s (%s) does not run: %v", in.Name, in.Path, err)
		}
		v := strings.TrimSpace(string(out))
		if !strings.HasPrefix(v, in.Minor+".") {
			return fmt.Errorf("%s (%s) is Python %s, want %s", in.Name, in.Path, v, in.Minor)
		}
		fmt.Printf("%-18s %-8s %s\n", in.Name, v, in.Path)
	}
	return nil
}

// makeVenv creates the virtualenv once; an interrupted attempt (no
// .complete marker) is redone from scratch.
func makeVenv() error {
	dir := testenv.VenvDir()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return nil
	}
	if _, err := os.Stat(testenv.DebianPython); err != nil {
		return fmt.Errorf("%s missing: apt-get install python3.11 python3.11-venv", testenv.DebianPython)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cmd := exec.Command(testenv.DebianPython, "-m", "venv", "--copies", "--without-pip", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("python3.11 -m venv --copies %s: %v\n%s", dir, err, out)
	}
	py := filepath.Join(dir, "bin", "python3.11")
	if fi, err := os.Lstat(py); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a copied executable", py)
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.prefix)").Output()
	if err != nil {
		return fmt.Errorf("%s: %v", py, err)
	}
	if got := strings.TrimSpace(string(out)); got != dir {
		return fmt.Errorf("%s has prefix %s, want %s", py, got, dir)
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}
