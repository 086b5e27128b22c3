package cpython

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"pyscope/internal/model"
	"pyscope/internal/target"
)

// glibcPthreadTIDOffset is where glibc's struct pthread keeps the kernel
// TID on x86-64 (stable for many glibc releases). Used only on 3.10 when no
// registers are available, and checked against the task list.
const glibcPthreadTIDOffset = 0x2d0

// Capture is the part of a snapshot read while the target is stopped: the
// thread states, the frame chains and the thread names. Code objects are
// immutable, so they are read afterwards by Resolve, which keeps the pause
// short.
type Capture struct {
	threads  []capturedThread
	warnings []string
	// names backs the threads' Name and OSName (one allocation, not two
	// per thread).
	names []string
	// What the capture walked, for Verify (stopgil.go): the head of the
	// interpreter list, and every thread state of each interpreter with
	// its OS thread (0 when unknown).
	interpHead uint64
	lists      []threadList
}

type threadList struct {
	interp uint64
	states []ThreadState
	tids   []int // the OS thread of each state; 0 when unknown
}

type capturedThread struct {
	model.Thread
	raw     []rawFrame
	walkErr error
	walk    *walked // its walk in the walk cache (walkcache.go), if any
	shared  bool    // raw belongs to the walk cache
	// The thread state and its innermost _PyCFrame (3.10-3.12).
	tstate, cframe uint64
	top            stackTop // its innermost frames (Reader.KeepFrames)
}

// captureScratch are the maps a capture uses while it runs, kept by the
// reader from one capture to the next.
type captureScratch struct {
	comm    map[int]string
	byFS    map[uint64]int
	tids    map[int]bool
	hostTID map[int]int
	perTID  map[int]int
}

func (sc *captureScratch) reset() {
	if sc.comm == nil {
		*sc = captureScratch{comm: map[int]string{}, byFS: map[uint64]int{}, tids: map[int]bool{},
			hostTID: map[int]int{}, perTID: map[int]int{}}
	}
	clear(sc.comm)
	clear(sc.byFS)
	clear(sc.tids)
	clear(sc.hostTID)
	clear(sc.perTID)
}

// newCapture is a capture to fill: the one Stacks gave back, emptied, or
// a new one.
func (r *Reader) newCapture() *Capture {
	cp := r.spare
	if cp == nil {
		return &Capture{}
	}
	r.spare = nil
	clear(cp.threads)
	clear(cp.names)
	for i := range cp.lists {
		clear(cp.lists[i].states)
	}
	*cp = Capture{threads: cp.threads[:0], names: cp.names[:0], lists: cp.lists[:0]}
	return cp
}

// statesFor is the storage of the thread states of the capture's list i,
// the recycled capture's.
func (cp *Capture) statesFor(i int) []ThreadState {
	if i < cap(cp.lists) {
		return cp.lists[:i+1][i].states[:0]
	}
	return nil
}

// tidsFor is the OS thread slice of the capture's list i, n long, reusing
// the storage of the capture it recycles.
func (cp *Capture) tidsFor(i, n int) []int {
	if i < cap(cp.lists) {
		if old := cp.lists[:i+1][i].tids; cap(old) >= n {
			return old[:n]
		}
	}
	return make([]int, n)
}

// Prepare does the work that does not need the target stopped: it locates
// threading._active of each interpreter, whose address does not change.
func (r *Reader) Prepare() {
	if r.Values != nil && r.Values.Globals && !r.Values.StdlibGlobals {
		r.stdlibInfo()
	}
	if r.active != nil {
		return
	}
	r.active = map[uint64]uint64{}
	interps, _ := r.Interpreters()
	for _, ip := range interps {
		if a := r.findActive(ip); a != 0 {
			r.active[ip] = a
		}
	}
}

