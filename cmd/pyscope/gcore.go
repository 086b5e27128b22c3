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
	fork   bool
	direct bool
}

func newGcoreCmd() *cobra.Command {
	var f gcoreFlags
	cmd := &cobra.Command{
		Use:   "gcore PID",
		Short: "Write a core file of a running process (like gdb's gcore)",
		Long: `gcore writes an ELF core file of a running process, with the notes gdb's
gcore writes, so that pyscope dump, pyscope debug and gdb can open it.

The process is stopped only while its memory is copied into pyscope's own
memory, then resumed; the core is written afterwards, and the time it was
stopped is reported. When the copy would not leave enough free memory, the
core is written while the process is stopped, as gdb does, and gcore says
so. Memory that cannot be read (such as [vvar]) is skipped. Read-only file
mappings are left out, as the kernel does: readers take them from the
files, matched by build-id (--full copies them too).

--fork stops the process only while it forks once (milliseconds per GB):
one of its threads runs a raw clone system call, its registers are
restored, and the core is written from the child, a copy-on-write snapshot
that stays stopped and is killed at the end (x86-64). Side effects while
the core is written: the child holds a duplicate of every file descriptor
(a socket or pipe the process closes meanwhile stays open until the child
is killed; flock locks are shared); every page the process writes is
copied (memory grows by up to its private memory, charged to its cgroup);
no atfork handler runs. The child sends no SIGCHLD; one thread is stopped
for microseconds at the end to reap it. Refused under seccomp and when
copy-on-write could exhaust free memory. If pyscope is killed with SIGKILL
during the fork itself, the kernel kills the process too
(docs/reliability.md).

A core, and a bundle, hold all of the process's memory: secrets included.

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
	fl.BoolVar(&f.fork, "fork", false, "stop the process only while it forks a copy-on-write snapshot (see side effects above)")
	fl.BoolVar(&f.direct, "no-copy", false, "write the core while the process is stopped, as gdb does")
	fl.MarkHidden("no-copy")
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
	if f.fork && f.direct {
		return fmt.Errorf("--fork and --no-copy exclude each other")
	}
	mode := engine.CoreCopy
	switch {
	case f.fork:
		mode = engine.CoreFork
	case f.direct:
		mode = engine.CoreDirect
	}
	t0 := time.Now()
	st, err := engine.WriteCore(pid, out, engine.CoreFileOptions{Full: f.full, Bundle: f.bundle, Warn: warn, Mode: mode})
	if err != nil {
		return err
	}
	// Said once there is a file to share (an error stays one line).
	what := "a core holds"
	if f.bundle {
		what = "a bundle holds"
	}
	fmt.Fprintf(ew, "note: %s all of the process's memory, secrets included (passwords, keys, tokens): share it only as you would the process itself\n", what)
	wall := time.Since(t0)
	how := modeString(st)
	if !f.bundle {
		fmt.Fprintf(w, "Saved core of process %d to %s (%s, %d threads) in %s, %s; the process was stopped for %s\n",
			pid, out, sizeString(st.Bytes), st.Threads, durString(wall), how, durString(st.Pause))
		return nil
	}
	fmt.Fprintf(w, "Saved core of process %d with %d files to %s (%s) in %s, %s; the process was stopped for %s\n",
		pid, st.Files, out, sizeString(st.Bytes), durString(wall), how, durString(st.Pause))
	return nil
}

// modeString says how the memory was taken.
func modeString(st engine.CoreFile) string {
	switch st.Mode {
	case engine.CoreCopy:
		return fmt.Sprintf("memory copied while stopped (%s)", sizeString(int64(st.Copied)))
	case engine.CoreFork:
		s := fmt.Sprintf("from a fork by thread %d", st.Fork.Borrowed)
		if st.Fork.ReapThread != 0 {
			s += fmt.Sprintf(" (thread %d stopped %s to reap it)", st.Fork.ReapThread, durString(st.Fork.ReapTime))
		}
		return s
	}
	return "written while stopped"
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
