// Package sampler samples the Python stacks of running processes at a
// steady rate, through the engine: each process is opened once and
// captured at every tick (stopped or not, as asked), and every Python
// thread of a capture becomes one profile sample, idle or running by its
// kernel state, holding the GIL or not, weighing the CPU time its thread
// used since its previous sample. Captures that fail are counted with
// their reason, never dropped or made up.
package sampler

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/profile"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
)

// Options say what to sample and how often.
type Options struct {
	// Rate is samples per second (default 100).
	Rate float64
	// Duration ends the run; 0 samples until the context ends or every
	// process exited.
	Duration time.Duration
	// NonBlocking never stops the processes: stacks may then be torn,
	// and torn ones are counted as failed samples.
	NonBlocking bool
	// Native merges the C frames into the Python stacks.
	Native bool
	// Symbols says where native debug files are (with Native).
	Symbols symbolize.Options
	// Subprocesses samples the descendants of the process too.
	Subprocesses bool
	// Launched says pyscope started the process for this run: it may not
	// run Python yet (a shell, the dynamic loader), so it is waited for
	// instead of refused.
	Launched bool
	// Idle says the sink keeps idle samples: their CPU time is read too.
	// Otherwise an idle thread's clock is read only when first seen, and
	// what it used before it slept goes to its next running sample: a
	// stopping sample costs a system call per running thread, not per
	// thread (a non-blocking capture's listing reads every clock anyway).
	Idle bool
}

// Sink receives the samples; a *profile.Profile is one. The sampler calls
// it from the goroutine running Run; a sample's Frames are valid only
// during the call.
type Sink interface {
	Add(profile.Sample)
	AddFailed(reason string)
}

// Tick is one sampling instant, as a TickSink is told of it.
type Tick struct {
	At       time.Time
	Captures int           // processes captured
	NoGIL    int           // of which free-threaded builds (no GIL, unless re-enabled)
	Pause    time.Duration // how long they were stopped, in all
}

// TickSink is a Sink told of every sampling instant once its samples
// were given (top counts its intervals in ticks).
type TickSink interface {
	Sink
	Tick(Tick)
}

// Stats say how a run went.
type Stats struct {
	Ticks    int64 // sampling instants due during the run
	Missed   int64 // of which skipped: the previous capture ran past them
	Captures int64 // process captures made (one per process per tick taken)
	Failed   int64 // of which failed
	// FreeThreaded counts the captures of free-threaded builds, which
	// run without a GIL unless it is enabled at run time.
	FreeThreaded int64
	Samples      int64         // thread samples given to the sink
	Failures     int64         // thread samples counted as failed
	Pause        time.Duration // total time the processes were stopped
	Busy         time.Duration // wall time spent capturing
	CPU          time.Duration // pyscope's own CPU time (user + system)
	Elapsed      time.Duration
	// Processes lists every process sampled, in the order found.
	Processes []int
	// Exited lists the processes that exited during the run.
	Exited []int
}

// Sampler samples one process, and its descendants with Subprocesses.
type Sampler struct {
	opts   Options
	root   int
	procs  []*proc
	byPID  map[int]*proc
	others map[int]*retry // processes not (yet) sampled: not Python, or gone wrong
	stats  Stats
	period time.Duration

	// Reused from sample to sample: stacks, frames, and the identity of
	// each code object and line (profile.Frame.Ref).
	stacks  []cpython.Stack
	frames  []profile.Frame
	refs    map[cpython.StackFrame]uint64
	nextRef uint64
	// built is each thread's last stack as profile frames, by Stack.Key.
	built map[threadKey]*builtStack
}

type threadKey struct {
	pid int
	tid uint64
}

type builtStack struct {
	key    uint64
	frames []profile.Frame
	seen   int64 // the tick that last used it
}

// proc is one process being sampled.
type proc struct {
	pid     int
	p       *engine.Process
	name    string
	threads int // Python threads in the last capture: what a failed capture weighs
	fails   int // consecutive failed captures

	// The threads' CPU clocks (nil when the target has none), each
	// thread's reading at its last sample, and the captures made.
	clock    target.CPUTimeReader
	cpu      map[int]cpuMark
	captures int64
	lastAt   time.Time // the previous capture
	// kernel is what the last capture's thread listing said of each
	// thread, by TID.
	kernel map[int]kernelView
}

// kernelView is a thread as the kernel showed it to a capture: running or
// not, and the CPU time it had used when the listing read it (hasCPU).
type kernelView struct {
	running bool
	cpu     time.Duration
	hasCPU  bool
}

