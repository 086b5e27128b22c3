package engine

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

// Process is a live process opened once and captured as often as wanted.
// What does not change while it runs (its files, where the interpreter
// keeps its state, parsed CFI and symbols, code objects) is learnt once,
// by a probe that never stops it; each capture stops it only to read
// what changes.
type Process struct {
	pid    int
	ppid   int
	opts   Options
	start  uint64 // kernel start time, to notice PID reuse
	image  string // the program image opened (live.ExecImage), to notice an exec
	probe  *live.Process
	in     *cpython.Interpreter
	r      *cpython.Reader
	stages []Stage // the native stage first, when on

	// mu serialises captures: the reader follows one handle at a time.
	mu     sync.Mutex
	held   *Held
	closed bool
	// stopper is the handle captures stop the process with, kept between
	// captures (it runs meanwhile) so that each one does not set up
	// again what does not change; stopperPolicy is what it stops.
	stopper        *live.Process
	stopperPolicy  StopPolicy
	stopperChecked bool // it was found to hold the process opened

	natOnce sync.Once
	nat     *native.Session
}

// OpenProcess opens process pid without stopping it and finds its
// interpreter.
func OpenProcess(pid int, opts Options) (*Process, error) {
	if opts.Stop == nil {
		opts.Stop = StopGIL
	}
	if opts.Native && opts.Stop == StopNone {
		return nil, errors.New("--native needs the threads' registers, which --no-block cannot read: drop --no-block")
	}
	ppid := live.ParentPID(pid)
	if live.SharesMemory(pid, ppid) {
		return nil, fmt.Errorf("process %d: %w: it shares its parent's (%d) memory until it runs its program; look at process %d", pid, ErrVforked, ppid, ppid)
	}
	image, start := live.ExecImage(pid)
	probe, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: true, Cache: true})
	if err != nil {
		return nil, err
	}
	in, err := cpython.Discover(probe)
	if err != nil {
		probe.Close()
		return nil, describeProcess(pid, err)
	}
	p := &Process{pid: pid, ppid: ppid, opts: opts, start: start, image: image, probe: probe, in: in, r: cpython.NewReader(probe, in)}
	p.r.Values = opts.Values
	if opts.Sampling {
		p.r.NamesMaxAge = time.Second
		p.r.Prefetch = true
		p.r.CodeMaxAge = time.Second
	}
	p.r.Redact = opts.Redact
	p.r.Prepare()
	if opts.Native {
		p.stages = append(p.stages, nativeStage{p.Native()})
	}
	p.stages = append(p.stages, opts.Stages...)
	for i, s := range p.stages {
		p.stages[i] = s.Prepare(probe, p.r)
	}
	return p, nil
}

// PID is the process's ID.
func (p *Process) PID() int { return p.pid }

// Interpreter is the CPython runtime found in the process.
func (p *Process) Interpreter() *cpython.Interpreter { return p.in }

// Target is the running process: its files, memory map and memory (reads
// may be torn), never stopped.
func (p *Process) Target() target.Target { return p.probe }

// Open opens a file as the process sees it.
func (p *Process) Open(path string) (*os.File, error) { return p.probe.Open(path) }

// StartTime is when the process started.
func (p *Process) StartTime() (time.Time, error) { return p.probe.StartTime() }

// Native is the process's native stack reader and symbolizer, made on
// first use over the probe (it outlives stops). It opens files and parses
// CFI only when a stack is first unwound, unless Options.Native prepared
// it while the process ran.
func (p *Process) Native() *native.Session {
	p.natOnce.Do(func() { p.nat = native.New(p.probe, p.opts.native()) })
	return p.nat
}

// Snapshot stops the process as Options.Stop says, captures it, resumes
// it and resolves the capture.
func (p *Process) Snapshot() (*model.Snapshot, error) {
	c, err := p.Capture(p.opts.Stop)
	if err != nil {
		return nil, err
	}
	return p.Resolve(c), nil
}

