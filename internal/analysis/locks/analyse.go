package locks

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"pyscope/internal/analysis/waitgraph"
	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
)

// analysis is one run over one snapshot.
type analysis struct {
	c    *captured
	snap *model.Snapshot
	v    *cpython.Values
	lim  cpython.Limits

	sync    map[uint64]*cpython.SyncObject // objects read so far (nil: not a primitive)
	threads map[uint64]*model.Thread       // by ident
	objects map[uint64]uint64              // ident → threading.Thread object
	// holders: object address (a lock, an RLock, a semaphore, and a
	// condition's lock) → the threads holding it.
	holders map[uint64][]uint64
	// physLock: the lock each waiting thread is blocked acquiring, where
	// known (below the highest-level object it waits for).
	physLock map[uint64]*cpython.SyncObject
	// holdFrame: for each hold of a thread, the frame it was found in.
	holdFrame map[uint64][]int
	// polls wait for the threads blocked at the stop to be back in their
	// calls; back says which are.
	polls sync.WaitGroup
	mu    sync.Mutex
	back  map[*osThread]bool
	// ends map what a thread blocked on its end sleeps on (a semaphore;
	// endsMutex: a parked address) to the thread (see joinedBy).
	ends, endsMutex map[uint64]*cpython.SyncObject
	warnings        []string
}

func newAnalysis(c *captured, snap *model.Snapshot) *analysis {
	a := &analysis{c: c, snap: snap, v: c.r.NewValues(), lim: cpython.JSONLimits(),
		sync: map[uint64]*cpython.SyncObject{}, threads: map[uint64]*model.Thread{},
		holders: map[uint64][]uint64{}, physLock: map[uint64]*cpython.SyncObject{}, holdFrame: map[uint64][]int{}}
	a.lim.MaxRepr = 4096
	for i := range snap.Threads {
		th := &snap.Threads[i]
		if th.Python == nil || *th.Python {
			a.threads[th.ThreadID] = th
		}
	}
	return a
}

// obj reads a primitive once.
func (a *analysis) obj(addr uint64) *cpython.SyncObject {
	if addr == 0 {
		return nil
	}
	if so, ok := a.sync[addr]; ok {
		return so
	}
	var p *cpython.SyncObject
	if so, ok := a.v.SyncState(addr); ok {
		p = &so
	}
	if len(a.sync) < 1<<16 {
		a.sync[addr] = p
	}
	return p
}

// repr is a primitive's repr, computed once, when it is shown.
func (a *analysis) repr(so *cpython.SyncObject) string {
	if so.Repr == "" {
		so.Repr = cpython.Repr(a.v.Decode(so.Addr, a.lim), a.lim)
	}
	return so.Repr
}

// lockOf is the lock a primitive's acquirers block on: a lock itself, a
// condition's _lock, the lock of an event's, a semaphore's or a barrier's
// condition, a queue's mutex, a future's condition's lock.
func (a *analysis) lockOf(so *cpython.SyncObject) *cpython.SyncObject {
	for i := 0; so != nil && i < 4; i++ {
		if so.Kind == cpython.SyncLock || so.Kind == cpython.SyncRLock {
			return so
		}
		so = a.obj(so.Inner)
	}
	return nil
}

// threadInfo is what the analysis knows of one thread.
type threadInfo struct {
	th     *model.Thread
	os     *osThread
	frames []model.Frame // Python frames, innermost first
	// fs is what each frame says about locks; nil for most frames, which
	// say nothing (a dump of 100 threads has thousands).
	fs []*frameSync
	// inner: the innermost frames whose objects may name the lock the
	// thread sleeps on, or the self of a blocking method.
	inner int
	// run is the number of innermost frames that are the standard
	// library's blocking methods; high the object the outermost of them
	// runs for.
	run  int
	high *cpython.SyncObject
	// released are the locks of the conditions the thread waits in:
	// Condition.wait let go of them.
	released map[uint64]bool
	// futs: the futures a thread in concurrent.futures.wait or
	// as_completed waits on (nil for any other wait).
	futs *futuresWait
}

// futuresWait is a wait in concurrent.futures.wait(fs) or
// as_completed(fs): on the futures of fs not done yet, RUNNING ones first,
// then by address; any is set when one of them finishing ends the wait
// (FIRST_COMPLETED, FIRST_EXCEPTION, as_completed's next item), unset for
// ALL_COMPLETED.
type futuresWait struct {
	futures []*cpython.SyncObject
	any     bool
}

// maxFutures bounds the futures read of one wait(fs).
const maxFutures = 4096

// frameSync is one frame's part: what it says about locks, or why it
// could not be read.
type frameSync struct {
	cpython.FrameSync
	err error
	// objectsRead: Objects were read (see objects).
	objectsRead bool
}

var noSync frameSync

