package cpython

// Line number tables, decoded exactly as CPython's PyCode_Addr2Line does.
// addr is a byte offset into the bytecode (instruction index × 2). Both
// decoders are bounded by the table length and never panic on bad input.

// Line310 decodes a 3.10 co_linetable: (byte delta, signed line delta)
// pairs; a line delta of -128 means "no line". Returns -1 for no line.
func Line310(table []byte, firstLine int, addr int) int {
	if addr < 0 {
		return firstLine
	}
	line, end := firstLine, 0
	for i := 0; i+1 < len(table); i += 2 {
		start := end
		end += int(table[i])
		ld := int8(table[i+1])
		cur := -1
		if ld != -128 {
			line += int(ld)
			cur = line
		}
		if start <= addr && addr < end {
			return cur
		}
	}
	return -1
}

// Location is an instruction's source span (PEP 657), as co_positions()
// gives it: 1-based lines, 0-based columns in UTF-8 bytes; -1 when unknown.
type Location struct {
	Line, EndLine, Column, EndColumn int
}

var noLocation = Location{-1, -1, -1, -1}

// Line311 decodes a 3.11+ location table (PEP 657). Returns -1 for no line.
func Line311(table []byte, firstLine int, addr int) int {
	return Location311(table, firstLine, addr).Line
}

// Location311 decodes the full location of an instruction from a 3.11+
// location table, as CPython's co_positions() does.
func Location311(table []byte, firstLine int, addr int) Location {
	if addr < 0 {
		return Location{firstLine, -1, -1, -1}
	}
	line, end := firstLine, 0
	i := 0
	for i < len(table) {
		b := table[i]
		if b&0x80 == 0 {
			return noLocation // not at an entry start: corrupt table
		}
		code := (b >> 3) & 15
		start := end
		end += (int(b&7) + 1) * 2
		j := i + 1
		loc := noLocation
		switch {
		case code == 15: // no location
		case code == 14: // long form
			var d, endDelta, col, endCol int
			d, j = svarint(table, j)
			endDelta, j = varint(table, j)
			col, j = varint(table, j)
			endCol, j = varint(table, j)
			line += d
			loc = Location{line, line + endDelta, col - 1, endCol - 1}
		case code == 13: // no columns
			var d int
			d, j = svarint(table, j)
			line += d
			loc = Location{line, line, -1, -1}
		case code >= 10: // one line, two column bytes
			line += int(code) - 10
			loc = Location{line, line, byteAt(table, j), byteAt(table, j+1)}
		default: // short form: the line unchanged, columns in a second byte
			loc = Location{line, line, -1, -1}
			if c := byteAt(table, j); c >= 0 {
				loc.Column = int(code)<<3 | c>>4
				loc.EndColumn = loc.Column + c&15
			}
		}
		if start <= addr && addr < end {
			return loc
		}
		// Skip to the next entry start.
		for j < len(table) && table[j]&0x80 == 0 {
			j++
		}
		i = j
	}
	return noLocation
}

// byteAt is table[i] as a column, or -1 past the end or at the next
// entry's start (a truncated entry).
func byteAt(table []byte, i int) int {
	if i >= len(table) || table[i]&0x80 != 0 {
		return -1
	}
	return int(table[i])
}

// varint reads CPython's 6-bit-chunk varint at table[i:].
func varint(table []byte, i int) (int, int) {
	v, shift := 0, 0
	for n := 0; i < len(table) && n < 6; n++ {
		b := table[i]
		i++
		v |= int(b&63) << shift
		if b&64 == 0 {
			break
		}
		shift += 6
	}
	return v, i
}

func svarint(table []byte, i int) (int, int) {
	v, i := varint(table, i)
	if v&1 != 0 {
		return -(v >> 1), i
	}
	return v >> 1, i
}
