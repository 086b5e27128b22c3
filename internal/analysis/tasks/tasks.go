// Package tasks finds the asyncio tasks of every event loop of a target,
// what each is suspended in and what it awaits, and the tasks that await
// each other (a deadlock). It plugs into the engine as a Stage: Capture
// reads the tasks while the target is stopped, Apply completes the
// snapshot (code objects, threads, cycles) after it runs again.
//
// Where the tasks are:
//   - 3.14+: each thread's list of _asyncio's C tasks and the interpreter's
//     list of tasks of exited threads (the interpreter's asyncio debug
//     offsets), plus asyncio.tasks' registries for the other tasks;
//   - 3.10–3.13: asyncio.tasks' registries: _all_tasks (a WeakSet; 3.12+
//     _scheduled_tasks) and 3.12+'s _eager_tasks.
//
// What a task awaits: the object its innermost coroutine is suspended on
// (cr_await, gi_yieldfrom, ag_await, read from the suspended frame's
// stack). A task awaits a task directly; a future that a gather,
// shield, wait, wait_for or TaskGroup made stands for the tasks whose done
// callbacks complete it (closure cells, partial arguments, bound methods);
// a TaskGroup's parent awaits its tasks from their creation.
//
// 3.14's own awaited_by records are not used: gather, shield and wait
// record the task that called them, and the record stays until the
// awaited task is done, after that caller stopped waiting (a gather that
// failed fast, a shield whose caller was cancelled, a wait that returned
// at the first completed, a gather awaited by another task or not at
// all). What a task is suspended on now, and the done callbacks still
// attached, say who waits for whom on every version.
//
// A future that asyncio.wrap_future chained to a concurrent.futures.Future
// (run_in_executor, to_thread) names that future and the worker thread
// whose _WorkItem.run runs it.
package tasks

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/target"
)

// Bounds on what one capture reads, whatever the target holds.
const (
	maxChain   = 1024    // coroutines in one task's chain
	maxFutures = 1 << 17 // futures (tasks included) indexed for the callbacks
)

// Stage reads the tasks at every capture of a target.
type Stage struct{}

var _ engine.Stage = Stage{}

// Prepare has nothing to learn ahead: asyncio's registries are looked up
// at each stop (asyncio may be imported later).
func (s Stage) Prepare(target.Target, *cpython.Reader) engine.Stage { return s }

// Capture reads every task while the target is stopped.
func (Stage) Capture(_ target.Target, r *cpython.Reader) engine.Captured {
	return Capture(r)
}

// Close releases nothing.
func (Stage) Close() {}

// PythonOnly says Capture reads only Python objects and the interpreter's
// own structures, which the GIL protects: a capture that stops only the
// GIL's holder and proves no hand-off happened while it read may read
// the tasks without stopping every thread (the engine's PythonOnlyStage).
func (Stage) PythonOnly() {}

// Captured is what one stop read of the tasks; Apply completes a snapshot
// with it.
type Captured struct {
	r        *cpython.Reader
	tasks    []*rawTask
	warnings []string
}

type rawTask struct {
	id, loop uint64
	name     string
	state    string
	frames   []cpython.FrameRef // outermost first
	runFrame uint64             // running: the frame of its coroutine
	thread   uint64             // ident of the thread running its loop; 0 unknown
	awaits   []uint64
	futures  map[uint64]*cpython.Future    // awaited futures that are not tasks, as read while stopped
	chained  map[uint64]cpython.SyncObject // awaited future → the concurrent future chained to it
	group    uint64                        // the parent task of the TaskGroup that holds it
	err      string
}

// capture is one Capture's state.
type capture struct {
	r       *cpython.Reader
	v       *cpython.Values
	futs    map[uint64]*cpython.Future // nil value: not a future
	done    map[uint64]bool            // futures whose callbacks are indexed
	comp    map[uint64]*idList         // future → the futures whose callbacks complete it
	parent  map[uint64]uint64          // TaskGroup child → its parent task
	current map[uint64]bool            // tasks their loops run now
	threads map[uint64]uint64          // running loop → thread ident
	// What a done callback refers to, and the futures among a callback
	// self's attributes: the same gather closure or TaskGroup serves
	// thousands of futures, read once each.
	refs    map[uint64][]uint64
	futAttr map[uint64][]futureAttr
	warn    []string
}

// futureAttr is an attribute of a callback's self that holds a future.
type futureAttr struct {
	name  string
	value uint64
}

