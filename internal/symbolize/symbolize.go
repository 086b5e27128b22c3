// Package symbolize turns native PCs of a target into function names,
// file:line and inlined frames, from .symtab/.dynsym and DWARF found in the
// module or its separate debug file (build-id, debuglink, debuginfod).
package symbolize

import (
	"cmp"
	"debug/elf"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/ianlancetaylor/demangle"

	"pyscope/internal/elfx"
	"pyscope/internal/target"
)

// Options say where debug files are looked for.
type Options struct {
	// DebugDirs are searched by build-id and debuglink; nil means
	// /usr/lib/debug.
	DebugDirs []string
	// Debuginfod downloads missing debug files from DEBUGINFOD_URLS.
	Debuginfod bool
}

// Symbol is one (possibly inlined) function at a PC.
type Symbol struct {
	Function string // demangled; "" when unknown
	Module   string
	// Offset is pc minus the function's start; with no function, the
	// link-time address of pc in Module.
	Offset  uint64
	File    string
	Line    int
	Inlined bool // inlined into the next Symbol of the list
}

// ModuleInfo describes a mapped module, like gdb's info sharedlibrary.
type ModuleInfo struct {
	Path         string
	Start, End   uint64
	BuildID      string
	HasSymbols   bool // a symbol table (.symtab or .dynsym) was found
	HasDebugInfo bool // DWARF was found
	DebugFile    string
}

// Symbolizer looks PCs up in a target's modules; it caches per module and
// parses DWARF only of modules a looked-up PC falls in.
type Symbolizer struct {
	t    target.Target
	opts Options
	mm   *elfx.ModuleMap

	mu   sync.Mutex
	mods map[*elfx.Module]*module
}

// New makes a symbolizer for t. Close releases its files.
func New(t target.Target, opts Options) *Symbolizer {
	return &Symbolizer{
		t:    t,
		opts: opts,
		mm:   elfx.NewModuleMap(t.Mappings(), t, t.Open),
		mods: map[*elfx.Module]*module{},
	}
}

// ModuleMap is the symbolizer's module map, to share its opened files
// (e.g. with unwind.NewResolverFrom).
func (s *Symbolizer) ModuleMap() *elfx.ModuleMap { return s.mm }

// Close closes the opened files.
func (s *Symbolizer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mods {
		m.cache.save()
		if m.dw != nil {
			m.dw.v.free()
		}
		if m.debug != nil {
			m.debug.Close()
		}
	}
	s.mm.Close()
}

// Lookup symbolizes pc (for a caller frame, pass the return address minus
// one: unwind.Frame.LookupPC). Inlined functions come first, innermost
// first; the last Symbol is the real function. It returns one Symbol with
// just Module (or nothing) when pc is not in a known function.
func (s *Symbolizer) Lookup(pc uint64) []Symbol {
	em := s.mm.Find(pc)
	if em == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.module(em, true)
	return m.lookup(pc)
}

// Modules lists the mapped modules. It uses local debug files and the
// debuginfod cache only: it never downloads.
func (s *Symbolizer) Modules() []ModuleInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ModuleInfo
	for _, em := range s.mm.Modules() {
		m := s.module(em, false)
		mi := ModuleInfo{Path: em.Path, Start: em.Start, End: em.End}
		if m.file != nil {
			mi.BuildID = m.file.BuildID()
			mi.HasSymbols = m.file.HasSymtab() || m.file.Section(".dynsym") != nil ||
				(m.debug != nil && m.debug.HasSymtab())
			mi.HasDebugInfo = m.file.HasDWARF() || (m.debug != nil && m.debug.HasDWARF())
		}
		if m.debug != nil {
			mi.DebugFile = m.debug.Path
		}
		out = append(out, mi)
	}
	return out
}

// module is the per-module cache.
type module struct {
	em     *elfx.Module
	file   *elfx.File
	bias   uint64
	ok     bool
	debug  *elfx.File
	dbgErr error

	localDone, remoteDone bool

	symsDone bool
	syms     []sym

	dwarfDone bool
	dw        *dwarfInfo

	cacheDone bool
	cache     *symCache

	strtabs [][]byte // string tables of raw symbol tables (symtab.go)
}