// sync is what frame i says (nothing, for most frames).
func (ti *threadInfo) sync(i int) *frameSync {
	if fs := ti.fs[i]; fs != nil {
		return fs
	}
	return &noSync
}

// frameObjects are the objects in the variables and stack slots of inner frame
// i, read when first asked for: most threads need one to three frames'.
func (a *analysis) frameObjects(ti *threadInfo, i int) []uint64 {
	fs := ti.fs[i]
	if fs == nil {
		fs = &frameSync{}
		ti.fs[i] = fs
	}
	if fs.err != nil || i >= ti.inner {
		return nil
	}
	if !fs.objectsRead {
		fs.objectsRead = true
		if fs.Objects == nil {
			fs.Objects, fs.err = a.v.FrameObjects(ti.frames[i])
		}
	}
	return fs.Objects
}

// pythonOnly reports whether frames are all Python frames (looked at in
// place: a dump has thousands).
func pythonOnly(frames []model.Frame) bool {
	for i := range frames {
		if frames[i].Kind != "python" {
			return false
		}
	}
	return true
}

func (a *analysis) run() {
	c := a.c
	if c.finalizing {
		a.snap.Python.Finalizing = true
	}
	a.startPolls()
	var infos []*threadInfo
	for _, th := range a.threads {
		ti := &threadInfo{th: th, os: c.threads[th.NativeID], frames: th.Frames}
		if !pythonOnly(th.Frames) {
			ti.frames = make([]model.Frame, 0, len(th.Frames))
			for i := range th.Frames {
				if th.Frames[i].Kind == "python" {
					ti.frames = append(ti.frames, th.Frames[i])
				}
			}
		}
		// A thread sleeping in another call (sleep, I/O) is in no
		// blocking method: only what it holds is read. Otherwise the
		// objects of its innermost frames are read as blockingRun and
		// physical need them (the lock it sleeps on is among them, their
		// self says which blocking methods they run).
		_, blocked := ti.os.futex()
		if blocked || ti.os == nil || !ti.os.known || ti.os.syscall < 0 {
			ti.inner = min(len(ti.frames), maxRun+1)
		}
		ti.fs = make([]*frameSync, len(ti.frames))
		for i := range ti.frames {
			want := cpython.SyncWant{Entering: i == 0,
				Calls: c.collecting[th.Interpreter] || (blocked && i == 0)}
			fs, err := a.v.FrameSync(&ti.frames[i], want)
			if err != nil || !fs.Empty() {
				ti.fs[i] = &frameSync{FrameSync: fs, err: err}
			}
		}
		if ti.inner > 0 {
			a.blockingRun(ti)
		}
		infos = append(infos, ti)
	}
	a.collector(infos)
	// Stable order: the snapshot's.
	order := map[uint64]int{}
	for i, th := range a.snap.Threads {
		order[th.ThreadID] = i
	}
	sort.Slice(infos, func(i, j int) bool { return order[infos[i].th.ThreadID] < order[infos[j].th.ThreadID] })
	for _, ti := range infos {
		a.holds(ti)
	}
	for _, ti := range infos {
		a.waits(ti)
	}
	a.plainLocks(infos)
	a.owners()
	a.check(infos)
	for _, ti := range infos {
		if w := ti.th.WaitingFor; w != nil {
			w.HeldBy, w.Pending = a.heldBy(ti, w)
			if ti.futs != nil && w.Kind == string(cpython.SyncFuture) {
				for _, f := range ti.futs.futures {
					w.Futures = append(w.Futures, f.Addr)
				}
				w.Any = ti.futs.any
			}
		}
	}
	a.shutdown(infos)
	a.deadlocks(infos)
	if c.s.opts.Torn {
		a.warnings = append(a.warnings, "--no-block: threads ran while what they hold and wait for was read, so the waits-for graph may be torn")
	}
	a.snap.Warnings = append(a.snap.Warnings, a.warnings...)
}

// holds records what each frame of a thread holds: with blocks, blocking
// acquire() statements still in effect.
func (a *analysis) holds(ti *threadInfo) {
	seen := map[uint64]bool{}
	// Outermost frame first: the order the thread took them. The blocking
	// methods' own locks (a condition's waiter) are theirs, not the
	// thread's.
	for i := len(ti.frames) - 1; i >= ti.run; i-- {
		fs := ti.sync(i)
		if fs.err != nil || len(fs.With)+len(fs.Acquired) == 0 {
			continue // most frames: looked at in place, not copied
		}
		f := &ti.frames[i]
		for _, e := range append(slices.Clip(fs.With), fs.Acquired...) {
			so := a.obj(e.Object)
			if so == nil || seen[so.Addr] {
				continue
			}
			if lk := a.lockOf(so); lk != nil && ti.released[lk.Addr] {
				continue // a Condition.wait let go of it
			}
			switch so.Kind {
			case cpython.SyncLock, cpython.SyncRLock:
				if !so.State.Locked {
					continue // released since, by code pyscope cannot follow
				}
				if so.Kind == cpython.SyncRLock && so.State.Owner != ti.th.ThreadID {
					continue // its owner says who holds it
				}
			case cpython.SyncCondition:
				if lk := a.lockOf(so); lk == nil || !lk.State.Locked {
					continue
				}
			case cpython.SyncSemaphore:
			default:
				continue
			}
			seen[so.Addr] = true
			a.hold(ti.th, so, model.Held{File: f.File, Line: e.Line, Via: e.Via})
			a.holdFrame[ti.th.ThreadID] = append(a.holdFrame[ti.th.ThreadID], i)
		}
	}
}

