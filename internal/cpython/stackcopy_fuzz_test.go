package cpython

import (
	"encoding/binary"
	"testing"

	"pyscope/internal/fuzzguard"
)

// seedStack lays out, at fuzzBase, a data stack chunk (previous, size,
// top) holding three 3.12 frames chained innermost to outermost, each
// naming a code pointer: the shape a walk copies, for mutations to break.
func seedStack(t testing.TB) ([]byte, uint16) {
	l, _ := fuzzLayout(t, 2)
	L := l.Frame
	b := make([]byte, 4096)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	put(0, 0)              // previous chunk
	put(8, uint64(len(b))) // size
	put(16, 0)             // top (unknown for the newest)
	frame := func(i int) int { return chunkHeader + i*256 }
	for i := 0; i < 3; i++ {
		f := frame(i)
		if i > 0 {
			put(f+int(L.Previous), fuzzBase+uint64(frame(i-1)))
		}
		put(f+int(L.Executable), fuzzBase+3000)
		put(f+int(L.InstrPtr), fuzzBase+3100)
	}
	return b, uint16(frame(2))
}

// FuzzStackCopy walks frames out of arbitrary memory through the copy of
// a data stack (chunk headers, sizes, chained chunks, frames in and out of
// the copy): it must never panic, loop, or read without bound.
func FuzzStackCopy(f *testing.F) {
	data, head := seedStack(f)
	f.Add(byte(2), head, uint16(0), data)
	f.Add(byte(3), head, uint16(0), data)
	f.Add(byte(1), head, uint16(8), data)
	fuzzguard.Fuzz(f, func(t *testing.T, sel byte, head, chunk uint16, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		l, minor := fuzzLayout(t, sel)
		if minor < 11 {
			return
		}
		m := &fuzzMem{data: data}
		r := &Reader{In: &Interpreter{Minor: minor, Layout: l}, Obj: NewObjects(mem{m}, l, minor)}
		raws, _ := r.captureFrames(fuzzBase+uint64(head), fuzzBase+uint64(chunk))
		if len(raws) > maxFrames {
			t.Fatalf("%d frames", len(raws))
		}
		if m.reads > 4*maxFrames+maxChunks+16 {
			t.Fatalf("%d reads for one walk", m.reads)
		}
	})
}