// Capture is what one stop read: thread states, frame chains, values,
// and every stage's part. Resolve completes it after the process resumed.
type Capture struct {
	py      *cpython.Capture
	stages  []Captured
	threads []target.Thread
	pause   time.Duration
	stopped bool
	stop    model.Stop
	// still, when set, reports whether no thread has run Python code
	// since the capture (see StillCaptured).
	still func() bool
}

// Pause is how long the process was stopped for this capture (zero with
// StopNone, or when StopGIL stopped no thread).
func (c *Capture) Pause() time.Duration { return c.pause }

// Threads are the OS threads as of the stop, with their kernel states;
// those the capture stopped have their registers.
func (c *Capture) Threads() []target.Thread { return c.threads }

// Stop says which threads the capture stopped, and why all of them when
// StopGIL had to.
func (c *Capture) Stop() model.Stop { return stopReport(c) }

// Capture stops the threads stop names (nil: StopGIL), reads what changes,
// and resumes the process before it returns, on every path. The process
// never stays stopped, even if pyscope is killed: the live backend seizes,
// never attaches.
func (p *Process) Capture(stop StopPolicy) (*Capture, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return nil, err
	}
	if stop == nil {
		stop = StopGIL
	}
	c, err := stop.capture(p)
	if err != nil {
		return nil, err
	}
	if err := p.samePID(); err != nil {
		return nil, err
	}
	return c, nil
}

// captureKept stops the process as policy says (StopAll or StopNone)
// with the handle kept from the last capture that stopped it the same way,
// reads a capture and resumes it, on every path; mu is held. A profiler's
// many captures do not set up the stop again each time.
func (p *Process) captureKept(policy StopPolicy, opts live.Options) (*Capture, error) {
	p.probe.Forget()
	s, err := p.stop(policy, opts)
	if p.opts.AfterStop != nil && !opts.NoBlock {
		p.opts.AfterStop()
	}
	if err != nil {
		return nil, p.captureError(err)
	}
	c, err := p.captureFrom(s)
	p.r.Retarget(p.probe)
	cerr := s.Resume()
	if err != nil || cerr != nil {
		p.closeStopper()
	}
	if err != nil {
		return nil, p.captureError(err)
	}
	if cerr != nil {
		return nil, cerr
	}
	c.pause = s.PauseDuration()
	c.stopped = !opts.NoBlock
	return c, nil
}

// stop stops the process as policy says, with the handle of the last
// capture when it stopped the same way; mu is held.
func (p *Process) stop(policy StopPolicy, opts live.Options) (*live.Process, error) {
	if p.stopper != nil && samePolicy(p.stopperPolicy, policy) {
		if err := p.stopper.Restop(); err != nil {
			p.closeStopper()
			return nil, err
		}
		return p.stopper, nil
	}
	p.closeStopper()
	opts.NoSignals = p.opts.OwnSignals
	if p.opts.Sampling && opts.NoBlock {
		opts.Cache = false
	}
	s, err := live.Open(p.pid, opts)
	if err != nil {
		return nil, err
	}
	p.stopper, p.stopperPolicy, p.stopperChecked = s, policy, false
	return s, nil
}

// samePolicy compares policies, which need not be comparable values.
func samePolicy(a, b StopPolicy) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// closeStopper releases the capture handle; mu is held.
func (p *Process) closeStopper() {
	if p.stopper != nil {
		p.stopper.Close()
		p.stopper = nil
	}
}

// captureOnce opens the process as opts says, reads a capture and
// resumes it, on every path; mu is held. check, when set, runs while the
// threads opts names are stopped: it calls read, which captures, and may
// refuse the capture with an *inconsistent error. The live handle is
// returned closed, for its pause.
func (p *Process) captureOnce(opts live.Options, check func(s *live.Process, read func() (*Capture, error)) error) (*Capture, *live.Process, error) {
	p.probe.Forget()
	// The kept handle stops otherwise: release it (its tracer thread).
	p.closeStopper()
	opts.NoSignals = p.opts.OwnSignals
	s, err := live.Open(p.pid, opts)
	if p.opts.AfterStop != nil && !opts.NoBlock {
		p.opts.AfterStop()
	}
	if err != nil {
		return nil, nil, p.captureError(err)
	}
	var c *Capture
	read := func() (*Capture, error) {
		var err error
		c, err = p.captureFrom(s)
		return c, err
	}
	if check != nil {
		err = check(s, read)
	} else {
		_, err = read()
	}
	p.r.Retarget(p.probe)
	cerr := s.Close()
	if err != nil {
		if _, ok := err.(*inconsistent); ok {
			return nil, s, err
		}
		return nil, s, p.captureError(err)
	}
	if cerr != nil {
		return nil, s, cerr
	}
	c.pause = s.PauseDuration()
	c.stopped = !opts.NoBlock
	return c, s, nil
}

