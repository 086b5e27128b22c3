// Package live is the target.Target of a running process. By default every
// thread is stopped (PTRACE_SEIZE + PTRACE_INTERRUPT, never PTRACE_ATTACH)
// for a consistent snapshot and resumed by Close; with NoBlock nothing is
// stopped and memory is read while the process runs.
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

// Options control how a process is opened.
type Options struct {
	// NoBlock reads memory without stopping the process (no ptrace):
	// results may be inconsistent and registers are unavailable.
	NoBlock bool
	// NoThreads skips listing the threads (with NoBlock): for a handle that
	// only reads files, the memory map and memory, as discovery does.
	NoThreads bool
	// Cache keeps memory pages once read, also with NoBlock: for one short
	// snapshot that may be torn anyway, reading each page once is faster
	// and no less consistent.
	Cache bool
	// NoSignals leaves SIGINT, SIGTERM and SIGHUP to the caller, who
	// closes the handle on them; by default a handler resumes the process
	// and exits.
	NoSignals bool
	// Subset stops only the threads Stop names (none when it is empty);
	// the others are listed, without registers, and keep running. The
	// caller must know that what it reads cannot change meanwhile (the
	// engine's StopGIL proves it for Python state).
	Subset bool
	Stop   []int
	// Maps, when set, is the memory map to use instead of reading
	// /proc/PID/maps again (the caller read it a moment ago and reads
	// nothing it could have changed).
	Maps []target.Mapping
	// StopRunning, with Subset, also stops every thread that was running
	// (state R) when listed: stopping a thread that runs interrupts no
	// blocking system call.
	StopRunning bool
}

var (
	// stopTimeout bounds the wait for each batch of interrupt stops; a
	// thread stuck in uninterruptible sleep is left running (Regs nil).
	stopTimeout = time.Second
	// maxRounds bounds the re-listing of /proc/PID/task while threads are
	// being created during the attach.
	maxRounds = 100
	// exit is how the signal handler ends the program (replaced in tests).
	exit = os.Exit
)

// Process is an opened live process.
type Process struct {
	pid  int
	opts Options
	mem  *memReader
	// ioPid is the thread whose /proc entries and mm we use: the main
	// thread unless it exited (a zombie leader has no mm, maps or exe).
	ioPid int

	threads []target.Thread
	// A non-blocking listing's schedstat of each thread (by index in
	// threads), when it was read; and when every thread's stat was last
	// read (relistThreads).
	scheds []schedStat
	// settled: the thread's state was read asleep while its schedstat
	// stood still since the reading before (relistThreads).
	settled []bool
	noSched bool // the kernel has no schedstat files
	// unmoved: the last relisting found that no thread had been on a CPU
	// since the listing before it (Unmoved).
	unmoved bool
	statsAt time.Time
	statBuf [1024]byte // a stat line, as relistThreads reads it
	// spareThreads is a listing no longer in use, for relistThreads to fill.
	spareThreads []target.Thread
	maps         []target.Mapping
	tasks        *taskFiles
	exe          string
	rootPrefix   string
	// otherPIDNS: the process numbers its threads in a PID namespace of
	// its own (a container), which CPython's thread states record.
	otherPIDNS bool

	detachMu   sync.Mutex
	mu         sync.Mutex // guards the fields below
	tr         *ptracer
	tracees    []*tracee
	pauseStart time.Time
	pauseEnd   time.Time
	closed     bool
	sigCh      chan os.Signal
	sigDone    chan struct{}
}

var _ target.Target = (*Process)(nil)

