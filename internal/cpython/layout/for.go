package layout

//go:generate go run ./gen

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// table is one generated layout and the build it was read from.
type table struct {
	Patch   string // "3.12.3"
	BuildID string // GNU build-id of that libpython ("" if it has none)
	SHA256  string // of that libpython file
	Layout  Layout
}

// tables is filled by tables_gen.go (go generate); keeping the variable
// here lets the package, and so the generator, build without that file.
var tables = map[string]table{}

// Supported lists the minor versions For accepts without _Py_DebugOffsets
// of a newer version.
var Supported = []string{"3.10", "3.11", "3.12", "3.13", "3.14"}

// NewestTested is the newest minor version the test suite reads from a real
// interpreter. Newer targets are read from their own _Py_DebugOffsets,
// untested.
const NewestTested = "3.14"

// testedFreeThreaded are the free-threaded minors the test suite runs.
var testedFreeThreaded = map[string]bool{"3.13": true}

// Untested returns why a target of this version and build is untested, or
// "" when the test suite reads such an interpreter.
func Untested(version string, freeThreaded bool) string {
	minor, err := Minor(version)
	if err != nil {
		return ""
	}
	switch {
	case minorNumber(minor) > minorNumber(NewestTested):
		return fmt.Sprintf("Python %s is newer than the newest version pyscope is tested on (%s): it is read from its own _Py_DebugOffsets and is untested until such an interpreter can be had", version, NewestTested)
	case freeThreaded && !testedFreeThreaded[minor]:
		return fmt.Sprintf("free-threaded Python %s is untested (pyscope is tested on free-threaded 3.13): it is read from its own _Py_DebugOffsets until such an interpreter can be had", version)
	}
	return ""
}

// minorNumber is 14 for "3.14", -1 when it is not a Python 3 version.
func minorNumber(minor string) int {
	rest, ok := strings.CutPrefix(minor, "3.")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return -1
	}
	return n
}

// rule derives a 3.14 offset that _Py_DebugOffsets lacks. The field keeps
// its 3.13 distance from Anchors[0] (or Delta, when set), and only if every
// anchor moved by the same amount between the 3.13 table and the target's
// _Py_DebugOffsets: the region between them is unchanged in the source.
type rule struct {
	Field   string
	Anchors []string // "" means the start of the struct
	Delta   *int64
	Why     string
}

func delta(n int64) *int64 { return &n }