// cpuMark is a thread's CPU time as read at its last sample.
type cpuMark struct {
	used    time.Duration
	capture int64 // proc.captures then
}

// retry is when to try a process again.
type retry struct {
	next  time.Time
	delay time.Duration
}

const (
	// scanEvery is how often descendants are listed (Subprocesses).
	scanEvery = 100 * time.Millisecond
	// reopenAfter failed captures in a row, a process is opened afresh:
	// it may have exec'd another program.
	reopenAfter   = 5
	maxRetryDelay = 2 * time.Second
)

// New opens process pid for sampling. Unless Options.Launched, a process
// that is not Python is an error.
func New(pid int, opts Options) (*Sampler, error) {
	if opts.Rate <= 0 {
		opts.Rate = 100
	}
	if opts.Rate > 1e6 {
		return nil, fmt.Errorf("--rate %g is more than a million samples a second", opts.Rate)
	}
	if opts.Native && opts.NonBlocking {
		return nil, errors.New("--native needs the threads' registers, which --nonblocking cannot read: drop one of them")
	}
	s := &Sampler{opts: opts, root: pid, byPID: map[int]*proc{}, others: map[int]*retry{},
		refs: map[cpython.StackFrame]uint64{}, built: map[threadKey]*builtStack{},
		period: time.Duration(float64(time.Second) / opts.Rate)}
	if s.period <= 0 {
		s.period = time.Microsecond
	}
	if err := s.open(pid); err != nil {
		if !opts.Launched {
			return nil, err
		}
		s.others[pid] = &retry{delay: time.Millisecond}
	}
	return s, nil
}

// Process describes a process being sampled.
type Process struct {
	PID    int
	Name   string // the kernel's name for it (comm)
	Python string // its Python version
	// FreeThreaded: a free-threaded build, which has no GIL (unless
	// re-enabled).
	FreeThreaded bool
}

// Processes lists the processes being sampled.
func (s *Sampler) Processes() []Process {
	out := make([]Process, 0, len(s.procs))
	for _, pr := range s.procs {
		out = append(out, Process{PID: pr.pid, Name: pr.name, Python: pr.p.Interpreter().Version, FreeThreaded: pr.p.Interpreter().FreeThreaded})
	}
	return out
}

// Period is the time between two ticks.
func (s *Sampler) Period() time.Duration { return s.period }

func (s *Sampler) engineOptions() engine.Options {
	o := engine.Options{Native: s.opts.Native, Symbols: s.opts.Symbols, OwnSignals: true, Sampling: true}
	if s.opts.NonBlocking {
		o.Stop = engine.StopNone
	}
	return o
}

func (s *Sampler) open(pid int) error {
	p, err := engine.OpenProcess(pid, s.engineOptions())
	if err != nil {
		return err
	}
	pr := &proc{pid: pid, p: p, name: processName(p), cpu: map[int]cpuMark{}, kernel: map[int]kernelView{}}
	pr.clock, _ = p.Target().(target.CPUTimeReader)
	s.procs = append(s.procs, pr)
	s.byPID[pid] = pr
	delete(s.others, pid)
	if !containsInt(s.stats.Processes, pid) {
		s.stats.Processes = append(s.stats.Processes, pid)
	}
	return nil
}

func processName(p *engine.Process) string {
	if pi, ok := p.Target().(target.ProcessInfoReader); ok {
		if info, err := pi.ProcessInfo(); err == nil && info.Comm != "" {
			return info.Comm
		}
	}
	return ""
}

// Close releases every process; they run on.
func (s *Sampler) Close() {
	for _, pr := range s.procs {
		pr.p.Close()
	}
	s.procs = nil
}

