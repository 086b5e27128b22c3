package live

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

const (
	sysClone = 56
	sysWait4 = 61
	// user64CS is the code segment of a 64-bit user thread.
	user64CS = 0x33
	// poison fills the borrowed registers: non-canonical, so any memory
	// access through one faults, and -1 as a 32-bit file descriptor.
	poison = 0x8bad_0000_ffff_ffff
	// Kernel restart codes left in rax by an interrupted system call.
	errRestartSys      = 512
	errRestartNoIntr   = 513
	errRestartNoHand   = 514
	errRestartRestartB = 516
)

// forkIn runs the fork in one of the stopped threads (on the tracer
// thread) and records the child in s.
func (p *Process) forkIn(s *Snapshot, tracees []*tracee) error {
	var last error
	for _, t := range forkCandidates(tracees) {
		var regs unix.PtraceRegs
		if err := unix.PtraceGetRegs(t.tid, &regs); err != nil {
			continue
		}
		if regs.Cs != user64CS {
			return fmt.Errorf("%w: thread %d of process %d runs 32-bit code", ErrForkRefused, t.tid, p.pid)
		}
		start := time.Now()
		undo := hurry()
		child, err := injectClone(t, &regs, s.at)
		undo()
		s.info.ForkTime = time.Since(start)
		if err == nil {
			s.pid, s.info.PID, s.info.Borrowed = child, child, t.tid
			return nil
		}
		if errors.Is(err, errInjectAborted) {
			last = err
			continue // a signal came first: try another thread
		}
		return fmt.Errorf("process %d: fork failed: %v", p.pid, err)
	}
	if last != nil {
		return fmt.Errorf("process %d: fork failed: %v", p.pid, last)
	}
	return fmt.Errorf("%w: no thread of process %d is in a plain stop that can be borrowed", ErrForkRefused, p.pid)
}

// forkCandidates orders the stopped threads: those stopped in user code
// first (nothing to restart), then the others; never one with a signal
// taken from it, which must be handed back as it is.
func forkCandidates(ts []*tracee) []*tracee {
	var user, sys []*tracee
	for _, t := range ts {
		if !t.stopped || t.gone || t.sig != 0 {
			continue
		}
		var regs unix.PtraceRegs
		if unix.PtraceGetRegs(t.tid, &regs) != nil {
			continue
		}
		if int64(regs.Orig_rax) < 0 {
			user = append(user, t)
		} else {
			sys = append(sys, t)
		}
	}
	return append(user, sys...)
}

// syscallInstruction finds the bytes 0f 05 (syscall) in the target's
// executable memory, preferring libc's text, which every thread can run.
func (p *Process) syscallInstruction() (uint64, error) {
	var first, rest []target.Mapping
	for _, m := range p.maps {
		if len(m.Perms) < 3 || m.Perms[0] != 'r' || m.Perms[2] != 'x' || m.Path == "[vsyscall]" {
			continue
		}
		if strings.Contains(m.Path, "/libc.so") || strings.Contains(m.Path, "/libc-") {
			first = append(first, m)
		} else {
			rest = append(rest, m)
		}
	}
	buf := make([]byte, 1<<20)
	for _, m := range append(first, rest...) {
		for a := m.Start; a < m.End; a += uint64(len(buf)) - 1 {
			n := min(uint64(len(buf)), m.End-a)
			got, _ := p.mem.readRaw(buf[:n], a)
			if i := bytes.Index(buf[:got], []byte{0x0f, 0x05}); i >= 0 {
				return a + uint64(i), nil
			}
			if got < int(n) {
				break
			}
		}
	}
	return 0, fmt.Errorf("%w: no syscall instruction found in the executable memory of process %d", ErrForkRefused, p.pid)
}

var errInjectAborted = errors.New("a signal arrived before the system call ran")

