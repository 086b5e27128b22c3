// Command pyscope looks inside running or crashed CPython processes.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	// A dump is short and allocates little: collecting garbage less often
	// saves a third of its run time on large targets.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	root := newRoot()
	args := gdbInvocation(root, os.Args[1:])
	gdbStyleArgs(args)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "pyscope: "+oneLine(err.Error()))
		os.Exit(exitCode(err))
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "pyscope",
		Short: "Look inside running or crashed CPython processes",
		Long: `pyscope shows what a CPython 3.10–3.14 process is doing: the Python stack of
every thread, without debug symbols, without restarting it and without gdb.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDumpCmd(), newDemoCmd(), newVersionCmd(),
		newDebugCmd(), newGcoreCmd(), newRecordCmd(), newTopCmd(), newPsCmd())
	return root
}

// gdbInvocation turns gdb's command line into debug's: `pyscope [FLAGS]
// EXE -c CORE` and `pyscope -p PID`, as coredumpctl debug
// --debugger=pyscope (or $SYSTEMD_DEBUGGER) runs it, are `pyscope debug
// [FLAGS] EXE -c CORE`. Any other command line is left as it is.
func gdbInvocation(root *cobra.Command, args []string) []string {
	if len(args) == 0 {
		return args
	}
	if c, _, err := root.Find(args[:1]); err == nil && c != root {
		return args // a command
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, flag := range []string{"-c", "--core", "-core", "-p", "--pid", "-pid"} {
			if a == flag || strings.HasPrefix(a, flag+"=") {
				return append([]string{"debug"}, args...)
			}
		}
	}
	return args
}

// oneLine keeps error output to a single line, whatever the cause chain.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}
