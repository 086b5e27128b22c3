package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"pyscope/internal/engine"
)

type gcoreFlags struct {
	out    string
	bundle bool
	full   bool
}

func newGcoreCmd() *cobra.Command {
	var f gcoreFlags
	cmd := &cobra.Command{
		Use:   "gcore PID",
		Short: "Write a core file of a running process (like gdb's gcore)",
		Long: `gcore writes an ELF core file of a running process, with the notes gdb's
gcore writes, so that pyscope dump, pyscope debug and gdb can open it.

The process is stopped only while its memory is copied, and the time it was
stopped is reported. Memory that cannot be read (such as [vvar]) is skipped.
Read-only file mappings are left out, as the kernel does: readers take them
from the files, matched by build-id (--full copies them too).

--bundle writes one archive (zstd-compressed tar) holding the core plus
every file the process mapped and the Python sources of its frames, so that
"pyscope dump FILE.tar.zst" works on a machine without those files.`,
		Args: oneArg("process ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGcore(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "output", "o", "", "file to write (default core.PID, or core.PID.tar.zst with --bundle)")
	fl.BoolVar(&f.bundle, "bundle", false, "write a .tar.zst archive holding the core and every file it needs")
	fl.BoolVar(&f.full, "full", false, "also copy read-only file mappings into the core")
	return cmd
}

func runGcore(w, ew io.Writer, arg string, f gcoreFlags) error {
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		return fmt.Errorf("%q is not a process ID", arg)
	}
	out := f.out
	if out == "" {
		out = fmt.Sprintf("core.%d", pid)
		if f.bundle {
			out += ".tar.zst"
		}
	}
	warn := func(s string) { fmt.Fprintf(ew, "warning: %s\n", oneLine(s)) }
	t0 := time.Now()
	st, err := engine.WriteCore(pid, out, engine.CoreFileOptions{Full: f.full, Bundle: f.bundle, Warn: warn})
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	if !f.bundle {
		fmt.Fprintf(w, "Saved core of process %d to %s (%s, %d threads) in %s; the process was stopped for %s\n",
			pid, out, sizeString(st.Bytes), st.Threads, durString(wall), durString(st.Pause))
		return nil
	}
	fmt.Fprintf(w, "Saved core of process %d with %d files to %s (%s) in %s; the process was stopped for %s\n",
		pid, st.Files, out, sizeString(st.Bytes), durString(wall), durString(st.Pause))
	return nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func durString(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}
