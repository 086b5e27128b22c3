package cpython

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"pyscope/internal/model"
	"pyscope/internal/wtf8"
)

// Synchronisation primitives: their state as the interpreter keeps it, and
// their repr() as the target's own __repr__ would print it, computed from
// that state (docs/json-schema.md, "Reprs").

// SyncKind is a kind of synchronisation primitive, named as the JSON
// output names what a thread waits for.
type SyncKind string

const (
	SyncLock      SyncKind = "lock"      // _thread.lock (threading.Lock)
	SyncRLock     SyncKind = "rlock"     // _thread.RLock (threading.RLock)
	SyncCondition SyncKind = "condition" // threading.Condition
	SyncSemaphore SyncKind = "semaphore" // threading.Semaphore, BoundedSemaphore
	SyncEvent     SyncKind = "event"     // threading.Event
	SyncBarrier   SyncKind = "barrier"   // threading.Barrier
	SyncQueue     SyncKind = "queue"     // queue.Queue and its subclasses
	SyncThread    SyncKind = "join"      // threading.Thread (what a join waits for)
	SyncFuture    SyncKind = "future"    // concurrent.futures.Future
)

// syncClasses are the Python classes recognised anywhere in an object's
// MRO, by module and qualified name.
var syncClasses = map[string]SyncKind{
	"threading.Condition":             SyncCondition,
	"threading.Semaphore":             SyncSemaphore,
	"threading.BoundedSemaphore":      SyncSemaphore,
	"threading.Event":                 SyncEvent,
	"threading.Barrier":               SyncBarrier,
	"threading.Thread":                SyncThread,
	"queue.Queue":                     SyncQueue,
	"concurrent.futures._base.Future": SyncFuture,
}

// reprMode says how an instance's repr is computed.
type reprMode uint8

const (
	reprNone   reprMode = iota // a __repr__ pyscope cannot run: shown as any instance
	reprObject                 // object.__repr__
	reprKnown                  // the standard library's own __repr__ of class reprOf
)

// syncType is what the decoder knows of a primitive's type.
type syncType struct {
	kind   SyncKind
	module string // the object's class: __module__ and __qualname__
	qual   string
	name   string // __name__ (Thread and Future reprs use it)
	mode   reprMode
	reprOf string // "threading.Event": whose __repr__ runs
}

// classifySync recognises the primitives among heap types; t's kind is
// what the decoder found.
func (d *Decoder) classifySync(t uint64, ti *typeInfo) *syncType {
	o := d.o
	switch ti.kind {
	case model.ValueObject:
		// _thread.lock and _thread.RLock are types made from a spec,
		// without a dict: a class statement cannot make one.
		switch ti.name {
		case "_thread.lock":
			return &syncType{kind: SyncLock}
		case "_thread.RLock":
			return &syncType{kind: SyncRLock}
		}
		return nil
	case model.ValueInstance:
	default:
		return nil
	}
	T := o.L.Type
	if !T.Mro.Valid() || !T.Dict.Valid() {
		return nil
	}
	m, err := o.u64(t + uint64(T.Mro))
	if err != nil || !validPtr(m) {
		return nil
	}
	mro, err := o.TupleItems(m)
	if err != nil || len(mro) == 0 || len(mro) > 64 {
		return nil
	}
	st := &syncType{}
	st.module, st.qual, st.name = d.className(t)
	reprFound := false
	for _, c := range mro {
		mod, qual, _ := d.className(c)
		full := mod + "." + qual
		if k, ok := syncClasses[full]; ok && st.kind == "" {
			st.kind = k
		}
		if reprFound {
			continue
		}
		if f, err := o.TypeFlags(c); err == nil && f&tpflagsHeapType == 0 {
			// A static type: only object's __repr__ is known (3.12+ keep
			// static types' dicts elsewhere).
			reprFound = true
			if full == "builtins.object" {
				st.mode = reprObject
			}
			continue
		}
		dict, err := o.u64(c + uint64(T.Dict))
		if err != nil || !validPtr(dict) {
			continue
		}
		r, ok, err := o.DictGetStr(dict, "__repr__")
		if err != nil || !ok {
			continue
		}
		reprFound = true
		if syncClasses[full] != "" && d.isFunction(r, mod, qual+".__repr__") {
			st.mode, st.reprOf = reprKnown, full
		}
	}
	if st.kind == "" || st.mode == reprNone {
		return nil
	}
	return st
}

