package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"pyscope/internal/bundle"
	"pyscope/internal/cpython"
	"pyscope/internal/gcore"
	"pyscope/internal/target/core"
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
		Args: cobra.ExactArgs(1),
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
	corePath := out
	if f.bundle {
		tmp, err := os.CreateTemp(filepath.Dir(out), ".pyscope-core-*")
		if err != nil {
			return fmt.Errorf("cannot create %s: %v", out, err)
		}
		tmp.Close()
		corePath = tmp.Name()
		defer os.Remove(corePath)
	}
	t0 := time.Now()
	st, err := gcore.Dump(pid, corePath, gcore.Options{FullFileMappings: f.full, Warn: warn})
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	if !f.bundle {
		fmt.Fprintf(w, "Saved core of process %d to %s (%s, %d threads) in %s; the process was stopped for %s\n",
			pid, out, sizeString(st.Bytes), st.Threads, durString(wall), durString(st.Pause))
		return nil
	}
	files := bundleFiles(pid, corePath, warn)
	n, err := bundle.Write(out, corePath, files, bundle.Manifest{PID: pid}, warn)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Saved core of process %d with %d files to %s (%s) in %s; the process was stopped for %s\n",
		pid, len(files), out, sizeString(n), durString(time.Since(t0)), durString(st.Pause))
	return nil
}

// bundleFiles lists what a bundle needs: every file the core maps, found
// through the process's root (a container's files too) and matched by
// build-id, and the Python source files of the frames in the core.
func bundleFiles(pid int, corePath string, warn func(string)) []bundle.File {
	root := fmt.Sprintf("/proc/%d/root", pid)
	c, err := core.Open(corePath, core.Options{Sysroot: root})
	if err != nil {
		warn("bundle: " + err.Error())
		return nil
	}
	defer c.Close()
	var files []bundle.File
	seen := map[string]bool{}
	for _, fi := range c.Files() {
		if fi.Found == "" {
			warn(fmt.Sprintf("bundle: %s is not bundled: not found or changed since the process mapped it", fi.Path))
			continue
		}
		seen[fi.Path] = true
		files = append(files, bundle.File{Path: fi.Path, Local: fi.Found})
	}
	in, err := cpython.Discover(c)
	if err != nil {
		return files
	}
	snap, err := cpython.NewReader(c, in).Snapshot()
	if err != nil {
		return files
	}
	const maxSources, maxSourceSize = 2000, 16 << 20
	for _, th := range snap.Threads {
		for _, fr := range th.Frames {
			p := fr.File
			if fr.Kind != "python" || !filepath.IsAbs(p) || seen[p] || len(seen) > maxSources {
				continue
			}
			seen[p] = true
			local := filepath.Join(root, p)
			if st, err := os.Stat(local); err == nil && st.Mode().IsRegular() && st.Size() <= maxSourceSize {
				files = append(files, bundle.File{Path: p, Local: local})
			}
		}
	}
	return files
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
