package symbolize

import "errors"

// Go's debug/dwarf sizes the DWARF 5 directory and file tables of a line
// program from counts in the header, unchecked: a corrupt count makes it
// allocate terabytes and the process dies (found by FuzzLookup). This
// walks the same header with every count checked against the bytes left,
// so only plausible headers reach debug/dwarf.

var errBadLineHeader = errors.New("malformed line table header")

type lineCursor struct {
	b   []byte
	off int
	end int
	bad bool
}

func (c *lineCursor) need(n int) bool {
	if c.bad || n < 0 || c.off+n > c.end {
		c.bad = true
		return false
	}
	return true
}

func (c *lineCursor) u8() uint64 {
	if !c.need(1) {
		return 0
	}
	c.off++
	return uint64(c.b[c.off-1])
}

func (c *lineCursor) fixed(n int) uint64 {
	if !c.need(n) {
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(c.b[c.off+i])
	}
	c.off += n
	return v
}

func (c *lineCursor) uleb() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b := c.u8()
		if c.bad {
			return 0
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v
		}
	}
	c.bad = true
	return 0
}

func (c *lineCursor) skip(n uint64) {
	if n > uint64(c.end-c.off) {
		c.bad = true
		return
	}
	c.off += int(n)
}

func (c *lineCursor) cstring() {
	for !c.bad {
		if c.u8() == 0 {
			return
		}
	}
}

// lineHeaderOK checks the line program header at off of a .debug_line
// section as far as debug/dwarf trusts it.
func lineHeaderOK(data []byte, off int64) bool {
	if off < 0 || off >= int64(len(data)) {
		return false
	}
	c := &lineCursor{b: data, off: int(off), end: len(data)}
	length, dwarf64 := c.fixed(4), false
	if length == 0xffffffff {
		length, dwarf64 = c.fixed(8), true
	}
	if c.bad || length > uint64(len(data)-c.off) {
		return false
	}
	c.end = c.off + int(length)
	version := c.fixed(2)
	if version < 2 || version > 5 {
		return !c.bad // debug/dwarf rejects it cleanly
	}
	if version < 5 {
		return !c.bad // tables are NUL-terminated lists: nothing to size
	}
	c.skip(2) // address_size, segment_selector_size
	if dwarf64 {
		c.skip(8)
	} else {
		c.skip(4)
	}
	c.skip(5)          // min_inst_length, max_ops, default_is_stmt, line_base, line_range
	c.skip(c.u8() - 1) // standard_opcode_lengths (opcode_base - 1 bytes)
	for table := 0; table < 2 && !c.bad; table++ {
		nforms := int(c.u8())
		forms := make([]uint64, 0, nforms)
		for i := 0; i < nforms && !c.bad; i++ {
			c.uleb() // content type
			forms = append(forms, c.uleb())
		}
		count := c.uleb()
		if c.bad || (count > 0 && nforms == 0) || count > uint64(c.end-c.off) {
			return false
		}
		for i := uint64(0); i < count && !c.bad; i++ {
			for _, f := range forms {
				c.skipForm(f, dwarf64)
			}
		}
	}
	return !c.bad
}

// skipForm skips one attribute value of a form debug/dwarf accepts in line
// tables; any other form is refused, as debug/dwarf would.
func (c *lineCursor) skipForm(form uint64, dwarf64 bool) {
	offSize := 4
	if dwarf64 {
		offSize = 8
	}
	switch form {
	case 0x08: // string
		c.cstring()
	case 0x0e, 0x1f: // strp, line_strp
		c.skip(uint64(offSize))
	case 0x1a, 0x0f: // strx, udata
		c.uleb()
	case 0x25, 0x0b: // strx1, data1
		c.skip(1)
	case 0x26, 0x05: // strx2, data2
		c.skip(2)
	case 0x27: // strx3
		c.skip(3)
	case 0x28, 0x06: // strx4, data4
		c.skip(4)
	case 0x07: // data8
		c.skip(8)
	case 0x1e: // data16
		c.skip(16)
	case 0x09: // block
		c.skip(c.uleb())
	default:
		c.bad = true
	}
}
