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

//go:embed pytools-requirements.txt
var pytoolsRequirements []byte

// PyTools returns the bin directory of a virtualenv holding the PyPI tools
// the tests use (pipx, uv, jsonschema, auditwheel), pinned in
// pytools-requirements.txt. It is built once from PyPI with Debian's
// python3.11 and cached under the pyscope cache; concurrent test processes
// wait for each other. A failed install fails the test.
func PyTools(t testing.TB) string {
	t.Helper()
	NeedPackages(t, "python3.11-venv")
	dir, err := pytools()
	if err != nil {
		t.Fatalf("PyPI test tools: %v", err)
	}
	return filepath.Join(dir, "bin")
}

func pytools() (string, error) {
	sum := sha256.Sum256(pytoolsRequirements)
	dir := filepath.Join(cache.Dir(""), fmt.Sprintf("pytools-%x", sum[:6]))
	// A venv cannot be moved once made, so it is built in place.
	return dir, buildCached(dir, func() error {
		if out, err := exec.Command(DebianPython, "-m", "venv", dir).CombinedOutput(); err != nil {
			return fmt.Errorf("%s -m venv: %v\n%s", DebianPython, err, out)
		}
		req := filepath.Join(dir, "requirements.txt")
		if err := os.WriteFile(req, pytoolsRequirements, 0o644); err != nil {
			return err
		}
		pip := exec.Command(filepath.Join(dir, "bin", "python"), "-m", "pip", "install", "-q",
			"--disable-pip-version-check", "--no-deps", "--only-binary", ":all:", "-r", req)
		if out, err := pip.CombinedOutput(); err != nil {
			return fmt.Errorf("pip install -r %s: %v\n%s", req, err, out)
		}
		return nil
	})
}
