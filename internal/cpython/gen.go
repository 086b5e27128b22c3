package cpython

import (
	"bytes"
	"fmt"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
)

// GenState is where a generator, coroutine or async generator is.
type GenState uint8

const (
	GenCreated   GenState = iota // not started
	GenSuspended                 // at a yield or an await
	GenRunning                   // its frame is on a thread's stack
	GenDone                      // returned or raised: no frame any more
)

func (s GenState) String() string {
	return [...]string{"created", "suspended", "running", "done"}[s]
}

// Gen is a generator, coroutine or async generator as read from a stopped
// target.
type Gen struct {
	Addr  uint64
	Kind  string // "coroutine", "generator" or "async_generator"
	State GenState
	// Frame is its frame (not GenDone); Frame.Addr() is the address a
	// thread's frame has while the generator runs.
	Frame FrameRef
	// Awaiting is what a generator suspended in `await` or `yield from`
	// waits on (cr_await, gi_yieldfrom, ag_await); 0 otherwise.
	Awaiting uint64
}

// FrameRef is a frame captured while the target is stopped; ResolveFrames
// makes a model.Frame of it (reading its code object) afterwards.
type FrameRef struct {
	raw rawFrame
}

// Addr is the address of the frame (a 3.11+ _PyInterpreterFrame, a 3.10
// PyFrameObject); 0 for no frame.
func (f FrameRef) Addr() uint64 { return f.raw.addr }

// genKinds are the static types of generator-like objects.
var genKinds = map[string]bool{"coroutine": true, "generator": true, "async_generator": true}

// Gen reads obj as a generator, coroutine or async generator; an error
// when it is none of them (Cython's coroutines, for one, are not).
func (v *Values) Gen(obj uint64) (*Gen, error) { return v.gen(obj, true) }

// gen reads a generator; vars captures its frame's variables too (when the
// reader reads variables), which a decode in progress must not do.
func (v *Values) gen(obj uint64, vars bool) (*Gen, error) {
	o := v.o
	L := v.r.In.Layout
	// 3.11+: the object, its state and its embedded frame's header in one
	// read (a task's chain is read for every task while the target is
	// stopped).
	var head []byte
	if v.r.In.Minor >= 11 && L.Gen.IFrame.Valid() && L.Frame.Localsplus.Valid() &&
		L.Gen.IFrame+L.Frame.Localsplus <= 1<<12 && L.Gen.FrameState < L.Gen.IFrame {
		head, _ = o.read(obj, int(L.Gen.IFrame+L.Frame.Localsplus))
	}
	var t uint64
	if head != nil && int(L.Object.Type)+8 <= len(head) {
		t = le64(head[L.Object.Type:])
	} else {
		var err error
		if t, err = o.TypeOf(obj); err != nil {
			return nil, err
		}
	}
	name, err := v.genKind(t)
	if err != nil {
		return nil, err
	}
	g := &Gen{Addr: obj, Kind: name}
	consts, ok := layout.Gen(v.r.In.ShortVersion())
	if !ok {
		return nil, fmt.Errorf("generators of Python %s are not known", v.r.In.Version)
	}
	if v.r.In.Minor <= 10 {
		return g, v.gen310(g, consts, vars)
	}
	return g, v.gen311(g, consts, vars, head)
}

// genKind is "coroutine", "generator" or "async_generator" for their
// static types, an error for any other type; cached per type.
func (v *Values) genKind(t uint64) (string, error) {
	if k, ok := v.genKinds[t]; ok {
		if k == "" {
			tn, _ := v.o.TypeName(t)
			return "", fmt.Errorf("%s is not a generator or coroutine", tn)
		}
		return k, nil
	}
	name, err := v.o.TypeName(t)
	if err != nil {
		return "", err
	}
	kind := ""
	if f, err := v.o.TypeFlags(t); err == nil && genKinds[name] && f&tpflagsHeapType == 0 {
		kind = name
	}
	if v.genKinds == nil {
		v.genKinds = map[uint64]string{}
	}
	if len(v.genKinds) < 4096 {
		v.genKinds[t] = kind
	}
	if kind == "" {
		return "", fmt.Errorf("%s is not a generator or coroutine", name)
	}
	return kind, nil
}

func (v *Values) gen310(g *Gen, c layout.GenConsts, vars bool) error {
	o := v.o
	L := v.r.In.Layout
	frame, err := o.u64(g.Addr + uint64(L.Gen.Frame))
	if err != nil {
		return err
	}
	if frame == 0 {
		g.State = GenDone
		return nil
	}
	F := L.FrameObj
	raw, err := frameBuf(F.Localsplus, span{F.Code, 8}, span{F.Lasti, 4}, span{F.State, 1}, span{F.Valuestack, 8}, span{F.Stackdepth, 4})
	if err != nil {
		return err
	}
	if err := o.readInto(raw, frame); err != nil {
		return fmt.Errorf("frame of %s at %#x: %w", g.Kind, g.Addr, err)
	}
	lasti := int64(int32(le32(raw[F.Lasti:])))
	code := le64(raw[F.Code:])
	switch st := int8(raw[F.State]); {
	case st == c.Created:
		g.State = GenCreated
	case st == c.Suspended:
		g.State = GenSuspended
	case st == c.Executing:
		g.State = GenRunning
	default:
		g.State = GenDone
		return nil
	}
	g.Frame = FrameRef{rawFrame{addr: frame, code: code, ip: uint64(lasti)}}
	if vars && v.r.Values != nil && v.r.dec != nil {
		v.r.captureVars(&g.Frame.raw, fieldOf(raw, F.Locals), fieldOf(raw, F.Globals))
	}
	if g.State != GenSuspended || lasti < 0 {
		return nil
	}
	// Suspended in `yield from` when the next instruction is YIELD_FROM:
	// what it delegates to is on top of the value stack.
	co, err := o.u64(code + uint64(L.Code.Code))
	if err != nil {
		return nil
	}
	op, err := o.u8(co + uint64(L.Bytes.Sval) + uint64(lasti+1)*2)
	if err != nil || op != c.YieldFrom {
		return nil
	}
	depth := int64(int32(le32(raw[F.Stackdepth:])))
	if depth < 1 || depth > 1<<16 {
		return nil
	}
	g.Awaiting, _ = o.u64(le64(raw[F.Valuestack:]) + uint64(depth-1)*8)
	return nil
}

