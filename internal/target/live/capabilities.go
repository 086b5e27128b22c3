package live

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

// The capabilities a live process has and a core has not.
var (
	_ target.SyscallReader     = (*Process)(nil)
	_ target.SyscallArgsReader = (*Process)(nil)
	_ target.CPUTimeReader     = (*Process)(nil)
	_ target.ThreadStateReader = (*Process)(nil)
	_ target.StartTimeReader   = (*Process)(nil)
)

// clockTick is the kernel's USER_HZ, the unit of /proc's times, as the
// auxiliary vector gives it (AT_CLKTCK); 0 when unknown.
var clockTick = sync.OnceValue(func() uint64 {
	const atClktck = 17
	av, err := unix.Auxv()
	if err != nil {
		return 0
	}
	for _, kv := range av {
		if kv[0] == atClktck {
			return uint64(kv[1])
		}
	}
	return 0
})

// ticks converts clock ticks to a duration.
func ticks(n uint64) (time.Duration, error) {
	hz := clockTick()
	if hz == 0 {
		return 0, errors.New("the kernel's clock tick (AT_CLKTCK) is unknown")
	}
	return time.Duration(n/hz)*time.Second + time.Duration(n%hz)*time.Second/time.Duration(hz), nil
}

// Syscall reads /proc/PID/task/TID/syscall: the number of the system call
// the thread is blocked in ("running" and -1 say it is in none).
func (p *Process) Syscall(tid int) (int, bool) {
	b, err := readProcFile(procPath(p.pid, "task/"+strconv.Itoa(tid)+"/syscall"))
	if err != nil {
		return -1, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1, false
	}
	if f[0] == "running" {
		return -1, true
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1, false
	}
	return max(n, -1), true
}

// SyscallArgs reads /proc/PID/task/TID/syscall: the system call the
// thread is blocked in and its six arguments ("running": nr -1).
func (p *Process) SyscallArgs(tid int) (int, [6]uint64, bool) {
	var args [6]uint64
	var buf [256]byte
	b, err := p.tasks.syscallLine(tid, buf[:])
	if err != nil {
		return -1, args, false
	}
	// Fields taken in place: the lock analysis reads a line per thread,
	// twice per dump.
	var f [8][]byte
	nf := 0
	for rest := b; nf < len(f); nf++ {
		rest = bytes.TrimLeft(rest, " \n")
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			break
		}
		f[nf], rest = rest[:end], rest[end:]
	}
	switch {
	case nf == 0:
		return -1, args, false
	case string(f[0]) == "running":
		return -1, args, true
	}
	n, err := strconv.Atoi(string(f[0]))
	if err != nil {
		return -1, args, false
	}
	if n < 0 || nf < 7 {
		return max(n, -1), args, true
	}
	for i := range args {
		v, err := strconv.ParseUint(string(bytes.TrimPrefix(f[1+i], []byte("0x"))), 16, 64)
		if err != nil {
			return n, args, false
		}
		args[i] = v
	}
	return n, args, true
}

// CPUTime is the CPU time the thread has used: the scheduler's nanosecond
// count (schedstat, kept open: a profiler reads it at every sample), else
// user + system time from stat in clock ticks (kernels
// without CONFIG_SCHED_INFO have no schedstat).
func (p *Process) CPUTime(tid int) (time.Duration, error) {
	if ns, err := p.tasks.runtime(tid); err == nil {
		return time.Duration(ns), nil
	}
	b, err := readProcFile(procPath(p.pid, "task/"+strconv.Itoa(tid)+"/stat"))
	if err != nil {
		return 0, p.threadError(tid, err)
	}
	f, err := statFields(b)
	if err != nil {
		return 0, fmt.Errorf("thread %d of process %d: %v", tid, p.pid, err)
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("thread %d of process %d: malformed stat", tid, p.pid)
	}
	return ticks(utime + stime)
}

// ThreadState reads the thread's kernel state now (R, S, D, T, t, Z, X).
func (p *Process) ThreadState(tid int) (string, error) {
	st := taskState(p.pid, tid)
	if st == "" {
		return "", fmt.Errorf("thread %d of process %d: %w", tid, p.pid, target.ErrExited)
	}
	return st, nil
}

// StartTime is when the process started: its start in clock ticks after
// boot plus the boot time.
func (p *Process) StartTime() (time.Time, error) {
	n, err := StartTicks(p.pid)
	if err != nil {
		return time.Time{}, err
	}
	since, err := ticks(n)
	if err != nil {
		return time.Time{}, err
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(since), nil
}

// bootTime is btime from /proc/stat.
func bootTime() (time.Time, error) {
	b, err := readProcFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat: malformed btime %q", v)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat has no btime")
}

func (p *Process) threadError(tid int, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("thread %d of process %d: %w", tid, p.pid, target.ErrExited)
	}
	return fmt.Errorf("thread %d of process %d: %v", tid, p.pid, err)
}
