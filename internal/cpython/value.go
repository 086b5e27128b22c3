package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
	"pyscope/internal/redact"
	"pyscope/internal/target"
	"pyscope/internal/wtf8"
)

// Limits bound what one value may cost to read and to show.
type Limits struct {
	MaxString int // characters of a str (bytes of a bytes object, digits of an int) shown
	MaxItems  int // items of a container, attributes of an instance
	MaxDepth  int // container nesting decoded
	MaxRepr   int // characters of one repr
	MaxRead   int // bytes of target memory one value may read
	MaxNodes  int // objects one value may decode
}

// TerminalLimits are the defaults for text output.
func TerminalLimits() Limits {
	return Limits{MaxString: 120, MaxItems: 20, MaxDepth: 4, MaxRepr: 400, MaxRead: 1 << 20, MaxNodes: 2000}
}

// JSONLimits are the defaults for JSON output.
func JSONLimits() Limits {
	return Limits{MaxString: 8192, MaxItems: 1000, MaxDepth: 16, MaxRepr: 1 << 16, MaxRead: 16 << 20, MaxNodes: 100_000}
}

// Budgeted raises the read budget to what the display limits need:
// showing more may read more.
func (l Limits) Budgeted() Limits {
	l = l.normalise()
	l.MaxRead = max(l.MaxRead, 8*l.MaxString*l.MaxItems)
	l.MaxNodes = max(l.MaxNodes, 4*l.MaxItems*l.MaxDepth)
	return l.normalise()
}

// normalise keeps every limit positive and bounded.
func (l Limits) normalise() Limits {
	clamp := func(v, lo, hi int) int { return max(lo, min(v, hi)) }
	l.MaxString = clamp(l.MaxString, 1, 1<<24)
	l.MaxItems = clamp(l.MaxItems, 1, 1<<20)
	l.MaxDepth = clamp(l.MaxDepth, 1, 64)
	l.MaxRepr = clamp(l.MaxRepr, 32, 1<<26) // room for the note of a cut
	l.MaxRead = clamp(l.MaxRead, 4096, 1<<28)
	l.MaxNodes = clamp(l.MaxNodes, 1, 1<<22)
	return l
}

// typeInfo is what the decoder knows about a type.
type typeInfo struct {
	name string // tp_name
	kind model.ValueKind
	heap bool
	err  error
	sync *syncType // a synchronisation primitive whose repr pyscope computes
}

// builtinKinds maps static type names to the kind decoded for them and
// for their heap subclasses.
var builtinKinds = map[string]model.ValueKind{
	"NoneType": model.ValueNone, "bool": model.ValueBool, "int": model.ValueInt,
	"float": model.ValueFloat, "complex": model.ValueComplex, "str": model.ValueStr,
	"bytes": model.ValueBytes, "bytearray": model.ValueByteArray, "tuple": model.ValueTuple,
	"list": model.ValueList, "set": model.ValueSet, "frozenset": model.ValueFrozenSet,
	"dict": model.ValueDict, "function": model.ValueFunction, "module": model.ValueModule,
	"builtin_function_or_method": model.ValueBuiltin, "builtin_method": model.ValueBuiltin,
	"weakref": model.ValueWeakref, "weakref.ReferenceType": model.ValueWeakref,
	"method": model.ValueMethod, "frame": model.ValueRepr,
	"coroutine": model.ValueGenerator, "generator": model.ValueGenerator, "async_generator": model.ValueGenerator,
}

// Decoder turns objects in target memory into model.Values. It caches type
// facts; use one per stopped target (types can change while it runs).
type Decoder struct {
	o     *Objects
	r     *Reader // for asyncio futures and coroutine frames; nil: not decoded
	types map[uint64]*typeInfo
	st    decoding  // reused by every Decode: fewer allocations in the pause
	bm    budgetMem // likewise
	// memo: values already decoded, by address. Only sound while the
	// target is stopped and with one set of limits (see Memoize).
	memo    map[uint64]*model.Value
	memoLim Limits
	slab    []model.Value
	// the last limits given to Decode, and their normalised form
	rawLim, normLim Limits
	normOK          bool
	// red says which values are left out (nil: redact.Default()); names
	// repeat across frames and objects, so its verdicts are kept.
	red     *redact.Policy
	secrets map[string]bool
}

// secret reports whether a value under name is left out (cached).
func (d *Decoder) secret(name string) bool {
	if name == "" || d.red.Off() {
		return false
	}
	s, ok := d.secrets[name]
	if !ok {
		s = d.red.Secret(name)
		if d.secrets == nil {
			d.secrets = map[string]bool{}
		}
		if len(d.secrets) < 1<<16 {
			d.secrets[name] = s
		}
	}
	return s
}

// Redact sets which values are left out: nil is redact.Default(),
// redact.None() shows everything.
func (d *Decoder) Redact(p *redact.Policy) { d.red, d.secrets = p, nil }

