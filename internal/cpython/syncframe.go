package cpython

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"pyscope/internal/cpython/bytecode"
	"pyscope/internal/model"
)

// What a frame says about the locks its thread holds and is taking: the
// with blocks it is inside (each keeps its context manager's __exit__ on
// the value stack, at the depth the exception table or the block stack
// names), the blocking X.acquire() statements it passed, and what the
// instruction it executes enters.

// Entered is an object a frame took: a with statement's context manager,
// or the receiver of X.acquire().
type Entered struct {
	Object uint64
	Line   int    // the with statement's or the acquire call's line
	Via    string // "with" or "acquire"
}

// FrameSync is what one frame says about locks.
type FrameSync struct {
	// With are the with statements the frame is inside, outermost first.
	With []Entered
	// Acquired are the objects the frame took with a blocking X.acquire()
	// statement that every path to the current instruction passes, with
	// no release of anything since and X not rebound.
	Acquired []Entered
	// Entering is what the current instruction is taking: the context
	// manager of a with statement being entered, or X of X.acquire();
	// Object is 0 when it takes neither.
	Entering Entered
	// Objects are the objects in the frame's variables and value stack
	// slots (stale slots included: a caller must match them against
	// other evidence), when the frame's code had them read; nil otherwise
	// (FrameObjects reads them).
	Objects []uint64
	// Calls is the method the current instruction calls, X.name(…), when X
	// is a variable or an attribute chain: X's value now and name.
	Calls struct {
		Receiver uint64
		Method   string
	}
}

// syncCode is what the lock analysis needs of a code object.
type syncCode struct {
	nlocalsplus int // 3.11+: slots before the value stack
	stacksize   int
	ins         []bytecode.Instr
	handlers    []bytecode.Handler // 3.11+
	names       []uint64           // co_names: str objects, read when needed
	nameCache   map[int]string
	o           *Objects
	hasWith     bool    // 3.10: a with statement is there
	acquires    []int   // instructions loading an attribute named acquire
	succ        [][]int // flow: each instruction's successors, made when needed
	err         error
	// at: what the code alone says at an instruction offset, for the
	// frames stopped there (a deep recursion's are all at one).
	at map[int]*syncAt
}

// syncAt is what a code object says at one instruction.
type syncAt struct {
	cur      int                // the instruction's index, -1 when none
	chain    []bytecode.Handler // withChain (3.11+)
	opens    bytecode.Handler   // opensWith (3.11+), when opensOK
	opensOK  bool
	mayEnter bool
	cands    []acquireSite
}

// maxSyncAt bounds the instructions remembered per code object.
const maxSyncAt = 4096

// atInstr is what the code says at offset off (cached).
func (c *syncCode) atInstr(off, minor int) *syncAt {
	if a, ok := c.at[off]; ok {
		return a
	}
	a := &syncAt{cur: bytecode.At(c.ins, off)}
	if a.cur >= 0 {
		if minor >= 11 {
			a.chain = c.withChain(a.cur)
			a.opens, a.opensOK = c.opensWith(a.cur)
		}
		a.mayEnter = c.mayEnter(a.cur, minor)
		a.cands = c.acquireCandidates(a.cur, minor)
	}
	if c.at == nil {
		c.at = map[int]*syncAt{}
	}
	if len(c.at) < maxSyncAt {
		c.at[off] = a
	}
	return a
}

const maxStack = 1 << 16

func (r *Reader) syncCode(code uint64) *syncCode {
	if r.syncCodes == nil {
		r.syncCodes = map[uint64]*syncCode{}
	}
	if c, ok := r.syncCodes[code]; ok {
		return c
	}
	c := r.readSyncCode(code)
	if len(r.syncCodes) < 1<<14 {
		r.syncCodes[code] = c
	}
	return c
}