// plainLocks drops the holds of plain Locks that rest only on an
// X.acquire() statement (Held.Via "acquire") when the lock says otherwise.
// A plain Lock has no owner: any thread may release it, so an acquire()
// still in effect in a frame says the thread took the lock, not that it
// still holds it. Such a hold is dropped
//   - when another thread is inside a with block on the lock (or on a
//     Condition over it): a with block that is in effect holds the lock,
//     and a plain Lock has one holder at most; the lock was handed over
//     (L.acquire() in one thread, L.release() in another);
//   - when the thread itself blocks acquiring that lock: the program
//     counts on another thread to release it (a lock used as a signal:
//     done.acquire(), start a worker that calls done.release(),
//     done.acquire()). The waiter is left with no known holder (held_by
//     empty, "holder unknown"), not a cycle of one: a thread waiting for
//     itself is only reported when it is inside a with block on the lock.
//
// RLocks name their owner, and Semaphores may have several holders: they
// are left alone.
func (a *analysis) plainLocks(infos []*threadInfo) {
	plain := func(addr uint64) *cpython.SyncObject {
		so := a.obj(addr)
		if so == nil || (so.Kind != cpython.SyncLock && so.Kind != cpython.SyncCondition) {
			return nil
		}
		if lk := a.lockOf(so); lk != nil && lk.Kind == cpython.SyncLock {
			return lk
		}
		return nil
	}
	// The plain locks threads hold through a with block, and which threads.
	certain := map[uint64][]uint64{}
	for _, ti := range infos {
		for _, h := range ti.th.Holds {
			if h.Via == "with" {
				if lk := plain(h.Address); lk != nil {
					certain[lk.Addr] = append(certain[lk.Addr], ti.th.ThreadID)
				}
			}
		}
	}
	for _, ti := range infos {
		th := ti.th
		waits := a.physLock[th.ThreadID]
		var dropped []model.Held
		keep, frames := th.Holds[:0], a.holdFrame[th.ThreadID][:0]
		for i, h := range th.Holds {
			lk := plain(h.Address)
			if h.Via == "acquire" && lk != nil && !slices.Contains(certain[lk.Addr], th.ThreadID) &&
				(len(certain[lk.Addr]) > 0 || lk == waits) {
				dropped = append(dropped, h)
				continue
			}
			keep = append(keep, h)
			frames = append(frames, a.holdFrame[th.ThreadID][i])
		}
		if len(dropped) == 0 {
			continue
		}
		th.Holds, a.holdFrame[th.ThreadID] = keep, frames
		// The thread is no holder of what only the dropped holds said.
		held := map[uint64]bool{}
		for _, h := range keep {
			held[h.Address] = true
			if lk := plain(h.Address); lk != nil {
				held[lk.Addr] = true
			}
		}
		for _, h := range dropped {
			for _, addr := range []uint64{h.Address, plain(h.Address).Addr} {
				if !held[addr] {
					a.holders[addr] = slices.DeleteFunc(a.holders[addr], func(id uint64) bool { return id == th.ThreadID })
				}
			}
		}
	}
}

// hold records that th holds so.
func (a *analysis) hold(th *model.Thread, so *cpython.SyncObject, h model.Held) {
	h.Kind, h.Address, h.Repr = string(so.Kind), so.Addr, a.repr(so)
	th.Holds = append(th.Holds, h)
	a.addHolder(so.Addr, th.ThreadID)
	if so.Kind == cpython.SyncCondition {
		if lk := a.lockOf(so); lk != nil {
			a.addHolder(lk.Addr, th.ThreadID)
		}
	}
}

func (a *analysis) addHolder(obj, ident uint64) {
	if !slices.Contains(a.holders[obj], ident) {
		a.holders[obj] = append(a.holders[obj], ident)
	}
}