// DecodeNamed decodes the value held under name (a variable): left out
// when the name says secret, an environment when it names one.
func (d *Decoder) DecodeNamed(addr uint64, lim Limits, name string) *model.Value {
	if d.secret(name) {
		return d.redacted(addr)
	}
	if d.red.Environ(name) {
		// Not memoized: under another name the same dict shows its values.
		if lim != d.rawLim || !d.normOK {
			d.rawLim, d.normLim, d.normOK = lim, lim.normalise(), true
		}
		return d.decode(addr, d.normLim, true)
	}
	return d.Decode(addr, lim)
}

// redacted stands for the object at addr, left out.
func (d *Decoder) redacted(addr uint64) *model.Value {
	v := &model.Value{Kind: model.ValueRedacted, Addr: addr}
	if _, ti := d.typeOf(addr); ti.err == nil {
		v.Type = ti.name
	}
	return v
}

// Memoize makes Decode return the same tree for the same address and
// limits: a stopped target's memory does not change, and many frames share
// objects (self, small ints, interned strings).
func (d *Decoder) Memoize() {
	d.memo = make(map[uint64]*model.Value, 1<<10)
}

// NewDecoder returns a decoder over o.
func NewDecoder(o *Objects) *Decoder {
	return &Decoder{o: o, types: map[uint64]*typeInfo{}}
}

// newValue hands out values from slabs: a snapshot with --locals decodes
// tens of thousands of them while the target is stopped, and one
// allocation per value was most of that time.
func (d *Decoder) newValue() *model.Value {
	if len(d.slab) == 0 {
		d.slab = make([]model.Value, 256)
	}
	v := &d.slab[0]
	d.slab = d.slab[1:]
	return v
}

// decoding is the state of one Decode call.
type decoding struct {
	*Decoder
	lim       Limits
	readLeft  int
	nodesLeft int
	path      map[uint64]bool // containers being decoded: cycles
	// environ makes the next value decoded an environment (its name said
	// so): a mapping whose values are left out.
	environ bool
}

// Decode reads the object at addr within lim. It never fails: problems
// become ValueError or ValueElided nodes.
func (d *Decoder) Decode(addr uint64, lim Limits) *model.Value {
	// Callers pass the same limits for every variable of a snapshot.
	if lim != d.rawLim || !d.normOK {
		d.rawLim, d.normLim, d.normOK = lim, lim.normalise(), true
	}
	lim = d.normLim
	if d.memo != nil {
		if d.memoLim != lim {
			clear(d.memo)
			d.memoLim = lim
		}
		if v, ok := d.memo[addr]; ok {
			return v
		}
		v := d.decode(addr, lim, false)
		if len(d.memo) < 1<<20 {
			d.memo[addr] = v
		}
		return v
	}
	return d.decode(addr, lim, false)
}

func (d *Decoder) decode(addr uint64, lim Limits, environ bool) *model.Value {
	return d.decodeAs(addr, lim, environ, false)
}

func (d *Decoder) decodeAs(addr uint64, lim Limits, environ, synth bool) *model.Value {
	st := &d.st
	if st.path == nil {
		st.path = map[uint64]bool{}
	}
	clear(st.path)
	st.Decoder, st.lim, st.readLeft, st.nodesLeft = d, lim, lim.MaxRead, lim.MaxNodes
	// Every read of this value goes through a hard budget, whatever path
	// the object graph takes; charge() only stops early and cleanly.
	saved := d.o.mem
	if _, nested := saved.m.(*budgetMem); nested {
		return errValue(addr, "", errors.New("nested decode"))
	}
	d.bm = budgetMem{m: saved.m, calls: 64*lim.MaxNodes + 4096, bytes: 2*lim.MaxRead + 1<<16}
	d.o.mem = mem{&d.bm}
	defer func() { d.o.mem = saved }()
	st.environ = environ
	if synth {
		switch synthKind(addr) {
		case synthInt:
			return &model.Value{Kind: model.ValueInt, Type: "int", Int: big.NewInt(int64(addr &^ synthMask))}
		case synthDict:
			return st.instanceDict(addr&^synthMask, 0)
		case synthConst:
			if c := addr &^ synthMask; c != constNone {
				return &model.Value{Kind: model.ValueBool, Type: "bool", Bool: c == constTrue}
			}
			return &model.Value{Kind: model.ValueNone, Type: "NoneType"}
		}
	}
	return st.value(addr, 0)
}

// decodeSynth is Decode of a synthetic ref (Values.Item, Values.Attr),
// which only the session's expressions make: an address read from the
// target never is one, whatever its bits.
func (d *Decoder) decodeSynth(ref uint64, lim Limits) *model.Value {
	return d.decodeAs(ref, lim.normalise(), false, true)
}

// instanceDict is an instance's __dict__ as Python shows it: a dict of its
// attributes, read whatever form the target keeps them in.
func (st *decoding) instanceDict(obj uint64, depth int) *model.Value {
	items, err := st.o.InstanceAttrs(obj, maxLocals)
	if err != nil {
		return errValue(obj, "dict", err)
	}
	v := &model.Value{Kind: model.ValueDict, Type: "dict", Addr: obj, Len: len(items)}
	st.dictEntries(v, items[:min(len(items), st.lim.MaxItems)], depth, false, 0)
	return v
}

