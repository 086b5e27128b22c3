package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"pyscope/internal/testenv"
)

// TestMain removes what the tests built: the pyscope binary and the wheel.
func TestMain(m *testing.M) {
	code := testenv.RunTests(m)
	if wheelPath != "" {
		os.RemoveAll(filepath.Dir(wheelPath))
	}
	os.Exit(code)
}