// Capture reads the tasks of r's target, which must be stopped (or a
// core).
func Capture(r *cpython.Reader) *Captured {
	c := &capture{r: r, v: r.NewValues(), futs: map[uint64]*cpython.Future{}, done: map[uint64]bool{},
		comp: map[uint64]*idList{}, parent: map[uint64]uint64{}, current: map[uint64]bool{}, threads: map[uint64]uint64{},
		refs: map[uint64][]uint64{}, futAttr: map[uint64][]futureAttr{}}
	out := &Captured{r: r}
	interps, err := r.Interpreters()
	if err != nil {
		c.warn = append(c.warn, err.Error())
	}
	var ids []uint64
	seen := map[uint64]bool{}
	for _, ip := range interps {
		for _, id := range c.interpTasks(ip) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		c.index(id)
	}
	for _, id := range ids {
		// Finished tasks are left out, as asyncio.all_tasks() and `python
		// -m asyncio ps` leave them: 3.14's per-thread lists drop them at
		// once, 3.10–3.13's registries only when they are collected.
		if t := c.task(id); t != nil && !t.finished() {
			out.tasks = append(out.tasks, t)
		}
	}
	if len(ids) > 0 && c.v.AsyncioReason() != "" {
		c.warn = append(c.warn, "asyncio: "+c.v.AsyncioReason())
	}
	out.warnings = c.warn
	return out
}

// interpTasks lists the tasks of one interpreter and learns which loop
// runs in which thread.
func (c *capture) interpTasks(ip uint64) []uint64 {
	v := c.v
	threads, err := c.r.Threads(ip)
	if err != nil {
		c.warn = append(c.warn, "asyncio: "+err.Error())
	}
	for _, ts := range threads {
		loop, task := v.ThreadAsyncio(ts)
		if loop != 0 {
			c.threads[loop] = ts.ThreadID
		}
		if task != 0 {
			c.current[task] = true
		}
	}
	var cands []uint64
	native, err := v.NativeTasks(ip, threads)
	if err != nil {
		c.warn = append(c.warn, "asyncio: "+err.Error())
	}
	cands = append(cands, native...)
	mod, ok := v.Module(ip, "asyncio.tasks")
	if !ok {
		return cands
	}
	for _, name := range []string{"_all_tasks", "_scheduled_tasks", "_eager_tasks"} {
		reg, err := v.Attr(mod, name)
		if err != nil {
			continue
		}
		if data, err := v.Attr(reg, "data"); err == nil {
			reg = data // a WeakSet: its set of weakrefs
		}
		items, err := v.SetItems(reg, 1<<20)
		if err != nil {
			c.warn = append(c.warn, fmt.Sprintf("asyncio.tasks.%s: %v", name, err))
		}
		for _, it := range items {
			if t, isRef := v.Weakref(it); isRef {
				it = t
			}
			if it != 0 {
				cands = append(cands, it)
			}
		}
	}
	// The task each loop runs now (3.10–3.13; 3.14's pure-Python tasks).
	if cur, err := v.Attr(mod, "_current_tasks"); err == nil {
		items, _ := c.r.Obj.DictItems(cur, 1<<16)
		for _, it := range items {
			c.current[it.Value] = true
		}
	}
	return cands
}

// future reads (once) obj as a future or task; nil when it is neither.
func (c *capture) future(obj uint64) *cpython.Future {
	if f, ok := c.futs[obj]; ok {
		return f
	}
	if len(c.futs) >= maxFutures {
		return nil
	}
	f, err := c.v.Future(obj)
	if err != nil {
		f = nil
	}
	c.futs[obj] = f
	return f
}

// index records, for the future obj and every future its callbacks lead
// to, which futures complete which: a done callback of G that refers to F
// (a closure cell, a partial's argument, a bound method's self or one of
// its attributes) completes F when G is done.
func (c *capture) index(obj uint64) {
	queue := []uint64{obj}
	for len(queue) > 0 && len(c.done) < maxFutures {
		g := queue[0]
		queue = queue[1:]
		if c.done[g] {
			continue
		}
		c.done[g] = true
		f := c.future(g)
		if f == nil || f.State != cpython.FuturePending {
			continue
		}
		for _, cb := range f.Callbacks {
			for _, ref := range c.callableRefs(cb) {
				if ref == g {
					continue
				}
				if rf := c.future(ref); rf != nil {
					if !rf.IsTask {
						c.completes(ref, g)
						queue = append(queue, ref)
					}
					continue
				}
				c.instanceRefs(g, ref, &queue)
			}
		}
	}
}

