package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/creack/pty"

	"pyscope/internal/testenv"
)

// scripts/test.sh, as CI runs it (output to a pipe), on a few packages:
// no colour codes, the tests of each package and their total counted as
// `go test -list` lists them, a fuzz run of each fuzz target, and nothing
// left in TMPDIR. On a terminal it does use colour.
func TestScriptTestSh(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []string{"./internal/native/...", "./internal/unwind"}
	tmp := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "test.sh"), pkgs...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "FUZZTIME=1s", "NO_COLOR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/test.sh: %v\n%s", err, out)
	}
	if i := bytes.IndexByte(out, 0x1b); i >= 0 {
		t.Errorf("escape sequence in output that is not a terminal: %q", out[max(0, i-40):min(len(out), i+40)])
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left behind in TMPDIR: %v", names)
	}
	text := string(out)
	summary := text[strings.LastIndex(text, "==> summary"):]

	// The table's tests column, per package and in total.
	counts := map[string]int{}
	for _, l := range strings.Split(summary, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 2 && strings.HasPrefix(f[0], "internal/"):
			counts[f[0]], _ = strconv.Atoi(f[1])
		case len(f) > 3 && f[0] == "total" && f[1] == "(3":
			counts["total"], _ = strconv.Atoi(f[3])
		}
	}
	total := 0
	for _, pkg := range []string{"internal/native", "internal/native/gen", "internal/unwind"} {
		list := exec.Command("go", "test", "-list", ".", "./"+pkg)
		list.Dir = root
		lo, err := list.Output()
		if err != nil {
			t.Fatalf("go test -list ./%s: %v", pkg, err)
		}
		want := 0
		for _, name := range strings.Fields(string(lo)) {
			if strings.HasPrefix(name, "Test") || strings.HasPrefix(name, "Fuzz") || strings.HasPrefix(name, "Example") {
				want++
			}
		}
		total += want
		if counts[pkg] != want || want == 0 {
			t.Errorf("%s: summary counts %d tests, go test -list lists %d", pkg, counts[pkg], want)
		}
	}
	if counts["total"] != total {
		t.Errorf("summary total %d tests, want %d:\n%s", counts["total"], total, summary)
	}
	for _, name := range []string{"FuzzParseCFI", "FuzzDWARFExpr"} {
		if !strings.Contains(text, "--- fuzz pyscope/internal/unwind "+name+" (1s)") {
			t.Errorf("%s was not fuzzed", name)
		}
	}
	if !strings.Contains(summary, "\nALL PASSED\n") {
		t.Errorf("no verdict in the summary:\n%s", summary)
	}

	// On a terminal: colour.
	cmd = exec.Command(filepath.Join(root, "scripts", "test.sh"), "./internal/native/gen")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "FUZZTIME=1s", "NO_COLOR=")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	tty, _ := io.ReadAll(f) // ends with EIO when the script exits
	f.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("scripts/test.sh on a terminal: %v\n%s", err, tty)
	}
	if !bytes.Contains(tty, []byte("\x1b[32mALL PASSED")) {
		t.Errorf("no colour on a terminal:\n%q", tty[max(0, len(tty)-200):])
	}
}
