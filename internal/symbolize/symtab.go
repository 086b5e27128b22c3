package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"

	"pyscope/internal/elfx"
)

// maxSymtab bounds a symbol table read raw (untrusted sizes).
const maxSymtab = 256 << 20

// addSymtab adds the function symbols of f's .symtab, read as raw 24-byte
// entries with names left in the string table until one is shown. It
// reports false when it cannot (no .symtab is true: nothing to add), and
// the caller then goes through debug/elf.
func (m *module) addSymtab(f *elfx.File) bool {
	if f == nil {
		return true
	}
	s := f.Section(".symtab")
	if s == nil || s.Type == elf.SHT_NOBITS || s.Size == 0 {
		return true
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || s.Size > maxSymtab ||
		int(s.Link) >= len(f.Sections) || len(m.strtabs) >= 127 {
		return false
	}
	strs := f.Sections[s.Link]
	if strs.Type != elf.SHT_STRTAB || strs.Size > maxSymtab {
		return false
	}
	data, err := s.Data()
	if err != nil {
		return false
	}
	str, err := strs.Data()
	if err != nil {
		return false
	}
	tab := int8(len(m.strtabs))
	m.strtabs = append(m.strtabs, str)
	le := binary.LittleEndian
	for off := 24; off+24 <= len(data); off += 24 { // entry 0 is null
		e := data[off : off+24]
		info := e[4]
		typ, bind := elf.ST_TYPE(info), elf.ST_BIND(info)
		value, size := le.Uint64(e[8:]), le.Uint64(e[16:])
		name := le.Uint32(e[0:])
		if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC || value == 0 || name == 0 || int(name) >= len(str) || str[name] == 0 {
			continue
		}
		rank := int8(0)
		switch bind {
		case elf.STB_GLOBAL:
			rank = 2
		case elf.STB_WEAK:
			rank = 1
		}
		m.syms = append(m.syms, sym{addr: value, size: size, name: name, tab: tab, rank: rank})
	}
	return true
}

// symName is a symbol's name.
func (m *module) symName(s sym) string {
	if s.tab < 0 || int(s.tab) >= len(m.strtabs) {
		return s.str
	}
	t := m.strtabs[s.tab]
	if int(s.name) >= len(t) {
		return ""
	}
	b := t[s.name:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
