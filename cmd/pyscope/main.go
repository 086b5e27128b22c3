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

// oneLine keeps error output to a single line, whatever the cause chain.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}
