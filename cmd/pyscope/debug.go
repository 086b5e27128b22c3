package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pyscope/internal/analysis/greenlets"
	"pyscope/internal/analysis/tasks"
	"pyscope/internal/engine"
	"pyscope/internal/repl"
)

type debugFlags struct {
	ex      []string
	batch   bool
	core    coreFlags
	symbols symbolFlags
	noHist  bool

	// coreFile and pid are gdb's -c CORE and -p PID; the argument is
	// then the program (gdb EXE -c CORE).
	coreFile string
	pid      int
	// subprocesses holds the process's Python descendants too, as
	// inferiors.
	subprocesses bool
	redact       redactFlags
}

func newDebugCmd() *cobra.Command {
	var f debugFlags
	cmd := &cobra.Command{
		Use:   "debug PID|CORE | debug [EXE] -c CORE | debug [EXE] -p PID",
		Short: "Interactive session (gdb-style commands) on a live process or a core",
		Long: `debug opens a prompt on a snapshot of a running CPython process or a core
file, with gdb's commands: info threads, thread N, thread apply, bt, bt
full, py-bt, py-bt-full, py-list, py-up, py-down, py-frame, frame function
NAME, info frame, info args, info locals, py-locals, py-print, info
sharedlibrary, info signal. Type "help" at the prompt.

A live process stays stopped while the session holds it: "continue" resumes
it and "interrupt" stops it again. With --subprocesses, the process and
every descendant that runs Python are held, each one a gdb inferior with
its own thread numbers: "info inferiors" lists them, "inferior N" or
"thread N.M" switches, "thread apply all" goes through all of them. However the session ends (quit, EOF,
SIGTERM, SIGHUP, or pyscope being killed) the process runs on. A process
that exits or is killed meanwhile is said so at the next command; its last
snapshot stays on view.

Commands are read from the terminal with line editing, history
($XDG_STATE_HOME/pyscope/history) and tab completion, or from stdin when it
is not a terminal. -ex runs commands first, in order; --batch then quits.

As with gdb, "pyscope EXE -c CORE" (debug implied) opens a core with the
program it came from: coredumpctl debug --debugger=pyscope runs exactly
that (and --debugger-arguments go before EXE). When EXE's path ends with
the one the core records (coredumpctl --root), the process's other files
are looked for under the same root, as with --sysroot.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.coreFile != "" || f.pid != 0 {
				if f.coreFile != "" && f.pid != 0 {
					return errors.New("give a core (-c) or a process (-p), not both")
				}
				if len(args) > 1 {
					return fmt.Errorf("%d arguments given with -c or -p, at most the program expected; usage: %s", len(args), cmd.UseLine())
				}
				return nil
			}
			if len(args) == 2 {
				return nil // gdb EXE CORE, gdb EXE PID
			}
			return oneArg("process ID or core file")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var exe, what string
			switch {
			case f.coreFile != "":
				what = f.coreFile
			case f.pid != 0:
				what = strconv.Itoa(f.pid)
			case len(args) == 2:
				exe, what = args[0], args[1]
			default:
				what = args[0]
			}
			if (f.coreFile != "" || f.pid != 0) && len(args) == 1 {
				exe = args[0]
			}
			return runDebug(what, exe, f)
		},
	}
	cmd.Flags().StringVarP(&f.coreFile, "core", "c", "", "the core to open (gdb's -c); the argument, if any, is the program it came from")
	cmd.Flags().IntVarP(&f.pid, "pid", "p", 0, "the process to attach to (gdb's -p)")
	cmd.Flags().BoolVar(&f.subprocesses, "subprocesses", false, "hold every Python descendant of the process too, as inferiors (info inferiors, inferior N)")
	cmd.Flags().StringArrayVarP(&f.ex, "ex", "x", nil, "run a command first (repeatable, in order)")
	cmd.Flags().BoolVar(&f.batch, "batch", false, "quit after the -ex commands")
	f.core.register(cmd)
	f.symbols.register(cmd)
	cmd.Flags().BoolVar(&f.noHist, "no-history", false, "do not read or write the history file")
	f.redact.register(cmd)
	return cmd
}

// runDebug opens arg, a PID or a core; exe is the program it runs, as
// gdb takes it (for a core: where the executable and its root are).
func runDebug(arg, exe string, f debugFlags) error {
	// Signals are taken before the target is stopped: SIGINT never ends a
	// session, SIGTERM and SIGHUP detach first.
	sigs := make(chan os.Signal, 4)
	repl.Claim(sigs)
	opts := engine.Options{AfterStop: func() { repl.Claim(sigs) }, OwnSignals: true,
		Stages: []engine.Stage{tasks.Stage{}, greenlets.Stage{}}}
	opts.Stages = append(opts.Stages, lockStages(false)...)
	f.core.apply(&opts, f.symbols)
	red, err := f.redact.policy()
	if err != nil {
		return err
	}
	opts.Redact = red
	if _, err := strconv.Atoi(arg); err != nil {
		opts.Executable = exe // a live process's own executable is read through /proc
	}
	// The session closes its programs on every way out, os.Exit
	// included: a live process is resumed, an unpacked bundle removed.
	var progs []repl.Program
	var notes []string
	if f.subprocesses {
		pid, err := strconv.Atoi(arg)
		if err != nil || pid <= 0 {
			return fmt.Errorf("--subprocesses takes a process ID, and %s is not one", arg)
		}
		if progs, notes, err = repl.OpenTree(pid, opts); err != nil {
			return err
		}
	} else {
		prog, err := repl.Open(arg, opts)
		if err != nil {
			return err
		}
		progs = []repl.Program{prog}
	}
	interactive := !f.batch && term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	cfg := repl.Config{Ex: f.ex, Batch: f.batch, In: os.Stdin, Interactive: interactive,
		Out: os.Stdout, Err: os.Stderr, Notes: notes}
	if interactive && !f.noHist {
		cfg.HistoryFile = repl.DefaultHistoryFile()
	}
	// Run has closed the target and said what failed: only the status is left.
	if code := repl.Run(progs, cfg, sigs); code != 0 {
		os.Exit(code)
	}
	return nil
}

// gdbStyleArgs accepts gdb's spelling of its long flags (-ex CMD, -batch,
// -core FILE, -pid PID), which pflag would read as bundled short flags.
func gdbStyleArgs(args []string) {
	debug := false
	for i, a := range args {
		if a == "--" {
			return
		}
		if a == "debug" {
			debug = true
			continue
		}
		if !debug {
			continue
		}
		switch {
		case a == "-ex" || strings.HasPrefix(a, "-ex="):
			args[i] = "-" + a
		case a == "-batch":
			args[i] = "--batch"
		case a == "-core" || strings.HasPrefix(a, "-core=") || a == "-pid" || strings.HasPrefix(a, "-pid="):
			args[i] = "-" + a
		}
	}
}
