package main

import (
	"os"
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
}

func newDebugCmd() *cobra.Command {
	gdbStyleArgs(os.Args)
	var f debugFlags
	cmd := &cobra.Command{
		Use:   "debug PID|CORE",
		Short: "Interactive session (gdb-style commands) on a live process or a core",
		Long: `debug opens a prompt on a snapshot of a running CPython process or a core
file, with gdb's commands: info threads, thread N, thread apply, bt, py-bt,
py-bt-full, py-list, py-up, py-down, py-frame, py-locals, py-print, info
sharedlibrary, info signal. Type "help" at the prompt.

A live process stays stopped while the session holds it: "continue" resumes
it and "interrupt" stops it again. However the session ends (quit, EOF,
SIGTERM, SIGHUP, or pyscope being killed) the process runs on.

Commands are read from the terminal with line editing, history
($XDG_STATE_HOME/pyscope/history) and tab completion, or from stdin when it
is not a terminal. -ex runs commands first, in order; --batch then quits.`,
		Args: oneArg("process ID or core file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDebug(args[0], f)
		},
	}
	cmd.Flags().StringArrayVarP(&f.ex, "ex", "x", nil, "run a command first (repeatable, in order)")
	cmd.Flags().BoolVar(&f.batch, "batch", false, "quit after the -ex commands")
	f.core.register(cmd)
	f.symbols.register(cmd)
	cmd.Flags().BoolVar(&f.noHist, "no-history", false, "do not read or write the history file")
	return cmd
}

func runDebug(arg string, f debugFlags) error {
	// Signals are taken before the target is stopped: SIGINT never ends a
	// session, SIGTERM and SIGHUP detach first.
	sigs := make(chan os.Signal, 4)
	repl.Claim(sigs)
	opts := engine.Options{AfterStop: func() { repl.Claim(sigs) }, OwnSignals: true,
		Stages: []engine.Stage{tasks.Stage{}, greenlets.Stage{}}}
	f.core.apply(&opts, f.symbols)
	// The session closes its program on every way out, os.Exit included:
	// a live process is resumed, an unpacked bundle removed.
	prog, err := repl.Open(arg, opts)
	if err != nil {
		return err
	}
	interactive := !f.batch && term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	cfg := repl.Config{Ex: f.ex, Batch: f.batch, In: os.Stdin, Interactive: interactive,
		Out: os.Stdout, Err: os.Stderr}
	if interactive && !f.noHist {
		cfg.HistoryFile = repl.DefaultHistoryFile()
	}
	// Run has closed the target and said what failed: only the status is left.
	if code := repl.Run(prog, cfg, sigs); code != 0 {
		os.Exit(code)
	}
	return nil
}

// gdbStyleArgs accepts gdb's spelling of the scripting flags (-ex CMD,
// -batch), which pflag would read as bundled short flags.
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
		}
	}
}
