// Package elfx reads what pyscope needs from ELF files: symbols, sections,
// build-ids, load bias, and separate debug files.
package elfx

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// File is an opened ELF object.
type File struct {
	*elf.File
	Path string
	f    *os.File

	dynsyms, syms         []elf.Symbol
	dynsymsDone, symsDone bool
	// .dynsym and its strings, raw, for DynSymbol.
	dynRaw     dynTable
	dynRawDone bool

	buildIDOnce sync.Once
	buildID     string
}

// Open opens an ELF file. The caller must Close it.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return FromFile(f, path)
}

// FromFile wraps an already opened file (e.g. one opened through a
// target's root). It takes ownership of f.
func FromFile(f *os.File, path string) (ef *File, err error) {
	defer func() {
		// debug/elf can panic on some malformed inputs; never let that
		// escape.
		if r := recover(); r != nil {
			f.Close()
			ef, err = nil, fmt.Errorf("%s: malformed ELF file", path)
		}
	}()
	e, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{File: e, Path: path, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.f != nil {
		return f.f.Close()
	}
	return nil
}

// DynSyms returns the .dynsym symbols, read once; nil when absent or
// malformed.
func (f *File) DynSyms() []elf.Symbol {
	if !f.dynsymsDone {
		f.dynsymsDone = true
		func() {
			// debug/elf can panic on malformed tables.
			defer func() { _ = recover() }()
			f.dynsyms, _ = f.DynamicSymbols()
		}()
	}
	return f.dynsyms
}

// Syms returns the .symtab symbols, read once; nil when absent or
// malformed.
func (f *File) Syms() []elf.Symbol {
	if !f.symsDone {
		f.symsDone = true
		func() {
			defer func() { _ = recover() }()
			f.syms, _ = f.Symbols()
		}()
	}
	return f.syms
}

// Symbol looks a symbol up in .dynsym, then .symtab. It returns its
// link-time address.
func (f *File) Symbol(name string) (elf.Symbol, bool) {
	if s, ok := f.DynSymbol(name); ok {
		return s, true
	}
	return findSymbol(f.Syms(), name)
}

// DynSymbol looks a symbol up in .dynsym only (cheap: no .symtab load).
// The table is searched in place, as findSymbol searches DynSyms: building
// every symbol of a static interpreter (thousands, each with its name)
// cost half a millisecond of each dump's discovery for three look-ups.
func (f *File) DynSymbol(name string) (elf.Symbol, bool) {
	if f.dynsymsDone {
		return findSymbol(f.dynsyms, name)
	}
	t, ok := f.dynTable()
	if !ok {
		return findSymbol(f.DynSyms(), name)
	}
	return t.lookup(f.ByteOrder, name)
}

// dynTable is a 64-bit .dynsym and its string table, as in the file.
type dynTable struct{ syms, strs []byte }

// dynTable reads .dynsym and its strings once; false for a 32-bit file or
// a table debug/elf would refuse (DynSymbol then asks debug/elf).
func (f *File) dynTable() (dynTable, bool) {
	if !f.dynRawDone {
		f.dynRawDone = true
		func() {
			defer func() { _ = recover() }()
			s := f.SectionByType(elf.SHT_DYNSYM)
			if f.Class != elf.ELFCLASS64 || s == nil || int(s.Link) <= 0 || int(s.Link) >= len(f.Sections) {
				return
			}
			str := f.Sections[s.Link]
			if str.Type != elf.SHT_STRTAB {
				return
			}
			syms, err := s.Data()
			if err != nil || len(syms)%elf.Sym64Size != 0 {
				return
			}
			strs, err := str.Data()
			if err != nil {
				return
			}
			f.dynRaw = dynTable{syms: syms, strs: strs}
		}()
	}
	return f.dynRaw, f.dynRaw.syms != nil
}

// lookup is findSymbol over the table's symbols: the first one named name
// with a non-zero value. Entry 0 is the null symbol, which debug/elf skips.
func (t dynTable) lookup(order binary.ByteOrder, name string) (elf.Symbol, bool) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return elf.Symbol{}, false // no name debug/elf reads holds a NUL
	}
	for off := elf.Sym64Size; off+elf.Sym64Size <= len(t.syms); off += elf.Sym64Size {
		e := t.syms[off : off+elf.Sym64Size]
		value := order.Uint64(e[8:])
		if value == 0 {
			continue
		}
		// debug/elf names a symbol whose string runs off the table "".
		at := uint64(order.Uint32(e[0:]))
		end := at + uint64(len(name))
		if end >= uint64(len(t.strs)) || t.strs[end] != 0 || string(t.strs[at:end]) != name {
			continue
		}
		return elf.Symbol{Name: name, Info: e[4], Other: e[5],
			Section: elf.SectionIndex(order.Uint16(e[6:])), Value: value, Size: order.Uint64(e[16:])}, true
	}
	return elf.Symbol{}, false
}

func findSymbol(syms []elf.Symbol, name string) (elf.Symbol, bool) {
	for _, s := range syms {
		if s.Name == name && s.Value != 0 {
			return s, true
		}
	}
	return elf.Symbol{}, false
}

// BuildID returns the GNU build-id as hex, or "". It is read once: the
// symbolizer, its cache and the debug-file search all ask for it.
func (f *File) BuildID() string {
	f.buildIDOnce.Do(func() { f.buildID = f.readBuildID() })
	return f.buildID
}

func (f *File) readBuildID() string {
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if id := noteBuildID(p.Open(), p.Filesz); id != "" {
			return id
		}
	}
	if s := f.Section(".note.gnu.build-id"); s != nil {
		return noteBuildID(s.Open(), s.Size)
	}
	return ""
}

func noteBuildID(r io.Reader, size uint64) string {
	if size > 1<<16 {
		return ""
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return ""
	}
	return NotesBuildID(b)
}

// NotesBuildID returns the GNU build-id (as hex) from the raw contents of
// an ELF note segment or section, or "". The last note may lack its
// padding.
func NotesBuildID(b []byte) string {
	for len(b) >= 12 {
		nsz := uint64(le32(b[0:]))
		dsz := uint64(le32(b[4:]))
		typ := le32(b[8:])
		b = b[12:]
		na := (nsz + 3) &^ 3
		if na+dsz > uint64(len(b)) {
			return ""
		}
		name, desc := b[:nsz], b[na:na+dsz]
		if typ == 3 && len(desc) > 0 && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("GNU")) {
			return hex.EncodeToString(desc)
		}
		b = b[min(na+(dsz+3)&^3, uint64(len(b))):]
	}
	return ""
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// FirstLoadVaddr returns the page-aligned p_vaddr of the first PT_LOAD
// segment: the link-time address that maps to the file's lowest mapping.
func (f *File) FirstLoadVaddr() (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			align := p.Align
			if align == 0 || align&(align-1) != 0 {
				align = 4096
			}
			return (p.Vaddr - p.Off) &^ (align - 1), true
		}
	}
	return 0, false
}

// ReadVaddr reads file-backed bytes at a link-time virtual address, from
// the PT_LOAD segment that holds it.
func (f *File) ReadVaddr(b []byte, vaddr uint64) (int, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || vaddr < p.Vaddr || vaddr >= p.Vaddr+p.Filesz {
			continue
		}
		n := len(b)
		if rem := p.Vaddr + p.Filesz - vaddr; uint64(n) > rem {
			n = int(rem)
		}
		return p.ReadAt(b[:n], int64(vaddr-p.Vaddr))
	}
	return 0, fmt.Errorf("%s: address %#x is not file-backed", f.Path, vaddr)
}