func (r *Reader) readSyncCode(code uint64) *syncCode {
	o := r.Obj
	C := o.L.Code
	c := &syncCode{}
	fail := func(err error) *syncCode { c.err = err; return c }
	if tn, err := o.ObjTypeName(code); err != nil || tn != "code" {
		return fail(fmt.Errorf("no code object at %#x", code))
	}
	tb, err := bytecode.For(fmt.Sprintf("%d.%d", r.In.Major, r.In.Minor))
	if err != nil {
		return fail(err)
	}
	if !C.Stacksize.Valid() || !C.Names.Valid() {
		return fail(errors.New("code layout unknown (co_stacksize, co_names)"))
	}
	ss, err := o.u32(code + uint64(C.Stacksize))
	if err != nil {
		return fail(err)
	}
	if c.stacksize = int(int32(ss)); c.stacksize < 0 || c.stacksize > maxStack {
		return fail(fmt.Errorf("code at %#x has stack size %d", code, c.stacksize))
	}
	var raw []byte
	if r.In.Minor <= 10 {
		p, err := o.u64(code + uint64(C.Code))
		if err != nil {
			return fail(err)
		}
		var trunc bool
		if raw, trunc, err = o.Bytes(p, 1<<22); err != nil || trunc {
			return fail(fmt.Errorf("co_code of code at %#x unreadable", code))
		}
	} else {
		if !C.CodeAdaptive.Valid() || !C.NlocalsPlus.Valid() || !C.Exceptiontable.Valid() {
			return fail(errors.New("code layout unknown"))
		}
		n, err := o.u32(code + uint64(C.NlocalsPlus))
		if err != nil {
			return fail(err)
		}
		if c.nlocalsplus = int(int32(n)); c.nlocalsplus < 0 || c.nlocalsplus > maxLocals {
			return fail(fmt.Errorf("code at %#x has %d locals", code, c.nlocalsplus))
		}
		units, err := o.u64(code + uint64(o.L.Object.Size))
		if err != nil || units > 1<<21 {
			return fail(fmt.Errorf("code at %#x has a bad size", code))
		}
		if raw, err = o.read(code+uint64(C.CodeAdaptive), int(units)*2); err != nil {
			return fail(err)
		}
		et, err := o.u64(code + uint64(C.Exceptiontable))
		if err != nil {
			return fail(err)
		}
		tab, trunc, err := o.Bytes(et, 1<<20)
		if err != nil || trunc {
			return fail(fmt.Errorf("exception table of code at %#x unreadable", code))
		}
		if c.handlers, err = bytecode.ExceptionTable(tab); err != nil {
			return fail(err)
		}
	}
	if c.ins, err = tb.Decode(raw); err != nil {
		return fail(err)
	}
	np, err := o.u64(code + uint64(C.Names))
	if err != nil {
		return fail(err)
	}
	if c.names, err = o.TupleItems(np); err != nil {
		return fail(err)
	}
	c.o = o
	for i, in := range c.ins {
		if in.Name == "SETUP_WITH" || in.Name == "SETUP_ASYNC_WITH" {
			c.hasWith = true
		}
		if c.attrName(i, r.In.Minor) == "acquire" {
			c.acquires = append(c.acquires, i)
		}
	}
	return c
}

// name is co_names[i], "" when out of range or unreadable.
func (c *syncCode) name(i int) string {
	if i < 0 || i >= len(c.names) {
		return ""
	}
	if s, ok := c.nameCache[i]; ok {
		return s
	}
	s, _ := c.o.Str(c.names[i]) // a name that cannot be read matches none
	if c.nameCache == nil {
		c.nameCache = map[int]string{}
	}
	c.nameCache[i] = s
	return s
}

// Empty reports whether the frame says nothing about locks.
func (fs *FrameSync) Empty() bool {
	return len(fs.With) == 0 && len(fs.Acquired) == 0 && fs.Entering == (Entered{}) &&
		fs.Objects == nil && fs.Calls.Receiver == 0 && fs.Calls.Method == ""
}

