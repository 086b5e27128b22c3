package elfx

import (
	"debug/dwarf"
	"errors"
	"fmt"

	"pyscope/internal/dwarfbuf"
)

// TopLevel calls visit for every entry directly under a unit of
// .debug_info (Info filled), in section order, as debug/dwarf's Reader with
// SkipChildren lists them: offset, tag, DW_AT_name (nil if none; valid
// during the call), DW_AT_declaration, children. It decodes only those
// attributes: the Reader allocated every entry, a sixth of a cold dump.
// It fails on anything but well-formed DWARF it knows, for the caller to
// fall back to the Reader; visit has then seen a prefix.
func (s *DWARFSections) TopLevel(visit func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool)) error {
	if s.Info == nil || s.Info.have != len(s.Info.buf) {
		return errors.New("TopLevel: .debug_info not loaded")
	}
	info := s.Info.buf
	abbrevs := map[uint64][]abbrev{}
	for off := 0; off < len(info); {
		u, err := readUnitHeader(info, off)
		if err != nil {
			return err
		}
		tab, ok := abbrevs[u.abbrevOff]
		if !ok {
			if tab, err = parseAbbrevs(s.Abbrev, u.abbrevOff); err != nil {
				return err
			}
			abbrevs[u.abbrevOff] = tab
		}
		if err := s.scanUnit(info[:u.end], u, tab, visit); err != nil {
			return fmt.Errorf("unit at %#x: %w", off, err)
		}
		off = u.end
	}
	return nil
}

type unitHeader struct {
	dwarfbuf.Sizes
	start, end, dies int // offsets in .debug_info
	abbrevOff        uint64
}

func readUnitHeader(info []byte, off int) (u unitHeader, err error) {
	c := dwarfbuf.Buf{B: info, Off: off}
	u.start, u.OffSize = off, 4
	n := uint64(c.U32())
	if n == 0xffffffff {
		u.OffSize = 8
		n = c.U64()
	} else if n >= 0xfffffff0 {
		return u, fmt.Errorf("unit at %#x: reserved length %#x", off, n)
	}
	if c.Err != nil || n > uint64(len(info)-c.Off) {
		return u, fmt.Errorf("unit at %#x: length %d past the section", off, n)
	}
	u.end = c.Off + int(n)
	c.B = info[:u.end]
	u.Version = int(c.U16())
	switch {
	case u.Version >= 2 && u.Version <= 4:
		u.abbrevOff = c.Offset(u.OffSize)
		u.AddrSize = int(c.U8())
	case u.Version == 5:
		typ := c.U8()
		u.AddrSize = int(c.U8())
		u.abbrevOff = c.Offset(u.OffSize)
		switch typ {
		case 0x01, 0x03: // DW_UT_compile, DW_UT_partial
		case 0x04, 0x05: // DW_UT_skeleton, DW_UT_split_compile: dwo_id
			c.Skip(8)
		case 0x02, 0x06: // DW_UT_type, DW_UT_split_type: signature, type offset
			c.Skip(uint64(8 + u.OffSize))
		default:
			return u, fmt.Errorf("unit at %#x: unit type %#x", off, typ)
		}
	default:
		return u, fmt.Errorf("unit at %#x: DWARF version %d", off, u.Version)
	}
	if c.Err != nil {
		return u, fmt.Errorf("unit at %#x: %w", off, c.Err)
	}
	u.dies = c.Off
	return u, nil
}

type abbrev struct {
	tag      dwarf.Tag
	children bool
	attrs    []abbrevAttr
}

type abbrevAttr struct {
	attr dwarf.Attr
	form uint64
}