// sym is a function symbol; its name is str, or for one read raw the
// NUL-terminated string at name in strtabs[tab].
type sym struct {
	addr, size uint64
	str        string
	name       uint32
	tab        int8 // -1: str
	rank       int8
}

func (s *Symbolizer) module(em *elfx.Module, remote bool) *module {
	m := s.mods[em]
	if m == nil {
		m = &module{em: em}
		s.mods[em] = m
		if f, err := em.File(); err == nil {
			m.file = f
			m.bias, m.ok = em.Bias()
		}
	}
	if m.file == nil {
		return m
	}
	if !m.localDone {
		m.localDone = true
		m.debug, m.dbgErr = elfx.FindDebugFile(m.file, em.Path, elfx.DebugOptions{
			Dirs: s.opts.DebugDirs, OpenTarget: s.t.Open,
		})
		if m.debug == nil && s.opts.Debuginfod {
			// Reuse the debuginfod cache without a download.
			m.debug, _ = elfx.DebuginfodDebugFile(m.file, false)
		}
	}
	if remote && !m.remoteDone && m.debug == nil && s.opts.Debuginfod && !m.file.HasDWARF() {
		m.remoteDone = true
		m.debug, m.dbgErr = elfx.DebuginfodDebugFile(m.file, true)
	}
	return m
}

func (m *module) loadSyms() {
	if m.symsDone {
		return
	}
	m.symsDone = true
	add := func(f *elfx.File, dyn bool) {
		if f == nil {
			return
		}
		ss := f.Syms()
		if dyn {
			ss = f.DynSyms()
		}
		for _, e := range ss {
			typ := elf.ST_TYPE(e.Info)
			if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC || e.Value == 0 || e.Name == "" {
				continue
			}
			rank := 0
			switch elf.ST_BIND(e.Info) {
			case elf.STB_GLOBAL:
				rank = 2
			case elf.STB_WEAK:
				rank = 1
			}
			m.syms = append(m.syms, sym{addr: e.Value, size: e.Size, str: e.Name, tab: -1, rank: int8(rank)})
		}
	}
	// The .symtab of a debug file has tens of thousands of entries: read
	// them raw rather than as elf.Symbols (see symtab.go).
	for _, f := range []*elfx.File{m.debug, m.file} {
		if !m.addSymtab(f) {
			add(f, false)
		}
	}
	add(m.file, true)
	// One symbol per address: the sized, most global one, first seen. The
	// order is total (ties broken by position), so an unstable sort of
	// indices gives the stable order without moving the 40-byte symbols
	// around; a debug file's tens of thousands of them made the
	// reflection-based stable sort a tenth of a cold --native dump.
	if len(m.syms) > math.MaxInt32 {
		m.syms = m.syms[:math.MaxInt32]
	}
	order := make([]int32, len(m.syms))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &m.syms[i], &m.syms[j]
		if c := cmp.Compare(a.addr, b.addr); c != 0 {
			return c
		}
		if (a.size > 0) != (b.size > 0) {
			if a.size > 0 {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.rank, a.rank); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	out := make([]sym, 0, len(m.syms))
	for _, k := range order {
		s := m.syms[k]
		if len(out) > 0 && out[len(out)-1].addr == s.addr {
			continue
		}
		out = append(out, s)
	}
	m.syms = out
}

// maxUnsizedSpan bounds how far past a size-less symbol an address is
// still attributed to it.
const maxUnsizedSpan = 4096

func (m *module) symbol(vaddr uint64) (sym, bool) {
	m.loadSyms()
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].addr > vaddr }) - 1
	// A sized symbol may be nested in a bigger one; look back a little.
	for j := i; j >= 0 && j > i-8; j-- {
		s := m.syms[j]
		if s.size > 0 && vaddr < s.addr+s.size {
			return s, true
		}
		if s.size == 0 && j == i && vaddr-s.addr < maxUnsizedSpan {
			return s, true
		}
	}
	return sym{}, false
}

