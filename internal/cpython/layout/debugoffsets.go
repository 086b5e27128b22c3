package layout

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// DebugCookie starts _Py_DebugOffsets, the first field of _PyRuntime (3.13+).
const DebugCookie = "xdebugpy"

type dbgGroup struct {
	name   string
	fields []string
}

// debugOffsetsLayouts describes struct _Py_DebugOffsets per minor version:
// after char cookie[8], uint64 version and uint64 free_threaded, every member
// is a uint64, in this order.
//
// 3.13: Include/internal/pycore_runtime.h (checked against the DWARF type in
// libpython3.13 by TestDebugOffsets313MatchesDWARF).
// 3.14: Include/internal/pycore_debug_offsets.h as of 3.14.6 (checked
// against the initialised _PyRuntime of the 3.14.6 build by
// TestDebugOffsets314Binary).
// 3.15: the same header on CPython's 3.15 branch (no 3.15 interpreter could
// be had to check it; TestDebugOffsets315 parses a byte image built from
// the header). 3.15 inserts members inside groups (thread_state,
// type_object, unicode_object, gc) and adds groups, so no older
// description fits it.
var debugOffsetsLayouts = map[string][]dbgGroup{
	"3.13": {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "gc", "imports_modules", "sysdict", "builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled", "gil_runtime_state_locked", "gil_runtime_state_holder"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "thread_id", "native_thread_id", "datastack_chunk", "status"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount", "localsplusnames", "localspluskinds", "co_code_adaptive"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size"}},
		{"gc", []string{"size", "collecting"}},
	},
	"3.14": {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "threads_main", "gc", "imports_modules", "sysdict", "builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled", "gil_runtime_state_locked", "gil_runtime_state_holder", "code_object_generation", "tlbc_generation"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "thread_id", "native_thread_id", "datastack_chunk", "status"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner", "stackpointer", "tlbc_index"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount", "localsplusnames", "localspluskinds", "co_code_adaptive", "co_tlbc"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"set_object", []string{"size", "used", "table", "mask"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size"}},
		{"gc", []string{"size", "collecting"}},
		{"gen_object", []string{"size", "gi_name", "gi_iframe", "gi_frame_state"}},
		{"llist_node", []string{"next", "prev"}},
		{"debugger_support", []string{"eval_breaker", "remote_debugger_support", "remote_debugging_enabled", "debugger_pending_call", "debugger_script_path", "debugger_script_path_size"}},
	},
	"3.15": {
		{"runtime_state", []string{"size", "finalizing", "interpreters_head"}},
		{"interpreter_state", []string{"size", "id", "next", "threads_head", "threads_main", "gc", "imports_modules", "sysdict", "builtins", "ceval_gil", "gil_runtime_state", "gil_runtime_state_enabled", "gil_runtime_state_locked", "gil_runtime_state_holder", "code_object_generation", "tlbc_generation"}},
		{"thread_state", []string{"size", "prev", "next", "interp", "current_frame", "base_frame", "last_profiled_frame", "last_profiled_frame_seq", "thread_id", "native_thread_id", "datastack_chunk", "status", "holds_gil", "gil_requested", "current_exception", "exc_state"}},
		{"err_stackitem", []string{"exc_value"}},
		{"interpreter_frame", []string{"size", "previous", "executable", "instr_ptr", "localsplus", "owner", "stackpointer", "tlbc_index"}},
		{"code_object", []string{"size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount", "localsplusnames", "localspluskinds", "co_code_adaptive", "co_tlbc"}},
		{"pyobject", []string{"size", "ob_type"}},
		{"type_object", []string{"size", "tp_name", "tp_repr", "tp_flags", "tp_basicsize", "tp_dictoffset"}},
		{"heap_type_object", []string{"size", "ht_cached_keys"}},
		{"tuple_object", []string{"size", "ob_item", "ob_size"}},
		{"list_object", []string{"size", "ob_item", "ob_size"}},
		{"set_object", []string{"size", "used", "table", "mask"}},
		{"dict_object", []string{"size", "ma_keys", "ma_values"}},
		{"float_object", []string{"size", "ob_fval"}},
		{"long_object", []string{"size", "lv_tag", "ob_digit"}},
		{"bytes_object", []string{"size", "ob_size", "ob_sval"}},
		{"unicode_object", []string{"size", "state", "length", "asciiobject_size", "compactunicodeobject_size"}},
		{"gc", []string{"size", "collecting", "frame", "generation_stats_size", "generation_stats"}},
		{"gen_object", []string{"size", "gi_name", "gi_iframe", "gi_frame_state"}},
		{"llist_node", []string{"next", "prev"}},
		{"debugger_support", []string{"eval_breaker", "remote_debugger_support", "remote_debugging_enabled", "debugger_pending_call", "debugger_script_path", "debugger_script_path_size"}},
	},
}