// className is a class's __module__, __qualname__ and __name__.
func (d *Decoder) className(c uint64) (module, qual, name string) {
	o := d.o
	tn, err := o.TypeName(c)
	if err != nil {
		return "", "", ""
	}
	flags, err := o.TypeFlags(c)
	if err != nil || flags&tpflagsHeapType == 0 {
		if i := strings.LastIndexByte(tn, '.'); i >= 0 {
			return tn[:i], tn[i+1:], tn[i+1:]
		}
		return "builtins", tn, tn
	}
	qual, name = tn, tn
	if o.L.Type.HeapQualname.Valid() {
		if p, err := o.u64(c + uint64(o.L.Type.HeapQualname)); err == nil {
			if s, err := o.Str(p); err == nil {
				qual = s
			}
		}
	}
	if d, err := o.u64(c + uint64(o.L.Type.Dict)); err == nil && validPtr(d) {
		if m, ok, _ := o.DictGetStr(d, "__module__"); ok {
			module, _ = o.Str(m)
		}
	}
	return module, qual, name
}

// isFunction reports whether obj is a Python function named qual from
// module.
func (d *Decoder) isFunction(obj uint64, module, qual string) bool {
	o := d.o
	F := o.L.Func
	if n, err := o.ObjTypeName(obj); err != nil || n != "function" || !F.Qualname.Valid() || !F.Module.Valid() {
		return false
	}
	q, err1 := o.u64(obj + uint64(F.Qualname))
	m, err2 := o.u64(obj + uint64(F.Module))
	return err1 == nil && err2 == nil && o.strEq(q, qual) && o.strEq(m, module)
}

// LockState is the state of a _thread.lock or _thread.RLock.
type LockState struct {
	Locked bool
	Owner  uint64 // RLock: the owner's thread ident, 0 when none
	Count  uint64 // RLock: how many times the owner took it
	// WaitKey is what a thread blocked acquiring it sleeps on: the
	// semaphore whose futex it waits on (3.10–3.12 locks, 3.10–3.13
	// RLocks: a sem_t*), or, when Mutex is set, the PyMutex whose address
	// its parking-lot entry names (3.13+ locks, 3.14+ RLocks).
	WaitKey uint64
	Mutex   bool
}

// lockState reads a lock's state.
func (o *Objects) lockState(obj uint64, rlock bool) (LockState, error) {
	S := o.L.Sync
	var s LockState
	if !rlock {
		switch {
		case S.LockMutex.Valid():
			b, err := o.u8(obj + uint64(S.LockMutex))
			if err != nil {
				return s, err
			}
			s.Locked, s.WaitKey, s.Mutex = b&1 != 0, obj+uint64(S.LockMutex), true
		case S.LockLocked.Valid() && S.LockSem.Valid():
			b, err := o.u8(obj + uint64(S.LockLocked))
			if err != nil {
				return s, err
			}
			sem, err := o.u64(obj + uint64(S.LockSem))
			if err != nil {
				return s, err
			}
			s.Locked, s.WaitKey = b != 0, sem
		default:
			return s, errors.New("lock layout unknown")
		}
		return s, nil
	}
	if !S.RLockOwner.Valid() {
		return s, errors.New("RLock layout unknown")
	}
	owner, err := o.u64(obj + uint64(S.RLockOwner))
	if err != nil {
		return s, err
	}
	s.Owner = owner
	switch {
	case S.RLockMutex.Valid() && S.RLockLevel.Valid():
		b, err := o.u8(obj + uint64(S.RLockMutex))
		if err != nil {
			return s, err
		}
		level, err := o.u64(obj + uint64(S.RLockLevel))
		if err != nil {
			return s, err
		}
		s.Locked, s.WaitKey, s.Mutex = b&1 != 0, obj+uint64(S.RLockMutex), true
		if s.Locked {
			s.Count = level + 1
		}
	case S.RLockCount.Valid() && S.RLockSem.Valid():
		n, err := o.u64(obj + uint64(S.RLockCount))
		if err != nil {
			return s, err
		}
		sem, err := o.u64(obj + uint64(S.RLockSem))
		if err != nil {
			return s, err
		}
		s.Locked, s.Count, s.WaitKey = n != 0, n, sem
	default:
		return s, errors.New("RLock layout unknown")
	}
	return s, nil
}

// lockRepr is lock_repr and rlock_repr of Modules/_threadmodule.c.
func lockRepr(typeName string, addr uint64, s LockState, rlock bool) string {
	state := "unlocked"
	if s.Locked {
		state = "locked"
	}
	if rlock {
		return fmt.Sprintf("<%s %s object owner=%d count=%d at %#x>", state, typeName, s.Owner, s.Count, addr)
	}
	return fmt.Sprintf("<%s %s object at %#x>", state, typeName, addr)
}

