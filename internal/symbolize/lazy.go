package symbolize

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"sort"

	"golang.org/x/sys/unix"

	"pyscope/internal/elfx"
)

// Lazy DWARF: a dump sees a few dozen PCs, in a handful of compilation
// units, but debug/dwarf parses the abbreviation table of every unit when
// it opens a .debug_info (megabytes of heap for libc's) and a compressed
// section must be decompressed in full to be handed over. Instead the
// units are found through .debug_aranges, and the symbolizer reads a view
// of .debug_info that holds only the units it needs, decompressed up to
// the furthest of them; every other stretch of the section is one dummy
// unit with an empty abbreviation table, which debug/dwarf skips. A unit
// referenced from a loaded one (an inlined function's abstract origin in
// another unit, as link-time optimization makes) is loaded when followed.

// maxLoadedUnits bounds the units one module loads.
const maxLoadedUnits = 4096

// view is the lazily loaded .debug_info of a module: each unit it needs
// gets a dwarf.Data of its own, over a private mapped buffer the size of
// the section up to the unit's end, where the unit sits at its own offset
// after one dummy unit (offsets, including references between units, stay
// those of the section). Each unit's abbreviations are parsed once.
type view struct {
	sec    *elfx.DWARFSections
	units  []*vunit // sorted by start
	starts []int    // known unit starts, sorted
	empty  uint32   // offset of an empty abbreviation table
}

type vunit struct {
	start, end int
	buf        []byte
	d          *dwarf.Data
}

// newLazyDWARFInfo indexes a module's DWARF through .debug_aranges; nil
// when that cannot be done (no aranges, 64-bit DWARF, ...), and the whole
// section is then read.
func newLazyDWARFInfo(sec *elfx.DWARFSections) (dw *dwarfInfo) {
	defer func() {
		if recover() != nil {
			dw = nil
		}
	}()
	if len(sec.Abbrev) == 0 || sec.Abbrev[len(sec.Abbrev)-1] != 0 || sec.Info.Len() < 12 {
		return nil
	}
	cus, starts := parseAranges(sec.Aranges, sec.Info.Len())
	if len(cus) == 0 {
		return nil
	}
	v := &view{sec: sec, starts: starts, empty: uint32(len(sec.Abbrev) - 1)}
	return &dwarfInfo{v: v, cus: cus, units: map[dwarf.Offset]*unit{}, names: map[dwarf.Offset]string{}}
}

func (v *view) free() {
	if v == nil {
		return
	}
	for _, u := range v.units {
		if u.buf != nil {
			unix.Munmap(u.buf)
			u.buf, u.d = nil, nil
		}
	}
}

// parseAranges reads .debug_aranges: address ranges and the offset of the
// unit of each, and the unit starts.
func parseAranges(b []byte, infoLen int) ([]cuRange, []int) {
	var cus []cuRange
	seen := map[int]bool{}
	var starts []int
	le := binary.LittleEndian
	for off := 0; off+16 <= len(b) && len(cus) < maxCUs; {
		length := int(le.Uint32(b[off:]))
		if length == 0xffffffff || length < 12 || off+4+length > len(b) {
			break // 64-bit DWARF or malformed: give up on the rest
		}
		set := b[off : off+4+length]
		next := off + 4 + length
		cuOff := int(le.Uint32(set[6:]))
		asize, ssize := set[10], set[11]
		if le.Uint16(set[4:]) != 2 || asize != 8 || ssize != 0 || cuOff >= infoLen {
			off = next
			continue
		}
		if !seen[cuOff] {
			seen[cuOff] = true
			starts = append(starts, cuOff)
		}
		for p := 16; p+16 <= len(set); p += 16 { // tuples are aligned to 16
			lo, n := le.Uint64(set[p:]), le.Uint64(set[p+8:])
			if lo == 0 && n == 0 {
				break
			}
			if n > 0 && lo+n > lo {
				cus = append(cus, cuRange{lo: lo, hi: lo + n, off: dwarf.Offset(cuOff)})
			}
		}
		off = next
	}
	sort.Slice(cus, func(i, j int) bool { return cus[i].lo < cus[j].lo })
	sort.Ints(starts)
	return cus, starts
}

