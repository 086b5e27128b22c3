package cpython

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
	"pyscope/internal/redact"
	"pyscope/internal/target"
)

// Frame owners (_PyInterpreterFrame.owner).
const (
	ownedByThread      = 0
	ownedByGenerator   = 1
	ownedByFrameObject = 2
	// 3.12/3.13: 3 is FRAME_OWNED_BY_CSTACK; 3.14: 3 is
	// FRAME_OWNED_BY_INTERPRETER and 4 is FRAME_OWNED_BY_CSTACK. Either way
	// owners above 2 are not Python frames.
)

// ThreadState is one PyThreadState as found in the target.
type ThreadState struct {
	Addr      uint64
	Interp    uint64
	InterpID  int64
	ThreadID  uint64 // pthread_self()
	NativeID  int    // kernel TID; 0 if unknown (3.10 without registers)
	FrameHead uint64 // innermost frame: PyFrameObject* (3.10) or _PyInterpreterFrame*
	Chunk     uint64 // newest chunk of the data stack holding its frames (3.11+); 0 if unknown
	CFrame    uint64 // 3.10-3.12: the innermost eval-loop call's _PyCFrame (tstate->cframe)
	HoldsGIL  bool
	State     string // attached, detached, suspended; "" when unknown
	Next      uint64 // the next thread state in the interpreter's list
	// Err says why the thread's innermost frame could not be found (its
	// _PyCFrame, on its C stack, unreadable: a core cut short); the
	// thread is kept, with no frames, and the list goes on.
	Err error
}

// Attach states (tstate->state, Include/internal/pycore_pystate.h).
var attachStates = [...]string{"detached", "attached", "suspended"}

// ErrNoInterpreter means the runtime has no interpreter: Python is not
// initialised yet, or finalised. A profiler waits for it instead of
// counting a failure.
var ErrNoInterpreter = errors.New("the Python runtime has no interpreter (not initialised yet, or finalised)")

// Reader walks one interpreter's runtime in a target.
type Reader struct {
	In  *Interpreter
	Obj *Objects
	t   target.Target

	codes  map[uint64]*codeInfo
	active map[uint64]uint64 // interpreter → threading._active

	// Values, when set, makes Capture read frame variables (locals.go).
	Values      *ValueOptions
	vars        map[uint64]*codeVars
	dec         *Decoder
	globals     map[uint64][]model.Local // module dict → its user globals
	rendered    map[uint64]bool          // globals already rendered by Resolve
	reprs       map[*model.Value]string  // reprs already rendered by Resolve
	std         *stdlib                  // the target's standard library (stdlib.go)
	stdlibCache map[uint64]bool          // module dict → in the standard library
	aio         *asyncio                 // _asyncio's layout (asyncio.go)
	glet        *greenlets               // greenlet's layout (greenlet.go)
	syncCodes   map[uint64]*syncCode     // what the lock analysis reads of code objects
	firstArgs   map[uint64]string        // code object → its first argument's name
	stackBuf    []byte                   // copies of data stacks (stackcopy.go), reused
	rawPool     [][]rawFrame             // frame buffers Stacks gave back (stacks.go)
	rawHint     int                      // frames of the last thread walked
	pf          prefetch                 // what the last capture read (prefetch.go)
	walks       map[uint64]*walked       // thread state → its last walk (walkcache.go)
	recording   *walked                  // the walk being recorded
	walkScratch []byte
	tsBuf       []byte // one thread state, reused (Threads)
	captures    uint64 // captures so far
	scratch     captureScratch
	seenStates  map[uint64]bool // thread states a listing went through (Threads)
	spare       *Capture        // the capture Stacks consumed, to fill again
	paged       [2]*pagedMem    // the memories of the last two targets (Retarget)
	work        *WorkItems      // the last snapshot's work items (WorkItems)

	// NamesMaxAge lets a capture use the thread names an earlier one read,
	// while they are younger than this and no thread came since (a
	// profiler's many captures); 0 reads them at every capture.
	NamesMaxAge time.Duration
	// KeepFrames makes a capture keep the bytes of each thread's innermost
	// frames this many deep, with their variables and value stacks, as its
	// copy of the data stack holds them (3.11+), for FrameSync and
	// FrameObjects after the target resumed: they read no memory again.
	KeepFrames int
	tops       map[uint64][]byte // the resolved capture's kept pages, by address
	// Prefetch reads, at the start of each capture, all that the last
	// one read, in one call (prefetch.go).
	Prefetch bool
	// CodeMaxAge makes a cached code object be looked at again once that
	// old, in case it was freed and its address given to another (a long
	// profile); 0 trusts the cache for the reader's life.
	CodeMaxAge time.Duration
	namesCache map[uint64]*namesCache

	// Redact says which values are left out (nil: redact.Default()).
	Redact *redact.Policy
}

