package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"pyscope/internal/bundle"
	"pyscope/internal/cpython"
	"pyscope/internal/gcore"
	"pyscope/internal/target"
	"pyscope/internal/target/core"
	"pyscope/internal/target/live"
)

// CoreMode is how WriteCore takes the memory (docs/reliability.md §9).
type CoreMode int

const (
	// CoreCopy copies the memory while the process is stopped and writes
	// the core after resuming it; when the copy would not leave enough
	// free memory, it writes while stopped and says so.
	CoreCopy CoreMode = iota
	// CoreDirect writes the core while the process is stopped, as gdb.
	CoreDirect
	// CoreFork stops the process only while it forks a copy-on-write
	// snapshot, and writes the core from the snapshot.
	CoreFork
)

// CoreFileOptions control WriteCore.
type CoreFileOptions struct {
	// Full copies read-only file mappings into the core too.
	Full bool
	// Bundle writes a tar.zst holding the core and every file it needs.
	Bundle bool
	// Warn receives one-line warnings.
	Warn func(string)
	// Mode is how the memory is taken.
	Mode CoreMode
}

// CoreFile describes a written core or bundle.
type CoreFile struct {
	Bytes   int64         // size of the file written
	Threads int           // threads in the core
	Files   int           // files bundled with the core (Bundle)
	Pause   time.Duration // how long the process was stopped
	// Mode is how the memory was taken (CoreDirect after a fallback);
	// Copied, how much was copied while the process was stopped.
	Mode   CoreMode
	Copied uint64
	// Fork: the thread that forked, and the one stopped again to reap
	// the snapshot, for how long.
	Fork target.ForkInfo
}

// WriteCore stops process pid, writes its core to out and resumes it
// (by opts.Mode); with Bundle, out is an archive of the core and every
// file it maps (found through the process's root, matched by build-id) and
// the Python sources of its frames.
func WriteCore(pid int, out string, opts CoreFileOptions) (CoreFile, error) {
	warn := opts.Warn
	if warn == nil {
		warn = func(string) {}
	}
	corePath := out
	if opts.Bundle {
		tmp, err := os.CreateTemp(filepath.Dir(out), ".pyscope-core-*")
		if err != nil {
			return CoreFile{}, fmt.Errorf("cannot create %s: %v", out, err)
		}
		tmp.Close()
		corePath = tmp.Name()
		defer os.Remove(corePath)
	}
	res, root, err := takeCore(pid, corePath, opts, warn)
	if err != nil || !opts.Bundle {
		return res, err
	}
	files := bundleFiles(root, corePath, warn)
	n, err := bundle.Write(out, corePath, files, bundle.Manifest{PID: pid}, warn)
	res.Bytes, res.Files = n, len(files)
	return res, err
}

// bundleFiles lists what a bundle needs: every file the core maps, found
// through the process's root (a container's files too) and matched by
// build-id, and the Python source files of the frames in the core.
func bundleFiles(root, corePath string, warn func(string)) []bundle.File {
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

// takeCore writes the core of pid to path by opts.Mode; it returns the
// process's root for a bundle's files.
func takeCore(pid int, path string, opts CoreFileOptions, warn func(string)) (CoreFile, string, error) {
	gopts := gcore.Options{FullFileMappings: opts.Full, Warn: warn}
	if opts.Mode != CoreDirect {
		avail, total, err := live.AvailableMemory()
		if err != nil {
			if opts.Mode == CoreFork {
				return CoreFile{}, "", fmt.Errorf("%w: cannot tell how much memory is free (%v)", target.ErrForkRefused, err)
			}
			warn(fmt.Sprintf("cannot tell how much memory is free (%v): the core is written while the process is stopped", err))
			return writeStopped(pid, path, gopts)
		}
		gopts.Budget = gcore.Budget(avail, total)
	}
	switch opts.Mode {
	case CoreCopy:
		return writeCopied(pid, path, gopts, warn)
	case CoreFork:
		return writeForked(pid, path, gopts)
	}
	return writeStopped(pid, path, gopts)
}

// writeStopped writes the core while the process is stopped.
func writeStopped(pid int, path string, gopts gcore.Options) (CoreFile, string, error) {
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		return CoreFile{}, "", err
	}
	st, err := gcore.WriteFile(p, path, gopts)
	if cerr := p.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return CoreFile{Bytes: st.Bytes, Threads: st.Threads, Pause: p.PauseDuration(), Mode: CoreDirect}, p.Root(), err
}