// errNoRepr means a primitive's repr cannot be computed (an attribute of
// an unexpected type): it is then shown as any instance.
var errNoRepr = errors.New("no repr")

// attrs reads an instance's attribute dict once.
type attrs struct {
	o     *Objects
	items []DictEntry
}

func (o *Objects) attrsOf(obj uint64) (attrs, error) {
	items, err := o.InstanceAttrs(obj, 64)
	return attrs{o, items}, err
}

func (a attrs) get(name string) (uint64, bool) {
	for _, it := range a.items {
		if a.o.strEq(it.Key, name) {
			return it.Value, true
		}
	}
	return 0, false
}

func (a attrs) int(name string) (*big.Int, error) {
	p, ok := a.get(name)
	if !ok || !a.o.hasFlag(p, tpflagsLongSub) {
		return nil, errNoRepr
	}
	return a.o.Int(p)
}

// truth is bool(x) for a bool, an int or None; errNoRepr for other types.
func (a attrs) truth(name string) (bool, error) {
	p, ok := a.get(name)
	if !ok {
		return false, errNoRepr
	}
	if n, err := a.o.ObjTypeName(p); err == nil && n == "NoneType" {
		return false, nil
	}
	if !a.o.hasFlag(p, tpflagsLongSub) {
		return false, errNoRepr
	}
	v, err := a.o.Int(p)
	if err != nil {
		return false, err
	}
	return v.Sign() != 0, nil
}

func (a attrs) str(name string, max int) (string, error) {
	p, ok := a.get(name)
	if !ok || !a.o.IsStr(p) {
		return "", errNoRepr
	}
	r, n, err := a.o.StrData(p, max)
	if err != nil {
		return "", err
	}
	s := wtf8.FromRunes(r)
	if n > len(r) {
		s += fmt.Sprintf("%s(+%d %s)", ellipsis, n-len(r), plural(n-len(r), "char"))
	}
	return s, nil
}

