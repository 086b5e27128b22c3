package cpython

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	pcache "pyscope/internal/cache"
	"pyscope/internal/cpython/layout"
	"pyscope/internal/elfx"
	"pyscope/internal/target"
)

// dwarfLayout returns the layout described by the target's own DWARF (its
// image's .debug_info, or a separate debug file found by build-id) for
// 3.10–3.12 builds that are not the reference build a table came from.
// Parsing DWARF takes up to seconds, so results are cached per build.
func dwarfLayout(t target.Target, ef *elfx.File, in *Interpreter) (*layout.Layout, error) {
	if in.Minor >= 13 {
		return nil, nil // _Py_DebugOffsets are authoritative
	}
	short := in.ShortVersion()
	buildID := ef.BuildID()
	if buildID == "" && layout.TablePatch(short) == in.Version {
		return nil, nil // the reference build itself: the table is its DWARF
	}
	var src *elf.File
	var raw io.ReaderAt // the file src reads, for elfx.LoadDWARF
	var key string
	if buildID != "" {
		key = "buildid-" + buildID
		rel := filepath.Join("/usr/lib/debug/.build-id", buildID[:2], buildID[2:]+".debug")
		f, err := t.Open(rel)
		if err != nil {
			f, err = os.Open(rel)
		}
		if err == nil {
			defer f.Close()
			src, _ = elf.NewFile(f)
			raw = f
		}
	}
	if src == nil && ef.Section(".debug_info") != nil {
		src, raw = ef.File, ef.Raw()
		if key == "" {
			st, err := os.Stat(ef.Path)
			if err == nil {
				h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", ef.Path, st.Size(), st.ModTime().UnixNano())))
				key = "file-" + hex.EncodeToString(h[:12])
			}
		}
	}
	if src == nil || key == "" {
		return nil, nil
	}
	// The file lists every field by name: one cached before fields were
	// added or renamed fails to parse, and the DWARF is read again.
	cache := filepath.Join(pcache.Dir("layouts"), key+"-"+layout.CacheSchema()+".layout")
	if b, err := os.ReadFile(cache); err == nil {
		if l, err := layout.ParseCache(b); err == nil && l.Version == short {
			return l, nil
		}
	}
	var l *layout.Layout
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("malformed DWARF: %v", r)
			}
		}()
		// Only the sections the layout reads, shared with the native
		// symbolizer (elfx.LoadDWARF), the type names found without
		// decoding every entry (TopLevel).
		id := ""
		if buildID != "" {
			id = "build-id:" + buildID
		}
		defer elfx.Parsing()()
		d, s, derr := elfx.LoadDWARFSections(src, raw, id, false)
		if derr != nil {
			err = derr
			return
		}
		var scan layout.TopLevelScan
		if s != nil {
			scan = s.TopLevel
		}
		l, err = layout.FromDWARF(d, scan, short)
	}()
	if err != nil {
		return nil, err
	}
	l.Source = "DWARF (" + key + ")"
	_ = pcache.Write(cache, l.MarshalCache())
	return l, nil
}