// budgetMem fails reads once a value has used its share.
type budgetMem struct {
	m            target.Memory
	calls, bytes int
}

var errReadBudget = errors.New("read limit reached")

func (b *budgetMem) ReadAt(p []byte, addr uint64) (int, error) {
	b.calls--
	b.bytes -= len(p)
	if b.calls < 0 || b.bytes < 0 {
		return 0, errReadBudget
	}
	return b.m.ReadAt(p, addr)
}

func errValue(addr uint64, typ string, err error) *model.Value {
	return &model.Value{Kind: model.ValueError, Addr: addr, Type: typ, Err: err.Error()}
}

// charge takes n bytes from the read budget.
func (st *decoding) charge(n int) bool {
	st.readLeft -= n
	return st.readLeft >= 0
}

func (d *Decoder) typeOf(addr uint64) (uint64, *typeInfo) {
	t, err := d.o.TypeOf(addr)
	if err != nil {
		return 0, &typeInfo{err: err}
	}
	if ti, ok := d.types[t]; ok {
		return t, ti
	}
	ti := d.classify(t)
	if ti.err == nil {
		ti.sync = d.classifySync(t, ti)
	}
	if ti.err == nil && len(d.types) < 1<<16 { // errors may be the budget's: retry later
		d.types[t] = ti
	}
	return t, ti
}

// classify finds a type's kind: exact static builtins by name, heap types
// by their first static base, then flags.
func (d *Decoder) classify(t uint64) *typeInfo {
	o := d.o
	ti := &typeInfo{kind: model.ValueObject}
	name, err := o.TypeName(t)
	if err != nil {
		ti.err = err
		return ti
	}
	ti.name = name
	flags, err := o.TypeFlags(t)
	if err != nil {
		ti.err = err
		return ti
	}
	ti.heap = flags&tpflagsHeapType != 0
	switch {
	case flags&tpflagsTypeSub != 0:
		ti.kind = model.ValueClass
		return ti
	case flags&tpflagsBaseExcSub != 0:
		ti.kind = model.ValueException
		return ti
	}
	if !ti.heap {
		if k, ok := builtinKinds[name]; ok {
			ti.kind = k
		}
		return ti
	}
	// A heap type: the first static type up its tp_base chain decides.
	if !o.L.Type.Base.Valid() {
		return ti
	}
	b := t
	for i := 0; i < 64; i++ {
		next, err := o.u64(b + uint64(o.L.Type.Base))
		if err != nil || !validPtr(next) {
			return ti
		}
		b = next
		bf, err := o.TypeFlags(b)
		if err != nil {
			return ti
		}
		if bf&tpflagsHeapType != 0 {
			continue
		}
		bn, err := o.TypeName(b)
		if err != nil {
			return ti
		}
		switch k, ok := builtinKinds[bn]; {
		case bn == "object":
			// Classes made by a class statement have a dict or __slots__;
			// C types made from a spec (_thread.lock) have neither.
			if d.userClass(t, flags) {
				ti.kind = model.ValueInstance
			}
		case ok && k != model.ValueNone && k != model.ValueBool && k != model.ValueFunction && k != model.ValueBuiltin:
			ti.kind = k
		}
		return ti
	}
	return ti
}

// userClass reports whether instances of heap type t carry attributes.
func (d *Decoder) userClass(t, flags uint64) bool {
	o := d.o
	if flags&(tpflagsManagedDict|tpflagsInlineValues) != 0 && o.Minor >= 11 {
		return true
	}
	if o.L.Type.Dictoffset.Valid() {
		if off, err := o.u64(t + uint64(o.L.Type.Dictoffset)); err == nil && off != 0 {
			return true
		}
	}
	if o.L.Type.HeapSlots.Valid() {
		if s, err := o.u64(t + uint64(o.L.Type.HeapSlots)); err == nil && s != 0 {
			return true
		}
	}
	return false
}

