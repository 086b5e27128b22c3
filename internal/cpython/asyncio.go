package cpython

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/elfx"
	"pyscope/internal/model"
)

// This file reads what asyncio is made of: futures and tasks (_asyncio's C
// ones and asyncio's pure-Python ones), the running loop and task of each
// thread, 3.14's per-thread task lists, weakrefs, and what a done callback
// refers to. The tasks analysis (internal/analysis/tasks) gives it meaning.

// ErrNotFuture means an object is neither an asyncio Future nor a Task.
var ErrNotFuture = errors.New("not an asyncio Future or Task")

var asyncioModRe = regexp.MustCompile(`(?:^|/)_asyncio[.a-z0-9_-]*\.so$`)

// asyncio is what a Reader learnt about the target's _asyncio module.
type asyncio struct {
	L      *layout.Layout // the interpreter's layout with the asyncio members
	Reason string         // why C tasks cannot be read ("" when they can)
	types  map[uint64]futureType
	retry  bool // _asyncio was not loaded: look again at the next capture
}

// asyncioLayout finds the offsets of _asyncio's objects, once: 3.14+'s
// .AsyncioDebug section (in libpython, the executable or _asyncio's own
// extension module), else the interpreter's layout, else the DWARF of the
// _asyncio extension module (Debian: python3.11-dbg), else the table of
// the minor version. Every source is checked against the Task type's
// tp_basicsize when a task is first read.
func (r *Reader) asyncioLayout() *asyncio {
	// Once per capture at most when _asyncio is not loaded: looking opens
	// the ELF files of the mapped modules, and every object decoded asks.
	if r.aio != nil {
		return r.aio
	}
	a := &asyncio{L: r.In.Layout, types: map[uint64]futureType{}}
	r.aio = a
	short := r.In.ShortVersion()
	if r.In.Minor >= 14 {
		blob, path := r.findSection(layout.AsyncioDebugSection)
		if blob == nil {
			a.Reason = "no loaded module has _asyncio's " + layout.AsyncioDebugSection + " section (asyncio not imported yet?)"
			a.retry = true
			return a
		}
		d, err := layout.ParseAsyncioDebug(short, blob)
		if err != nil {
			a.Reason = path + ": " + err.Error()
			return a
		}
		a.L = layout.WithAsyncio(r.In.Layout, d)
	} else if !a.L.HasAsyncio() {
		l := *r.In.Layout
		if ml := r.asyncioModuleDWARF(); ml != nil && ml.HasAsyncio() {
			l.CopyAsyncio(ml)
		} else if tl, err := layout.For(short, nil); err == nil {
			l.CopyAsyncio(tl)
		}
		a.L = &l
	}
	if !a.L.HasAsyncio() {
		a.Reason = "this build's layout does not describe _asyncio's tasks"
	}
	return a
}

// findSection returns the contents of an ELF section of the first mapped
// file that has it.
func (r *Reader) findSection(name string) ([]byte, string) {
	if r.t == nil {
		return nil, "" // memory alone (no files): nothing to look in
	}
	seen := map[string]bool{}
	for _, m := range r.t.Mappings() {
		if m.Path == "" || seen[m.Path] || strings.HasPrefix(m.Path, "[") || m.Offset != 0 {
			continue
		}
		seen[m.Path] = true
		if !strings.Contains(m.Path, "python") && !asyncioModRe.MatchString(m.Path) && m.Path != r.In.Executable {
			continue
		}
		f, err := r.t.Open(m.Path)
		if err != nil {
			continue
		}
		ef, err := elfx.FromFile(f, m.Path)
		if err != nil {
			continue
		}
		var data []byte
		if s := ef.Section(name); s != nil && s.Size <= 1<<16 && s.Type == elf.SHT_PROGBITS {
			data, _ = s.Data()
		}
		ef.Close()
		if data != nil {
			return data, m.Path
		}
	}
	return nil, ""
}

