package testenv

import (
	"crypto/sha256"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	err := buildCached(dir, func() error {
		args := []string{"install", "-q", "--disable-pip-version-check", "--target", dir,
			"--python-version", in.Minor, "--implementation", "cp", "--abi", abi, "--platform", "manylinux_2_28_x86_64",
			"--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
			"--only-binary", ":all:"}
		if out, err := exec.Command(pip, append(args, reqs...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("pip install %v for Python %s: %v\n%s", reqs, in.Minor, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
