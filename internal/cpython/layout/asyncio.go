package layout

import (
	"encoding/binary"
	"fmt"
)

// AsyncioDebugSection is the ELF section in which 3.14+'s _asyncio module
// (built into libpython, or its own extension module) publishes
// Py_AsyncioModuleDebugOffsets.
const AsyncioDebugSection = ".AsyncioDebug"

// asyncioDebugLayouts describes struct _Py_AsyncioModuleDebugOffsets
// (Modules/_asynciomodule.c): every member a uint64, in this order.
// TestAsyncioDebug314 checks it against the 3.14.6 build.
var asyncioDebugLayouts = map[string][]dbgGroup{
	"3.14": {
		{"asyncio_task_object", []string{"size", "task_name", "task_awaited_by", "task_is_task", "task_awaited_by_is_set", "task_coro", "task_node"}},
		{"asyncio_interpreter_state", []string{"size", "asyncio_tasks_head"}},
		{"asyncio_thread_state", []string{"size", "asyncio_running_loop", "asyncio_running_task", "asyncio_tasks_head"}},
	},
}

// AsyncioDebug is a parsed .AsyncioDebug section.
type AsyncioDebug struct {
	Minor  string
	Values map[string]uint64 // "asyncio_task_object.task_coro" → offset
}

// AsyncioDebugLen is the size of the section's struct for a minor
// version, 0 if unknown.
func AsyncioDebugLen(minor string) int {
	n := 0
	for _, g := range asyncioDebugLayouts[minor] {
		n += 8 * len(g.fields)
	}
	return n
}

// ParseAsyncioDebug decodes the .AsyncioDebug section of a build of minor
// version minor ("3.14"). It checks that every offset lies inside the
// struct its group describes, and never panics.
func ParseAsyncioDebug(minor string, blob []byte) (*AsyncioDebug, error) {
	groups, ok := asyncioDebugLayouts[minor]
	if !ok {
		return nil, fmt.Errorf("%s: no asyncio debug offsets known for Python %s", AsyncioDebugSection, minor)
	}
	need := AsyncioDebugLen(minor)
	if len(blob) < need {
		return nil, fmt.Errorf("%s: %d bytes, Python %s needs %d", AsyncioDebugSection, len(blob), minor, need)
	}
	a := &AsyncioDebug{Minor: minor, Values: map[string]uint64{}}
	pos := 0
	for _, g := range groups {
		for _, f := range g.fields {
			a.Values[g.name+"."+f] = binary.LittleEndian.Uint64(blob[pos:])
			pos += 8
		}
	}
	for _, g := range groups {
		size := a.Values[g.name+".size"]
		if size == 0 || size > maxStructSize {
			return nil, fmt.Errorf("%s: %s.size = %d is implausible", AsyncioDebugSection, g.name, size)
		}
		for _, f := range g.fields[1:] {
			if v := a.Values[g.name+"."+f]; v >= size {
				return nil, fmt.Errorf("%s: %s.%s = %d is not inside its %d-byte struct", AsyncioDebugSection, g.name, f, v, size)
			}
		}
	}
	return a, nil
}

// asyncioRules derive, from the .AsyncioDebug members, the TaskObj and
// FutureObj members they do not give. Each holds for 3.14's
// Modules/_asynciomodule.c, where FutureObj_HEAD is
//
//	PyObject_HEAD; loop, callback0, context0, callbacks, exception,
//	exception_tb, result, source_tb, cancel_msg, cancelled_exc, awaited_by
//	(pointers); fut_state state; char is_task; char awaited_by_is_set;
//	unsigned log_tb:1, blocking:1;
//
// and TaskObj continues with two 1-bit fields (packed with those), an int
// num_cancels_requested, then fut_waiter, coro, name, context, task_node.
// TestLiveAsyncio checks them against a running 3.14.6.
var asyncioRules = []struct {
	Field, From string
	Delta       int64
}{
	{"Future.State", "Task.IsTask", -4},
	{"Future.Loop", "Task.AwaitedBy", -80},
	{"Future.Callback0", "Task.AwaitedBy", -72},
	{"Future.Callbacks", "Task.AwaitedBy", -56},
	{"Future.Exception", "Task.AwaitedBy", -48},
	{"Future.Result", "Task.AwaitedBy", -32},
	{"Future.Size", "Task.IsTask", 4}, // then rounded up to 8
	{"Task.FutWaiter", "Task.Coro", -8},
	{"Task.NumCancelsRequested", "Task.Coro", -16},
}

