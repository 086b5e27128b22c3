package live

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

// Fork support: a stopped process is made to fork once, by borrowing one of
// its stopped threads to run a raw clone system call, so that the child is a
// copy-on-write snapshot of its memory at the stop (as Redis's BGSAVE does).
// The parent resumes right after; the child stays stopped under ptrace from
// birth, is read at leisure and killed. Nothing is written to the target's
// memory: the system call runs an existing `syscall` instruction of its text.
//
// Guarantees, and the one hole in them:
//   - The borrowed thread gets its registers back exactly. It is put back in
//     the interrupt stop it was taken from, so when it resumes the kernel
//     restarts an interrupted system call just as it would after any stop
//     (orig_rax and rip are restored, the restart logic is the kernel's).
//   - The child inherits PTRACE_O_EXITKILL from the borrowed thread, so it
//     is killed the moment pyscope dies, whenever that is; it never runs a
//     single instruction of its own.
//   - The child is a "clone child" that sends no signal when it dies: the
//     parent gets no SIGCHLD and wait()/waitpid(-1) never report it. After
//     killing it, pyscope reaps it in the parent by running wait4(child,
//     __WALL|WNOHANG) in one briefly stopped thread, so no zombie is left.
//   - While a thread holds borrowed registers (the fork itself, a few
//     milliseconds for gigabytes of memory, and the reap, microseconds) it
//     has PTRACE_O_EXITKILL too: if pyscope is SIGKILLed then, the kernel
//     kills the target rather than let that thread run on registers it
//     cannot get back. SIGINT, SIGTERM and SIGHUP are held until they are
//     restored.

// ErrForkRefused marks the cases where forking the target is unsafe.
var ErrForkRefused = target.ErrForkRefused

var _ target.Forker = (*Process)(nil)

// Snapshot is a copy-on-write child of a stopped process: its memory is the
// parent's as of the fork. Close kills and reaps it.
type Snapshot struct {
	p   *Process
	tr  *ptracer
	pid int
	mem *memReader
	at  uint64 // the syscall instruction used

	mu      sync.Mutex
	info    target.ForkInfo
	closed  bool
	held    bool // a hold on tr
	sigCh   chan os.Signal
	sigDone chan struct{}
}

var _ target.Snapshot = (*Snapshot)(nil)

// PID of the child.
func (s *Snapshot) PID() int { return s.pid }

// ReadAt reads the child's memory (the parent's as of the fork).
func (s *Snapshot) ReadAt(b []byte, addr uint64) (int, error) { return s.mem.ReadAt(b, addr) }

// Info says how the snapshot was made (and released, after Close).
func (s *Snapshot) Info() target.ForkInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Fork makes the stopped process fork once (see the top of this file). The
// process stays stopped; Close resumes it as usual. The tracer thread lives
// on until the snapshot is closed too.
func (p *Process) Fork() (target.Snapshot, error) {
	p.mu.Lock()
	tr := p.tr
	tracees := append([]*tracee(nil), p.tracees...)
	p.mu.Unlock()
	if tr == nil || len(tracees) == 0 {
		return nil, fmt.Errorf("process %d is not stopped; --fork needs a stopped process", p.pid)
	}
	if err := p.forkAllowed(); err != nil {
		return nil, err
	}
	at, err := p.syscallInstruction()
	if err != nil {
		return nil, err
	}
	s := &Snapshot{p: p, tr: tr, at: at, held: true}
	tr.hold()
	register(s)
	s.installSignals()
	err = tr.do(func() error { return p.forkIn(s, tracees) })
	if err != nil {
		s.Close()
		return nil, err
	}
	s.mem = &memReader{pid: s.pid, exitedFn: func() error {
		return fmt.Errorf("the snapshot of process %d (process %d) was killed", p.pid, s.pid)
	}}
	return s, nil
}

// forkAllowed refuses states where a fork is unsafe.
func (p *Process) forkAllowed() error {
	tids, err := listTasks(p.pid)
	if err != nil {
		return p.procError(err)
	}
	for _, tid := range tids {
		// /proc/TID is the thread's own view, like /proc/PID/task/TID.
		if v := statusField(tid, "Seccomp:"); v != "" && v != "0" {
			return fmt.Errorf("%w: thread %d of process %d runs under seccomp (Seccomp: %s), which may forbid clone or kill the process for it; run gcore without --fork",
				ErrForkRefused, tid, p.pid, v)
		}
	}
	for _, th := range p.threads {
		if th.State == "T" {
			return fmt.Errorf("%w: process %d is stopped by a signal (job control); run gcore without --fork", ErrForkRefused, p.pid)
		}
	}
	return nil
}

// waitTracee waits for the next stop or exit of tid.
func waitTracee(tid int) (unix.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}

func ptraceEvent(ws unix.WaitStatus) int { return int(uint32(ws)>>16) & 0xff }

func isSyscallStop(ws unix.WaitStatus) bool {
	return ws.Stopped() && ptraceEvent(ws) == 0 && ws.StopSignal() == syscall.SIGTRAP|0x80
}

