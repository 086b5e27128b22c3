package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestDumpInMountNamespace runs the target in its own mount namespace, where
// its interpreter lives at a path that does not exist on the host (as in a
// container). pyscope must read its files through /proc/PID/root.
func TestDumpInMountNamespace(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Minor == "3.12" {
			in = i
		}
	}
	root := filepath.Dir(filepath.Dir(in.Path)) // the install prefix
	dir := t.TempDir()
	mnt := filepath.Join(dir, "container-python")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	oracle := filepath.Join(dir, "oracle.json")
	script := testenv.TargetPath(t, "shapes.py")
	inner := "mount --bind " + root + " " + mnt + " && exec " + filepath.Join(mnt, "bin", filepath.Base(in.Path)) + " " + script + " " + oracle
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", inner)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("target ended before it was ready: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("target not ready after 60 s: %s", stderr.String())
	}
	var o testenv.Oracle
	raw, err := os.ReadFile(oracle)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.Executable); err == nil {
		t.Fatalf("%s exists on the host too: the test would prove nothing", o.Executable)
	}
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(o.PID))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decodeDump(t, r.stdout)
	tg := &testenv.Target{PID: o.PID, Oracle: o}
	for _, m := range diffDump(o.PID, &o, d) {
		if strings.HasPrefix(m, "python.executable") {
			continue // samePath resolves symlinks on the host, where the path does not exist
		}
		t.Error(m)
	}
	if d.Python.Executable != o.Executable {
		t.Errorf("executable %q, want the target's own path %q", d.Python.Executable, o.Executable)
	}
	// Text mode reads source lines through /proc/PID/root as well.
	txt := runPyscope(t, bin, nil, "dump", strconv.Itoa(o.PID))
	if !strings.Contains(txt.stdout, "threading.py") || !strings.Contains(txt.stdout, "    self._target(*self._args, **self._kwargs)") {
		t.Errorf("no source lines from the namespaced stdlib:\n%.3000s", txt.stdout)
	}
	if err := testenv.NotStopped(tg.PID); err != nil {
		t.Error(err)
	}
}
