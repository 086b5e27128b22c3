package symbolize

import (
	"debug/elf"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"pyscope/internal/elfx"
	"pyscope/internal/fuzzguard"
)

// FuzzLookup symbolizes addresses in arbitrary bytes opened as an ELF
// module (seeds: small executables with DWARF, an inlined function and a
// symbol table, see testdata/fuzz/FuzzLookup): symbol tables, DWARF
// compilation units, DIE trees (inlining, abstract origins) and line
// programs all come from the input. Nothing may panic, hang or blow up.
func FuzzLookup(f *testing.F) {
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte, pc uint64) {
		fd, err := unix.MemfdCreate("fuzz-elf", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		file := os.NewFile(uintptr(fd), "fuzz-elf")
		if _, err := file.Write(data); err != nil {
			file.Close()
			t.Fatal(err)
		}
		ef, err := elfx.FromFile(file, "fuzz.elf")
		if err != nil {
			return
		}
		defer ef.Close()
		m := &module{em: &elfx.Module{Path: "/fuzz.elf"}, file: ef, ok: true}
		m.lookup(pc)
		for i, p := range ef.Progs {
			if i >= 16 {
				break
			}
			if p.Type == elf.PT_LOAD {
				m.lookup(p.Vaddr)
				m.lookup(p.Vaddr + p.Memsz/2)
			}
		}
		for i, s := range m.syms {
			if i >= 32 {
				break
			}
			m.lookup(s.addr)
			m.lookup(s.addr + s.size/2)
		}
		if m.dw != nil {
			for i, c := range m.dw.cus {
				if i >= 32 {
					break
				}
				m.lookup(c.lo)
				m.lookup(c.lo + (c.hi-c.lo)/2)
			}
		}
	})
}
