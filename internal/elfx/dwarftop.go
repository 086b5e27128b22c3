package elfx

import (
	"bytes"
	"debug/dwarf"
	"errors"
	"fmt"

	"pyscope/internal/dwarfbuf"
)

// TopLevel calls visit for every debugging entry directly under a unit of
// .debug_info (Info must be filled), in section order: its offset, tag,
// DW_AT_name (nil if none, or in a form this does not read; valid during
// the call only), DW_AT_declaration, and whether it has children. It reads
// what debug/dwarf's Reader would give for those entries, with
// SkipChildren below them, but decodes only the attributes asked for:
// scanning a distribution's CPython for a few dozen type names through the
// Reader allocated an entry per DIE and cost a sixth of a cold dump.
//
// It fails on anything it does not know (a form, a unit type, a version),
// so the caller can fall back to the Reader; visit has then seen a prefix.
func (s *DWARFSections) TopLevel(visit func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool)) (err error) {
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
	start, end, dies int // offsets in .debug_info
	version          int
	offSize          int // 4, or 8 for 64-bit DWARF
	addrSize         int
	abbrevOff        uint64
}

func readUnitHeader(info []byte, off int) (u unitHeader, err error) {
	c := dwarfbuf.Buf{B: info, Off: off}
	u.start, u.offSize = off, 4
	n := uint64(c.U32())
	if n == 0xffffffff {
		u.offSize = 8
		n = c.U64()
	} else if n >= 0xfffffff0 {
		return u, fmt.Errorf("unit at %#x: reserved length %#x", off, n)
	}
	if c.Err != nil || n > uint64(len(info)-c.Off) {
		return u, fmt.Errorf("unit at %#x: length %d past the section", off, n)
	}
	u.end = c.Off + int(n)
	c.B = info[:u.end]
	u.version = int(c.U16())
	switch {
	case u.version >= 2 && u.version <= 4:
		u.abbrevOff = c.Offset(u.offSize)
		u.addrSize = int(c.U8())
	case u.version == 5:
		typ := c.U8()
		u.addrSize = int(c.U8())
		u.abbrevOff = c.Offset(u.offSize)
		switch typ {
		case 0x01, 0x03: // DW_UT_compile, DW_UT_partial
		case 0x04, 0x05: // DW_UT_skeleton, DW_UT_split_compile: dwo_id
			c.Skip(uint64(8))
		case 0x02, 0x06: // DW_UT_type, DW_UT_split_type: signature, type offset
			c.Skip(uint64(8 + u.offSize))
		default:
			return u, fmt.Errorf("unit at %#x: unit type %#x", off, typ)
		}
	default:
		return u, fmt.Errorf("unit at %#x: DWARF version %d", off, u.version)
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
	attr  dwarf.Attr
	form  uint64
	value int64 // DW_FORM_implicit_const
}

// parseAbbrevs reads one abbreviation table, indexed by code (a code is
// usually its position; a sparse table falls back to a search).
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
		for c.Err == nil {
			at, form := c.Uleb(), c.Uleb()
			if at == 0 && form == 0 {
				break
			}
			x := abbrevAttr{attr: dwarf.Attr(at), form: form}
			if form == formImplicitConst {
				x.value = c.Sleb()
			}
			a.attrs = append(a.attrs, x)
		}
		if c.Err != nil {
			return nil, fmt.Errorf(".debug_abbrev at %#x: %w", off, c.Err)
		}
		tab = append(tab, a)
	}
}

// DWARF forms (DWARF 5 §7.5.6, with the GNU extensions GCC emits).
const (
	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21
)

