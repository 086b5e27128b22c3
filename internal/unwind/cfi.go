package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Pointer encodings (DW_EH_PE_*).
const (
	peAbsptr  = 0x00
	peUleb    = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSleb    = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c
	pePcrel   = 0x10
	peTextrel = 0x20
	peDatarel = 0x30
	peFuncrel = 0x40
	peAligned = 0x50
	peIndir   = 0x80
	peOmit    = 0xff

	peFormatMask = 0x0f // how the value is stored
	peApplMask   = 0x70 // what it is relative to
)

// Initial length escapes (DWARF 5, section 7.4) and .debug_frame's CIE id.
const (
	dwarf64Length     = 0xffffffff // a 64-bit length follows
	reservedLengthMin = 0xfffffff0
	debugFrameCIEID32 = 0xffffffff
)

// Section is CFI section bytes and their link-time address.
type Section struct {
	Data []byte
	Addr uint64
}

// CFI is the call frame information of one ELF file: .eh_frame (searched
// through .eh_frame_hdr when present) and .debug_frame. It is safe for
// concurrent use.
type CFI struct {
	eh, hdr, debug Section
	// readPtr reads 8 bytes at a link-time address (DW_EH_PE_indirect).
	readPtr func(vaddr uint64) (uint64, bool)

	hdrTable             []byte // binary search table of .eh_frame_hdr
	hdrEnc               byte
	hdrCount, hdrEntSize int

	mu      sync.Mutex
	cies    map[cieKey]*CIE
	ehIdx   []fdeRef // lazily built when there is no usable table
	ehDone  bool
	dbgIdx  []fdeRef
	dbgDone bool
}

type cieKey struct {
	debug bool
	off   int
}

type fdeRef struct {
	begin, end uint64
	off        int
}

// CIE is a Common Information Entry.
type CIE struct {
	Version     uint8
	Aug         string
	AddrSize    int
	CodeAlign   uint64
	DataAlign   int64
	RAReg       uint64
	FDEEnc      byte
	LSDAEnc     byte
	Signal      bool // 'S': frames of this CIE are signal trampolines
	Initial     []byte
	hasAugData  bool
	debugFrame  bool
	is64        bool
	initialRow  *Row
	initialErrs error
}

// FDE is a Frame Description Entry.
type FDE struct {
	CIE          *CIE
	Begin, End   uint64 // link-time PC range
	Instructions []byte
}

// NewCFI indexes CFI sections. Any of them may be empty. readPtr may be
// nil; it resolves DW_EH_PE_indirect pointers.
func NewCFI(ehFrame, ehFrameHdr, debugFrame Section, readPtr func(uint64) (uint64, bool)) *CFI {
	c := &CFI{eh: ehFrame, hdr: ehFrameHdr, debug: debugFrame, readPtr: readPtr, cies: map[cieKey]*CIE{}}
	c.parseHdr()
	return c
}

// parseHdr validates .eh_frame_hdr and keeps its table when its entries
// have a fixed size we can binary-search.
func (c *CFI) parseHdr() {
	if len(c.hdr.Data) < 4 || c.hdr.Data[0] != 1 {
		return
	}
	r := &buf{B: c.hdr.Data, Off: 4}
	ptrEnc, cntEnc, tabEnc := c.hdr.Data[1], c.hdr.Data[2], c.hdr.Data[3]
	ehPtr, err := c.readEncoded(r, ptrEnc, c.hdr.Addr, c.hdr.Addr)
	if err != nil {
		return
	}
	if len(c.eh.Data) == 0 {
		// No section headers: the pointer is all we know; the caller
		// gave the bytes from there on.
		c.eh.Addr = ehPtr
	} else if ehPtr != c.eh.Addr {
		return
	}
	if cntEnc == peOmit || tabEnc == peOmit {
		return
	}
	cnt, err := c.readEncoded(r, cntEnc, c.hdr.Addr, c.hdr.Addr)
	if err != nil {
		return
	}
	var size int
	switch tabEnc & peFormatMask {
	case peUdata4, peSdata4:
		size = 4
	case peUdata8, peSdata8, peAbsptr:
		size = 8
	default:
		return
	}
	if app := tabEnc & peApplMask; (app != peAbsptr && app != peDatarel) || tabEnc&peIndir != 0 {
		return
	}
	if cnt > uint64(r.Left()/(2*size)) {
		return
	}
	c.hdrTable = r.B[r.Off : r.Off+int(cnt)*2*size]
	c.hdrEnc, c.hdrCount, c.hdrEntSize = tabEnc, int(cnt), size
}