// Run samples until ctx ends, the duration is over or every process has
// exited (and, for a launched process, Python never started in it), and
// returns what happened. Samples go to sink.
func (s *Sampler) Run(ctx context.Context, sink Sink) Stats {
	// Precise sleeps: the sampling thread is locked, with a 1 ns timer
	// slack, and short waits use nanosleep rather than the runtime's
	// millisecond poller.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0)

	cpu0 := cpuTime()
	start := time.Now()
	var end time.Time
	if s.opts.Duration > 0 {
		end = start.Add(s.opts.Duration)
	}
	nextScan := start
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for tick := int64(0); ; tick++ {
		due := start.Add(time.Duration(tick) * s.period)
		if !end.IsZero() && !due.Before(end) {
			break
		}
		if !sleepUntil(ctx, timer, due) {
			break
		}
		now := time.Now()
		if late := now.Sub(due); late > s.backlog() {
			// A tick a little late (the machine did not run pyscope in
			// time, a capture ran long) is taken late, at its real time,
			// and the next ones follow at once until the schedule is
			// caught up; ticks further behind than the backlog are
			// counted as missed, never made up.
			skip := int64((late - s.backlog()) / s.period)
			if !end.IsZero() {
				skip = min(skip, int64(end.Sub(due)/s.period))
			}
			s.stats.Missed += skip
			s.stats.Ticks += skip
			tick += skip
			due = start.Add(time.Duration(tick) * s.period)
			if !end.IsZero() && !due.Before(end) {
				break
			}
		}
		s.stats.Ticks++
		if !now.Before(nextScan) {
			s.scan(now)
			nextScan = now.Add(scanEvery)
		}
		if len(s.procs) == 0 && len(s.others) == 0 {
			break
		}
		s.tick(now, sink)
		if len(s.procs) == 0 && !s.waiting() {
			break
		}
	}
	s.stats.Elapsed = time.Since(start)
	s.stats.CPU = cpuTime() - cpu0
	return s.stats
}

// maxBacklog is how far behind its schedule the sampler may catch up.
const maxBacklog = 100 * time.Millisecond

func (s *Sampler) backlog() time.Duration { return max(maxBacklog, 2*s.period) }

// tick captures every process once.
func (s *Sampler) tick(now time.Time, sink Sink) {
	captures, pause, noGIL := s.stats.Captures, s.stats.Pause, 0
	for i := 0; i < len(s.procs); {
		pr := s.procs[i]
		ft := pr.p.Interpreter().FreeThreaded
		if ft {
			noGIL++
		}
		before := s.stats.Captures
		kept := s.sample(pr, now, sink)
		if ft {
			s.stats.FreeThreaded += s.stats.Captures - before
		}
		if kept {
			i++
		}
	}
	if ts, ok := sink.(TickSink); ok {
		ts.Tick(Tick{At: now, Captures: int(s.stats.Captures - captures), NoGIL: noGIL, Pause: s.stats.Pause - pause})
	}
}

// waiting says whether a process may still start running Python: the
// launched root, or descendants found.
func (s *Sampler) waiting() bool {
	if len(s.others) == 0 {
		return false
	}
	if s.opts.Subprocesses {
		return s.alive(s.root) || len(s.descendants()) > 0
	}
	return s.alive(s.root)
}

func (s *Sampler) alive(pid int) bool {
	_, err := engine.Subprocesses(pid)
	return err == nil
}

func (s *Sampler) descendants() []int {
	kids, _ := engine.Subprocesses(s.root)
	return kids
}