// scanUnit walks one unit's entries: those directly under the unit DIE are
// decoded and visited, anything deeper only skipped (by DW_AT_sibling
// where the producer gave one).
func (s *DWARFSections) scanUnit(info []byte, u unitHeader, tab []abbrev, visit func(dwarf.Offset, dwarf.Tag, []byte, bool, bool)) (err error) {
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
				return nil // the unit DIE's children are done (or padding)
			}
			continue
		}
		if code > uint64(len(tab)) {
			return fmt.Errorf("entry at %#x: abbreviation %d not defined", at, code)
		}
		a := &tab[code-1]
		var name []byte
		decl := false
		sibling := -1
		for _, x := range a.attrs {
			form := x.form
			if form == formIndirect {
				if form = c.Uleb(); form == formIndirect || form == formImplicitConst {
					return fmt.Errorf("entry at %#x: indirect form %#x", at, form)
				}
			}
			switch {
			case depth == 0 && x.attr == dwarf.AttrStrOffsetsBase && (form == formSecOffset || form == formData4 || form == formData8):
				strBase, haveStrBase = c.Offset(formSize(form, u)), true
			case depth == 1 && x.attr == dwarf.AttrName:
				if name, err = s.readName(&c, form, u, strBase, haveStrBase); err != nil {
					return fmt.Errorf("entry at %#x: %w", at, err)
				}
			case depth == 1 && x.attr == dwarf.AttrDeclaration && (form == formFlag || form == formFlagPresent):
				decl = form == formFlagPresent || c.U8() != 0
			case x.attr == dwarf.AttrSibling && form >= formRef1 && form <= formRefUdata:
				var ref uint64
				switch form {
				case formRef1:
					ref = uint64(c.U8())
				case formRef2:
					ref = uint64(c.U16())
				case formRef4:
					ref = uint64(c.U32())
				case formRef8:
					ref = c.U64()
				case formRefUdata:
					ref = c.Uleb()
				}
				if ref < uint64(len(info)-u.start) {
					sibling = u.start + int(ref)
				}
			default:
				if err := skipForm(&c, form, u); err != nil {
					return fmt.Errorf("entry at %#x: %w", at, err)
				}
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
			return nil // a unit without entries
		case !a.children:
		case depth >= 1 && sibling > c.Off:
			c.Off = sibling // the Reader's SkipChildren does the same
		default:
			depth++
		}
	}
	return nil
}

// readName reads a string attribute; nil where it needs a section this
// does not have (a supplementary file's, or a string index without base).
func (s *DWARFSections) readName(c *dwarfbuf.Buf, form uint64, u unitHeader, strBase uint64, haveStrBase bool) ([]byte, error) {
	switch form {
	case formString:
		return c.CString(), c.Err
	case formStrp, formLineStrp:
		off := c.Offset(u.offSize)
		sec := s.Str
		if form == formLineStrp {
			sec = s.LineStr
		}
		return cstringAt(sec, off), c.Err
	case formStrx, formGNUStrIndex, formStrx1, formStrx2, formStrx3, formStrx4:
		var i uint64
		switch form {
		case formStrx1:
			i = uint64(c.U8())
		case formStrx2:
			i = uint64(c.U16())
		case formStrx3:
			i = uint64(uint32(c.Uint(3)))
		case formStrx4:
			i = uint64(c.U32())
		default:
			i = c.Uleb()
		}
		if !haveStrBase || c.Err != nil {
			return nil, c.Err
		}
		p := strBase + i*uint64(u.offSize)
		if p > uint64(len(s.StrOffsets)) || uint64(len(s.StrOffsets))-p < uint64(u.offSize) {
			return nil, nil
		}
		oc := dwarfbuf.Buf{B: s.StrOffsets, Off: int(p)}
		return cstringAt(s.Str, oc.Offset(u.offSize)), nil
	default:
		return nil, skipForm(c, form, u)
	}
}

func cstringAt(sec []byte, off uint64) []byte {
	if off >= uint64(len(sec)) {
		return nil
	}
	b := sec[off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return nil
}

// formSize is the size of a fixed-size form, -1 for the others.
func formSize(form uint64, u unitHeader) int {
	switch form {
	case formFlagPresent, formImplicitConst:
		return 0
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return 1
	case formData2, formRef2, formStrx2, formAddrx2:
		return 2
	case formStrx3, formAddrx3:
		return 3
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		return 4
	case formData8, formRef8, formRefSig8, formRefSup8:
		return 8
	case formData16:
		return 16
	case formAddr:
		return u.addrSize
	case formRefAddr:
		if u.version == 2 {
			return u.addrSize
		}
		return u.offSize
	case formStrp, formLineStrp, formSecOffset, formStrpSup, formGNURefAlt, formGNUStrpAlt:
		return u.offSize
	}
	return -1
}

// skipForm moves past one attribute value.
func skipForm(c *dwarfbuf.Buf, form uint64, u unitHeader) error {
	if n := formSize(form, u); n >= 0 {
		c.Skip(uint64(n))
		return c.Err
	}
	switch form {
	case formString:
		c.CString()
	case formSdata:
		c.Sleb()
	case formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx, formGNUAddrIndex, formGNUStrIndex:
		c.Uleb()
	case formBlock1:
		c.Skip(uint64(c.U8()))
	case formBlock2:
		c.Skip(uint64(c.U16()))
	case formBlock4:
		c.Skip(uint64(c.U32()))
	case formBlock, formExprloc:
		c.Skip(c.Uleb())
	default:
		return fmt.Errorf("form %#x", form)
	}
	return c.Err
}