var errUnit = errors.New("malformed unit")

// unitAt returns the unit holding off, loading it.
func (v *view) unitAt(off int) (*vunit, error) {
	if off < 0 || off >= v.sec.Info.Len() {
		return nil, errUnit
	}
	i := sort.Search(len(v.units), func(i int) bool { return v.units[i].end > off })
	if i < len(v.units) && v.units[i].start <= off {
		if v.units[i].d == nil {
			return nil, errUnit
		}
		return v.units[i], nil
	}
	if len(v.units) >= maxLoadedUnits {
		return nil, errUnit
	}
	// Hop from the nearest known unit start through the unit lengths.
	k := sort.Search(len(v.starts), func(k int) bool { return v.starts[k] > off }) - 1
	start := 0
	if k >= 0 {
		start = v.starts[k]
	}
	info := v.sec.Info
	for {
		if err := info.Upto(start + 4); err != nil {
			return nil, err
		}
		n := int(binary.LittleEndian.Uint32(info.Bytes()[start:]))
		if n >= 0xfffffff0 || start+4+n > info.Len() || n < 7 {
			return nil, errUnit // 64-bit or malformed
		}
		end := start + 4 + n
		if off < end {
			u := &vunit{start: start, end: end}
			v.units = append(v.units, nil)
			copy(v.units[i+1:], v.units[i:])
			v.units[i] = u
			return u, v.open(u)
		}
		start = end
		if j := sort.SearchInts(v.starts, start); j == len(v.starts) || v.starts[j] != start {
			v.starts = append(v.starts, 0)
			copy(v.starts[j+1:], v.starts[j:])
			v.starts[j] = start
		}
	}
}

// open gives u its buffer and dwarf.Data: a dummy DWARF 4 unit with an
// empty abbreviation table over [0, start), then the unit.
func (v *view) open(u *vunit) error {
	if err := v.sec.Info.Upto(u.end); err != nil {
		return err
	}
	buf, err := unix.Mmap(-1, 0, u.end, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	copy(buf[u.start:], v.sec.Info.Bytes()[u.start:u.end])
	if a, b := 0, u.start; b-a >= 11 {
		le := binary.LittleEndian
		le.PutUint32(buf[a:], uint32(b-a-4))
		le.PutUint16(buf[a+4:], 4)
		le.PutUint32(buf[a+6:], v.empty)
		buf[a+10] = 8
	} else if b != 0 {
		unix.Munmap(buf)
		return errUnit
	}
	d, err := v.sec.Data(buf)
	if err != nil {
		unix.Munmap(buf)
		return err
	}
	u.buf, u.d = buf, d
	return nil
}

// data returns the dwarf.Data that reads the entry at off.
func (dw *dwarfInfo) data(off dwarf.Offset) *dwarf.Data {
	if dw.v == nil {
		return dw.d
	}
	u, err := dw.v.unitAt(int(off))
	if err != nil {
		return nil
	}
	return u.d
}

// firstEntry is the offset of the first entry of the unit whose header is
// at off (aranges name units by header); without a view, units are named
// by their first entry already.
func (dw *dwarfInfo) firstEntry(off dwarf.Offset) dwarf.Offset {
	if dw.v == nil {
		return off
	}
	b := dw.v.sec.Info.Bytes()
	if int(off)+6 > len(b) {
		return off
	}
	if binary.LittleEndian.Uint16(b[off+4:]) >= 5 {
		return off + 12
	}
	return off + 11
}

// lineUpto fills .debug_line up to the end of the line program at off.
func (dw *dwarfInfo) lineUpto(off int64) bool {
	if dw.sec == nil {
		return true
	}
	l := dw.sec.Line
	if off < 0 || int(off) >= l.Len() || l.Upto(int(off)+12) != nil {
		return false
	}
	b := l.Bytes()[off:]
	if len(b) < 12 {
		return false
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	hdr := uint64(4)
	if n == 0xffffffff {
		n, hdr = binary.LittleEndian.Uint64(b[4:]), 12
	}
	end := uint64(off) + hdr + n
	if end > uint64(l.Len()) {
		end = uint64(l.Len())
	}
	return l.Upto(int(end)) == nil
}