// FrameSync reads what frame f says about locks. Its thread must not run
// (a stopped process, a core, or a thread blocked since the capture).
//
// The code object says what may be there (cached per code object); the
// frame's slots are read only when it does, so that frames that hold
// nothing cost no read. (f by reference: a dump has thousands.)
func (v *Values) FrameSync(fp *model.Frame, want SyncWant) (FrameSync, error) {
	var fs FrameSync
	if fp.Kind != "python" || fp.Addr == 0 || fp.Code == 0 {
		return fs, errors.New("no Python frame")
	}
	sc := v.r.syncCode(fp.Code)
	if sc.err != nil {
		return fs, sc.err
	}
	minor := v.r.In.Minor
	at := sc.atInstr(fp.Instr, minor)
	cur := at.cur
	if cur < 0 {
		return fs, fmt.Errorf("frame at %#x: no instruction at offset %d", fp.Addr, fp.Instr)
	}
	if minor >= 11 && len(at.chain) == 0 && !(want.Entering && (at.opensOK || at.mayEnter)) && len(at.cands) == 0 && !want.Calls {
		return fs, nil // the code says the frame holds and takes nothing
	}
	f := *fp
	var slots, stack []uint64
	var slotsErr error
	read := false
	get := func() ([]uint64, []uint64, error) {
		if !read {
			read = true
			slots, stack, slotsErr = v.frameSlots(f, sc)
		}
		return slots, stack, slotsErr
	}
	info := v.r.code(f.Code)
	line := func(off int) int { return info.location(minor, off).Line }
	if minor <= 10 {
		if sc.hasWith {
			fs.With = v.withBlocks310(f, sc, line)
		}
	} else {
		if handlers := at.chain; len(handlers) > 0 {
			if _, stack, err := get(); err == nil {
				fs.With = v.withBlocks311(sc, handlers, stack, line)
			}
		}
		if next, ok := at.opens, at.opensOK; ok && want.Entering {
			if _, stack, err := get(); err == nil {
				if e := v.manager(stack, next.Depth); e != 0 {
					fs.Entering = Entered{Object: e, Line: line(sc.ins[cur].Offset), Via: "with"}
				}
			}
		}
	}
	if want.Entering && fs.Entering.Object == 0 && at.mayEnter {
		if slots, _, err := get(); err == nil {
			fs.Entering = v.enteringByName(f, sc, cur, slots, line)
		}
	}
	if cands := at.cands; len(cands) > 0 {
		if slots, _, err := get(); err == nil {
			fs.Acquired = v.acquired(f, sc, cands, slots, line)
		}
	}
	if want.Calls {
		if slots, _, err := get(); err == nil {
			fs.Calls.Receiver, fs.Calls.Method = v.calls(f, sc, cur, slots)
		}
	}
	if read && slotsErr == nil {
		fs.Objects = slots // read anyway: spares FrameObjects a read
	}
	return fs, nil
}

// SyncWant says what FrameSync reads beyond what the code calls for.
type SyncWant struct {
	Entering bool // what the current instruction takes (with, acquire)
	Calls    bool // the receiver of the method the frame calls
}

// FrameObjects are the objects in frame f's variables and value stack
// slots (see FrameSync.Objects); its thread must not run.
func (v *Values) FrameObjects(f model.Frame) ([]uint64, error) {
	if f.Kind != "python" || f.Addr == 0 || f.Code == 0 {
		return nil, errors.New("no Python frame")
	}
	sc := v.r.syncCode(f.Code)
	if sc.err != nil {
		return nil, sc.err
	}
	all, _, err := v.frameSlots(f, sc)
	return all, err
}

// calls finds X.name(args) at instruction cur, args being constants.
func (v *Values) calls(f model.Frame, sc *syncCode, cur int, slots []uint64) (uint64, string) {
	minor := v.r.In.Minor
	if !strings.HasPrefix(sc.ins[cur].Name, "CALL") {
		return 0, ""
	}
	for j := cur - 1; j >= 0 && j >= cur-6; j-- {
		in := sc.ins[j]
		if name := sc.attrName(j, minor); name != "" {
			if e, ok := sc.receiver(j, minor); ok {
				if obj, ok := v.eval(f, sc, e, slots); ok {
					return obj, name
				}
			}
			return 0, ""
		}
		switch in.Name {
		case "LOAD_CONST", "LOAD_SMALL_INT", "KW_NAMES", "PRECALL", "PUSH_NULL":
		default:
			return 0, ""
		}
	}
	return 0, ""
}

// ModuleName is the name of a module object, "" when obj is none.
func (v *Values) ModuleName(obj uint64) string {
	if v.kind(obj) != model.ValueModule {
		return ""
	}
	d, err := v.moduleDict(obj)
	if err != nil {
		return ""
	}
	return v.r.dictStr(d, "__name__")
}