// captureFrom reads a capture from s (stopped, or running with StopNone);
// mu is held.
func (p *Process) captureFrom(s target.Target) (*Capture, error) {
	p.r.Retarget(s)
	py, err := p.r.Capture()
	if err != nil {
		return nil, err
	}
	c := &Capture{py: py, threads: s.Threads()}
	for _, st := range p.stages {
		c.stages = append(c.stages, st.Capture(s, p.r))
	}
	return c, nil
}

// Resolve completes a capture into a snapshot, reading code objects
// (immutable while their frames live, and cached across captures) and
// symbolizing native stacks. The process may run meanwhile.
func (p *Process) Resolve(c *Capture) *model.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := p.r.Resolve(c.py)
	snap.Source, snap.PPID = "live", p.ppid
	for _, a := range c.stages {
		if a == nil {
			continue
		}
		if sc, ok := a.(StillCaptured); ok && c.still != nil {
			sc.Still(c.still)
		}
		a.Apply(snap)
	}
	if c.stopped {
		snap.PauseMicros = c.pause.Microseconds()
	}
	setStop(snap, stopReport(c))
	return snap
}

// Stacks is Resolve for profilers: each thread's Python stack as code
// objects and lines, without values or the stages' parts (native frames).
// It consumes the capture and reuses buf's storage: the stacks are valid
// until the next call.
func (p *Process) Stacks(c *Capture, buf []cpython.Stack) []cpython.Stack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.r.Stacks(c.py, buf)
}

// setStop records which threads a live capture stopped, in the snapshot
// and on each of its threads.
func setStop(snap *model.Snapshot, st model.Stop) {
	snap.Stop = &st
	stopped := map[int]bool{}
	for _, tid := range st.Stopped {
		stopped[tid] = true
	}
	for i := range snap.Threads {
		th := &snap.Threads[i]
		if th.NativeID != 0 {
			v := stopped[th.NativeID]
			th.Stopped = &v
		}
	}
}

// Held is a process held stopped after a capture, as a session holds it:
// its memory and registers are consistent until Resume.
type Held struct {
	p       *Process
	s       *live.Process
	snap    *model.Snapshot
	threads []target.Thread

	natOnce sync.Once
	natSnap *model.Snapshot
}

// Hold stops every thread, captures and resolves, and keeps the process
// stopped until Held.Resume or Process.Close. A process already held is
// resumed first.
func (p *Process) Hold() (*Held, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return nil, err
	}
	if p.held != nil {
		if err := p.resumeHeld(); err != nil {
			return nil, err
		}
	}
	p.probe.Forget()
	s, err := live.Open(p.pid, live.Options{Cache: true})
	if p.opts.AfterStop != nil {
		p.opts.AfterStop()
	}
	if err != nil {
		return nil, p.captureError(err)
	}
	c, err := p.captureFrom(s)
	if err == nil {
		err = p.samePID()
	}
	if err != nil {
		p.r.Retarget(p.probe)
		s.Close()
		return nil, p.captureError(err)
	}
	// Code objects are read from the stopped process: it does not move.
	snap := p.r.Resolve(c.py)
	snap.Source, snap.PPID = "live", p.ppid
	for _, a := range c.stages {
		a.Apply(snap)
	}
	c.stop.Policy = "all"
	setStop(snap, stopReport(c))
	p.held = &Held{p: p, s: s, snap: snap, threads: c.threads}
	return p.held, nil
}