// callableRefs is what a done callback refers to, read once.
func (c *capture) callableRefs(cb uint64) []uint64 {
	refs, ok := c.refs[cb]
	if !ok {
		refs = c.v.CallableRefs(cb)
		if len(c.refs) < maxFutures {
			c.refs[cb] = refs
		}
	}
	return refs
}

// chained is the concurrent.futures.Future a pending asyncio future f
// waits for: asyncio.futures._chain_future gives f a done callback
// (_call_check_cancel) whose closure holds it. Only its state is read
// now, while stopped; its repr after the resume (chainedRepr), as
// describe leaves an awaited future's.
func (c *capture) chained(f *cpython.Future) (cpython.SyncObject, bool) {
	if f.State != cpython.FuturePending {
		return cpython.SyncObject{}, false
	}
	for _, cb := range f.Callbacks {
		for _, ref := range c.callableRefs(cb) {
			if so, ok := c.v.SyncState(ref); ok && so.Kind == cpython.SyncFuture {
				return so, true
			}
		}
	}
	return cpython.SyncObject{}, false
}

// instanceRefs looks at the attributes of a callback's self: a TaskGroup's
// _on_task_done names its group, whose _parent_task awaits the child from
// its creation (as 3.14 records it) and whose _on_completed_fut the
// parent awaits in __aexit__.
func (c *capture) instanceRefs(g, self uint64, queue *[]uint64) {
	attrs, ok := c.futAttr[self]
	if !ok {
		items, _ := c.r.Obj.InstanceAttrs(self, 64)
		for _, it := range items {
			if c.future(it.Value) != nil {
				name, _ := c.r.Obj.Str(it.Key)
				attrs = append(attrs, futureAttr{name, it.Value})
			}
		}
		if len(c.futAttr) < maxFutures {
			c.futAttr[self] = attrs
		}
	}
	for _, a := range attrs {
		rf := c.future(a.value)
		switch {
		case rf.IsTask && a.name == "_parent_task":
			c.parent[g] = a.value
		case !rf.IsTask:
			c.completes(a.value, g)
			*queue = append(*queue, a.value)
		}
	}
}

// completes records that g's done callbacks complete future f.
func (c *capture) completes(f, g uint64) {
	l := c.comp[f]
	if l == nil {
		l = &idList{}
		c.comp[f] = l
	}
	l.add(g)
}

// idList keeps ids in the order added, once each; a long one (a gather
// of 10,000 children) gets an index.
type idList struct {
	ids  []uint64
	seen map[uint64]bool
}

func (l *idList) add(x uint64) {
	switch {
	case l.seen != nil:
		if l.seen[x] {
			return
		}
		l.seen[x] = true
	case len(l.ids) < 16:
		if slices.Contains(l.ids, x) {
			return
		}
	default:
		l.seen = make(map[uint64]bool, 2*len(l.ids))
		for _, v := range l.ids {
			l.seen[v] = true
		}
		if l.seen[x] {
			return
		}
		l.seen[x] = true
	}
	l.ids = append(l.ids, x)
}

func (l *idList) list() []uint64 {
	if l == nil {
		return nil
	}
	return l.ids
}

// task reads one task: its state, its coroutine chain, what it awaits.
func (c *capture) task(id uint64) *rawTask {
	f := c.future(id)
	if f == nil || !f.IsTask {
		return nil
	}
	t := &rawTask{id: id, loop: f.Loop, name: f.Name, futures: map[uint64]*cpython.Future{}, group: c.parent[id]}
	switch f.State {
	case cpython.FutureCancelled:
		t.state = "cancelled"
	case cpython.FutureFinished:
		t.state = "done"
	default:
		t.state = "pending"
		if c.current[id] {
			t.state = "running"
		}
	}
	t.thread = c.loopThread(f.Loop)
	var leaf uint64
	obj := f.Coro
	for steps := 0; obj != 0 && steps < maxChain; steps++ {
		g, err := c.v.Gen(obj)
		if err != nil {
			if steps == 0 {
				t.err = fmt.Sprintf("its coroutine is a %s, which pyscope cannot follow", c.v.TypeName(obj))
			} else {
				leaf = obj
			}
			break
		}
		if g.State == cpython.GenDone {
			break
		}
		if g.State == cpython.GenRunning {
			t.runFrame = g.Frame.Addr()
			if t.state == "pending" {
				t.state = "running"
			}
			break
		}
		t.frames = append(t.frames, g.Frame)
		if g.Awaiting == 0 {
			break
		}
		obj = c.v.Unwrap(g.Awaiting)
	}
	if t.state != "pending" {
		return t
	}
	if c.future(leaf) == nil && f.Waiter != 0 {
		leaf = f.Waiter // awaiting a pure-Python future: its __await__ yields it
	}
	if c.future(leaf) != nil {
		c.index(leaf)
		seen := map[uint64]bool{}
		for _, a := range c.resolve(leaf, map[uint64]bool{id: true}) {
			if seen[a] {
				continue
			}
			seen[a] = true
			if af := c.future(a); af != nil && af.IsTask && af.State != cpython.FuturePending {
				continue // a finished task holds nothing up (and is not listed)
			}
			t.awaits = append(t.awaits, a)
			if af := c.future(a); af != nil && !af.IsTask {
				t.futures[a] = af
				if so, ok := c.chained(af); ok {
					if t.chained == nil {
						t.chained = map[uint64]cpython.SyncObject{}
					}
					t.chained[a] = so
				}
			}
		}
	}
	return t
}

