package testenv

import (
	"crypto/sha256"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"pyscope/internal/cache"
)

//go:embed webapps-requirements.txt
var webappsRequirements []byte

// WebApps returns a directory for a target's PYTHONPATH that holds the web
// frameworks pinned in webapps-requirements.txt (Django): pure-Python
// wheels, installed once from PyPI with the PyTools pip and cached under
// the pyscope cache. They serve every test interpreter the pinned versions
// support (Django 6.1: 3.12+). A failed install fails the test.
func WebApps(t testing.TB) string {
	t.Helper()
	pip := filepath.Join(PyTools(t), "python")
	dir, err := webapps(pip)
	if err != nil {
		t.Fatalf("web frameworks for the targets: %v", err)
	}
	return dir
}

func webapps(python string) (string, error) {
	sum := sha256.Sum256(webappsRequirements)
	dir := filepath.Join(cache.Dir(""), fmt.Sprintf("webapps-%x", sum[:6]))
	return dir, buildCached(dir, func() error {
		req := dir + ".requirements.txt"
		if err := os.WriteFile(req, webappsRequirements, 0o644); err != nil {
			return err
		}
		// Wheels for 3.12, whatever Python runs pip: they are pure Python.
		pip := exec.Command(python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
			"--no-deps", "--only-binary", ":all:", "--python-version", "3.12", "--target", dir, "-r", req)
		if out, err := pip.CombinedOutput(); err != nil {
			return fmt.Errorf("pip install -r %s: %v\n%s", req, err, out)
		}
		return nil
	})
}
