package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pyscope/internal/cache"
)

// Coredump is Debian's systemd-coredump, unpacked rather than installed:
// installing it would point the kernel's core_pattern at it for the whole
// machine, and the other tests (and the machine's owner) want core files.
type Coredump struct {
	Root string // the unpacked packages
}

// Helper is systemd-coredump, the kernel's core_pattern pipe helper and
// the socket-activated service that stores cores.
func (c Coredump) Helper() string { return filepath.Join(c.Root, "lib/systemd/systemd-coredump") }

// Coredumpctl is the coredumpctl binary.
func (c Coredump) Coredumpctl() string { return filepath.Join(c.Root, "usr/bin/coredumpctl") }

// LibDir holds the libsystemd-shared both binaries were built with (they
// look for it in /usr/lib/x86_64-linux-gnu/systemd; LD_LIBRARY_PATH takes
// this one first).
func (c Coredump) LibDir() string { return filepath.Join(c.Root, "usr/lib/x86_64-linux-gnu/systemd") }

// CorePattern is the kernel.core_pattern the package installs, without
// its leading "|".
func (c Coredump) CorePattern() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.Root, "usr/lib/sysctl.d/50-coredump.conf"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "kernel.core_pattern="); ok {
			return strings.TrimPrefix(v, "|"), nil
		}
	}
	return "", fmt.Errorf("no kernel.core_pattern in 50-coredump.conf")
}

// SystemdCoredump downloads Debian's systemd-coredump and the
// libsystemd-shared of the same version with apt-get and unpacks them
// into the cache, once. journald and systemd-socket-activate come from
// the installed systemd package.
func SystemdCoredump(t testing.TB) Coredump {
	t.Helper()
	NeedPackages(t, "systemd")
	out, err := exec.Command("apt-cache", "show", "--no-all-versions", "systemd-coredump").Output()
	if err != nil || !strings.Contains(string(out), "Version: ") {
		aptUpdate(t)
		out, err = exec.Command("apt-cache", "show", "--no-all-versions", "systemd-coredump").Output()
	}
	if err != nil {
		t.Fatalf("apt-cache show systemd-coredump: %v", err)
	}
	var version string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			version = strings.TrimSpace(v)
		}
	}
	if version == "" {
		t.Fatalf("apt-cache show systemd-coredump: no version in\n%s", out)
	}
	dir := filepath.Join(cache.Dir(""), "systemd-coredump-"+strings.NewReplacer(":", "_", "~", "_").Replace(version))
	err = buildCached(dir, func() error {
		dl := t.TempDir()
		os.Chmod(dl, 0o777) // apt-get download drops to the _apt user when it can
		get := exec.Command("apt-get", "download", "-q", "systemd-coredump="+version, "libsystemd-shared="+version)
		get.Dir = dl
		if out, err := get.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get download systemd-coredump=%s libsystemd-shared=%s: %v\n%s", version, version, err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
		if len(debs) != 2 {
			return fmt.Errorf("apt-get download gave %v, want two packages", debs)
		}
		for _, deb := range debs {
			if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
				return fmt.Errorf("dpkg-deb -x %s: %v\n%s", deb, err, out)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Coredump{Root: dir}
	return c
}

func aptUpdate(t testing.TB) {
	aptMu.Lock()
	defer aptMu.Unlock()
	cmd := exec.Command("apt-get", "update", "-q")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
}