// asyncioModuleDWARF reads the layout from the DWARF of the mapped _asyncio
// extension module: its own, or its build-id debug file.
func (r *Reader) asyncioModuleDWARF() *layout.Layout {
	if r.t == nil {
		return nil
	}
	for _, m := range r.t.Mappings() {
		if !asyncioModRe.MatchString(m.Path) || m.Offset != 0 {
			continue
		}
		f, err := r.t.Open(m.Path)
		if err != nil {
			return nil
		}
		ef, err := elfx.FromFile(f, m.Path)
		if err != nil {
			return nil
		}
		defer ef.Close()
		src := ef.File
		if id := ef.BuildID(); len(id) > 2 {
			rel := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
			df, err := r.t.Open(rel)
			if err != nil {
				df, err = os.Open(rel)
			}
			if err == nil {
				defer df.Close()
				if e, err := elf.NewFile(df); err == nil {
					src = e
				}
			}
		}
		if src.Section(".debug_info") == nil {
			return nil
		}
		var l *layout.Layout
		func() {
			defer func() { recover() }() // malformed DWARF: no layout
			d, err := src.DWARF()
			if err == nil {
				l, _ = layout.FromDWARF(d, nil, r.In.ShortVersion())
			}
		}()
		return l
	}
	return nil
}

// futureType is what a type is to asyncio.
type futureType uint8

const (
	notFuture futureType = iota
	cFuture              // _asyncio.Future or a subclass
	cTask                // _asyncio.Task or a subclass
	pyFuture             // asyncio.futures.Future (pure Python) or a subclass
	pyTask               // asyncio.tasks.Task (pure Python) or a subclass
	badLayout            // _asyncio's, but its size is not the layout's
)

// futureTypeOf classifies obj's type by its base chain.
func (r *Reader) futureTypeOf(obj uint64) (futureType, uint64) {
	a := r.asyncioLayout()
	o := r.Obj
	t, err := o.TypeOf(obj)
	if err != nil {
		return notFuture, 0
	}
	if ft, ok := a.types[t]; ok {
		return ft, t
	}
	ft := notFuture
	T := o.L.Type
	for c, i := t, 0; i < 64 && validPtr(c); i++ {
		name, err := o.TypeName(c)
		if err != nil {
			break
		}
		switch name {
		case "_asyncio.Task", "_asyncio.Future":
			want, ft1 := a.L.Task.Size, cTask
			if name == "_asyncio.Future" {
				want, ft1 = a.L.Future.Size, cFuture
			}
			ft = ft1
			if bs, err := o.u64(c + uint64(T.Basicsize)); err != nil || !want.Valid() || bs != uint64(want) {
				ft = badLayout
			}
		case "Task", "Future":
			if mod := r.classModule(c); mod == "asyncio.tasks" && name == "Task" {
				ft = pyTask
			} else if mod == "asyncio.futures" && name == "Future" {
				ft = pyFuture
			}
		}
		if ft != notFuture || !T.Base.Valid() {
			break
		}
		if c, err = o.u64(c + uint64(T.Base)); err != nil {
			break
		}
	}
	if len(a.types) < 4096 {
		a.types[t] = ft
	}
	return ft, t
}

// classModule is a heap class's __module__, "" when unknown.
func (r *Reader) classModule(t uint64) string {
	o := r.Obj
	if !o.L.Type.Dict.Valid() {
		return ""
	}
	d, err := o.u64(t + uint64(o.L.Type.Dict))
	if err != nil || !validPtr(d) {
		return ""
	}
	m, ok, err := o.DictGetStr(d, "__module__")
	if err != nil || !ok || !o.IsStr(m) {
		return ""
	}
	s, _ := o.Str(m)
	return s
}

// FutureState is an asyncio future's _state.
type FutureState uint8

const (
	FuturePending FutureState = iota
	FutureCancelled
	FutureFinished
)

func (s FutureState) String() string {
	switch s {
	case FuturePending:
		return "pending"
	case FutureCancelled:
		return "cancelled"
	}
	return "finished"
}

// Future is an asyncio Future or Task as read from a stopped target.
type Future struct {
	Addr   uint64
	Native bool // _asyncio's C object (or a subclass), not asyncio's Python one
	IsTask bool
	State  FutureState
	Loop   uint64
	Result uint64 // 0 unless finished with a result
	Exc    uint64 // 0 unless finished with an exception
	// Callbacks are the done callbacks, in order.
	Callbacks []uint64
	// Task only.
	Name       string
	Coro       uint64
	Waiter     uint64 // _fut_waiter: the future the task waits for
	Cancelling bool   // cancel() requested, not done yet
}

// Future reads obj as an asyncio Future or Task; the error is ErrNotFuture
// (wrapped) when it is neither.
func (v *Values) Future(obj uint64) (*Future, error) {
	ft, t := v.r.futureTypeOf(obj)
	switch ft {
	case notFuture:
		return nil, fmt.Errorf("%s is %w", v.TypeName(obj), ErrNotFuture)
	case badLayout:
		tn, _ := v.o.TypeName(t)
		return nil, fmt.Errorf("%s: its size is not what this build's layout says (%s)", tn, v.r.asyncioLayout().Reason)
	case cFuture, cTask:
		return v.cFuture(obj, ft == cTask)
	}
	return v.pyFuture(obj, ft == pyTask)
}