func (c *CFI) tableEntry(i int) (pc, fde uint64) {
	b := c.hdrTable[i*2*c.hdrEntSize:]
	rd := func(b []byte) uint64 {
		switch c.hdrEnc & peFormatMask {
		case peUdata4:
			return uint64(binary.LittleEndian.Uint32(b))
		case peSdata4:
			return uint64(int64(int32(binary.LittleEndian.Uint32(b))))
		}
		return binary.LittleEndian.Uint64(b)
	}
	pc, fde = rd(b), rd(b[c.hdrEntSize:])
	if c.hdrEnc&peApplMask == peDatarel {
		pc += c.hdr.Addr
		fde += c.hdr.Addr
	}
	return pc, fde
}

// readEncoded reads a pointer in encoding enc. pcBase is the link-time
// address of the field (for pcrel), dataBase the datarel base.
func (c *CFI) readEncoded(r *buf, enc byte, pcBase, dataBase uint64) (uint64, error) {
	if enc == peOmit {
		return 0, nil
	}
	var v uint64
	switch enc & peFormatMask {
	case peAbsptr, peUdata8, peSdata8:
		v = r.U64()
	case peUleb:
		v = r.Uleb()
	case peUdata2:
		v = uint64(r.U16())
	case peUdata4:
		v = uint64(r.U32())
	case peSleb:
		v = uint64(r.Sleb())
	case peSdata2:
		v = uint64(int64(int16(r.U16())))
	case peSdata4:
		v = uint64(int64(int32(r.U32())))
	default:
		return 0, fmt.Errorf("unknown pointer encoding %#x", enc)
	}
	if r.Err != nil {
		return 0, cfiErr(r.Err)
	}
	if v == 0 && enc&peApplMask != peAbsptr {
		// A zero relative value means "no pointer" (e.g. a discarded FDE).
		return 0, nil
	}
	switch enc & peApplMask {
	case peAbsptr:
	case pePcrel:
		v += pcBase
	case peDatarel:
		v += dataBase
	case peTextrel, peFuncrel, peAligned:
		return 0, fmt.Errorf("unsupported pointer encoding %#x", enc)
	default:
		return 0, fmt.Errorf("unknown pointer encoding %#x", enc)
	}
	if enc&peIndir != 0 {
		if c.readPtr == nil {
			return 0, errors.New("indirect pointer without memory")
		}
		p, ok := c.readPtr(v)
		if !ok {
			return 0, fmt.Errorf("cannot read indirect pointer at %#x", v)
		}
		v = p
	}
	return v, nil
}

// entry reads the header of the CIE or FDE at off: its body (after the
// length), the id/pointer field's offset and value, and the next offset.
type entry struct {
	off, idOff, next int
	id               uint64
	is64             bool
	body             *buf // positioned after the id field
}

func readEntry(data []byte, off int, debug bool) (entry, bool, error) {
	r := &buf{B: data, Off: off}
	e := entry{off: off}
	l := uint64(r.U32())
	if r.Err != nil {
		return e, false, cfiErr(r.Err)
	}
	if l == 0 {
		return e, false, nil // terminator
	}
	if l == dwarf64Length {
		e.is64 = true
		l = r.U64()
	} else if l >= reservedLengthMin {
		return e, false, fmt.Errorf("reserved CFI length %#x at %#x", l, off)
	}
	if l > uint64(r.Left()) {
		return e, false, fmt.Errorf("CFI entry at %#x overruns its section", off)
	}
	end := r.Off + int(l)
	e.next = end
	e.idOff = r.Off
	if e.is64 && debug {
		e.id = r.U64()
	} else {
		e.id = uint64(r.U32())
		if debug && e.id == debugFrameCIEID32 {
			e.id = ^uint64(0)
		}
	}
	if r.Err != nil || r.Off > end {
		return e, false, errTruncated
	}
	e.body = &buf{B: data[:end], Off: r.Off}
	return e, true, nil
}