// parseAbbrevs reads one abbreviation table, indexed by code - 1: it
// refuses codes out of order, which no producer pyscope met emits.
func parseAbbrevs(sec []byte, off uint64) ([]abbrev, error) {
	if off >= uint64(len(sec)) {
		return nil, fmt.Errorf("abbreviations at %#x past .debug_abbrev", off)
	}
	c := dwarfbuf.Buf{B: sec, Off: int(off)}
	var tab []abbrev
	for {
		code := c.Uleb()
		if c.Err != nil {
			return nil, fmt.Errorf(".debug_abbrev at %#x: %w", off, c.Err)
		}
		if code == 0 {
			return tab, nil
		}
		if code != uint64(len(tab))+1 {
			return nil, fmt.Errorf(".debug_abbrev at %#x: code %d out of order", off, code)
		}
		a := abbrev{tag: dwarf.Tag(c.Uleb()), children: c.U8() != 0}
		if a.tag == 0 {
			return nil, fmt.Errorf(".debug_abbrev at %#x: code %d has tag 0", off, code)
		}
		for c.Err == nil {
			at, form := c.Uleb(), c.Uleb()
			if at == 0 && form == 0 {
				break
			}
			if form == dwarfbuf.FormImplicitConst {
				c.Sleb() // the value, which no attribute read here takes
			}
			a.attrs = append(a.attrs, abbrevAttr{attr: dwarf.Attr(at), form: form})
		}
		if c.Err != nil {
			return nil, fmt.Errorf(".debug_abbrev at %#x: %w", off, c.Err)
		}
		tab = append(tab, a)
	}
}

// scanUnit walks one unit's entries: those directly under the unit DIE are
// decoded and visited, anything deeper only skipped (by DW_AT_sibling
// where the producer gave one).
func (s *DWARFSections) scanUnit(info []byte, u unitHeader, tab []abbrev, visit func(dwarf.Offset, dwarf.Tag, []byte, bool, bool)) error {
	c := dwarfbuf.Buf{B: info, Off: u.dies}
	var strBase uint64
	haveStrBase := false
	depth := 0 // of the next entry: 0 is the unit DIE
	for c.Off < len(info) {
		at := c.Off
		code := c.Uleb()
		if c.Err != nil {
			return c.Err
		}
		if code == 0 {
			if depth--; depth <= 0 {
				return zerosOnly(info[c.Off:]) // the unit's entries are done
			}
			continue
		}
		if code > uint64(len(tab)) {
			return fmt.Errorf("entry at %#x: abbreviation %d not defined", at, code)
		}
		a := &tab[code-1]
		if depth == 0 {
			switch a.tag {
			case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
			default:
				return fmt.Errorf("entry at %#x: a unit of tag %v", at, a.tag)
			}
		}
		var name []byte
		decl := false
		sibling := -1
		var seen struct{ name, decl, sibling bool } // the first of each counts, as for the Reader
		for _, x := range a.attrs {
			form := x.form
			if form == dwarfbuf.FormIndirect {
				if form = c.Uleb(); form == dwarfbuf.FormIndirect || form == dwarfbuf.FormImplicitConst {
					return fmt.Errorf("entry at %#x: indirect form %#x", at, form)
				}
			}
			var err error
			switch {
			case depth == 0 && x.attr == dwarf.AttrStrOffsetsBase && (form == dwarfbuf.FormSecOffset || form == dwarfbuf.FormData4 || form == dwarfbuf.FormData8):
				strBase, haveStrBase = c.Offset(u.FormSize(form)), true
			case depth == 1 && x.attr == dwarf.AttrName && !seen.name:
				seen.name = true
				name, err = s.readName(&c, form, u, strBase, haveStrBase)
			case depth == 1 && x.attr == dwarf.AttrDeclaration && !seen.decl && (form == dwarfbuf.FormFlag || form == dwarfbuf.FormFlagPresent):
				seen.decl = true
				decl = form == dwarfbuf.FormFlagPresent || c.U8() == 1
			case depth >= 1 && x.attr == dwarf.AttrSibling && !seen.sibling:
				seen.sibling = true
				sibling, err = readSibling(&c, form, u)
			default:
				err = c.SkipForm(form, u.Sizes)
			}
			if err != nil {
				return fmt.Errorf("entry at %#x: %w", at, err)
			}
		}
		if c.Err != nil {
			return fmt.Errorf("entry at %#x: %w", at, c.Err)
		}
		if depth == 1 {
			visit(dwarf.Offset(at), a.tag, name, decl, a.children)
		}
		switch {
		case !a.children && depth == 0:
			return zerosOnly(info[c.Off:]) // a unit without entries
		case !a.children:
		case sibling >= 0:
			c.Off = sibling // as the Reader's SkipChildren
		default:
			depth++
		}
	}
	return nil
}

