package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

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
	err := buildCached(dir, func() error {
		cmd := exec.Command(filepath.Join(PyTools(t), "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
			"--only-binary", ":all:", "--target", dir, "gunicorn=="+gunicornVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pip install gunicorn: %v\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
