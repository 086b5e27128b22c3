package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/testenv"
)

// image315 is the _Py_DebugOffsets image the layout tests build from
// CPython's 3.15 header (kept as a fuzz seed).
func image315(t *testing.T) []byte {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "internal/cpython/layout/testdata/fuzz/FuzzParseDebugOffsets/image-3.15"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	lit := strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "[]byte("), ")")
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return []byte(s)
}

// startFakeRuntime runs a real process whose executable exports
// Py_Version = version and a _PyRuntime that starts with img and whose
// interpreter list holds one empty interpreter (no thread yet), as a
// runtime looks early in its start.
func startFakeRuntime(t *testing.T, version uint64, img []byte) int {
	t.Helper()
	dbg, err := layout.ParseDebugOffsets(img)
	head := uint64(len(img)) // no usable offsets: leave the list empty
	isize := uint64(4096)
	if err == nil {
		head, _ = dbg.Get("runtime_state.interpreters_head")
		isize, _ = dbg.Get("interpreter_state.size")
	}
	var c strings.Builder
	fmt.Fprintf(&c, "#include <unistd.h>\nconst unsigned int Py_Version = %#x;\n", version)
	fmt.Fprintf(&c, "unsigned char _PyRuntime[%d] = {", head+4096)
	for i, b := range img {
		if i%32 == 0 {
			c.WriteString("\n")
		}
		fmt.Fprintf(&c, "%d,", b)
	}
	fmt.Fprintf(&c, "};\nstatic unsigned char interp[%d];\n", isize)
	fmt.Fprintf(&c, "int main(void) {\n  *(void **)(_PyRuntime + %d) = interp;\n  write(1, \"ready\\n\", 6);\n  for (;;) pause();\n}\n", head)
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	exe := filepath.Join(dir, fmt.Sprintf("python3.%d", version>>16&0xff))
	if err := os.WriteFile(src, []byte(c.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.NeedCommand(t, "gcc", "gcc")
	if out, err := exec.Command("gcc", "-O0", "-rdynamic", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(exe)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	done := make(chan error, 1)
	go func() { _, err := out.Read(buf); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fake runtime did not start")
	}
	return cmd.Process.Pid
}

// TestDumpNewerVersion: a process laid out as 3.15 (its _Py_DebugOffsets
// built from CPython's 3.15 header) is read with one warning that names
// its version and the newest tested one, in text and JSON and at the start
// of a debug session, and nothing else is made up: no thread, no garbage.
func TestDumpNewerVersion(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	pid := startFakeRuntime(t, 0x030F00F0, image315(t))
	r := runPyscope(t, bin, nil, "dump", strconv.Itoa(pid))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var warnings []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "warning: ") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "Python 3.15.0") || !strings.Contains(warnings[0], "("+layout.NewestTested+")") || !strings.Contains(warnings[0], "untested") {
		t.Errorf("want one warning naming 3.15.0 and %s, got %q in:\n%s", layout.NewestTested, warnings, r.stdout)
	}
	if !strings.HasPrefix(r.stdout, fmt.Sprintf("Process %d: Python 3.15.0 (", pid)) || strings.Contains(r.stdout, "Thread ") {
		t.Errorf("unexpected output:\n%s", r.stdout)
	}
	r = runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(pid))
	d := decodeDump(t, r.stdout)
	var j struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if d.Python.Version != "3.15.0" || len(d.Threads) != 0 || len(j.Warnings) != 1 || !strings.Contains(j.Warnings[0], "3.15.0") {
		t.Errorf("JSON: version %q, %d threads, warnings %q", d.Python.Version, len(d.Threads), j.Warnings)
	}

	// A session says it once too, at its start, and goes on.
	r = runPyscope(t, bin, nil, "debug", strconv.Itoa(pid), "--batch", "-ex", "info threads")
	if r.code != 0 {
		t.Fatalf("debug: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	head := strings.SplitN(r.stderr, "\n", 3)
	if len(head) < 3 || head[0] != fmt.Sprintf("Process %d: Python 3.15.0 (%s).", pid, d.Python.Executable) || !strings.HasPrefix(head[2], "warning: ") ||
		strings.Count(r.stderr+r.stdout, "warning: ") != 1 || !strings.Contains(head[2], "Python 3.15.0") || !strings.Contains(head[2], "("+layout.NewestTested+")") || !strings.Contains(head[2], "untested") {
		t.Errorf("debug: want the banner and one warning naming 3.15.0 and %s at the start; stderr:\n%s\nstdout:\n%s", layout.NewestTested, r.stderr, r.stdout)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^\* 1 +%d `, pid)).MatchString(r.stdout) {
		t.Errorf("debug: info threads does not list the process's one thread %d:\n%s", pid, r.stdout)
	}
	if err := testenv.NotStopped(pid); err != nil {
		t.Error(err)
	}
}

// TestDumpNewerVersionIncompatible: a 3.16 whose _Py_DebugOffsets insert a
// member the newest known layout lacks is refused with the reason, rather
// than read with offsets that do not fit.
func TestDumpNewerVersionIncompatible(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	img := image315(t)
	binary.LittleEndian.PutUint64(img[8:], 0x031000A1)
	// Insert a member after thread_state.current_frame: every later member
	// moves by 8 bytes.
	d, err := layout.ParseDebugOffsets(img)
	if err != nil {
		t.Fatal(err)
	}
	at := 24
	for _, n := range d.Names() {
		at += 8
		if n == "thread_state.current_frame" {
			break
		}
	}
	shifted := append(append(append([]byte{}, img[:at]...), make([]byte, 8)...), img[at:]...)
	binary.LittleEndian.PutUint64(shifted[at:], binary.LittleEndian.Uint64(img[at-8:])+8)
	pid := startFakeRuntime(t, 0x031000A1, shifted)
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(pid))
	checkOneLineError(t, r, "Python 3.16.0a1 is not supported", "newest layout pyscope knows (3.15)")
	if err := testenv.NotStopped(pid); err != nil {
		t.Error(err)
	}
}