// NewestKnown is the newest minor version whose _Py_DebugOffsets layout
// pyscope knows; a newer target is read with this layout only when the
// struct passes every check (see ParseDebugOffsets).
const NewestKnown = "3.15"

// zeroIfAbsent names the members that default builds set to 0 because the
// field only exists with Py_GIL_DISABLED; 0 then means "absent".
var zeroIfAbsent = map[string]bool{
	"interpreter_state.gil_runtime_state_enabled": true,
	"interpreter_state.tlbc_generation":           true,
	"interpreter_frame.tlbc_index":                true,
	"code_object.co_tlbc":                         true,
}

// notOffsets are members that are not offsets inside their group's struct,
// so the plausibility check does not compare them with the group's size.
var notOffsets = map[string]bool{
	"interpreter_state.gil_runtime_state_enabled": true, // inside _gil_runtime_state
	"unicode_object.asciiobject_size":             true, // a size; checked separately
	"unicode_object.compactunicodeobject_size":    true,
	"gc.generation_stats_size":                    true, // sizeof(struct gc_stats)
	"gc.generation_stats":                         true, // checked with its size below
	"debugger_support.debugger_pending_call":      true, // inside _PyRemoteDebuggerSupport
	"debugger_support.debugger_script_path":       true,
	"debugger_support.debugger_script_path_size":  true,
	"debugger_support.eval_breaker":               true, // checked against thread_state
	"debugger_support.remote_debugger_support":    true,
	"debugger_support.remote_debugging_enabled":   true, // against interpreter_state
}

// maxStructSize bounds any plausible CPython struct size.
const maxStructSize = 1 << 24

// DebugOffsets is a parsed _Py_DebugOffsets.
type DebugOffsets struct {
	Version      uint64 // PY_VERSION_HEX of the target
	Minor        string // "3.13"
	FreeThreaded bool
	// Layout is the minor version whose description was used: Minor, or
	// NewestKnown for a newer target whose struct passed every check as
	// that layout.
	Layout string
	Len    int               // bytes the struct occupies
	Values map[string]uint64 // "thread_state.current_frame" → value
}

// DebugOffsetsLen returns the size of _Py_DebugOffsets for a minor version
// ("3.14"), or 0 if unknown.
func DebugOffsetsLen(minor string) int {
	groups, ok := debugOffsetsLayouts[minor]
	if !ok {
		return 0
	}
	n := 24
	for _, g := range groups {
		n += 8 * len(g.fields)
	}
	return n
}

// DebugOffsetsMaxLen is the most bytes ParseDebugOffsets needs.
var DebugOffsetsMaxLen = func() int {
	m := 0
	for k := range debugOffsetsLayouts {
		m = max(m, DebugOffsetsLen(k))
	}
	return m
}()

