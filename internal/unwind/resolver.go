package unwind

import (
	"debug/elf"
	"encoding/binary"
	"sync"

	"pyscope/internal/elfx"
	"pyscope/internal/target"
)

// Module is an ELF object mapped in the target, as the unwinder needs it.
type Module struct {
	Path string
	Bias uint64 // run-time address minus link-time address
	CFI  *CFI   // nil when the file has no CFI or cannot be read
	File *elfx.File
}

// ReadCode reads the file's bytes at a link-time address (cores rarely
// hold text pages).
func (m *Module) ReadCode(b []byte, vaddr uint64) bool {
	if m.File == nil {
		return false
	}
	n, err := m.File.ReadVaddr(b, vaddr)
	return err == nil && n == len(b)
}

// Resolver finds the module mapped at a run-time PC, or nil.
type Resolver interface {
	Module(pc uint64) *Module
}

// Modules is the Resolver of a target: modules come from its mappings,
// files are opened through the target, CFI is parsed once per module.
type Modules struct {
	mm  *elfx.ModuleMap
	own bool

	mu    sync.Mutex
	cache map[*elfx.Module]*Module
}

// NewResolver maps t's modules. Close releases the files.
func NewResolver(t target.Target) *Modules {
	r := NewResolverFrom(elfx.NewModuleMap(t.Mappings(), t, t.Open))
	r.own = true
	return r
}

// NewResolverFrom shares an existing module map (e.g. the symbolizer's).
func NewResolverFrom(mm *elfx.ModuleMap) *Modules {
	return &Modules{mm: mm, cache: map[*elfx.Module]*Module{}}
}

// Close closes the files when the module map is the resolver's own.
func (r *Modules) Close() {
	if r.own {
		r.mm.Close()
	}
}

// Module implements Resolver.
func (r *Modules) Module(pc uint64) *Module {
	em := r.mm.Find(pc)
	if em == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.cache[em]; ok {
		return m
	}
	m := &Module{Path: em.Path}
	if f, err := em.File(); err == nil {
		m.File = f
		m.Bias, _ = em.Bias()
		m.CFI = LoadCFI(f)
	}
	r.cache[em] = m
	return m
}

// maxCFISection bounds a CFI section read from a file.
const maxCFISection = 256 << 20

func sectionData(f *elfx.File, name string) Section {
	s := f.Section(name)
	if s == nil || s.Type == elf.SHT_NOBITS || s.Size > maxCFISection {
		return Section{}
	}
	b, err := s.Data()
	if err != nil {
		return Section{}
	}
	return Section{Data: b, Addr: s.Addr}
}

// LoadCFI reads a file's CFI sections; without section headers it finds
// .eh_frame_hdr through PT_GNU_EH_FRAME.
func LoadCFI(f *elfx.File) *CFI {
	readPtr := func(vaddr uint64) (uint64, bool) {
		var b [8]byte
		n, err := f.ReadVaddr(b[:], vaddr)
		return binary.LittleEndian.Uint64(b[:]), err == nil && n == 8
	}
	eh := sectionData(f, ".eh_frame")
	hdr := sectionData(f, ".eh_frame_hdr")
	dbg := sectionData(f, ".debug_frame")
	if len(eh.Data) == 0 && len(hdr.Data) == 0 {
		for _, p := range f.Progs {
			if p.Type != elf.PT_GNU_EH_FRAME || p.Filesz > maxCFISection {
				continue
			}
			b := make([]byte, p.Filesz)
			if n, err := f.ReadVaddr(b, p.Vaddr); err != nil || n != len(b) {
				continue
			}
			hdr = Section{Data: b, Addr: p.Vaddr}
			// Read .eh_frame from where the header points to the end of
			// its segment.
			c := NewCFI(Section{}, hdr, Section{}, readPtr)
			if c.eh.Addr != 0 {
				for _, q := range f.Progs {
					if q.Type == elf.PT_LOAD && c.eh.Addr >= q.Vaddr && c.eh.Addr < q.Vaddr+q.Filesz {
						n := q.Vaddr + q.Filesz - c.eh.Addr
						if n <= maxCFISection {
							eb := make([]byte, n)
							if k, err := f.ReadVaddr(eb, c.eh.Addr); err == nil && k == len(eb) {
								eh = Section{Data: eb, Addr: c.eh.Addr}
							}
						}
					}
				}
			}
			break
		}
	}
	if len(eh.Data) == 0 && len(dbg.Data) == 0 {
		return nil
	}
	return NewCFI(eh, hdr, dbg, readPtr)
}