// waitFrames are the standard library's blocking methods, by function
// name, with the kinds of self they block on. _acquire_restore is where
// Condition.wait takes back a plain Lock (a Condition(Lock()), as Event,
// Semaphore and Barrier make): a Python method of the condition's, where
// an RLock's is C code. Without it in the run, a waiter notified and
// blocked there would keep the condition's lock its wait let go of, and
// wait for itself.
var waitFrames = map[string][]cpython.SyncKind{
	"wait":                  {cpython.SyncCondition, cpython.SyncEvent, cpython.SyncBarrier},
	"_acquire_restore":      {cpython.SyncCondition},
	"wait_for":              {cpython.SyncCondition},
	"_wait":                 {cpython.SyncBarrier},
	"_enter":                {cpython.SyncBarrier},
	"acquire":               {cpython.SyncSemaphore},
	"__enter__":             {cpython.SyncCondition, cpython.SyncSemaphore},
	"join":                  {cpython.SyncThread, cpython.SyncQueue},
	"_wait_for_tstate_lock": {cpython.SyncThread},
	"get":                   {cpython.SyncQueue},
	"put":                   {cpython.SyncQueue},
	"result":                {cpython.SyncFuture},
	"exception":             {cpython.SyncFuture},
}

// self is the primitive a frame of one of waitFrames runs for.
func (a *analysis) self(ti *threadInfo, i int) *cpython.SyncObject {
	f := ti.frames[i]
	kinds, ok := waitFrames[f.Function]
	if !ok || ti.sync(i).err != nil || a.v.FirstArgName(f) != "self" {
		return nil
	}
	objs := a.frameObjects(ti, i)
	if len(objs) == 0 {
		return nil
	}
	self := a.v.Deref(objs[0])
	if self == 0 {
		// 3.10 moves an argument a closure captures into its cell.
		vars, _ := a.v.Locals(f)
		for _, v := range vars {
			if v.Name == "self" {
				self = v.Ref
			}
		}
	}
	so := a.obj(self)
	if so == nil || !slices.Contains(kinds, so.Kind) {
		return nil
	}
	return so
}

// waits finds what a blocked thread waits for: the highest-level object
// of the standard library's blocking frames it is in, and the lock (or
// the GIL, or a thread's end) the system call it sleeps in names.
func (a *analysis) waits(ti *threadInfo) {
	if len(ti.frames) == 0 {
		return
	}
	if ti.os != nil && ti.os.known && ti.os.syscall < 0 {
		return // running: not blocked
	}
	th := ti.th
	high, run := ti.high, ti.run
	p := a.physical(ti, run)
	// Where it waits: the frame that called the blocking methods.
	at := ti.frames[min(run, len(ti.frames)-1)]
	w := &model.Wait{File: at.File, Line: at.Line}
	switch {
	case p.gil:
		w.Kind, w.Repr = "gil", "the GIL"
		w.Address = a.c.gil[th.Interpreter]
	case high != nil:
		w.Kind, w.Address, w.Repr = string(high.Kind), high.Addr, a.repr(high)
	case p.joined != nil:
		w.Kind, w.Address, w.Repr = string(p.joined.Kind), p.joined.Addr, a.repr(p.joined)
	case p.lock != nil:
		w.Kind, w.Address, w.Repr = string(p.lock.Kind), p.lock.Addr, a.repr(p.lock)
	case p.queue != 0:
		w.Kind, w.Address, w.Repr = string(cpython.SyncQueue), p.queue, a.v.Repr(p.queue, a.lim)
	case p.other != 0:
		w.Kind, w.Address, w.Repr = "other", p.other, a.v.Repr(p.other, a.lim)
	default:
		return
	}
	if p.lock != nil {
		a.physLock[th.ThreadID] = p.lock
	}
	if p.joined != nil && high == nil {
		a.physLock[th.ThreadID] = nil
	}
	th.WaitingFor = w
}

// collector marks the thread running a collection, in an interpreter
// whose collector says one runs: the one the native stack shows in the
// collector (--native), else the one whose frame calls gc.collect(), else
// the GIL's holder (a collection holds the GIL, though a finalizer's
// Python code may let another thread take it for a while), else the one
// thread running a finalizer.
func (a *analysis) collector(infos []*threadInfo) {
	for interp := range a.c.collecting {
		var explicit, native, holder, finalizer []*model.Thread
		for _, ti := range infos {
			th := ti.th
			if th.Interpreter != interp {
				continue
			}
			for _, fs := range ti.fs {
				if fs == nil {
					continue
				}
				if c := fs.Calls; fs.err == nil && c.Method == "collect" && a.v.ModuleName(c.Receiver) == "gc" {
					explicit = append(explicit, th)
					break
				}
			}
			if th.Activity == "gc" {
				native = append(native, th)
			}
			if th.HoldsGIL {
				holder = append(holder, th)
			}
			for _, f := range ti.frames {
				if f.Function == "__del__" && f.Entry {
					finalizer = append(finalizer, th)
					break
				}
			}
		}
		// A collection lets go of the GIL only to run finalizers' code:
		// with no holder, the collector is the one thread in a finalizer.
		if len(finalizer) > 1 {
			finalizer = nil
		}
		for _, set := range [][]*model.Thread{native, explicit, holder, finalizer} {
			if len(set) > 0 {
				for _, th := range set {
					th.GC = true
				}
				break
			}
		}
	}
}