func (st *decoding) value(addr uint64, depth int) *model.Value {
	environ := st.environ
	st.environ = false
	if addr == 0 {
		return &model.Value{Kind: model.ValueError, Err: "NULL"}
	}
	if !validPtr(addr) {
		return &model.Value{Kind: model.ValueError, Addr: addr, Err: fmt.Sprintf("bad pointer %#x", addr)}
	}
	if st.nodesLeft <= 0 || st.readLeft <= 0 {
		return &model.Value{Kind: model.ValueElided, Addr: addr, Len: -1, Err: "read limit"}
	}
	st.nodesLeft--
	st.charge(64)
	t, ti := st.typeOf(addr)
	if ti.err != nil {
		return errValue(addr, "", ti.err)
	}
	// A synchronisation primitive is no asyncio future: its repr needs
	// neither asyncio's layout nor the type's bases.
	if st.r != nil && ti.sync == nil && (ti.kind == model.ValueInstance || ti.kind == model.ValueObject) {
		if ft, _ := st.r.futureTypeOf(addr); ft != notFuture && ft != badLayout {
			if st.path[addr] || depth >= st.lim.MaxDepth {
				return &model.Value{Kind: model.ValueElided, Of: model.ValueInstance, Type: ti.name, Addr: addr, Len: -1}
			}
			st.path[addr] = true
			v := st.future(addr, ti.name, depth)
			delete(st.path, addr)
			return v
		}
	}
	v := st.newValue()
	v.Kind, v.Type, v.Addr = ti.kind, ti.name, addr
	if ti.sync != nil {
		// Locks, conditions, events…: repr() as the target prints it.
		if s, err := st.syncRepr(ti.sync, ti.name, addr, st.lim, depth); err == nil {
			v.Kind, v.Name = model.ValueRepr, s
			return v
		}
	}
	o := st.o
	L := o.L
	var err error
	switch ti.kind {
	case model.ValueGenerator:
		v.Name, err = st.strField(addr, L.Gen.Qualname, "generator qualname")
	case model.ValueWeakref:
		if st.path[addr] {
			return &model.Value{Kind: model.ValueCycle, Of: ti.kind, Type: ti.name, Addr: addr}
		}
		if !L.Weakref.Object.Valid() {
			err = fmt.Errorf("weakref layout unknown")
			break
		}
		var p uint64
		if p, err = o.u64(addr + uint64(L.Weakref.Object)); err == nil && validPtr(p) {
			if _, pti := st.typeOf(p); pti.kind != model.ValueNone {
				st.path[addr] = true
				v.Items = []*model.Value{st.value(p, depth)}
				delete(st.path, addr)
			}
		}
	case model.ValueRepr: // a frame object
		if st.r == nil {
			v.Kind = model.ValueObject
			break
		}
		v.Name, err = st.frameRepr(addr)
	case model.ValueMethod:
		if st.path[addr] {
			return &model.Value{Kind: model.ValueCycle, Of: ti.kind, Type: ti.name, Addr: addr}
		}
		st.path[addr] = true
		err = st.method(v, addr, depth)
		delete(st.path, addr)
	case model.ValueNone:
	case model.ValueBool:
		var n *big.Int
		if n, err = st.int(addr); err == nil {
			v.Bool = n.Sign() != 0
		}
	case model.ValueInt:
		v.Int, err = st.int(addr)
		if be, ok := err.(*bigIntError); ok {
			// ~log10(2) decimal digits per bit
			return &model.Value{Kind: model.ValueElided, Of: model.ValueInt, Type: ti.name, Addr: addr,
				Len: int(float64(be.bits) * 0.30103), Err: be.Error()}
		}
	case model.ValueFloat:
		var bits uint64
		if bits, err = o.u64(addr + uint64(L.Float.Fval)); err == nil {
			v.Float = math.Float64frombits(bits)
		}
	case model.ValueComplex:
		var b []byte
		if !L.Complex.Cval.Valid() {
			err = fmt.Errorf("complex layout unknown")
		} else if b, err = o.read(addr+uint64(L.Complex.Cval), 16); err == nil {
			v.Float = math.Float64frombits(binary.LittleEndian.Uint64(b))
			v.Imag = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		}
	case model.ValueStr:
		// Charged for what it holds, as bytes are: charging MaxString
		// (16M once unlimited) left a dict's fifth str to the read limit.
		// StrData reads at most 4 bytes a character, within the hard
		// budget of budgetMem.
		v.Runes, v.Len, err = o.StrData(addr, st.lim.MaxString)
		st.charge(4 * min(v.Len, st.lim.MaxString))
		v.Hidden = st.red.Hidden(v.Runes)
	case model.ValueBytes:
		err = st.bytes(v, addr+uint64(L.Bytes.Sval))
		v.Hidden = st.hiddenBytes(v.Bytes)
	case model.ValueByteArray:
		err = st.byteArray(v)
		v.Hidden = st.hiddenBytes(v.Bytes)
	case model.ValueFunction:
		v.Name, err = st.strField(addr, L.Func.Qualname, "function qualname")
	case model.ValueBuiltin:
		err = st.builtin(v, addr)
	case model.ValueClass:
		err = st.class(v, addr)
	case model.ValueModule:
		err = st.module(v, addr)
	case model.ValueTuple, model.ValueList, model.ValueSet, model.ValueFrozenSet, model.ValueDict,
		model.ValueException, model.ValueInstance:
		if st.path[addr] {
			return &model.Value{Kind: model.ValueCycle, Of: ti.kind, Type: ti.name, Addr: addr}
		}
		if depth >= st.lim.MaxDepth {
			v.Len = -1
			v.Err = "depth"
			if ti.kind != model.ValueInstance && ti.kind != model.ValueException {
				v.Len = st.containerLen(v.Kind, addr)
			}
			v.Items = nil
			return elided(v)
		}
		st.path[addr] = true
		err = st.container(v, t, addr, depth, environ)
		delete(st.path, addr)
	}
	if err != nil {
		return errValue(addr, ti.name, err)
	}
	return v
}