// ParseDebugOffsets decodes _Py_DebugOffsets from the start of _PyRuntime.
// blob may be longer than the struct. It checks the cookie, the version and
// that the values are plausible, and never panics.
func ParseDebugOffsets(blob []byte) (*DebugOffsets, error) {
	if len(blob) < 24 {
		return nil, fmt.Errorf("_Py_DebugOffsets: only %d bytes, need at least 24", len(blob))
	}
	if string(blob[:8]) != DebugCookie {
		return nil, fmt.Errorf("_Py_DebugOffsets: cookie %q is not %q", blob[:8], DebugCookie)
	}
	le := binary.LittleEndian
	d := &DebugOffsets{Version: le.Uint64(blob[8:])}
	if d.Version>>24 != 3 || d.Version>>32 != 0 {
		return nil, fmt.Errorf("_Py_DebugOffsets: version %#x is not a Python 3 version", d.Version)
	}
	minor := (d.Version >> 16) & 0xff
	d.Minor = fmt.Sprintf("3.%d", minor)
	d.Layout = d.Minor
	groups, ok := debugOffsetsLayouts[d.Minor]
	if !ok {
		if minor < 13 {
			return nil, fmt.Errorf("_Py_DebugOffsets: Python %s has none (they start with 3.13)", d.Minor)
		}
		// Newer than any description: read it as the newest one, which
		// must then pass every check below.
		d.Layout = NewestKnown
		groups = debugOffsetsLayouts[NewestKnown]
	}
	switch ft := le.Uint64(blob[16:]); ft {
	case 0, 1:
		d.FreeThreaded = ft == 1
	default:
		return nil, fmt.Errorf("_Py_DebugOffsets: free_threaded is %d, not 0 or 1", ft)
	}
	d.Len = DebugOffsetsLen(d.Layout)
	if len(blob) < d.Len {
		return nil, fmt.Errorf("_Py_DebugOffsets: only %d bytes, Python %s needs %d", len(blob), d.Layout, d.Len)
	}
	d.Values = make(map[string]uint64, (d.Len-24)/8)
	pos := 24
	for _, g := range groups {
		for _, f := range g.fields {
			d.Values[g.name+"."+f] = le.Uint64(blob[pos:])
			pos += 8
		}
	}
	if err := d.check(groups); err != nil {
		if d.Layout != d.Minor {
			return nil, fmt.Errorf("_Py_DebugOffsets of Python %s do not fit the newest layout pyscope knows (%s): %w", d.Minor, d.Layout, err)
		}
		return nil, fmt.Errorf("_Py_DebugOffsets of Python %s: %w", d.Minor, err)
	}
	return d, nil
}

// check rejects values no real build has: each group's size must be sane
// and each offset must fall inside the struct the group describes.
func (d *DebugOffsets) check(groups []dbgGroup) error {
	for _, g := range groups {
		size, ok := d.Values[g.name+".size"]
		if !ok {
			continue
		}
		if size == 0 || size > maxStructSize {
			return fmt.Errorf("%s.size = %d is implausible", g.name, size)
		}
		for _, f := range g.fields {
			name := g.name + "." + f
			if f == "size" || notOffsets[name] {
				continue
			}
			if v := d.Values[name]; v >= size {
				return fmt.Errorf("%s = %d is not inside its %d-byte struct", name, v, size)
			}
		}
	}
	within := func(name, group string) error {
		v, ok := d.Values[name]
		if !ok {
			return nil
		}
		if size := d.Values[group+".size"]; v >= size {
			return fmt.Errorf("%s = %d is not inside the %d-byte %s", name, v, size, group)
		}
		return nil
	}
	for _, c := range [][2]string{
		{"debugger_support.eval_breaker", "thread_state"},
		{"debugger_support.remote_debugger_support", "thread_state"},
		{"debugger_support.remote_debugging_enabled", "interpreter_state"},
	} {
		if err := within(c[0], c[1]); err != nil {
			return err
		}
	}
	// struct llist_node is two pointers and its group carries no size.
	for _, f := range []string{"llist_node.next", "llist_node.prev"} {
		if v, ok := d.Values[f]; ok && v > 8 {
			return fmt.Errorf("%s = %d is not inside the 16-byte struct llist_node", f, v)
		}
	}
	if a, u := d.Values["unicode_object.asciiobject_size"], d.Values["unicode_object.size"]; a == 0 || a > u {
		return fmt.Errorf("unicode_object.asciiobject_size = %d is not within sizeof(PyUnicodeObject) = %d", a, u)
	}
	if v, ok := d.Values["debugger_support.debugger_script_path_size"]; ok && (v == 0 || v > 1<<20) {
		return fmt.Errorf("debugger_support.debugger_script_path_size = %d is implausible", v)
	}
	if a, u := d.Values["unicode_object.compactunicodeobject_size"], d.Values["unicode_object.asciiobject_size"]; a != 0 && (a < u || a > d.Values["unicode_object.size"]) {
		return fmt.Errorf("unicode_object.compactunicodeobject_size = %d is not between sizeof(PyASCIIObject) and sizeof(PyUnicodeObject)", a)
	}
	if n, ok := d.Values["gc.generation_stats_size"]; ok {
		if n == 0 || n > maxStructSize || d.Values["gc.generation_stats"] >= d.Values["gc.size"] {
			return fmt.Errorf("gc.generation_stats (%d bytes at %d) is implausible", n, d.Values["gc.generation_stats"])
		}
	}
	return d.invariants()
}

