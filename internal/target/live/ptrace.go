package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ptracer runs every ptrace and waitpid call on one locked OS thread: the
// kernel ties a tracee to the tracing thread, not to the process.
type ptracer struct {
	mu     sync.Mutex
	closed bool
	reqs   chan func()
	done   chan struct{}
	tid    int // the tracer thread, set before the first request runs
	// holders counts the owners (the process, fork snapshots); the
	// thread ends when the last one releases it.
	holders int
}

func newPtracer() *ptracer {
	t := &ptracer{reqs: make(chan func()), done: make(chan struct{}), holders: 1}
	go t.loop()
	return t
}

func (t *ptracer) loop() {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// Go never ends the main thread (it parks it), so tracees it holds
		// would stay traced, and one that stops late would stay in "t"
		// for the life of the program. Serve from a new thread instead;
		// holding this one locked meanwhile keeps the new goroutine off it.
		go t.loop()
		<-t.done
		runtime.UnlockOSThread()
		return
	}
	t.tid = unix.Gettid()
	// Precise short sleeps while polling for stops (see waitStops).
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	// Deliberately never unlocked: when loop returns the OS thread exits and
	// the kernel detaches (and resumes) any tracee we still hold.
	defer close(t.done)
	for f := range t.reqs {
		f()
	}
}

// do runs f on the tracer thread. A panic in f is returned as an error so
// the caller can still detach.
func (t *ptracer) do(f func() error) (err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errors.New("ptrace thread already stopped")
	}
	ch := make(chan struct{})
	t.reqs <- func() {
		defer close(ch)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error on ptrace thread: %v", r)
			}
		}()
		err = f()
	}
	t.mu.Unlock()
	<-ch
	return err
}

// stop ends the tracer thread (which detaches anything left) and waits
// until the thread is gone, so that no tracee is still attached when Close
// returns.
func (t *ptracer) stop() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.reqs)
	}
	t.mu.Unlock()
	<-t.done
	if t.tid == 0 {
		return
	}
	task := fmt.Sprintf("/proc/self/task/%d", t.tid)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if _, err := os.Stat(task); err != nil {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// tracee is one seized thread.
type tracee struct {
	tid     int
	stopped bool
	gone    bool
	sig     int // signal taken from a signal-delivery-stop, re-injected at detach
	// checkSiginfo makes poll ask PTRACE_GETSIGINFO when wait4 reports
	// nothing (see unreported).
	checkSiginfo bool
}

type waitResult int

const (
	waitPending waitResult = iota
	waitStopped
	waitGone
)

// poll checks (without blocking) whether tid has stopped or exited.
func (tr *tracee) poll() waitResult {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(tr.tid, &ws, unix.WNOHANG|unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil { // ECHILD: not ours any more, i.e. gone
			tr.gone = true
			return waitGone
		}
		if wpid == 0 {
			if tr.checkSiginfo {
				return tr.unreported()
			}
			return waitPending
		}
		switch {
		case ws.Exited() || ws.Signaled():
			tr.gone = true
			return waitGone
		case ws.Stopped():
			tr.stopped = true
			// Event stops (PTRACE_EVENT_STOP: our interrupt or a group-stop)
			// carry the event in bits 16-23; a plain stop is a
			// signal-delivery-stop whose signal we must hand back.
			if event := (uint32(ws) >> 16) & 0xff; event == 0 {
				tr.sig = int(ws.StopSignal())
			}
			return waitStopped
		}
		// Continued or unknown: keep waiting for the stop.
	}
}

// unreported detects a ptrace-stop whose wait notification someone else
// consumed: when the target is also our child, any thread of this process
// that waits for it (os/exec's Cmd.Wait does waitid(P_PIDFD, WEXITED))
// reaps the main thread's ptrace-stops too, and wait4 never reports them.
// PTRACE_GETSIGINFO succeeds only on a thread in a ptrace-stop, and tells
// our event-stops from a signal-delivery-stop whose signal we owe back.
func (tr *tracee) unreported() waitResult {
	var si [128]byte // siginfo_t
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tr.tid), 0, uintptr(unsafe.Pointer(&si[0])), 0, 0)
	if e != 0 {
		return waitPending
	}
	tr.stopped = true
	signo := int32(binary.LittleEndian.Uint32(si[0:]))
	code := int32(binary.LittleEndian.Uint32(si[8:]))
	if (code>>8)&0xff != unix.PTRACE_EVENT_STOP {
		tr.sig = int(signo)
	}
	return waitStopped
}

// waitStops polls all pending tracees until each stopped or vanished, or
// until the deadline. It sleeps in short steps on the tracer thread (whose
// timer slack is 1ns) rather than spinning: the stopping threads need a CPU
// to reach their stop, and on a small machine a spinning tracer delays them.
func waitStops(ts []*tracee, deadline time.Time) {
	step := 5 * time.Microsecond
	for {
		pending := 0
		for _, tr := range ts {
			if tr.stopped || tr.gone {
				continue
			}
			// A stop wait4 still misses after about a millisecond was
			// probably reported to another waiter: check it directly.
			tr.checkSiginfo = step >= 640*time.Microsecond
			if tr.poll() == waitPending {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			return
		}
		ts := unix.NsecToTimespec(step.Nanoseconds())
		unix.Nanosleep(&ts, nil)
		if step < time.Millisecond {
			step *= 2
		}
	}
}

// pendingShared says whether a process-wide signal is pending. A stopped
// tracee answers with PTRACE_PEEKSIGINFO on the shared queue, far cheaper
// than producing /proc/PID/status (it is asked at every detach); without
// one, ShdPnd says. Call it on the tracer thread.
func pendingShared(pid int, ts []*tracee) bool {
	for _, t := range ts {
		if t.stopped && !t.gone {
			if n, ok := peekSharedSiginfo(t.tid); ok {
				return n > 0
			}
			break
		}
	}
	return sharedPending(pid) != 0
}

const (
	ptracePeekSiginfo       = 0x4209 // PTRACE_PEEKSIGINFO
	ptracePeekSiginfoShared = 1      // PTRACE_PEEKSIGINFO_SHARED
)

// peekSharedSiginfo counts (up to one) the signals queued for the whole
// process, asking stopped tracee tid.
func peekSharedSiginfo(tid int) (int, bool) {
	args := struct {
		off   uint64
		flags uint32
		nr    int32
	}{0, ptracePeekSiginfoShared, 1}
	var si [128]byte // siginfo_t
	n, _, e := unix.Syscall6(unix.SYS_PTRACE, ptracePeekSiginfo, uintptr(tid),
		uintptr(unsafe.Pointer(&args)), uintptr(unsafe.Pointer(&si[0])), 0, 0)
	if e != 0 {
		return 0, false
	}
	return int(n), true
}

func ptraceDetach(tid, sig int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(sig), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
