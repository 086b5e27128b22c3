package engine

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// inPIDNamespace is set in the copy of the test binary that runs as PID 1
// of a PID namespace of its own.
const inPIDNamespace = "PYSCOPE_TEST_IN_PID_NAMESPACE"

// TestPIDReuse: a process that exits between open and capture, and whose
// PID the kernel gives to a new Python process of the same interpreter
// (which a capture would read without complaint), is refused with the
// reuse named: by a capture (the default stop and StopAll) and by a held
// stop (sessions). The PID is reused for real, in a PID namespace where
// nothing else forks, by setting ns_last_pid. A profiler's kept stop
// handle is left out: it keeps its process seized between captures, and a
// killed tracee is often not reaped (its PID not freed) until the tracer
// waits for it, at the handle's next use, which then reports the exit.
func TestPIDReuse(t *testing.T) {
	if os.Getenv(inPIDNamespace) == "" {
		testenv.Interpreters(t) // fail here, with the remedy, if unprovisioned
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// --kill-child: the namespace dies with unshare when the deadline
		// kills it; WaitDelay: output pipes a process of the namespace
		// still holds do not keep the test waiting past the deadline (a
		// CI run once waited out the package's 20 minutes here).
		cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
			os.Args[0], "-test.run", "^TestPIDReuse$", "-test.v", "-test.timeout", "2m")
		cmd.WaitDelay = 10 * time.Second
		cmd.Env = append(os.Environ(), inPIDNamespace+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a PID namespace:\n%s", out)
		if err != nil {
			t.Fatalf("unshare --pid: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestPIDReuse") {
			t.Fatal("the test did not run in the PID namespace")
		}
		return
	}
	if os.Getpid() != 1 {
		t.Fatalf("PID %d, not 1: not in a PID namespace of its own", os.Getpid())
	}
	in := testenv.Interpreters(t)[0]
	for _, c := range []struct {
		name    string
		capture func(p *Process) error
	}{
		{"capture", func(p *Process) error { _, err := p.Snapshot(); return err }},
		{"stop all", func(p *Process) error { _, err := p.Capture(StopAll); return err }},
		{"hold", func(p *Process) error { _, err := p.Hold(); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			first := testenv.StartTarget(t, in, "demo.py")
			p, err := OpenProcess(first.PID, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer closeBounded(t, p)
			// Killed and reaped (by testenv's own Wait): its PID is free.
			killReaped(t, first)
			second := reusePID(t, first.PID, func() *testenv.Target { return testenv.StartTarget(t, in, "demo.py") })

			err = boundedErr(t, c.name+" of the reused PID", func() error { return c.capture(p) })
			if err == nil || !strings.Contains(err.Error(), "its PID now belongs to another process") {
				t.Errorf("capture of PID %d, now another process: %v; want the reuse named", first.PID, err)
			}
			if err := testenv.NotStopped(second.PID); err != nil {
				t.Error(err)
			}
			// The new process itself reads as what it says it is.
			q, err := OpenProcess(second.PID, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer closeBounded(t, q)
			snap, err := bounded(t, "snapshot of the new process", q.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			checkOracle(t, second, snap)
			second.CheckRunning(t)
		})
	}
}

// reusePID starts a process with start so that it gets pid, which must be
// free: the namespace's last PID is set just below it.
func reusePID(t *testing.T, pid int, start func() *testenv.Target) *testenv.Target {
	t.Helper()
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0o644); err != nil {
		t.Fatalf("ns_last_pid: %v (needs root)", err)
	}
	tg := start()
	if tg.PID != pid {
		t.Fatalf("the new process got PID %d, not the reused %d", tg.PID, pid)
	}
	return tg
}