func demangleName(name string) string {
	return demangle.Filter(name, demangle.NoParams)
}

func (m *module) lookup(pc uint64) []Symbol {
	if m.file == nil || !m.ok {
		return []Symbol{{Module: m.em.Path}}
	}
	vaddr := pc - m.bias
	if !m.cacheDone {
		m.cacheDone = true
		m.cache = openSymCache(m.file, m.debug)
	}
	if out, ok := m.cache.get(vaddr); ok {
		res := make([]Symbol, len(out))
		copy(res, out)
		for i := range res {
			res[i].Module = m.em.Path
		}
		return res
	}
	out := m.lookupSlow(vaddr)
	m.cache.put(vaddr, out)
	return out
}

func (m *module) lookupSlow(vaddr uint64) []Symbol {
	defer elfx.Parsing()()
	if !m.dwarfDone {
		m.dwarfDone = true
		m.dw = loadDWARF(m.debug, m.file)
	}
	if m.dw != nil {
		if out := m.dw.lookup(vaddr); len(out) > 0 {
			for i := range out {
				out[i].Module = m.em.Path
			}
			// DWARF may name a function the symbol table names better
			// (e.g. no DW_AT_name): fill from the symbol table.
			// The symbol table gives the entry of the real function (its
			// .cold part has a symbol of its own) and a name where DWARF
			// has none.
			last := &out[len(out)-1]
			if s, ok := m.symbol(vaddr); ok {
				last.Offset = vaddr - s.addr
				if last.Function == "" {
					last.Function = demangleName(m.symName(s))
				}
			}
			return out
		}
	}
	if s, ok := m.symbol(vaddr); ok {
		return []Symbol{{Function: demangleName(m.symName(s)), Module: m.em.Path, Offset: vaddr - s.addr}}
	}
	return []Symbol{{Module: m.em.Path, Offset: vaddr}}
}

// arangesCover reports whether .debug_aranges covers at least half of f's
// code, so that the lazy index can trust it. clang writes aranges only for
// assembly units unless asked (-gdwarf-aranges): the standalone builds'
// libpython lists 4 units of 1,624, and every C function then lost its
// file, line and inlined frames. gcc covers nearly all (97% of libc).
func arangesCover(f *elf.File, cus []cuRange) bool {
	var code, covered uint64
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 {
			code += s.Size
		}
	}
	for _, c := range cus {
		covered += c.hi - c.lo
	}
	return covered >= code/2
}

// loadDWARF indexes the DWARF of the first file that has some: only the
// sections symbolization reads, and of those only the compilation units
// and line tables of the PCs looked up (lazy.go) when .debug_aranges says
// where they are.
func loadDWARF(files ...*elfx.File) (dw *dwarfInfo) {
	for _, f := range files {
		// A relocatable object is no loaded module's code, and debug/elf
		// reads copies of its sections that it relocates itself, which
		// the line header check (linecheck.go) cannot see: a corrupt one
		// made debug/dwarf allocate terabytes (found by FuzzLookup).
		if f == nil || !f.HasDWARF() || f.Type == elf.ET_REL {
			continue
		}
		id := ""
		if b := f.BuildID(); b != "" {
			id = "build-id:" + b
		}
		sec, err := elfx.Sections(f.File, f.Raw(), id)
		if err != nil {
			continue
		}
		if dw := newLazyDWARFInfo(sec); dw != nil {
			if arangesCover(f.File, dw.cus) {
				dw.sec, dw.line = sec, sec.Line.Bytes()
				return dw
			}
			dw.v.free()
		}
		// The line tables d reads are those of the sections it returns:
		// without a build-id they are not sec, whose .debug_line nobody
		// filled (zeros), and every line header was refused.
		d, dsec, err := elfx.LoadDWARFSections(f.File, f.Raw(), id, true)
		if err != nil || d == nil || dsec == nil {
			continue
		}
		if dw := newDWARFInfo(d); dw != nil {
			dw.line = dsec.Line.Bytes()
			return dw
		}
	}
	return nil
}