// maxEnvironScan bounds the keys looked at to tell an environment.
const maxEnvironScan = 4096

// elided marks a container that was not decoded (depth limit).
func elided(v *model.Value) *model.Value {
	return &model.Value{Kind: model.ValueElided, Of: v.Kind, Type: v.Type, Addr: v.Addr, Len: v.Len, Err: v.Err}
}

// maxIntDigits bounds the ints read (about 180,000 decimal digits): the
// read budget alone would let one int take most of a value's.
const maxIntDigits = 20000

type bigIntError struct{ bits uint64 }

func (e *bigIntError) Error() string { return fmt.Sprintf("int of %d bits", e.bits) }

// int reads an int within the read budget.
func (st *decoding) int(addr uint64) (*big.Int, error) {
	o := st.o
	L := o.L
	var ndigits uint64
	if L.Long.LvTag.Valid() && o.Minor >= 12 {
		tag, err := o.u64(addr + uint64(L.Long.LvTag))
		if err != nil {
			return nil, err
		}
		ndigits = tag >> 3
	} else {
		sz, err := o.u64(addr + uint64(L.Object.Size))
		if err != nil {
			return nil, err
		}
		ndigits = uint64(max(int64(sz), -int64(sz)))
	}
	if ndigits > maxIntDigits || !st.charge(int(ndigits)*4) {
		return nil, &bigIntError{bits: ndigits * 30}
	}
	return o.Int(addr)
}

func (st *decoding) bytes(v *model.Value, data uint64) error {
	size, err := st.o.u64(v.Addr + uint64(st.o.L.Object.Size))
	if err != nil {
		return err
	}
	if int64(size) < 0 || size > 1<<40 {
		return fmt.Errorf("impossible size %d", int64(size))
	}
	v.Len = int(size)
	n := min(v.Len, st.lim.MaxString)
	st.charge(n)
	v.Bytes, err = st.o.read(data, n)
	return err
}

// hiddenBytes is redact's Hidden of bytes, each byte a character.
func (st *decoding) hiddenBytes(b []byte) [][2]int {
	if st.red.Off() || len(b) == 0 {
		return nil
	}
	s := make([]rune, len(b))
	for i, c := range b {
		s[i] = rune(c)
	}
	return st.red.Hidden(s)
}

func (st *decoding) byteArray(v *model.Value) error {
	L := st.o.L.Bytes
	if !L.ArrayStart.Valid() {
		return fmt.Errorf("bytearray layout unknown")
	}
	start, err := st.o.u64(v.Addr + uint64(L.ArrayStart))
	if err != nil {
		return err
	}
	size, err := st.o.u64(v.Addr + uint64(st.o.L.Object.Size))
	if err != nil {
		return err
	}
	if size == 0 {
		v.Bytes = []byte{}
		return nil
	}
	return st.bytes(v, start)
}

// strField reads a str pointed to by a field of obj.
func (st *decoding) strField(obj uint64, off layout.Off, what string) (string, error) {
	if !off.Valid() {
		return "", fmt.Errorf("%s: layout unknown", what)
	}
	p, err := st.o.u64(obj + uint64(off))
	if err != nil {
		return "", err
	}
	return st.str(p)
}

// str reads a (short) str object as Go text, within the string limit.
func (st *decoding) str(p uint64) (string, error) {
	if !st.o.IsStr(p) {
		return "", fmt.Errorf("object at %#x is not a str", p)
	}
	r, n, err := st.o.StrData(p, min(st.lim.MaxString, 4096))
	if err != nil {
		return "", err
	}
	st.charge(len(r) * 4)
	s := wtf8.FromRunes(r)
	if n > len(r) {
		s += "…"
	}
	return s, nil
}

// builtin fills a builtin function or method as meth_repr shows it: the C
// function's name, and the type of the object a method is bound to.
func (st *decoding) builtin(v *model.Value, addr uint64) error {
	o := st.o
	L := o.L
	if !L.CFunction.Ml.Valid() || !L.CFunction.Self.Valid() || !L.MethodDef.Name.Valid() {
		return fmt.Errorf("builtin function layout unknown")
	}
	ml, err := o.u64(addr + uint64(L.CFunction.Ml))
	if err != nil {
		return err
	}
	np, err := o.u64(ml + uint64(L.MethodDef.Name))
	if err != nil {
		return err
	}
	if v.Name, err = o.cstring(np, maxTypeNameLen); err != nil {
		return err
	}
	self, err := o.u64(addr + uint64(L.CFunction.Self))
	if err != nil || self == 0 {
		return err
	}
	if _, ti := st.typeOf(self); ti.err == nil && ti.kind != model.ValueModule {
		v.Module, v.Self = ti.name, self
	}
	return nil
}

