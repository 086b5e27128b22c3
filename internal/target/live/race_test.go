package live

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The "mainthread" helper must start on the main thread: lock it there
// before main runs.
func init() {
	if os.Getenv("LIVE_TEST_HELPER") == "mainthread" {
		runtime.LockOSThread()
	}
}

// stealStops waits for pid the way os/exec's Cmd.Wait does (waitid,
// WEXITED only). For a child we also trace, such a wait also reaps the
// main thread's ptrace-stops, so wait4 on the tracer never sees them. It
// counts the stops it took and returns when the child has exited.
func stealStops(pid int, stolen *atomic.Int64) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		// si_code at offset 8: CLD_TRAPPED (4) for a ptrace-stop.
		if code := *(*int32)(unsafe.Add(unsafe.Pointer(&info), 8)); code != 4 {
			return
		}
		stolen.Add(1)
	}
}

// TestStolenStopNotifications is the in-process gcore bug: with another
// thread of the tracing process waiting for the target (its parent, as in
// a test that started it with os/exec), the main thread's stop was
// reported to that waiter; Open waited the whole stop timeout, returned
// the main thread without registers (a core with PC 0), and Close left it
// in tracing stop whenever the tracer ran on Go's main thread. Other
// attaches on another target and short-lived children run meanwhile.
func TestStolenStopNotifications(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	other := startPython(t, idleThreads)
	other.until(t, "ready")

	var stolen atomic.Int64
	go stealStops(c.pid, &stolen)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var churn, otherRounds atomic.Int64
	wg.Add(2)
	go func() { // children that exit and are reaped by os/exec
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			exec.Command("/bin/true").Run()
			churn.Add(1)
		}
	}()
	go func() { // a concurrent attacher on another target
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p, err := Open(other.pid, Options{}); err == nil {
				p.Close()
				otherRounds.Add(1)
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	const rounds = 40
	for i := 0; i < rounds; i++ {
		p, err := Open(c.pid, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range p.Threads() {
			if th.Regs == nil {
				t.Errorf("round %d: thread %d has no registers (its stop went unnoticed)", i, th.TID)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if d := p.PauseDuration(); d > stopTimeout/2 {
			t.Errorf("round %d: paused %v: Open waited for a stop it had missed", i, d)
		}
		// Released as soon as Close returns, not "eventually".
		for tid, st := range threadStates(t, c.pid) {
			if st == "t" || st == "T" {
				t.Errorf("round %d: thread %d in state %s after Close", i, tid, st)
			}
			if tp := tracerPid(tid); tp != 0 {
				t.Errorf("round %d: thread %d still traced by %d after Close", i, tid, tp)
			}
		}
		if t.Failed() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	assertRunning(t, c.pid)
	c.ping(t)
	t.Logf("%d rounds: %d stop notifications taken by the other waiter; meanwhile %d attaches to another target, %d children reaped",
		rounds, stolen.Load(), otherRounds.Load(), churn.Load())
	if stolen.Load() == 0 {
		t.Log("note: no notification was stolen in this run; the race was not exercised")
	}
}

// TestTracerNeverOnMainThread: Go parks its main thread instead of ending
// it, so a tracer thread there would keep (in tracing stop) any tracee it
// did not detach explicitly, e.g. one that stopped after Close gave up on
// it. The scheduler may run the tracer goroutine on the main thread; the
// helper forces that case by running the tracer loop there itself.
func TestTracerNeverOnMainThread(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	cmd, out, in := helper(t, "mainthread", c.pid)
	defer cmd.Wait()
	defer in.Close()
	if l := out.next(t, 30*time.Second); l != "OK" {
		t.Fatal(l)
	}
	assertRunning(t, c.pid)
	c.ping(t)
}

// mainThreadHelper runs in the helper process, on the main thread: it
// seizes and interrupts the target's main thread from a tracer whose loop
// was entered on the main thread, never detaches it, stops the tracer and
// checks that the target is released when stop returns.
func mainThreadHelper(pid int) int {
	if unix.Gettid() != unix.Getpid() {
		fmt.Println("helper did not start on the main thread")
		return 1
	}
	tr := &ptracer{reqs: make(chan func()), done: make(chan struct{})}
	res := make(chan string, 1)
	go func() {
		var tid int
		err := tr.do(func() error {
			tid = unix.Gettid()
			if err := unix.PtraceSeize(pid); err != nil {
				return err
			}
			if err := unix.PtraceInterrupt(pid); err != nil {
				return err
			}
			ts := []*tracee{{tid: pid}}
			waitStops(ts, time.Now().Add(time.Second))
			if !ts[0].stopped {
				return fmt.Errorf("thread %d did not stop", pid)
			}
			return nil
		})
		tr.stop()
		switch {
		case err != nil:
			res <- err.Error()
		case tid == unix.Getpid():
			res <- "the tracer served on the main thread"
		case tracerPid(pid) != 0 || taskState(pid, pid) == "t":
			res <- fmt.Sprintf("target still traced (state %s) after the tracer stopped", taskState(pid, pid))
		default:
			res <- "OK"
		}
	}()
	tr.loop()
	fmt.Println(<-res)
	return 0
}