// writeCopied plans the core and prepares the memory for the copy while
// the process runs, copies while it is stopped, and writes once it runs
// again.
func writeCopied(pid int, path string, gopts gcore.Options, warn func(string)) (CoreFile, string, error) {
	running, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: true})
	if err != nil {
		return CoreFile{}, "", err
	}
	pl := gcore.PlanRunning(running, gopts)
	running.Close()
	fallback := func(why error) (CoreFile, string, error) {
		warn(fmt.Sprintf("%v: the core is written while the process is stopped, which takes longer", why))
		return writeStopped(pid, path, gopts)
	}
	if pl.Bytes > gopts.Budget {
		return fallback(&gcore.NoRoomError{Need: pl.Bytes, Budget: gopts.Budget})
	}
	ar, err := gcore.NewArena(gcore.ArenaSize(pl, gopts))
	if err != nil {
		return fallback(err)
	}
	defer ar.Free()
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		return CoreFile{}, "", err
	}
	im, err := gcore.Capture(p, ar, pl, gopts)
	var room *gcore.NoRoomError
	if errors.As(err, &room) {
		// Still stopped: write now.
		warn(fmt.Sprintf("%v: the core is written while the process is stopped, which takes longer", err))
		st, err := gcore.WriteFile(p, path, gopts)
		if cerr := p.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return CoreFile{Bytes: st.Bytes, Threads: st.Threads, Pause: p.PauseDuration(), Mode: CoreDirect}, p.Root(), err
	}
	cerr := p.Close()
	res := CoreFile{Pause: p.PauseDuration(), Mode: CoreCopy}
	if err != nil {
		return res, "", err
	}
	if cerr != nil {
		return res, "", cerr
	}
	defer im.Close()
	st, err := im.WriteFile(path, gopts)
	res.Bytes, res.Threads, res.Copied = st.Bytes, st.Threads, st.Copied
	return res, p.Root(), err
}

// writeForked stops the process only while it forks a copy-on-write
// snapshot, and writes the core from the snapshot.
func writeForked(pid int, path string, gopts gcore.Options) (CoreFile, string, error) {
	running, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: true})
	if err != nil {
		return CoreFile{}, "", err
	}
	err = gcore.CheckFork(running, gopts)
	var flags map[uint64]string
	if err == nil {
		flags, _ = running.VMFlags()
	}
	running.Close()
	if err != nil {
		return CoreFile{}, "", err
	}
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		return CoreFile{}, "", err
	}
	defer p.Close()
	im, snap, err := gcore.CaptureFork(p, flags, gopts)
	if err != nil {
		return CoreFile{}, "", err
	}
	defer im.Close()
	defer snap.Close()
	cerr := p.Close()
	res := CoreFile{Pause: p.PauseDuration(), Mode: CoreFork}
	if cerr != nil {
		return res, "", cerr
	}
	im.UseSnapshot(snap)
	st, err := im.WriteFile(path, gopts)
	snap.Close()
	res.Bytes, res.Threads, res.Copied, res.Fork = st.Bytes, st.Threads, st.Copied, snap.Info()
	if err == nil && res.Fork.ReapErr != nil && gopts.Warn != nil {
		gopts.Warn(fmt.Sprintf("process %d: the snapshot (process %d) could not be reaped (%v): it stays a zombie until process %d exits", pid, res.Fork.PID, res.Fork.ReapErr, pid))
	}
	return res, p.Root(), err
}
