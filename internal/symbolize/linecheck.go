package symbolize

import (
	"errors"

	"pyscope/internal/dwarfbuf"
)

// Go's debug/dwarf sizes the DWARF 5 directory and file tables of a line
// program from counts in the header, unchecked: a corrupt count makes it
// allocate terabytes and the process dies (found by FuzzLookup). This
// walks the same header with every count checked against the bytes left,
// so only plausible headers reach debug/dwarf.

var errBadLineHeader = errors.New("malformed line table header")

// lineHeaderOK checks the line program header at off of a .debug_line
// section as far as debug/dwarf trusts it.
func lineHeaderOK(data []byte, off int64) bool {
	if off < 0 || off >= int64(len(data)) {
		return false
	}
	c := &dwarfbuf.Buf{B: data, Off: int(off)}
	length, dwarf64 := c.Uint(4), false
	if length == 0xffffffff {
		length, dwarf64 = c.Uint(8), true
	}
	if c.Err != nil || length > uint64(len(data)-c.Off) {
		return false
	}
	c.B = c.B[:c.Off+int(length)]
	version := c.Uint(2)
	if version < 2 || version > 5 {
		return c.Err == nil // debug/dwarf rejects it cleanly
	}
	if version < 5 {
		return c.Err == nil // tables are NUL-terminated lists: nothing to size
	}
	c.Skip(2) // address_size, segment_selector_size
	if dwarf64 {
		c.Skip(8)
	} else {
		c.Skip(4)
	}
	c.Skip(5)                  // min_inst_length, max_ops, default_is_stmt, line_base, line_range
	c.Skip(uint64(c.U8()) - 1) // standard_opcode_lengths (opcode_base - 1 bytes)
	for table := 0; table < 2 && c.Err == nil; table++ {
		nforms := int(c.U8())
		forms := make([]uint64, 0, nforms)
		for i := 0; i < nforms && c.Err == nil; i++ {
			c.Uleb() // content type
			forms = append(forms, c.Uleb())
		}
		count := c.Uleb()
		if c.Err != nil || (count > 0 && nforms == 0) || count > uint64(c.Left()) {
			return false
		}
		for i := uint64(0); i < count && c.Err == nil; i++ {
			for _, f := range forms {
				skipLineForm(c, f, dwarf64)
			}
		}
	}
	return c.Err == nil
}

// lineForms are the forms debug/dwarf accepts in a line table's
// directory and file entries; it refuses any other.
var lineForms = map[uint64]bool{
	dwarfbuf.FormString: true, dwarfbuf.FormStrp: true, dwarfbuf.FormLineStrp: true,
	dwarfbuf.FormStrx: true, dwarfbuf.FormUdata: true, dwarfbuf.FormBlock: true,
	dwarfbuf.FormStrx1: true, dwarfbuf.FormStrx2: true, dwarfbuf.FormStrx3: true, dwarfbuf.FormStrx4: true,
	dwarfbuf.FormData1: true, dwarfbuf.FormData2: true, dwarfbuf.FormData4: true, dwarfbuf.FormData8: true, dwarfbuf.FormData16: true,
}

// skipLineForm skips one value of a form debug/dwarf accepts in line
// tables; any other form is refused, as debug/dwarf would.
func skipLineForm(c *dwarfbuf.Buf, form uint64, dwarf64 bool) {
	sizes := dwarfbuf.Sizes{Version: 5, OffSize: 4}
	if dwarf64 {
		sizes.OffSize = 8
	}
	if !lineForms[form] || c.SkipForm(form, sizes) != nil {
		c.Fail()
	}
}