func (v *Values) cFuture(obj uint64, task bool) (*Future, error) {
	L := v.r.asyncioLayout().L
	o := v.o
	size := L.Future.Size
	if task {
		size = L.Task.Size
	}
	raw, err := o.read(obj, int(size))
	if err != nil {
		return nil, err
	}
	ptr := func(off layout.Off) uint64 { return fieldOf(raw, off) }
	f := &Future{Addr: obj, Native: true, IsTask: task, Loop: ptr(L.Future.Loop)}
	if off := L.Future.State; off.Valid() && int(off)+4 <= len(raw) {
		f.State = FutureState(le32(raw[off:]))
	}
	if f.State > FutureFinished {
		return nil, fmt.Errorf("future at %#x has impossible state %d", obj, f.State)
	}
	if f.State == FutureFinished {
		f.Result, f.Exc = ptr(L.Future.Result), ptr(L.Future.Exception)
		if f.Exc != 0 {
			f.Result = 0
		}
	}
	if cb := ptr(L.Future.Callback0); cb != 0 {
		f.Callbacks = append(f.Callbacks, cb)
	}
	if l := ptr(L.Future.Callbacks); validPtr(l) {
		f.Callbacks = append(f.Callbacks, v.callbackList(l)...)
	}
	if !task {
		return f, nil
	}
	f.Coro, f.Waiter = ptr(L.Task.Coro), ptr(L.Task.FutWaiter)
	if n := ptr(L.Task.Name); validPtr(n) {
		f.Name = v.taskName(n)
	}
	switch {
	case L.Task.NumCancelsRequested.Valid() && int(L.Task.NumCancelsRequested)+4 <= len(raw):
		f.Cancelling = int32(le32(raw[L.Task.NumCancelsRequested:])) > 0
	case L.Task.MustCancel.Valid() && v.r.In.Minor <= 12 && int(L.Task.MustCancel)+4 <= len(raw):
		f.Cancelling = le32(raw[L.Task.MustCancel:]) != 0
	}
	f.Cancelling = f.Cancelling && f.State == FuturePending
	return f, nil
}

// taskName reads a C task's name: a str, or (3.13+) the int N of the
// default name "Task-N" until someone asks for it.
func (v *Values) taskName(n uint64) string {
	o := v.o
	if o.IsStr(n) {
		s, _ := o.Str(n)
		return s
	}
	if o.hasFlag(n, tpflagsLongSub) {
		if i, err := o.Int(n); err == nil {
			return "Task-" + i.String()
		}
	}
	return "<" + v.TypeName(n) + ">"
}

// callbackList reads a futures' list of (callback, context) tuples.
func (v *Values) callbackList(l uint64) []uint64 {
	items, err := v.listItems(l)
	if err != nil || len(items) > 1<<16 {
		return nil
	}
	var out []uint64
	for _, it := range items {
		if !v.o.hasFlag(it, tpflagsTupleSub) {
			continue
		}
		if t, err := v.o.TupleItems(it); err == nil && len(t) > 0 && t[0] != 0 {
			out = append(out, t[0])
		}
	}
	return out
}

func (v *Values) pyFuture(obj uint64, task bool) (*Future, error) {
	// Attributes as Python looks them up: _state, _result, ... are class
	// attributes until set on the instance.
	attr := func(name string) uint64 {
		p, err := v.Attr(obj, name)
		if err != nil || v.IsNone(p) {
			return 0
		}
		return p
	}
	f := &Future{Addr: obj, IsTask: task, Loop: attr("_loop")}
	switch st := v.strOf(attr("_state")); st {
	case "PENDING":
		f.State = FuturePending
	case "CANCELLED":
		f.State = FutureCancelled
	case "FINISHED":
		f.State = FutureFinished
	default:
		return nil, fmt.Errorf("future at %#x has _state %q", obj, st)
	}
	if f.State == FutureFinished {
		if f.Exc = attr("_exception"); f.Exc == 0 {
			f.Result, _ = v.Attr(obj, "_result")
		}
	}
	if l := attr("_callbacks"); validPtr(l) && v.o.hasFlag(l, tpflagsListSub) {
		f.Callbacks = v.callbackList(l)
	}
	if !task {
		return f, nil
	}
	f.Name = v.strOf(attr("_name"))
	f.Coro, f.Waiter = attr("_coro"), attr("_fut_waiter")
	for _, name := range []string{"_num_cancels_requested", "_must_cancel"} {
		if n := attr(name); n != 0 && v.o.hasFlag(n, tpflagsLongSub) {
			if i, err := v.o.Int(n); err == nil && i.Sign() > 0 {
				f.Cancelling = true
			}
		}
	}
	f.Cancelling = f.Cancelling && f.State == FuturePending
	return f, nil
}