// maxRun bounds the blocking frames one wait goes through (a Barrier's
// wait, _wait, wait_for and Condition.wait are four).
const maxRun = 6

// blockingRun finds the contiguous run of the standard library's blocking
// frames from the innermost one, and the conditions whose lock they let
// go of.
func (a *analysis) blockingRun(ti *threadInfo) {
	ti.released = map[uint64]bool{}
	for i, f := range ti.frames {
		if i >= maxRun {
			break
		}
		so := a.self(ti, i)
		if so == nil {
			break
		}
		ti.high, ti.run = so, i+1
		if so.Kind == cpython.SyncCondition && (f.Function == "wait" || f.Function == "wait_for") {
			if lk := a.lockOf(so); lk != nil {
				ti.released[lk.Addr] = true
			}
		}
	}
	// concurrent.futures.wait and as_completed wait on a _Waiter's Event
	// that the futures set: the futures are what the user waits for.
	if ti.high != nil && ti.high.Kind == cpython.SyncEvent && ti.run < len(ti.frames) {
		if fw := a.futuresWait(ti.frames[ti.run]); fw != nil {
			ti.futs, ti.high, ti.run = fw, fw.futures[0], ti.run+1
		}
	}
}

// futuresWait reads what a frame of concurrent.futures.wait or
// as_completed waits on, blocked in its waiter's Event.wait: the futures
// of its set fs (both make it a set, from which as_completed removes the
// futures it has yielded) that are not done, and its return_when. nil
// for any other frame, or when none is left.
func (a *analysis) futuresWait(f model.Frame) *futuresWait {
	if f.Function != "wait" && f.Function != "as_completed" || !strings.HasSuffix(f.File, "concurrent/futures/_base.py") {
		return nil
	}
	vars, err := a.v.Locals(f)
	if err != nil {
		return nil
	}
	fw := &futuresWait{any: f.Function == "as_completed"}
	var set uint64
	for _, v := range vars {
		switch {
		case v.Name == "fs":
			set = v.Ref
		case v.Name == "return_when" && f.Function == "wait" && v.Ref != 0:
			fw.any = a.v.Repr(v.Ref, a.lim) != "'ALL_COMPLETED'"
		}
	}
	if set == 0 {
		return nil
	}
	items, err := a.v.SetItems(set, maxFutures)
	if err != nil {
		return nil
	}
	for _, p := range items {
		if so := a.obj(p); so != nil && so.Kind == cpython.SyncFuture && (so.FutureState == "RUNNING" || so.FutureState == "PENDING") {
			fw.futures = append(fw.futures, so)
		}
	}
	if len(fw.futures) == 0 {
		return nil
	}
	sort.Slice(fw.futures, func(i, j int) bool {
		fi, fj := fw.futures[i], fw.futures[j]
		if ri, rj := fi.FutureState == "RUNNING", fj.FutureState == "RUNNING"; ri != rj {
			return ri
		}
		return fi.Addr < fj.Addr
	})
	return fw
}

// found is what the system call a thread sleeps in names.
type found struct {
	gil    bool                // the GIL (its condition variable or mutex)
	lock   *cpython.SyncObject // a lock or RLock it acquires
	joined *cpython.SyncObject // a thread whose end it waits for
	queue  uint64              // a _queue.SimpleQueue it gets from (its lock is its own, in C)
	other  uint64              // an object it enters (with, acquire) that is no primitive pyscope knows
}

