package elfx

import (
	"debug/dwarf"
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzTopLevel scans arbitrary .debug_info, .debug_abbrev and .debug_str
// bytes (seeds: GCC's DWARF 4 and 5 for a few structs, unions, typedefs
// and an inlined function, in testdata/fuzz/FuzzTopLevel). It must not
// panic nor loop: every entry it visits is at least a byte of the section.
// That it reads what debug/dwarf reads is TestTopLevelMatchesReader's job
// (internal/cpython/layout), on real builds.
func FuzzTopLevel(f *testing.F) {
	fuzzguard.Fuzz(f, func(t *testing.T, info, abbrev, str []byte) {
		s := &DWARFSections{Abbrev: abbrev, Str: str, StrOffsets: str, Info: &Lazy{buf: info, have: len(info)}}
		n := 0
		last := dwarf.Offset(0)
		s.TopLevel(func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool) {
			if n++; n > len(info) {
				t.Fatalf("%d entries in %d bytes", n, len(info))
			}
			if n > 1 && off <= last {
				t.Fatalf("entry at %#x after one at %#x", off, last)
			}
			last = off
		})
	})
}