// strOf reads a str object, "" when it is not one.
func (v *Values) strOf(p uint64) string {
	if p == 0 || !v.o.IsStr(p) {
		return ""
	}
	s, _ := v.o.Str(p)
	return s
}

// IsNone reports whether p is None.
func (v *Values) IsNone(p uint64) bool { return p != 0 && v.kind(p) == model.ValueNone }

// SetItems lists the keys of a set or frozenset, at most max.
func (v *Values) SetItems(set uint64, max int) ([]uint64, error) {
	if k := v.kind(set); k != model.ValueSet && k != model.ValueFrozenSet {
		return nil, fmt.Errorf("%s is not a set", v.TypeName(set))
	}
	var out []uint64
	err := v.o.setEach(set, v.o.isDummyKey, func(k uint64) bool {
		out = append(out, k)
		return len(out) < max
	})
	return out, err
}

// Weakref returns the referent of a weakref.ref (or a subclass): ok is
// false when obj is not one, target 0 when its referent died.
func (v *Values) Weakref(obj uint64) (target uint64, ok bool) {
	if !v.isWeakref(obj) {
		return 0, false
	}
	off := v.o.L.Weakref.Object
	if !off.Valid() {
		return 0, false
	}
	p, err := v.o.u64(obj + uint64(off))
	if err != nil || !validPtr(p) || v.IsNone(p) {
		return 0, true
	}
	return p, true
}

// isWeakref reports whether obj's type is weakref.ref or derives from it.
func (v *Values) isWeakref(obj uint64) bool {
	o := v.o
	t, err := o.TypeOf(obj)
	if err != nil {
		return false
	}
	for i := 0; i < 16 && validPtr(t); i++ {
		n, err := o.TypeName(t)
		if err != nil {
			return false
		}
		if n == "weakref" || n == "weakref.ReferenceType" {
			f, err := o.TypeFlags(t)
			return err == nil && f&tpflagsHeapType == 0
		}
		if !o.L.Type.Base.Valid() {
			return false
		}
		if t, err = o.u64(t + uint64(o.L.Type.Base)); err != nil {
			return false
		}
	}
	return false
}

// Module returns sys.modules[name] of interpreter interp.
func (v *Values) Module(interp uint64, name string) (uint64, bool) {
	o := v.o
	mods, err := o.u64(interp + uint64(v.r.In.Layout.Interp.Modules))
	if err != nil || !validPtr(mods) {
		return 0, false
	}
	m, ok, err := o.DictGetStr(mods, name)
	return m, err == nil && ok
}

// CallableRefs lists the objects a callable refers to: a function's
// closure cells, a partial's function and arguments, a bound method's
// function (and its refs) and self, a builtin method's self. A done
// callback that refers to a future is how asyncio chains them (gather,
// shield, wait, wait_for, TaskGroup).
func (v *Values) CallableRefs(fn uint64) []uint64 {
	var out []uint64
	v.callableRefs(fn, &out, 0)
	return out
}

func (v *Values) callableRefs(fn uint64, out *[]uint64, depth int) {
	if depth > 3 || !validPtr(fn) {
		return
	}
	o := v.o
	L := o.L
	tn := v.TypeName(fn)
	read := func(off layout.Off) uint64 {
		if !off.Valid() {
			return 0
		}
		p, err := o.u64(fn + uint64(off))
		if err != nil || !validPtr(p) {
			return 0
		}
		return p
	}
	switch {
	case tn == "function":
		c := read(L.Func.Closure)
		if c == 0 || !o.hasFlag(c, tpflagsTupleSub) {
			return
		}
		cells, _ := o.TupleItems(c)
		for _, cell := range cells {
			if o.isCell(cell) {
				if p, err := o.u64(cell + uint64(L.Cell.Ref)); err == nil && validPtr(p) {
					*out = append(*out, p)
				}
			}
		}
	case tn == "method":
		if s := read(L.Method.Self); s != 0 {
			*out = append(*out, s)
		}
		v.callableRefs(read(L.Method.Func), out, depth+1)
	case tn == "functools.partial" || strings.HasSuffix(tn, ".partial"):
		if f := read(L.Partial.Fn); f != 0 {
			*out = append(*out, f)
			v.callableRefs(f, out, depth+1)
		}
		if a := read(L.Partial.Args); a != 0 && o.hasFlag(a, tpflagsTupleSub) {
			args, _ := o.TupleItems(a)
			*out = append(*out, args...)
		}
	case tn == "builtin_function_or_method":
		if s := read(L.CFunction.Self); s != 0 {
			*out = append(*out, s)
		}
	}
}

