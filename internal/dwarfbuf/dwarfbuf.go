// Package dwarfbuf reads the little-endian encodings of DWARF sections
// (fixed-size integers, LEB128, C strings) from untrusted bytes. The first
// read past the end sets Err and moves Off to the end; every read after it
// returns zero, so a parser can check Err once after a run of reads.
package dwarfbuf

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// ErrTruncated is Err after a read past the end.
var ErrTruncated = errors.New("truncated")

// Buf reads B from Off, which a caller sets within [0, len(B)].
type Buf struct {
	B   []byte
	Off int
	Err error
}

// Left is how many bytes are left to read.
func (r *Buf) Left() int { return len(r.B) - r.Off }

// Fail stops the reading: Err is set (if it was not) and nothing is left.
func (r *Buf) Fail() {
	if r.Err == nil {
		r.Err = ErrTruncated
	}
	r.Off = len(r.B)
}

func (r *Buf) need(n int) bool {
	if r.Err != nil || n < 0 || n > len(r.B)-r.Off {
		r.Fail()
		return false
	}
	return true
}

func (r *Buf) U8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.Off++
	return r.B[r.Off-1]
}

func (r *Buf) U16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.Off += 2
	return binary.LittleEndian.Uint16(r.B[r.Off-2:])
}

func (r *Buf) U32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.Off += 4
	return binary.LittleEndian.Uint32(r.B[r.Off-4:])
}

func (r *Buf) U64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.Off += 8
	return binary.LittleEndian.Uint64(r.B[r.Off-8:])
}

// Uint reads an n-byte unsigned integer, 0 < n <= 8.
func (r *Buf) Uint(n int) uint64 {
	if n <= 0 || n > 8 || !r.need(n) {
		r.Fail()
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(r.B[r.Off+i])
	}
	r.Off += n
	return v
}

// Offset reads a section offset of 64-bit DWARF (size 8) or 32-bit.
func (r *Buf) Offset(size int) uint64 {
	if size == 8 {
		return r.U64()
	}
	return uint64(r.U32())
}

func (r *Buf) Uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if !r.need(1) {
			return 0
		}
		c := r.B[r.Off]
		r.Off++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *Buf) Sleb() int64 {
	var v int64
	for shift := uint(0); ; {
		if !r.need(1) {
			return 0
		}
		c := r.B[r.Off]
		r.Off++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

// Bytes reads the next n bytes (a slice of B).
func (r *Buf) Bytes(n uint64) []byte {
	if n > uint64(r.Left()) || !r.need(int(n)) {
		r.Fail()
		return nil
	}
	r.Off += int(n)
	return r.B[r.Off-int(n) : r.Off]
}

// Skip moves past n bytes.
func (r *Buf) Skip(n uint64) { r.Bytes(n) }

// CString reads a NUL-terminated string, without its NUL.
func (r *Buf) CString() []byte {
	if r.Err != nil {
		return nil
	}
	i := bytes.IndexByte(r.B[r.Off:], 0)
	if i < 0 {
		r.Fail()
		return nil
	}
	s := r.B[r.Off : r.Off+i]
	r.Off += i + 1
	return s
}
