package layout

import (
	"encoding/binary"
	"strings"
	"testing"
)

// header315 is struct _Py_DebugOffsets as CPython's 3.15 branch declares it
// in Include/internal/pycore_debug_offsets.h (transcribed member by member
// from methane/cpython@a93425f6 and taegyunkim/cpython@8543f762, which
// agree; no 3.15.0 tag nor 3.15 interpreter could be had here). One line
// per group, members in declaration order, every member a uint64_t.
const header315 = `
runtime_state: size finalizing interpreters_head
interpreter_state: size id next threads_head threads_main gc imports_modules sysdict builtins ceval_gil gil_runtime_state gil_runtime_state_enabled gil_runtime_state_locked gil_runtime_state_holder code_object_generation tlbc_generation
thread_state: size prev next interp current_frame base_frame last_profiled_frame last_profiled_frame_seq thread_id native_thread_id datastack_chunk status holds_gil gil_requested current_exception exc_state
err_stackitem: exc_value
interpreter_frame: size previous executable instr_ptr localsplus owner stackpointer tlbc_index
code_object: size filename name qualname linetable firstlineno argcount localsplusnames localspluskinds co_code_adaptive co_tlbc
pyobject: size ob_type
type_object: size tp_name tp_repr tp_flags tp_basicsize tp_dictoffset
heap_type_object: size ht_cached_keys
tuple_object: size ob_item ob_size
list_object: size ob_item ob_size
set_object: size used table mask
dict_object: size ma_keys ma_values
float_object: size ob_fval
long_object: size lv_tag ob_digit
bytes_object: size ob_size ob_sval
unicode_object: size state length asciiobject_size compactunicodeobject_size
gc: size collecting frame generation_stats_size generation_stats
gen_object: size gi_name gi_iframe gi_frame_state
llist_node: next prev
debugger_support: eval_breaker remote_debugger_support remote_debugging_enabled debugger_pending_call debugger_script_path debugger_script_path_size
`

func members315() []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(header315), "\n") {
		group, fields, _ := strings.Cut(line, ":")
		for _, f := range strings.Fields(fields) {
			out = append(out, group+"."+f)
		}
	}
	return out
}

// values315 are plausible 3.15 values: 3.14.6's where the member exists
// there, chosen ones (inside their structs) for the new members.
func values315(t *testing.T, freeThreaded bool) map[string]uint64 {
	t.Helper()
	d14, err := ParseDebugOffsets(runtimeBlob(t, build(t, "3.14")))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]uint64{}
	for k, x := range d14.Values {
		v[k] = x
	}
	ts := v["thread_state.size"]
	v["thread_state.size"] = ts + 96
	v["thread_state.base_frame"] = ts
	v["thread_state.last_profiled_frame"] = ts + 80
	v["thread_state.last_profiled_frame_seq"] = ts + 88
	v["thread_state.holds_gil"] = v["thread_state.status"] + 4
	v["thread_state.gil_requested"] = v["thread_state.status"] + 16
	v["thread_state.current_exception"] = v["thread_state.status"] + 40
	v["thread_state.exc_state"] = v["thread_state.status"] + 48
	v["err_stackitem.exc_value"] = 0
	v["type_object.tp_basicsize"] = 32
	v["type_object.tp_dictoffset"] = 288
	v["heap_type_object.size"] = 1000
	v["heap_type_object.ht_cached_keys"] = 952
	v["unicode_object.compactunicodeobject_size"] = 56
	v["gc.frame"] = 48
	v["gc.generation_stats_size"] = 24
	v["gc.generation_stats"] = 56
	v["runtime_state.interpreters_head"] += 128 // the struct grew by 16 members
	v["runtime_state.finalizing"] += 128
	if freeThreaded {
		// PyObject is {ob_tid, flags, mutex, gc_bits, ob_ref_local,
		// ob_ref_shared, ob_type}: everything after it moves by 16.
		for _, k := range []string{"pyobject.size", "pyobject.ob_type", "tuple_object.ob_size", "tuple_object.ob_item", "tuple_object.size",
			"list_object.ob_size", "list_object.ob_item", "list_object.size", "bytes_object.ob_size", "bytes_object.ob_sval", "bytes_object.size",
			"float_object.ob_fval", "float_object.size", "long_object.lv_tag", "long_object.ob_digit", "long_object.size"} {
			v[k] += 16
		}
		v["interpreter_frame.tlbc_index"] = v["interpreter_frame.stackpointer"] + 12
		v["code_object.co_tlbc"] = v["code_object.co_code_adaptive"] - 8
	}
	return v
}

// image315 lays the values out as the 3.15 struct does.
func image315(t *testing.T, hexVersion uint64, freeThreaded bool, v map[string]uint64, members []string) []byte {
	t.Helper()
	b := make([]byte, 24+8*len(members), 4096)
	copy(b, DebugCookie)
	binary.LittleEndian.PutUint64(b[8:], hexVersion)
	if freeThreaded {
		b[16] = 1
	}
	for i, m := range members {
		x, ok := v[m]
		if !ok {
			t.Fatalf("no value for %s", m)
		}
		binary.LittleEndian.PutUint64(b[24+8*i:], x)
	}
	// _PyRuntimeState goes on after the struct.
	return append(b, make([]byte, 512)...)
}

