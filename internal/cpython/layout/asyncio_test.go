package layout

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"

	"testing"

	"pyscope/internal/fuzzguard"
	"pyscope/internal/pybuilds"
)

// asyncioLayout is what pyscope reads asyncio objects of a reference build
// with: For, plus (3.14) the build's own .AsyncioDebug.
func asyncioLayout(t *testing.T, b *pybuilds.Build) *Layout {
	t.Helper()
	l := referenceLayout(t, b)
	if b.Minor < "3.14" {
		return l
	}
	a, err := ParseAsyncioDebug(b.Minor, asyncioSection(t, b.Python))
	if err != nil {
		t.Fatal(err)
	}
	return WithAsyncio(l, a)
}

func asyncioSection(t *testing.T, path string) []byte {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(AsyncioDebugSection)
	if s == nil {
		t.Fatalf("%s has no %s section", path, AsyncioDebugSection)
	}
	b, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAsyncioDebug314 parses 3.14.6's .AsyncioDebug: the struct must be
// exactly the section's size, and its values what the source says they
// are relative to each other.
func TestAsyncioDebug314(t *testing.T) {
	b := build(t, "3.14")
	blob := asyncioSection(t, b.Python)
	if len(blob) != AsyncioDebugLen("3.14") {
		t.Errorf("section is %d bytes, the struct %d", len(blob), AsyncioDebugLen("3.14"))
	}
	a, err := ParseAsyncioDebug("3.14", blob)
	if err != nil {
		t.Fatal(err)
	}
	l := WithAsyncio(referenceLayout(t, b), a)
	if !l.HasAsyncio() {
		t.Fatalf("3.14 layout lacks asyncio fields: %+v %+v", l.Task, l.Future)
	}
	if l.Task.Name != l.Task.Coro+8 || l.Task.Node != l.Task.Coro+24 {
		t.Errorf("task_coro %d, task_name %d, task_node %d: not coro, name, context, node", l.Task.Coro, l.Task.Name, l.Task.Node)
	}
	for _, bad := range [][]byte{nil, blob[:len(blob)-1], make([]byte, len(blob))} {
		if _, err := ParseAsyncioDebug("3.14", bad); err == nil {
			t.Errorf("ParseAsyncioDebug(%d bytes of garbage) succeeded", len(bad))
		}
	}
	if _, err := ParseAsyncioDebug("3.13", blob); err == nil {
		t.Error("3.13 has no asyncio debug offsets, but parsing succeeded")
	}
}

// TestGenConsts checks the generator frame states against the enum of each
// reference build's DWARF.
func TestGenConsts(t *testing.T) {
	names := map[string]func(GenConsts) int8{
		"FRAME_CREATED":   func(g GenConsts) int8 { return g.Created },
		"FRAME_SUSPENDED": func(g GenConsts) int8 { return g.Suspended },
		"FRAME_EXECUTING": func(g GenConsts) int8 { return g.Executing },
		"FRAME_CLEARED":   func(g GenConsts) int8 { return g.Cleared },
		"FRAME_SUSPENDED_YIELD_FROM": func(g GenConsts) int8 {
			if !g.HasYieldFromState {
				return 99
			}
			return g.SuspendedYieldFrom
		},
	}
	for _, minor := range []string{"3.10", "3.11", "3.12", "3.13"} {
		g, ok := Gen(minor)
		if !ok {
			t.Fatalf("no generator constants for %s", minor)
		}
		d, err := OpenDWARF(build(t, minor).Libpython)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]int64{}
		r := d.Reader()
		for len(found) < len(names) {
			e, err := r.Next()
			if err != nil || e == nil {
				break
			}
			if e.Tag != dwarf.TagEnumerator {
				continue
			}
			n, _ := e.Val(dwarf.AttrName).(string)
			if _, want := names[n]; want {
				if v, ok := e.Val(dwarf.AttrConstValue).(int64); ok {
					found[n] = v
				}
			}
		}
		for n, get := range names {
			v, ok := found[n]
			if !ok {
				if n == "FRAME_SUSPENDED_YIELD_FROM" && !g.HasYieldFromState {
					continue
				}
				t.Errorf("%s: no enumerator %s in the DWARF", minor, n)
				continue
			}
			if int64(get(g)) != v {
				t.Errorf("%s: %s = %d, the DWARF says %d", minor, n, get(g), v)
			}
		}
	}
}

// TestLiveAsyncio checks the asyncio members of each reference build's
// layout against a running interpreter (testdata/aprobe.py): tasks,
// futures, their callbacks, the awaitables between coroutines, weakrefs,
// the running loop and task of a thread, and where a suspended generator
// keeps what it awaits. On 3.14 this vouches for asyncioRules.
func TestLiveAsyncio(t *testing.T) {
	for _, minor := range pybuilds.Minors() {
		t.Run(minor, func(t *testing.T) {
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatal(err)
			}
			checkLiveAsyncio(t, b.Python, minor, asyncioLayout(t, b))
		})
	}
}

