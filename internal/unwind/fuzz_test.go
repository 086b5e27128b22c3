package unwind

import (
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzParseCFI feeds arbitrary bytes as .eh_frame (with and without a
// header) and as .debug_frame: parsing, lookups and rows must not panic
// or loop.
func FuzzParseCFI(f *testing.F) {
	f.Add([]byte{0x14, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b, 0x0c, 7, 8, 0x90, 1, 0, 0})
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte) {
		readPtr := func(uint64) (uint64, bool) { return 0x1234, true }
		cs := []*CFI{
			NewCFI(Section{Data: data, Addr: 0x1000}, Section{}, Section{}, readPtr),
			NewCFI(Section{}, Section{}, Section{Data: data}, readPtr),
			NewCFI(Section{Data: data, Addr: 0x1000}, Section{Data: data, Addr: 0x1000}, Section{}, readPtr),
		}
		for _, c := range cs {
			fdes := c.FDEs()
			for i, fd := range fdes {
				if i > 64 {
					break
				}
				for _, pc := range []uint64{fd.Begin, fd.Begin + (fd.End-fd.Begin)/2, fd.End - 1} {
					c.Row(fd, pc)
					c.FindFDE(pc)
				}
			}
			c.FindFDE(0x1000)
			c.FindFDE(0)
		}
	})
}

// FuzzDWARFExpr evaluates arbitrary expressions against fake registers
// and memory.
func FuzzDWARFExpr(f *testing.F) {
	f.Add(pltExpr)
	f.Add([]byte{0x77, 0xa0, 0x01, 0x06})
	f.Add([]byte{0x31, 0x28, 0xfd, 0xff})
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte) {
		env := fakeEnv{regs: map[uint64]uint64{7: 0x100, 16: 0x400000, 6: 0}, mem: map[uint64]uint64{0x100: 0x200, 0x200: 0x100}}
		evalExpr(data, env)
		evalExpr(data, env, 0x100)
	})
}