// readSibling reads a DW_AT_sibling as the offset in .debug_info to go on
// from; -1 where the Reader would walk the children instead (a sibling
// behind). It refuses one the Reader would follow somewhere else: to the
// entry itself, out of the unit, or in a form of another section.
func readSibling(c *dwarfbuf.Buf, form uint64, u unitHeader) (int, error) {
	var ref uint64
	switch form {
	case dwarfbuf.FormRef1:
		ref = uint64(c.U8())
	case dwarfbuf.FormRef2:
		ref = uint64(c.U16())
	case dwarfbuf.FormRef4:
		ref = uint64(c.U32())
	case dwarfbuf.FormRef8:
		ref = c.U64()
	case dwarfbuf.FormRefUdata:
		ref = c.Uleb()
	default:
		return -1, fmt.Errorf("DW_AT_sibling of form %#x", form)
	}
	switch {
	case c.Err != nil:
		return -1, c.Err
	case ref >= uint64(len(c.B)-u.start):
		return -1, fmt.Errorf("DW_AT_sibling %#x past the unit", ref)
	case u.start+int(ref) < c.Off:
		return -1, nil
	case u.start+int(ref) == c.Off:
		return -1, fmt.Errorf("DW_AT_sibling %#x to the entry's end", ref)
	}
	return u.start + int(ref), nil
}

// zerosOnly accepts what follows a unit's entries if it is padding: the
// Reader would read anything else as more entries.
func zerosOnly(b []byte) error {
	for _, x := range b {
		if x != 0 {
			return errors.New("bytes after the unit's entries")
		}
	}
	return nil
}

// readName reads a string attribute: nil for a supplementary file's
// string, which the Reader does not give as a string either.
func (s *DWARFSections) readName(c *dwarfbuf.Buf, form uint64, u unitHeader, strBase uint64, haveStrBase bool) ([]byte, error) {
	switch form {
	case dwarfbuf.FormString:
		return c.CString(), c.Err
	case dwarfbuf.FormStrp, dwarfbuf.FormLineStrp:
		off := c.Offset(u.OffSize)
		sec := s.Str
		if form == dwarfbuf.FormLineStrp {
			sec = s.LineStr
		}
		return stringAt(sec, off)
	case dwarfbuf.FormStrx, dwarfbuf.FormGNUStrIndex, dwarfbuf.FormStrx1, dwarfbuf.FormStrx2, dwarfbuf.FormStrx3, dwarfbuf.FormStrx4:
		var i uint64
		switch form {
		case dwarfbuf.FormStrx1, dwarfbuf.FormStrx2, dwarfbuf.FormStrx3, dwarfbuf.FormStrx4:
			i = c.Uint(u.FormSize(form))
		default:
			i = c.Uleb()
		}
		if c.Err != nil {
			return nil, c.Err
		}
		if !haveStrBase {
			return nil, errors.New("a string index without DW_AT_str_offsets_base")
		}
		ix := dwarfbuf.Buf{B: s.StrOffsets, Off: len(s.StrOffsets)}
		if p := strBase + i*uint64(u.OffSize); p <= uint64(len(s.StrOffsets)) {
			ix.Off = int(p)
		}
		off := ix.Offset(u.OffSize)
		if ix.Err != nil {
			return nil, fmt.Errorf("string index %d past .debug_str_offsets", i)
		}
		return stringAt(s.Str, off)
	default:
		return nil, c.SkipForm(form, u.Sizes)
	}
}

// stringAt is the string at off of a string section.
func stringAt(sec []byte, off uint64) ([]byte, error) {
	if off >= uint64(len(sec)) {
		return nil, fmt.Errorf("string at %#x past its section", off)
	}
	r := dwarfbuf.Buf{B: sec, Off: int(off)}
	s := r.CString()
	return s, r.Err
}