// Open opens process pid. In blocking mode all its threads are stopped when
// Open returns and stay stopped until Close.
func Open(pid int, opts Options) (p *Process, err error) {
	if pid <= 0 {
		return nil, noProcessError(pid)
	}
	if _, err := os.Stat(procPath(pid, "")); err != nil {
		return nil, noProcessError(pid)
	}
	if pid == os.Getpid() {
		return nil, fmt.Errorf("process %d is pyscope itself", pid)
	}
	if isKernelThread(pid) {
		return nil, fmt.Errorf("process %d (%s) is a kernel thread: it has no user memory and runs no Python", pid, procComm(pid))
	}
	if g := tgid(pid); g != pid {
		// /proc/TID works as /proc/PID, so without this the whole process
		// would be read under the thread's ID (in JSON "pid" too).
		return nil, fmt.Errorf("%d is a thread of process %d (%s), not a process: give the process ID, %d", pid, g, procComm(g), g)
	}
	p = &Process{pid: pid, opts: opts, ioPid: liveTID(pid), tasks: newTaskFiles(pid)}
	if p.ioPid == pid && !isAlive(pid) {
		return nil, zombieError(pid)
	}
	p.mem = &memReader{pid: p.ioPid, captures: !opts.NoThreads, exitedFn: func() error { return exitedError(pid) }}
	defer func() {
		if r := recover(); r != nil {
			p.Close()
			panic(r)
		}
		if err != nil {
			p.Close()
			p = nil
		}
	}()
	if root, err := os.Readlink(procPath(p.ioPid, "root")); err == nil && root != "/" {
		p.rootPrefix = strings.TrimSuffix(root, "/")
	}
	exe, err := os.Readlink(procPath(p.ioPid, "exe"))
	if err != nil {
		return p, p.procError(err)
	}
	p.exe = stripRoot(exe, p.rootPrefix)
	p.otherPIDNS = otherPIDNamespace(p.ioPid)
	switch {
	case opts.Subset && !opts.NoBlock:
		if err := p.attachSubset(opts.Stop, opts.StopRunning); err != nil {
			return p, err
		}
	case !opts.NoBlock:
		if err := p.attach(); err != nil {
			return p, err
		}
	case !opts.NoThreads:
		p.threads = p.listThreads(false)
		if len(p.threads) == 0 {
			return p, p.procError(os.ErrNotExist)
		}
	}
	if opts.Maps != nil {
		p.maps = append([]target.Mapping(nil), opts.Maps...)
	} else if err := p.readMaps(); err != nil {
		return p, err
	}
	if !opts.NoBlock || opts.Cache {
		p.mem.setCaching(true)
	}
	return p, nil
}

// procError maps a failure to read /proc/PID/... to a sentinel error.
func (p *Process) procError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ESRCH):
		// Open found the process alive, so a process that is gone, or a
		// zombie (its /proc files are empty or missing), exited since.
		if _, serr := os.Stat(procPath(p.pid, "")); serr != nil || !isAlive(p.ioPid) || isExiting(p.pid, p.ioPid) {
			return exitedError(p.pid)
		}
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.EPERM):
		if p.opts.NoBlock {
			return permissionError(p.pid, "read")
		}
		return permissionError(p.pid, "attach to")
	}
	return fmt.Errorf("process %d: %v", p.pid, err)
}

func (p *Process) readMaps() error {
	b, err := readProcFile(procPath(p.ioPid, "maps"))
	if err == nil && len(b) == 0 {
		// Maps of a zombie are empty.
		err = os.ErrNotExist
	}
	if err != nil {
		return p.procError(err)
	}
	p.maps, err = parseMaps(b, p.rootPrefix)
	if err != nil {
		return fmt.Errorf("process %d: %v", p.pid, err)
	}
	return nil
}

// listThreads is the NoBlock snapshot: no registers. With sched (a
// relisting, a profiler's through Restop) it reads each thread's schedstat
// too, before its state, for the next relistThreads.
func (p *Process) listThreads(sched bool) []target.Thread {
	p.unmoved = false
	tids, err := p.tasks.list()
	if err != nil {
		return nil
	}
	p.tasks.retain(tids)
	out := make([]target.Thread, 0, len(tids))
	p.scheds, p.settled = p.scheds[:0], p.settled[:0]
	for _, tid := range tids {
		var ss schedStat
		read := false
		if sched {
			ss, read = p.threadSched(tid)
		}
		st, comm := p.tasks.stateComm(tid)
		if st == "" {
			continue
		}
		th := target.Thread{TID: tid, Comm: comm, State: st, NSTID: p.nsTID(tid)}
		if read {
			th.CPU, th.HasCPU = time.Duration(ss.runtime), true
		}
		out = append(out, th)
		p.scheds, p.settled = append(p.scheds, ss), append(p.settled, false)
	}
	if sched {
		// A thread created after the count and by a thread read before
		// it came may be missing, and its creator will not move: list
		// again next time.
		if same, ok := p.tasks.sameThreadCount(); ok && !same {
			p.scheds, p.settled = nil, nil
		}
	}
	p.statsAt = time.Now()
	return out
}