// frameSlots reads a frame's variable and value stack slots (the stack
// slots alone too), tags removed.
func (v *Values) frameSlots(f model.Frame, sc *syncCode) (all, stack []uint64, err error) {
	o := v.o
	L := o.L
	var base, stackBase uint64
	var nvars int
	if v.r.In.Minor <= 10 {
		if !L.FrameObj.Valuestack.Valid() {
			return nil, nil, errors.New("frame layout unknown (f_valuestack)")
		}
		base = f.Addr + uint64(L.FrameObj.Localsplus)
		if stackBase, err = o.u64(f.Addr + uint64(L.FrameObj.Valuestack)); err != nil {
			return nil, nil, err
		}
		if stackBase < base || stackBase-base > 8*maxLocals || (stackBase-base)%8 != 0 {
			return nil, nil, fmt.Errorf("frame at %#x: bad value stack", f.Addr)
		}
		nvars = int(stackBase-base) / 8
	} else {
		base = f.Addr + uint64(L.Frame.Localsplus)
		nvars = sc.nlocalsplus
		stackBase = base + 8*uint64(nvars)
	}
	raw, err := v.r.frameBytes(base, 8*(nvars+sc.stacksize))
	if err != nil {
		return nil, nil, fmt.Errorf("frame at %#x: %w", f.Addr, err)
	}
	all = make([]uint64, nvars+sc.stacksize)
	for i := range all {
		p := le64(raw[8*i:])
		if v.r.In.Minor >= 14 {
			if p&3 == 3 {
				p = 0 // a tagged int
			}
			p &^= 3 // _PyStackRef tag bits
		}
		if !validPtr(p) {
			p = 0
		}
		all[i] = p
	}
	return all, all[nvars:], nil
}

// manager is the context manager a with block keeps at the top of the
// stack it protects: the self of the bound __exit__ there (3.11–3.13), or
// the manager itself (3.14+, with its __exit__ below it; 3.12–3.13 while
// __enter__ runs).
func (v *Values) manager(stack []uint64, depth int) uint64 {
	if depth < 1 || depth > len(stack) {
		return 0
	}
	top := stack[depth-1]
	if self, name := v.BoundSelf(top); name == "__exit__" {
		return self
	}
	return top
}

// isWith reports whether handler h is a with block's: its code starts
// with PUSH_EXC_INFO, WITH_EXCEPT_START.
func (c *syncCode) isWith(h bytecode.Handler) bool {
	i := bytecode.At(c.ins, h.Target)
	return i >= 0 && i+1 < len(c.ins) && c.ins[i].Offset == h.Target &&
		c.ins[i].Name == "PUSH_EXC_INFO" && c.ins[i+1].Name == "WITH_EXCEPT_START"
}

// withBlocks311 follows the exception handlers out from instruction cur:
// the handler covering cur, then the one covering that handler's code,
// and so on. A with block's handler unwinds the stack to just above what
// the block keeps (so that slot is live for as long as cur runs inside
// it), and the code of a block's handlers is covered by the enclosing
// block's handler.
func (v *Values) withBlocks311(sc *syncCode, handlers []bytecode.Handler, stack []uint64, line func(int) int) []Entered {
	var out []Entered
	// Found innermost first.
	for i := len(handlers) - 1; i >= 0; i-- {
		h := handlers[i]
		if m := v.manager(stack, h.Depth); m != 0 {
			out = append(out, Entered{Object: m, Line: line(withStart(sc, h)), Via: "with"})
		}
	}
	return out
}

// withChain lists the with blocks' handlers around instruction cur,
// innermost first (see withBlocks311).
func (c *syncCode) withChain(cur int) []bytecode.Handler {
	var out []bytecode.Handler
	seen := map[int]bool{}
	off := c.ins[cur].Offset
	for steps := 0; steps < 256; steps++ {
		h, ok := bytecode.Covering(c.handlers, off)
		if !ok || seen[h.Target] {
			break
		}
		seen[h.Target] = true
		if c.isWith(h) {
			out = append(out, h)
		}
		off = h.Target
	}
	return out
}

// withStart is the offset of the instruction that entered the with block
// handler h protects: the one just before its first protected range.
func withStart(sc *syncCode, h bytecode.Handler) int {
	first := h.Start
	for _, o := range sc.handlers {
		if o.Target == h.Target && o.Depth == h.Depth && o.Start < first {
			first = o.Start
		}
	}
	if i := bytecode.At(sc.ins, first); i > 0 {
		return sc.ins[i-1].Offset
	}
	return first
}

// opensWith reports whether a with statement at instruction cur is
// entering its block: the instruction after cur opens a with block that
// does not cover cur (BEFORE_WITH 3.11–3.13, the __enter__ call 3.14+);
// the block's handler says where its manager is.
func (c *syncCode) opensWith(cur int) (bytecode.Handler, bool) {
	if cur+1 >= len(c.ins) {
		return bytecode.Handler{}, false
	}
	switch c.ins[cur].Name {
	case "BEFORE_WITH", "CALL":
	default:
		return bytecode.Handler{}, false
	}
	next, ok := bytecode.Covering(c.handlers, c.ins[cur+1].Offset)
	if !ok || !c.isWith(next) {
		return bytecode.Handler{}, false
	}
	if h, ok := bytecode.Covering(c.handlers, c.ins[cur].Offset); ok && h == next {
		return bytecode.Handler{}, false
	}
	return next, true
}