// invariants are relations between members that every CPython since 3.13
// keeps, in default and free-threaded builds alike. A description that does
// not fit the struct (a member inserted where pyscope does not expect it)
// breaks them, which is how a target newer than every description is
// accepted only when its struct is laid out as the newest one.
func (d *DebugOffsets) invariants() error {
	v := d.Values
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := v[n]; !ok {
				return false
			}
		}
		return true
	}
	type inv struct {
		what  string
		names []string
		ok    func() bool
	}
	head := v["pyobject.size"]
	for _, c := range []inv{
		{"ob_type ends the object header", []string{"pyobject.size", "pyobject.ob_type"}, func() bool { return v["pyobject.ob_type"]+8 == head && (head == 16 || head == 32) }},
		{"ob_size follows the object header", []string{"tuple_object.ob_size", "list_object.ob_size", "bytes_object.ob_size"}, func() bool {
			return v["tuple_object.ob_size"] == head && v["list_object.ob_size"] == head && v["bytes_object.ob_size"] == head
		}},
		{"a float is the header and a double", []string{"float_object.ob_fval", "float_object.size"}, func() bool { return v["float_object.ob_fval"] == head && v["float_object.size"] == head+8 }},
		{"an int has one digit inline", []string{"long_object.ob_digit", "long_object.size"}, func() bool { return v["long_object.ob_digit"]+8 == v["long_object.size"] }},
		{"localsplus ends the frame", []string{"interpreter_frame.localsplus", "interpreter_frame.size"}, func() bool { return v["interpreter_frame.localsplus"]+8 == v["interpreter_frame.size"] }},
		{"co_code_adaptive ends the code object", []string{"code_object.co_code_adaptive", "code_object.size"}, func() bool { return v["code_object.co_code_adaptive"]+8 == v["code_object.size"] }},
		{"the generator embeds its frame last", []string{"gen_object.gi_iframe", "gen_object.size", "interpreter_frame.size"}, func() bool {
			return v["gen_object.gi_iframe"]+v["interpreter_frame.size"] == v["gen_object.size"]
		}},
		{"llist_node is {next, prev}", []string{"llist_node.next", "llist_node.prev"}, func() bool { return v["llist_node.next"] == 0 && v["llist_node.prev"] == 8 }},
		{"the runtime starts with _Py_DebugOffsets", []string{"runtime_state.interpreters_head"}, func() bool { return v["runtime_state.interpreters_head"] >= uint64(d.Len) }},
		{"free_threaded agrees with the object header", []string{"pyobject.size"}, func() bool { return (head == 32) == d.FreeThreaded }},
	} {
		if has(c.names...) && !c.ok() {
			return fmt.Errorf("%s does not hold", c.what)
		}
	}
	return nil
}

// Get returns a member by "group.field" name.
func (d *DebugOffsets) Get(name string) (uint64, bool) {
	v, ok := d.Values[name]
	return v, ok
}

// Names lists the members in struct order.
func (d *DebugOffsets) Names() []string {
	var out []string
	for _, g := range debugOffsetsLayouts[d.Layout] {
		for _, f := range g.fields {
			out = append(out, g.name+"."+f)
		}
	}
	return out
}

// value evaluates a dbg tag ("a" or "a-b"); ok is false when a member is
// missing in this version, absent is true for a 0 that means "no field".
func (d *DebugOffsets) value(tag string) (v Off, ok bool) {
	a, b, diff := strings.Cut(tag, "-")
	x, ok := d.Values[a]
	if !ok {
		return -1, false
	}
	if zeroIfAbsent[a] && x == 0 {
		return -1, true
	}
	if !diff {
		return Off(x), true
	}
	y, ok := d.Values[b]
	if !ok || y > x {
		return -1, false
	}
	return Off(x - y), true
}

// Apply overwrites every field of l that has a dbg tag this version of
// _Py_DebugOffsets provides, and returns their names, sorted.
func (d *DebugOffsets) Apply(l *Layout) []string {
	var done []string
	for i := range layoutFields {
		f := &layoutFields[i]
		if f.Dbg == "" {
			continue
		}
		if v, ok := d.value(f.Dbg); ok {
			*l.ptr(f) = v
			done = append(done, f.Name)
		}
	}
	sort.Strings(done)
	return done
}
