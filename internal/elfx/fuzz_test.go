package elfx_test

import (
	"debug/elf"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"pyscope/internal/elfx"
	"pyscope/internal/fuzzguard"
)

// memFile puts data in an anonymous in-memory file (FromFile wants an
// *os.File, and a temp file per input would make fuzzing slow).
func memFile(t *testing.T, data []byte) *os.File {
	fd, err := unix.MemfdCreate("fuzz-elf", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "fuzz-elf")
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// FuzzELF opens arbitrary bytes as an ELF file (seeds: a small static
// executable and a shared object with DWARF, symbols and a build-id note,
// see testdata/fuzz/FuzzELF) and runs every accessor pyscope uses on
// files from targets and cores: symbols, build-id notes, debuglink, load
// addresses and reads through PT_LOAD. Nothing may panic or hang.
func FuzzELF(f *testing.F) {
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte) {
		ef, err := elfx.FromFile(memFile(t, data), "fuzz.elf")
		if err != nil {
			return
		}
		defer ef.Close()
		ef.Symbol("work")
		ef.Symbol("_start")
		// In place, DynSymbol finds what debug/elf's table has.
		got, gotOK := ef.DynSymbol("counter")
		if syms := ef.DynSyms(); syms != nil {
			var want elf.Symbol
			wantOK := false
			for _, s := range syms {
				if s.Name == "counter" && s.Value != 0 {
					want, wantOK = s, true
					break
				}
			}
			if gotOK != wantOK || got.Value != want.Value || got.Size != want.Size || got.Info != want.Info {
				t.Errorf("DynSymbol = %+v, %v; debug/elf has %+v, %v", got, gotOK, want, wantOK)
			}
		}
		ef.BuildID()
		ef.Debuglink()
		ef.HasDWARF()
		ef.HasSymtab()
		var b [256]byte
		if v, ok := ef.FirstLoadVaddr(); ok {
			ef.ReadVaddr(b[:], v)
		}
		for i, p := range ef.Progs {
			if i >= 64 {
				break
			}
			if p.Type == elf.PT_LOAD {
				ef.ReadVaddr(b[:], p.Vaddr)
				ef.ReadVaddr(b[:], p.Vaddr+p.Filesz/2)
				ef.ReadVaddr(b[:], p.Vaddr+p.Filesz-1)
			}
		}
	})
}
