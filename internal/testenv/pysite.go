package testenv

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"pyscope/internal/cache"
)

// PySite returns a directory of PyPI packages (pinned requirements, with
// their dependencies) built for interpreter in's minor version, for a
// target to put on sys.path: the reference interpreters have no pip, so
// PyTools' pip installs binary wheels for them with --target. The
// directory is cached per minor version and requirements; concurrent test
// processes wait for each other. A failed install fails the test.
func PySite(t testing.TB, in Interp, reqs ...string) string {
	t.Helper()
	pip := filepath.Join(PyTools(t), "pip")
	// A free-threaded build loads only wheels of its own ABI (cp313t).
	abi := "cp" + strings.ReplaceAll(in.Minor, ".", "")
	if in.FreeThreaded {
		abi += "t"
	}
	key := sha256.Sum256([]byte(abi + "\n" + strings.Join(reqs, "\n")))
	dir := filepath.Join(cache.Dir(""), fmt.Sprintf("pysite-%s-%x", abi, key[:6]))
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	args := []string{"install", "-q", "--disable-pip-version-check", "--target", dir,
		"--python-version", in.Minor, "--implementation", "cp", "--abi", abi, "--platform", "manylinux_2_28_x86_64",
		"--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
		"--only-binary", ":all:"}
	out, err := exec.Command(pip, append(args, reqs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pip install %v for Python %s: %v\n%s", reqs, in.Minor, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