// physical matches the futex a thread sleeps on with the locks its
// innermost frames (the run of blocking frames and their caller) refer
// to, with the threads' own locks, and with the GIL.
func (a *analysis) physical(ti *threadInfo, run int) found {
	var f found
	uaddr, ok := ti.os.futex()
	if !ok {
		return a.byCode(ti)
	}
	parked := ti.os.parked
	if g := a.c.gil[ti.th.Interpreter]; g != 0 {
		if size := uint64(a.c.r.In.Layout.GIL.Size); size > 0 && uaddr >= g && uaddr < g+size {
			f.gil = true
			return f
		}
	}
	matches := func(so *cpython.SyncObject) bool {
		if so == nil || (so.Kind != cpython.SyncLock && so.Kind != cpython.SyncRLock) {
			return false
		}
		if so.State.Mutex {
			return parked != 0 && so.State.WaitKey == parked
		}
		return so.State.WaitKey == uaddr
	}
	seen := map[uint64]bool{}
	var try func(addr uint64, depth int) *cpython.SyncObject
	try = func(addr uint64, depth int) *cpython.SyncObject {
		if addr == 0 || seen[addr] || depth > 4 {
			return nil
		}
		seen[addr] = true
		so := a.obj(addr)
		if so == nil {
			if self, _ := a.v.BoundSelf(addr); self != 0 {
				return try(self, depth+1)
			}
			return nil
		}
		if matches(so) {
			return so
		}
		return try(so.Inner, depth+1)
	}
	for i := 0; i <= run && i < len(ti.frames); i++ {
		fs := ti.sync(i)
		if fs.err != nil {
			continue
		}
		objs := a.frameObjects(ti, i)
		if fs.err != nil {
			continue
		}
		for _, o := range append([]uint64{fs.Entering.Object}, objs...) {
			if so := try(o, 0); so != nil {
				// A thread's tstate lock (3.10–3.12), which only threading
				// takes: the interpreter waiting for the thread's end.
				if shutdown(ti) {
					if t := a.joinedBy(uaddr, parked); t != nil && a.obj(t.TstateLock) == so {
						f.joined = t
						return f
					}
				}
				f.lock = so
				return f
			}
		}
	}
	// A thread's handle (3.13+): the interpreter waiting for its end.
	if shutdown(ti) {
		if t := a.joinedBy(uaddr, parked); t != nil {
			f.joined = t
			return f
		}
	}
	if len(ti.fs) > 0 && ti.sync(0).err == nil && run == 0 {
		fs := ti.sync(0)
		if c := fs.Calls; c.Method == "get" && c.Receiver != 0 && a.v.TypeName(c.Receiver) == "_queue.SimpleQueue" {
			f.queue = c.Receiver
		} else if fs.Entering.Object != 0 {
			f.other = fs.Entering.Object
		}
	}
	return f
}

// shutdown reports whether a thread waits in threading._shutdown, where
// the interpreter waits for its threads' ends at exit.
func shutdown(ti *threadInfo) bool {
	f := ti.frames[0]
	return f.Function == "_shutdown" && path.Base(f.File) == "threading.py"
}

// byCode is what a thread whose system call is unknown (no registers:
// --no-block without the kernel's word, an arm64 core) is taking, as its
// innermost frame's code says; nothing proves it is blocked.
func (a *analysis) byCode(ti *threadInfo) found {
	var f found
	if len(ti.fs) == 0 || ti.sync(0).err != nil || ti.sync(0).Entering.Object == 0 {
		return f
	}
	so := a.obj(ti.sync(0).Entering.Object)
	if lk := a.lockOf(so); lk != nil && lk.State.Locked && so == lk {
		f.lock = lk
	}
	return f
}

// joinedBy finds the thread whose lock (3.10–3.12: the tstate lock it
// holds while it runs) or handle (3.13+: the event set as it exits) a
// futex wait names.
func (a *analysis) joinedBy(uaddr, parked uint64) *cpython.SyncObject {
	if a.ends == nil {
		// What a thread's end is waited on by, for every thread threading
		// knows; built once, when first needed (few dumps need it).
		a.objects = a.c.r.ThreadObjects()
		a.ends = map[uint64]*cpython.SyncObject{}
		a.endsMutex = map[uint64]*cpython.SyncObject{}
		for ident, tobj := range a.objects {
			so := a.obj(tobj)
			if so == nil || so.Kind != cpython.SyncThread {
				continue
			}
			if lk := a.obj(so.TstateLock); lk != nil && lk.Kind == cpython.SyncLock && lk.State.Locked {
				a.addHolder(lk.Addr, ident)
				if lk.State.Mutex {
					a.endsMutex[lk.State.WaitKey] = so
				} else {
					a.ends[lk.State.WaitKey] = so
				}
			}
			if so.Exiting != 0 {
				a.endsMutex[so.Exiting] = so
			}
		}
	}
	if t, ok := a.ends[uaddr]; ok {
		return t
	}
	if parked != 0 {
		return a.endsMutex[parked]
	}
	return nil
}

// owners adds the owners of the RLocks threads wait for: an RLock names
// its owner.
func (a *analysis) owners() {
	for ident, lk := range a.physLock {
		if lk == nil || lk.Kind != cpython.SyncRLock || !lk.State.Locked || lk.State.Owner == 0 {
			continue
		}
		a.addHolder(lk.Addr, lk.State.Owner)
		if th := a.threads[lk.State.Owner]; th != nil && th.ThreadID != ident {
			have := false
			for _, h := range th.Holds {
				have = have || h.Address == lk.Addr
			}
			if !have {
				th.Holds = append(th.Holds, model.Held{Kind: string(lk.Kind), Address: lk.Addr, Repr: a.repr(lk), Via: "owner"})
				a.holdFrame[th.ThreadID] = append(a.holdFrame[th.ThreadID], -1)
			}
		}
	}
}