// Retarget points the reader at another handle on the same process (e.g.
// from a running probe to a stopped one), keeping what it has learnt.
func (r *Reader) Retarget(t target.Target) {
	r.t = t
	r.Obj.mem = mem{r.pagedFor(t)}
}

// pagedFor is the paged memory of t, without its memo: the one made for
// it before when t is one of the last two targets (a profiler's captures
// switch between a probe and a stop handle), else a new one.
func (r *Reader) pagedFor(t target.Target) *pagedMem {
	for _, p := range r.paged {
		if p != nil && p.m == target.Memory(t) {
			p.base, p.page, p.pf = 0, nil, nil
			return p
		}
	}
	p := newPagedMem(t)
	r.paged[0], r.paged[1] = p, r.paged[0]
	return p
}

// NewReader prepares to read in's runtime from t.
func NewReader(t target.Target, in *Interpreter) *Reader {
	m := mem{newPagedMem(t)}
	return &Reader{In: in, t: t, Obj: NewObjects(m, in.Layout, in.Minor), codes: map[uint64]*codeInfo{}}
}

// Interpreters lists PyInterpreterState addresses, main interpreter last
// (new interpreters are pushed at the head).
func (r *Reader) Interpreters() ([]uint64, error) {
	L := r.In.Layout
	head, err := r.Obj.u64(r.In.Runtime + uint64(L.Runtime.InterpretersHead))
	if err != nil {
		return nil, fmt.Errorf("read interpreter list: %w", err)
	}
	var out []uint64
	for p := head; p != 0; {
		if slices.Contains(out, p) { // at most maxInterps: no map needed
			return out, fmt.Errorf("interpreter list has a cycle at %#x", p)
		}
		if len(out) >= maxInterps {
			return out, fmt.Errorf("more than %d interpreters", maxInterps)
		}
		out = append(out, p)
		next, err := r.Obj.u64(p + uint64(L.Interp.Next))
		if err != nil {
			return out, fmt.Errorf("read interpreter list: %w", err)
		}
		p = next
	}
	if len(out) == 0 {
		return nil, ErrNoInterpreter
	}
	return out, nil
}

// Threads lists the thread states of one interpreter, in list order
// (newest first).
func (r *Reader) Threads(interp uint64) ([]ThreadState, error) {
	return r.threadsInto(interp, nil)
}

