package elfx_test

import (
	"debug/elf"
	"testing"

	"pyscope/internal/elfx"
	"pyscope/internal/testenv"
)

// DynSymbol searches .dynsym in place; it must find what debug/elf's
// symbols give, for every exported name of the interpreters pyscope reads
// and of libc: the first symbol of that name with a value.
func TestDynSymbolMatchesDebugELF(t *testing.T) {
	files := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6"}
	for _, in := range testenv.Interpreters(t) {
		files = append(files, in.Path)
	}
	for _, path := range files {
		all, err := elfx.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		syms := all.DynSyms()
		all.Close()
		if len(syms) == 0 {
			t.Fatalf("%s: no dynamic symbols", path)
		}
		ef, err := elfx.Open(path) // fresh: no DynSyms built
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]elf.Symbol{}
		for _, s := range syms {
			if _, ok := want[s.Name]; !ok && s.Value != 0 && s.Name != "" {
				want[s.Name] = s
			}
		}
		for name, w := range want {
			g, ok := ef.DynSymbol(name)
			if !ok || g.Name != w.Name || g.Value != w.Value || g.Size != w.Size || g.Info != w.Info || g.Other != w.Other || g.Section != w.Section {
				t.Errorf("%s: DynSymbol(%q) = %+v, %v; debug/elf has %+v", path, name, g, ok, w)
			}
		}
		for _, name := range []string{"pyscope_no_such_symbol", "", "Py_Version\x00x"} {
			if _, ok := ef.DynSymbol(name); ok && want[name].Value == 0 {
				t.Errorf("%s: DynSymbol(%q) found a symbol debug/elf has not", path, name)
			}
		}
		t.Logf("%s: %d names", path, len(want))
		ef.Close()
	}
}
