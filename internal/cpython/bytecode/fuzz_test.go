package bytecode

import (
	"slices"
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzBytecode feeds arbitrary bytes (target memory is untrusted) to the
// instruction decoder of every version and to the exception table parser.
func FuzzBytecode(f *testing.F) {
	f.Add([]byte{0x97, 0x00, 0x64, 0x01, 0x53, 0x00}, []byte{0x82, 0x04, 0x0a, 0x02})
	f.Add([]byte{0x90, 0x01, 0x90, 0x02, 0x90, 0x03, 0x90, 0x04, 0x71, 0x00}, []byte{0xc0, 0x40})
	fuzzguard.Fuzz(f, func(t *testing.T, code, table []byte) {
		for _, tb := range tables {
			ins, _ := tb.Decode(code)
			for i, in := range ins {
				if in.Start > in.Offset || in.Next <= in.Offset || (i > 0 && ins[i-1].Next != in.Start) {
					t.Fatalf("%s: inconsistent instruction %+v", tb.Minor, in)
				}
				if At(ins, in.Offset) != i {
					t.Fatalf("%s: At(%d) != %d", tb.Minor, in.Offset, i)
				}
			}
		}
		hs, _ := ExceptionTable(table)
		if len(hs) > len(table) {
			t.Fatalf("%d handlers from %d bytes", len(hs), len(table))
		}
		_, _ = Covering(slices.Clip(hs), 10)
	})
}
