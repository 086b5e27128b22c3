package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestArm64ReadsX86Cores builds pyscope for arm64 and runs it under
// qemu-aarch64 on x86-64 cores and bundles written in the suite: nothing
// that reads a core may depend on the host's architecture (registers,
// unwinding, system call names, thread pointers). Its output must equal
// the native x86-64 binary's byte for byte, text and JSON: a core carries
// no timing, and both binaries read the same files, so nothing is
// normalised.
func TestArm64ReadsX86Cores(t *testing.T) {
	testenv.NeedPackages(t, "qemu-user")
	qemu := testenv.NeedCommand(t, "qemu-aarch64", "qemu-user")
	bin := testenv.BuildPyscope(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	arm := filepath.Join(t.TempDir(), "pyscope-arm64")
	build := exec.Command("go", "build", "-o", arm, "./cmd/pyscope")
	build.Dir = root
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOARCH=arm64 go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(qemu, arm, "version").Output(); err != nil || !strings.Contains(string(out), "linux/arm64") {
		t.Fatalf("the arm64 binary does not run under qemu: %q, %v", out, err)
	}

	// A static stripped build, one with its debug file, and a shared
	// libpython with DWARF.
	want := map[string]bool{"debian-3.11": true}
	var interps []testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if want[in.Name] || in.Minor == "3.12" || in.Minor == "3.14" {
			interps = append(interps, in)
		}
	}
	for _, in := range interps {
		t.Run(in.Name, func(t *testing.T) {
			dir := t.TempDir()
			tg := testenv.StartPlain(t, in, "values.py", "ready", filepath.Join(dir, "oracle.json"))
			core := filepath.Join(dir, "x86.core")
			bundle := filepath.Join(dir, "x86.tar.zst")
			pyscopeGcore(t, bin, tg, core)
			pyscopeGcore(t, bin, tg, bundle, "--bundle")
			for _, file := range []string{core, bundle} {
				for _, args := range [][]string{
					{"dump", "--color", "never", file},
					{"dump", "--json", "--locals", file},
					{"dump", "--native", "--json", file},
				} {
					native := runPyscope(t, bin, nil, args...)
					if native.code != 0 {
						t.Fatalf("pyscope %s: exit %d: %s", strings.Join(args, " "), native.code, native.stderr)
					}
					// Equal outputs prove nothing if there is nothing in them.
					if args[1] == "--native" && !strings.Contains(native.stdout, `"kind":"native"`) {
						t.Fatalf("pyscope %s has no native frame", strings.Join(args, " "))
					}
					t0 := time.Now()
					stdout, stderr, err := runQemu(t, qemu, arm, dir, args...)
					if err != nil {
						t.Fatalf("qemu-aarch64 pyscope %s: %v: %s", strings.Join(args, " "), err, stderr)
					}
					t.Logf("arm64 %s %s: %d bytes in %v", strings.Join(args[:len(args)-1], " "), filepath.Base(file), len(stdout), time.Since(t0).Round(time.Millisecond))
					if stdout != native.stdout {
						t.Errorf("arm64 pyscope %s differs from x86-64's:\n%s", strings.Join(args, " "), whereParting(native.stdout, stdout))
					}
					if stderr != native.stderr {
						t.Errorf("arm64 pyscope %s warns differently:\nx86-64: %s\narm64:  %s", strings.Join(args, " "), native.stderr, stderr)
					}
				}
			}
		})
	}
}

func runQemu(t *testing.T, qemu, bin, dir string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, append([]string{bin}, args...)...)
	cmd.Dir = "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if crashed(out.String()) || crashed(errb.String()) {
		t.Errorf("arm64 pyscope %s crashed:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), errb.String(), err
}

// whereParting shows where two outputs part.
func whereParting(a, b string) string {
	i := firstDiff(a, b)
	lo := max(0, i-200)
	return "x86-64: …" + a[lo:min(len(a), i+200)] + "\narm64:  …" + b[lo:min(len(b), i+200)]
}
