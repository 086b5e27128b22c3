package layout

import (
	"debug/dwarf"
	"debug/elf"
	"os"
	"testing"
	"time"

	"pyscope/internal/elfx"
	"pyscope/internal/pybuilds"
)

// topDIE is one visit of a TopLevelScan.
type topDIE struct {
	off      dwarf.Offset
	tag      dwarf.Tag
	name     string
	decl     bool
	children bool
}

func collect(t *testing.T, scan TopLevelScan) ([]topDIE, time.Duration) {
	t.Helper()
	var out []topDIE
	start := time.Now()
	err := scan(func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool) {
		out = append(out, topDIE{off, tag, string(name), decl, children})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, time.Since(start)
}

// TestTopLevelMatchesReader: elfx's TopLevel, which the layout's type index
// runs on, visits exactly the entries debug/dwarf's Reader gives (with
// SkipChildren below them), with the same names, declarations and
// children, on every kind of DWARF pyscope reads types from: the reference
// builds (DWARF 4 and 5; both sides read 3.12's unrelocated, as the
// layout does), the free-threaded build, and Debian's compressed debug
// files of python3.11, of its _asyncio module and of libc.
func TestTopLevelMatchesReader(t *testing.T) {
	files := map[string]string{}
	for _, minor := range []string{"3.10", "3.11", "3.12", "3.13"} {
		files[minor] = build(t, minor).Libpython
	}
	ft, err := pybuilds.GetFreeThreaded(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	files["3.13t"] = ft.Libpython
	for name, exe := range map[string]string{
		"debian-3.11":         "/usr/bin/python3.11",
		"debian-3.11-asyncio": "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so",
		"libc":                "/lib/x86_64-linux-gnu/libc.so.6",
	} {
		id := buildID(t, exe)
		files[name] = "/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug"
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("%v (install python3.11-dbg and libc6-dbg)", err)
			}
			defer f.Close()
			ef, err := elf.NewFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, s, err := elfx.LoadDWARFSections(ef, f, "", false)
			if err != nil {
				t.Fatal(err)
			}
			want, slow := collect(t, readerScan(d))
			got, fast := collect(t, s.TopLevel)
			t.Logf("%s: %d entries; Reader %v, TopLevel %v", path, len(want), slow, fast)
			if len(want) < 1000 {
				t.Fatalf("only %d entries under the units", len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					lo := max(0, i-3)
					t.Fatalf("entry %d: TopLevel %+v, Reader %+v\nTopLevel %+v\nReader %+v", i, got[i], want[i], got[lo:min(i+3, len(got))], want[lo:min(i+3, len(want))])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("TopLevel visited %d entries, the Reader %d", len(got), len(want))
			}
		})
	}
}