// method fills a bound method as method_repr shows it: its function's
// __qualname__ and the repr of __self__, which the decoder's limits and
// redaction bound as any value's. A method whose __func__ is no Python
// function (its __qualname__ is computed by C or Python code) stays a
// plain object.
func (st *decoding) method(v *model.Value, addr uint64, depth int) error {
	o := st.o
	L := o.L
	if !L.Method.Func.Valid() || !L.Method.Self.Valid() {
		return fmt.Errorf("method layout unknown")
	}
	fn, err := o.u64(addr + uint64(L.Method.Func))
	if err != nil {
		return err
	}
	if !validPtr(fn) {
		return fmt.Errorf("__func__ is a bad pointer %#x", fn)
	}
	if _, fti := st.typeOf(fn); fti.err != nil || fti.kind != model.ValueFunction {
		v.Kind = model.ValueObject
		return nil
	}
	if v.Name, err = st.strField(fn, L.Func.Qualname, "function qualname"); err != nil {
		return err
	}
	self, err := o.u64(addr + uint64(L.Method.Self))
	if err != nil {
		return err
	}
	v.Items = []*model.Value{st.value(self, depth)}
	return nil
}

// frameRepr is frame_repr's text for a frame object:
// "<frame at 0x…, file '…', line N, code name>", the line as
// PyFrame_GetLineNumber gives it (3.11+: f_lineno while a tracer set it,
// else the line of the frame's last instruction).
func (st *decoding) frameRepr(f uint64) (string, error) {
	r, o := st.r, st.o
	L := o.L
	var raw rawFrame
	if o.Minor <= 10 {
		if !L.FrameObj.Code.Valid() || !L.FrameObj.Lasti.Valid() {
			return "", fmt.Errorf("frame layout unknown")
		}
		code, err := o.u64(f + uint64(L.FrameObj.Code))
		if err != nil {
			return "", err
		}
		lasti, err := o.u32(f + uint64(L.FrameObj.Lasti))
		if err != nil {
			return "", err
		}
		raw = rawFrame{addr: f, code: code, ip: uint64(int64(int32(lasti)))}
	} else {
		F := L.Frame
		if !L.FrameObj.Frame.Valid() || !F.Executable.Valid() || !F.InstrPtr.Valid() || !F.Owner.Valid() {
			return "", fmt.Errorf("frame layout unknown")
		}
		fr, err := o.u64(f + uint64(L.FrameObj.Frame))
		if err != nil {
			return "", err
		}
		if !validPtr(fr) {
			return "", fmt.Errorf("frame object without an interpreter frame")
		}
		b, err := o.read(fr, int(max(F.Executable, F.InstrPtr)+8))
		if err != nil {
			return "", err
		}
		owner, err := o.u8(fr + uint64(F.Owner))
		if err != nil {
			return "", err
		}
		raw = rawFrame{addr: fr, code: le64(b[F.Executable:]), ip: le64(b[F.InstrPtr:]), owner: owner}
		if o.Minor >= 14 {
			raw.code &^= 3 // _PyStackRef tag bits
		}
		if F.TLBCIndex.Valid() {
			if n, err := o.u32(fr + uint64(F.TLBCIndex)); err == nil {
				raw.tlbc = int32(n)
			}
		}
	}
	st.charge(256)
	c, loc, _, _, err := r.locate(&raw)
	if err != nil {
		return "", err
	}
	line := loc.Line
	if o.Minor >= 11 && L.FrameObj.Lineno.Valid() {
		if n, err := o.u32(f + uint64(L.FrameObj.Lineno)); err == nil && int32(n) > 0 {
			line = int(int32(n))
		}
	}
	return fmt.Sprintf("<frame at %#x, file %s, line %d, code %s>", f, StrRepr([]rune(c.file)), line, c.name), nil
}

// class fills a class: its qualname and module, as type_repr shows them.
func (st *decoding) class(v *model.Value, t uint64) error {
	o := st.o
	L := o.L
	name, err := o.TypeName(t)
	if err != nil {
		return err
	}
	flags, err := o.TypeFlags(t)
	if err != nil {
		return err
	}
	if flags&tpflagsHeapType == 0 {
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			v.Module, v.Name = name[:i], name[i+1:]
		} else {
			v.Module, v.Name = "builtins", name
		}
		return nil
	}
	v.Name = name
	if L.Type.HeapQualname.Valid() {
		if q, err := st.strField(t, L.Type.HeapQualname, "type qualname"); err == nil {
			v.Name = q
		}
	}
	if L.Type.Dict.Valid() {
		d, err := o.u64(t + uint64(L.Type.Dict))
		if err == nil && validPtr(d) {
			if m, ok, _ := st.dictStr(d, "__module__"); ok {
				v.Module, _ = st.str(m)
			}
		}
	}
	return nil
}

// dictStr looks up a str key in a dict, within the item limit.
func (st *decoding) dictStr(dict uint64, key string) (uint64, bool, error) {
	items, err := st.o.DictItems(dict, 4096)
	st.charge(len(items) * 64)
	if err != nil {
		return 0, false, err
	}
	for _, it := range items {
		if st.o.strEq(it.Key, key) {
			return it.Value, true, nil
		}
	}
	return 0, false, nil
}

