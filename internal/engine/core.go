package engine

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"pyscope/internal/bundle"
	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/target/core"
)

// Core is a core file — possibly compressed, possibly inside a bundle —
// and the interpreter found in it. Everything comes from the core and the
// files it names, nothing from the analysing host's /proc, so a core of
// any supported architecture reads the same on any host.
type Core struct {
	path    string // as the user gave it
	opts    Options
	c       *core.Core
	b       *bundle.Bundle
	unwatch func()
	in      *cpython.Interpreter
	r       *cpython.Reader
	written time.Time

	mu      sync.Mutex
	snap    *model.Snapshot
	snapErr error
	nat     *native.Session
	natSnap *model.Snapshot
}

// OpenCore opens a core file, a compressed core or a bundle (`pyscope
// gcore --bundle`, whose own files are the sysroot) and finds its
// interpreter.
func OpenCore(path string, opts Options) (_ *Core, err error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	c := &Core{path: path, opts: opts}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	copts := core.Options{Sysroot: opts.Sysroot, LibPaths: opts.LibPaths, Executable: opts.Executable}
	corePath := path
	if bundle.Is(path) {
		if opts.Sysroot != "" {
			return nil, fmt.Errorf("%s is a bundle, which carries its own files: drop --sysroot (--lib-path may add more)", path)
		}
		c.b, err = bundle.Open(path, "")
		if err != nil {
			return nil, err
		}
		if !opts.OwnSignals {
			c.unwatch = removeOnSignal(c.b)
		}
		copts.Sysroot = c.b.Root
		corePath = c.b.Core
	}
	c.c, err = core.Open(corePath, copts)
	if err != nil {
		return nil, c.bundleError(err)
	}
	if fi, err := os.Stat(path); err == nil {
		c.written = fi.ModTime()
	}
	if c.b != nil && !c.b.Manifest.Created.IsZero() {
		c.written = c.b.Manifest.Created // a copied bundle gets a new time
	}
	c.in, err = cpython.Discover(c.c)
	if err != nil {
		return nil, c.describe(err)
	}
	c.r = cpython.NewReader(c.c, c.in)
	c.r.Values = opts.Values
	c.r.Redact = opts.Redact
	return c, nil
}

// PID is the process's ID when it dumped.
func (c *Core) PID() int { return c.c.PID() }

// Interpreter is the CPython runtime found in the core.
func (c *Core) Interpreter() *cpython.Interpreter { return c.in }

// Target is the core.
func (c *Core) Target() target.Target { return c.c }

// Reader reads the core's objects.
func (c *Core) Reader() *cpython.Reader { return c.r }

// Open opens a file as the process saw it (sysroot, search paths, bundle).
func (c *Core) Open(path string) (*os.File, error) { return c.c.Open(path) }

// Crash is the signal that ended the process; nil for a core taken from a
// running process.
func (c *Core) Crash() *target.CrashInfo { return c.c.Crash() }

// Written is when the core file was written (its modification time).
func (c *Core) Written() time.Time { return c.written }

// Warnings are the problems met opening the core: missing or mismatched
// files, truncation, a truncated bundle.
func (c *Core) Warnings() []string {
	w := c.c.Warnings()
	if c.b != nil && c.b.Truncated != "" {
		w = append([]string{fmt.Sprintf("bundle %s is truncated at %s: that file and the ones after it are missing", c.path, c.b.Truncated)}, w...)
	}
	return w
}

// Native is the core's native stack reader and symbolizer (made on first
// use).
func (c *Core) Native() *native.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nativeLocked()
}

func (c *Core) nativeLocked() *native.Session {
	if c.nat == nil {
		c.nat = native.New(c.c, c.opts.native())
	}
	return c.nat
}

// Symbolizer names the core's native addresses.
func (c *Core) Symbolizer() *symbolize.Symbolizer { return c.Native().Symbolizer() }

// Snapshot reads the core once: the same snapshot as from a live process,
// plus the crash, the core's file and command line, and what it lacks.
func (c *Core) Snapshot() (*model.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil && c.snapErr == nil {
		c.snap, c.snapErr = c.snapshot()
	}
	return c.snap, c.snapErr
}

