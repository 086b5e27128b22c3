package cpython

import (
	"encoding/binary"
	"fmt"

	"pyscope/internal/target"
)

// Limits that keep every read bounded, whatever the target holds.
const (
	maxStrBytes     = 1 << 20 // longest string read as a name or path
	maxInterps      = 256
	maxThreads      = 100_000
	maxFrames       = 100_000
	maxDictEntries  = 1 << 20
	maxLinetable    = 1 << 20
	maxCodeUnits    = 1 << 28 // of one code object
	maxTLBC         = 1 << 16 // copies of one code object's bytecode (one per thread)
	maxTupleItems   = 1 << 16
	maxTypeNameLen  = 1024
	minUserAddr     = 0x1000
	maxUserAddr     = 0x0000_8000_0000_0000
	pointerSize     = 8
	pageSize        = 4096
	readChunkMaxLen = 16 << 20
)

// pagedMem puts a one-page memo in front of a target's memory: most
// reads of a walk or a decode fall on the page just read, and with a Pager
// they then cost a slice copy instead of a locked cache lookup.
type pagedMem struct {
	m     target.Memory
	pager target.Pager
	base  uint64
	page  []byte
	pf    *prefetch // during a capture that prefetched (prefetch.go)
	word  [8]byte   // what mem.u64 and u32 read into: on the stack it would escape
}

func newPagedMem(m target.Memory) *pagedMem {
	p := &pagedMem{m: m}
	p.pager, _ = m.(target.Pager)
	return p
}

func (p *pagedMem) ReadAt(b []byte, addr uint64) (int, error) {
	if p.pf != nil && p.pf.on {
		k := p.pf.read(b, addr)
		if k == len(b) {
			return k, nil
		}
		p.pf.note(addr, len(b))
		n, err := p.readAt(b[k:], addr+uint64(k))
		return k + n, err
	}
	return p.readAt(b, addr)
}

func (p *pagedMem) readAt(b []byte, addr uint64) (int, error) {
	if p.pager != nil {
		off := addr & (pageSize - 1)
		if off+uint64(len(b)) <= pageSize {
			base := addr - off
			if p.page == nil || base != p.base {
				pg, ok := p.pager.Page(base)
				if !ok {
					return p.m.ReadAt(b, addr) // let the target say why
				}
				p.base, p.page = base, pg
			}
			return copy(b, p.page[off:]), nil
		}
	}
	return p.m.ReadAt(b, addr)
}

// mem is a typed reader over target memory.
type mem struct {
	m target.Memory
}

func validPtr(a uint64) bool { return a >= minUserAddr && a < maxUserAddr }

func (r mem) read(addr uint64, n int) ([]byte, error) {
	if n < 0 || n > readChunkMaxLen {
		return nil, fmt.Errorf("refusing to read %d bytes at %#x", n, addr)
	}
	if !validPtr(addr) || addr+uint64(n) > maxUserAddr {
		return nil, &target.FaultError{Addr: addr, Len: n}
	}
	b := make([]byte, n)
	if err := r.readInto(b, addr); err != nil {
		return nil, err
	}
	return b, nil
}

// readInto fills b from addr.
func (r mem) readInto(b []byte, addr uint64) error {
	if !validPtr(addr) || addr+uint64(len(b)) > maxUserAddr {
		return &target.FaultError{Addr: addr, Len: len(b)}
	}
	got, err := r.m.ReadAt(b, addr)
	if err != nil {
		return err
	}
	if got != len(b) {
		return &target.FaultError{Addr: addr, Len: len(b)}
	}
	return nil
}

func (r mem) u64(addr uint64) (uint64, error) {
	if pm, ok := r.m.(*pagedMem); ok {
		if err := r.readInto(pm.word[:], addr); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(pm.word[:]), nil
	}
	var b [8]byte
	if err := r.readInto(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (r mem) u32(addr uint64) (uint32, error) {
	if pm, ok := r.m.(*pagedMem); ok {
		if err := r.readInto(pm.word[:4], addr); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint32(pm.word[:4]), nil
	}
	var b [4]byte
	if err := r.readInto(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (r mem) u8(addr uint64) (uint8, error) {
	var b [1]byte
	if err := r.readInto(b[:], addr); err != nil {
		return 0, err
	}
	return b[0], nil
}

// cstring reads a NUL-terminated string of at most max bytes.
func (r mem) cstring(addr uint64, max int) (string, error) {
	var out []byte
	for len(out) < max {
		// Read up to the end of the page so we never cross into an
		// unmapped page needlessly.
		n := pageSize - int(addr%pageSize)
		if n > max-len(out) {
			n = max - len(out)
		}
		b, err := r.read(addr, n)
		if err != nil {
			return "", err
		}
		for i, c := range b {
			if c == 0 {
				return string(append(out, b[:i]...)), nil
			}
		}
		out = append(out, b...)
		addr += uint64(n)
	}
	return string(out), fmt.Errorf("string at %#x longer than %d bytes", addr, max)
}

// field returns base+o, or an error when the field does not exist.
func field(base uint64, o int64, name string) (uint64, error) {
	if o < 0 {
		return 0, fmt.Errorf("field %s is not known for this Python version", name)
	}
	return base + uint64(o), nil
}