// module fills a module as importlib's _module_repr shows it: from its
// __spec__, else its __file__.
func (st *decoding) module(v *model.Value, m uint64) error {
	o := st.o
	L := o.L
	if !L.Module.Dict.Valid() {
		return fmt.Errorf("module layout unknown")
	}
	d, err := o.u64(m + uint64(L.Module.Dict))
	if err != nil {
		return err
	}
	v.Name = "?"
	if !validPtr(d) {
		return nil
	}
	if n, ok, _ := st.dictStr(d, "__name__"); ok {
		if s, err := st.str(n); err == nil {
			v.Name = s
		}
	}
	if spec, ok, _ := st.dictStr(d, "__spec__"); ok {
		if _, ti := st.typeOf(spec); ti.kind == model.ValueInstance {
			attrs, _ := o.InstanceAttrs(spec, 64)
			get := func(name string) (uint64, bool) {
				for _, a := range attrs {
					if o.strEq(a.Key, name) {
						return a.Value, true
					}
				}
				return 0, false
			}
			if n, ok := get("name"); ok {
				if s, err := st.str(n); err == nil {
					v.Name = s
				}
			}
			if p, ok := get("origin"); ok && st.o.IsStr(p) {
				v.Origin, _ = st.str(p)
				if loc, ok := get("_set_fileattr"); ok {
					if _, ti := st.typeOf(loc); ti.kind == model.ValueBool {
						n, _ := st.int(loc)
						v.Located = n != nil && n.Sign() != 0
					}
				}
			}
			return nil
		}
	}
	if f, ok, _ := st.dictStr(d, "__file__"); ok && st.o.IsStr(f) {
		v.Origin, _ = st.str(f)
		v.Located = true
	}
	return nil
}

// containerLen reads the item count of a container cheaply.
func (st *decoding) containerLen(k model.ValueKind, addr uint64) int {
	o := st.o
	var n uint64
	var err error
	switch k {
	case model.ValueDict:
		c, err := o.DictLen(addr)
		if err != nil {
			return -1
		}
		return c
	case model.ValueSet, model.ValueFrozenSet:
		n, err = o.u64(addr + uint64(o.L.Set.Used))
	default:
		n, err = o.u64(addr + uint64(o.L.Object.Size))
	}
	if err != nil || n > 1<<40 {
		return -1
	}
	return int(n)
}

// named decodes the value held under name (an attribute, a key): left
// out when the name says secret, an environment when it names one.
func (st *decoding) named(addr uint64, depth int, name string) *model.Value {
	if st.secret(name) {
		return st.redacted(addr)
	}
	st.environ = name != "" && st.red.Environ(name)
	return st.value(addr, depth)
}

// keyName is a decoded str or bytes key as text ("" for other keys).
func keyName(k *model.Value) string {
	switch k.Kind {
	case model.ValueStr:
		return string(k.Runes)
	case model.ValueBytes:
		return string(k.Bytes)
	}
	return ""
}

// environKeys reports whether keys make a dict an environment: a WSGI
// environ (Django's request.META too) or a copy of a process's.
func environKeys(keys []*model.Value) bool {
	request, process := redact.EnvironMarkers()
	found := 0
	for _, k := range keys {
		switch name := keyName(k); {
		case slices.Contains(request, name):
			return true
		case slices.Contains(process, name):
			found++
		}
	}
	return found == len(process)
}

// environMarked is environKeys over every key of a dict (up to a bound).
func (st *decoding) environMarked(addr uint64, n int) bool {
	if n < 2 || n > maxEnvironScan {
		return false
	}
	request, process := redact.EnvironMarkers()
	found := 0
	st.o.DictEach(addr, func(k, _ uint64) bool {
		st.charge(16)
		if st.readLeft <= 0 {
			return false
		}
		for _, r := range request {
			if st.o.strEq(k, r) {
				found = len(process)
				return false
			}
		}
		for _, p := range process {
			if st.o.strEq(k, p) {
				found++
			}
		}
		return found < len(process)
	})
	return found >= len(process)
}

