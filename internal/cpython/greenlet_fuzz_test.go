package cpython

import (
	"encoding/binary"
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzGreenletLayout feeds arbitrary words as greenlets' C++ objects to
// the anchor rules and the decoder: they must never panic, and offsets
// they learn stay inside what was read.
func FuzzGreenletLayout(f *testing.F) {
	// A main greenlet and a user greenlet as greenlet 3.2.4 lays them out
	// on 3.12 (words from a live target, addresses shortened).
	seed := func(words ...uint64) []byte {
		b := make([]byte, 8*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		return b
	}
	main := []uint64{0x7000, 0x4000, 0, 0, 0, 0, 0, 0x7ffd0000, ^uint64(0), 0, 0, 0, 0, 0, 0x7ffd1000, 1, 3, 0x9020, 0x9000, 0x90c0, 0xd000, 0x4000, 0x5000}
	user := []uint64{0x7100, 0x4100, 0x6000, 0, 0, 0, 0, 0x7ffc0000, 0x7ffc1000, 0xa000, 0x5c8, 0x8000, 0, 0x8800, 0x7ffc2000, 2, 4, 0x9520, 0x9500, 0x9578, 0x9900, 0x4000, 0, 0x4000}
	f.Add(seed(main...), seed(user...))
	f.Add(seed(main...), []byte{})
	f.Add([]byte{}, seed(user...))
	fuzzguard.Fuzz(f, func(t *testing.T, a, b []byte) {
		words := func(b []byte) []uint64 {
			w := make([]uint64, len(b)/8)
			for i := range w {
				w[i] = binary.LittleEndian.Uint64(b[8*i:])
			}
			return w
		}
		raw := map[uint64][]uint64{0x4000: words(a), 0x4100: words(b)}
		g := &greenlets{version: "fuzz"}
		if err := g.learn(raw); err != nil {
			return
		}
		for _, off := range []uint64{g.stackStop, g.self, g.userMain} {
			if off > 8*pimplWords {
				t.Fatalf("learnt offset %d past the words read", off)
			}
		}
		for obj, w := range raw {
			out, _, _ := g.decode(obj, w)
			if out == nil {
				t.Fatal("no greenlet")
			}
		}
	})
}
