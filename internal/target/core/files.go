package core

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"pyscope/internal/elfx"
)

const deletedSuffix = " (deleted)"

// lookupName is the path used to find a mapped file on disk.
func lookupName(path string) string {
	return strings.TrimSuffix(path, deletedSuffix)
}

// pseudoFile reports mapped "files" that are not on any disk.
func pseudoFile(path string) bool {
	for _, p := range []string{"/dev/", "/memfd:", "/SYSV", "/anon_hugepage", "/[aio]", "/proc/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Files lists the mapped files and where they were found, sorted by path.
func (c *Core) Files() []File {
	out := make([]File, 0, len(c.files))
	for _, f := range c.files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Missing lists the mapped files that were not found (or only with a
// different build-id).
func (c *Core) Missing() []string {
	var out []string
	for _, f := range c.Files() {
		if f.Found == "" {
			out = append(out, f.Path)
		}
	}
	return out
}

// candidates are the local paths tried for a mapped file, in order.
func (c *Core) candidates(path string) []string {
	var out []string
	if c.opts.Executable != "" && path == c.exe {
		out = append(out, c.opts.Executable)
	}
	if c.root != "" {
		out = append(out, filepath.Join(c.root, path))
	}
	out = append(out, path)
	base := filepath.Base(path)
	for _, d := range c.opts.LibPaths {
		out = append(out, filepath.Join(d, base))
	}
	return out
}

// resolveFiles finds every mapped file and checks its build-id against the
// one the core captured from the file's first page.
func (c *Core) resolveFiles() {
	var missing []string
	inSysroot := 0
	seen := map[string]bool{}
	for _, e := range c.fileMaps {
		name := lookupName(e.Path)
		if seen[name] || pseudoFile(name) || !strings.HasPrefix(name, "/") {
			continue
		}
		seen[name] = true
		f := &File{Path: name, BuildID: c.coreBuildID(name)}
		c.files[name] = f
		var head []byte // captured first page, for files without build-id
		if f.BuildID == "" {
			head = c.coreFirstPage(name)
		}
		for _, cand := range c.candidates(name) {
			st, err := os.Stat(cand)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			switch {
			case f.BuildID != "":
				if id := c.localELF(cand).buildID; id != f.BuildID {
					if id == "" {
						id = "none"
					}
					f.Mismatched = append(f.Mismatched, cand)
					c.warn(fmt.Sprintf("%s: build-id mismatch: the core has %s, %s has %s; not used", filepath.Base(name), f.BuildID, cand, id))
					continue
				}
				f.Check = "build-id"
			case head != nil:
				if !sameHead(cand, head) {
					f.Mismatched = append(f.Mismatched, cand)
					c.warn(fmt.Sprintf("%s: %s differs from the file the process mapped (ELF headers differ, no build-id to compare); not used", filepath.Base(name), cand))
					continue
				}
				f.Check = "header"
			}
			f.Found = cand
			if c.opts.Sysroot != "" && strings.HasPrefix(cand, filepath.Clean(c.opts.Sysroot)+"/") {
				inSysroot++
			}
			break
		}
		if f.Found == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		names := make([]string, 0, 5)
		for i, m := range missing {
			if i == 5 {
				names = append(names, fmt.Sprintf("and %d more", len(missing)-5))
				break
			}
			names = append(names, m)
		}
		c.warn(fmt.Sprintf("%d mapped files not found or not matching: %s; memory the core did not capture from them is unreadable (set a sysroot or library path)", len(missing), strings.Join(names, ", ")))
	}
	if c.opts.Sysroot != "" && inSysroot == 0 && len(seen) > 0 {
		c.warn(fmt.Sprintf("sysroot %s holds none of the %d files mapped by the process; check the sysroot", c.opts.Sysroot, len(seen)))
	}
}

// mappedFile returns the verified local copy of a mapped file.
func (c *Core) mappedFile(path string) (*os.File, error) {
	name := lookupName(path)
	fi := c.files[name]
	if fi == nil {
		return nil, fmt.Errorf("%s is not a mapped file", path)
	}
	if fi.Found == "" {
		if len(fi.Mismatched) > 0 {
			return nil, fmt.Errorf("%s has a different build-id than in the core", fi.Mismatched[0])
		}
		return nil, fmt.Errorf("%s not found", name)
	}
	c.openMu.Lock()
	defer c.openMu.Unlock()
	if f, ok := c.open[name]; ok {
		if f == nil {
			return nil, fmt.Errorf("cannot open %s", fi.Found)
		}
		return f, nil
	}
	f, err := os.Open(fi.Found)
	if err != nil {
		c.open[name] = nil
		return nil, err
	}
	c.open[name] = f
	return f, nil
}

// localFile is what pyscope needs from a local ELF file.
type localFile struct {
	buildID string
	progs   []elf.ProgHeader
}

// localELF parses a local file once: verifying it (build-id) and deriving
// mapping permissions (program headers) both need it.
func (c *Core) localELF(path string) localFile {
	if lf, ok := c.locals[path]; ok {
		return lf
	}
	var lf localFile
	if f, err := elfx.Open(path); err == nil {
		lf.buildID = f.BuildID()
		for _, p := range f.Progs {
			lf.progs = append(lf.progs, p.ProgHeader)
		}
		f.Close()
	}
	if c.locals == nil {
		c.locals = map[string]localFile{}
	}
	c.locals[path] = lf
	return lf
}

// coreBuildID reads the build-id note of a mapped ELF file from the core:
// the kernel and pyscope capture the first page of every file mapping at
// offset 0, which holds the ELF and program headers and, in practice, the
// build-id note.
func (c *Core) coreBuildID(name string) string {
	for _, e := range c.fileMaps {
		if e.Offset != 0 || lookupName(e.Path) != name {
			continue
		}
		if id := c.buildIDAt(e.Start, e.End-e.Start); id != "" {
			return id
		}
	}
	return ""
}

// coreFirstPage returns the captured first page of a mapped ELF file, or
// nil.
func (c *Core) coreFirstPage(name string) []byte {
	for _, e := range c.fileMaps {
		if e.Offset != 0 || lookupName(e.Path) != name {
			continue
		}
		b := make([]byte, min(4096, e.End-e.Start))
		if c.readCaptured(b, e.Start) && string(b[:4]) == "\x7fELF" {
			return b
		}
	}
	return nil
}

// sameHead compares a file's ELF header and program headers with the
// captured first page. Only those: the rest of the page may be writable
// data the process changed (a static binary's .dynamic, where ld.so
// writes DT_DEBUG).
func sameHead(path string, head []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(head))
	n, _ := f.ReadAt(b, 0)
	if n <= 64 || len(head) < 64 {
		return false
	}
	end := uint64(64)
	phoff := binary.LittleEndian.Uint64(head[32:])
	phnum := uint64(binary.LittleEndian.Uint16(head[56:]))
	if phoff >= 64 && phoff < uint64(len(head)) && phnum < 4096 {
		end = min(phoff+phnum*56, uint64(len(head)))
	}
	end = min(end, uint64(n))
	return bytes.Equal(b[:end], head[:end])
}

func (c *Core) buildIDAt(base, size uint64) string {
	var eh [64]byte
	if !c.readCaptured(eh[:], base) || string(eh[:4]) != "\x7fELF" || eh[4] != 2 || eh[5] != 1 {
		return ""
	}
	phoff := binary.LittleEndian.Uint64(eh[32:])
	phentsize := uint64(binary.LittleEndian.Uint16(eh[54:]))
	phnum := uint64(binary.LittleEndian.Uint16(eh[56:]))
	if phentsize != 56 || phnum > 256 || phoff > size || phnum*56 > size-phoff {
		return ""
	}
	ph := make([]byte, phnum*56)
	if !c.readCaptured(ph, base+phoff) {
		return ""
	}
	for i := uint64(0); i < phnum; i++ {
		h := ph[i*56:]
		if binary.LittleEndian.Uint32(h) != ptNote {
			continue
		}
		off := binary.LittleEndian.Uint64(h[8:])
		sz := binary.LittleEndian.Uint64(h[32:])
		if sz > 1<<16 || off > size || sz > size-off {
			continue
		}
		b := make([]byte, sz)
		if !c.readCaptured(b, base+off) {
			continue
		}
		if id := elfx.NotesBuildID(b); id != "" {
			return id
		}
	}
	return ""
}

// filePerms derives a mapping's permissions from the PT_LOAD of the local
// file that covers the file offset ("r--p" when unknown).
func (c *Core) filePerms(path string, off uint64) string {
	fi := c.files[lookupName(path)]
	if fi == nil || fi.Found == "" {
		return "r--p"
	}
	for _, p := range c.localELF(fi.Found).progs {
		if p.Type == elf.PT_LOAD && off >= p.Off&^0xfff && off < p.Off+p.Filesz {
			return permString(uint32(p.Flags))
		}
	}
	return "r--p"
}