func (st *decoding) container(v *model.Value, t, addr uint64, depth int, environ bool) error {
	o := st.o
	L := o.L
	lim := st.lim.MaxItems
	switch v.Kind {
	case model.ValueTuple, model.ValueList:
		v.Len = st.containerLen(v.Kind, addr)
		if v.Len < 0 || v.Len > 1<<32 {
			return fmt.Errorf("impossible size")
		}
		items := addr + uint64(L.Tuple.Item)
		if v.Kind == model.ValueList {
			p, err := o.u64(addr + uint64(L.List.Item))
			if err != nil {
				return err
			}
			items = p
		}
		n := min(v.Len, lim)
		if n == 0 {
			return nil
		}
		st.charge(n * 8)
		b, err := o.read(items, n*8)
		if err != nil {
			return err
		}
		v.Items = make([]*model.Value, 0, n)
		for i := 0; i < n; i++ {
			item := binary.LittleEndian.Uint64(b[8*i:])
			// A (name, value) pair, as HTTP headers are kept: the name
			// says whether the value is left out.
			if i == 1 && v.Kind == model.ValueTuple && v.Len == 2 {
				v.Items = append(v.Items, st.named(item, depth+1, keyName(v.Items[0])))
				continue
			}
			v.Items = append(v.Items, st.value(item, depth+1))
		}
	case model.ValueSet, model.ValueFrozenSet:
		return st.set(v, addr, depth)
	case model.ValueDict:
		v.Len = st.containerLen(v.Kind, addr)
		if v.Len < 0 {
			return fmt.Errorf("impossible size")
		}
		if v.Len == 0 {
			return nil
		}
		items, err := o.DictItems(addr, lim)
		if err != nil {
			st.charge(len(items) * 24)
			return err
		}
		st.dictEntries(v, items, depth, environ, addr)
	case model.ValueException:
		if !L.Exc.Args.Valid() {
			return fmt.Errorf("exception layout unknown")
		}
		args, err := o.u64(addr + uint64(L.Exc.Args))
		if err != nil {
			return err
		}
		v.Name = v.Type
		if i := strings.LastIndexByte(v.Name, '.'); i >= 0 {
			v.Name = v.Name[i+1:]
		}
		if args == 0 {
			return nil
		}
		if _, ti := st.typeOf(args); ti.kind != model.ValueTuple {
			return fmt.Errorf("exception args is not a tuple")
		}
		// The repr shows the arguments, not their tuple: the tuple is no
		// level of nesting of its own, lest an exception at the depth
		// limit show as one without arguments (ValueError()).
		a := st.value(args, depth)
		if a.Kind == model.ValueTuple {
			v.Items, v.Len = a.Items, a.Len
		}
	case model.ValueInstance:
		return st.instance(v, t, addr, depth)
	}
	return nil
}

// dictEntries decodes a dict's items into v (Len set): each value under
// its key's name, an environment's left out. dict, when not 0, is the
// dict object, for environMarked.
func (st *decoding) dictEntries(v *model.Value, items []DictEntry, depth int, environ bool, dict uint64) {
	st.charge(len(items) * 24)
	v.Keys = make([]*model.Value, 0, len(items))
	v.Items = make([]*model.Value, 0, len(items))
	for _, it := range items {
		v.Keys = append(v.Keys, st.value(it.Key, depth+1))
	}
	if !environ && !st.red.Off() {
		environ = environKeys(v.Keys) || (dict != 0 && v.Len > len(items) && st.environMarked(dict, v.Len))
	}
	for i, it := range items {
		name := keyName(v.Keys[i])
		if environ && !redact.EnvironKeyShown(name) {
			v.Items = append(v.Items, st.redacted(it.Value))
			continue
		}
		v.Items = append(v.Items, st.named(it.Value, depth+1, name))
	}
}

// set walks a set's hash table in table order.
func (st *decoding) set(v *model.Value, addr uint64, depth int) error {
	v.Len = st.containerLen(v.Kind, addr)
	if v.Len < 0 {
		return fmt.Errorf("impossible size")
	}
	es := int(st.o.L.Set.EntrySize)
	dummy := func(k uint64) bool {
		_, ti := st.typeOf(k)
		return ti.name == "<dummy key> type" && !ti.heap // a deleted entry
	}
	return st.o.setEach(addr, dummy, func(k uint64) bool {
		if len(v.Items) >= st.lim.MaxItems || !st.charge(es) {
			return false
		}
		v.Items = append(v.Items, st.value(k, depth+1))
		return true
	})
}

// instance reads __slots__ (base classes first) and then the attribute
// dict, whatever form it takes.
func (st *decoding) instance(v *model.Value, t, addr uint64, depth int) error {
	o := st.o
	chain := o.slotClasses(t)
	more := false
	// os.environ (os._Environ) keeps the environment in _data.
	environ := v.Type == "_Environ"
	add := func(name string, val uint64) {
		if len(v.Attrs) >= st.lim.MaxItems {
			more = true
			return
		}
		var a *model.Value
		if environ && name == "_data" && !st.red.Off() {
			st.environ = true
			a = st.value(val, depth+1)
		} else {
			a = st.named(val, depth+1, name)
		}
		v.Attrs = append(v.Attrs, model.Attr{Name: name, Value: a})
	}
	for i := len(chain) - 1; i >= 0; i-- {
		sc := chain[i]
		st.charge(len(sc.names) * 8)
		for j, n := range sc.names {
			if more || st.readLeft <= 0 {
				break
			}
			st.charge(64)
			name, err := st.str(n)
			if err != nil {
				continue
			}
			p, err := o.u64(addr + sc.base + uint64(j)*8)
			if err != nil || p == 0 {
				continue // unset slot
			}
			add(name, p)
		}
	}
	items, err := o.InstanceAttrs(addr, st.lim.MaxItems+1)
	st.charge(len(items) * 24)
	if err != nil && len(v.Attrs) == 0 {
		return err
	}
	for _, it := range items {
		if more {
			break
		}
		name, err := st.str(it.Key)
		if err != nil {
			continue
		}
		add(name, it.Value)
	}
	v.Len = len(v.Attrs)
	if more {
		v.Len = -1
	}
	return nil
}
