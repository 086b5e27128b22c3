package repl

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/report"
	"pyscope/internal/source"
	"pyscope/internal/target"
)

// Program is what a session debugs, one snapshot at a time: a live
// process or a core. What more it can do is a capability it has or not
// (Runner here; the target's, such as target.CrashReader for a core),
// found by a type assertion, never a kind string.
type Program interface {
	PID() int
	// Snapshot is the current snapshot (from the last stop for a running
	// live program).
	Snapshot() *model.Snapshot
	// OSThreads are the kernel's threads at the snapshot, main first.
	OSThreads() []target.Thread
	// Values reads objects of the current stop; nil while the program
	// is running.
	Values() *cpython.Values
	// Native gives native stacks and modules; nil when unavailable.
	Native() Native
	// Sources reads the program's source files as it sees them.
	Sources() *source.Files
	// SourceEpoch is the time after which a changed source file may not
	// be what runs, and what that time is.
	SourceEpoch() (time.Time, string)
	// Warnings are problems met opening the program.
	Warnings() []string
	// Close releases the program; a live process is resumed and
	// detached. Safe to call more than once and from another goroutine.
	Close() error
}

// Runner is a program that runs: a live process, which the session holds
// stopped or lets run.
type Runner interface {
	// Stopped is true while the session holds the process stopped.
	Stopped() bool
	// Continue resumes the process; jobStopped says it was stopped by a
	// signal (job control: SIGSTOP, ^Z) before the session stopped it, and
	// so stays stopped until it gets SIGCONT.
	Continue() (jobStopped bool, err error)
	// Refresh stops the process (again) and takes a new snapshot.
	Refresh() error
	// Exited says whether the process is gone (killed while held, or
	// exited while running). With look it looks again, else it says
	// what the last look found; once true it stays true, the process is
	// released and its last snapshot stays on view.
	Exited(look bool) bool
}

var (
	_ Runner             = (*liveProg)(nil)
	_ target.CrashReader = (*coreProg)(nil)
)

// Open opens a session's program through the engine: a process ID (held
// stopped until Continue or Close), or a core file, a compressed core or
// a bundle. opts.OwnSignals should be set: the session takes the signals.
func Open(arg string, opts engine.Options) (Program, error) {
	ep, err := engine.Open(arg, opts)
	if err != nil {
		return nil, err
	}
	switch ep := ep.(type) {
	case *engine.Process:
		return openLive(ep)
	case *engine.Core:
		return openCore(ep)
	}
	ep.Close()
	return nil, errors.New("unknown program")
}

// OpenTree opens process pid and every descendant that runs Python, each
// held stopped through the engine (concurrently, each stopped for its
// own capture), for a session with several inferiors. Processes left out
// (no Python, exited meanwhile) are described in notes; a process that
// fails otherwise fails the whole, after the others are released.
func OpenTree(pid int, opts engine.Options) (progs []Program, notes []string, err error) {
	kids, err := engine.Subprocesses(pid)
	if err != nil {
		return nil, nil, err
	}
	pids := append([]int{pid}, kids...)
	out := make([]Program, len(pids))
	errs := make([]error, len(pids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, p := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = Open(strconv.Itoa(p), opts)
		}()
	}
	wg.Wait()
	for i, e := range errs {
		switch {
		case e == nil:
			progs = append(progs, out[i])
		case engine.Skippable(e):
			ppid, exe := engine.About(pids[i])
			why := "runs no Python"
			if !errors.Is(e, engine.ErrNotPython) {
				why = "exited"
			}
			notes = append(notes, fmt.Sprintf("process %d (parent %d, %s) %s: not an inferior", pids[i], ppid, report.Safe(exe), why))
		case err == nil:
			err = e
		}
	}
	if err == nil && len(progs) == 0 {
		err = fmt.Errorf("no process of the tree of process %d runs Python", pid)
	}
	if err != nil {
		for _, p := range progs {
			p.Close()
		}
		return nil, nil, err
	}
	return progs, notes, nil
}