func setOptions(tid, opts int) error { return unix.PtraceSetOptions(tid, opts) }

// hurryNice is the nice value of the threads that work while the target
// waits: the tracer thread, and the borrowed thread during the fork.
const hurryNice = -15

// hurry raises the calling (tracer) thread's priority while a thread of
// the target holds borrowed registers, when allowed (root, CAP_SYS_NICE):
// on a busy machine each ptrace round trip otherwise waits for a time
// slice. It returns the undo.
func hurry() func() {
	tid := unix.Gettid()
	old, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil || unix.Setpriority(unix.PRIO_PROCESS, tid, hurryNice) != nil {
		return func() {}
	}
	// getpriority returns 20 - nice.
	return func() { unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old) }
}

// Open snapshots are closed before pyscope exits on a signal, whichever
// handler (the process's or the snapshot's) takes it: exit waits for them.
var (
	snapMu sync.Mutex
	snaps  = map[*Snapshot]bool{}
)

func register(s *Snapshot) {
	snapMu.Lock()
	snaps[s] = true
	snapMu.Unlock()
}

func unregister(s *Snapshot) {
	snapMu.Lock()
	delete(snaps, s)
	snapMu.Unlock()
}

func closeSnapshots() {
	snapMu.Lock()
	open := make([]*Snapshot, 0, len(snaps))
	for s := range snaps {
		open = append(open, s)
	}
	snapMu.Unlock()
	for _, s := range open {
		s.close()
	}
}

func init() {
	osExit := exit
	exit = func(code int) {
		closeSnapshots()
		osExit(code)
	}
}

// installSignals makes SIGINT/SIGTERM/SIGHUP close the snapshot (and
// resume the parent) before pyscope exits, also after the parent's own
// handler is gone.
func (s *Snapshot) installSignals() {
	s.sigCh = make(chan os.Signal, 1)
	s.sigDone = make(chan struct{})
	signal.Notify(s.sigCh, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ch, done := s.sigCh, s.sigDone
	go func() {
		select {
		case sig := <-ch:
			s.p.detach()
			exit(128 + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
}

// Close kills the child, reaps it, and reaps it in the parent too (see the
// top of this file). It is idempotent.
func (s *Snapshot) Close() error {
	err := s.close()
	s.mu.Lock()
	if s.sigCh != nil {
		signal.Stop(s.sigCh)
		close(s.sigDone)
		s.sigCh = nil
	}
	s.mu.Unlock()
	unregister(s)
	return err
}

func (s *Snapshot) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.pid > 0 {
		err = s.tr.do(func() error {
			unix.Kill(s.pid, unix.SIGKILL)
			for {
				ws, err := waitTracee(s.pid)
				if err != nil || ws.Exited() || ws.Signaled() {
					break
				}
			}
			s.reapInParent()
			return nil
		})
	}
	if s.mem != nil {
		s.mem.close()
	}
	if s.held {
		s.held = false
		s.tr.release()
	}
	return err
}

// reapInParent runs wait4(child, NULL, __WALL|WNOHANG, NULL) in one thread
// of the parent, chosen to be one that an interrupt disturbs least.
func (s *Snapshot) reapInParent() {
	start := time.Now()
	defer func() { s.info.ReapTime = time.Since(start) }()
	parent := s.p.pid
	for _, tid := range reapCandidates(parent) {
		if !isAlive(parent) {
			return
		}
		err := reapVia(parent, tid, s.pid, s.at)
		if err == nil {
			s.info.ReapThread, s.info.ReapErr = tid, nil
			return
		}
		s.info.ReapErr = err
	}
	if s.info.ReapErr == nil && isAlive(parent) {
		s.info.ReapErr = errors.New("no thread of the parent could be stopped")
	}
}

// reapCandidates lists the parent's threads: those running user code
// first, then those in a system call that the kernel restarts after a stop,
// and last those in one a stop ends with EINTR (epoll_wait, semop,
// sigtimedwait, ...), which the first stop has already cost them.
func reapCandidates(pid int) []int {
	tids, _ := listTasks(pid)
	var running, restartable, eintr []int
	for _, tid := range tids {
		st := taskState(pid, tid)
		if st == "" || st == "Z" || st == "X" || st == "T" || st == "t" {
			continue
		}
		b, err := readProcFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		if f[0] == "running" {
			running = append(running, tid)
			continue
		}
		if nr, err := strconv.Atoi(f[0]); err == nil && endsWithEINTR(nr) {
			eintr = append(eintr, tid)
		} else {
			restartable = append(restartable, tid)
		}
	}
	return append(append(running, restartable...), eintr...)
}

func (t *ptracer) hold() {
	t.mu.Lock()
	t.holders++
	t.mu.Unlock()
}

// release drops one owner; the last one stops the thread (which detaches
// whatever it still traces).
func (t *ptracer) release() {
	t.mu.Lock()
	t.holders--
	last := t.holders <= 0
	t.mu.Unlock()
	if last {
		t.stop()
	}
}