func checkLiveAsyncio(t *testing.T, python, minor string, l *Layout) {
	if !l.HasAsyncio() {
		t.Fatalf("layout lacks asyncio fields: %+v %+v", l.Task, l.Future)
	}
	p := startScript(t, python, "testdata/aprobe.py")
	g, _ := Gen(minor)
	at := func(base uint64, o Off) uint64 {
		t.Helper()
		if !o.Valid() {
			t.Fatalf("needed offset unknown (%d)", o)
		}
		return base + uint64(o)
	}
	eq := func(what string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: read %#x, want %#x", what, got, want)
		}
	}
	i8 := func(a uint64) int8 { return int8(p.u8(a)) }
	u32 := func(a uint64) uint64 { return uint64(binary.LittleEndian.Uint32(p.read(a, 4))) }

	task := p.num("task")
	eq("Task.Coro", p.u64(at(task, l.Task.Coro)), p.num("task_coro"))
	eq("Task.Name", p.u64(at(task, l.Task.Name)), p.num("task_name"))
	eq("Task.FutWaiter", p.u64(at(task, l.Task.FutWaiter)), p.num("task_waiter"))
	eq("Future.Loop", p.u64(at(task, l.Future.Loop)), p.num("task_loop"))
	eq("Future.State (pending)", u32(at(task, l.Future.State)), 0)
	eq("Task.Size", uint64(l.Task.Size), p.num("task_basicsize"))
	eq("Future.Size", uint64(l.Future.Size), p.num("future_basicsize"))
	if l.Task.NumCancelsRequested.Valid() {
		eq("Task.NumCancelsRequested", u32(at(task, l.Task.NumCancelsRequested)), 0)
	}
	eq("Future.State (finished)", u32(at(p.num("done"), l.Future.State)), 2)
	eq("Future.Result", p.u64(at(p.num("done"), l.Future.Result)), p.num("done_result"))
	eq("Future.State (cancelled)", u32(at(p.num("cancelled"), l.Future.State)), 1)
	eq("Future.Exception", p.u64(at(p.num("failed"), l.Future.Exception)), p.num("failed_exc"))
	multi := p.num("multi")
	eq("Future.Callback0", p.u64(at(multi, l.Future.Callback0)), p.num("cb1"))
	list := p.u64(at(multi, l.Future.Callbacks))
	tup := p.u64(p.u64(at(list, l.List.Item)))
	eq("Future.Callbacks[0][0]", p.u64(at(tup, l.Tuple.Item)), p.num("cb2"))
	if l.Task.AwaitedBy.Valid() {
		// fut is awaited by task (3.14 records it when the task blocks):
		// the anchor of the FutureObj_HEAD rules, in a future too.
		eq("Task.AwaitedBy of a future", p.u64(at(p.num("fut"), l.Task.AwaitedBy)), task)
		eq("Task.IsTask", uint64(p.u8(at(task, l.Task.IsTask))), 1)
		eq("Task.IsTask of a future", uint64(p.u8(at(p.num("fut"), l.Task.IsTask))), 0)
	}

	eq("FutureIter.Future", p.u64(at(p.num("futiter"), l.FutureIter.Future)), p.num("fut"))
	eq("Weakref.Object", p.u64(at(p.num("ref"), l.Weakref.Object)), task)
	eq("Method.Self", p.u64(at(p.num("bound"), l.Method.Self)), p.num("holder"))
	eq("Method.Func", p.u64(at(p.num("bound"), l.Method.Func)), p.num("meth"))
	eq("Partial.Fn", p.u64(at(p.num("partial"), l.Partial.Fn)), p.num("partial_fn"))
	eq("Partial.Args", p.u64(at(p.num("partial"), l.Partial.Args)), p.num("partial_args"))
	eq("AsyncGen.ASendGen", p.u64(at(p.num("asend"), l.AsyncGen.ASendGen)), p.num("agen"))
	eq("AsyncGen.AThrowGen", p.u64(at(p.num("athrow"), l.AsyncGen.AThrowGen)), p.num("agen"))
	eq("AsyncGen.CoroWrapped", p.u64(at(p.num("wrapper"), l.AsyncGen.CoroWrapped)), p.num("coro"))

	// The running loop (and task) of the worker thread.
	wts, wloop := p.num("worker_tstate"), p.num("worker_loop")
	switch {
	case l.Thread.AsyncioRunningLoop.Valid():
		eq("Thread.AsyncioRunningLoop", p.u64(at(wts, l.Thread.AsyncioRunningLoop)), wloop)
	default:
		eq("Thread.Dict", p.u64(at(wts, l.Thread.Dict)), p.num("worker_dict"))
	}
	if l.Thread.AsyncioRunningTask.Valid() {
		wtask := p.num("worker_task")
		eq("Thread.AsyncioRunningTask", p.u64(at(wts, l.Thread.AsyncioRunningTask)), wtask)
		head := at(wts, l.Thread.AsyncioTasksHead)
		first := p.u64(at(head, l.LLNode.Next))
		eq("Thread.AsyncioTasksHead → Task.Node", first-uint64(l.Task.Node), wtask)
		eq("LLNode.Next of the last node", p.u64(at(first, l.LLNode.Next)), head)
		eq("LLNode.Prev", p.u64(at(head, l.LLNode.Prev)), first)
	}

	// Where a suspended generator keeps what it yields from.
	outer, yf := p.num("outer"), p.num("outer_yf")
	plain, created := p.num("plain"), p.num("created")
	if minor == "3.10" {
		frame := p.u64(at(outer, l.Gen.Frame))
		eq("f_state (suspended)", uint64(uint8(i8(at(frame, l.FrameObj.State)))), uint64(uint8(g.Suspended)))
		op := func(frame uint64) byte {
			lasti := int64(int32(u32(at(frame, l.FrameObj.Lasti))))
			code := p.u64(at(frame, l.FrameObj.Code))
			co := p.u64(at(code, l.Code.Code))
			return p.u8(at(co, l.Bytes.Sval) + uint64((lasti+1)*2))
		}
		eq("opcode after a yield from", uint64(op(frame)), uint64(g.YieldFrom))
		if op(p.u64(at(plain, l.Gen.Frame))) == g.YieldFrom {
			t.Error("a plain yield looks like a yield from")
		}
		vs := p.u64(at(frame, l.FrameObj.Valuestack))
		depth := int64(int32(u32(at(frame, l.FrameObj.Stackdepth))))
		eq("f_valuestack[f_stackdepth-1]", p.u64(vs+uint64(depth-1)*8), yf)
		return
	}
	state := func(gen uint64) int8 { return i8(at(gen, l.Gen.FrameState)) }
	if g.HasYieldFromState {
		eq("gi_frame_state (yield from)", uint64(uint8(state(outer))), uint64(uint8(g.SuspendedYieldFrom)))
		eq("gi_frame_state (plain yield)", uint64(uint8(state(plain))), uint64(uint8(g.Suspended)))
	} else {
		eq("gi_frame_state (suspended)", uint64(uint8(state(outer))), uint64(uint8(g.Suspended)))
		resume := func(gen uint64) (byte, byte) {
			next := p.read(p.u64(at(gen+uint64(l.Gen.IFrame), l.Frame.InstrPtr))+2, 2)
			return next[0], next[1]
		}
		op, arg := resume(outer)
		if !bytes.Contains(g.Resume, []byte{op}) || arg < 2 {
			t.Errorf("after a yield from: opcode %d oparg %d, want one of %v with oparg >= 2", op, arg, g.Resume)
		}
		if op, arg := resume(plain); !bytes.Contains(g.Resume, []byte{op}) || arg >= 2 {
			t.Errorf("after a plain yield: opcode %d oparg %d, want one of %v with oparg < 2", op, arg, g.Resume)
		}
	}
	eq("gi_frame_state (created)", uint64(uint8(state(created))), uint64(uint8(g.Created)))
	iframe := outer + uint64(l.Gen.IFrame)
	var top uint64
	if minor >= "3.14" {
		top = p.u64(p.u64(at(iframe, l.Frame.StackTop))-8) &^ 3
	} else {
		st := int64(int32(u32(at(iframe, l.Frame.StackTop))))
		top = p.u64(at(iframe, l.Frame.Localsplus) + uint64(st-1)*8)
	}
	eq("top of a generator's stack in yield from", top, yf)
}