// syncRepr computes the repr of a primitive from its state.
func (d *Decoder) syncRepr(st *syncType, typeName string, obj uint64, lim Limits, depth int) (string, error) {
	o := d.o
	switch st.kind {
	case SyncLock, SyncRLock:
		s, err := o.lockState(obj, st.kind == SyncRLock)
		if err != nil {
			return "", err
		}
		return lockRepr(typeName, obj, s, st.kind == SyncRLock), nil
	}
	if st.mode == reprObject {
		if st.module == "builtins" || st.module == "" {
			return fmt.Sprintf("<%s object at %#x>", typeName, obj), nil
		}
		return fmt.Sprintf("<%s.%s object at %#x>", st.module, st.qual, obj), nil
	}
	a, err := o.attrsOf(obj)
	if err != nil {
		return "", err
	}
	self := fmt.Sprintf("%s.%s at %#x", st.module, st.qual, obj)
	switch st.reprOf {
	case "threading.Condition":
		lk, ok := a.get("_lock")
		ws, ok2 := a.get("_waiters")
		if !ok || !ok2 || depth > 8 {
			return "", errNoRepr
		}
		n, err := o.u64(ws + uint64(o.L.Object.Size)) // a deque's length
		if err != nil || n > 1<<40 {
			return "", errNoRepr
		}
		inner := d.reprOfAt(lk, lim, depth+1)
		return fmt.Sprintf("<Condition(%s, %d)>", inner, n), nil
	case "threading.Semaphore":
		v, err := a.int("_value")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("<%s: value=%s>", self, v), nil
	case "threading.BoundedSemaphore":
		v, err := a.int("_value")
		if err != nil {
			return "", err
		}
		iv, err := a.int("_initial_value")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("<%s: value=%s/%s>", self, v, iv), nil
	case "threading.Event":
		set, err := a.truth("_flag")
		if err != nil {
			return "", err
		}
		if set {
			return fmt.Sprintf("<%s: set>", self), nil
		}
		return fmt.Sprintf("<%s: unset>", self), nil
	case "threading.Barrier":
		state, err := a.int("_state")
		if err != nil {
			return "", err
		}
		if state.Cmp(big.NewInt(-2)) == 0 {
			return fmt.Sprintf("<%s: broken>", self), nil
		}
		parties, err := a.int("_parties")
		if err != nil {
			return "", err
		}
		waiting := big.NewInt(0)
		if state.Sign() == 0 {
			if waiting, err = a.int("_count"); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("<%s: waiters=%s/%s>", self, waiting, parties), nil
	case "threading.Thread":
		return d.threadRepr(st, a, lim)
	case "concurrent.futures._base.Future":
		return d.futureRepr(st, a, obj, lim)
	}
	return "", errNoRepr
}

// reprOfAt renders a nested object with the decoder's limits.
func (d *Decoder) reprOfAt(obj uint64, lim Limits, depth int) string {
	_, ti := d.typeOf(obj)
	if ti.err == nil && ti.sync != nil {
		if s, err := d.syncRepr(ti.sync, ti.name, obj, lim, depth); err == nil {
			return s
		}
	}
	return fmt.Sprintf("<%s object at %#x>", ti.name, obj)
}

// threadRepr is Thread.__repr__: <Name(name, status)>.
func (d *Decoder) threadRepr(st *syncType, a attrs, lim Limits) (string, error) {
	o := d.o
	name, err := a.str("_name", lim.MaxString)
	if err != nil {
		return "", err
	}
	status := "initial"
	started, ok := a.get("_started")
	if !ok {
		return "", errNoRepr
	}
	sa, err := o.attrsOf(started)
	if err != nil {
		return "", err
	}
	if set, err := sa.truth("_flag"); err != nil {
		return "", err
	} else if set {
		status = "started"
	}
	stopped, err := d.threadStopped(a, status == "started")
	if err != nil {
		return "", err
	}
	if stopped {
		status = "stopped"
	}
	if daemon, err := a.truth("_daemonic"); err != nil {
		return "", err
	} else if daemon {
		status += " daemon"
	}
	if id, ok := a.get("_ident"); ok && o.hasFlag(id, tpflagsLongSub) {
		n, err := o.Int(id)
		if err != nil {
			return "", err
		}
		status += " " + n.String()
	}
	return fmt.Sprintf("<%s(%s, %s)>", st.name, name, status), nil
}

// threadStopped is what Thread.__repr__ finds out about the thread having
// ended: 3.10–3.12 _is_stopped, or its tstate lock released (what
// is_alive() notices); 3.13+ its handle's thread_is_exiting event.
func (d *Decoder) threadStopped(a attrs, started bool) (bool, error) {
	o := d.o
	S := o.L.Sync
	for _, hn := range []string{"_os_thread_handle", "_handle"} {
		h, ok := a.get(hn)
		if !ok {
			continue
		}
		if !S.ThreadHandle.Valid() || !S.ThreadHandleExiting.Valid() {
			return false, errNoRepr
		}
		th, err := o.u64(h + uint64(S.ThreadHandle))
		if err != nil {
			return false, err
		}
		// A PyEvent is 1 once set; 2 while unset with waiters parked.
		b, err := o.u8(th + uint64(S.ThreadHandleExiting))
		return b == 1, err
	}
	if stopped, err := a.truth("_is_stopped"); err != nil || stopped {
		return stopped, err
	}
	if !started {
		return false, nil
	}
	lk, ok := a.get("_tstate_lock")
	if !ok {
		return false, errNoRepr
	}
	if n, err := o.ObjTypeName(lk); err == nil && n == "NoneType" {
		return false, nil
	}
	s, err := o.lockState(lk, false)
	if err != nil {
		return false, err
	}
	return !s.Locked, nil
}

// futureRepr is concurrent.futures.Future.__repr__.
func (d *Decoder) futureRepr(st *syncType, a attrs, obj uint64, lim Limits) (string, error) {
	o := d.o
	state, err := a.str("_state", 64)
	if err != nil {
		return "", err
	}
	desc := map[string]string{"PENDING": "pending", "RUNNING": "running", "CANCELLED": "cancelled",
		"CANCELLED_AND_NOTIFIED": "cancelled", "FINISHED": "finished"}[state]
	if desc == "" {
		return "", errNoRepr
	}
	head := fmt.Sprintf("<%s at %#x state=%s", st.name, obj, desc)
	if state != "FINISHED" {
		return head + ">", nil
	}
	typeName := func(attr string) (string, bool) {
		p, ok := a.get(attr)
		if !ok {
			return "", false
		}
		t, err := o.TypeOf(p)
		if err != nil {
			return "", false
		}
		_, _, name := d.className(t)
		return name, true
	}
	if exc, ok := a.get("_exception"); ok {
		if n, err := o.ObjTypeName(exc); err == nil && n != "NoneType" {
			name, _ := typeName("_exception")
			return fmt.Sprintf("%s raised %s>", head, name), nil
		}
	}
	name, ok := typeName("_result")
	if !ok {
		return "", errNoRepr
	}
	return fmt.Sprintf("%s returned %s>", head, name), nil
}

// SyncObject is a synchronisation primitive as the lock analysis needs
// it: what it is, its state and its repr.
type SyncObject struct {
	Kind SyncKind
	Addr uint64
	Type string // tp_name
	Repr string
	// Lock and RLock state.
	State LockState
	// Inner is the primitive's own lock or condition: a Condition's
	// _lock, the _cond of a Semaphore, Event or Barrier, a Queue's mutex,
	// a Future's _condition.
	Inner uint64
	// Ident is a Thread's ident (0 before it started).
	Ident uint64
	// A Thread's end: 3.10–3.12 the tstate lock it holds while it runs;
	// 3.13+ the address of its handle's thread_is_exiting event.
	TstateLock uint64
	Exiting    uint64
	// FutureState is a concurrent.futures.Future's _state: PENDING (not
	// started: a work item still queued), RUNNING, FINISHED, ...; "" when
	// unreadable.
	FutureState string
}

// Sync reads obj as a synchronisation primitive; ok is false when it is
// none (or a subclass whose own __repr__ pyscope cannot run).
func (v *Values) Sync(obj uint64, lim Limits) (SyncObject, bool) {
	so, ok := v.SyncState(obj)
	if ok {
		so.Repr = Repr(v.Decode(obj, lim), lim)
	}
	return so, ok
}

// SyncState is Sync without the repr.
func (v *Values) SyncState(obj uint64) (SyncObject, bool) {
	d := v.dec
	_, ti := d.typeOf(obj)
	if ti.err != nil || ti.sync == nil {
		return SyncObject{}, false
	}
	st := ti.sync
	so := SyncObject{Kind: st.kind, Addr: obj, Type: ti.name}
	o := v.o
	switch st.kind {
	case SyncLock, SyncRLock:
		s, err := o.lockState(obj, st.kind == SyncRLock)
		if err != nil {
			return SyncObject{}, false
		}
		so.State = s
		return so, true
	}
	a, err := o.attrsOf(obj)
	if err != nil {
		return so, true
	}
	for _, n := range []string{"_lock", "_cond", "mutex", "_condition"} {
		if p, ok := a.get(n); ok {
			so.Inner = p
			break
		}
	}
	if st.kind == SyncFuture {
		so.FutureState, _ = a.str("_state", 64)
	}
	if st.kind == SyncThread {
		so.Inner = 0
		if id, ok := a.get("_ident"); ok && o.hasFlag(id, tpflagsLongSub) {
			if n, err := o.Int(id); err == nil && n.IsUint64() {
				so.Ident = n.Uint64()
			}
		}
		if lk, ok := a.get("_tstate_lock"); ok {
			so.TstateLock = lk
		}
		S := o.L.Sync
		for _, hn := range []string{"_os_thread_handle", "_handle"} {
			if h, ok := a.get(hn); ok && S.ThreadHandle.Valid() && S.ThreadHandleExiting.Valid() {
				if th, err := o.u64(h + uint64(S.ThreadHandle)); err == nil && validPtr(th) {
					so.Exiting = th + uint64(S.ThreadHandleExiting)
				}
				break
			}
		}
	}
	return so, true
}

// BoundSelf is the object a bound method found on a frame's stack is bound
// to: the self of a method object (a Python __exit__), of a builtin method
// (a lock's __exit__), or 0. name is the method's name.
func (v *Values) BoundSelf(obj uint64) (self uint64, name string) {
	o := v.o
	tn, err := o.ObjTypeName(obj)
	if err != nil {
		return 0, ""
	}
	switch tn {
	case "method":
		M := o.L.Method
		if !M.Func.Valid() || !M.Self.Valid() {
			return 0, ""
		}
		fn, err1 := o.u64(obj + uint64(M.Func))
		self, err2 := o.u64(obj + uint64(M.Self))
		if err1 != nil || err2 != nil || !validPtr(fn) || !validPtr(self) {
			return 0, ""
		}
		if n, err := o.ObjTypeName(fn); err != nil || n != "function" {
			return 0, ""
		}
		q, err := o.u64(fn + uint64(o.L.Func.Name))
		if err != nil {
			return 0, ""
		}
		name, _ = o.Str(q)
		return self, name
	case "builtin_function_or_method":
		L := o.L
		if !L.CFunction.Ml.Valid() || !L.CFunction.Self.Valid() || !L.MethodDef.Name.Valid() {
			return 0, ""
		}
		ml, err1 := o.u64(obj + uint64(L.CFunction.Ml))
		self, err2 := o.u64(obj + uint64(L.CFunction.Self))
		if err1 != nil || err2 != nil || !validPtr(self) {
			return 0, ""
		}
		np, err := o.u64(ml + uint64(L.MethodDef.Name))
		if err != nil {
			return 0, ""
		}
		name, err = o.cstring(np, 64)
		if err != nil {
			return 0, ""
		}
		return self, name
	}
	return 0, ""
}
