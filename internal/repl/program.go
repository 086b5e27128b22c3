package repl

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/source"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/target/core"
	"pyscope/internal/target/live"
)

// Program is what a session debugs: a live process or a core. The session
// sees one snapshot at a time; a live program can be resumed and stopped
// again.
type Program interface {
	Kind() string // "live" or "core"
	PID() int
	// Snapshot is the current snapshot (from the last stop for a running
	// live program).
	Snapshot() *model.Snapshot
	// OSThreads are the kernel's threads at the snapshot, main first.
	OSThreads() []target.Thread
	// Stopped is true while the program's state cannot change (a live
	// process held stopped, or a core).
	Stopped() bool
	// Continue resumes a live process.
	Continue() error
	// Refresh stops a live process (again) and takes a new snapshot.
	Refresh() error
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
	// Crash is the fatal signal of a core; nil otherwise.
	Crash() *target.CrashInfo
	// Warnings are problems met opening the program.
	Warnings() []string
	// Close releases the program; a live process is resumed and
	// detached. Safe to call more than once and from another goroutine.
	Close() error
}

// LiveOptions control OpenLive.
type LiveOptions struct {
	// AfterStop runs after each time the process is stopped (the session
	// takes back SIGINT, SIGTERM and SIGHUP there).
	AfterStop func()
	// Symbols says where native debug files are looked for.
	Symbols symbolize.Options
}

type liveProg struct {
	pid   int
	opts  LiveOptions
	probe *live.Process // never stops the process; lives for the session
	r     *cpython.Reader
	start time.Time
	src   *source.Files

	mu      sync.Mutex
	stopped *live.Process // nil while running
	snap    *model.Snapshot
	threads []target.Thread
	values  *cpython.Values
	native  Native
	closed  bool

	natMu sync.Mutex
	nat   *native.Session
}

// OpenLive finds the interpreter of process pid, stops the process and
// takes a snapshot. The process stays stopped until Continue or Close.
func OpenLive(pid int, opts LiveOptions) (Program, error) {
	probe, err := live.Open(pid, live.Options{NoBlock: true})
	if err != nil {
		return nil, err
	}
	in, err := cpython.Discover(probe)
	if err != nil {
		probe.Close()
		if errors.Is(err, cpython.ErrNotPython) {
			return nil, fmt.Errorf("process %d is not a Python process: no CPython runtime (_PyRuntime) in its executable or libraries", pid)
		}
		return nil, err
	}
	p := &liveProg{pid: pid, opts: opts, probe: probe, r: cpython.NewReader(probe, in),
		start: processStart(pid), src: source.New(probe.Open)}
	p.r.Prepare()
	if err := p.Refresh(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *liveProg) Kind() string { return "live" }
func (p *liveProg) PID() int     { return p.pid }

func (p *liveProg) Snapshot() *model.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

func (p *liveProg) OSThreads() []target.Thread {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.threads
}

func (p *liveProg) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped != nil
}

func (p *liveProg) Continue() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped == nil {
		return errors.New("the process is already running")
	}
	return p.resume()
}

// resume closes the stopped handle; mu is held.
func (p *liveProg) resume() error {
	s := p.stopped
	p.stopped, p.values, p.native = nil, nil, nil
	p.r.Retarget(p.probe)
	return s.Close()
}

func (p *liveProg) Refresh() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("the session has detached")
	}
	if p.stopped != nil {
		if err := p.resume(); err != nil {
			return err
		}
	}
	s, err := live.Open(p.pid, live.Options{})
	if p.opts.AfterStop != nil {
		p.opts.AfterStop()
	}
	if err != nil {
		return err
	}
	p.r.Retarget(s)
	cp, err := p.r.Capture()
	if err != nil {
		p.r.Retarget(p.probe)
		s.Close()
		return err
	}
	snap := p.r.Resolve(cp)
	p.stopped, p.snap, p.threads = s, snap, s.Threads()
	p.values = p.r.NewValues()
	p.native = NewNative(s, snap, p.nativeSession())
	return nil
}