// Capture reads the volatile state. Call it while the target is stopped.
func (r *Reader) Capture() (*Capture, error) {
	t := r.t
	cp := r.newCapture()
	// Strs are cached by address, and a reused Reader (the session) must
	// not show a freed thread name for a new str at the same address.
	clear(r.Obj.strCache)
	if r.aio != nil && r.aio.retry {
		r.aio = nil // asyncio may have been imported since
	}
	if pm, ok := r.Obj.mem.m.(*pagedMem); ok && r.Prefetch {
		pm.pf = &r.pf
		r.pf.begin(t)
		defer func() {
			r.pf.end(t)
			pm.pf = nil
		}()
	}
	r.beginValues()
	r.captures++
	if r.captures%64 == 0 {
		r.pruneWalks()
	}
	sc := &r.scratch
	sc.reset()
	comm, byFS, tids := sc.comm, sc.byFS, sc.tids
	hostTID := sc.hostTID // a container's TIDs, which thread states record, to the ones pyscope sees
	for _, th := range t.Threads() {
		comm[th.TID] = th.Comm
		tids[th.TID] = true
		if th.NSTID != 0 {
			hostTID[th.NSTID] = th.TID
		}
		if th.Regs != nil {
			if tp, ok := th.Regs.ThreadPointer(); ok {
				byFS[tp] = th.TID
			}
		}
	}
	interps, err := r.Interpreters()
	if len(interps) == 0 {
		return nil, err
	}
	if err != nil {
		cp.warnings = append(cp.warnings, err.Error())
	}
	cp.interpHead = interps[0]
	for _, ip := range interps {
		tss, err := r.threadsInto(ip, cp.statesFor(len(cp.lists)))
		if err != nil {
			cp.warnings = append(cp.warnings, err.Error())
		}
		list := threadList{interp: ip, states: tss, tids: cp.tidsFor(len(cp.lists), len(tss))}
		var found map[uint64]int // thread state → OS thread found through glibc (3.10)
		for i, ts := range tss {
			list.tids[i] = ts.NativeID
			if host, ok := hostTID[ts.NativeID]; ok {
				list.tids[i] = host
			}
			if ts.NativeID == 0 {
				list.tids[i] = r.nativeIDFromPthread(r.Obj, ts.ThreadID, byFS, tids)
				if found == nil {
					found = map[uint64]int{}
				}
				found[ts.Addr] = list.tids[i]
			}
		}
		cp.lists = append(cp.lists, list)
		tss = startedThreads(tss)
		names, err := r.namesOf(ip, tss)
		if err != nil {
			cp.warnings = append(cp.warnings, "thread names: "+err.Error())
		}
		cp.names = slices.Grow(cp.names, 2*len(tss)) // no reallocation: the pointers below stay valid
		for _, ts := range tss {
			th := model.Thread{ThreadID: ts.ThreadID, NativeID: ts.NativeID,
				HoldsGIL: ts.HoldsGIL, State: ts.State, Interpreter: ts.InterpID}
			if host, ok := hostTID[th.NativeID]; ok {
				th.NativeID = host
			}
			if th.NativeID == 0 {
				th.NativeID = found[ts.Addr]
			}
			if n, ok := names[ts.ThreadID]; ok {
				cp.names = append(cp.names, n)
				th.Name = &cp.names[len(cp.names)-1]
			}
			if c, ok := comm[th.NativeID]; ok && th.NativeID != 0 {
				cp.names = append(cp.names, c)
				th.OSName = &cp.names[len(cp.names)-1]
			}
			th.IsMain = th.NativeID == t.PID() && ts.InterpID == 0
			ct := r.walk(th, ts)
			ct.tstate, ct.cframe = ts.Addr, ts.CFrame
			cp.threads = append(cp.threads, ct)
		}
	}
	// Thread states of nested interpreters share a kernel thread: before
	// 3.12 only their _PyCFrame chains tell the native merge which eval
	// loops are whose (read only then: it costs a read per eval loop).
	perTID := sc.perTID
	for _, ct := range cp.threads {
		perTID[ct.NativeID]++
	}
	for i := range cp.threads {
		if ct := &cp.threads[i]; ct.NativeID != 0 && perTID[ct.NativeID] > 1 && r.In.Minor <= 11 {
			if ct.shared {
				// Not the walk cache's: the addresses are this stop's.
				ct.raw, ct.shared, ct.walk = slices.Clone(ct.raw), false, nil
			}
			r.pairCFrames(ct.tstate, ct.cframe, ct.raw)
		}
	}
	return cp, nil
}

// walk captures a thread's frames, from the walk cache when the thread's
// stack is unchanged.
func (r *Reader) walk(th model.Thread, ts ThreadState) capturedThread {
	if ts.Err != nil {
		return capturedThread{Thread: th, walkErr: ts.Err}
	}
	if !r.walkCacheOn() {
		raw, top, err := r.captureFramesTop(ts.FrameHead, ts.Chunk)
		return capturedThread{Thread: th, raw: raw, walkErr: err, top: top}
	}
	if w := r.cachedWalk(ts.Addr, ts.FrameHead, ts.Chunk); w != nil {
		return capturedThread{Thread: th, raw: w.raws, walkErr: w.err, walk: w, shared: true}
	}
	r.startWalk(ts.Addr, ts.FrameHead, ts.Chunk)
	raw, err := r.captureFrames(ts.FrameHead, ts.Chunk)
	r.endWalk(raw, err)
	ct := capturedThread{Thread: th, raw: raw, walkErr: err}
	if w := r.walks[ts.Addr]; w != nil && err == nil {
		ct.walk = w
	}
	return ct
}

