package layout

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/elfx"
	"pyscope/internal/fuzzguard"
	"pyscope/internal/pybuilds"
)

func build(t testing.TB, minor string) *pybuilds.Build {
	t.Helper()
	b, err := pybuilds.Get(minor)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runtimeBlob reads the statically initialised start of _PyRuntime from a
// reference build: libpython's .PyRuntime section up to 3.13, the .dynsym
// symbol of the static 3.14 executable.
func runtimeBlob(t testing.TB, b *pybuilds.Build) []byte {
	t.Helper()
	path := b.Libpython
	if b.Minor >= "3.14" {
		path = b.Python
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != "_PyRuntime" {
			continue
		}
		for _, sec := range f.Sections {
			if sec.Type == elf.SHT_PROGBITS && s.Value >= sec.Addr && s.Value < sec.Addr+sec.Size {
				n := min(uint64(4096), sec.Addr+sec.Size-s.Value)
				buf := make([]byte, n)
				if _, err := sec.ReadAt(buf, int64(s.Value-sec.Addr)); err != nil {
					t.Fatal(err)
				}
				if b.Minor >= "3.13" && sec.Name != ".PyRuntime" {
					t.Errorf("_PyRuntime is in %s, not .PyRuntime", sec.Name)
				}
				return buf
			}
		}
	}
	t.Fatalf("%s: no _PyRuntime in .dynsym", path)
	return nil
}

func dwarfLayout(t testing.TB, b *pybuilds.Build) *Layout {
	t.Helper()
	d, err := OpenDWARF(b.Libpython)
	if err != nil {
		t.Fatal(err)
	}
	l, err := FromDWARF(d, nil, b.Minor)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func diffLayouts(a, b *Layout) []string {
	var out []string
	for _, n := range Fields() {
		x, _ := a.Get(n)
		y, _ := b.Get(n)
		if x != y {
			out = append(out, fmt.Sprintf("%s: %d vs %d", n, x, y))
		}
	}
	return out
}

// TestTablesMatchDWARF fails when tables_gen.go is stale: each committed
// table must equal what FromDWARF reads today from its reference libpython.
func TestTablesMatchDWARF(t *testing.T) {
	for _, minor := range []string{"3.10", "3.11", "3.12", "3.13", "3.13t"} {
		t.Run(minor, func(t *testing.T) {
			var b *pybuilds.Build
			if minor == "3.13t" {
				var err error
				if b, err = pybuilds.GetFreeThreaded(os.Stderr); err != nil {
					t.Fatal(err)
				}
			} else {
				b = build(t, minor)
			}
			tb, ok := tables[minor]
			if !ok {
				t.Fatalf("no table for %s: run go generate ./internal/cpython/layout", minor)
			}
			if tb.Patch != b.Patch {
				t.Fatalf("table is from %s, reference build is %s: run go generate", tb.Patch, b.Patch)
			}
			start := time.Now()
			l := dwarfLayout(t, b)
			t.Logf("FromDWARF(%s) took %v", b.Libpython, time.Since(start))
			if d := diffLayouts(&tb.Layout, l); len(d) > 0 {
				t.Errorf("table %s differs from the DWARF (table vs DWARF); run go generate:\n%s", minor, strings.Join(d, "\n"))
			}
		})
	}
}

// Tag paths must keep resolving: a field that some version has must not be
// -1 everywhere, which is what a misspelt path would give.
func TestEveryTagResolvesSomewhere(t *testing.T) {
	seen := map[string]bool{}
	for _, tb := range tables {
		for _, f := range layoutFields {
			if v := *tb.Layout.ptr(&f); v.Valid() {
				seen[f.Name] = true
			}
		}
	}
	for _, f := range layoutFields {
		if len(f.DWARF) > 0 && !seen[f.Name] && !only314[f.Name] {
			t.Errorf("%s (%v) is -1 in every table", f.Name, f.DWARF)
		}
	}
	for _, f := range layoutFields {
		if f.Dbg == "" {
			continue
		}
		for _, part := range strings.Split(f.Dbg, "-") {
			found := false
			for m := range debugOffsetsLayouts {
				d := &DebugOffsets{Minor: m, Layout: m}
				for _, n := range d.Names() {
					found = found || n == part
				}
			}
			if !found {
				t.Errorf("%s: dbg tag %q names no _Py_DebugOffsets member", f.Name, part)
			}
		}
	}
}

// only314 are fields that first exist in 3.14, which has no DWARF table.
var only314 = map[string]bool{
	"Thread.HoldsGIL": true, "Frame.TLBCIndex": true, "Code.TLBC": true,
	"Thread.AsyncioRunningTask": true, "Thread.AsyncioTasksHead": true, "Interp.AsyncioTasksHead": true,
	"Task.AwaitedBy": true, "Task.IsTask": true, "Task.Node": true,
	"Sync.RLockMutex": true, "Sync.RLockLevel": true,
}

// 3.12's libpython is linked with --emit-relocs: debug/elf applies its
// .rela.debug_info. The result must equal reading the linked bytes as they
// are, which shows the relocations are applied correctly (or harmlessly).
func TestRelocatedDWARF312(t *testing.T) {
	b := build(t, "3.12")
	f, err := elf.Open(b.Libpython)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN || f.Section(".rela.debug_info") == nil {
		t.Fatalf("expected an ET_DYN with .rela.debug_info, got %v", f.Type)
	}
	raw := func(name string) []byte {
		s := f.Section(name)
		if s == nil {
			return nil
		}
		d, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := dwarf.New(raw(".debug_abbrev"), nil, nil, raw(".debug_info"), raw(".debug_line"), nil, raw(".debug_ranges"), raw(".debug_str"))
	if err != nil {
		t.Fatal(err)
	}
	unrelocated, err := FromDWARF(d, nil, "3.12")
	if err != nil {
		t.Fatal(err)
	}
	relocated := dwarfLayout(t, b)
	if diff := diffLayouts(relocated, unrelocated); len(diff) > 0 {
		t.Errorf("relocated vs raw DWARF differ:\n%s", strings.Join(diff, "\n"))
	}
}

// buildID is an ELF file's GNU build-id; the test fails without one.
func buildID(t *testing.T, path string) string {
	t.Helper()
	f, err := elfx.Open(path)
	if err != nil {
		t.Fatalf("%v: install python3.11 and python3.11-dbg", err)
	}
	defer f.Close()
	id := f.BuildID()
	if id == "" {
		t.Fatalf("%s: no build-id; install python3.11 and python3.11-dbg", path)
	}
	return id
}

// Debian's python3.11 is static and stripped; python3.11-dbg ships its
// DWARF as a build-id debug file. FromDWARF must be quick enough to run on
// it at attach time, and the 3.11 table must fit Debian's 3.11.2 too.
func TestDebianDebugFile(t *testing.T) {
	const exe = "/usr/bin/python3.11"
	id := buildID(t, exe)
	path := "/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v: apt-get install python3.11-dbg", err)
	}
	start := time.Now()
	d, err := OpenDWARF(path)
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	l, err := FromDWARF(d, nil, "3.11")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: open %v, FromDWARF %v", path, opened, time.Since(start)-opened)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("reading the debug file took %v", el)
	}
	// Debian builds _asyncio as an extension module with its own debug
	// file: the asyncio members come from there.
	mod := "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so"
	mid := buildID(t, mod)
	md, err := OpenDWARF("/usr/lib/debug/.build-id/" + mid[:2] + "/" + mid[2:] + ".debug")
	if err != nil {
		t.Fatal(err)
	}
	ml, err := FromDWARF(md, nil, "3.11")
	if err != nil {
		t.Fatal(err)
	}
	l.CopyAsyncio(ml)
	t311 := tables["3.11"].Layout
	if diff := diffLayouts(&t311, l); len(diff) > 0 {
		t.Errorf("Debian 3.11 differs from the 3.11 table (table vs Debian):\n%s", strings.Join(diff, "\n"))
	}
}