type liveProg struct {
	p     *engine.Process
	start time.Time
	src   *source.Files

	mu     sync.Mutex
	held   *engine.Held // nil while running
	exited bool
	snap   *model.Snapshot
	thr    []target.Thread
	values *cpython.Values
	native Native
}

func openLive(ep *engine.Process) (Program, error) {
	p := &liveProg{p: ep, src: source.New(ep.Open)}
	p.start, _ = ep.StartTime()
	if err := p.Refresh(); err != nil {
		ep.Close()
		return nil, err
	}
	return p, nil
}

func (p *liveProg) PID() int { return p.p.PID() }

func (p *liveProg) Snapshot() *model.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

func (p *liveProg) OSThreads() []target.Thread {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thr
}

func (p *liveProg) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held != nil
}

func (p *liveProg) Exited(look bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || !look || !p.p.Exited() {
		return p.exited
	}
	p.exited = true
	p.held, p.values, p.native = nil, nil, nil
	p.p.Close() // what it held is gone with it
	return true
}

func (p *liveProg) Continue() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false, p.gone()
	}
	if p.held == nil {
		return false, errors.New("the process is already running")
	}
	h := p.held
	jobStopped := len(p.thr) > 0
	for _, th := range p.thr {
		jobStopped = jobStopped && th.State == "T"
	}
	p.held, p.values, p.native = nil, nil, nil
	return jobStopped, h.Resume()
}

// gone is the error of what needs the process once it has exited.
func (p *liveProg) gone() error {
	return fmt.Errorf("process %d has exited: only its last snapshot is left (py-bt, py-list, info threads)", p.p.PID())
}

// Refresh stops the process again (through the engine, with its PID-reuse
// guard) and takes a new snapshot.
func (p *liveProg) Refresh() error {
	if p.Exited(true) {
		return p.gone()
	}
	h, err := p.p.Hold()
	if err != nil {
		if p.Snapshot() != nil && p.Exited(true) {
			return p.gone() // it exited while this stop was being made
		}
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held, p.snap, p.thr = h, h.Snapshot(), h.Threads()
	p.values = h.Reader().NewValues()
	p.native = NewNative(h.Target(), p.snap, p.p.Native())
	return nil
}

func (p *liveProg) Values() *cpython.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.values
}

func (p *liveProg) Native() Native {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.native
}

func (p *liveProg) Sources() *source.Files { return p.src }

func (p *liveProg) SourceEpoch() (time.Time, string) { return p.start, "the process started" }

func (p *liveProg) Warnings() []string { return nil }

// Close resumes a held process and detaches; safe from another goroutine.
func (p *liveProg) Close() error {
	err := p.p.Close()
	p.mu.Lock()
	p.held, p.values, p.native = nil, nil, nil
	p.mu.Unlock()
	return err
}

type coreProg struct {
	c      *engine.Core
	pid    int // kept: the core may be closed (detach) and still listed
	snap   *model.Snapshot
	values *cpython.Values
	native Native
	src    *source.Files
}

func openCore(c *engine.Core) (Program, error) {
	snap, err := c.Snapshot()
	if err != nil {
		c.Close()
		return nil, err
	}
	p := &coreProg{c: c, pid: c.PID(), snap: snap, values: c.Reader().NewValues(), src: source.New(c.Open)}
	// The native session opens nothing until a stack is unwound or named.
	p.native = NewNative(c.Target(), snap, c.Native())
	return p, nil
}

func (p *coreProg) PID() int                         { return p.pid }
func (p *coreProg) Snapshot() *model.Snapshot        { return p.snap }
func (p *coreProg) OSThreads() []target.Thread       { return p.c.Target().Threads() }
func (p *coreProg) Values() *cpython.Values          { return p.values }
func (p *coreProg) Native() Native                   { return p.native }
func (p *coreProg) Sources() *source.Files           { return p.src }
func (p *coreProg) SourceEpoch() (time.Time, string) { return p.c.Written(), "the core was written" }
func (p *coreProg) Crash() *target.CrashInfo         { return p.c.Crash() }

// Warnings are in the snapshot already (the engine puts the core's there).
func (p *coreProg) Warnings() []string { return nil }
func (p *coreProg) Close() error       { return p.c.Close() }
