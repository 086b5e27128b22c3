package main

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pyscope/internal/analysis/greenlets"
	"pyscope/internal/analysis/tasks"
	"pyscope/internal/engine"
	"pyscope/internal/report"
	"pyscope/internal/source"
	"pyscope/internal/target"
)

type dumpFlags struct {
	json    bool
	tasks   bool
	glets   bool
	noBlock bool
	stopAll bool
	color   string
	values  valueFlags
	redact  redactFlags
	native  nativeFlags
	symbols symbolFlags
	core    coreFlags

	// subprocesses dumps every descendant too.
	subprocesses bool
}

func newDumpCmd() *cobra.Command {
	var f dumpFlags
	cmd := &cobra.Command{
		Use:   "dump PID|CORE...",
		Short: "Print the Python stack of every thread",
		Long: `dump prints the Python stack of every thread of a running CPython process.

By default dump stops only the threads that can change what it reads: on a
GIL build, the thread holding the GIL while it runs (often none at all).
Threads blocked in system calls without the GIL keep running, so their
epoll_wait, semop or sigtimedwait never return EINTR because of pyscope.
After the read pyscope checks that the GIL did not change hands and the
thread list did not change; if it did, it reads again, and after a few
attempts stops every thread. --native, free-threaded builds and processes
with several interpreters stop every thread (native stacks need every
thread's registers; without a single GIL nothing vouches for the read).
The output says which threads were stopped and for how long (typically
well under a millisecond). --stop-all stops every thread, as gdb does;
--no-block stops none: the snapshot may then be torn, as threads keep
running while their stacks are read.

Given a core file instead of a PID (from the kernel, gdb's gcore or pyscope
gcore; possibly compressed with zstd, xz, lz4 or gzip, or a pyscope gcore
--bundle archive), dump prints the same view of the process when it dumped,
and the signal that killed it. --sysroot and --lib-path say where the
process's files are when the core was moved to another machine.

Given several PIDs (or cores), or --subprocesses, dump reads them all
concurrently, stopping each process only for its own capture, and prints
one section per process; JSON is then {"processes": [...], "skipped":
[...]}. --subprocesses reads the process and all its descendants (a
gunicorn master and its workers, a multiprocessing pool, a Celery prefork
pool): members that run no Python (a shell, a helper) or that exit
meanwhile are listed as skipped, not failed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return oneArg("process ID or core file")(cmd, args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && !f.subprocesses {
				return runDump(cmd.OutOrStdout(), args[0], f)
			}
			return runDumpMany(cmd.OutOrStdout(), args, f)
		},
	}
	cmd.Flags().BoolVar(&f.subprocesses, "subprocesses", false, "also dump every descendant of each PID (workers, pool processes)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON (docs/json-schema.md)")
	cmd.Flags().BoolVar(&f.noBlock, "no-block", false, "do not stop the process (the snapshot may be inconsistent)")
	cmd.Flags().BoolVar(&f.stopAll, "stop-all", false, "stop every thread, as gdb does, not only those that can change what is read (blocked system calls of every thread may return EINTR)")
	cmd.Flags().StringVar(&f.color, "color", "auto", "colour output: auto, always or never (NO_COLOR is honoured)")
	cmd.Flags().BoolVar(&f.tasks, "tasks", false, "show the asyncio tasks of every event loop: what each awaits, as a tree, and tasks that await each other")
	cmd.Flags().BoolVar(&f.glets, "greenlets", false, "show every greenlet (greenlet, gevent, eventlet): state, thread, parent and suspended stack")
	f.values.register(cmd)
	f.redact.register(cmd)
	f.native.register(cmd)
	f.symbols.register(cmd)
	f.core.register(cmd)
	return cmd
}

func (f dumpFlags) options() (engine.Options, error) {
	opts := engine.Options{Values: f.values.options(f.json), Native: f.native.native || f.native.all, NativeAll: f.native.all}
	opts.Stages = append(opts.Stages, lockStages(f.noBlock)...)
	f.core.apply(&opts, f.symbols)
	var err error
	if opts.Redact, err = f.redact.policy(); err != nil {
		return opts, err
	}
	switch {
	case f.noBlock && f.stopAll:
		return opts, errors.New("--no-block and --stop-all contradict each other: give one")
	case f.noBlock:
		opts.Stop = engine.StopNone
	case f.stopAll:
		opts.Stop = engine.StopAll
	}
	if f.tasks {
		opts.Stages = append(opts.Stages, tasks.Stage{})
	}
	if f.glets {
		opts.Stages = append(opts.Stages, greenlets.Stage{})
	}
	return opts, nil
}

func runDump(w io.Writer, arg string, f dumpFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	prog, err := engine.Open(arg, opts)
	if err != nil {
		return err
	}
	defer prog.Close()
	snap, err := prog.Snapshot()
	if err != nil {
		return err
	}
	if f.json {
		return report.JSON(w, snap)
	}
	// Source lines are read after a live target has been resumed.
	opt := report.TextOptions{Color: useColor(w, f.color), Sources: source.New(prog.Open)}
	opt.SourceEpoch, opt.SourceEpochWhat = sourceEpoch(prog)
	return report.Text(w, snap, opt)
}

// sourceEpoch is when the code that runs was loaded at the latest: a
// source file modified after it may not show that code.
func sourceEpoch(prog engine.Program) (time.Time, string) {
	switch p := prog.(type) {
	case *engine.Process:
		if t, err := p.StartTime(); err == nil {
			return t, "the process started"
		}
	case *engine.Core:
		return p.Written(), "the core was written"
	}
	return time.Time{}, ""
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