// WithAsyncio returns a copy of l with the members a gives (3.14+) and
// the ones asyncioRules derive from them.
func WithAsyncio(l *Layout, a *AsyncioDebug) *Layout {
	out := *l
	out.Unknown = nil
	got := map[string]bool{}
	for i := range layoutFields {
		f := &layoutFields[i]
		if f.Adbg == "" {
			continue
		}
		if v, ok := a.Values[f.Adbg]; ok {
			*out.ptr(f) = Off(v)
			got[f.Name] = true
		}
	}
	for _, r := range asyncioRules {
		from, _ := out.Get(r.From)
		v := Off(-1)
		if from.Valid() && int64(from)+r.Delta >= 0 {
			v = from + Off(r.Delta)
		}
		if r.Field == "Future.Size" && v.Valid() {
			v = (v + 7) &^ 7
		}
		out.set(r.Field, v)
		got[r.Field] = v.Valid()
	}
	for _, n := range l.Unknown {
		if !got[n] {
			out.Unknown = append(out.Unknown, n)
		}
	}
	out.Source = l.Source + " + " + AsyncioDebugSection
	return &out
}

// HasAsyncio reports whether l can read _asyncio's C tasks: the TaskObj
// and FutureObj members the tasks analysis needs are known.
func (l *Layout) HasAsyncio() bool {
	for _, o := range []Off{l.Task.Size, l.Task.Coro, l.Task.Name, l.Task.FutWaiter, l.Future.State, l.Future.Loop, l.Future.Result, l.Future.Exception, l.Future.Callback0, l.Future.Callbacks} {
		if !o.Valid() {
			return false
		}
	}
	return true
}

// CopyAsyncio copies into l the asyncio members (every field of the
// groups only the tasks analysis uses) of from, for a layout whose own
// source (a build's DWARF without _asyncio, which lives in its own
// extension module) lacks them.
func (l *Layout) CopyAsyncio(from *Layout) {
	for i := range layoutFields {
		f := &layoutFields[i]
		switch group(f.Name) {
		case "Future", "Task", "FutureIter", "RunningLoop":
			*l.ptr(f) = *from.ptr(f)
		}
	}
}

// Generator frame states and the opcodes that tell where a generator is
// suspended, per minor version (Include/internal/pycore_frame.h,
// Lib/opcode.py). TestGenConsts checks them against the reference builds'
// DWARF enums and their opcode tables.
type GenConsts struct {
	Created, Suspended, Executing, Completed, Cleared int8
	// SuspendedYieldFrom (3.13+) is the state of a generator suspended in
	// `yield from` or `await`; before 3.13 the next opcode tells.
	SuspendedYieldFrom int8
	HasYieldFromState  bool
	// YieldFrom (3.10) is the opcode after which a suspended frame is in
	// `yield from`; Resume (3.11/3.12) lists RESUME and its variants,
	// whose oparg is 2 or 3 after `yield from` and `await`.
	YieldFrom byte
	Resume    []byte
}

// Gen returns the generator constants of minor ("3.12").
func Gen(minor string) (GenConsts, bool) {
	switch minor {
	case "3.10":
		return GenConsts{Created: -2, Suspended: -1, Executing: 0, Completed: 1, Cleared: 4, YieldFrom: 72}, true
	case "3.11":
		return GenConsts{Created: -2, Suspended: -1, Executing: 0, Completed: 1, Cleared: 4, Resume: []byte{151, 150}}, true
	case "3.12":
		return GenConsts{Created: -2, Suspended: -1, Executing: 0, Completed: 1, Cleared: 4, Resume: []byte{151, 240}}, true
	case "3.13", "3.14":
		return GenConsts{Created: -3, Suspended: -2, SuspendedYieldFrom: -1, HasYieldFromState: true, Executing: 0, Completed: 1, Cleared: 4}, true
	}
	return GenConsts{}, false
}