// heldBy is who a waiting thread waits on, and whether what it waits on
// is a future no worker has started.
func (a *analysis) heldBy(ti *threadInfo, w *model.Wait) ([]uint64, bool) {
	out := []uint64{}
	th := ti.th
	switch w.Kind {
	case "gil":
		for _, o := range a.threads {
			if o.HoldsGIL && o.Interpreter == th.Interpreter && o != th {
				out = append(out, o.ThreadID)
			}
		}
		return out, false
	case "join":
		if so := a.obj(w.Address); so != nil && so.Ident != 0 {
			out = append(out, so.Ident)
		}
		return out, false
	}
	phys := a.physLock[th.ThreadID]
	high := a.obj(w.Address)
	switch {
	case phys != nil && (phys.Addr == w.Address || phys == a.lockOf(high)):
		// Blocked on the object's own lock: its holders.
		out = append(out, a.holders[phys.Addr]...)
		if phys.Kind == cpython.SyncRLock && phys.State.Locked && phys.State.Owner != 0 && !slices.Contains(out, phys.State.Owner) {
			out = append(out, phys.State.Owner)
		}
	case w.Kind == string(cpython.SyncSemaphore):
		out = append(out, a.holders[w.Address]...)
	case w.Kind == string(cpython.SyncFuture) && ti.futs != nil:
		// wait(fs) or as_completed(fs): the workers of every future not
		// done; pending only when no worker has started any of them.
		pending := true
		for _, f := range ti.futs.futures {
			held, p := a.c.r.WorkItems(a.snap).Wait(*f)
			pending = pending && p
			for _, h := range held {
				if !slices.Contains(out, h) {
					out = append(out, h)
				}
			}
		}
		return out, pending
	case w.Kind == string(cpython.SyncFuture) && high != nil:
		// A future: the thread running its work item, or none started.
		held, pending := a.c.r.WorkItems(a.snap).Wait(*high)
		return append(out, held...), pending
	}
	return out, false
}

// shutdown: the main thread waits in threading._shutdown, which only the
// interpreter's finalization calls, for the other threads to end.
func (a *analysis) shutdown(infos []*threadInfo) {
	for _, ti := range infos {
		n := len(ti.frames)
		if !ti.th.IsMain || n == 0 {
			continue
		}
		last := ti.frames[n-1]
		if last.Function == "_shutdown" && path.Base(last.File) == "threading.py" {
			a.snap.Python.Finalizing = true
		}
	}
}

// check drops, on a live process, what threads that moved after the stop
// told: a thread blocked then must be blocked in the same call now, and a
// frame holding a lock must still be where it was.
func (a *analysis) check(infos []*threadInfo) {
	ar, ok := a.c.s.probe.(target.SyscallArgsReader)
	if !ok || a.c.s.opts.Torn {
		return
	}
	// Each blocked thread went back into its call (startPolls); now that
	// everything is read, it must still be there.
	a.polls.Wait()
	back := a.back
	still := map[*osThread]bool{}
	// When no thread can have run Python code since the capture (the
	// engine's proof: one read of the GIL, and of its sleeping last
	// holder), none of them left its call to change what it holds or
	// waits for, nor released what another waits for: each thread's
	// system call need not be read again.
	quiet := a.c.still != nil && a.c.still()
	// One after the other: the live backend reads the files of a process
	// under one lock, so workers would only contend for it.
	for _, ti := range infos {
		if th := ti.th; (th.WaitingFor != nil || len(th.Holds) > 0) && ti.os != nil && ti.os.known && ti.os.syscall >= 0 {
			ot := ti.os
			if quiet {
				still[ot] = back[ot]
				continue
			}
			nr, args, ok := ar.SyscallArgs(ot.tid)
			still[ot] = back[ot] && ok && (nr == ot.syscall && args[0] == ot.args[0] || nr == sysRestartSyscall)
		}
	}
	for _, ti := range infos {
		th := ti.th
		if th.WaitingFor == nil && len(th.Holds) == 0 {
			continue
		}
		moved := false
		if ti.os != nil && ti.os.known && ti.os.syscall >= 0 {
			moved = !still[ti.os]
		} else {
			// Running at the stop: only holds of frames still at the
			// same instruction stand.
			th.WaitingFor = nil
			frames := a.holdFrame[th.ThreadID]
			var keep []model.Held
			for i, h := range th.Holds {
				if fi := frames[i]; fi >= 0 && fi < len(ti.frames) {
					f := ti.frames[fi]
					if now, err := a.v.FrameInstr(f); err != nil || now != f.Instr {
						a.warnings = append(a.warnings, fmt.Sprintf("Thread %#x ran while its locks were read: %s (%s:%d) is left out", th.ThreadID, h.Repr, path.Base(h.File), h.Line))
						continue
					}
				}
				keep = append(keep, h)
			}
			th.Holds = keep
		}
		if moved {
			// Waiting for the GIL is known from the stop alone.
			if w := th.WaitingFor; w != nil && w.Kind == "gil" {
				if len(th.Holds) > 0 {
					a.warnings = append(a.warnings, fmt.Sprintf("Thread %#x ran while its locks were read: what it holds is left out", th.ThreadID))
				}
				th.Holds = nil
				continue
			}
			a.warnings = append(a.warnings, fmt.Sprintf("Thread %#x woke up while its locks were read: what it holds and waits for is left out", th.ThreadID))
			th.WaitingFor, th.Holds = nil, nil
		}
	}
	// The holders, again from what stands.
	a.holders = map[uint64][]uint64{}
	for _, ti := range infos {
		for _, h := range ti.th.Holds {
			a.addHolder(h.Address, ti.th.ThreadID)
			if so := a.obj(h.Address); so != nil && so.Kind == cpython.SyncCondition {
				if lk := a.lockOf(so); lk != nil {
					a.addHolder(lk.Addr, ti.th.ThreadID)
				}
			}
		}
	}
}