// Resolve completes a capture into a snapshot, reading code objects. It
// may run after the target has been resumed.
func (r *Reader) Resolve(cp *Capture) *model.Snapshot {
	t := r.t
	snap := &model.Snapshot{
		PID: t.PID(),
		Python: model.Python{Version: r.In.Version, Executable: r.In.Executable,
			Library: r.In.Library, LayoutSource: r.In.Layout.Source, FreeThreaded: r.In.Layout.FreeThreaded},
		Warnings: append(r.In.Warnings(), cp.warnings...),
		Threads:  []model.Thread{},
	}
	r.keepTops(cp)
	for _, ct := range cp.threads {
		th := ct.Thread
		frames, err := r.resolveFrames(ct.raw)
		th.Frames = frames
		for _, rf := range ct.raw {
			if rf.frameless() {
				th.EmptyRuns = append(th.EmptyRuns, rf.shim)
			}
		}
		if err == nil {
			err = ct.walkErr
		}
		if err != nil {
			th.Truncated = true
			th.Error = err.Error()
		}
		snap.Threads = append(snap.Threads, th)
	}
	return snap
}

// Snapshot captures and resolves in one go (for targets that do not move,
// such as cores, or when the caller keeps the target stopped throughout).
func (r *Reader) Snapshot() (*model.Snapshot, error) {
	r.Prepare()
	cp, err := r.Capture()
	if err != nil {
		return nil, err
	}
	return r.Resolve(cp), nil
}

func (r *Reader) nativeIDFromPthread(o *Objects, pt uint64, byFS map[uint64]int, tids map[int]bool) int {
	if tid, ok := byFS[pt]; ok {
		return tid
	}
	if v, err := o.u32(pt + glibcPthreadTIDOffset); err == nil && tids[int(int32(v))] {
		return int(int32(v))
	}
	return 0
}

// findActive returns the address of threading._active ({ident: Thread}) in
// the interpreter's sys.modules, or 0.
func (r *Reader) findActive(interp uint64) uint64 {
	o := r.Obj
	mods, err := o.u64(interp + uint64(r.In.Layout.Interp.Modules))
	if err != nil || mods == 0 {
		return 0
	}
	thmod, ok, err := o.DictGetStr(mods, "threading")
	if err != nil || !ok {
		return 0
	}
	mdict, err := o.u64(thmod + uint64(r.In.Layout.Module.Dict))
	if err != nil || mdict == 0 {
		return 0
	}
	active, ok, err := o.DictGetStr(mdict, "_active")
	if err != nil || !ok {
		return 0
	}
	return active
}

// namesCache is the thread names one capture read, for the next ones.
type namesCache struct {
	at     time.Time
	idents map[uint64]bool // the threads there were then
	names  map[uint64]string
}

// namesOf returns the names of an interpreter's threads: those the last
// capture read while they are younger than NamesMaxAge and no thread
// came since, else read now. A read that failed is not kept.
func (r *Reader) namesOf(interp uint64, tss []ThreadState) (map[uint64]string, error) {
	if r.NamesMaxAge <= 0 {
		return r.threadNames(interp)
	}
	if c := r.namesCache[interp]; c != nil && time.Since(c.at) < r.NamesMaxAge {
		fresh := true
		for _, ts := range tss {
			if !c.idents[ts.ThreadID] {
				fresh = false
				break
			}
		}
		if fresh {
			return c.names, nil
		}
	}
	names, err := r.threadNames(interp)
	if err != nil {
		return names, err
	}
	c := &namesCache{at: time.Now(), idents: make(map[uint64]bool, len(tss)), names: names}
	for _, ts := range tss {
		c.idents[ts.ThreadID] = true
	}
	if r.namesCache == nil || len(r.namesCache) > maxInterps {
		r.namesCache = map[uint64]*namesCache{}
	}
	r.namesCache[interp] = c
	return c.names, nil
}