// rules314 covers default (GIL) 3.14 builds; each Why cites the 3.14 source.
// TestLive314 checks them against a running 3.14.6.
var rules314 = []rule{
	{Field: "Runtime.InterpretersMain", Anchors: []string{"Runtime.InterpretersHead"}, Why: "struct pyinterpreters {mutex, head, main, next_id} is unchanged"},
	{Field: "Runtime.MainThread", Anchors: []string{"Runtime.InterpretersHead"}, Why: "main_thread still follows struct pyinterpreters"},
	{Field: "Thread.HoldsGIL", Anchors: []string{"Thread.Status"}, Delta: delta(4), Why: "3.14 moved holds_gil out of the 32-bit _status bitfield into the int right after it"},
	{Field: "Thread.State", Anchors: []string{"Thread.Status"}, Delta: delta(12), Why: "_status is followed by int holds_gil, int _whence, int state"},
	{Field: "Frame.FuncObj", Anchors: []string{"Frame.Previous", "Frame.InstrPtr"}, Why: "f_executable, previous, f_funcobj, f_globals, f_builtins, f_locals, frame_obj, instr_ptr keep their order"},
	{Field: "Frame.Globals", Anchors: []string{"Frame.Previous", "Frame.InstrPtr"}, Why: "as Frame.FuncObj"},
	{Field: "Frame.Builtins", Anchors: []string{"Frame.Previous", "Frame.InstrPtr"}, Why: "as Frame.FuncObj"},
	{Field: "Frame.Locals", Anchors: []string{"Frame.Previous", "Frame.InstrPtr"}, Why: "as Frame.FuncObj"},
	{Field: "Frame.FrameObj", Anchors: []string{"Frame.Previous", "Frame.InstrPtr"}, Why: "as Frame.FuncObj"},
	{Field: "FrameObj.Back", Anchors: []string{""}, Why: "PyFrameObject still starts with f_back, f_frame, f_trace, f_lineno"},
	{Field: "FrameObj.Frame", Anchors: []string{""}, Why: "as FrameObj.Back"},
	{Field: "FrameObj.Lineno", Anchors: []string{""}, Why: "as FrameObj.Back"},
	{Field: "Code.PosOnlyArgcount", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "co_flags .. co_version are the same ints in the same order"},
	{Field: "Code.KwOnlyArgcount", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.PosOnlyArgcount"},
	{Field: "Code.Flags", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.PosOnlyArgcount"},
	{Field: "Code.Nlocals", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.PosOnlyArgcount"},
	{Field: "Code.NlocalsPlus", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.PosOnlyArgcount"},
	{Field: "Code.FirstTraceable", Anchors: []string{"Code.CodeAdaptive"}, Why: "int _co_firsttraceable; void *co_extra; char co_code_adaptive[] end the struct in default builds"},
	{Field: "Object.Refcnt", Anchors: []string{"Object.Type"}, Why: "PyObject is {ob_refcnt (union), ob_type} in default builds"},
	{Field: "Type.Basicsize", Anchors: []string{"Type.Name", "Type.Flags"}, Why: "PyTypeObject only grew at its end"},
	{Field: "Type.Itemsize", Anchors: []string{"Type.Name", "Type.Flags"}, Why: "as Type.Basicsize"},
	{Field: "Type.Dictoffset", Anchors: []string{"Type.Flags"}, Why: "as Type.Basicsize"},
	{Field: "Type.Base", Anchors: []string{"Type.Flags"}, Why: "as Type.Basicsize"},
	{Field: "Type.Dict", Anchors: []string{"Type.Flags"}, Why: "as Type.Basicsize"},
	{Field: "Type.Mro", Anchors: []string{"Type.Flags"}, Why: "as Type.Basicsize"},
	{Field: "Type.HeapSlots", Anchors: []string{"Type.Size"}, Why: "PyHeapTypeObject keeps ht_type, the method suites, ht_name, ht_slots, ht_qualname, ht_cached_keys, ht_module; 3.14 adds ht_token after them"},
	{Field: "Type.HeapQualname", Anchors: []string{"Type.Size"}, Why: "as Type.HeapSlots"},
	{Field: "Type.HeapCachedKeys", Anchors: []string{"Type.Size"}, Why: "as Type.HeapSlots"},
	{Field: "Type.HeapModule", Anchors: []string{"Type.Size"}, Why: "as Type.HeapSlots"},
	{Field: "Unicode.CompactSize", Anchors: []string{"Unicode.ASCIISize"}, Why: "PyCompactUnicodeObject is {PyASCIIObject, utf8_length, utf8}"},
	{Field: "Unicode.DataAny", Anchors: []string{"Unicode.ASCIISize"}, Why: "PyUnicodeObject is {PyCompactUnicodeObject, data}"},
	{Field: "Bytes.ArrayAlloc", Anchors: []string{"Object.Size"}, Why: "PyByteArrayObject is {VAR_HEAD, ob_alloc, ob_bytes, ob_start, ob_exports}"},
	{Field: "Bytes.ArrayBytes", Anchors: []string{"Object.Size"}, Why: "as Bytes.ArrayAlloc"},
	{Field: "Bytes.ArrayStart", Anchors: []string{"Object.Size"}, Why: "as Bytes.ArrayAlloc"},
	{Field: "List.Allocated", Anchors: []string{"List.Item"}, Why: "PyListObject is {VAR_HEAD, ob_item, allocated}"},
	{Field: "Dict.Used", Anchors: []string{"Dict.Keys"}, Why: "PyDictObject is {HEAD, ma_used, _ma_watcher_tag, ma_keys, ma_values}"},
	{Field: "Dict.KeysLog2Size", Anchors: []string{""}, Why: "struct _dictkeysobject is unchanged in default builds"},
	{Field: "Dict.KeysLog2IndexBytes", Anchors: []string{""}, Why: "as Dict.KeysLog2Size"},
	{Field: "Dict.KeysKind", Anchors: []string{""}, Why: "as Dict.KeysLog2Size"},
	{Field: "Dict.KeysUsable", Anchors: []string{""}, Why: "as Dict.KeysLog2Size"},
	{Field: "Dict.KeysNentries", Anchors: []string{""}, Why: "as Dict.KeysLog2Size"},
	{Field: "Dict.KeysIndices", Anchors: []string{""}, Why: "as Dict.KeysLog2Size"},
	{Field: "Dict.EntrySize", Anchors: []string{""}, Why: "PyDictKeyEntry is {me_hash, me_key, me_value}"},
	{Field: "Dict.UnicodeEntrySize", Anchors: []string{""}, Why: "PyDictUnicodeEntry is {me_key, me_value}"},
	{Field: "Dict.EntryKey", Anchors: []string{""}, Why: "as Dict.EntrySize"},
	{Field: "Dict.EntryValue", Anchors: []string{""}, Why: "as Dict.EntrySize"},
	{Field: "Dict.UnicodeEntryKey", Anchors: []string{""}, Why: "as Dict.UnicodeEntrySize"},
	{Field: "Dict.UnicodeEntryValue", Anchors: []string{""}, Why: "as Dict.UnicodeEntrySize"},
	{Field: "Dict.ValuesCapacity", Anchors: []string{""}, Why: "struct _dictvalues is {capacity, size, embedded, valid, values[]}"},
	{Field: "Dict.ValuesSize", Anchors: []string{""}, Why: "as Dict.ValuesCapacity"},
	{Field: "Dict.ValuesEmbedded", Anchors: []string{""}, Why: "as Dict.ValuesCapacity"},
	{Field: "Dict.ValuesValues", Anchors: []string{""}, Why: "as Dict.ValuesCapacity"},
	{Field: "Dict.ValuesValid", Anchors: []string{""}, Why: "as Dict.ValuesCapacity"},
	{Field: "Set.Fill", Anchors: []string{"Set.Used", "Set.Mask"}, Why: "PySetObject starts {HEAD, fill, used, mask, table}"},
	{Field: "Set.EntrySize", Anchors: []string{""}, Why: "setentry is {key, hash}"},
	{Field: "Set.EntryKey", Anchors: []string{""}, Why: "as Set.EntrySize"},
	{Field: "Complex.Cval", Anchors: []string{""}, Why: "PyComplexObject is {HEAD, cval}"},
	{Field: "Cell.Ref", Anchors: []string{""}, Why: "PyCellObject is {HEAD, ob_ref}"},
	{Field: "Func.Globals", Anchors: []string{""}, Why: "PyFunctionObject keeps the common fields, func_doc, func_dict, func_weakreflist, func_module; 3.14 adds func_annotate after them"},
	{Field: "Func.Name", Anchors: []string{""}, Why: "as Func.Globals"},
	{Field: "Func.Qualname", Anchors: []string{""}, Why: "as Func.Globals"},
	{Field: "Func.Code", Anchors: []string{""}, Why: "as Func.Globals"},
	{Field: "Func.Closure", Anchors: []string{""}, Why: "as Func.Globals"},
	{Field: "Func.Module", Anchors: []string{""}, Why: "as Func.Globals"},
	{Field: "Module.Dict", Anchors: []string{""}, Why: "PyModuleObject is {HEAD, md_dict, md_def, md_state, md_weaklist, md_name} in default builds"},
	{Field: "Module.Name", Anchors: []string{""}, Why: "as Module.Dict"},
	{Field: "Gen.Qualname", Anchors: []string{"Gen.Name"}, Why: "gi_qualname follows gi_name"},
	{Field: "Exc.Args", Anchors: []string{""}, Why: "PyBaseExceptionObject starts {HEAD, dict, args}"},
	{Field: "Exc.Traceback", Anchors: []string{""}, Why: "3.14's PyException_HEAD is {HEAD, dict, args, notes, traceback, context, cause, suppress_context}, as 3.13's"},
	{Field: "Exc.Context", Anchors: []string{""}, Why: "as Exc.Traceback"},
	{Field: "Exc.Cause", Anchors: []string{""}, Why: "as Exc.Traceback"},
	{Field: "Exc.SuppressContext", Anchors: []string{""}, Why: "as Exc.Traceback"},
	{Field: "Tb.Next", Anchors: []string{""}, Why: "struct _traceback is {HEAD, tb_next, tb_frame, int tb_lasti, int tb_lineno}, as in 3.13"},
	{Field: "Tb.Frame", Anchors: []string{""}, Why: "as Tb.Next"},
	{Field: "Tb.Lasti", Anchors: []string{""}, Why: "as Tb.Next"},
	{Field: "Tb.Lineno", Anchors: []string{""}, Why: "as Tb.Next"},
	{Field: "CFunction.Ml", Anchors: []string{"Object.Type"}, Why: "PyCFunctionObject is {HEAD, m_ml, m_self, m_module, m_weakreflist, vectorcall}"},
	{Field: "CFunction.Self", Anchors: []string{"Object.Type"}, Why: "as CFunction.Ml"},
	{Field: "GIL.SwitchNumber", Anchors: []string{"GIL.Locked"}, Delta: delta(8), Why: "struct _gil_runtime_state keeps {interval, last_holder, int locked, unsigned long switch_number}: the int is padded to 8"},
	{Field: "MethodDef.Name", Anchors: []string{""}, Why: "PyMethodDef is {ml_name, ml_meth, ml_flags, ml_doc}"},
	{Field: "FutureIter.Future", Anchors: []string{""}, Why: "_asyncio's futureiterobject is {HEAD, future}"},
	{Field: "Weakref.Object", Anchors: []string{""}, Why: "_PyWeakReference starts {HEAD, wr_object, wr_callback, hash}"},
	{Field: "Method.Func", Anchors: []string{""}, Why: "PyMethodObject is {HEAD, im_func, im_self, im_weakreflist, vectorcall}"},
	{Field: "Method.Self", Anchors: []string{""}, Why: "as Method.Func"},
	{Field: "Partial.Fn", Anchors: []string{""}, Why: "functools' partialobject starts {HEAD, fn, args, kw}"},
	{Field: "Partial.Args", Anchors: []string{""}, Why: "as Partial.Fn"},
	{Field: "AsyncGen.ASendGen", Anchors: []string{""}, Why: "PyAsyncGenASend starts {HEAD, ags_gen}"},
	{Field: "AsyncGen.AThrowGen", Anchors: []string{""}, Why: "PyAsyncGenAThrow starts {HEAD, agt_gen}"},
	{Field: "AsyncGen.CoroWrapped", Anchors: []string{""}, Why: "PyCoroWrapper is {HEAD, cw_coroutine}"},
	{Field: "GC.Generations", Anchors: []string{"Interp.GC"}, Delta: delta(24), Why: "struct _gc_runtime_state starts {trash_delete_later, trash_delete_nesting, enabled, debug} then the three generations (young, old[2] up to 3.14.4; generations[3] from 3.14.5)"},
	{Field: "GC.GenerationSize", Anchors: []string{""}, Why: "struct gc_generation is {PyGC_Head head, threshold, count}"},
	{Field: "GC.Permanent", Anchors: []string{"Interp.GC"}, Delta: delta(96), Why: "permanent_generation follows the three generations directly (3.14.5 moved generation0 to the end of the struct)"},
	{Field: "GC.HeadSize", Anchors: []string{""}, Why: "PyGC_Head is {_gc_next, _gc_prev}"},
	{Field: "GC.Stats", Anchors: []string{"Interp.GC"}, Delta: delta(120), Why: "generation_stats[3] follows permanent_generation (0x78 in 3.14.0-3.14.4 and, kept in place, in 3.14.5+)"},
	{Field: "GC.StatsSize", Anchors: []string{""}, Why: "struct gc_generation_stats is {collections, collected, uncollectable}"},
	{Field: "Code.Stacksize", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.PosOnlyArgcount"},
	{Field: "Code.Exceptiontable", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "co_consts, co_names, co_exceptiontable still precede co_flags"},
	{Field: "Code.Names", Anchors: []string{"Code.Argcount", "Code.Firstlineno"}, Why: "as Code.Exceptiontable"},
	{Field: "GIL.Size", Anchors: []string{"GIL.Locked"}, Why: "struct _gil_runtime_state {interval, last_holder, locked, switch_number, cond, mutex, switch_cond, switch_mutex} is unchanged in default builds"},
	{Field: "Sync.LockMutex", Anchors: []string{"Object.HeadSize"}, Why: "lockobject is {PyObject_HEAD, PyMutex lock}, as in 3.13"},
	{Field: "Sync.RLockMutex", Anchors: []string{"Object.HeadSize"}, Delta: delta(0), Why: "3.14's rlockobject is {PyObject_HEAD, _PyRecursiveMutex lock} and _PyRecursiveMutex is {PyMutex mutex, unsigned long long thread, size_t level}"},
	{Field: "Sync.RLockOwner", Anchors: []string{"Object.HeadSize"}, Delta: delta(8), Why: "as Sync.RLockMutex"},
	{Field: "Sync.RLockLevel", Anchors: []string{"Object.HeadSize"}, Delta: delta(16), Why: "as Sync.RLockMutex"},
	{Field: "Sync.WaitEntryAddr", Anchors: []string{""}, Why: "Python/parking_lot.c's struct wait_entry {park_arg, addr, sema, node, is_unparking} is unchanged"},
	{Field: "Sync.WaitEntrySema", Anchors: []string{""}, Why: "as Sync.WaitEntryAddr"},
	{Field: "Sync.ThreadHandle", Anchors: []string{"Object.HeadSize"}, Why: "PyThreadHandleObject is {PyObject_HEAD, ThreadHandle *handle}"},
	{Field: "Sync.ThreadHandleExiting", Anchors: []string{""}, Why: "ThreadHandle keeps {node, shutdown_node, ident, os_handle, has_os_handle, state, mutex, thread_is_exiting}"},
}

// absent314 are fields 3.13 has and 3.14 dropped.
var absent314 = map[string]string{
	"Thread.StatusHoldsGILBit": "holds_gil is its own field in 3.14",
	"Sync.RLockSem":            "3.14's RLock is a _PyRecursiveMutex",
	"Sync.RLockCount":          "3.14's RLock counts with its level",
}

// Minor returns "3.12" for "3.12.3", "3.12", "3.14.0rc1" or "3.12.3+".
func Minor(version string) (string, error) {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return "", fmt.Errorf("cannot read a Python version from %q", version)
	}
	minor := parts[1]
	i := 0
	for i < len(minor) && minor[i] >= '0' && minor[i] <= '9' {
		i++
	}
	maj, err1 := strconv.Atoi(parts[0])
	mn, err2 := strconv.Atoi(minor[:i])
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("cannot read a Python version from %q", version)
	}
	return fmt.Sprintf("%d.%d", maj, mn), nil
}

// For returns the layout for a target of the given version ("3.12.3").
// dbg is the target's _Py_DebugOffsets (3.13+), or nil.
//
//   - 3.10–3.12: the table generated from the reference build's DWARF.
//   - 3.13: that table, with every field _Py_DebugOffsets provides taken
//     from dbg. Table fields of a struct whose dbg fields disagree with the
//     table (a patch release moved it) become unknown.
//   - 3.14: dbg, plus the fields rules314 derives; the rest are unknown.
//
// Layout.Unknown lists the fields left at -1 for want of a sound source.
func For(version string, dbg *DebugOffsets) (*Layout, error) {
	minor, err := Minor(version)
	if err != nil {
		return nil, err
	}
	n := minorNumber(minor)
	switch {
	case n >= 10 && n <= 14:
	case n > 14 && dbg != nil:
		// Newer than tested: its own _Py_DebugOffsets (checked by
		// ParseDebugOffsets against a known layout) and the 3.14 rules.
	case n > 14:
		return nil, fmt.Errorf("Python %s is not supported: it is newer than pyscope knows and has no _Py_DebugOffsets to read it with", version)
	default:
		return nil, fmt.Errorf("Python %s is not supported (pyscope reads 3.10 to %s)", version, NewestKnown)
	}
	if dbg != nil && dbg.Minor != minor {
		return nil, fmt.Errorf("Python %s: its _Py_DebugOffsets say %s", version, dbg.Minor)
	}
	switch minor {
	case "3.10", "3.11", "3.12":
		t, ok := tables[minor]
		if !ok {
			return nil, fmt.Errorf("no offset table for Python %s (run go generate)", minor)
		}
		l := t.Layout
		l.Source = "table " + t.Patch
		return &l, nil
	case "3.13":
		key := minor
		if dbg != nil && dbg.FreeThreaded {
			key = "3.13t"
		}
		t, ok := tables[key]
		if !ok {
			return nil, fmt.Errorf("no offset table for Python %s (run go generate)", key)
		}
		l := t.Layout
		if dbg == nil {
			l.Source = "table " + t.Patch
			return &l, nil
		}
		return with313(&t, dbg), nil
	default: // 3.14 and newer
		if dbg == nil {
			return nil, fmt.Errorf("Python %s: no _Py_DebugOffsets found; pyscope needs them from 3.14 on", version)
		}
		t13, ok := tables["3.13"]
		if !ok {
			return nil, fmt.Errorf("no offset table for Python 3.13 (run go generate)")
		}
		l := with314(&t13, dbg)
		l.Version = minor
		if minor != "3.14" {
			l.Source = fmt.Sprintf("_Py_DebugOffsets (%s layout) + 3.14 rules over table %s", dbg.Layout, t13.Patch)
		}
		return l, nil
	}
}

func with313(t *table, dbg *DebugOffsets) *Layout {
	l := &Layout{Version: "3.13", Source: "_Py_DebugOffsets + table " + t.Patch, FreeThreaded: dbg.FreeThreaded}
	if t.Layout.FreeThreaded {
		l.Source += "t"
	}
	l.clear()
	got := map[string]bool{}
	for _, n := range dbg.Apply(l) {
		got[n] = true
	}
	// A struct group whose dbg fields all match the table kept its layout.
	bad := map[string]bool{}
	for n := range got {
		tv, _ := t.Layout.Get(n)
		lv, _ := l.Get(n)
		if tv != lv {
			bad[group(n)] = true
		}
	}
	for _, f := range layoutFields {
		if got[f.Name] {
			continue
		}
		tv := *t.Layout.ptr(&f)
		switch {
		case !tv.Valid():
			// absent in 3.13
		case bad[group(f.Name)]:
			l.Unknown = append(l.Unknown, f.Name)
		default:
			l.set(f.Name, tv)
		}
	}
	return l
}

func with314(t13 *table, dbg *DebugOffsets) *Layout {
	l := &Layout{Version: "3.14", Source: "_Py_DebugOffsets + 3.14 rules over table " + t13.Patch, FreeThreaded: dbg.FreeThreaded}
	l.clear()
	got := map[string]bool{}
	for _, n := range dbg.Apply(l) {
		got[n] = true
	}
	ruled := map[string]bool{}
	if !dbg.FreeThreaded {
		for _, r := range rules314 {
			if got[r.Field] {
				continue // newer _Py_DebugOffsets give it
			}
			if v, ok := r.apply(&t13.Layout, l); ok {
				l.set(r.Field, v)
				ruled[r.Field] = true
			}
		}
	}
	for _, f := range layoutFields {
		if got[f.Name] || ruled[f.Name] {
			continue
		}
		if _, ok := absent314[f.Name]; ok {
			continue
		}
		if f.Name == "Thread.HoldsGIL" || (*t13.Layout.ptr(&f)).Valid() {
			l.Unknown = append(l.Unknown, f.Name)
		}
	}
	sort.Strings(l.Unknown)
	return l
}

// apply computes a rule's value, or fails when an anchor is missing or the
// anchors moved by different amounts.
func (r rule) apply(t13, l *Layout) (Off, bool) {
	at := func(x *Layout, name string) (Off, bool) {
		if name == "" {
			return 0, true
		}
		v, ok := x.Get(name)
		return v, ok && v.Valid()
	}
	var shift Off
	for i, a := range r.Anchors {
		old, ok1 := at(t13, a)
		now, ok2 := at(l, a)
		if !ok1 || !ok2 {
			return -1, false
		}
		if i == 0 {
			shift = now - old
		} else if now-old != shift {
			return -1, false
		}
	}
	// A derived offset must be as plausible as a parsed one: never
	// negative, never past the largest struct the parser accepts.
	plausible := func(v Off) (Off, bool) {
		if v < 0 || v > maxStructSize {
			return -1, false
		}
		return v, true
	}
	if r.Delta != nil {
		base, _ := at(l, r.Anchors[0])
		return plausible(base + Off(*r.Delta))
	}
	v, ok := at(t13, r.Field)
	if !ok {
		return -1, false
	}
	return plausible(v + shift)
}

func group(name string) string {
	g, _, _ := strings.Cut(name, ".")
	return g
}