// The Go description of 3.13's _Py_DebugOffsets must match the struct the
// 3.13 build declares, member by member.
func TestDebugOffsets313MatchesDWARF(t *testing.T) {
	d, err := OpenDWARF(build(t, "3.13").Libpython)
	if err != nil {
		t.Fatal(err)
	}
	ix, _, err := indexTypes(d, nil, map[string]bool{"_Py_DebugOffsets": true})
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{d: d, ix: ix, types: map[string]*dwarf.StructType{}}
	st := r.lookup("_Py_DebugOffsets")
	if st == nil {
		t.Fatal("no struct _Py_DebugOffsets in libpython3.13")
	}
	var got []string
	for _, f := range st.Field {
		sub, ok := strip(f.Type).(*dwarf.StructType)
		if !ok {
			got = append(got, fmt.Sprintf("%s@%d", f.Name, f.ByteOffset))
			continue
		}
		for _, g := range sub.Field {
			if g.Type.Size() != 8 {
				t.Errorf("%s.%s is %d bytes", f.Name, g.Name, g.Type.Size())
			}
			got = append(got, fmt.Sprintf("%s.%s@%d", f.Name, g.Name, f.ByteOffset+g.ByteOffset))
		}
	}
	want := []string{"cookie@0", "version@8", "free_threaded@16"}
	pos := 24
	for _, g := range debugOffsetsLayouts["3.13"] {
		for _, f := range g.fields {
			want = append(want, fmt.Sprintf("%s.%s@%d", g.name, f, pos))
			pos += 8
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DWARF:\n%s\nGo description:\n%s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if int64(pos) != st.ByteSize || DebugOffsetsLen("3.13") != pos {
		t.Errorf("size: DWARF %d, description %d", st.ByteSize, pos)
	}
}

// The _Py_DebugOffsets in 3.13's .PyRuntime must agree with the DWARF.
func TestDebugOffsets313Section(t *testing.T) {
	b := build(t, "3.13")
	dbg, err := ParseDebugOffsets(runtimeBlob(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if dbg.Minor != "3.13" || dbg.FreeThreaded {
		t.Fatalf("parsed %+v", dbg)
	}
	fromDWARF := tables["3.13"].Layout
	applied := &Layout{}
	applied.clear()
	names := dbg.Apply(applied)
	if len(names) < 40 {
		t.Errorf("only %d fields came from _Py_DebugOffsets: %v", len(names), names)
	}
	for _, n := range names {
		a, _ := applied.Get(n)
		w, _ := fromDWARF.Get(n)
		if a != w {
			t.Errorf("%s: _Py_DebugOffsets %d, DWARF %d", n, a, w)
		}
	}
	l, err := For(b.Patch, dbg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffLayouts(l, &fromDWARF); len(diff) > 0 || len(l.Unknown) > 0 {
		t.Errorf("For(%s) differs from the table: %v, unknown %v", b.Patch, diff, l.Unknown)
	}
}

// 3.14.6's initialised _PyRuntime must parse with the 3.14 description:
// version equal to the interpreter's sys.hexversion, and values that fit
// together (which a misplaced member would break).
func TestDebugOffsets314Binary(t *testing.T) {
	b := build(t, "3.14")
	blob := runtimeBlob(t, b)
	dbg, err := ParseDebugOffsets(blob)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(b.Python, "-c", "import sys; print(sys.hexversion)").Output()
	if err != nil {
		t.Fatal(err)
	}
	hexv, _ := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if dbg.Version != hexv || dbg.Minor != "3.14" || dbg.FreeThreaded {
		t.Fatalf("version %#x minor %s ft %v; interpreter says %#x", dbg.Version, dbg.Minor, dbg.FreeThreaded, hexv)
	}
	v := func(n string) uint64 {
		x, ok := dbg.Get(n)
		if !ok {
			t.Fatalf("no %s", n)
		}
		return x
	}
	// Sizes of structs whose size pins neighbouring members.
	checks := []struct {
		what string
		ok   bool
	}{
		{"PyObject is 16 bytes", v("pyobject.size") == 16 && v("pyobject.ob_type") == 8},
		{"ob_size follows the header", v("tuple_object.ob_size") == 16 && v("list_object.ob_size") == 16 && v("bytes_object.ob_size") == 16},
		{"an int has one digit inline", v("long_object.ob_digit")+8 == v("long_object.size")},
		{"a float is header + double", v("float_object.ob_fval")+8 == v("float_object.size")},
		{"the generator embeds its frame last", v("gen_object.gi_iframe")+v("interpreter_frame.size") == v("gen_object.size")},
		{"localsplus ends the frame", v("interpreter_frame.localsplus")+8 == v("interpreter_frame.size")},
		{"co_code_adaptive ends the code object", v("code_object.co_code_adaptive")+8 == v("code_object.size")},
		{"llist_node is {next, prev}", v("llist_node.next") == 0 && v("llist_node.prev") == 8},
		{"script path buffer is Py_MAX_SCRIPT_PATH_SIZE", v("debugger_support.debugger_script_path_size") == 512},
		{"default build: no tlbc", v("code_object.co_tlbc") == 0 && v("interpreter_frame.tlbc_index") == 0},
		{"GIL fields inside _gil", v("interpreter_state.gil_runtime_state_locked") > v("interpreter_state.gil_runtime_state")},
		{"struct ends where _PyRuntimeState goes on", DebugOffsetsLen("3.14") == dbg.Len},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("implausible 3.14 _Py_DebugOffsets: %s", c.what)
		}
	}
	// runtime_state.size is sizeof(_PyRuntimeState): the symbol's size.
	f, _ := elf.Open(b.Python)
	defer f.Close()
	syms, _ := f.DynamicSymbols()
	for _, s := range syms {
		if s.Name == "_PyRuntime" && s.Size != v("runtime_state.size") {
			t.Errorf("runtime_state.size %d, _PyRuntime symbol %d bytes", v("runtime_state.size"), s.Size)
		}
	}
	l, err := For(b.Patch, dbg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3.14 unknown fields: %v", l.Unknown)
}

// Fields the frame walker needs, per version.
var walkerNeeds = map[string][]string{
	"all": {"Runtime.InterpretersHead", "Interp.Next", "Interp.ID", "Interp.ThreadsHead", "Interp.Modules", "Interp.Sysdict", "Interp.Builtins",
		"Thread.Next", "Thread.Interp", "Thread.ThreadID", "Code.Filename", "Code.Name", "Code.Linetable", "Code.Firstlineno",
		"Object.Type", "Object.Size", "Type.Name", "Type.Flags", "Unicode.State", "Unicode.Length", "Unicode.ASCIISize", "Unicode.CompactSize",
		"Tuple.Item", "List.Item", "Dict.Keys", "Dict.Values", "Dict.Used", "Dict.KeysIndices", "Dict.KeysNentries", "Dict.EntrySize",
		"Set.Table", "Set.Mask", "Set.Used", "Long.Digit", "Float.Fval", "Bytes.Sval", "GIL.Locked", "GIL.LastHolder"},
	"3.10": {"Thread.Frame", "FrameObj.Back", "FrameObj.Code", "FrameObj.Lasti", "FrameObj.Localsplus", "Code.Varnames", "Code.Cellvars", "Code.Freevars", "Runtime.CevalGIL", "Dict.KeysSize"},
	"3.11": {"Thread.CFrame", "Thread.CFrameCurrent", "Thread.NativeThreadID", "Frame.Executable", "Frame.Previous", "Frame.InstrPtr", "Frame.Owner", "Frame.IsEntry", "Frame.Localsplus", "Code.Qualname", "Code.CodeAdaptive", "Code.FirstTraceable", "Code.Localsplusnames", "Code.Localspluskinds", "Runtime.CevalGIL", "Dict.KeysLog2Size", "Dict.KeysKind", "Dict.UnicodeEntrySize"},
	"3.12": {"Thread.CFrame", "Thread.CFrameCurrent", "Thread.NativeThreadID", "Frame.Executable", "Frame.Previous", "Frame.InstrPtr", "Frame.Owner", "Frame.Localsplus", "Code.Qualname", "Code.CodeAdaptive", "Code.FirstTraceable", "Code.Localsplusnames", "Code.Localspluskinds", "Interp.CevalGIL", "Interp.GILRuntimeState", "Long.LvTag", "Dict.KeysLog2Size", "Dict.KeysKind", "Dict.UnicodeEntrySize"},
	"3.13": {"Thread.CurrentFrame", "Thread.NativeThreadID", "Thread.Status", "Thread.StatusHoldsGILBit", "Frame.Executable", "Frame.Previous", "Frame.InstrPtr", "Frame.Owner", "Frame.Localsplus", "Frame.StackTop", "Code.Qualname", "Code.CodeAdaptive", "Code.FirstTraceable", "Code.Localsplusnames", "Code.Localspluskinds", "Interp.CevalGIL", "Interp.GILRuntimeState", "Interp.ThreadsMain", "Long.LvTag", "Dict.KeysLog2Size", "Dict.KeysKind", "Dict.UnicodeEntrySize", "Dict.ValuesValues"},
	"3.14": {"Thread.CurrentFrame", "Thread.NativeThreadID", "Thread.HoldsGIL", "Frame.Executable", "Frame.Previous", "Frame.InstrPtr", "Frame.Owner", "Frame.Localsplus", "Frame.StackTop", "Code.Qualname", "Code.CodeAdaptive", "Code.FirstTraceable", "Code.Localsplusnames", "Code.Localspluskinds", "Interp.CevalGIL", "Interp.GILRuntimeState", "Interp.ThreadsMain", "Long.LvTag", "Dict.KeysLog2Size", "Dict.KeysKind", "Dict.UnicodeEntrySize", "Dict.ValuesValues"},
}

func TestForReferenceBuilds(t *testing.T) {
	for _, minor := range pybuilds.Minors() {
		b := build(t, minor)
		l := referenceLayout(t, b)
		if l.Version != minor || l.Source == "" {
			t.Errorf("%s: Version %q Source %q", minor, l.Version, l.Source)
		}
		for _, n := range append(walkerNeeds["all"], walkerNeeds[minor]...) {
			if o, ok := l.Get(n); !ok || !o.Valid() {
				t.Errorf("%s: %s is %d (unknown: %v)", b.Patch, n, o, l.Unknown)
			}
		}
		if minor == "3.14" {
			for _, n := range l.Unknown {
				for _, need := range append(walkerNeeds["all"], walkerNeeds[minor]...) {
					if n == need {
						t.Errorf("3.14: needed field %s is unknown", n)
					}
				}
			}
		} else if len(l.Unknown) > 0 {
			t.Errorf("%s: unknown fields %v", b.Patch, l.Unknown)
		}
		t.Logf("%s: %s; unknown %v", b.Patch, l.Source, l.Unknown)
	}
}

func TestForErrors(t *testing.T) {
	for _, v := range []string{"3.9.18", "3.15.0", "2.7.18", "4.0", "", "three", "3"} {
		_, err := For(v, nil)
		if err == nil {
			t.Errorf("For(%q) accepted", v)
			continue
		}
		if v != "" && !strings.Contains(err.Error(), v) {
			t.Errorf("For(%q): error %q does not name the version", v, err)
		}
	}
	if _, err := For("3.14.6", nil); err == nil {
		t.Error("3.14 without _Py_DebugOffsets accepted")
	}
	dbg, err := ParseDebugOffsets(runtimeBlob(t, build(t, "3.13")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := For("3.14.6", dbg); err == nil {
		t.Error("3.14 with 3.13 debug offsets accepted")
	}
	// A 3.13 patch release that moved a struct: fields of that struct that
	// _Py_DebugOffsets lacks must become unknown, not stale.
	moved := *dbg
	moved.Values = map[string]uint64{}
	for k, v := range dbg.Values {
		moved.Values[k] = v
	}
	moved.Values["code_object.argcount"] += 8
	l, err := For("3.13.9", &moved)
	if err != nil {
		t.Fatal(err)
	}
	if l.Code.Argcount != tables["3.13"].Layout.Code.Argcount+8 || l.Code.Flags.Valid() || !contains(l.Unknown, "Code.FirstTraceable") || contains(l.Unknown, "Type.Basicsize") {
		t.Errorf("moved code object: Argcount %d Flags %d unknown %v", l.Code.Argcount, l.Code.Flags, l.Unknown)
	}
	// A 3.14 whose frame moved: the rules anchored there must not apply.
	d14, err := ParseDebugOffsets(runtimeBlob(t, build(t, "3.14")))
	if err != nil {
		t.Fatal(err)
	}
	m14 := *d14
	m14.Values = map[string]uint64{}
	for k, v := range d14.Values {
		m14.Values[k] = v
	}
	m14.Values["interpreter_frame.instr_ptr"] += 8
	l, err = For("3.14.9", &m14)
	if err != nil {
		t.Fatal(err)
	}
	if l.Frame.Globals.Valid() || !contains(l.Unknown, "Frame.Globals") || !l.Code.FirstTraceable.Valid() {
		t.Errorf("moved 3.14 frame: Globals %d, unknown %v", l.Frame.Globals, l.Unknown)
	}
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func TestMinor(t *testing.T) {
	for in, want := range map[string]string{"3.12.3": "3.12", "3.14.0rc1": "3.14", "3.10": "3.10", "3.11.2+": "3.11", "3.13.0a4": "3.13"} {
		if got, err := Minor(in); err != nil || got != want {
			t.Errorf("Minor(%q) = %q, %v", in, got, err)
		}
	}
}

func TestParseDebugOffsetsBad(t *testing.T) {
	for _, minor := range []string{"3.13", "3.14"} {
		good := runtimeBlob(t, build(t, minor))
		n := DebugOffsetsLen(minor)
		if _, err := ParseDebugOffsets(good[:n]); err != nil {
			t.Fatalf("%s: exact-length blob: %v", minor, err)
		}
		for i := 0; i < n; i++ {
			if _, err := ParseDebugOffsets(good[:i]); err == nil {
				t.Errorf("%s: accepted %d of %d bytes", minor, i, n)
			}
		}
		bad := func(what string, edit func(b []byte)) {
			b := bytes.Clone(good)
			edit(b)
			if _, err := ParseDebugOffsets(b); err == nil {
				t.Errorf("%s: accepted %s", minor, what)
			}
		}
		bad("a bad cookie", func(b []byte) { b[0] = 'X' })
		bad("Python 3.12", func(b []byte) { b[10] = 12 })
		bad("Python 4", func(b []byte) { b[11] = 4 })
		bad("free_threaded 2", func(b []byte) { b[16] = 2 })
		bad("a zero size", func(b []byte) { clear(b[24:32]) })
		bad("a huge size", func(b []byte) { b[31] = 0x7f })
		bad("an offset past its struct", func(b []byte) { b[24+8*2+7] = 1 })
	}
	if _, err := ParseDebugOffsets(nil); err == nil {
		t.Error("accepted nil")
	}
}

func FuzzParseDebugOffsets(f *testing.F) {
	f.Add([]byte("xdebugpy"))
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		d, err := ParseDebugOffsets(b)
		if err != nil {
			return
		}
		if d.Len > len(b) || d.Len != DebugOffsetsLen(d.Layout) {
			t.Fatalf("parsed %d bytes of %d for %s", d.Len, len(b), d.Minor)
		}
		l, err := For(d.Minor+".0", d)
		if err != nil {
			t.Fatalf("For with parsed offsets: %v", err)
		}
		for _, n := range Fields() {
			if o, _ := l.Get(n); o < -1 || o > maxStructSize {
				t.Fatalf("%s = %d", n, o)
			}
		}
	})
}