func (e entry) isCIE(debug bool) bool {
	if debug {
		return e.id == ^uint64(0)
	}
	return e.id == 0
}

func (c *CFI) section(debug bool) Section {
	if debug {
		return c.debug
	}
	return c.eh
}

// cie parses (and caches) the CIE at off. Callers hold c.mu.
func (c *CFI) cie(off int, debug bool) (*CIE, error) {
	key := cieKey{debug, off}
	if ci, ok := c.cies[key]; ok {
		if ci == nil {
			return nil, fmt.Errorf("bad CIE at %#x", off)
		}
		return ci, nil
	}
	ci, err := c.parseCIE(off, debug)
	if len(c.cies) < 1<<16 {
		c.cies[key] = ci
	}
	return ci, err
}

func (c *CFI) parseCIE(off int, debug bool) (*CIE, error) {
	sec := c.section(debug)
	e, ok, err := readEntry(sec.Data, off, debug)
	if err != nil {
		return nil, err
	}
	if !ok || !e.isCIE(debug) {
		return nil, fmt.Errorf("no CIE at %#x", off)
	}
	r := e.body
	ci := &CIE{debugFrame: debug, is64: e.is64, AddrSize: 8, FDEEnc: peAbsptr, LSDAEnc: peOmit}
	ci.Version = r.U8()
	if ci.Version != 1 && ci.Version != 3 && ci.Version != 4 {
		return nil, fmt.Errorf("CIE at %#x: unsupported version %d", off, ci.Version)
	}
	ci.Aug = string(r.CString())
	if len(ci.Aug) > 0 && ci.Aug[0] != 'z' && ci.Aug != "eh" {
		return nil, fmt.Errorf("CIE at %#x: unknown augmentation %q", off, ci.Aug)
	}
	if ci.Aug == "eh" {
		r.U64() // old GCC eh_ptr
	}
	if ci.Version == 4 {
		ci.AddrSize = int(r.U8())
		if seg := r.U8(); seg != 0 || (ci.AddrSize != 8 && ci.AddrSize != 4) {
			return nil, fmt.Errorf("CIE at %#x: unsupported address size", off)
		}
	}
	ci.CodeAlign = r.Uleb()
	ci.DataAlign = r.Sleb()
	if ci.Version == 1 {
		ci.RAReg = uint64(r.U8())
	} else {
		ci.RAReg = r.Uleb()
	}
	if len(ci.Aug) > 0 && ci.Aug[0] == 'z' {
		ci.hasAugData = true
		n := r.Uleb()
		ad := &buf{B: r.Bytes(n)}
		if r.Err != nil {
			return nil, cfiErr(r.Err)
		}
		for _, ch := range ci.Aug[1:] {
			switch ch {
			case 'R':
				ci.FDEEnc = ad.U8()
			case 'L':
				ci.LSDAEnc = ad.U8()
			case 'P':
				enc := ad.U8()
				// The personality routine is irrelevant here; skip it,
				// without dereferencing an indirect pointer.
				if _, err := c.readEncoded(ad, enc&^peIndir, 0, 0); err != nil {
					return nil, fmt.Errorf("CIE at %#x: %v", off, err)
				}
			case 'S':
				ci.Signal = true
			case 'B', 'G':
				// AArch64 BTI / MTE: no data.
			default:
				// Unknown: the 'z' length lets us skip the rest.
				goto done
			}
		}
	done:
		if ad.Err != nil {
			return nil, fmt.Errorf("CIE at %#x: truncated augmentation data", off)
		}
	}
	if r.Err != nil {
		return nil, cfiErr(r.Err)
	}
	ci.Initial = r.B[r.Off:]
	return ci, nil
}

