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

// Line311 decodes a 3.11+ location table (PEP 657). Returns -1 for no line.
func Line311(table []byte, firstLine int, addr int) int {
	if addr < 0 {
		return firstLine
	}
	line, end := firstLine, 0
	i := 0
	for i < len(table) {
		b := table[i]
		if b&0x80 == 0 {
			return -1 // not at an entry start: corrupt table
		}
		code := (b >> 3) & 15
		start := end
		end += (int(b&7) + 1) * 2
		j := i + 1
		delta := 0
		switch {
		case code == 15: // no location
		case code == 13 || code == 14: // no columns / long form
			delta, _ = svarint(table, j)
		case code >= 10: // one line, two column bytes
			delta = int(code) - 10
		}
		line += delta
		cur := line
		if code == 15 {
			cur = -1
		}
		if start <= addr && addr < end {
			return cur
		}
		// Skip to the next entry start.
		for j < len(table) && table[j]&0x80 == 0 {
			j++
		}
		i = j
	}
	return -1
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