// injectClone runs clone(exit signal 0) in the stopped thread t. On return
// the thread is back in an interrupt stop with its registers restored.
func injectClone(t *tracee, orig *unix.PtraceRegs, at uint64) (child int, err error) {
	tid := t.tid
	// EXITKILL while the registers are borrowed; the child inherits it.
	if err := setOptions(tid, unix.PTRACE_O_TRACECLONE|unix.PTRACE_O_TRACESYSGOOD|unix.PTRACE_O_EXITKILL); err != nil {
		return 0, err
	}
	regs := poisoned(orig)
	regs.Rax = sysClone
	regs.Rip = at
	regs.Rdi = 1 << 63 // flags and exit signal 0 (the kernel reads the low 32 bits)
	if err := unix.PtraceSetRegs(tid, &regs); err != nil {
		setOptions(tid, 0)
		return 0, err
	}
	// The fork copies the page tables in this thread, for the whole
	// stopped process: let it run ahead of other work, as the tracer does.
	if old, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-old > hurryNice {
		if unix.Setpriority(unix.PRIO_PROCESS, tid, hurryNice) == nil {
			defer unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old)
		}
	}
	child, result, err := runInjected(t, orig, func(ws unix.WaitStatus) (int, error) {
		if ptraceEvent(ws) != unix.PTRACE_EVENT_CLONE {
			return 0, fmt.Errorf("unexpected stop %#x", uint32(ws))
		}
		msg, err := unix.PtraceGetEventMsg(tid)
		if err != nil {
			return 0, err
		}
		c := int(msg)
		// The child is born in an event stop, traced with the options
		// above: keep EXITKILL only.
		cws, err := waitTracee(c)
		if err != nil || !cws.Stopped() {
			return c, fmt.Errorf("the new process %d did not stop (%v)", c, err)
		}
		return c, setOptions(c, unix.PTRACE_O_EXITKILL)
	})
	if err != nil {
		if child > 0 {
			unix.Kill(child, unix.SIGKILL)
			waitTracee(child)
		}
		return 0, err
	}
	if int64(result) < 0 {
		return 0, fmt.Errorf("clone: %v", unix.Errno(-int64(result)))
	}
	return child, nil
}

// poisoned is orig with every register the system call does not need set
// to a value that faults when used, and the trap flag cleared.
func poisoned(orig *unix.PtraceRegs) unix.PtraceRegs {
	r := *orig
	for _, p := range []*uint64{&r.Rbx, &r.Rbp, &r.Rsp, &r.Rsi, &r.Rdx, &r.R8, &r.R9, &r.R10, &r.R12, &r.R13, &r.R14, &r.R15} {
		*p = poison
	}
	r.Orig_rax = ^uint64(0) // not in a system call: no restart on resume
	r.Eflags &^= 0x100
	return r
}

