package elfx

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"pyscope/internal/target"
)

// Module is one ELF object mapped in a target: the main executable, a
// shared library or the vDSO.
type Module struct {
	Path       string // as the target sees it
	Start, End uint64 // lowest and highest address of its mappings

	maps []target.Mapping

	once   sync.Once
	file   *File
	bias   uint64
	biasOK bool
	err    error
	open   func() (*File, error)
}

// File opens the module's ELF file on first use. It returns nil and the
// reason when the file cannot be read.
func (m *Module) File() (*File, error) {
	m.once.Do(func() {
		m.file, m.err = m.open()
		if m.file == nil {
			return
		}
		m.bias, m.biasOK = loadBias(m.file, m.maps)
		if !m.biasOK {
			m.err = fmt.Errorf("%s: its mappings match none of its PT_LOAD segments", m.Path)
		}
	})
	return m.file, m.err
}

// Bias is the load bias: a run-time address minus the link-time address.
// ok is false when the file could not be opened or matched.
func (m *Module) Bias() (bias uint64, ok bool) {
	m.File()
	return m.bias, m.biasOK
}

// loadBias matches a file-backed mapping with the PT_LOAD segment holding
// its file offset.
func loadBias(f *File, maps []target.Mapping) (uint64, bool) {
	for _, mp := range maps {
		for _, p := range f.Progs {
			if p.Type != elf.PT_LOAD {
				continue
			}
			lo := p.Off &^ 0xfff
			if mp.Offset < lo || mp.Offset >= p.Off+p.Filesz {
				continue
			}
			// The run-time address of file offset mp.Offset is mp.Start.
			return mp.Start - (p.Vaddr + mp.Offset - p.Off), true
		}
	}
	return 0, false
}

// ModuleMap finds the module mapped at an address. Files are opened
// lazily, through the opener (a target's view of the filesystem).
type ModuleMap struct {
	mods []*Module
	maps []target.Mapping // file-backed mappings, sorted by Start
	idx  []*Module        // module of maps[i]
}

// maxModuleGap is the largest hole between mappings of one module.
const maxModuleGap = 1 << 30

// maxVDSO bounds the vDSO image read from memory.
const maxVDSO = 1 << 20

// NewModuleMap groups a target's mappings by file. open opens a path as
// the target sees it; mem reads the vDSO image.
func NewModuleMap(maps []target.Mapping, mem target.Memory, open func(string) (*os.File, error)) *ModuleMap {
	mm := &ModuleMap{}
	byPath := map[string]*Module{}
	for _, mp := range maps {
		if mp.End <= mp.Start || !isModulePath(mp.Path) {
			continue
		}
		m := byPath[mp.Path]
		// A far-away mapping of the same file (e.g. libffi mapping its
		// trampoline page again) is a module of its own, with its own bias;
		// so is what follows it from file offset 0 (the file's real load),
		// even when that trampoline page landed just below it.
		if m != nil && (mp.Start < m.Start || mp.Start-m.End > maxModuleGap || mp.Offset == 0) {
			m = nil
		}
		if m == nil {
			m = &Module{Path: mp.Path, Start: mp.Start, End: mp.End}
			path := mp.Path
			if path == "[vdso]" {
				start, end := mp.Start, mp.End
				m.open = func() (*File, error) { return vdsoFile(mem, start, end) }
			} else {
				m.open = func() (*File, error) {
					f, err := open(path)
					if err != nil {
						return nil, err
					}
					return FromFile(f, path)
				}
			}
			byPath[mp.Path] = m
			mm.mods = append(mm.mods, m)
		}
		m.Start = min(m.Start, mp.Start)
		m.End = max(m.End, mp.End)
		m.maps = append(m.maps, mp)
		mm.maps = append(mm.maps, mp)
		mm.idx = append(mm.idx, m)
	}
	sort.Sort(byStart{mm})
	sort.Slice(mm.mods, func(i, j int) bool { return mm.mods[i].Start < mm.mods[j].Start })
	return mm
}

type byStart struct{ mm *ModuleMap }

func (s byStart) Len() int           { return len(s.mm.maps) }
func (s byStart) Less(i, j int) bool { return s.mm.maps[i].Start < s.mm.maps[j].Start }
func (s byStart) Swap(i, j int) {
	s.mm.maps[i], s.mm.maps[j] = s.mm.maps[j], s.mm.maps[i]
	s.mm.idx[i], s.mm.idx[j] = s.mm.idx[j], s.mm.idx[i]
}

func isModulePath(p string) bool {
	if p == "[vdso]" {
		return true
	}
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "/dev/") &&
		!strings.HasPrefix(p, "/memfd:") && !strings.HasPrefix(p, "/SYSV")
}

// Find returns the module mapped at addr, or nil.
func (mm *ModuleMap) Find(addr uint64) *Module {
	i := sort.Search(len(mm.maps), func(i int) bool { return mm.maps[i].End > addr })
	if i < len(mm.maps) && mm.maps[i].Start <= addr {
		return mm.idx[i]
	}
	return nil
}

// Modules lists the modules by address.
func (mm *ModuleMap) Modules() []*Module { return mm.mods }

// Close closes the opened files.
func (mm *ModuleMap) Close() {
	for _, m := range mm.mods {
		if m.file != nil {
			m.file.Close()
		}
	}
}

// vdsoFile parses the vDSO image from the target's memory.
func vdsoFile(mem target.Memory, start, end uint64) (f *File, err error) {
	if mem == nil || end-start > maxVDSO {
		return nil, fmt.Errorf("[vdso]: not readable")
	}
	b := make([]byte, end-start)
	n, err := mem.ReadAt(b, start)
	if n < 64 {
		return nil, fmt.Errorf("[vdso]: %v", err)
	}
	defer func() {
		if recover() != nil {
			f, err = nil, fmt.Errorf("[vdso]: malformed ELF image")
		}
	}()
	e, err := elf.NewFile(bytes.NewReader(b[:n]))
	if err != nil {
		return nil, fmt.Errorf("[vdso]: %w", err)
	}
	return &File{File: e, Path: "[vdso]"}, nil
}