// Snapshot is the held stop's snapshot.
func (h *Held) Snapshot() *model.Snapshot { return h.snap }

// Target is the stopped process: registers, and memory that does not move.
func (h *Held) Target() target.Target { return h.s }

// Reader reads the stopped process's objects.
func (h *Held) Reader() *cpython.Reader { return h.p.r }

// Threads are the OS threads of the stop, main first.
func (h *Held) Threads() []target.Thread { return h.threads }

// NativeSnapshot is the snapshot with native stacks merged, as dump
// --native shows it; the stacks are unwound on first use.
func (h *Held) NativeSnapshot() *model.Snapshot {
	h.natOnce.Do(func() {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		if h.p.held != h {
			return
		}
		h.natSnap = withNative(h.snap, h.p.Native(), h.s)
	})
	return h.natSnap
}

// withNative returns a copy of snap with the native stacks of t (stopped,
// or a core) merged in; snap is left as it is.
func withNative(snap *model.Snapshot, n *native.Session, t target.Target) *model.Snapshot {
	c := n.Capture(t)
	cp := *snap
	cp.Threads = slices.Clone(snap.Threads)
	for i := range cp.Threads {
		cp.Threads[i].Warnings = slices.Clip(cp.Threads[i].Warnings)
	}
	n.Apply(&cp, c)
	return &cp
}

// Resume lets the process run again; the held view is no longer valid.
func (h *Held) Resume() error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.p.held != h {
		return errors.New("the process is already running")
	}
	return h.p.resumeHeld()
}

// resumeHeld resumes the held process; mu is held.
func (p *Process) resumeHeld() error {
	h := p.held
	p.held = nil
	p.r.Retarget(p.probe)
	return h.s.Close()
}

// Close resumes a held process and releases everything. Safe to call more
// than once and from another goroutine (a signal handler).
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.held != nil {
		err = p.resumeHeld()
	}
	p.closeStopper()
	if !p.closed {
		p.closed = true
		for _, s := range p.stages {
			s.Close()
		}
		if p.nat != nil && !p.opts.Native {
			p.nat.Close()
		}
		p.probe.Close()
	}
	return err
}

// Exited says whether the process opened is gone: it exited (a zombie
// too: every thread exited), or its PID belongs to another process now.
// A held process can be killed (SIGKILL stops at nothing), and a session
// must not go on as if it held it. One look at /proc, no wait.
func (p *Process) Exited() bool {
	return p.fate(false) != processAlive
}

// ErrVforked: the process is a child between vfork and exec. It runs no
// Python of its own: what its memory holds is its parent's, which runs on
// while the child is stopped.
var ErrVforked = errors.New("a child between vfork and exec")

// ErrExeced: the process opened runs another program now (an exec), so
// what was learnt of its interpreter no longer holds.
var ErrExeced = errors.New("the process ran another program (exec)")

// Execed says whether the process opened ran another program since it
// was opened (an exec, even of the same executable): one read of its stat
// file. A forked child opened before its exec is the common case.
func (p *Process) Execed() bool {
	if p.image == "" {
		return false
	}
	now, st := live.ExecImage(p.pid)
	if st != p.start {
		return false // exited, or its PID reused: not the same process
	}
	return now != "" && now != p.image
}

func (p *Process) usable() error {
	if p.closed {
		return fmt.Errorf("process %d: the session has detached", p.pid)
	}
	return nil
}

// samePID fails when the PID now belongs to another process: the one
// opened exited and its PID was recycled, and a capture must not mix the
// two.
func (p *Process) samePID() error {
	if p.start == 0 {
		return nil
	}
	if p.stopper != nil && p.stopperChecked {
		// The stop handle keeps a file of the process it checked open:
		// one read says whether that process is still there; mu is held.
		return p.stopper.Alive()
	}
	var st uint64
	var err error
	if p.stopper != nil {
		st, err = p.stopper.StartTicks()
		p.stopperChecked = err == nil && st == p.start && p.stopper.Alive() == nil
	} else {
		st, err = live.StartTicks(p.pid)
	}
	if errors.Is(err, target.ErrExited) {
		return exitedDuring(p.pid)
	}
	if err == nil && st != p.start {
		return fmt.Errorf("process %d exited during the dump and its PID now belongs to another process; run pyscope again", p.pid)
	}
	return nil
}