// nativeSession is made over the probe, which outlives stops; it opens
// files and reads symbols only when first used.
func (p *liveProg) nativeSession() *native.Session {
	p.natMu.Lock()
	defer p.natMu.Unlock()
	if p.nat == nil {
		p.nat = native.New(p.probe, native.Options{Symbols: p.opts.Symbols})
	}
	return p.nat
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

func (p *liveProg) Crash() *target.CrashInfo { return nil }
func (p *liveProg) Warnings() []string       { return nil }

func (p *liveProg) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.stopped != nil {
		err = p.resume()
	}
	if !p.closed {
		p.closed = true
		p.natMu.Lock()
		if p.nat != nil {
			p.nat.Close()
		}
		p.natMu.Unlock()
		p.probe.Close()
	}
	return err
}

// processStart is when pid started (its start time in ticks since boot
// plus the boot time); zero when unknown.
func processStart(pid int) time.Time {
	ticks, err := live.StartTicks(pid)
	if err != nil {
		return time.Time{}
	}
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}
			}
			const hz = 100 // USER_HZ is 100 on Linux x86-64
			return time.Unix(bt, 0).Add(time.Duration(ticks) * time.Second / hz)
		}
	}
	return time.Time{}
}

// CoreOptions control OpenCore.
type CoreOptions struct {
	Sysroot  string
	LibPaths []string
	Symbols  symbolize.Options
}

type coreProg struct {
	c        *core.Core
	snap     *model.Snapshot
	values   *cpython.Values
	native   Native
	src      *source.Files
	written  time.Time
	warnings []string
	nat      *native.Session
	opts     CoreOptions
}

// OpenCore opens a core file and takes its snapshot.
func OpenCore(path string, opts CoreOptions) (Program, error) {
	c, err := core.Open(path, core.Options{Sysroot: opts.Sysroot, LibPaths: opts.LibPaths})
	if err != nil {
		return nil, err
	}
	in, err := cpython.Discover(c)
	if err != nil {
		c.Close()
		if errors.Is(err, cpython.ErrNotPython) {
			return nil, fmt.Errorf("%s: no CPython runtime (_PyRuntime) in the executable or libraries of the core (is --sysroot right?)", path)
		}
		return nil, err
	}
	r := cpython.NewReader(c, in)
	snap, err := r.Snapshot()
	if err != nil {
		c.Close()
		return nil, err
	}
	p := &coreProg{c: c, snap: snap, values: r.NewValues(), src: source.New(c.Open), opts: opts}
	if fi, err := os.Stat(path); err == nil {
		p.written = fi.ModTime()
	}
	// native.New opens nothing until a stack is unwound or named.
	p.nat = native.New(c, native.Options{Symbols: opts.Symbols})
	p.native = NewNative(c, snap, p.nat)
	p.warnings = c.Warnings()
	return p, nil
}

func (p *coreProg) Kind() string                     { return "core" }
func (p *coreProg) PID() int                         { return p.c.PID() }
func (p *coreProg) Snapshot() *model.Snapshot        { return p.snap }
func (p *coreProg) OSThreads() []target.Thread       { return p.c.Threads() }
func (p *coreProg) Stopped() bool                    { return true }
func (p *coreProg) Values() *cpython.Values          { return p.values }
func (p *coreProg) Native() Native                   { return p.native }
func (p *coreProg) Sources() *source.Files           { return p.src }
func (p *coreProg) SourceEpoch() (time.Time, string) { return p.written, "the core was written" }
func (p *coreProg) Crash() *target.CrashInfo         { return p.c.Crash() }
func (p *coreProg) Warnings() []string               { return p.warnings }
func (p *coreProg) Continue() error {
	return errors.New("a core cannot run: it is a picture of a dead process")
}
func (p *coreProg) Refresh() error { return errors.New("a core does not change: nothing to refresh") }
func (p *coreProg) Close() error {
	p.nat.Close()
	return p.c.Close()
}