func (t *rawTask) finished() bool {
	return t.state == "done" || t.state == "cancelled"
}

// resolve turns an awaited future into what it stands for: a task is
// itself; a gather's future its children; a future that tasks complete
// (shield, wait, wait_for, TaskGroup) those tasks; any other future
// (sleep, an Event, a Queue) itself.
func (c *capture) resolve(x uint64, seen map[uint64]bool) []uint64 {
	if seen[x] || len(seen) > maxFutures {
		return nil
	}
	seen[x] = true
	f := c.future(x)
	if f == nil {
		return nil
	}
	if f.IsTask {
		return []uint64{x}
	}
	var out []uint64
	if strings.HasSuffix(c.v.TypeName(x), "_GatheringFuture") {
		if ch, err := c.v.Attr(x, "_children"); err == nil {
			items, _ := c.v.Items(ch)
			for _, child := range items {
				c.index(child)
				out = append(out, c.resolve(child, seen)...)
			}
		}
	}
	for _, g := range c.comp[x].list() {
		out = append(out, c.resolve(g, seen)...)
	}
	if len(out) == 0 {
		return []uint64{x}
	}
	return out
}

// loopThread is the ident of the thread running loop: the running loop
// the interpreter records per thread, else a Python loop's _thread_id.
func (c *capture) loopThread(loop uint64) uint64 {
	if loop == 0 {
		return 0
	}
	if th, ok := c.threads[loop]; ok {
		return th
	}
	if p, err := c.v.Attr(loop, "_thread_id"); err == nil {
		if n, err := c.r.Obj.Int(p); err == nil && n.Sign() > 0 && n.BitLen() <= 64 {
			c.threads[loop] = n.Uint64()
			return n.Uint64()
		}
	}
	c.threads[loop] = 0
	return 0
}

// Apply completes snap with the tasks: their frames (code objects are
// read now), threads, who awaits whom, and the cycles.
func (cp *Captured) Apply(snap *model.Snapshot) {
	snap.Tasks = []model.Task{}
	snap.TaskCycles = [][]uint64{}
	snap.Warnings = append(snap.Warnings, cp.warnings...)
	v := cp.r.NewValues()
	workers := cp.r.WorkItems(snap) // the lock analysis's too, when it ran
	byID := map[uint64]int{}
	for _, rt := range cp.tasks {
		t := model.Task{ID: rt.id, Name: rt.name, State: rt.state, Awaits: slices.Clone(rt.awaits),
			AwaitedBy: []uint64{}, Error: rt.err, Loop: rt.loop, Coroutine: []model.Frame{}}
		if t.Awaits == nil {
			t.Awaits = []uint64{}
		}
		if len(rt.futures) > 0 {
			t.Futures = map[uint64]string{}
			for id, f := range rt.futures {
				t.Futures[id] = cp.describe(v, id, f)
			}
		}
		for _, a := range rt.awaits {
			if so, ok := rt.chained[a]; ok {
				so.Repr = chainedRepr(v, so)
				t.Concurrent = append(t.Concurrent, chain(workers, a, so))
			}
		}
		frames, err := cp.r.ResolveFrames(rt.frames)
		if err != nil && t.Error == "" {
			t.Error = err.Error()
		}
		slices.Reverse(frames)
		thread := rt.thread
		if rt.runFrame != 0 {
			run, ident := runningFrames(snap, rt.runFrame)
			frames = append(run, frames...)
			if thread == 0 {
				thread = ident
			}
		}
		t.Coroutine = append(t.Coroutine, frames...)
		if thread != 0 {
			th := thread
			t.ThreadID = &th
		}
		byID[t.ID] = len(snap.Tasks)
		snap.Tasks = append(snap.Tasks, t)
	}
	// A TaskGroup's parent awaits its tasks, in its body too.
	awaits := make([]idList, len(snap.Tasks))
	for i := range snap.Tasks {
		for _, a := range snap.Tasks[i].Awaits {
			awaits[i].add(a)
		}
	}
	for _, rt := range cp.tasks {
		if i, ok := byID[rt.group]; ok && rt.group != rt.id && !rt.finished() {
			awaits[i].add(rt.id)
		}
	}
	awaitedBy := make([]idList, len(snap.Tasks))
	for i := range snap.Tasks {
		snap.Tasks[i].Awaits = append(snap.Tasks[i].Awaits[:0], awaits[i].ids...)
		for _, a := range snap.Tasks[i].Awaits {
			if j, ok := byID[a]; ok {
				awaitedBy[j].add(snap.Tasks[i].ID)
			}
		}
	}
	for j := range snap.Tasks {
		snap.Tasks[j].AwaitedBy = append(snap.Tasks[j].AwaitedBy, awaitedBy[j].ids...)
	}
	sortTasks(snap.Tasks)
	snap.TaskCycles = Cycles(snap.Tasks)
}