// startPolls waits, while the analysis reads, for each thread blocked at
// the stop to go back into its call (the stop interrupted it; a loaded
// machine may take a while to run it again), so that check's final look
// at it costs one read. It gives up on a thread after pollFor.
func (a *analysis) startPolls() {
	ar, ok := a.c.s.probe.(target.SyscallArgsReader)
	if !ok || a.c.s.opts.Torn {
		return
	}
	a.back = map[*osThread]bool{}
	var pending []*osThread
	for _, ot := range a.c.threads {
		switch {
		case !ot.known || ot.syscall < 0:
		case !ot.stopped:
			// Left running in its call: nothing to wait for (check looks
			// again at the end, as for the others).
			a.back[ot] = true
		default:
			pending = append(pending, ot)
		}
	}
	a.polls.Add(1)
	go func() {
		defer a.polls.Done()
		deadline := time.Now().Add(pollFor)
		wait := 20 * time.Microsecond
		for len(pending) > 0 {
			var still []*osThread
			for _, ot := range pending {
				nr, args, ok := ar.SyscallArgs(ot.tid)
				switch {
				case ok && (nr == ot.syscall && args[0] == ot.args[0] || nr == sysRestartSyscall):
					a.mu.Lock()
					a.back[ot] = true
					a.mu.Unlock()
				case ok && nr >= 0:
					// In another call: it moved.
				default:
					still = append(still, ot) // running: on its way back?
				}
			}
			pending = still
			if len(pending) == 0 || time.Now().After(deadline) {
				return
			}
			time.Sleep(wait)
			wait = min(2*wait, 5*time.Millisecond)
		}
	}()
}

// pollFor bounds how long a thread resumed after the stop is waited for
// to go back into its call.
const pollFor = 300 * time.Millisecond

// node is a waits-for graph node: a thread or an object.
type node struct {
	thread bool
	id     uint64
}

// deadlocks reports the cycles of the waits-for graph, and threads waiting
// for what a thread that no longer exists holds.
func (a *analysis) deadlocks(infos []*threadInfo) {
	g := waitgraph.New[node]()
	for _, ti := range infos {
		g.Node(node{true, ti.th.ThreadID})
	}
	for _, ti := range infos {
		w := ti.th.WaitingFor
		if w == nil || len(w.HeldBy) == 0 {
			continue
		}
		if w.Any && len(w.Futures) > 1 {
			// Any of several futures ends the wait: a cycle through one
			// worker proves nothing while another future may finish.
			continue
		}
		g.Add(node{true, ti.th.ThreadID}, node{false, w.Address})
		for _, h := range w.HeldBy {
			g.Add(node{false, w.Address}, node{true, h})
		}
	}
	const maxCycles = 100
	cycles, complete := g.Cycles(maxCycles, 0)
	for _, c := range cycles {
		var d model.Deadlock
		for _, n := range c {
			if n.thread {
				d.Threads = append(d.Threads, n.id)
			} else {
				d.Objects = append(d.Objects, n.id)
			}
		}
		a.snap.Deadlocks = append(a.snap.Deadlocks, d)
	}
	if !complete {
		a.warnings = append(a.warnings, fmt.Sprintf("the waits-for graph has more cycles than shown (%d)", len(cycles)))
	}
	for _, ti := range infos {
		w := ti.th.WaitingFor
		if w == nil {
			continue
		}
		for _, h := range w.HeldBy {
			if a.threads[h] == nil && !a.c.alive[h] {
				a.snap.Deadlocks = append(a.snap.Deadlocks, model.Deadlock{Threads: []uint64{ti.th.ThreadID, h}, Objects: []uint64{w.Address}})
			}
		}
	}
}
