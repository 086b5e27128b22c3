package engine

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// callTimeout bounds one call that stops or waits on a target. A capture
// takes milliseconds; this leaves room for a loaded CI machine while
// failing long before the package's 20-minute timeout.
const callTimeout = 2 * time.Minute

// returnsWithin runs f and reports whether it returned within d; f is
// left running otherwise (the test's cleanup kills the target, which ends
// any wait on it).
func returnsWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// bounded runs f and fails the test, naming what it waited for and with
// every goroutine's stack, if f has not returned within callTimeout.
func bounded[T any](t *testing.T, what string, f func() (T, error)) (T, error) {
	t.Helper()
	var v T
	var err error
	if !returnsWithin(callTimeout, func() { v, err = f() }) {
		t.Fatalf("%s did not return within %v; goroutines:\n%s", what, callTimeout, allStacks())
	}
	return v, err
}

// boundedErr is bounded for a call that returns only an error.
func boundedErr(t *testing.T, what string, f func() error) error {
	t.Helper()
	_, err := bounded(t, what, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// closeBounded closes p, for a defer: it reports a Close that does not
// return (it waits for a capture still running) without failing the test
// a second time from a deferred call.
func closeBounded(t *testing.T, p *Process) {
	t.Helper()
	if !returnsWithin(callTimeout, func() { p.Close() }) {
		t.Errorf("Close of process %d did not return within %v; goroutines:\n%s", p.PID(), callTimeout, allStacks())
	}
}

// openDemo starts demo.py under in and opens it; the process is closed
// (bounded) when the test ends.
func openDemo(t *testing.T, in testenv.Interp, opts Options) (*testenv.Target, *Process) {
	t.Helper()
	tg := testenv.StartTarget(t, in, "demo.py")
	p, err := OpenProcess(tg.PID, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBounded(t, p) })
	return tg, p
}

// killReaped kills the target and waits until testenv's own Wait reaped
// it, so that its PID is free. It never calls tg.Cmd.Wait: testenv waits
// on the command already, and two concurrent Waits on one exec.Cmd share
// the single result of its output-copying goroutines, so one of them can
// block forever (TestExitDuringCapture hung the package that way).
func killReaped(t *testing.T, tg *testenv.Target) {
	t.Helper()
	// By PID: os.Process.Kill refuses once the process's waitid returned,
	// and testenv's returns at a ptrace-stop of the target too. Not once
	// reaped: the PID may be another process's by then.
	if tg.Exited() {
		t.Fatalf("target %d exited before the test killed it", tg.PID)
	}
	if err := syscall.Kill(tg.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill target %d: %v", tg.PID, err)
	}
	for deadline := time.Now().Add(30 * time.Second); !tg.Exited(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("target %d was not reaped within 30 s of SIGKILL", tg.PID)
		}
	}
}

// allStacks is every goroutine's stack, as a test timeout prints them.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
