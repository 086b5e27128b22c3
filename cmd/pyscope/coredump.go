package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"pyscope/internal/bundle"
	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/report"
	"pyscope/internal/source"
	"pyscope/internal/target/core"
)

// coreFlags say where the files of a core's process are.
type coreFlags struct {
	sysroot  string
	libPaths []string
}

func (c *coreFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&c.sysroot, "sysroot", "", "for a core: root of a copy of the machine or container it came from (its files are looked up there first)")
	fl.StringArrayVar(&c.libPaths, "lib-path", nil, "for a core: directory to search mapped files in by name (repeatable)")
}

// openedCore is a core file, possibly unpacked from a bundle.
type openedCore struct {
	c    *core.Core
	b    *bundle.Bundle
	stop func()
}

func (oc *openedCore) Close() {
	if oc.c != nil {
		oc.c.Close()
	}
	if oc.stop != nil {
		oc.stop()
	}
	if oc.b != nil {
		oc.b.Close()
	}
}

// openCore opens a core file, a compressed core or a bundle (`pyscope
// gcore --bundle`), whose own files are used as the sysroot.
func openCore(path string, cf coreFlags) (*openedCore, error) {
	corePath, opts, b, err := locateCore(path, cf)
	if err != nil {
		return nil, err
	}
	oc := &openedCore{b: b}
	if b != nil {
		oc.stop = removeOnSignal(b)
	}
	c, err := core.Open(corePath, opts)
	if err != nil {
		oc.Close()
		return nil, bundleError(path, b, err)
	}
	oc.c = c
	return oc, nil
}

// locateCore says which core file to open and where its files are: a
// bundle is unpacked (the caller closes it) and its files are the sysroot.
func locateCore(path string, cf coreFlags) (string, core.Options, *bundle.Bundle, error) {
	opts := core.Options{Sysroot: cf.sysroot, LibPaths: cf.libPaths}
	if !bundle.Is(path) {
		return path, opts, nil, nil
	}
	if cf.sysroot != "" {
		return "", opts, nil, fmt.Errorf("%s is a bundle, which carries its own files: drop --sysroot (--lib-path may add more)", path)
	}
	b, err := bundle.Open(path, "")
	if err != nil {
		return "", opts, nil, err
	}
	opts.Sysroot = b.Root
	return b.Core, opts, b, nil
}

// bundleError names a bundle's core by the bundle, not by its temporary
// unpacked path.
func bundleError(path string, b *bundle.Bundle, err error) error {
	if b == nil {
		return err
	}
	return fmt.Errorf("%s: %v", path, strings.ReplaceAll(err.Error(), b.Core, "the bundle's core"))
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

// runDumpCore is `pyscope dump CORE`.
func runDumpCore(w io.Writer, path string, f dumpFlags) error {
	oc, err := openCore(path, f.core)
	if err != nil {
		return err
	}
	defer oc.Close()
	snap, err := snapshotCore(oc.c, path, f.values.options(f.json), f.native.options())
	if err != nil {
		return err
	}
	if oc.b != nil && oc.b.Truncated != "" {
		snap.Warnings = append([]string{fmt.Sprintf("bundle %s is truncated at %s: that file and the ones after it are missing", path, oc.b.Truncated)}, snap.Warnings...)
	}
	if f.json {
		return report.JSON(w, snap)
	}
	return report.Text(w, snap, report.TextOptions{Color: useColor(w, f.color), Sources: source.New(oc.c.Open)})
}

// snapshotCore reads the same snapshot from a core as snapshotLive does
// from a process, plus the crash and what the core lacks. Everything comes
// from the core and the files it names: nothing from the analysing host's
// /proc.
func snapshotCore(c *core.Core, path string, values *cpython.ValueOptions, nat *native.Options) (*model.Snapshot, error) {
	in, err := cpython.Discover(c)
	if err != nil {
		return nil, describeCore(c, path, err)
	}
	r := cpython.NewReader(c, in)
	r.Values = values
	snap, err := r.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("%s: %v%s", path, err, truncation(c))
	}
	nh := newNativeHook(c, nat)
	nh.capture(c)
	nh.apply(snap)
	nh.close()
	for i := range snap.Threads {
		// Kernel and gdb cores name only the process, not each thread.
		if th := &snap.Threads[i]; th.OSName != nil && *th.OSName == "" {
			th.OSName = nil
		}
	}
	snap.Source = "core"
	snap.Warnings = append(c.Warnings(), snap.Warnings...)
	snap.Core = &model.Core{File: path, Cmdline: c.Cmdline(), Missing: c.Missing()}
	if ci := c.Crash(); ci != nil {
		snap.Crash = &model.Crash{Signal: ci.Signal, Name: ci.SignalName, Code: ci.Code, Address: ci.Addr, TID: ci.TID}
		for i := range snap.Threads {
			if snap.Threads[i].NativeID == ci.TID {
				snap.Threads[i].Crashed = true
			}
		}
	}
	return snap, nil
}

// describeCore explains why no interpreter was found: missing files, or a
// program that is not Python.
func describeCore(c *core.Core, path string, err error) error {
	prog := c.Executable()
	if prog == "" {
		prog = c.Comm()
	}
	// Without the interpreter's files, not even _PyRuntime can be found.
	if missing := c.Missing(); len(missing) > 0 {
		names := missing
		if len(names) > 3 {
			names = append(names[:3:3], fmt.Sprintf("and %d more", len(missing)-3))
		}
		return fmt.Errorf("%s: no CPython runtime found in the core of %s; files missing or not matching: %d (%s): pass --sysroot DIR or --lib-path DIR",
			path, prog, len(missing), strings.Join(names, ", "))
	}
	if !errors.Is(err, cpython.ErrNotPython) {
		return fmt.Errorf("%s: %v%s", path, err, truncation(c))
	}
	return fmt.Errorf("%s is the core of %s, not of a Python process: no CPython runtime (_PyRuntime) in its executable or libraries",
		path, filepath.Base(prog))
}

// truncation explains a failure by the core being cut short, if it is.
func truncation(c *core.Core) string {
	for _, w := range c.Warnings() {
		if strings.Contains(w, "truncated") {
			return "; the core is truncated (a full disk, or a core size limit: ulimit -c, systemd-coredump's ProcessSizeMax), so the interpreter's state was not saved"
		}
	}
	return ""
}