// runInjected runs the system call set up in t's registers: syscall entry,
// an optional event stop handled by onEvent, syscall exit; then it restores
// orig. A thread taken from a system call is first put back in an
// interrupt stop, so that the kernel's own restart logic sees the original
// registers when it resumes. It returns onEvent's value and the system
// call's result.
func runInjected(t *tracee, orig *unix.PtraceRegs, onEvent func(unix.WaitStatus) (int, error)) (val int, result uint64, err error) {
	tid := t.tid
	restore := func() error {
		if err := unix.PtraceSetRegs(tid, orig); err != nil {
			return err
		}
		return setOptions(tid, 0)
	}
	gone := func(ws unix.WaitStatus) bool {
		if ws.Exited() || ws.Signaled() {
			t.gone, t.stopped = true, false
			return true
		}
		return false
	}
	// To the syscall entry. A signal that arrives first is taken in a
	// signal-delivery-stop: hand the thread back untouched with it.
	if err := unix.PtraceSyscall(tid, 0); err != nil {
		restore()
		return 0, 0, err
	}
	ws, err := waitTracee(tid)
	if err != nil || gone(ws) {
		return 0, 0, fmt.Errorf("thread %d exited", tid)
	}
	if !isSyscallStop(ws) {
		if ptraceEvent(ws) == 0 {
			t.sig = int(ws.StopSignal())
		}
		if err := restore(); err != nil {
			return 0, 0, err
		}
		return 0, 0, errInjectAborted
	}
	// Through the system call: event stops, then the syscall exit.
	var evErr error
	for {
		if err := unix.PtraceSyscall(tid, 0); err != nil {
			return val, 0, err
		}
		ws, err = waitTracee(tid)
		if err != nil || gone(ws) {
			return val, 0, fmt.Errorf("thread %d exited", tid)
		}
		if isSyscallStop(ws) {
			break
		}
		if ptraceEvent(ws) != 0 && onEvent != nil {
			var v int
			v, evErr = onEvent(ws)
			if v != 0 {
				val = v
			}
			continue
		}
		if ptraceEvent(ws) == 0 {
			// A signal during the call: delivered after the restore.
			t.sig = int(ws.StopSignal())
		}
	}
	var after unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &after); err != nil {
		return val, 0, err
	}
	if int64(orig.Orig_rax) >= 0 {
		// Stopped in a system call: back into an interrupt stop on the
		// way to user mode, where the kernel decides about the restart
		// with the original registers. (A thread stopped in user code
		// has nothing to restart: it resumes from this stop.)
		if err := unix.PtraceInterrupt(tid); err != nil {
			return val, 0, err
		}
		if err := unix.PtraceCont(tid, 0); err != nil {
			return val, 0, err
		}
		for {
			ws, err = waitTracee(tid)
			if err != nil || gone(ws) {
				return val, 0, fmt.Errorf("thread %d exited", tid)
			}
			if ptraceEvent(ws) == unix.PTRACE_EVENT_STOP {
				break
			}
			// Not expected (the trap comes before any signal); keep a
			// signal for the detach and go on to the trap.
			if ptraceEvent(ws) == 0 && !isSyscallStop(ws) {
				t.sig = int(ws.StopSignal())
			}
			if err := unix.PtraceCont(tid, 0); err != nil {
				return val, 0, err
			}
		}
	}
	t.stopped = true
	if err := restore(); err != nil {
		return val, 0, err
	}
	return val, after.Rax, evErr
}

// endsWithEINTR: x86-64 system calls that return EINTR when a stop
// interrupts them, rather than being restarted.
func endsWithEINTR(nr int) bool {
	switch nr {
	case 232, 281, 441, // epoll_wait, epoll_pwait, epoll_pwait2
		65, 220, // semop, semtimedop
		128,      // rt_sigtimedwait
		208, 333, // io_getevents, io_pgetevents
		426: // io_uring_enter
		return true
	}
	return false
}

// reapVia seizes tid, runs the wait4 in it and detaches.
func reapVia(pid, tid, child int, at uint64) error {
	if err := unix.PtraceSeize(tid); err != nil {
		return err
	}
	t := &tracee{tid: tid}
	detach := func() {
		if t.stopped && !t.gone {
			ptraceDetach(tid, t.sig)
		}
	}
	if err := unix.PtraceInterrupt(tid); err != nil {
		return err
	}
	waitStops([]*tracee{t}, time.Now().Add(time.Second))
	if !t.stopped {
		// Left traced: the kernel lets it go when the tracer thread ends.
		return fmt.Errorf("thread %d did not stop", tid)
	}
	if t.sig != 0 {
		detach()
		return fmt.Errorf("thread %d stopped with a signal", tid)
	}
	var orig unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &orig); err != nil || orig.Cs != user64CS {
		detach()
		return fmt.Errorf("thread %d: no 64-bit registers (%v)", tid, err)
	}
	if err := setOptions(tid, unix.PTRACE_O_TRACESYSGOOD|unix.PTRACE_O_EXITKILL); err != nil {
		detach()
		return err
	}
	regs := orig
	regs.Orig_rax = ^uint64(0)
	regs.Rax = sysWait4
	regs.Rip = at
	regs.Rdi = uint64(child)
	regs.Rsi = 0
	regs.Rdx = unix.WALL | unix.WNOHANG
	regs.R10 = 0
	regs.Eflags &^= 0x100
	if err := unix.PtraceSetRegs(tid, &regs); err != nil {
		setOptions(tid, 0)
		detach()
		return err
	}
	undo := hurry()
	_, result, err := runInjected(t, &orig, nil)
	undo()
	detach()
	if err != nil {
		return err
	}
	if r := int64(result); r != int64(child) && r != -int64(unix.ECHILD) {
		return fmt.Errorf("wait4 in thread %d returned %d", tid, r)
	}
	return nil
}