func (c *Core) snapshot() (*model.Snapshot, error) {
	r := c.r
	r.Prepare()
	cp, err := r.Capture()
	if err != nil {
		return nil, c.bundleError(fmt.Errorf("%s: %v%s", c.path, err, c.truncation()))
	}
	var stages []Captured
	if c.opts.Native {
		n := c.nativeLocked()
		stages = append(stages, nativeCaptured{n, n.Capture(c.c)})
	}
	for _, s := range c.opts.Stages {
		s = s.Prepare(c.c, r)
		stages = append(stages, s.Capture(c.c, r))
	}
	snap := r.Resolve(cp)
	snap.Source = "core"
	for _, a := range stages {
		a.Apply(snap)
	}
	for i := range snap.Threads {
		// Kernel and gdb cores name only the process, not each thread.
		if th := &snap.Threads[i]; th.OSName != nil && *th.OSName == "" {
			th.OSName = nil
		}
	}
	snap.Warnings = append(c.Warnings(), snap.Warnings...)
	snap.Core = &model.Core{File: c.path, Cmdline: c.c.Cmdline(), Missing: c.c.Missing()}
	if ci := c.c.Crash(); ci != nil {
		snap.Crash = &model.Crash{Signal: ci.Signal, Name: ci.SignalName, Code: ci.Code, Address: ci.Addr, TID: ci.TID}
		for i := range snap.Threads {
			if snap.Threads[i].NativeID == ci.TID {
				snap.Threads[i].Crashed = true
			}
		}
	}
	return snap, nil
}

// NativeSnapshot is the snapshot with native stacks merged, as dump
// --native shows it (unwound on first use).
func (c *Core) NativeSnapshot() (*model.Snapshot, error) {
	snap, err := c.Snapshot()
	if err != nil || c.opts.Native {
		return snap, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.natSnap == nil {
		c.natSnap = withNative(snap, c.nativeLocked(), c.c)
	}
	return c.natSnap, nil
}

// Close releases the core and removes an unpacked bundle.
func (c *Core) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nat != nil {
		c.nat.Close()
		c.nat = nil
	}
	for _, s := range c.opts.Stages {
		s.Close()
	}
	c.opts.Stages = nil
	var err error
	if c.c != nil {
		err = c.c.Close()
		c.c = nil
	}
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	if c.b != nil {
		c.b.Close()
		c.b = nil
	}
	return err
}

// bundleError names a bundle's core by the bundle, not by its temporary
// unpacked path.
func (c *Core) bundleError(err error) error {
	if c.b == nil {
		return err
	}
	return fmt.Errorf("%s: %v", c.path, strings.ReplaceAll(err.Error(), c.b.Core, "the bundle's core"))
}

// describe explains why no interpreter was found: missing files, or a
// program that is not Python.
func (c *Core) describe(err error) error {
	prog := c.c.Executable()
	if prog == "" {
		prog = c.c.Comm()
	}
	var uv *cpython.UnsupportedVersionError
	if errors.As(err, &uv) {
		return fmt.Errorf("%s: %v", c.path, err)
	}
	// Without the interpreter's files, not even _PyRuntime can be found.
	if missing := c.c.Missing(); len(missing) > 0 {
		names := missing
		if len(names) > 3 {
			names = append(names[:3:3], fmt.Sprintf("and %d more", len(missing)-3))
		}
		return fmt.Errorf("%s: no CPython runtime found in the core of %s; files missing or not matching: %d (%s): pass --sysroot DIR or --lib-path DIR",
			c.path, prog, len(missing), strings.Join(names, ", "))
	}
	if !errors.Is(err, cpython.ErrNotPython) {
		return fmt.Errorf("%s: %v%s", c.path, err, c.truncation())
	}
	return fmt.Errorf("%s is the core of %s, not of a Python process: no CPython runtime (_PyRuntime) in its executable or libraries",
		c.path, filepath.Base(prog))
}

// truncation explains a failure by the core being cut short, if it is.
func (c *Core) truncation() string {
	for _, w := range c.c.Warnings() {
		if strings.Contains(w, "truncated") {
			return "; the core is truncated (a full disk, or a core size limit: ulimit -c, systemd-coredump's ProcessSizeMax), so the interpreter's state was not saved"
		}
	}
	return ""
}

// removeOnSignal removes an unpacked bundle if pyscope is interrupted;
// the returned function disarms it.
func removeOnSignal(b *bundle.Bundle) func() {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case s := <-ch:
			b.Close()
			fmt.Fprintln(os.Stderr, "pyscope: interrupted")
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