const hex3150 = 0x030F00F0

func TestDebugOffsets315(t *testing.T) {
	members := members315()
	if got, want := strings.Join(members, " "), strings.Join((&DebugOffsets{Layout: "3.15"}).Names(), " "); got != want {
		t.Fatalf("pyscope's 3.15 description differs from the header:\nheader: %s\npyscope: %s", got, want)
	}
	if DebugOffsetsLen("3.15") != 24+8*len(members) {
		t.Fatalf("DebugOffsetsLen(3.15) = %d, header %d", DebugOffsetsLen("3.15"), 24+8*len(members))
	}
	for _, ft := range []bool{false, true} {
		v := values315(t, ft)
		d, err := ParseDebugOffsets(image315(t, hex3150, ft, v, members))
		if err != nil {
			t.Fatalf("free-threaded %v: %v", ft, err)
		}
		if d.Minor != "3.15" || d.Layout != "3.15" || d.FreeThreaded != ft || d.Version != hex3150 {
			t.Fatalf("parsed version %#x minor %s layout %s ft %v", d.Version, d.Minor, d.Layout, d.FreeThreaded)
		}
		for _, m := range members {
			if d.Values[m] != v[m] {
				t.Errorf("%s = %d, image has %d", m, d.Values[m], v[m])
			}
		}
		l, err := For("3.15.0", d)
		if err != nil {
			t.Fatal(err)
		}
		if l.Version != "3.15" || !strings.Contains(l.Source, "3.15 layout") {
			t.Errorf("Version %q Source %q", l.Version, l.Source)
		}
		for field, member := range map[string]string{
			"Thread.CurrentFrame": "thread_state.current_frame", "Thread.NativeThreadID": "thread_state.native_thread_id",
			"Thread.ThreadID": "thread_state.thread_id", "Thread.HoldsGIL": "thread_state.holds_gil", "Thread.Status": "thread_state.status",
			"Type.Basicsize": "type_object.tp_basicsize", "Type.Dictoffset": "type_object.tp_dictoffset",
			"Type.HeapCachedKeys": "heap_type_object.ht_cached_keys", "Type.HeapSize": "heap_type_object.size",
			"Unicode.CompactSize": "unicode_object.compactunicodeobject_size", "Object.Type": "pyobject.ob_type",
			"Frame.Localsplus": "interpreter_frame.localsplus", "Code.CodeAdaptive": "code_object.co_code_adaptive",
		} {
			if got, _ := l.Get(field); int64(got) != int64(v[member]) {
				t.Errorf("free-threaded %v: %s = %d, want %s = %d", ft, field, got, member, v[member])
			}
		}
		if !ft {
			for _, n := range append(walkerNeeds["all"], walkerNeeds["3.14"]...) {
				if o, _ := l.Get(n); !o.Valid() {
					t.Errorf("3.15: %s unknown", n)
				}
			}
		}
		if msg := Untested("3.15.0", ft); !strings.Contains(msg, "3.15.0") || !strings.Contains(msg, NewestTested) || !strings.Contains(msg, "untested") {
			t.Errorf("Untested(3.15.0) = %q", msg)
		}
	}
}

// The 3.14 description cannot read a 3.15 struct: 3.15 inserted members,
// and the checks catch the misreading instead of yielding wrong offsets.
func TestDebugOffsets315NotAs314(t *testing.T) {
	img := image315(t, 0x030E06F0, false, values315(t, false), members315())
	if d, err := ParseDebugOffsets(img); err == nil {
		t.Fatalf("a 3.15 struct labelled 3.14 parsed: %v", d.Values)
	}
}

// A version newer than every description is read as the newest layout only
// when its struct passes every check as that layout.
func TestDebugOffsetsNewerThanKnown(t *testing.T) {
	members := members315()
	v := values315(t, false)
	const hex3160 = 0x031000A1
	d, err := ParseDebugOffsets(image315(t, hex3160, false, v, members))
	if err != nil {
		t.Fatalf("3.16 laid out as 3.15: %v", err)
	}
	if d.Minor != "3.16" || d.Layout != "3.15" {
		t.Fatalf("minor %s layout %s", d.Minor, d.Layout)
	}
	if _, err := For("3.16.0a1", d); err != nil {
		t.Fatal(err)
	}
	if Untested("3.16.0a1", false) == "" {
		t.Error("3.16 reported as tested")
	}
	// A 3.16 that inserts a member in thread_state shifts every member after
	// it: refused, with a reason.
	var shifted []string
	for _, m := range members {
		shifted = append(shifted, m)
		if m == "thread_state.current_frame" {
			shifted = append(shifted, "thread_state.new_member")
		}
	}
	v["thread_state.new_member"] = v["thread_state.current_frame"] + 8
	_, err = ParseDebugOffsets(image315(t, hex3160, false, v, shifted))
	if err == nil || !strings.Contains(err.Error(), "3.16") || !strings.Contains(err.Error(), "3.15") {
		t.Fatalf("3.16 with an inserted member: %v", err)
	}
	// A 3.12 never has _Py_DebugOffsets.
	if _, err := ParseDebugOffsets(image315(t, 0x030C03F0, false, values315(t, false), members)); err == nil {
		t.Error("3.12 with _Py_DebugOffsets accepted")
	}
}