// threadSched reads a thread's schedstat; false when it did not.
func (p *Process) threadSched(tid int) (schedStat, bool) {
	if p.noSched {
		return schedStat{}, false
	}
	ss, err := p.tasks.sched(tid)
	if errors.Is(err, os.ErrNotExist) && tid == p.pid && taskState(p.pid, tid) != "" {
		p.noSched = true // CONFIG_SCHED_INFO off: stat it is
	}
	return ss, err == nil
}

// statsEvery is how often relistThreads reads every thread's stat: the
// names of threads that slept all along, and a bound on any state kept.
var statsEvery = time.Second

// relistThreads is listThreads for a handle listed before: when the
// process has as many threads as then and each of them is still there,
// the set is the same (a thread that came and one that went would leave
// the count alone, but the one that went fails to read), and only their
// states are read.
//
// A thread's state costs a stat line, which the kernel formats from some
// fifty fields; its schedstat costs a third of that. A thread that was
// asleep (S, D, I) at the last listing and whose schedstat did not move
// since has not been switched onto a CPU since: it is still asleep, or
// woken and waiting for its first timeslice. The second case, runnable in
// the kernel's eyes, counts as not running: the thread has run nothing
// since it slept and its stack is still where it slept (the stop's own
// wake-ups count the same way). Such a thread keeps its state without a
// stat read once that state is settled: read asleep while the schedstat
// stood still since the reading before. A state read just as the thread
// set it, before it switched out, can be a sleep it never took (woken
// first, it ran on), and a thread that does not leave its CPU moves its
// run time only at the next tick: the read after the one that saw a move
// confirms the sleep. Every stat is read again each statsEvery anyway.
//
// Only a thread that runs creates threads: when no listed thread was on a
// CPU since its last reading, none was created since the thread count
// taken after those readings, and the count is not taken again.
func (p *Process) relistThreads() []target.Thread {
	prev := p.threads
	if len(prev) == 0 || prev[0].TID != p.pid || len(p.scheds) != len(prev) || len(p.settled) != len(prev) {
		return p.listThreads(true)
	}
	counted := p.tasks.countsThreads()
	moved := false // a listed thread's state is read again
	ran := false   // a listed thread may have run since its last reading
	all := time.Since(p.statsAt) >= statsEvery
	// The listing before last is free: Threads hands out copies.
	out := p.spareThreads[:0]
	p.spareThreads = nil
	buf := p.statBuf[:]
	for i, th := range prev {
		ss, sched := p.threadSched(th.TID)
		if !sched && !p.noSched {
			return p.listThreads(true) // gone, most likely
		}
		st, comm := th.State, th.Comm
		still := sched && ss == p.scheds[i] && ss.slices != 0
		thRan := !still || !asleep(st) || !p.settled[i]
		ran = ran || thRan
		if thRan || all || i == 0 && !counted {
			moved = true
			b, err := p.tasks.stat(th.TID, buf)
			if err != nil {
				return p.listThreads(true)
			}
			st, comm = parseStateCommLike(b, th.Comm)
			if st == "" || st == "Z" || st == "X" {
				return p.listThreads(true)
			}
			if i == 0 && !counted {
				n, err := strconv.Atoi(string(statField(b, 20)))
				if err != nil || n != len(prev) {
					return p.listThreads(true)
				}
			}
		}
		p.scheds[i] = ss
		p.settled[i] = still && asleep(st)
		nt := target.Thread{TID: th.TID, Comm: comm, State: st, NSTID: th.NSTID}
		if sched {
			nt.CPU, nt.HasCPU = time.Duration(ss.runtime), true
		}
		out = append(out, nt)
	}
	if counted && moved {
		// After the readings: a thread created after it was counted is
		// created by one whose reading moves by the next listing.
		if same, ok := p.tasks.sameThreadCount(); !ok || !same {
			return p.listThreads(true)
		}
	}
	if all {
		p.statsAt = time.Now()
	}
	p.spareThreads = prev
	p.unmoved = !ran
	return out
}