func (v *Values) gen311(g *Gen, c layout.GenConsts, vars bool, head []byte) error {
	o := v.o
	L := v.r.In.Layout
	F := L.Frame
	if !L.Gen.FrameState.Valid() || !L.Gen.IFrame.Valid() {
		return fmt.Errorf("generator layout unknown")
	}
	var st uint8
	if int(L.Gen.FrameState) < len(head) {
		st = head[L.Gen.FrameState]
	} else {
		var err error
		if st, err = o.u8(g.Addr + uint64(L.Gen.FrameState)); err != nil {
			return err
		}
	}
	yieldFrom := false
	switch s := int8(st); {
	case s == c.Created:
		g.State = GenCreated
	case s == c.Suspended:
		g.State = GenSuspended
	case c.HasYieldFromState && s == c.SuspendedYieldFrom:
		g.State, yieldFrom = GenSuspended, true
	case s == c.Executing:
		g.State = GenRunning
	default:
		g.State = GenDone
		return nil
	}
	raw, err := frameBuf(F.Localsplus, span{F.Executable, 8}, span{F.InstrPtr, 8}, span{F.Owner, 1}, span{F.StackTop, 4})
	if err != nil {
		return err
	}
	frame := g.Addr + uint64(L.Gen.IFrame)
	if len(head) >= int(L.Gen.IFrame)+len(raw) {
		copy(raw, head[L.Gen.IFrame:])
	} else if err := o.readInto(raw, frame); err != nil {
		return fmt.Errorf("frame of %s at %#x: %w", g.Kind, g.Addr, err)
	}
	exe := le64(raw[F.Executable:])
	if v.r.In.Minor >= 14 {
		exe &^= 3 // _PyStackRef tag bits
	}
	ip := le64(raw[F.InstrPtr:])
	g.Frame = FrameRef{rawFrame{addr: frame, code: exe, ip: ip, owner: raw[F.Owner]}}
	if vars && v.r.Values != nil && v.r.dec != nil {
		v.r.captureVars(&g.Frame.raw, fieldOf(raw, F.Locals), fieldOf(raw, F.Globals))
	}
	if g.State != GenSuspended {
		return nil
	}
	if !c.HasYieldFromState {
		// 3.11/3.12: in `yield from` or `await` when the instruction after
		// the YIELD_VALUE it stopped at is a RESUME whose oparg is 2 or 3.
		next, err := o.read(ip+2, 2)
		if err != nil || !bytes.Contains(c.Resume, next[:1]) || next[1] < 2 {
			return nil
		}
		yieldFrom = true
	}
	if !yieldFrom {
		return nil
	}
	// What it awaits is on top of its stack.
	if v.r.In.Minor >= 14 {
		sp := le64(raw[F.StackTop:])
		base := frame + uint64(F.Localsplus)
		if sp <= base || sp > base+1<<20 {
			return nil
		}
		p, err := o.u64(sp - 8)
		if err == nil {
			g.Awaiting = p &^ 3
		}
		return nil
	}
	top := int64(int32(le32(raw[F.StackTop:])))
	if top < 1 || top > 1<<16 {
		return nil
	}
	g.Awaiting, _ = o.u64(frame + uint64(F.Localsplus) + uint64(top-1)*8)
	return nil
}

// Unwrap returns what an awaitable that stands between a coroutine and
// what it awaits stands for: the future of `await future` (its
// FutureIter), the async generator of `async for` (its asend or athrow
// object), the coroutine of a coroutine's __await__(). Anything else is
// returned as it is.
func (v *Values) Unwrap(obj uint64) uint64 {
	L := v.r.asyncioLayout().L
	var off layout.Off
	switch v.TypeName(obj) {
	case "_asyncio.FutureIter":
		off = L.FutureIter.Future
	case "async_generator_asend":
		off = L.AsyncGen.ASendGen
	case "async_generator_athrow":
		off = L.AsyncGen.AThrowGen
	case "coroutine_wrapper":
		off = L.AsyncGen.CoroWrapped
	default:
		return obj
	}
	if !off.Valid() {
		return obj
	}
	p, err := v.o.u64(obj + uint64(off))
	if err != nil || !validPtr(p) {
		return obj
	}
	return p
}

// ResolveFrames turns captured frames into model frames, reading their
// code objects (as Resolve does for threads; the target may run).
func (r *Reader) ResolveFrames(refs []FrameRef) ([]model.Frame, error) {
	raws := make([]rawFrame, 0, len(refs))
	for _, f := range refs {
		if f.raw.addr != 0 {
			raws = append(raws, f.raw)
		}
	}
	return r.resolveFrames(raws)
}