// chain describes the concurrent future so chained to the awaited future
// a: who runs it, or that no worker has started it.
func chain(workers *cpython.WorkItems, a uint64, so cpython.SyncObject) model.ChainedFuture {
	held, pending := workers.Wait(so)
	return model.ChainedFuture{Future: a, WaitingFor: model.Wait{Kind: string(so.Kind), Address: so.Addr,
		Repr: so.Repr, HeldBy: append([]uint64{}, held...), Pending: pending}}
}

// describe is an awaited future's repr for the text view. It is read
// after the target resumed (a repr costs more than the rest of a task,
// and only the text shows it): it is asyncio's repr when the future is
// still as the stop saw it (same state, same callbacks), else what the
// stop read of it.
func (cp *Captured) describe(v *cpython.Values, id uint64, was *cpython.Future) string {
	if now, err := v.Future(id); err == nil && now.State == was.State && slices.Equal(now.Callbacks, was.Callbacks) {
		return v.Repr(id, cpython.TerminalLimits())
	}
	return fmt.Sprintf("<%s %s>", v.TypeName(id), was.State)
}

// chainedRepr is a chained concurrent future's repr, read after the
// target resumed: concurrent.futures' repr when the future is still in
// the state the stop saw (read after the repr: a future's state only
// moves forward, so the repr saw that state too), else what the stop read
// of it.
func chainedRepr(v *cpython.Values, was cpython.SyncObject) string {
	repr := v.Repr(was.Addr, cpython.TerminalLimits())
	if now, ok := v.SyncState(was.Addr); ok && now.FutureState == was.FutureState && was.FutureState != "" {
		return repr
	}
	desc := map[string]string{"PENDING": "pending", "RUNNING": "running", "CANCELLED": "cancelled",
		"CANCELLED_AND_NOTIFIED": "cancelled", "FINISHED": "finished"}[was.FutureState]
	if desc == "" {
		desc = "unknown"
	}
	return fmt.Sprintf("<%s at %#x state=%s>", v.TypeName(was.Addr), was.Addr, desc)
}

// runningFrames are the Python frames of the thread running the frame at
// addr, innermost first, down to that frame; and the thread's ident.
func runningFrames(snap *model.Snapshot, addr uint64) ([]model.Frame, uint64) {
	for _, th := range snap.Threads {
		var out []model.Frame
		for _, f := range th.Frames {
			if f.Kind != "python" && f.Kind != "" {
				continue
			}
			out = append(out, f)
			if f.Addr == addr {
				return out, th.ThreadID
			}
		}
	}
	return nil, 0
}

// sortTasks orders tasks by name, numbers within names compared as
// numbers (Task-2 before Task-10), then by id.
func sortTasks(ts []model.Task) {
	sort.SliceStable(ts, func(i, j int) bool {
		if c := natCompare(ts[i].Name, ts[j].Name); c != 0 {
			return c < 0
		}
		return ts[i].ID < ts[j].ID
	})
}

func natCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			x, _ := strconv.ParseUint(a[:min(da, 18)], 10, 64)
			y, _ := strconv.ParseUint(b[:min(db, 18)], 10, 64)
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