// threadsInto is Threads appending to out[:0].
func (r *Reader) threadsInto(interp uint64, out []ThreadState) ([]ThreadState, error) {
	L := r.In.Layout
	id, _ := r.Obj.u64(interp + uint64(L.Interp.ID))
	head, err := r.Obj.u64(interp + uint64(L.Interp.ThreadsHead))
	if err != nil {
		return nil, fmt.Errorf("read thread list: %w", err)
	}
	gilLocked, gilHolder, gilKnown := r.gil(interp)
	// One read per thread state covers all the fields we need.
	sz := int(L.Thread.Size)
	if sz <= 0 || sz > 1<<16 {
		sz = 4096
	}
	out = out[:0]
	if r.seenStates == nil {
		r.seenStates = map[uint64]bool{}
	}
	seen := r.seenStates
	clear(seen)
	for p := head; p != 0; {
		if seen[p] {
			return out, fmt.Errorf("thread list has a cycle at %#x", p)
		}
		if len(out) >= maxThreads {
			return out, fmt.Errorf("more than %d threads", maxThreads)
		}
		seen[p] = true
		ts := ThreadState{Addr: p, Interp: interp, InterpID: int64(id)}
		if cap(r.tsBuf) < sz {
			r.tsBuf = make([]byte, sz)
		}
		raw := r.tsBuf[:sz]
		err := r.Obj.readInto(raw, p)
		if err != nil {
			return out, fmt.Errorf("read thread state at %#x: %w", p, err)
		}
		get := func(o int64) uint64 {
			if o < 0 || int(o)+8 > len(raw) {
				return 0
			}
			return le64(raw[o:])
		}
		if back := get(int64(L.Thread.Interp)); back != interp {
			return out, fmt.Errorf("thread state at %#x does not belong to its interpreter", p)
		}
		ts.ThreadID = get(int64(L.Thread.ThreadID))
		if L.Thread.NativeThreadID.Valid() {
			ts.NativeID = int(int32(get(int64(L.Thread.NativeThreadID))))
		}
		if L.Thread.CFrame.Valid() {
			ts.CFrame = get(int64(L.Thread.CFrame))
		}
		switch {
		case L.Thread.CurrentFrame.Valid():
			ts.FrameHead = get(int64(L.Thread.CurrentFrame))
		case L.Thread.CFrame.Valid() && L.Thread.CFrameCurrent.Valid():
			cf := get(int64(L.Thread.CFrame))
			if cf != 0 {
				ts.FrameHead, err = r.Obj.u64(cf + uint64(L.Thread.CFrameCurrent))
				if err != nil {
					ts.FrameHead, ts.Err = 0, fmt.Errorf("read frame of thread %#x: %w", ts.ThreadID, err)
				}
			}
		default:
			ts.FrameHead = get(int64(L.Thread.Frame))
		}
		if L.Thread.DatastackChunk.Valid() {
			ts.Chunk = get(int64(L.Thread.DatastackChunk))
		}
		if L.Thread.HoldsGIL.Valid() {
			ts.HoldsGIL = uint32(get(int64(L.Thread.HoldsGIL))) != 0
		} else {
			ts.HoldsGIL = gilLocked && gilHolder == p
		}
		ts.CFrame, ts.FrameHead = r.enteredCFrame(ts.CFrame, ts.FrameHead, ts.HoldsGIL)
		switch {
		case L.Thread.State.Valid():
			if st := uint32(get(int64(L.Thread.State))); st < uint32(len(attachStates)) {
				ts.State = attachStates[st]
			}
		case r.In.Minor <= 12 && gilKnown:
			// Before 3.13 a thread state is attached exactly while its
			// thread holds the GIL; nothing is ever suspended.
			ts.State = attachStates[b2i(ts.HoldsGIL)]
		}
		ts.Next = get(int64(L.Thread.Next))
		out = append(out, ts)
		p = ts.Next
	}
	return out, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func le64(b []byte) uint64 {
	return uint64(le32(b)) | uint64(le32(b[4:]))<<32
}

// GILAddress is the address of interp's GIL (struct
// _gil_runtime_state), 0 when unknown.
func (r *Reader) GILAddress(interp uint64) uint64 { return r.gilAddr(r.Obj, interp) }

// gilAddr is the address of the GIL interp takes (0 when unknown): the
// runtime's on 3.10/3.11, the one interp->ceval.gil points to on 3.12+.
func (r *Reader) gilAddr(o *Objects, interp uint64) uint64 {
	L := r.In.Layout
	switch {
	case L.Interp.CevalGIL.Valid() && r.In.Minor >= 12:
		p, err := o.u64(interp + uint64(L.Interp.CevalGIL))
		if err != nil || !validPtr(p) {
			return 0
		}
		return p
	case L.Runtime.CevalGIL.Valid():
		return r.In.Runtime + uint64(L.Runtime.CevalGIL)
	}
	return 0
}

// gil returns whether the GIL of interp is taken, the last holder, and
// whether it could be read.
func (r *Reader) gil(interp uint64) (locked bool, holder uint64, ok bool) {
	L := r.In.Layout
	g := r.gilAddr(r.Obj, interp)
	if g == 0 || !L.GIL.Locked.Valid() || !L.GIL.LastHolder.Valid() {
		return false, 0, false
	}
	lk, err := r.Obj.u32(g + uint64(L.GIL.Locked))
	if err != nil {
		return false, 0, false
	}
	holder, err = r.Obj.u64(g + uint64(L.GIL.LastHolder))
	if err != nil {
		return false, 0, false
	}
	return lk != 0, holder, true
}

// codeInfo is what a frame needs from a code object.
type codeInfo struct {
	name, qualname, file string
	firstLine            int
	linetable            []byte
	codeStart            uint64 // address of the first code unit (3.11+)
	codeUnits            int64  // code units of the main copy (Py_SIZE of the code object); 0 if unknown
	tlbc                 uint64 // free-threaded 3.14+: co_tlbc, the per-thread copies of the bytecode
	firstTraceable       int64  // in code units
	trampoline           bool   // 3.12's eval-loop entry shim code
	locations            map[int]Location
	err                  error
	checked              time.Time // with CodeMaxAge: when ident was last found
	ident                []byte    // its type, name, file and first line fields
}

func (r *Reader) code(addr uint64) *codeInfo {
	if c, ok := r.codes[addr]; ok && (r.CodeMaxAge <= 0 || r.codeStill(addr, c)) {
		return c
	}
	if len(r.codes) >= maxCodes {
		clear(r.codes)
	}
	c := r.readCode(addr)
	if r.CodeMaxAge > 0 {
		c.ident, _ = r.codeIdent(addr)
		c.checked = time.Now()
	}
	r.codes[addr] = c
	return c
}

// maxCodes bounds the code cache; past it, it starts afresh.
const maxCodes = 1 << 18

// codeStill says whether the code object cached at addr is still there:
// one that was freed may have left its address to another. It is looked
// at again once CodeMaxAge has passed since it was last found.
func (r *Reader) codeStill(addr uint64, c *codeInfo) bool {
	now := time.Now()
	if now.Sub(c.checked) < r.CodeMaxAge {
		return true
	}
	id, err := r.codeIdent(addr)
	if err != nil || string(id) != string(c.ident) {
		return false
	}
	c.checked = now
	return true
}

// codeIdent reads the fields that tell a code object from another at the
// same address: its type, name, qualname, file and first line.
func (r *Reader) codeIdent(addr uint64) ([]byte, error) {
	L := r.In.Layout
	lo, hi := int64(L.Object.Type), int64(L.Object.Type)+8
	for _, f := range []struct {
		off layout.Off
		n   int64
	}{{L.Code.Name, 8}, {L.Code.Qualname, 8}, {L.Code.Filename, 8}, {L.Code.Firstlineno, 4}} {
		if f.off.Valid() {
			lo, hi = min(lo, int64(f.off)), max(hi, int64(f.off)+f.n)
		}
	}
	if lo < 0 || hi-lo > 4096 {
		return nil, fmt.Errorf("code object layout unusable")
	}
	return r.Obj.read(addr+uint64(lo), int(hi-lo))
}

func (r *Reader) readCode(addr uint64) *codeInfo {
	L := r.In.Layout
	o := r.Obj
	c := &codeInfo{}
	tn, err := o.ObjTypeName(addr)
	if err != nil {
		c.err = err
		return c
	}
	if tn != "code" {
		c.err = fmt.Errorf("object at %#x is a %q, not a code object", addr, tn)
		return c
	}
	str := func(off int64, name string) string {
		if off < 0 {
			return ""
		}
		p, err := o.u64(addr + uint64(off))
		if err != nil {
			c.err = err
			return ""
		}
		s, err := o.Str(p)
		if err != nil {
			c.err = fmt.Errorf("%s of code at %#x: %w", name, addr, err)
		}
		return s
	}
	c.name = str(int64(L.Code.Name), "co_name")
	c.file = str(int64(L.Code.Filename), "co_filename")
	if L.Code.Qualname.Valid() {
		c.qualname = str(int64(L.Code.Qualname), "co_qualname")
	} else {
		c.qualname = c.name
	}
	fl, err := o.u32(addr + uint64(L.Code.Firstlineno))
	if err != nil {
		c.err = err
		return c
	}
	c.firstLine = int(int32(fl))
	lt, err := o.u64(addr + uint64(L.Code.Linetable))
	if err == nil && lt != 0 {
		b, trunc, err := o.Bytes(lt, maxLinetable)
		if err == nil && !trunc {
			c.linetable = b
		}
	}
	if L.Code.CodeAdaptive.Valid() {
		c.codeStart = addr + uint64(L.Code.CodeAdaptive)
		if n, err := o.u64(addr + uint64(L.Object.Size)); err == nil && n < maxCodeUnits {
			c.codeUnits = int64(n)
		}
	}
	if L.Code.TLBC.Valid() {
		c.tlbc, _ = o.u64(addr + uint64(L.Code.TLBC))
	}
	c.firstTraceable = -1
	if L.Code.FirstTraceable.Valid() {
		if v, err := o.u32(addr + uint64(L.Code.FirstTraceable)); err == nil {
			c.firstTraceable = int64(int32(v))
		}
	}
	c.trampoline = r.In.Minor == 12 && c.name == trampolineName && c.file == trampolineFile
	return c
}

// 3.12 runs each eval loop's entry frame on a shim code object of these
// names (_Py_MakeShimCode). The prologue makes that frame current before
// it marks it as the C stack's, so a stop there finds it looking like a
// Python frame.
const trampolineName, trampolineFile = "<interpreter trampoline>", "<shim>"

func (c *codeInfo) location(minor int, addr int) Location {
	// Deep recursion hits the same instruction of the same code many
	// times, and decoding walks the table from its start.
	if l, ok := c.locations[addr]; ok {
		return l
	}
	var l Location
	if minor <= 10 {
		l = Location{Line310(c.linetable, c.firstLine, addr), -1, -1, -1}
	} else {
		l = Location311(c.linetable, c.firstLine, addr)
	}
	if c.locations == nil {
		c.locations = map[int]Location{}
	}
	if len(c.locations) < 4096 {
		c.locations[addr] = l
	}
	return l
}

// setLocation fills a frame's line and, where known, the rest of its
// location.
func setLocation(f *model.Frame, l Location, slab *[]int) {
	f.Line = l.Line
	// The optional parts point into slab: one allocation for a stack
	// rather than three per frame.
	known := func(v int) *int {
		if v < 0 {
			return nil
		}
		if len(*slab) == cap(*slab) {
			*slab = make([]int, 0, 96)
		}
		*slab = append(*slab, v)
		return &(*slab)[len(*slab)-1]
	}
	f.EndLine, f.Column, f.EndColumn = known(l.EndLine), known(l.Column), known(l.EndColumn)
}

// rawFrame is a frame as captured while the target is stopped; it is
// resolved into a model.Frame afterwards. A frameless one (no code) stands
// for an eval-loop call that has no Python frame left: only its shim.
type rawFrame struct {
	addr, code, ip uint64 // ip: instr_ptr/prev_instr (3.11+) or f_lasti (3.10)
	shim           uint64 // 3.12+: the entry frame on the C stack below an Entry frame
	owner          uint8
	tlbc           int32 // free-threaded 3.14+: which copy of the bytecode ip points into
	entry          bool
	// With Reader.Values: variables decoded during capture (apart, so
	// that a plain dump's thousands of frames stay small).
	vars *rawVars
}

type rawVars struct {
	locals      []model.Local
	varErr      string
	localsAddr  uint64 // the f_locals dict the locals were read from
	globalsAddr uint64
}

func (f rawFrame) frameless() bool { return f.code == 0 }

// captureFrames walks a thread's frame chain, innermost first, reading only
// the frames themselves (code objects are immutable and are read later). It
// skips shim and C-stack-owned frames, and returns what it could read plus
// an error when the walk stopped early.
func (r *Reader) captureFrames(head, chunk uint64) ([]rawFrame, error) {
	raws, _, err := r.captureFramesTop(head, chunk)
	return raws, err
}

// captureFramesTop is captureFrames that also keeps the innermost frames'
// bytes, as KeepFrames asks.
func (r *Reader) captureFramesTop(head, chunk uint64) ([]rawFrame, stackTop, error) {
	if r.In.Minor <= 10 {
		raws, err := r.capture310(head, r.rawSlice())
		r.rawHint = len(raws)
		return raws, stackTop{}, err
	}
	sc := r.newStackCopy(chunk)
	raws, err := r.capture311(head, sc, r.rawSlice())
	r.rawHint = len(raws)
	var pager target.Pager
	if pm, ok := r.Obj.mem.m.(*pagedMem); ok && pm.pf == nil {
		pager = pm.pager
	}
	return raws, sc.top(pager, raws, r.KeepFrames), err
}

func (r *Reader) capture310(head uint64, out []rawFrame) ([]rawFrame, error) {
	L := r.In.Layout.FrameObj
	raw, err := frameBuf(L.Localsplus, span{L.Back, 8}, span{L.Code, 8}, span{L.Lasti, 4})
	if err != nil {
		return nil, err
	}
	var cg cycleGuard
	for f := head; f != 0; {
		if cg.seen(f) {
			return trimCycle(out), fmt.Errorf("frame chain has a cycle at %#x", f)
		}
		if len(out) >= maxFrames {
			return out, fmt.Errorf("more than %d frames", maxFrames)
		}
		// Through readFrame, which notes the bytes for the walk cache: a
		// frame object at the same address (a code object's zombie frame
		// is reused) may now have another caller.
		if err := r.readFrame(nil, raw, f); err != nil {
			return out, fmt.Errorf("read frame at %#x: %w", f, err)
		}
		// 3.10 runs every frame in its own _PyEval_EvalFrameDefault call.
		out = append(out, rawFrame{addr: f, code: le64(raw[L.Code:]), ip: uint64(int64(int32(le32(raw[L.Lasti:])))), entry: true})
		if r.Values != nil {
			r.captureVars(&out[len(out)-1], fieldOf(raw, L.Locals), fieldOf(raw, L.Globals))
		}
		f = le64(raw[L.Back:])
	}
	return out, nil
}

func (r *Reader) capture311(head uint64, sc *stackCopy, out []rawFrame) ([]rawFrame, error) {
	L := r.In.Layout.Frame
	need := []span{{L.Previous, 8}, {L.Executable, 8}, {L.InstrPtr, 8}, {L.Owner, 1}}
	if L.IsEntry.Valid() {
		need = append(need, span{L.IsEntry, 1})
	}
	if L.TLBCIndex.Valid() {
		need = append(need, span{L.TLBCIndex, 4})
	}
	raw, err := frameBuf(L.Localsplus, need...)
	if err != nil {
		return nil, err
	}
	var cg cycleGuard
	for f := head; f != 0; {
		if cg.seen(f) {
			return trimCycle(out), fmt.Errorf("frame chain has a cycle at %#x", f)
		}
		if cg.steps > maxFrames {
			return out, fmt.Errorf("more than %d frames", maxFrames)
		}
		if err := r.readFrame(sc, raw, f); err != nil {
			return out, fmt.Errorf("read frame at %#x: %w", f, err)
		}
		prev := le64(raw[L.Previous:])
		owner := raw[L.Owner]
		exe := le64(raw[L.Executable:])
		if r.In.Minor >= 14 {
			exe &^= 3 // _PyStackRef tag bits
		}
		if owner <= ownedByFrameObject && exe != 0 {
			out = append(out, rawFrame{addr: f, code: exe, ip: le64(raw[L.InstrPtr:]), owner: owner,
				entry: L.IsEntry.Valid() && raw[L.IsEntry] != 0})
			if L.TLBCIndex.Valid() {
				out[len(out)-1].tlbc = int32(le32(raw[L.TLBCIndex:]))
			}
			if r.Values != nil {
				r.captureVars(&out[len(out)-1], fieldOf(raw, L.Locals), fieldOf(raw, L.Globals))
			}
		} else if n := len(out); n > 0 && !out[n-1].frameless() && out[n-1].shim == 0 {
			// 3.12+: each C-level entry into the eval loop pushes a shim
			// first, so the Python frame just inside it is where that
			// _PyEval_EvalFrameDefault call began.
			out[n-1].entry = true
			out[n-1].shim = f
		} else if owner > ownedByFrameObject {
			// A shim with no Python frame of its own: an eval-loop call
			// whose frames are gone (a generator's frame is cleared after
			// it was unlinked). Kept, frameless, so that the native merge
			// can still pair that call.
			out = append(out, rawFrame{addr: f, shim: f, entry: true})
		}
		f = prev
	}
	return out, nil
}

// enteredCFrame checks the innermost eval-loop call, cf, and current frame,
// head, of a 3.12 thread that holds the GIL (no other can be entering an
// eval loop), as the capture and the late stop of the holder read them.
// _PyEval_EvalFrameDefault makes its _PyCFrame the thread's before it sets
// the cframe's current frame, so a stop in that prologue finds head
// uninitialised: whatever the stack slot held. In a call under way the
// call's entry frame (the shim owned by the C stack), the first from head,
// links to the calling loop's current frame; when it does not, or the walk
// to it fails, the thread is still in the calling loop, whose cframe and
// frame are returned instead. 3.11 has the same prologue, but there its
// compiler stores the thread's cframe pointer before any link of the new
// cframe, so the calling loop cannot be found from memory.
func (r *Reader) enteredCFrame(cf, head uint64, holdsGIL bool) (uint64, uint64) {
	L := r.In.Layout
	if r.In.Minor != 12 || !holdsGIL || cf == 0 || !L.Thread.CFramePrevious.Valid() || !L.Frame.Previous.Valid() || !L.Frame.Owner.Valid() {
		return cf, head
	}
	caller, err := r.Obj.u64(cf + uint64(L.Thread.CFramePrevious))
	if err != nil || caller == 0 {
		return cf, head
	}
	want, err := r.Obj.u64(caller + uint64(L.Thread.CFrameCurrent))
	if err != nil {
		return cf, head
	}
	f := head
	for range maxEntryWalk {
		if f == 0 {
			return caller, want // every chain ends in an entry frame
		}
		prev, err := r.Obj.u64(f + uint64(L.Frame.Previous))
		if err != nil {
			return caller, want
		}
		owner, err := r.Obj.u32(f + uint64(L.Frame.Owner))
		if err != nil {
			return caller, want
		}
		if byte(owner) > ownedByFrameObject {
			if prev != want {
				return caller, want
			}
			return cf, head
		}
		f = prev
	}
	return cf, head // deep recursion inside one call: no evidence either way
}

// maxEntryWalk bounds enteredCFrame's walk to its call's entry frame.
const maxEntryWalk = 1 << 14

// pairCFrames (3.10, 3.11) gives each run of raw frames (innermost first)
// the address of its eval-loop call's _PyCFrame, a local on that call's C
// stack, as 3.12+ runs have shims: the chain from tstate->cframe holds one
// per call, innermost first, and ends at the root one inside the thread
// state. On 3.11 each must point at the innermost frame of its run; on any
// doubt no run gets an address.
func (r *Reader) pairCFrames(tstate, cf uint64, raw []rawFrame) {
	L := r.In.Layout.Thread
	if r.In.Minor > 11 || !L.CFramePrevious.Valid() {
		return
	}
	var entries []int
	for i, f := range raw {
		if f.entry {
			entries = append(entries, i)
		}
	}
	var chain []uint64
	var cg cycleGuard
	for cf != 0 {
		if cg.seen(cf) || len(chain) > len(entries) {
			return
		}
		if cf >= tstate && cf < tstate+uint64(L.Size) {
			break // the root cframe (3.10 leaves its link unset)
		}
		prev, err := r.Obj.u64(cf + uint64(L.CFramePrevious))
		if err != nil {
			return
		}
		chain = append(chain, cf)
		cf = prev
	}
	if len(chain) != len(entries) || len(entries) == 0 {
		return
	}
	if L.CFrameCurrent.Valid() {
		start := 0
		for k, e := range entries {
			cur, err := r.Obj.u64(chain[k] + uint64(L.CFrameCurrent))
			if err != nil || cur != raw[start].addr {
				return
			}
			start = e + 1
		}
	}
	for k, e := range entries {
		raw[e].shim = chain[k]
	}
}

// span is a field a frame walk reads: its offset and width.
type span struct {
	off layout.Off
	n   int64
}

// frameBuf returns the buffer each frame is read into: the size bytes
// before localsplus, which must hold every field the walk reads (a layout
// from the target's own _Py_DebugOffsets or DWARF is untrusted).
func frameBuf(size layout.Off, need ...span) ([]byte, error) {
	if size <= 0 || size > 1<<16 {
		return nil, fmt.Errorf("frame layout unknown (localsplus at %d)", size)
	}
	for _, f := range need {
		if !f.off.Valid() || int64(f.off)+f.n > int64(size) {
			return nil, fmt.Errorf("frame layout unusable: a field at %d is outside the %d-byte frame header", f.off, size)
		}
	}
	return make([]byte, size), nil
}

// resolveFrames turns captured frames into model frames, reading the code
// objects. Incomplete frames (pushed but not started) are dropped, as the
// interpreter itself hides them.
func (r *Reader) resolveFrames(raws []rawFrame) ([]model.Frame, error) {
	out := make([]model.Frame, 0, len(raws))
	slab := make([]int, 0, 3*len(raws))
	for _, rf := range raws {
		if rf.frameless() {
			continue
		}
		c, loc, instr, skip, err := r.locate(&rf)
		if err != nil {
			return out, err
		}
		if skip {
			continue
		}
		out = append(out, model.Frame{Kind: "python", Function: c.name, Qualname: c.qualname,
			File: c.file, Addr: rf.addr, Code: rf.code, Entry: rf.entry, Shim: rf.shim})
		setLocation(&out[len(out)-1], loc, &slab)
		out[len(out)-1].Instr = instr
		if r.Values != nil {
			r.resolveVars(&out[len(out)-1], rf)
		}
	}
	return out, nil
}

// bytecodeCopy returns where the copy of c's bytecode a frame runs starts:
// free-threaded 3.14+ gives threads their own copies (co_tlbc->entries,
// entry 0 being co_code_adaptive); elsewhere there is one.
func (r *Reader) bytecodeCopy(c *codeInfo, index int32) uint64 {
	if index <= 0 || c.tlbc == 0 {
		return c.codeStart
	}
	n, err := r.Obj.u64(c.tlbc) // _PyCodeArray.size
	if err != nil || n > maxTLBC || uint64(index) >= n {
		return c.codeStart
	}
	p, err := r.Obj.u64(c.tlbc + 8 + 8*uint64(index))
	if err != nil || p == 0 {
		return c.codeStart
	}
	return p
}

// locate finds a captured frame's code object, location and instruction
// offset (-1 outside its bytecode); skip reports an incomplete frame
// (pushed but not started), which the interpreter hides.
func (r *Reader) locate(rf *rawFrame) (c *codeInfo, loc Location, instr int, skip bool, err error) {
	c = r.code(rf.code)
	if c.err != nil {
		return nil, loc, -1, false, fmt.Errorf("frame at %#x: %w", rf.addr, c.err)
	}
	if c.trampoline {
		return c, loc, -1, true, nil // a shim, as the interpreter skips it
	}
	var addr int
	if r.In.Minor <= 10 {
		addr = int(int64(rf.ip)) * 2
	} else {
		// 3.11/3.12 keep the previous instruction, 3.13+ the current
		// one; either is what PyCode_Addr2Line wants.
		start := r.bytecodeCopy(c, rf.tlbc)
		if rf.owner != ownedByGenerator && c.firstTraceable >= 0 && int64(rf.ip) < int64(start)+2*c.firstTraceable {
			return c, loc, -1, true, nil
		}
		addr = int((int64(rf.ip) - int64(start)) / 2 * 2)
		// Not in this code's bytecode: no line rather than a wrong one.
		if c.codeUnits > 0 && (addr < -2 || int64(addr) > 2*c.codeUnits) {
			return c, Location{-1, -1, -1, -1}, -1, false, nil
		}
	}
	return c, c.location(r.In.Minor, addr), addr, false, nil
}

// cycleGuard detects a cycle in a pointer chain without allocating (Brent's
// algorithm): a chain that loops is caught within twice the loop's length.
type cycleGuard struct {
	saved       uint64
	power, lam  int
	steps       int
	initialised bool
}

// seen reports whether p closes a cycle; call it once per element.
func (g *cycleGuard) seen(p uint64) bool {
	if !g.initialised {
		g.initialised, g.power, g.saved = true, 1, p
		g.steps++
		return false
	}
	if p == g.saved {
		return true
	}
	g.steps++
	g.lam++
	if g.lam == g.power {
		g.saved, g.power, g.lam = p, g.power*2, 0
	}
	return false
}

// trimCycle cuts the frames read a second time before the cycle was
// noticed, so each frame of the loop is shown once.
func trimCycle(out []rawFrame) []rawFrame {
	seen := make(map[uint64]bool, len(out))
	for i, f := range out {
		if seen[f.addr] {
			return out[:i]
		}
		seen[f.addr] = true
	}
	return out
}
