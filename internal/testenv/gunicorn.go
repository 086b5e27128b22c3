package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"pyscope/internal/cache"
)

// gunicornVersion is the WSGI server the real-world tests run: pure
// Python, so one install serves every interpreter of the matrix.
const gunicornVersion = "27.0.1"

// Gunicorn returns a directory holding gunicorn, to put on PYTHONPATH. It
// is installed from PyPI once (with PyTools' pip) and cached under the
// pyscope cache. A failed install fails the test.
func Gunicorn(t testing.TB) string {
	t.Helper()
	dir := cache.Dir("gunicorn-" + gunicornVersion)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	pip := filepath.Join(PyTools(t), "pip")
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
	cmd := exec.Command(pip, "install", "-q", "--disable-pip-version-check", "--no-deps", "--only-binary", ":all:",
		"--target", dir, "gunicorn=="+gunicornVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("pip install gunicorn: %v\n%s", err, out))
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
