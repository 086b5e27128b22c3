package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"pyscope/internal/bundle"
	"pyscope/internal/cpython"
	"pyscope/internal/gcore"
	"pyscope/internal/target/core"
	"pyscope/internal/target/live"
)

// CoreFileOptions control WriteCore.
type CoreFileOptions struct {
	// Full copies read-only file mappings into the core too.
	Full bool
	// Bundle writes a tar.zst holding the core and every file it needs.
	Bundle bool
	// Warn receives one-line warnings.
	Warn func(string)
}

// CoreFile describes a written core or bundle.
type CoreFile struct {
	Bytes   int64         // size of the file written
	Threads int           // threads in the core
	Files   int           // files bundled with the core (Bundle)
	Pause   time.Duration // how long the process was stopped
}

// WriteCore stops process pid, writes its core to out and resumes it;
// with Bundle, out is an archive of the core and every file it maps (found
// through the process's root, matched by build-id) and the Python sources
// of its frames.
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
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		return CoreFile{}, err
	}
	st, err := gcore.WriteFile(p, corePath, gcore.Options{FullFileMappings: opts.Full, Warn: warn})
	if cerr := p.Close(); err == nil && cerr != nil {
		err = cerr
	}
	res := CoreFile{Bytes: st.Bytes, Threads: st.Threads, Pause: p.PauseDuration()}
	if err != nil || !opts.Bundle {
		return res, err
	}
	files := bundleFiles(p.Root(), corePath, warn)
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