// ThreadAsyncio returns the event loop running in thread state ts and
// (3.14+) the task it runs; 0 when none.
func (v *Values) ThreadAsyncio(ts ThreadState) (loop, task uint64) {
	o := v.o
	L := v.r.asyncioLayout().L
	get := func(off layout.Off) uint64 {
		if !off.Valid() {
			return 0
		}
		p, err := o.u64(ts.Addr + uint64(off))
		if err != nil || !validPtr(p) || v.IsNone(p) {
			return 0
		}
		return p
	}
	if L.Thread.AsyncioRunningLoop.Valid() {
		return get(L.Thread.AsyncioRunningLoop), get(L.Thread.AsyncioRunningTask)
	}
	// 3.10–3.12: the thread's dict holds it, in a _RunningLoopHolder up to
	// 3.11 (with the pid that set it: a forked child's is stale).
	d := get(L.Thread.Dict)
	if d == 0 || !o.hasFlag(d, tpflagsDictSub) {
		return 0, 0
	}
	h, ok, err := o.DictGetStr(d, "__asyncio_running_event_loop__")
	if err != nil || !ok || !validPtr(h) || v.IsNone(h) {
		return 0, 0
	}
	if L.RunningLoop.Loop.Valid() && strings.HasSuffix(v.TypeName(h), "_RunningLoopHolder") {
		if L.RunningLoop.Pid.Valid() {
			if pid, err := o.u32(h + uint64(L.RunningLoop.Pid)); err == nil && v.r.t != nil && int(int32(pid)) != v.r.t.PID() && v.r.t.PID() != 0 {
				return 0, 0
			}
		}
		l, err := o.u64(h + uint64(L.RunningLoop.Loop))
		if err != nil || !validPtr(l) || v.IsNone(l) {
			return 0, 0
		}
		return l, 0
	}
	return h, 0
}

// maxTasks bounds the tasks read from one list or registry.
const maxTasks = 1 << 20

// NativeTasks lists 3.14+'s C tasks: each thread's circular list, then
// the interpreter's list of tasks whose threads have exited. Empty before
// 3.14 (tasks are then found through asyncio's registries).
func (v *Values) NativeTasks(interp uint64, threads []ThreadState) ([]uint64, error) {
	L := v.r.asyncioLayout().L
	if !L.Task.Node.Valid() || !L.LLNode.Next.Valid() {
		return nil, nil
	}
	var out []uint64
	var errs []error
	walk := func(head uint64) {
		seen := map[uint64]bool{head: true}
		p, err := v.o.u64(head + uint64(L.LLNode.Next))
		for ; err == nil && p != 0 && !seen[p]; p, err = v.o.u64(p + uint64(L.LLNode.Next)) {
			if len(out) >= maxTasks {
				errs = append(errs, fmt.Errorf("more than %d tasks", maxTasks))
				return
			}
			seen[p] = true
			out = append(out, p-uint64(L.Task.Node))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("task list at %#x: %w", head, err))
		} else if p != head {
			errs = append(errs, fmt.Errorf("task list at %#x does not loop back", head))
		}
	}
	for _, ts := range threads {
		if L.Thread.AsyncioTasksHead.Valid() {
			walk(ts.Addr + uint64(L.Thread.AsyncioTasksHead))
		}
	}
	if L.Interp.AsyncioTasksHead.Valid() {
		walk(interp + uint64(L.Interp.AsyncioTasksHead))
	}
	return out, errors.Join(errs...)
}

// AsyncioReason says why C tasks cannot be read in this target ("" when
// they can).
func (v *Values) AsyncioReason() string { return v.r.asyncioLayout().Reason }

// Items lists the item pointers of a list or tuple (or a subclass).
func (v *Values) Items(obj uint64) ([]uint64, error) {
	switch {
	case v.o.hasFlag(obj, tpflagsTupleSub):
		return v.o.TupleItems(obj)
	case v.o.hasFlag(obj, tpflagsListSub):
		return v.listItems(obj)
	}
	return nil, fmt.Errorf("%s is not a list or tuple", v.TypeName(obj))
}
