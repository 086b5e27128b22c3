package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/report"
	"pyscope/internal/source"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

type dumpFlags struct {
	json    bool
	noBlock bool
	color   string
	values  valueFlags
	native  nativeFlags
	core    coreFlags
}

func newDumpCmd() *cobra.Command {
	var f dumpFlags
	cmd := &cobra.Command{
		Use:   "dump PID|CORE",
		Short: "Print the Python stack of every thread",
		Long: `dump prints the Python stack of every thread of a running CPython process.

By default every thread is stopped for a consistent snapshot (typically well
under a millisecond) and resumed before the output is printed. With
--no-block the process is never stopped: the snapshot may then be torn, as
threads keep running while their stacks are read.

Given a core file instead of a PID (from the kernel, gdb's gcore or pyscope
gcore; possibly compressed with zstd, xz, lz4 or gzip, or a pyscope gcore
--bundle archive), dump prints the same view of the process when it dumped,
and the signal that killed it. --sysroot and --lib-path say where the
process's files are when the core was moved to another machine.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDump(cmd.OutOrStdout(), args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON (docs/json-schema.md)")
	cmd.Flags().BoolVar(&f.noBlock, "no-block", false, "do not stop the process (the snapshot may be inconsistent)")
	cmd.Flags().StringVar(&f.color, "color", "auto", "colour output: auto, always or never (NO_COLOR is honoured)")
	f.values.register(cmd)
	f.native.register(cmd)
	f.core.register(cmd)
	return cmd
}

func runDump(w io.Writer, arg string, f dumpFlags) error {
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		if _, serr := os.Stat(arg); serr == nil {
			return runDumpCore(w, arg, f)
		}
		return fmt.Errorf("%q is not a process ID", arg)
	}
	if f.noBlock && f.native.options() != nil {
		return fmt.Errorf("--native needs the threads' registers, which --no-block cannot read: drop --no-block")
	}
	snap, err := snapshotLive(pid, f.noBlock, f.values.options(f.json), f.native.options())
	if err != nil {
		return err
	}
	if f.json {
		return report.JSON(w, snap)
	}
	// Source lines are read after the target has been resumed.
	probe, err := live.Open(pid, live.Options{NoBlock: true})
	var src report.Sources
	if err == nil {
		defer probe.Close()
		src = source.New(probe.Open)
	}
	return report.Text(w, snap, report.TextOptions{Color: useColor(w, f.color), Sources: src})
}

// snapshotLive finds the interpreter and everything stable while the
// process runs (its files, memory map, where threading keeps its threads),
// stops it only to capture thread states and frame chains, and reads the
// immutable code objects after resuming it.
func snapshotLive(pid int, noBlock bool, values *cpython.ValueOptions, nat *native.Options) (*model.Snapshot, error) {
	same := watchPID(pid)
	probe, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: nat == nil, Cache: true})
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	in, err := cpython.Discover(probe)
	if err != nil {
		return nil, describe(pid, err)
	}
	r := cpython.NewReader(probe, in)
	r.Values = values
	r.Prepare()
	nh := newNativeHook(probe, nat)
	defer nh.close()
	p, err := live.Open(pid, live.Options{NoBlock: noBlock, Cache: true})
	if err != nil {
		return nil, err
	}
	r.Retarget(p)
	cp, err := r.Capture()
	if err == nil {
		nh.capture(p)
	}
	cerr := p.Close()
	if err != nil {
		if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); serr != nil || errors.Is(err, target.ErrExited) {
			return nil, exitedDuring(pid)
		}
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	if err := same.check(); err != nil {
		return nil, err
	}
	r.Retarget(probe)
	snap := r.Resolve(cp)
	snap.Source = "live"
	nh.apply(snap)
	if !noBlock {
		snap.PauseMicros = p.PauseDuration().Microseconds()
	}
	return snap, nil
}

func describe(pid int, err error) error {
	if errors.Is(err, target.ErrExited) {
		// Whatever read failed (a file, the interpreter list), the cause
		// is the exit: say only that.
		return exitedDuring(pid)
	}
	if errors.Is(err, cpython.ErrNotPython) {
		return fmt.Errorf("process %d is not a Python process: no CPython runtime (_PyRuntime) in its executable or libraries", pid)
	}
	return err
}

func exitedDuring(pid int) error {
	return fmt.Errorf("process %d: %w during the dump; run pyscope again if it restarted", pid, target.ErrExited)
}

func useColor(w io.Writer, mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, target.ErrNoProcess):
		return 3
	case errors.Is(err, target.ErrPermission):
		return 4
	}
	return 1
}