// parseFDE parses the FDE at off. Callers hold c.mu.
func (c *CFI) parseFDE(off int, debug bool) (*FDE, error) {
	sec := c.section(debug)
	e, ok, err := readEntry(sec.Data, off, debug)
	if err != nil {
		return nil, err
	}
	if !ok || e.isCIE(debug) {
		return nil, fmt.Errorf("no FDE at %#x", off)
	}
	var cieOff int
	if debug {
		if e.id >= uint64(len(sec.Data)) {
			return nil, fmt.Errorf("FDE at %#x: bad CIE pointer", off)
		}
		cieOff = int(e.id)
	} else {
		// Relative to the CIE pointer field itself.
		if e.id > uint64(e.idOff) {
			return nil, fmt.Errorf("FDE at %#x: bad CIE pointer", off)
		}
		cieOff = e.idOff - int(e.id)
	}
	ci, err := c.cie(cieOff, debug)
	if err != nil {
		return nil, err
	}
	r := e.body
	f := &FDE{CIE: ci}
	enc := ci.FDEEnc
	if debug && enc == peAbsptr && ci.AddrSize == 4 {
		enc = peUdata4
	}
	f.Begin, err = c.readEncoded(r, enc, sec.Addr+uint64(r.Off), c.hdr.Addr)
	if err != nil {
		return nil, fmt.Errorf("FDE at %#x: %v", off, err)
	}
	// The range is a plain size in the same format, never relative.
	size, err := c.readEncoded(r, enc&peFormatMask, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("FDE at %#x: %v", off, err)
	}
	f.End = f.Begin + size
	if f.End < f.Begin {
		return nil, fmt.Errorf("FDE at %#x: range overflows", off)
	}
	if ci.hasAugData {
		n := r.Uleb()
		r.Bytes(n)
	}
	if r.Err != nil {
		return nil, fmt.Errorf("FDE at %#x: truncated", off)
	}
	f.Instructions = r.B[r.Off:]
	return f, nil
}

// maxEntries bounds a section scan.
const maxEntries = 1 << 22

// index scans every FDE of a section. Callers hold c.mu.
func (c *CFI) index(debug bool) []fdeRef {
	sec := c.section(debug)
	var refs []fdeRef
	off := 0
	for n := 0; off < len(sec.Data) && n < maxEntries; n++ {
		e, ok, err := readEntry(sec.Data, off, debug)
		if err != nil || (!ok && !debug) {
			break
		}
		if !ok { // zero length inside .debug_frame: padding
			off += 4
			continue
		}
		if !e.isCIE(debug) {
			if f, err := c.parseFDE(off, debug); err == nil && f.Begin < f.End && f.Begin != 0 {
				refs = append(refs, fdeRef{f.Begin, f.End, off})
			}
		}
		off = e.next
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].begin < refs[j].begin })
	return refs
}

func search(refs []fdeRef, pc uint64) (int, bool) {
	i := sort.Search(len(refs), func(i int) bool { return refs[i].begin > pc }) - 1
	if i < 0 || pc >= refs[i].end {
		return 0, false
	}
	return refs[i].off, true
}

// ErrNoFDE means no CFI covers the address.
var ErrNoFDE = errors.New("no CFI for this address")

// FindFDE returns the FDE covering a link-time pc.
func (c *CFI) FindFDE(pc uint64) (*FDE, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.eh.Data) > 0 {
		if c.hdrCount > 0 {
			i := sort.Search(c.hdrCount, func(i int) bool {
				p, _ := c.tableEntry(i)
				return p > pc
			}) - 1
			if i >= 0 {
				_, fa := c.tableEntry(i)
				if fa >= c.eh.Addr && fa-c.eh.Addr < uint64(len(c.eh.Data)) {
					f, err := c.parseFDE(int(fa-c.eh.Addr), false)
					if err == nil && pc >= f.Begin && pc < f.End {
						return f, nil
					}
				}
			}
		} else {
			if !c.ehDone {
				c.ehIdx, c.ehDone = c.index(false), true
			}
			if off, ok := search(c.ehIdx, pc); ok {
				if f, err := c.parseFDE(off, false); err == nil {
					return f, nil
				}
			}
		}
	}
	if len(c.debug.Data) > 0 {
		if !c.dbgDone {
			c.dbgIdx, c.dbgDone = c.index(true), true
		}
		if off, ok := search(c.dbgIdx, pc); ok {
			if f, err := c.parseFDE(off, true); err == nil {
				return f, nil
			}
		}
	}
	return nil, ErrNoFDE
}

// FDEs lists every FDE (for tests and tools).
func (c *CFI) FDEs() []*FDE {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*FDE
	for _, debug := range []bool{false, true} {
		for _, r := range c.index(debug) {
			if f, err := c.parseFDE(r.off, debug); err == nil {
				out = append(out, f)
			}
		}
	}
	return out
}
