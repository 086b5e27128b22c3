package testenv

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

var aptMu sync.Mutex

// NeedPackages installs the Debian packages a test uses if they are
// missing. scripts/test.sh installs them all up front; this keeps a single
// `go test` run from a fresh machine honest. It fails the test (never
// skips) when the install fails.
func NeedPackages(t testing.TB, pkgs ...string) {
	t.Helper()
	aptMu.Lock()
	defer aptMu.Unlock()
	var missing []string
	for _, p := range pkgs {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %v: %v\n%s (run ./scripts/test.sh, which installs them)", missing, err, out)
	}
}

// NeedCommand returns the path of cmd, installing pkg first if needed.
func NeedCommand(t testing.TB, cmd, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	NeedPackages(t, pkg)
	p, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("%s still missing after installing %s", cmd, pkg)
	}
	return p
}