// Unmoved says whether the last relisting (Restop in NoBlock mode) found
// that no thread of the process had been on a CPU since the listing
// before it: then nothing the process writes itself has changed since
// that listing, and what was read after it still holds. Memory another
// process or a device writes (shared mappings) is not covered.
func (p *Process) Unmoved() bool { return p.unmoved }

// asleep says whether a kernel state is a sleep a thread leaves only by
// being woken and run.
func asleep(state string) bool {
	return state == "S" || state == "D" || state == "I"
}

// Alive fails when the process this handle opened has exited, even if
// its PID now belongs to another process: one read of a file kept open
// since the handle's first call.
func (p *Process) Alive() error {
	if !p.tasks.live() {
		return exitedError(p.pid)
	}
	return nil
}

// StartTicks is the process's start time in clock ticks after boot, as
// the package's StartTicks reads it, from the main thread's stat file
// this handle keeps open: once the process is gone that file reads as
// exited, even if its PID was given to another process.
func (p *Process) StartTicks() (uint64, error) {
	var buf [1024]byte
	b, err := p.tasks.stat(p.pid, buf[:])
	if err != nil {
		return 0, exitedError(p.pid)
	}
	v, err := strconv.ParseUint(string(statField(b, 22)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("process %d: malformed start time in stat", p.pid)
	}
	return v, nil
}

// attach seizes and stops every thread, re-listing /proc/PID/task until no
// new thread shows up (a thread can only be created by a running thread,
// so once all listed threads are stopped the list is final).
func (p *Process) attach() error {
	if p.opts.Cache {
		prefault(prefaultCapture)
	}
	p.mu.Lock()
	if p.tr == nil {
		p.tr = newPtracer()
	}
	if p.sigCh == nil && !p.opts.NoSignals {
		p.installSignals()
	}
	p.mu.Unlock()

	return p.tr.do(func() error {
		info := map[int]*target.Thread{}
		known := map[int]*tracee{}
		var final []int
		for round := 0; ; round++ {
			if round >= maxRounds {
				return fmt.Errorf("process %d keeps creating threads; cannot stop it (try pyscope dump --no-block)", p.pid)
			}
			tids, err := p.tasks.list()
			if err != nil {
				return attachError(p.pid, p.pid, err)
			}
			// Read state and name of the new threads before stopping any
			// of them, then seize and interrupt in a tight loop.
			var fresh []*target.Thread
			for _, tid := range tids {
				if _, ok := info[tid]; ok {
					continue
				}
				st, comm := p.tasks.stateComm(tid)
				th := &target.Thread{TID: tid, State: st, Comm: comm, NSTID: p.nsTID(tid)}
				if th.State == "" {
					continue // already gone
				}
				info[tid] = th
				if th.State != "Z" && th.State != "X" { // zombies cannot be traced and do not run
					fresh = append(fresh, th)
				}
			}
			var batch []*tracee
			for _, th := range fresh {
				tid := th.TID
				if err := seize(tid); err != nil {
					// Exiting between listing and seizing: leave it out.
					if err == unix.ESRCH || (err == unix.EPERM && isZombie(p.pid, tid)) ||
						(tid != p.pid && taskState(p.pid, tid) == "") {
						known[tid] = &tracee{tid: tid, gone: true}
						continue
					}
					return attachError(p.pid, tid, err)
				}
				tr := &tracee{tid: tid}
				p.mu.Lock()
				p.tracees = append(p.tracees, tr)
				if p.pauseStart.IsZero() {
					p.pauseStart = time.Now()
				}
				p.mu.Unlock()
				known[tid] = tr
				if err := unix.PtraceInterrupt(tid); err != nil {
					tr.gone = true
					continue
				}
				batch = append(batch, tr)
			}
			if len(batch) == 0 {
				final = tids
				p.tasks.retain(tids)
				break
			}
			waitStops(batch, time.Now().Add(stopTimeout))
			if lead := known[p.pid]; lead != nil && lead.gone && !isAlive(p.pid) {
				return exitedError(p.pid)
			}
		}
		if len(known) == 0 && !isAlive(p.pid) {
			return zombieError(p.pid)
		}
		withRegs := 0
		for _, tid := range final {
			th := info[tid]
			if th == nil {
				continue // vanished before we read its state
			}
			if tr := known[tid]; tr != nil {
				if tr.gone {
					continue
				}
				if tr.stopped {
					if regs, err := getRegs(tid); err == nil {
						th.Regs = regs
						withRegs++
					}
				}
			}
			p.threads = append(p.threads, *th)
		}
		if len(p.threads) == 0 || (withRegs == 0 && exitingSoon(p.pid, p.ioPid)) {
			return exitedError(p.pid)
		}
		return nil
	})
}

// attachSubset lists every thread, then seizes and stops only those of
// stop that exist. The list is read before anything stops, so a large
// process costs no pause for it.
func (p *Process) attachSubset(stop []int, running bool) error {
	p.threads = p.listThreads(false)
	if len(p.threads) == 0 {
		return p.procError(os.ErrNotExist)
	}
	want := map[int]bool{}
	for _, tid := range stop {
		want[tid] = true
	}
	var idx []int
	for i, th := range p.threads {
		if want[th.TID] || (running && th.State == "R") {
			idx = append(idx, i)
		}
	}
	return p.stopThreads(idx, prefaultCapture)
}

// Stop stops more threads of a process opened with Options.Subset (those
// of tids it listed and has not stopped yet), and reads their registers:
// the engine stops the GIL's holder once the other threads are read.
func (p *Process) Stop(tids []int) error {
	if !p.opts.Subset || p.opts.NoBlock {
		return errors.New("Stop needs a process opened with Options.Subset")
	}
	want := map[int]bool{}
	for _, tid := range tids {
		want[tid] = true
	}
	var idx []int
	for i, th := range p.threads {
		if want[th.TID] && th.Regs == nil {
			idx = append(idx, i)
		}
	}
	return p.stopThreads(idx, prefaultStack)
}

// stopThreads seizes and stops the listed threads p.threads[idx] that are
// not zombies, and reads the registers of those that stopped.
func (p *Process) stopThreads(idx []int, ahead int) error {
	kept := idx[:0:0]
	for _, i := range idx {
		if st := p.threads[i].State; st != "Z" && st != "X" {
			kept = append(kept, i)
		}
	}
	idx = kept
	if len(idx) == 0 {
		return nil
	}
	if p.opts.Cache {
		prefault(ahead)
	}
	p.mu.Lock()
	if p.tr == nil {
		p.tr = newPtracer()
		p.installSignals()
	}
	p.mu.Unlock()
	return p.tr.do(func() error {
		var batch []*tracee
		for _, i := range idx {
			tid := p.threads[i].TID
			if err := seize(tid); err != nil {
				if err == unix.ESRCH || taskState(p.pid, tid) == "" || isZombie(p.pid, tid) {
					continue // exited since it was listed
				}
				return attachError(p.pid, tid, err)
			}
			tr := &tracee{tid: tid}
			p.mu.Lock()
			p.tracees = append(p.tracees, tr)
			if p.pauseStart.IsZero() {
				p.pauseStart = time.Now()
			}
			p.mu.Unlock()
			if err := unix.PtraceInterrupt(tid); err != nil {
				tr.gone = true
				continue
			}
			batch = append(batch, tr)
		}
		waitStops(batch, time.Now().Add(stopTimeout))
		stopped := map[int]bool{}
		for _, tr := range batch {
			stopped[tr.tid] = tr.stopped
		}
		for _, i := range idx {
			if tid := p.threads[i].TID; stopped[tid] {
				if regs, err := getRegs(tid); err == nil {
					p.threads[i].Regs = regs
				}
			}
		}
		return nil
	})
}

// liveTID returns pid, or the first thread that is not a zombie when the
// main thread has exited.
func liveTID(pid int) int {
	if isAlive(pid) {
		return pid
	}
	tids, _ := listTasks(pid)
	for _, tid := range tids {
		if !isZombie(pid, tid) {
			return tid
		}
	}
	return pid
}

// exitingSoon reports whether the process exits within a short while.
// Threads that stopped but have no registers were usually killed (SIGKILL
// takes them out of the stop before they are marked exiting).
func exitingSoon(pid, ioPid int) bool {
	for end := time.Now().Add(100 * time.Millisecond); ; {
		if !isAlive(ioPid) || isExiting(pid, ioPid) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func isZombie(pid, tid int) bool {
	st := taskState(pid, tid)
	return st == "Z" || st == "X" || st == ""
}

func isAlive(pid int) bool {
	st := taskState(pid, pid)
	return st != "" && st != "Z" && st != "X"
}

// detach resumes every thread; safe to call more than once and from the
// signal handler. The tracer thread then exits, so the kernel releases any
// thread we could not detach explicitly (e.g. one that never stopped).
func (p *Process) detach() error { return p.resume(true) }

// resume detaches every thread, and ends the tracer thread when
// endTracer (else it serves the next Restop).
func (p *Process) resume(endTracer bool) error {
	// Held throughout, so the signal handler cannot exit while Close is
	// half way through detaching.
	p.detachMu.Lock()
	defer p.detachMu.Unlock()
	p.mu.Lock()
	tr := p.tr
	if endTracer {
		p.tr = nil
	}
	tracees := p.tracees
	p.tracees = nil
	p.mu.Unlock()
	if tr == nil {
		return nil
	}
	p.mem.setCaching(false)
	var firstErr error
	err := tr.do(func() error {
		var late []*tracee
		for _, t := range tracees {
			if !t.stopped && !t.gone {
				late = append(late, t)
			}
		}
		// A thread that missed the stop deadline may have stopped since.
		if len(late) > 0 {
			waitStops(late, time.Now().Add(50*time.Millisecond))
		}
		detach := func(t *tracee) {
			if t.gone || !t.stopped {
				return
			}
			if err := ptraceDetach(t.tid, t.sig); err != nil && err != unix.ESRCH && firstErr == nil {
				firstErr = fmt.Errorf("detaching thread %d of process %d: %v", t.tid, p.pid, err)
			}
			t.stopped = false
		}
		// Our interrupt sent every thread through the signal code, so on
		// resume any of them may dequeue a process-wide pending signal the
		// kernel meant for the main thread (Python only runs handlers
		// there). Let the main thread take it first.
		if len(tracees) > 1 && tracees[0].tid == p.pid && pendingShared(p.pid, tracees) {
			detach(tracees[0])
			// Wait until it took the signal, or went back to sleep without
			// it (it blocks the signal), or a generous deadline passed (a
			// busy machine may not run it for milliseconds).
			deadline := time.Now().Add(50 * time.Millisecond)
			for pendingShared(p.pid, tracees) && time.Now().Before(deadline) {
				if st := taskState(p.pid, p.pid); st != "R" && st != "t" {
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		for _, t := range tracees {
			detach(t)
		}
		p.mu.Lock()
		if !p.pauseStart.IsZero() {
			p.pauseEnd = time.Now()
		}
		p.mu.Unlock()
		return nil
	})
	if endTracer {
		tr.release()
	}
	if err != nil {
		return err
	}
	return firstErr
}

// installSignals makes SIGINT/SIGTERM/SIGHUP detach before the program
// exits with 128+signal, so an interrupted dump never leaves the target
// stopped.
func (p *Process) installSignals() {
	p.sigCh = make(chan os.Signal, 1)
	p.sigDone = make(chan struct{})
	signal.Notify(p.sigCh, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ch, done := p.sigCh, p.sigDone
	go func() {
		select {
		case s := <-ch:
			p.detach()
			exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()
}

// Close resumes and detaches every thread (blocking mode) and releases
// resources. It is idempotent.
func (p *Process) Close() error {
	if p == nil {
		return nil
	}
	err := p.detach()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		if p.sigCh != nil {
			signal.Stop(p.sigCh)
			close(p.sigDone)
		}
	}
	p.mu.Unlock()
	p.mem.close()
	p.tasks.close()
	return err
}

// Resume lets a stopped process run again and keeps the handle, for
// Restop. Memory read from the handle is then read from the running
// process (Options.Cache keeps no page across it).
func (p *Process) Resume() error {
	if p.opts.NoBlock {
		p.mem.forget()
		p.unmoved = false // the process runs on from here
		return nil
	}
	return p.resume(false)
}

// Restop stops the process again after Resume, as Open did, reusing what
// Open set up: the tracer thread, the signal handler, the memory map (as
// of Open) and the open /proc files. In NoBlock mode it only lists the
// threads again. On an error the process is left running.
func (p *Process) Restop() error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return fmt.Errorf("process %d: the handle is closed", p.pid)
	}
	p.mem.forget()
	p.unmoved = false
	if p.opts.NoBlock {
		if !p.opts.NoThreads {
			p.threads = p.relistThreads()
			if len(p.threads) == 0 {
				return p.procError(os.ErrNotExist)
			}
		}
		return nil
	}
	p.mu.Lock()
	p.threads = nil
	p.pauseStart, p.pauseEnd = time.Time{}, time.Time{}
	p.mu.Unlock()
	if err := p.attach(); err != nil {
		p.resume(false)
		return err
	}
	p.mem.setCaching(true)
	return nil
}

// PauseDuration is how long the target was stopped: from the first
// PTRACE_INTERRUPT to the last detach (so far, if still attached). Zero in
// NoBlock mode.
func (p *Process) PauseDuration() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.pauseStart.IsZero():
		return 0
	case p.pauseEnd.IsZero():
		return time.Since(p.pauseStart)
	}
	return p.pauseEnd.Sub(p.pauseStart)
}

func (p *Process) PID() int { return p.pid }

// Arch is the host's: a live process runs here.
func (p *Process) Arch() target.Arch { return target.HostArch() }

// Threads lists the threads as of Open, main thread first. State is the
// kernel state read before the thread was stopped; Regs is nil in NoBlock
// mode and for threads that could not be stopped.
func (p *Process) Threads() []target.Thread {
	return append([]target.Thread(nil), p.threads...)
}

// Stopped lists the threads p has stopped (those with registers), in
// Threads' order: inside a pause, cheaper than copying every thread.
func (p *Process) Stopped() []target.Thread {
	var out []target.Thread
	for _, th := range p.threads {
		if th.Regs != nil {
			out = append(out, th)
		}
	}
	return out
}

// Mappings is /proc/PID/maps as of Open. Path keeps the kernel's spelling:
// pseudo names ("[heap]", "[stack]", "[vdso]") and a " (deleted)" suffix.
func (p *Process) Mappings() []target.Mapping {
	return append([]target.Mapping(nil), p.maps...)
}

// Executable is the main executable's path as the target sees it.
func (p *Process) Executable() string { return p.exe }

// ReadAt reads target memory; see target.Memory.
func (p *Process) ReadAt(b []byte, addr uint64) (int, error) {
	return p.mem.ReadAt(b, addr)
}

// Forget drops the pages cached so far (Options.Cache): a handle kept
// open while the process runs must not serve memory read before it last
// ran.
func (p *Process) Forget() { p.mem.forget() }

// Page lends the 4 KiB page at base (page-aligned) from the cache, which
// is valid while the process is stopped (or with Options.Cache): see
// target.Pager. The caller must not modify it.
func (p *Process) Page(base uint64) ([]byte, bool) {
	return p.mem.page(base)
}