// FuzzParseAsyncioDebug: any bytes parse or fail cleanly, and what parses
// has every offset inside its struct.
func FuzzParseAsyncioDebug(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, AsyncioDebugLen("3.14")))
	real := []byte{0xa8, 0, 0, 0, 0, 0, 0, 0, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0, 0x6c, 0, 0, 0, 0, 0, 0, 0,
		0x6d, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x98, 0, 0, 0, 0, 0, 0, 0, 0x48, 0x72, 0x03, 0, 0, 0, 0, 0,
		0x80, 0x2a, 0, 0, 0, 0, 0, 0, 0xa8, 0x03, 0, 0, 0, 0, 0, 0, 0x60, 0x03, 0, 0, 0, 0, 0, 0, 0x68, 0x03, 0, 0, 0, 0, 0, 0,
		0x70, 0x03, 0, 0, 0, 0, 0, 0}
	f.Add(real)
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		a, err := ParseAsyncioDebug("3.14", b)
		if err != nil {
			return
		}
		l := WithAsyncio(&Layout{}, a)
		for _, o := range []Off{l.Task.Coro, l.Task.Name, l.Task.Node, l.Future.State, l.Task.FutWaiter} {
			if o > Off(a.Values["asyncio_task_object.size"]) {
				t.Fatalf("offset %d past the task's %d bytes", o, a.Values["asyncio_task_object.size"])
			}
		}
	})
}