// scan opens new descendants (Subprocesses) and retries processes not
// sampled yet.
func (s *Sampler) scan(now time.Time) {
	if s.opts.Subprocesses {
		live := map[int]bool{s.root: true}
		for _, pid := range s.descendants() {
			live[pid] = true
			if s.byPID[pid] == nil && s.others[pid] == nil {
				s.others[pid] = &retry{delay: time.Millisecond}
			}
		}
		for pid := range s.others {
			if !live[pid] {
				delete(s.others, pid)
			}
		}
	}
	pids := make([]int, 0, len(s.others))
	for pid := range s.others {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	for _, pid := range pids {
		r := s.others[pid]
		if now.Before(r.next) {
			continue
		}
		if err := s.open(pid); err != nil {
			if pid == s.root && !s.alive(pid) {
				delete(s.others, pid)
				continue
			}
			r.delay = min(r.delay*2, maxRetryDelay)
			r.next = now.Add(r.delay)
		}
	}
}

// sample captures one process and hands its threads to sink. It reports
// false when the process was dropped from s.procs (exited, or to be
// reopened).
func (s *Sampler) sample(pr *proc, at time.Time, sink Sink) bool {
	stop := engine.StopAll
	if s.opts.NonBlocking {
		stop = engine.StopNone
	}
	t0 := time.Now()
	c, err := pr.p.Capture(stop)
	s.stats.Captures++
	if err != nil {
		s.stats.Busy += time.Since(t0)
		return s.failed(pr, err, sink)
	}
	s.stats.Pause += c.Pause()
	pr.captures++
	clear(pr.kernel)
	for _, th := range c.Threads() {
		pr.kernel[th.TID] = kernelView{running: isRunning(th), cpu: th.CPU, hasCPU: th.HasCPU}
	}
	pr.fails = 0
	if s.opts.Native {
		s.sampleSnapshot(pr, pr.p.Resolve(c), at, sink)
	} else {
		s.stacks = pr.p.Stacks(c, s.stacks)
		s.sampleStacks(pr, at, sink)
	}
	pr.lastAt = at
	s.pruneCPU(pr)
	s.stats.Busy += time.Since(t0)
	return true
}

// cpuSince is the CPU time thread tid used since its previous sample whose
// clock was read (every sample, or with !Options.Idle every running one),
// read at the sample taken at at (by the capture's thread listing, when it
// read it); false when the target has no CPU clock or the thread's was
// not read. A thread's first sample weighs nothing at
// the process's first capture (it opens the recording: what the thread
// used before is not the recording's), and else the thread's whole CPU
// time, up to the time since the previous capture: it started since, most
// likely (a thread ID used again reads as such a new thread).
func (s *Sampler) cpuSince(pr *proc, tid int, at time.Time, idle bool) (time.Duration, bool) {
	if pr.clock == nil || tid <= 0 {
		return 0, false
	}
	m, seen := pr.cpu[tid]
	if seen && idle && !s.opts.Idle {
		m.capture = pr.captures
		pr.cpu[tid] = m
		return 0, false
	}
	used := pr.kernel[tid].cpu
	if !pr.kernel[tid].hasCPU {
		var err error
		if used, err = pr.clock.CPUTime(tid); err != nil {
			return 0, false
		}
	}
	pr.cpu[tid] = cpuMark{used: used, capture: pr.captures}
	switch {
	case seen && used >= m.used:
		return used - m.used, true
	case pr.captures <= 1:
		return 0, true
	}
	return min(used, max(at.Sub(pr.lastAt), 0)), true
}

// pruneCPU forgets the CPU clocks of threads the last capture did not
// sample, once they outnumber those it did.
func (s *Sampler) pruneCPU(pr *proc) {
	if len(pr.cpu) <= 2*pr.threads+64 {
		return
	}
	for tid, m := range pr.cpu {
		if m.capture != pr.captures {
			delete(pr.cpu, tid)
		}
	}
}

// sampleStacks hands the threads of one capture to sink.
func (s *Sampler) sampleStacks(pr *proc, at time.Time, sink Sink) {
	pr.threads = len(s.stacks)
	for i := range s.stacks {
		st := &s.stacks[i]
		// Read for a failed sample too: its CPU time goes with it.
		isIdle := idle(pr.kernel, st.NativeID)
		cpu, cpuKnown := s.cpuSince(pr, st.NativeID, at, isIdle)
		if st.Err != nil {
			s.stats.Failures++
			sink.AddFailed(Reason(st.Err.Error()))
			continue
		}
		frames := s.framesOf(pr.pid, st)
		s.stats.Samples++
		sink.Add(profile.Sample{Time: at, PID: pr.pid, ProcessName: pr.name, ThreadID: st.ThreadID,
			NativeID: st.NativeID, ThreadName: st.Name, Frames: frames, HoldsGIL: st.HoldsGIL,
			Idle: isIdle, StackKey: st.Key, CPU: cpu, CPUKnown: cpuKnown})
	}
}

// framesOf is a stack as profile frames: those built for the thread's
// last sample when its stack has not changed (the same Stack.Key).
func (s *Sampler) framesOf(pid int, st *cpython.Stack) []profile.Frame {
	b := s.built[threadKey{pid, st.ThreadID}]
	if b == nil {
		if len(s.built) >= maxThreadsKept {
			s.pruneBuilt()
		}
		b = &builtStack{}
		s.built[threadKey{pid, st.ThreadID}] = b
	}
	b.seen = s.stats.Ticks
	if st.Key != 0 && b.key == st.Key {
		return b.frames
	}
	frames := b.frames[:0]
	for _, f := range st.Frames {
		ref, ok := s.refs[f]
		if !ok {
			if len(s.refs) >= maxRefs {
				clear(s.refs)
			}
			s.nextRef++
			ref = s.nextRef
			s.refs[f] = ref
		}
		frames = append(frames, profile.Frame{Function: f.Function(), Qualname: f.Qualname(),
			File: f.File(), Line: f.Line, Ref: ref})
	}
	b.key, b.frames = st.Key, frames
	return frames
}

// maxThreadsKept bounds the stacks kept per thread; past it, those of
// threads not sampled lately are dropped.
const maxThreadsKept = 1 << 16

func (s *Sampler) pruneBuilt() {
	for k, b := range s.built {
		if b.seen < s.stats.Ticks-1 {
			delete(s.built, k)
		}
	}
	if len(s.built) >= maxThreadsKept {
		clear(s.built)
	}
}

// sampleSnapshot hands the Python threads of a resolved capture (with
// native frames) to sink.
func (s *Sampler) sampleSnapshot(pr *proc, snap *model.Snapshot, at time.Time, sink Sink) {
	samples := profile.FromSnapshot(snap, at)
	n := 0
	for i := range samples {
		th := &snap.Threads[i]
		if th.Python != nil && !*th.Python {
			continue // --native lists threads without Python state too
		}
		n++
		isIdle := idle(pr.kernel, th.NativeID)
		cpu, cpuKnown := s.cpuSince(pr, th.NativeID, at, isIdle)
		if th.Truncated {
			s.stats.Failures++
			sink.AddFailed(Reason(th.Error))
			continue
		}
		smp := &samples[i]
		smp.ProcessName = pr.name
		smp.Idle = isIdle
		smp.CPU, smp.CPUKnown = cpu, cpuKnown
		s.stats.Samples++
		sink.Add(*smp)
	}
	pr.threads = n
}

// maxRefs bounds the table of frame identities; past it, it starts afresh
// (with new identities, so none is given to two frames).
const maxRefs = 1 << 20

// idle says whether a thread was idle: not running by its kernel state.
// A thread whose state is unknown (its TID is) counts as running.
func idle(kernel map[int]kernelView, tid int) bool {
	k, known := kernel[tid]
	return tid != 0 && known && !k.running
}

// isRunning says whether the kernel has a thread running: runnable (R),
// and, when the stop gave its registers, not just woken from a sleeping
// system call by a stop. Every stop wakes the sleeping threads for a
// moment, and on a busy machine they stay runnable until they get a CPU
// back and sleep again: a blocking profiler would otherwise count its own
// wake-ups as work. Idle or running comes from the kernel, never from
// function names.
func isRunning(th target.Thread) bool {
	if th.State != "R" {
		return false
	}
	if th.Regs != nil {
		if woken, ok := th.Regs.Interrupted(); ok && woken {
			return false
		}
	}
	return true
}

// failed accounts for a failed capture of pr.
func (s *Sampler) failed(pr *proc, err error, sink Sink) bool {
	switch {
	case errors.Is(err, target.ErrExited), errors.Is(err, target.ErrNoProcess):
		s.drop(pr)
		s.stats.Exited = append(s.stats.Exited, pr.pid)
		return false
	case errors.Is(err, cpython.ErrNoInterpreter):
		// Python is starting or finalising: no thread to sample.
		pr.threads = 0
		return true
	case errors.Is(err, engine.ErrExeced):
		// A new program, most often a child forked by Python that ran
		// exec: what failed was reading the program gone, not a sample
		// of a Python that runs. It is opened afresh at once (and
		// waited for while it is not Python yet).
		s.drop(pr)
		if s.open(pr.pid) != nil {
			s.others[pr.pid] = &retry{delay: time.Millisecond}
		}
		return false
	}
	s.stats.Failed++
	for i := 0; i < max(pr.threads, 1); i++ {
		s.stats.Failures++
		sink.AddFailed(Reason(err.Error()))
	}
	pr.fails++
	if pr.fails >= reopenAfter {
		s.drop(pr)
		s.others[pr.pid] = &retry{delay: time.Millisecond}
		return false
	}
	return true
}

func (s *Sampler) drop(pr *proc) {
	pr.p.Close()
	delete(s.byPID, pr.pid)
	for i, q := range s.procs {
		if q == pr {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
}

var addrRe = regexp.MustCompile(`0x[0-9a-fA-F]+|\b\d{3,}\b`)

// Reason turns an error message into a failure reason that does not name
// addresses or IDs, so that failures of one kind count together.
func Reason(msg string) string {
	msg = addrRe.ReplaceAllString(msg, "N")
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return strings.TrimSpace(msg)
}

// sleepUntil waits until due or until ctx ends (false).
func sleepUntil(ctx context.Context, timer *time.Timer, due time.Time) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		d := time.Until(due)
		if d <= 0 {
			return true
		}
		if d > 3*time.Millisecond {
			timer.Reset(d - 2*time.Millisecond)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
			continue
		}
		ts := unix.NsecToTimespec(d.Nanoseconds())
		unix.Nanosleep(&ts, nil)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
