package live

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

func noProcessError(pid int) error {
	return fmt.Errorf("process %d: %w (check the PID; is the process still running?)", pid, target.ErrNoProcess)
}

func zombieError(pid int) error {
	return fmt.Errorf("process %d: %w: it has exited (a zombie its parent has not reaped yet)", pid, target.ErrNoProcess)
}

func exitedError(pid int) error {
	return fmt.Errorf("process %d: %w during the dump; run pyscope again if it restarted", pid, target.ErrExited)
}

// permissionError says what refused access to the process, as far as
// pyscope can tell.
func permissionError(pid int, what string) error {
	return fmt.Errorf("cannot %s process %d (%s): %w: %s", what, pid, procComm(pid), target.ErrPermission, readAccess(pid).cause())
}

func tracedError(pid, tracer int) error {
	return fmt.Errorf("cannot attach to process %d: %w by process %d (%s); let it finish or stop it, "+
		"or read without stopping the process (dump --no-block, record or top --nonblocking)",
		pid, target.ErrTraced, tracer, procComm(tracer))
}

// tracerWait is how long a refused seize looks for the tracer that
// refused it: a sampling profiler (py-spy) holds each thread for
// microseconds at a time, and may have let go before the first look.
const tracerWait = 50 * time.Millisecond

// otherTracer is the process, other than pyscope, that traces thread tid
// of process pid or any of its threads (TracerPid in their status files),
// or 0. A refused seize calls it, so it looks again for tracerWait.
func otherTracer(pid, tid int) int {
	other := func(t int) int {
		if t != 0 && tgid(t) != os.Getpid() {
			return tgid(t)
		}
		return 0
	}
	// py-spy at 100 Hz holds the threads for some 100 µs every 10 ms: it
	// is looked for every 100 µs, in the threads most likely to show it.
	end := time.Now().Add(tracerWait)
	for first := true; ; first = false {
		for _, id := range []int{tid, pid} {
			if t := other(tracerPid(id)); t != 0 {
				return t
			}
		}
		if first {
			// Any thread once: a tracer may hold another than the one
			// refused, and the refusal's thread may have exited.
			tids, _ := listTasks(pid)
			for i, t := range tids {
				if i >= 4096 {
					break
				}
				if tr := other(tracerPid(t)); tr != 0 { // /proc/TID/status
					return tr
				}
			}
		}
		if time.Now().After(end) {
			return 0
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// seizeWait is how long a seize refused with EPERM is tried again: a
// sampling profiler holds a thread for microseconds at a time, and gives
// it back well within it.
const seizeWait = 20 * time.Millisecond

// seize is PTRACE_SEIZE of thread tid, tried again for seizeWait while the
// kernel refuses it (another tracer holds the thread for a moment); the
// threads already stopped wait meanwhile, so only then.
func seize(tid int) error {
	err := unix.PtraceSeize(tid)
	for end := time.Now().Add(seizeWait); err == unix.EPERM && time.Now().Before(end); {
		time.Sleep(50 * time.Microsecond)
		err = unix.PtraceSeize(tid)
	}
	return err
}

// attachError maps a failed PTRACE_SEIZE of thread tid (or /proc access)
// to a sentinel.
func attachError(pid, tid int, err error) error {
	switch {
	case errors.Is(err, unix.ESRCH), errors.Is(err, os.ErrNotExist):
		if _, serr := os.Stat(procPath(pid, "")); serr != nil {
			return noProcessError(pid)
		}
		return exitedError(pid)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		// Another tracer is the common cause even with CAP_SYS_PTRACE:
		// looked for first, as the facts of a permission error cannot
		// show one that has just let go.
		if t := otherTracer(pid, tid); t != 0 {
			return tracedError(pid, t)
		}
		return permissionError(pid, "attach to")
	}
	return fmt.Errorf("cannot attach to process %d: %v", pid, err)
}
