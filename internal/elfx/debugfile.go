package elfx

import (
	"bytes"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDebugDir is where distributions install separate debug files.
const DefaultDebugDir = "/usr/lib/debug"

// DebugOptions say where FindDebugFile looks.
type DebugOptions struct {
	// Dirs are global debug directories (default DefaultDebugDir), searched
	// by build-id (.build-id/xx/rest.debug) and by debuglink.
	Dirs []string
	// Debuginfod enables downloads from the servers in DEBUGINFOD_URLS.
	Debuginfod bool
	// OpenTarget opens a path as the target sees it (for debuglink files
	// next to the module). Nil means os.Open.
	OpenTarget func(string) (*os.File, error)
}

// Debuglink returns the .gnu_debuglink file name and CRC.
func (f *File) Debuglink() (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil || s.Size > 4096 {
		return "", 0, false
	}
	b, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	i := bytes.IndexByte(b, 0)
	if i <= 0 {
		return "", 0, false
	}
	off := (i + 4) &^ 3
	if off+4 > len(b) {
		return "", 0, false
	}
	return string(b[:i]), le32(b[off:]), true
}

// HasDWARF reports whether the file carries DWARF debug info.
func (f *File) HasDWARF() bool {
	for _, n := range []string{".debug_info", ".zdebug_info"} {
		if s := f.Section(n); s != nil && s.Type != 8 /* SHT_NOBITS */ && s.Size > 0 {
			return true
		}
	}
	return false
}

// HasSymtab reports whether the file has a .symtab.
func (f *File) HasSymtab() bool {
	s := f.Section(".symtab")
	return s != nil && s.Size > 0 && s.Type != 8
}

// FindDebugFile finds the separate debug file of f (mapped at modPath in
// the target): by build-id under each debug dir, by .gnu_debuglink (next
// to the module, in its .debug/ subdir, under each debug dir) with a CRC
// check, then from debuginfod. It returns nil and no error when there is
// none.
func FindDebugFile(f *File, modPath string, opts DebugOptions) (*File, error) {
	dirs := opts.Dirs
	if dirs == nil {
		dirs = []string{DefaultDebugDir}
	}
	id := f.BuildID()
	if len(id) > 2 {
		for _, d := range dirs {
			p := filepath.Join(d, ".build-id", id[:2], id[2:]+".debug")
			if df := openMatching(os.Open, p, id, nil); df != nil {
				return df, nil
			}
		}
	}
	if name, crc, ok := f.Debuglink(); ok && !strings.Contains(name, "/") {
		openT := opts.OpenTarget
		if openT == nil {
			openT = os.Open
		}
		dir := filepath.Dir(modPath)
		cands := []struct {
			open func(string) (*os.File, error)
			path string
		}{
			{openT, filepath.Join(dir, name)},
			{openT, filepath.Join(dir, ".debug", name)},
		}
		for _, d := range dirs {
			cands = append(cands, struct {
				open func(string) (*os.File, error)
				path string
			}{os.Open, filepath.Join(d, dir, name)})
		}
		for _, c := range cands {
			if c.path == modPath {
				continue
			}
			if df := openMatching(c.open, c.path, id, &crc); df != nil {
				return df, nil
			}
		}
	}
	if opts.Debuginfod {
		return DebuginfodDebugFile(f, true)
	}
	return nil, nil
}

// openMatching opens a candidate debug file and keeps it only when its
// build-id (or else its CRC) matches.
func openMatching(open func(string) (*os.File, error), path, id string, crc *uint32) *File {
	fh, err := open(path)
	if err != nil {
		return nil
	}
	if crc != nil {
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, fh); err != nil || h.Sum32() != *crc {
			fh.Close()
			return nil
		}
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			fh.Close()
			return nil
		}
	}
	df, err := FromFile(fh, path)
	if err != nil {
		return nil
	}
	if got := df.BuildID(); id != "" && got != "" && got != id {
		df.Close()
		return nil
	}
	return df
}
