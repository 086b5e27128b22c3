package cpython

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file reads greenlets (greenlet 2 and 3, which gevent and eventlet
// run on). A greenlet is a PyGreenlet {PyObject_HEAD, weakreflist, dict,
// pimpl}: pimpl is a C++ greenlet::Greenlet (UserGreenlet or
// MainGreenlet) whose layout depends on the greenlet release and the
// Python it was built for, and whose wheels carry no debug information.
// So the offsets are learnt from anchors in the target's own objects and
// checked on every greenlet read:
//   - pimpl follows the dict the type publishes (tp_dictoffset), and ends
//     the object (tp_basicsize);
//   - StackState.stack_stop is (char*)-1 in every main greenlet, and only
//     there; _stack_start precedes it; PythonState follows StackState
//     (40 bytes) and its _top_frame comes second, after the context;
//   - every MainGreenlet has the same vtable (the object's first word),
//     which no UserGreenlet has: a main greenlet whose thread exited and
//     that the program then looked at (g.dead, repr, gevent's run info)
//     has lost its stack_stop of -1 (greenlet clears its stack state);
//   - MainGreenlet keeps _self (its own PyGreenlet) and then its
//     ThreadState*, whose first two members are the main greenlet (again)
//     and the greenlet running in that thread; UserGreenlet keeps, at the
//     same place, _main_greenlet, _run_callable and _parent (greenlet 2:
//     after its own _self).
// greenlet 1 (a C struct) is not read.

// GreenletState is what a greenlet is doing.
type GreenletState uint8

const (
	GreenletUnstarted GreenletState = iota // created, never switched to
	GreenletSuspended                      // switched away from: its frames wait
	GreenletRunning                        // its frames are its thread's stack
	GreenletDead                           // finished
)

func (s GreenletState) String() string {
	return [...]string{"unstarted", "suspended", "running", "dead"}[s]
}

// Greenlet is a greenlet as read from a stopped target.
type Greenlet struct {
	Addr     uint64
	TypeName string
	Main     bool // the main greenlet of a thread
	State    GreenletState
	// Parent is the greenlet it returns to (0 for main greenlets); Root is
	// the main greenlet of its thread (0 when unknown).
	Parent, Root uint64
	// Current (main greenlets) is the greenlet running in its thread.
	Current uint64
	// StackAddr is an address inside the C stack of the thread the
	// greenlet runs in (its stack_stop, or a main greenlet's saved
	// _stack_start); 0 when it has none.
	StackAddr uint64
	// Frames are a suspended greenlet's frames, innermost first.
	Frames []FrameRef
	Err    string
}

// greenlets is what a Reader learnt about the target's greenlet module.
type greenlets struct {
	typ     uint64 // greenlet.greenlet
	version string
	reason  string // why greenlets cannot be read ("" when they can)
	pimpl   uint64 // offset of pimpl in PyGreenlet
	// Offsets in the C++ object, learnt from anchors; 0 until learnt.
	stackStop  uint64 // StackState.stack_stop
	self       uint64 // MainGreenlet._self
	userMain   uint64 // UserGreenlet._main_greenlet
	mainVtable uint64 // MainGreenlet's vtable
	subtype    map[uint64]bool
	// prepared are the greenlets a walk while the target ran found, per
	// interpreter, with the collections counted before it.
	prepared map[uint64]preparedWalk
}

type preparedWalk struct {
	objs        []uint64
	collections uint64
}

// pimplWords bounds what is read of a C++ greenlet object: far more than
// any release's StackState, PythonState and subclass members.
const pimplWords = 48

// greenletModule finds the greenlet type and version, once the target has
// imported greenlet; nil when it has not.
func (v *Values) greenletModule(interp uint64) *greenlets {
	if g := v.r.glet; g != nil && g.typ != 0 {
		return g
	}
	mod, ok := v.Module(interp, "greenlet._greenlet")
	if !ok {
		return nil
	}
	g := &greenlets{subtype: map[uint64]bool{}, prepared: map[uint64]preparedWalk{}}
	v.r.glet = g
	if pkg, ok := v.Module(interp, "greenlet"); ok {
		if p, err := v.Attr(pkg, "__version__"); err == nil {
			g.version = v.strOf(p)
		}
	}
	if major, err := strconv.Atoi(strings.SplitN(g.version, ".", 2)[0]); err == nil && major < 2 {
		g.reason = "greenlet " + g.version + " is not supported (pyscope reads greenlet 2 and 3)"
		return g
	}
	t, err := v.Attr(mod, "greenlet")
	if err != nil {
		g.reason = "greenlet._greenlet has no greenlet type: " + err.Error()
		return g
	}
	g.typ = t
	// PyGreenlet is {HEAD, weakreflist, dict, pimpl}: pimpl follows the
	// dict the type publishes and ends the object.
	T := v.o.L.Type
	doff, err1 := v.o.u64(t + uint64(T.Dictoffset))
	size, err2 := v.o.u64(t + uint64(T.Basicsize))
	if err1 != nil || err2 != nil || doff == 0 || doff > 256 || size != doff+16 {
		g.reason = fmt.Sprintf("the greenlet type's dict offset %d and size %d are not greenlet 2 or 3's", doff, size)
		return g
	}
	g.pimpl = doff + 8
	return g
}

// GreenletVersion is the target's greenlet.__version__ ("" when it has
// not imported greenlet or does not say).
func (v *Values) GreenletVersion(interp uint64) string {
	if g := v.greenletModule(interp); g != nil {
		return g.version
	}
	return ""
}

// isGreenlet reports whether typ is greenlet.greenlet or a subclass.
func (g *greenlets) isGreenlet(v *Values, typ uint64) bool {
	if typ == g.typ {
		return true
	}
	if is, ok := g.subtype[typ]; ok {
		return is
	}
	is := false
	for c, i := typ, 0; i < 64 && validPtr(c); i++ {
		if c == g.typ {
			is = true
			break
		}
		if !v.o.L.Type.Base.Valid() {
			break
		}
		next, err := v.o.u64(c + uint64(v.o.L.Type.Base))
		if err != nil {
			break
		}
		c = next
	}
	if len(g.subtype) < 4096 {
		g.subtype[typ] = is
	}
	return is
}

// ErrNoGreenlet means the target has not imported greenlet.
var ErrNoGreenlet = errors.New("greenlet is not imported")

// Greenlets lists every greenlet of interpreter interp that the garbage
// collector tracks (all of them: greenlets are tracked from creation),
// reading each one's state, parent and suspended frames.
func (v *Values) Greenlets(interp uint64) ([]*Greenlet, error) {
	g := v.greenletModule(interp)
	if g == nil {
		return nil, ErrNoGreenlet
	}
	if g.reason != "" {
		return nil, errors.New(g.reason)
	}
	objs, walkErr := v.greenletObjects(g, interp)
	if errors.Is(walkErr, ErrNoGCLists) {
		return nil, walkErr
	}
	raw := make(map[uint64][]uint64, len(objs))
	for _, obj := range objs {
		if w := v.pimplWords(g, obj); w != nil {
			raw[obj] = w
		}
	}
	if err := g.learn(raw); err != nil {
		return nil, errors.Join(err, walkErr)
	}
	out := make([]*Greenlet, 0, len(objs))
	byAddr := make(map[uint64]*Greenlet, len(objs))
	for _, obj := range objs {
		gl := v.greenlet(g, obj, raw)
		out = append(out, gl)
		byAddr[obj] = gl
	}
	// A greenlet that ran in a thread that has exited is dead, as greenlet
	// says (was_running_in_dead_thread): it can never run again, and its
	// stack address may now lie in another thread's stack (glibc reuses
	// a thread's stack for the next thread). Its frames stay: gr_frame
	// still shows them, until the program looks at it.
	for _, gl := range out {
		if gl.Main || gl.Root == 0 {
			continue
		}
		if m := byAddr[gl.Root]; m != nil && m.Main && m.State == GreenletDead {
			gl.State, gl.StackAddr = GreenletDead, 0
		}
	}
	return out, walkErr
}

// PrepareGreenlets walks the collector's lists while the target runs, so
// that the stop that follows only checks what it found and walks the
// youngest generation (see greenletObjects). Without greenlet, it does
// nothing.
func (v *Values) PrepareGreenlets(interp uint64) {
	g := v.greenletModule(interp)
	if g == nil || g.reason != "" {
		return
	}
	before, ok := v.r.GCCollections(interp)
	if !ok {
		return
	}
	var objs []uint64
	err := v.r.GCEach(interp, func(obj, typ uint64) bool {
		if validPtr(typ) && g.isGreenlet(v, typ) {
			objs = append(objs, obj)
		}
		return true
	})
	if err == nil {
		g.prepared[interp] = preparedWalk{objs: objs, collections: before}
	}
}

// greenletObjects lists the greenlets the collector tracks. After a walk
// while the target ran (PrepareGreenlets), and if no collection has run
// since it began, every greenlet is either one it found (still linked in
// a list: not freed) or newer, and so still in the youngest generation:
// only that generation is walked while the target is stopped. Otherwise
// every list is walked.
func (v *Values) greenletObjects(g *greenlets, interp uint64) ([]uint64, error) {
	var objs []uint64
	seen := map[uint64]bool{}
	keep := func(obj, typ uint64) bool {
		if validPtr(typ) && g.isGreenlet(v, typ) && !seen[obj] {
			seen[obj] = true
			objs = append(objs, obj)
		}
		return true
	}
	pw, ok := g.prepared[interp]
	delete(g.prepared, interp)
	if now, known := v.r.GCCollections(interp); ok && known && now == pw.collections {
		for _, obj := range pw.objs {
			if typ, err := v.o.TypeOf(obj); err == nil && v.r.GCTracked(obj) {
				keep(obj, typ)
			}
		}
		return objs, v.r.GCEachYoung(interp, keep)
	}
	return objs, v.r.GCEach(interp, keep)
}

// pimplWords reads the first words of a greenlet's C++ object (fewer
// when the object ends a mapping).
func (v *Values) pimplWords(g *greenlets, obj uint64) []uint64 {
	p, err := v.o.u64(obj + g.pimpl)
	if err != nil || !validPtr(p) {
		return nil
	}
	for n := pimplWords; n >= 16; n /= 2 {
		b, err := v.o.read(p, n*8)
		if err != nil {
			continue
		}
		w := make([]uint64, n)
		for i := range w {
			w[i] = le64(b[i*8:])
		}
		return w
	}
	return nil
}

// learn finds the C++ offsets from the anchors (see the top of the file)
// and checks them on every greenlet that has them.
func (g *greenlets) learn(raw map[uint64][]uint64) error {
	const minusOne = ^uint64(0)
	// Offsets are only looked for within the words a read returns.
	for obj, w := range raw {
		if len(w) > pimplWords {
			raw[obj] = w[:pimplWords]
		}
	}
	if g.stackStop == 0 {
		// stack_stop == -1 marks a main greenlet; the vtable pointer is
		// first, so the member is never at 0.
		for _, w := range raw {
			for i := 1; i < len(w); i++ {
				if w[i] == minusOne {
					if g.stackStop == 0 || uint64(i*8) < g.stackStop {
						g.stackStop = uint64(i * 8)
					}
					break
				}
			}
		}
		if g.stackStop == 0 {
			if len(raw) == 0 {
				return nil
			}
			return fmt.Errorf("greenlet %s: no main greenlet found (no object has a stack_stop of -1)", g.version)
		}
	}
	ss := int(g.stackStop / 8)
	if g.mainVtable == 0 {
		// Every live main greenlet (stack_stop -1) shares one vtable.
		for obj, w := range raw {
			if ss >= len(w) || w[ss] != minusOne {
				continue
			}
			if g.mainVtable != 0 && w[0] != g.mainVtable {
				vt := g.mainVtable
				g.mainVtable = 0
				return fmt.Errorf("greenlet %s: main greenlets have different vtables (%#x at %#x, %#x)", g.version, w[0], obj, vt)
			}
			g.mainVtable = w[0]
		}
	}
	if g.self == 0 {
		// MainGreenlet._self: the first word after the PythonState's
		// frame that is the main greenlet itself.
		for obj, w := range raw {
			if ss >= len(w) || w[ss] != minusOne {
				continue
			}
			for i := ss + 6; i+1 < len(w); i++ {
				if w[i] == obj {
					g.self = uint64(i * 8)
					break
				}
			}
			if g.self != 0 {
				break
			}
		}
		if g.self == 0 {
			return fmt.Errorf("greenlet %s: a main greenlet does not point to itself where greenlet's MainGreenlet does", g.version)
		}
	}
	if g.userMain == 0 {
		// UserGreenlet._main_greenlet sits where MainGreenlet._self does
		// (greenlet 3), or after the user greenlet's own _self (greenlet 2).
		self := int(g.self / 8)
		for obj, w := range raw {
			if self+3 >= len(w) || g.isMain(w) || w[ss] == 0 {
				continue
			}
			if w[self] == obj {
				g.userMain = g.self + 8
			} else {
				g.userMain = g.self
			}
			break
		}
	}
	// Every main greenlet must have its _self; every user greenlet's
	// _main_greenlet must be 0 or a main greenlet.
	for obj, w := range raw {
		if ss >= len(w) {
			continue
		}
		if g.isMain(w) {
			if i := int(g.self / 8); i >= len(w) || w[i] != obj {
				return fmt.Errorf("greenlet %s: main greenlet %#x does not point to itself at +%d", g.version, obj, g.self)
			}
			continue
		}
		if g.userMain == 0 {
			continue
		}
		if i := int(g.userMain / 8); i < len(w) && w[i] != 0 {
			m, ok := raw[w[i]]
			if !ok || !g.isMain(m) {
				return fmt.Errorf("greenlet %s: greenlet %#x's main greenlet (+%d) is %#x, not a main greenlet", g.version, obj, g.userMain, w[i])
			}
		}
	}
	return nil
}

// isMain reports whether the words of a C++ greenlet object are a
// MainGreenlet's: its stack_stop is -1, or (once its thread exited and its
// stack state was cleared) it has MainGreenlet's vtable.
func (g *greenlets) isMain(w []uint64) bool {
	const minusOne = ^uint64(0)
	ss := int(g.stackStop / 8)
	if ss > 0 && ss < len(w) && w[ss] == minusOne {
		return true
	}
	return g.mainVtable != 0 && len(w) > 0 && w[0] == g.mainVtable
}

// greenlet reads one greenlet from the words of its C++ object.
func (v *Values) greenlet(g *greenlets, obj uint64, raw map[uint64][]uint64) *Greenlet {
	out, top, ts := g.decode(obj, raw[obj])
	out.TypeName = v.className(obj)
	if ts != 0 {
		if b, err := v.o.read(ts, 16); err == nil && le64(b) == obj {
			out.Current = le64(b[8:])
		}
	}
	if out.State != GreenletSuspended || out.Err != "" {
		return out
	}
	frames, err := v.r.frameObjectChain(top)
	out.Frames = frames
	if err != nil {
		out.Err = err.Error()
	}
	return out
}

// decode reads a greenlet's state, parent and stack address from the
// words of its C++ object, with the offsets learnt; top is a suspended
// greenlet's frame object, ts a main greenlet's ThreadState.
func (g *greenlets) decode(obj uint64, w []uint64) (out *Greenlet, top, ts uint64) {
	const minusOne = ^uint64(0)
	out = &Greenlet{Addr: obj}
	ss := int(g.stackStop / 8)
	if ss < 1 || ss+5 >= len(w) {
		out.Err = "its C++ object cannot be read"
		return out, 0, 0
	}
	start, stop := w[ss-1], w[ss]
	top = w[ss+5]
	out.Main = g.isMain(w)
	if out.Main {
		out.Root = obj
		if stop != minusOne {
			out.State = GreenletDead // its thread exited; its stack state is cleared
			return out, 0, 0
		}
		if i := int(g.self/8) + 1; g.self != 0 && i < len(w) {
			if w[i] == 0 {
				// Its thread has exited: its saved stack start may lie
				// in another thread's stack now.
				out.State = GreenletDead
				return out, 0, 0
			}
			if validPtr(w[i]) {
				ts = w[i]
			}
		}
		if validPtr(start) {
			out.StackAddr = start
		}
	} else {
		if i := int(g.userMain / 8); g.userMain != 0 && i+2 < len(w) {
			out.Root, out.Parent = w[i], w[i+2]
		}
		if validPtr(stop) {
			out.StackAddr = stop
		}
		switch {
		case stop == 0:
			out.State = GreenletUnstarted
			return out, 0, ts
		case start == 0:
			out.State = GreenletDead
			return out, 0, ts
		}
	}
	if top == 0 {
		out.State = GreenletRunning
		return out, 0, ts
	}
	if !validPtr(top) {
		out.Err = fmt.Sprintf("its top frame %#x is not an address", top)
		return out, 0, ts
	}
	out.State = GreenletSuspended
	return out, top, ts
}

// frameObjectChain captures the frames from a frame object down its
// chain, innermost first (3.10: the frame objects themselves; 3.11+: the
// interpreter frames, from the one the object stands for).
func (r *Reader) frameObjectChain(fobj uint64) ([]FrameRef, error) {
	if tn, err := r.Obj.ObjTypeName(fobj); err != nil || tn != "frame" {
		return nil, fmt.Errorf("its top frame %#x is not a frame object", fobj)
	}
	head := fobj
	if r.In.Minor >= 11 {
		F := r.In.Layout.FrameObj.Frame
		if !F.Valid() {
			return nil, fmt.Errorf("frame objects' layout unknown")
		}
		p, err := r.Obj.u64(fobj + uint64(F))
		if err != nil {
			return nil, err
		}
		head = p
	}
	// A suspended greenlet's frames are not on its thread's data stack.
	raws, err := r.captureFrames(head, 0)
	out := make([]FrameRef, 0, len(raws))
	for _, f := range raws {
		if !f.frameless() {
			out = append(out, FrameRef{f})
		}
	}
	return out, err
}

// className is obj's class as Python names it: module.qualname (a static
// type's tp_name already is).
func (v *Values) className(obj uint64) string {
	o := v.o
	t, err := o.TypeOf(obj)
	if err != nil {
		return ""
	}
	name, _ := o.TypeName(t)
	if f, err := o.TypeFlags(t); err != nil || f&tpflagsHeapType == 0 {
		return name
	}
	if q := o.L.Type.HeapQualname; q.Valid() {
		if p, err := o.u64(t + uint64(q)); err == nil && o.IsStr(p) {
			name, _ = o.Str(p)
		}
	}
	if mod := v.r.classModule(t); mod != "" {
		return mod + "." + name
	}
	return name
}
