package symbolize

import (
	"debug/elf"
	"reflect"
	"testing"

	"pyscope/internal/elfx"
	"pyscope/internal/testenv"
)

// TestLazyMatchesEager looks PCs up in the DWARF of Debian's python3.11
// (link-time optimised: inlined functions refer across units) and of
// libc, through the lazy view (only the units needed, found by
// .debug_aranges) and through the whole .debug_info: every answer must be
// the same, and the lazy one must have loaded a small part of the units.
func TestLazyMatchesEager(t *testing.T) {
	testenv.NeedPackages(t, "python3.11", "python3.11-dbg", "libc6-dbg")
	for _, mod := range []string{"/usr/bin/python3.11", "/lib/x86_64-linux-gnu/libc.so.6"} {
		t.Run(mod, func(t *testing.T) {
			f, err := elfx.Open(mod)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dbg, err := elfx.FindDebugFile(f, mod, elfx.DebugOptions{})
			if err != nil || dbg == nil {
				t.Fatalf("no debug file for %s: %v", mod, err)
			}
			defer dbg.Close()
			// Separate sections (no id): nothing shared between the two.
			sec, err := elfx.Sections(dbg.File, dbg.Raw(), "")
			if err != nil {
				t.Fatal(err)
			}
			lazy := newLazyDWARFInfo(sec)
			if lazy == nil {
				t.Fatal("no lazy index (no .debug_aranges?)")
			}
			lazy.sec, lazy.line = sec, sec.Line.Bytes()
			defer lazy.v.free()
			d, err := elfx.LoadDWARF(dbg.File, nil, "", true)
			if err != nil {
				t.Fatal(err)
			}
			eager := newDWARFInfo(d)

			var pcs []uint64
			syms := dbg.Syms()
			for i := 0; i < len(syms); i += max(1, len(syms)/400) {
				s := syms[i]
				if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Size == 0 {
					continue
				}
				pcs = append(pcs, s.Value, s.Value+s.Size/2, s.Value+s.Size-1)
			}
			found := 0
			for _, pc := range pcs {
				a, b := lazy.lookup(pc), eager.lookup(pc)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%#x: lazy %+v, eager %+v", pc, a, b)
				}
				if len(a) > 0 && a[len(a)-1].File != "" {
					found++
				}
			}
			t.Logf("%d PCs, %d with file:line; lazy view loaded %d of the units", len(pcs), found, len(lazy.v.units))
			if found < len(pcs)/2 {
				t.Errorf("only %d of %d PCs found in DWARF", found, len(pcs))
			}
		})
	}
}