// withBlocks310 reads 3.10's block stack: each block set up by a with
// statement keeps the bound __exit__ just below its level.
func (v *Values) withBlocks310(f model.Frame, sc *syncCode, line func(int) int) []Entered {
	o := v.o
	F := o.L.FrameObj
	if !F.Iblock.Valid() || !F.Blockstack.Valid() || !F.BlockSize.Valid() || !F.BlockLevel.Valid() {
		return nil
	}
	n, err := o.u32(f.Addr + uint64(F.Iblock))
	if err != nil || n > 20 { // CO_MAXBLOCKS
		return nil
	}
	vs, err := o.u64(f.Addr + uint64(F.Valuestack))
	if err != nil {
		return nil
	}
	var out []Entered
	for i := uint64(0); i < uint64(n); i++ {
		b := f.Addr + uint64(F.Blockstack) + i*uint64(F.BlockSize)
		level, err := o.u32(b + uint64(F.BlockLevel))
		if err != nil || int32(level) < 1 || int(level) > sc.stacksize {
			continue
		}
		exit, err := o.u64(vs + 8*uint64(level-1))
		if err != nil {
			continue
		}
		self, name := v.BoundSelf(exit)
		if name != "__exit__" {
			continue
		}
		e := Entered{Object: self, Via: "with"}
		// The SETUP_WITH that jumps to the block's handler names the line.
		if h, err := o.u32(b + uint64(F.BlockHandler)); err == nil && F.BlockHandler.Valid() {
			for _, in := range sc.ins {
				if (in.Name == "SETUP_WITH" || in.Name == "SETUP_ASYNC_WITH") && in.Target == 2*int(int32(h)) {
					e.Line = line(in.Offset)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// expr is a value a frame's code loads: a variable, a global or a name,
// then attributes.
type expr struct {
	op    string // the loading instruction
	arg   int
	attrs []string
}

// receiver is the expression whose value instruction i consumes: the
// loads just before it, a variable and attributes.
func (c *syncCode) receiver(i int, minor int) (expr, bool) {
	var e expr
	j := i - 1
	for ; j >= 0 && c.ins[j].Name == "LOAD_ATTR"; j-- {
		arg := c.ins[j].Arg
		if minor >= 12 {
			if arg&1 != 0 {
				return e, false // a method load
			}
			arg >>= 1
		}
		e.attrs = append([]string{c.name(arg)}, e.attrs...)
	}
	if j < 0 {
		return e, false
	}
	in := c.ins[j]
	switch in.Name {
	case "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW", "LOAD_DEREF", "LOAD_NAME":
		e.op, e.arg = in.Name, in.Arg
	case "LOAD_GLOBAL":
		e.op, e.arg = in.Name, in.Arg
		if minor >= 11 {
			e.arg >>= 1
		}
	default:
		return e, false
	}
	return e, true
}

// methodLoad reports whether instruction i loads attribute name to call
// it (3.12+ load a module's function as a plain attribute).
func (c *syncCode) methodLoad(i int, minor int, name string) bool {
	return c.attrName(i, minor) == name
}

// attrName is the name instruction i loads as an attribute or method, "".
func (c *syncCode) attrName(i int, minor int) string {
	in := c.ins[i]
	switch {
	case in.Name == "LOAD_METHOD":
		return c.name(in.Arg)
	case in.Name == "LOAD_ATTR" && minor >= 12:
		return c.name(in.Arg >> 1)
	case in.Name == "LOAD_ATTR":
		return c.name(in.Arg)
	}
	return ""
}

// eval evaluates an expression in frame f as it stands.
func (v *Values) eval(f model.Frame, sc *syncCode, e expr, slots []uint64) (uint64, bool) {
	o := v.o
	var obj uint64
	switch e.op {
	case "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW":
		if e.arg >= len(slots) || slots[e.arg] == 0 {
			return 0, false
		}
		obj = slots[e.arg]
		if o.isCell(obj) { // 3.11+: an argument captured by a closure
			ref, err := o.u64(obj + uint64(o.L.Cell.Ref))
			if err != nil {
				return 0, false
			}
			obj = ref
		}
	case "LOAD_DEREF":
		i := e.arg
		if v.r.In.Minor <= 10 {
			cv := v.r.codeVars(f.Code) // cells and frees follow the locals
			if cv.err != nil {
				return 0, false
			}
			i += cv.nvar
		}
		if i >= len(slots) || slots[i] == 0 || !o.isCell(slots[i]) {
			return 0, false
		}
		ref, err := o.u64(slots[i] + uint64(o.L.Cell.Ref))
		if err != nil {
			return 0, false
		}
		obj = ref
	case "LOAD_GLOBAL", "LOAD_NAME":
		name := sc.name(e.arg)
		if name == "" {
			return 0, false
		}
		if e.op == "LOAD_NAME" {
			vars, _ := v.Locals(f)
			for _, x := range vars {
				if x.Name == name && x.Ref != 0 {
					obj = x.Ref
				}
			}
		}
		if obj == 0 {
			obj = v.lookupGlobal(f, name)
		}
	}
	if !validPtr(obj) {
		return 0, false
	}
	for _, a := range e.attrs {
		next, err := v.Attr(obj, a)
		if err != nil || !validPtr(next) {
			return 0, false
		}
		obj = next
	}
	return obj, true
}

// mayEnter reports whether instruction cur may take something
// lookupGlobal is a global or builtin name as the frame sees it, 0 when
// unbound.
func (v *Values) lookupGlobal(f model.Frame, name string) uint64 {
	o := v.o
	g, err := v.globalsDict(f)
	if err != nil {
		return 0
	}
	if p, ok, _ := o.DictGetStr(g, name); ok {
		return p
	}
	L := v.r.In.Layout
	b := v.frameField(f, L.FrameObj.Builtins, L.Frame.Builtins)
	if b == 0 {
		if mod, ok, _ := o.DictGetStr(g, "__builtins__"); ok {
			b, _ = v.namespace(mod)
		}
	}
	if b != 0 {
		if p, ok, _ := o.DictGetStr(b, name); ok {
			return p
		}
	}
	return 0
}

// enteringByName finds.
func (c *syncCode) mayEnter(cur int, minor int) bool {
	in := c.ins[cur].Name
	if in == "SETUP_WITH" {
		return true
	}
	if !strings.HasPrefix(in, "CALL") {
		return false
	}
	for j := cur - 1; j >= 0 && j >= cur-6; j-- {
		if c.methodLoad(j, minor, "acquire") {
			return true
		}
	}
	return false
}

// enteringByName finds what the current instruction takes from the code
// alone: a 3.10 SETUP_WITH's manager, or X of a running X.acquire(...).
func (v *Values) enteringByName(f model.Frame, sc *syncCode, cur int, slots []uint64, line func(int) int) Entered {
	minor := v.r.In.Minor
	in := sc.ins[cur]
	if in.Name == "SETUP_WITH" {
		if e, ok := sc.receiver(cur, minor); ok {
			if obj, ok := v.eval(f, sc, e, slots); ok {
				return Entered{Object: obj, Line: line(in.Offset), Via: "with"}
			}
		}
		return Entered{}
	}
	if !strings.HasPrefix(in.Name, "CALL") {
		return Entered{}
	}
	// X.acquire(args): the method load, then constant arguments only.
	for j := cur - 1; j >= 0 && j >= cur-6; j-- {
		if sc.methodLoad(j, minor, "acquire") {
			if e, ok := sc.receiver(j, minor); ok {
				if obj, ok := v.eval(f, sc, e, slots); ok {
					return Entered{Object: obj, Line: line(in.Offset), Via: "acquire"}
				}
			}
			break
		}
		switch sc.ins[j].Name {
		case "LOAD_CONST", "LOAD_SMALL_INT", "KW_NAMES", "PRECALL", "PUSH_NULL":
		default:
			return Entered{}
		}
	}
	return Entered{}
}

// acquired finds the X.acquire() statements (no arguments, so blocking,
// the result dropped) whose effect still holds at instruction cur: every
// path to cur passes the statement (nothing jumps into the code between
// them from outside it), and that code neither releases anything nor
// rebinds what X is read from.
func (v *Values) acquired(f model.Frame, sc *syncCode, cands []acquireSite, slots []uint64, line func(int) int) []Entered {
	var out []Entered
	for _, a := range cands {
		if obj, ok := v.eval(f, sc, a.e, slots); ok {
			out = append(out, Entered{Object: obj, Line: line(sc.ins[a.call].Offset), Via: "acquire"})
		}
	}
	return out
}

// acquireSite is a blocking X.acquire() statement still in effect.
type acquireSite struct {
	e    expr
	call int // the call instruction
}

// acquireCandidates finds, from the code alone, the X.acquire()
// statements still in effect at instruction cur (see acquired).
func (c *syncCode) acquireCandidates(cur int, minor int) []acquireSite {
	var out []acquireSite
	for _, k := range c.acquires {
		if k >= cur {
			break
		}
		// The call without arguments, then POP_TOP.
		m := k + 1
		if m < len(c.ins) && c.ins[m].Name == "PRECALL" {
			m++
		}
		if m >= len(c.ins) || !strings.HasPrefix(c.ins[m].Name, "CALL") || c.ins[m].Name == "CALL_KW" || c.ins[m].Arg != 0 {
			continue
		}
		call := m
		if m++; m >= cur || c.ins[m].Name != "POP_TOP" {
			continue
		}
		e, ok := c.receiver(k, minor)
		if !ok || !c.dominates(m, cur) || c.touches(c.between(m, cur), e, minor) {
			continue
		}
		out = append(out, acquireSite{e, call})
	}
	return out
}

// dominates reports whether instruction a leads to instruction b on every
// path: b cannot be reached from the code's start without passing a. A
// loop's back edge, which jumps from below b to above it, comes from code
// reached through a and does not stop it dominating (L.acquire() then
// while True: ...).
func (c *syncCode) dominates(a, b int) bool {
	if a >= b {
		return false
	}
	return !c.reach([]int{0}, a, false)[b]
}

// between is the set of instructions some path from instruction a to
// instruction b runs after a (b itself when a loop runs it again before
// the current visit), without running a again: what ran since a, in
// whatever order, up to the current visit of b.
func (c *syncCode) between(a, b int) []bool {
	from := c.reach(c.flow()[a], a, false)
	var preds []int
	for i, ss := range c.flow() {
		if i != a && slices.Contains(ss, b) {
			preds = append(preds, i)
		}
	}
	to := c.reach(preds, a, true)
	for i := range from {
		from[i] = from[i] && to[i]
	}
	return from
}

// reach marks the instructions reached from starts (included) along the
// flow's edges (reversed: back), never through instruction avoid.
func (c *syncCode) reach(starts []int, avoid int, back bool) []bool {
	succ := c.flow()
	edges := succ
	if back {
		edges = make([][]int, len(succ))
		for i, ss := range succ {
			for _, j := range ss {
				edges[j] = append(edges[j], i)
			}
		}
	}
	seen := make([]bool, len(succ))
	var stack []int
	for _, s := range starts {
		if s != avoid && s >= 0 && s < len(seen) && !seen[s] {
			seen[s] = true
			stack = append(stack, s)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range edges[i] {
			if j != avoid && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return seen
}

// noFallThrough are the instructions after which the next one does not
// run (3.10-3.14). An instruction missing here only adds a path, which
// makes the analysis claim less, never more.
var noFallThrough = map[string]bool{
	"JUMP_FORWARD": true, "JUMP_BACKWARD": true, "JUMP_BACKWARD_NO_INTERRUPT": true,
	"JUMP_ABSOLUTE": true, "RETURN_VALUE": true, "RETURN_CONST": true,
	"RAISE_VARARGS": true, "RERAISE": true,
}

// flow is each instruction's successors: the next instruction unless it
// never falls through, its jump target, and the handlers of the exception
// table entries covering it (3.10's SETUP_* name theirs as targets).
func (c *syncCode) flow() [][]int {
	if c.succ != nil {
		return c.succ
	}
	c.succ = make([][]int, len(c.ins))
	for i, in := range c.ins {
		if i+1 < len(c.ins) && !noFallThrough[in.Name] {
			c.succ[i] = append(c.succ[i], i+1)
		}
		if in.Target >= 0 {
			if j := bytecode.At(c.ins, in.Target); j >= 0 {
				c.succ[i] = append(c.succ[i], j)
			}
		}
	}
	for _, h := range c.handlers {
		j := bytecode.At(c.ins, h.Target)
		if j < 0 {
			continue
		}
		for i := bytecode.At(c.ins, h.Start); i >= 0 && i < len(c.ins) && c.ins[i].Offset < h.End; i++ {
			c.succ[i] = append(c.succ[i], j)
		}
	}
	return c.succ
}

// touches reports whether the instructions in set release anything, or
// rebind the variable or an attribute name of e.
func (c *syncCode) touches(set []bool, e expr, minor int) bool {
	rootName := ""
	if e.op == "LOAD_GLOBAL" || e.op == "LOAD_NAME" {
		rootName = c.name(e.arg)
	}
	for i, in := range c.ins {
		if !set[i] {
			continue
		}
		if n := c.attrName(i, minor); n == "release" || n == "__exit__" {
			return true
		}
		switch in.Name {
		case "STORE_FAST", "DELETE_FAST", "STORE_DEREF", "DELETE_DEREF", "STORE_FAST_MAYBE_NULL":
			if (e.op != "LOAD_GLOBAL" && e.op != "LOAD_NAME") && in.Arg == e.arg {
				return true
			}
		case "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST":
			if e.op != "LOAD_GLOBAL" && e.op != "LOAD_NAME" && (in.Arg>>4 == e.arg || in.Arg&15 == e.arg) {
				return true
			}
		case "STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME", "DELETE_NAME":
			if c.name(in.Arg) == rootName {
				return true
			}
		case "STORE_ATTR", "DELETE_ATTR":
			for _, a := range e.attrs {
				if c.name(in.Arg) == a {
					return true
				}
			}
		}
	}
	return false
}

// FrameInstr reads the offset of the instruction frame f executes now (it
// may have moved since the capture, if its thread ran).
func (v *Values) FrameInstr(f model.Frame) (int, error) {
	o := v.o
	L := o.L
	if v.r.In.Minor <= 10 {
		n, err := o.u32(f.Addr + uint64(L.FrameObj.Lasti))
		return 2 * int(int32(n)), err
	}
	ip, err := o.u64(f.Addr + uint64(L.Frame.InstrPtr))
	if err != nil {
		return 0, err
	}
	start := f.Code + uint64(L.Code.CodeAdaptive)
	if ip < start || ip-start > 1<<22 {
		return 0, fmt.Errorf("frame at %#x: instruction pointer outside its code", f.Addr)
	}
	return int(ip-start) &^ 1, nil
}

// FirstArg is the name and value of a function frame's first argument
// (self, for a method), read from its slot alone; a cell is followed.
func (v *Values) FirstArg(f model.Frame) (string, uint64) {
	name := v.r.firstArgName(f.Code)
	if name == "" {
		return "", 0
	}
	L := v.o.L
	base := L.Frame.Localsplus
	if v.r.In.Minor <= 10 {
		base = L.FrameObj.Localsplus
	}
	p, err := v.o.u64(f.Addr + uint64(base))
	if err != nil {
		return "", 0
	}
	if v.r.In.Minor >= 14 {
		p &^= 3
	}
	if !validPtr(p) {
		return "", 0
	}
	if v.o.isCell(p) {
		if p, err = v.o.u64(p + uint64(L.Cell.Ref)); err != nil || !validPtr(p) {
			return "", 0
		}
	}
	return name, p
}

// firstArgName is the name of a function's first argument ("" when it
// has none, or for a module or class body), read alone and cached.
func (r *Reader) firstArgName(code uint64) string {
	if n, ok := r.firstArgs[code]; ok {
		return n
	}
	n := r.readFirstArgName(code)
	if r.firstArgs == nil {
		r.firstArgs = map[uint64]string{}
	}
	if len(r.firstArgs) < 1<<14 {
		r.firstArgs[code] = n
	}
	return n
}

func (r *Reader) readFirstArgName(code uint64) string {
	o := r.Obj
	C := o.L.Code
	argc, err1 := o.u32(code + uint64(C.Argcount))
	flags, err2 := o.u32(code + uint64(C.Flags))
	if err1 != nil || err2 != nil || int32(argc) < 1 || flags&coOptimized == 0 {
		return ""
	}
	off := C.Localsplusnames
	if r.In.Minor <= 10 {
		off = C.Varnames
	}
	if !off.Valid() {
		return ""
	}
	t, err := o.u64(code + uint64(off))
	if err != nil {
		return ""
	}
	p, err := o.u64(t + uint64(o.L.Tuple.Item))
	if err != nil || !validPtr(p) {
		return ""
	}
	n, _ := o.Str(p)
	return n
}

// FirstArgName is the name of the first argument of frame f's function
// ("" for none, or a module or class body).
func (v *Values) FirstArgName(f model.Frame) string { return v.r.firstArgName(f.Code) }

// Deref is the contents of a cell, or obj itself when it is no cell (a
// variable captured by a closure is kept in a cell).
func (v *Values) Deref(obj uint64) uint64 {
	if obj == 0 || !v.o.isCell(obj) {
		return obj
	}
	p, err := v.o.u64(obj + uint64(v.o.L.Cell.Ref))
	if err != nil || !validPtr(p) {
		return 0
	}
	return p
}
