package elfx

import (
	"os"
	"testing"

	"pyscope/internal/target"
)

// TestModuleMapTrampolineBelow: a page of a file mapped again just below
// the file's own load (libffi's trampoline page of the library holding
// libffi) is a module of its own, and the load keeps its bias. The file is
// a real shared library; the mappings are laid out as a target had them.
func TestModuleMapTrampolineBelow(t *testing.T) {
	const lib = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(lib); err != nil {
		t.Fatal(err)
	}
	const load = 0x7f0000200000
	maps := []target.Mapping{
		{Start: 0x7f00001f7000, End: 0x7f00001f8000, Offset: 0x27000, Perms: "r-xp", Path: lib},
		{Start: load, End: load + 0x26000, Offset: 0, Perms: "r--p", Path: lib},
		{Start: load + 0x26000, End: load + 0x17c000, Offset: 0x26000, Perms: "r-xp", Path: lib},
	}
	mm := NewModuleMap(maps, nil, os.Open)
	defer mm.Close()
	m := mm.Find(load + 0x30000)
	if m == nil {
		t.Fatal("no module at the load's text")
	}
	if bias, ok := m.Bias(); !ok || bias != load {
		t.Errorf("load's bias %#x (%v), want %#x", bias, ok, uint64(load))
	}
	tr := mm.Find(0x7f00001f7010)
	if tr == nil || tr == m {
		t.Fatalf("the trampoline page is not a module of its own")
	}
	if bias, ok := tr.Bias(); !ok || bias != 0x7f00001f7000-0x27000 {
		t.Errorf("trampoline page's bias %#x (%v), want %#x", bias, ok, uint64(0x7f00001f7000-0x27000))
	}
}