// threadNames returns ident → Thread._name from threading._active. A
// dict caught mid-resize (threads start and end) is an error, not "no
// names".
func (r *Reader) threadNames(interp uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	active, ok := r.active[interp]
	if !ok {
		// Not prepared (or threading was imported since): look it up now.
		active = r.findActive(interp)
	}
	if active == 0 {
		return out, nil
	}
	o := r.Obj
	items, err := o.DictItems(active, maxThreads)
	if err != nil {
		return out, fmt.Errorf("threading._active not read: %w", err)
	}
	// The idents, Thread objects and names are scattered: fetch the pages
	// of each kind for every thread at once (target.Prefetcher).
	r.prefetch(len(items), func(i int) uint64 { return items[i].Key }, 32)
	r.prefetch(len(items), func(i int) uint64 { return items[i].Value - 32 }, 256)
	ids := make([]uint64, len(items))
	names := make([]uint64, len(items))
	for i, it := range items {
		id, err := o.Int(it.Key)
		if err != nil || id.Sign() < 0 || id.BitLen() > 64 {
			continue
		}
		nameObj, ok, err := o.Attr(it.Value, "_name")
		if err != nil || !ok {
			continue
		}
		ids[i], names[i] = id.Uint64(), nameObj
	}
	r.prefetch(len(names), func(i int) uint64 { return names[i] }, 64)
	for i, nameObj := range names {
		if nameObj == 0 || !o.IsStr(nameObj) {
			continue
		}
		if name, err := o.Str(nameObj); err == nil {
			out[ids[i]] = name
		}
	}
	return out, nil
}

// ThreadObjects maps the ident of each thread threading knows (in every
// interpreter) to its threading.Thread object.
func (r *Reader) ThreadObjects() map[uint64]uint64 {
	out := map[uint64]uint64{}
	interps, _ := r.Interpreters()
	o := r.Obj
	for _, ip := range interps {
		active := r.active[ip]
		if active == 0 {
			active = r.findActive(ip)
		}
		if active == 0 {
			continue
		}
		items, _ := o.DictItems(active, maxThreads)
		for _, it := range items {
			if id, err := o.Int(it.Key); err == nil && id.IsUint64() {
				out[id.Uint64()] = it.Value
			}
		}
	}
	return out
}

// prefetch asks the target to cache [addr(i), addr(i)+size) for i < n in
// one go, when it can (target.Prefetcher); reads that follow then hit its
// cache.
func (r *Reader) prefetch(n int, addr func(i int) uint64, size int) {
	pf, ok := r.t.(target.Prefetcher)
	if !ok || n == 0 {
		return
	}
	addrs := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		if a := addr(i); validPtr(a) {
			addrs = append(addrs, a)
		}
	}
	pf.Prefetch(addrs, size)
}

// SysVersion reads sys.version from the target (used to get the patch
// version where the binary does not say it, i.e. 3.10).
func (r *Reader) SysVersion() (string, error) {
	interps, err := r.Interpreters()
	if len(interps) == 0 {
		return "", err
	}
	main := interps[len(interps)-1]
	sysdict, err := r.Obj.u64(main + uint64(r.In.Layout.Interp.Sysdict))
	if err != nil {
		return "", err
	}
	v, ok, err := r.Obj.DictGetStr(sysdict, "version")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("sys.version not found")
	}
	s, err := r.Obj.Str(v)
	if err != nil {
		return "", err
	}
	return strings.Fields(s + " ")[0], nil
}

// startedThreads drops thread states of threads that are still being
// started: the creating thread preallocates them, unbound (thread id 0,
// 3.12+) or carrying its own id until the new thread runs (3.10/3.11). They
// have no frames yet, and sys._current_frames() does not show them either.
func startedThreads(tss []ThreadState) []ThreadState {
	if !slices.ContainsFunc(tss, func(ts ThreadState) bool { return ts.FrameHead == 0 && ts.Err == nil }) {
		return tss // every thread runs (a profiler's usual case): nothing to drop
	}
	withFrames := map[uint64]bool{}
	for _, ts := range tss {
		if ts.FrameHead != 0 {
			withFrames[ts.ThreadID] = true
		}
	}
	out := tss[:0:0]
	seen := map[uint64]bool{}
	for _, ts := range tss {
		if ts.FrameHead == 0 && ts.Err == nil && (ts.ThreadID == 0 || withFrames[ts.ThreadID] || seen[ts.ThreadID]) {
			continue
		}
		seen[ts.ThreadID] = true
		out = append(out, ts)
	}
	return out
}