// captureError names the exit when the process is gone, and the reuse
// when its PID now belongs to another process.
func (p *Process) captureError(err error) error {
	if errors.Is(err, target.ErrExited) {
		return exitedDuring(p.pid)
	}
	// Looked at first: a process that exec'd fails every read at the old
	// program's addresses, which fate would take for a dying one and
	// wait on.
	if p.Execed() {
		return fmt.Errorf("process %d: %w during the dump; run pyscope again", p.pid, ErrExeced)
	}
	switch p.fate(mayBeExit(err)) {
	case processGone:
		return exitedDuring(p.pid)
	case processReplaced:
		if rerr := p.samePID(); rerr != nil {
			return rerr
		}
	}
	return err // never nil for an error: callers return it with no capture
}

// exitWait is how long a failed capture waits for the process to show
// as exited, when that is what failed it.
const exitWait = 100 * time.Millisecond

// mayBeExit says whether a capture may have failed with err because the
// process was dying: not for what a live process fails with as well (no
// interpreter yet, not Python, another tracer), which a sampler meets at
// every sample of a process starting or ending and must not wait on.
func mayBeExit(err error) bool {
	return !errors.Is(err, cpython.ErrNoInterpreter) && !errors.Is(err, cpython.ErrNotPython) && !errors.Is(err, target.ErrTraced)
}

type processFate int

const (
	processAlive    processFate = iota
	processGone                 // exited, or a zombie (every thread exited)
	processReplaced             // its PID belongs to another process now
)

// fate says what became of the process opened. A kill during a capture
// fails it with whatever the kill interrupted (a vanished thread, a seize
// refused to an exiting one, a zombie its parent has not reaped) a moment
// before the process shows as exited: with wait, a failed capture waits
// that moment, never more than exitWait; without, it looks once.
func (p *Process) fate(wait bool) processFate {
	end := time.Now()
	if wait {
		end = end.Add(exitWait)
	}
	for ; ; time.Sleep(time.Millisecond) {
		st, err := live.StartTicks(p.pid)
		switch {
		case errors.Is(err, target.ErrNoProcess):
			return processGone
		case err == nil && p.start != 0 && st != p.start:
			return processReplaced
		case err == nil && live.AllThreadsExited(p.pid):
			return processGone
		case time.Now().After(end):
			return processAlive
		}
	}
}

func describeProcess(pid int, err error) error {
	if errors.Is(err, target.ErrExited) {
		// Whatever read failed (a file, the interpreter list), the cause
		// is the exit: say only that.
		return exitedDuring(pid)
	}
	if errors.Is(err, cpython.ErrNotPython) {
		return fmt.Errorf("process %d is %w: no CPython runtime (_PyRuntime) in its executable or libraries", pid, cpython.ErrNotPython)
	}
	return err
}

func exitedDuring(pid int) error {
	return fmt.Errorf("process %d: %w during the dump; run pyscope again if it restarted", pid, target.ErrExited)
}

// nativeStage merges native stacks into every capture.
type nativeStage struct{ s *native.Session }

// Prepare opens every module and parses its CFI while the process runs,
// so that the stop only walks stacks.
func (n nativeStage) Prepare(target.Target, *cpython.Reader) Stage { n.s.Prepare(); return n }
func (n nativeStage) Capture(t target.Target, _ *cpython.Reader) Captured {
	return nativeCaptured{n.s, n.s.Capture(t)}
}
func (n nativeStage) Close() { n.s.Close() }

type nativeCaptured struct {
	s *native.Session
	c *native.Capture
}

func (n nativeCaptured) Apply(snap *model.Snapshot) { n.s.Apply(snap, n.c) }

// Symbolizer names native addresses of the process (made on first use).
func (p *Process) Symbolizer() *symbolize.Symbolizer { return p.Native().Symbolizer() }
