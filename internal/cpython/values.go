package cpython

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
	"pyscope/internal/redact"
)

// Values reads the variables and objects of a target that does not run
// (held stopped, or a core): the one object reader that dump, the session
// and later analyses share. Get one per stop from Reader.NewValues; the
// addresses it deals in are valid only until the target runs again.
type Values struct {
	r   *Reader
	o   *Objects
	dec *Decoder
	// genKinds caches what each type is to Gen ("" for not a generator).
	genKinds map[uint64]string
	// made are the synthetic refs Item and Attr handed out: only they are
	// taken as such, never a pointer read from the target with the same
	// bits.
	made map[uint64]bool
	// bound are the builtin methods Attr bound to an instance, by their
	// synthBound ref: Python makes them on each access.
	bound map[uint64]*model.Value
	// mainInterp is the main interpreter's state, where static builtin
	// types keep their dicts (staticTypeDict); 0 until needed.
	mainInterp uint64
}

// NewValues returns a reader of the values of the target r reads now.
func (r *Reader) NewValues() *Values {
	dec := NewDecoder(r.Obj)
	dec.r = r
	dec.Memoize()
	dec.Redact(r.Redact)
	return &Values{r: r, o: r.Obj, dec: dec}
}

// Locals are the variables of frame f as frame.f_locals shows them, plus
// unbound ones, in the order of docs/json-schema.md (Reader.frameVars).
func (v *Values) Locals(f model.Frame) ([]Var, error) {
	if f.Addr == 0 || f.Code == 0 {
		return nil, fmt.Errorf("frame has no interpreter frame to read")
	}
	L := v.r.In.Layout
	vars, _, err := v.r.frameVars(f.Code, f.Addr, v.frameField(f, L.FrameObj.Locals, L.Frame.Locals))
	return vars, err
}

// frameField reads a pointer field of frame f: f_locals, f_globals or
// f_builtins, at its offset in a 3.10 PyFrameObject (old) or a 3.11+
// _PyInterpreterFrame (cur). 0 when the layout lacks it or it is
// unreadable.
func (v *Values) frameField(f model.Frame, old, cur layout.Off) uint64 {
	off := cur
	if v.r.In.Minor <= 10 {
		off = old
	}
	if !off.Valid() {
		return 0
	}
	p, err := v.o.u64(f.Addr + uint64(off))
	if err != nil || !validPtr(p) {
		return 0
	}
	return p
}

// globalsDict is the module dict of frame f.
func (v *Values) globalsDict(f model.Frame) (uint64, error) {
	L := v.r.In.Layout
	if d := v.frameField(f, L.FrameObj.Globals, L.Frame.Globals); d != 0 {
		return d, nil
	}
	// The function object has them too.
	if v.r.In.Minor >= 11 && L.Frame.FuncObj.Valid() && L.Func.Globals.Valid() {
		fn, err := v.o.u64(f.Addr + uint64(L.Frame.FuncObj))
		if v.r.In.Minor >= 14 {
			fn &^= 3 // _PyStackRef tag bits
		}
		if err == nil && validPtr(fn) {
			if g, err := v.o.u64(fn + uint64(L.Func.Globals)); err == nil && validPtr(g) {
				return g, nil
			}
		}
	}
	return 0, fmt.Errorf("this build's layout does not say where a frame keeps its globals")
}

// Globals are every name of frame f's module globals, in dict order.
func (v *Values) Globals(f model.Frame) ([]Var, error) {
	d, err := v.globalsDict(f)
	if err != nil {
		return nil, err
	}
	return v.dictVars(d, "global")
}

// Builtins are the builtins frame f sees.
func (v *Values) Builtins(f model.Frame) ([]Var, error) {
	L := v.r.In.Layout
	d := v.frameField(f, L.FrameObj.Builtins, L.Frame.Builtins)
	if d == 0 {
		// globals["__builtins__"]: the builtins module or its dict.
		g, err := v.globalsDict(f)
		if err != nil {
			return nil, err
		}
		b, ok, err := v.o.DictGetStr(g, "__builtins__")
		if err != nil || !ok {
			return nil, fmt.Errorf("the frame's globals have no __builtins__")
		}
		if d, err = v.namespace(b); err != nil {
			return nil, err
		}
	}
	return v.dictVars(d, "builtin")
}

// namespace is the dict of a module, or obj itself when it is a dict.
func (v *Values) namespace(obj uint64) (uint64, error) {
	if v.o.hasFlag(obj, tpflagsDictSub) {
		return obj, nil
	}
	if v.kind(obj) != model.ValueModule {
		return 0, fmt.Errorf("%s is neither a module nor a dict", v.TypeName(obj))
	}
	return v.moduleDict(obj)
}

func (v *Values) moduleDict(mod uint64) (uint64, error) {
	off := v.o.L.Module.Dict
	if !off.Valid() {
		return 0, fmt.Errorf("module layout unknown")
	}
	d, err := v.o.u64(mod + uint64(off))
	if err != nil {
		return 0, err
	}
	if !validPtr(d) {
		return 0, fmt.Errorf("module at %#x has no dict", mod)
	}
	return d, nil
}

func (v *Values) dictVars(d uint64, kind string) ([]Var, error) {
	items, err := v.o.DictItems(d, maxLocals)
	var out []Var
	for _, it := range items {
		if s, err := v.o.Str(it.Key); err == nil {
			out = append(out, Var{Name: s, Kind: kind, Ref: it.Value})
		}
	}
	return out, err
}

// kind is how the decoder classifies obj's type.
func (v *Values) kind(obj uint64) model.ValueKind {
	switch v.synth(obj) {
	case synthDict:
		return model.ValueDict
	case synthInt:
		return model.ValueInt
	case synthConst:
		if obj&^synthMask == constNone {
			return model.ValueNone
		}
		return model.ValueBool
	case synthBound:
		return v.bound[obj].Kind
	}
	_, ti := v.dec.typeOf(obj)
	if ti.err != nil {
		return model.ValueError
	}
	return ti.kind
}

// TypeName is tp_name of obj's type ("?" when unreadable).
func (v *Values) TypeName(obj uint64) string {
	switch v.synth(obj) {
	case synthDict:
		return "dict"
	case synthInt:
		return "int"
	case synthConst:
		if obj&^synthMask == constNone {
			return "NoneType"
		}
		return "bool"
	case synthBound:
		return v.bound[obj].Type
	}
	n, err := v.o.ObjTypeName(obj)
	if err != nil {
		return "?"
	}
	return n
}

// Decode reads obj into a value tree within lim.
func (v *Values) Decode(obj uint64, lim Limits) *model.Value {
	if v.synth(obj) == synthBound {
		b := *v.bound[obj]
		return &b
	}
	if v.synth(obj) != 0 {
		return v.dec.decodeSynth(obj, lim)
	}
	return v.dec.Decode(obj, lim)
}

// Repr is repr(obj) within lim (docs/json-schema.md).
func (v *Values) Repr(obj uint64, lim Limits) string { return Repr(v.Decode(obj, lim), lim) }

// AttributeError is Python's message for an attribute that is not there.
type AttributeError struct{ Msg string }

func (e *AttributeError) Error() string { return "AttributeError: " + e.Msg }

// pyQuote quotes a name as Python's error messages do ('%U').
func pyQuote(s string) string { return "'" + s + "'" }

// Attr reads obj.name as far as it can without running code in the target:
// a module's dict; a class's MRO; an instance's __slots__, its dict, then
// its class's MRO. Properties and __getattr__ cannot be run: they are
// errors that say so.
func (v *Values) Attr(obj uint64, name string) (uint64, error) {
	o := v.o
	if v.kind(obj) == model.ValueNone && v.synth(obj) != 0 && !strings.HasPrefix(name, "__") {
		// An unset __cause__ or tb_next: None has no attributes but dunders.
		return 0, &AttributeError{fmt.Sprintf("'NoneType' object has no attribute %s", pyQuote(name))}
	}
	if v.synth(obj) == synthBound && name == "__self__" {
		return v.bound[obj].Self, nil
	}
	if v.synth(obj) != 0 {
		return 0, fmt.Errorf("%s is computed from the target's memory, not one of its objects: pyscope reads no attribute of it", pyQuote(v.TypeName(obj)))
	}
	t, err := o.TypeOf(obj)
	if err != nil {
		return 0, err
	}
	if name == "__class__" {
		return t, nil
	}
	switch v.kind(obj) {
	case model.ValueModule:
		d, err := v.moduleDict(obj)
		if err != nil {
			return 0, err
		}
		if name == "__dict__" {
			return d, nil
		}
		if p, ok, err := o.DictGetStr(d, name); err == nil && ok {
			return p, nil
		}
		mod := v.r.dictStr(d, "__name__")
		return 0, &AttributeError{fmt.Sprintf("module %s has no attribute %s", pyQuote(mod), pyQuote(name))}
	case model.ValueClass:
		p, ok, unread := v.classAttr(obj, name)
		if ok {
			return p, nil
		}
		tn, _ := o.TypeName(obj)
		if unread == "" {
			// Then the metaclass's MRO (type's mro(), __name__...).
			var meta bool
			_, meta, unread = v.classAttr(t, name)
			if meta {
				mn, _ := o.TypeName(t)
				return 0, fmt.Errorf("%s of %s comes from its metaclass %s, whose descriptors pyscope does not run", pyQuote(name), pyQuote(tn), pyQuote(mn))
			}
		}
		if unread != "" {
			return 0, fmt.Errorf("%s; pyscope cannot read %s of it, nor tell whether it exists", unread, pyQuote(name))
		}
		return 0, &AttributeError{fmt.Sprintf("type object %s has no attribute %s", pyQuote(tn), pyQuote(name))}
	}
	tn := v.TypeName(obj)
	if p, ok, err := v.cAttr(obj, tn, name); ok {
		return p, err
	}
	missing := &AttributeError{fmt.Sprintf("%s object has no attribute %s", pyQuote(tn), pyQuote(name))}
	// Data descriptors of the class win over the instance dict.
	cp, inClass, unread := v.classAttr(t, name)
	if inClass {
		switch v.TypeName(cp) {
		case "member_descriptor":
			val, found, err := o.slotValue(obj, name)
			switch {
			case err != nil:
				return 0, err
			case !found:
				return 0, fmt.Errorf("%s is a C-level member of %s: pyscope reads the members of classes with __slots__ only", pyQuote(name), pyQuote(tn))
			case val == 0:
				return 0, missing // an unset slot
			}
			return val, nil
		case "getset_descriptor":
			if name == "__dict__" {
				// The class gives its instances a dict: Python's
				// obj.__dict__, which may not exist as an object yet
				// (3.11+ keep the values inline until asked for it).
				return v.makeSynth(obj | synthDict), nil
			}
			if p, ok := v.getsetValue(obj, name); ok {
				return p, nil
			}
			// C code computes it: no Python attribute holds it.
			return 0, fmt.Errorf("%s is a %s of %s: its value is computed by a C getter, and pyscope runs none in the target", pyQuote(name), v.TypeName(cp), pyQuote(tn))
		case "property":
			return 0, fmt.Errorf("%s is a %s of %s: its value is computed by code, and pyscope runs none in the target (print the attribute it reads, often _%s)", pyQuote(name), v.TypeName(cp), pyQuote(tn), name)
		}
	}
	if items, err := o.InstanceAttrs(obj, maxLocals); err == nil {
		for _, it := range items {
			if o.strEq(it.Key, name) {
				return it.Value, nil
			}
		}
	}
	if inClass {
		return v.bind(cp, obj, name)
	}
	// Python calls __getattr__ (or a __getattribute__ of the class's own)
	// for what the instance does not hold: Django's LazySettings, proxies,
	// mocks. Saying "no attribute" would be wrong.
	for _, hook := range []string{"__getattr__", "__getattribute__"} {
		if p, ok, _ := v.classAttr(t, hook); ok && v.kind(p) == model.ValueFunction {
			return 0, fmt.Errorf("%s holds no attribute %s, and its class defines %s, which Python calls to compute it: pyscope runs no code in the target (py-print the object or its __dict__ to see what it holds)", pyQuote(tn), pyQuote(name), hook)
		}
	}
	if unread != "" {
		return 0, fmt.Errorf("%s; pyscope cannot read %s of it, nor tell whether it exists", unread, pyQuote(name))
	}
	return 0, missing
}

var errNoStaticLayout = errors.New("the layout does not say where static types keep their state")

// staticTypeFlag is _Py_TPFLAGS_STATIC_BUILTIN (Include/internal/pycore_typeobject.h, 3.12+).
const staticTypeFlag = 1 << 1

// maxStaticTypes bounds the index a type claims (CPython has 200 slots).
const maxStaticTypes = 1024

// staticTypeDict reads the dict of a static builtin type c from the main
// interpreter's state, as _PyStaticType_GetState finds it: the slot of
// index tp_subclasses-1 among the builtins (3.13+: or the extensions'
// static types), which must name c back.
func (v *Values) staticTypeDict(c uint64) (uint64, error) {
	o := v.o
	L := o.L
	S := L.StaticType
	if !L.Interp.StaticTypes.Valid() || !L.Type.Subclasses.Valid() || !S.Size.Valid() || !S.Type.Valid() || !S.Dict.Valid() {
		return 0, errNoStaticLayout
	}
	flags, err := o.TypeFlags(c)
	if err != nil {
		return 0, err
	}
	if flags&staticTypeFlag == 0 {
		return 0, fmt.Errorf("its tp_dict is NULL and it is no static builtin type")
	}
	ix, err := o.u64(c + uint64(L.Type.Subclasses))
	if err != nil {
		return 0, err
	}
	if ix == 0 || ix > maxStaticTypes {
		return 0, fmt.Errorf("its index in the interpreter's state is %d", int64(ix)-1)
	}
	if v.mainInterp == 0 {
		interps, err := v.r.Interpreters()
		if len(interps) == 0 {
			return 0, fmt.Errorf("no interpreter: %v", err)
		}
		v.mainInterp = interps[len(interps)-1]
	}
	for _, arr := range []layout.Off{L.Interp.StaticTypes, L.Interp.StaticExtTypes} {
		if !arr.Valid() {
			continue
		}
		st := v.mainInterp + uint64(arr) + (ix-1)*uint64(S.Size)
		if t, err := o.u64(st + uint64(S.Type)); err != nil || t != c {
			continue
		}
		d, err := o.u64(st + uint64(S.Dict))
		if err != nil {
			return 0, err
		}
		if !validPtr(d) || v.TypeName(d) != "dict" {
			return 0, fmt.Errorf("its dict there is no dict (%#x)", d)
		}
		return d, nil
	}
	return 0, fmt.Errorf("its slot %d there names another type", ix-1)
}

// bind is what Python's obj.name gives for cp, found in the class of obj:
// a builtin's method descriptor bound to obj, as a new builtin method or
// method-wrapper, made here from what Python's repr of it shows.
func (v *Values) bind(cp, obj uint64, name string) (uint64, error) {
	var b *model.Value
	switch tn := v.TypeName(cp); tn {
	case "method_descriptor":
		b = &model.Value{Kind: model.ValueBuiltin, Type: "builtin_function_or_method", Name: name, Module: v.TypeName(obj), Self: obj}
	case "classmethod_descriptor":
		t, err := v.o.TypeOf(obj)
		if err != nil {
			return 0, err
		}
		b = &model.Value{Kind: model.ValueBuiltin, Type: "builtin_function_or_method", Name: name, Module: "type", Self: t}
	case "wrapper_descriptor":
		b = &model.Value{Kind: model.ValueRepr, Type: "method-wrapper", Self: obj,
			Name: fmt.Sprintf("<method-wrapper %s of %s object at %#x>", pyQuote(name), v.TypeName(obj), obj)}
	case "staticmethod", "classmethod":
		return 0, fmt.Errorf("%s is a %s of %s: pyscope does not unwrap it", pyQuote(name), tn, pyQuote(v.TypeName(obj)))
	default:
		return cp, nil
	}
	if v.bound == nil || len(v.bound) >= 1<<16 {
		v.bound = map[uint64]*model.Value{}
	}
	ref := synthBound | uint64(len(v.bound)+1)
	v.bound[ref] = b
	return v.makeSynth(ref), nil
}

// getsetValue is what the C getter of int's and bool's getset descriptors
// returns, known from the object alone (Objects/longobject.c): ok is
// false for any other.
func (v *Values) getsetValue(obj uint64, name string) (uint64, bool) {
	tn := v.TypeName(obj)
	if tn != "int" && tn != "bool" {
		return 0, false
	}
	switch name {
	case "imag":
		return v.makeSynth(synthInt | 0), true
	case "denominator":
		return v.makeSynth(synthInt | 1), true
	case "real", "numerator":
		if tn == "int" {
			return obj, true // the int itself
		}
		n, err := v.o.Int(obj)
		if err != nil || !n.IsUint64() || n.Uint64() > 1 {
			return 0, false
		}
		return v.makeSynth(synthInt | n.Uint64()), true
	}
	return 0, false
}

// mayDefine is false when the builtin type named cn, whose dict pyscope
// cannot read, is known not to define name. object's attributes are all
// dunders, type's too but for mro(), in every CPython 3.x: so a typo in a
// class's or an instance's name is still Python's AttributeError.
func mayDefine(cn, name string) bool {
	dunder := len(name) > 4 && name[:2] == "__" && name[len(name)-2:] == "__"
	switch cn {
	case "object":
		return dunder
	case "type":
		return dunder || name == "mro"
	}
	return true
}

// typeDict is the dict of type c, or why pyscope cannot read it.
func (v *Values) typeDict(c uint64) (uint64, string) {
	o := v.o
	d, err := o.u64(c + uint64(o.L.Type.Dict))
	if err == nil && validPtr(d) {
		return d, ""
	}
	cn, nerr := o.TypeName(c)
	if nerr != nil {
		cn = fmt.Sprintf("the type at %#x", c)
	} else {
		cn = pyQuote(cn)
	}
	switch {
	case err != nil:
		return 0, fmt.Sprintf("the dict of %s is unreadable (%v)", cn, err)
	case d == 0 && o.Minor >= 12:
		// Static builtin types keep it in the interpreter's state.
		if d, err := v.staticTypeDict(c); err == nil {
			return d, ""
		} else if !errors.Is(err, errNoStaticLayout) {
			return 0, fmt.Sprintf("%s keeps its attributes in the interpreter's state on Python 3.12+, where pyscope cannot read them (%v)", cn, err)
		}
		return 0, fmt.Sprintf("%s keeps its attributes in the interpreter's state on Python 3.12+", cn)
	}
	return 0, fmt.Sprintf("the dict of %s is a bad pointer %#x", cn, d)
}

// cAttr reads the attributes of builtin objects that C code serves from a
// struct field the layout knows (a function's __name__ and __code__, an
// exception's args, a bound method's __self__): Python's getset and member
// descriptors, which Attr cannot follow. ok is false for any other name.
func (v *Values) cAttr(obj uint64, tn, name string) (uint64, bool, error) {
	L := v.o.L
	var off layout.Off = -1
	switch k := v.kind(obj); {
	case k == model.ValueFunction:
		off = cField(name, map[string]layout.Off{"__name__": L.Func.Name, "__qualname__": L.Func.Qualname, "__code__": L.Func.Code,
			"__globals__": L.Func.Globals, "__module__": L.Func.Module, "__closure__": L.Func.Closure})
	case k == model.ValueException:
		switch name {
		case "__suppress_context__":
			if !L.Exc.SuppressContext.Valid() {
				return 0, true, fmt.Errorf("exception layout unknown")
			}
			b, err := v.o.u8(obj + uint64(L.Exc.SuppressContext))
			if err != nil {
				return 0, true, err
			}
			return v.makeSynth(synthConst | b2const(b != 0)), true, nil
		case "args", "__traceback__", "__context__", "__cause__":
			off = cField(name, map[string]layout.Off{"args": L.Exc.Args, "__traceback__": L.Exc.Traceback,
				"__context__": L.Exc.Context, "__cause__": L.Exc.Cause})
			if !off.Valid() {
				return 0, true, fmt.Errorf("%s: exception layout unknown", pyQuote(name))
			}
		}
	case tn == "traceback":
		switch name {
		case "tb_lasti", "tb_lineno":
			n, err := v.tbInt(obj, name)
			if err != nil {
				return 0, true, err
			}
			if n < 0 {
				return v.makeSynth(synthConst | constNone), true, nil
			}
			return v.makeSynth(synthInt | uint64(n)), true, nil
		case "tb_next", "tb_frame":
			off = cField(name, map[string]layout.Off{"tb_next": L.Tb.Next, "tb_frame": L.Tb.Frame})
			if !off.Valid() {
				return 0, true, fmt.Errorf("%s: traceback layout unknown", pyQuote(name))
			}
		}
	case k == model.ValueGenerator:
		switch name {
		case "__name__":
			off = L.Gen.Name
		case "__qualname__":
			off = L.Gen.Qualname
		case "gi_code", "cr_code", "ag_code":
			if p := v.genCode(obj); p != 0 {
				return p, true, nil
			}
		}
	case tn == "method":
		off = cField(name, map[string]layout.Off{"__func__": L.Method.Func, "__self__": L.Method.Self})
	}
	if !off.Valid() {
		return 0, false, nil
	}
	p, err := v.o.u64(obj + uint64(off))
	switch {
	case err != nil:
		return 0, true, err
	case p == 0:
		// Only optional fields are NULL: Python shows them as None.
		return v.makeSynth(synthConst | constNone), true, nil
	case !validPtr(p):
		return 0, true, fmt.Errorf("%s of this %s is a bad pointer %#x", pyQuote(name), pyQuote(tn), p)
	}
	return p, true, nil
}

// tbInt is a traceback's tb_lasti or tb_lineno as Python gives it: 3.11+
// leave tb_lineno -1 until asked, and tb_lineno_get computes it from the
// frame's code and tb_lasti (a byte offset), as done here; -1 is None.
func (v *Values) tbInt(tb uint64, name string) (int64, error) {
	o := v.o
	L := o.L
	if !L.Tb.Lasti.Valid() || !L.Tb.Lineno.Valid() || !L.Tb.Frame.Valid() {
		return 0, fmt.Errorf("%s: traceback layout unknown", pyQuote(name))
	}
	lasti, err := o.u32(tb + uint64(L.Tb.Lasti))
	if err != nil {
		return 0, err
	}
	if name == "tb_lasti" {
		return int64(int32(lasti)), nil
	}
	line, err := o.u32(tb + uint64(L.Tb.Lineno))
	if err != nil {
		return 0, err
	}
	if int32(line) != -1 {
		return int64(int32(line)), nil
	}
	code, err := v.frameObjCode(tb)
	if err != nil {
		return 0, fmt.Errorf("tb_lineno: %w", err)
	}
	c := v.r.code(code)
	if c.err != nil {
		return 0, fmt.Errorf("tb_lineno: %w", c.err)
	}
	return int64(c.location(o.Minor, int(int32(lasti))).Line), nil
}

// frameObjCode is the code object of a traceback's tb_frame: f_code of a
// 3.10 frame object, the executable of a 3.11+ one's interpreter frame.
func (v *Values) frameObjCode(tb uint64) (uint64, error) {
	o := v.o
	L := o.L
	f, err := o.u64(tb + uint64(L.Tb.Frame))
	if err != nil {
		return 0, err
	}
	if !validPtr(f) {
		return 0, fmt.Errorf("tb_frame is a bad pointer %#x", f)
	}
	var code uint64
	switch {
	case o.Minor <= 10 && L.FrameObj.Code.Valid():
		code, err = o.u64(f + uint64(L.FrameObj.Code))
	case L.FrameObj.Frame.Valid() && L.Frame.Executable.Valid():
		var fr uint64
		if fr, err = o.u64(f + uint64(L.FrameObj.Frame)); err == nil {
			if !validPtr(fr) {
				return 0, fmt.Errorf("frame object at %#x has no interpreter frame", f)
			}
			code, err = o.u64(fr + uint64(L.Frame.Executable))
			code &^= 3 // 3.14's _PyStackRef tag bits
		}
	default:
		return 0, fmt.Errorf("frame object layout unknown")
	}
	if err != nil {
		return 0, err
	}
	if !validPtr(code) {
		return 0, fmt.Errorf("frame object at %#x has a bad code pointer %#x", f, code)
	}
	return code, nil
}

// cField is fields[name], or an invalid offset.
func cField(name string, fields map[string]layout.Off) layout.Off {
	if off, ok := fields[name]; ok {
		return off
	}
	return -1
}

// genCode is a generator's code object, 0 when unknown.
func (v *Values) genCode(gen uint64) uint64 {
	L := v.o.L
	var p uint64
	var err error
	switch {
	case L.Gen.Code.Valid():
		p, err = v.o.u64(gen + uint64(L.Gen.Code))
	case L.Gen.IFrame.Valid() && L.Frame.Executable.Valid():
		p, err = v.o.u64(gen + uint64(L.Gen.IFrame) + uint64(L.Frame.Executable))
		p &^= 3
	}
	if err != nil || !validPtr(p) {
		return 0
	}
	return p
}

// classAttr looks name up in the dicts of t's MRO, as Python does. unread
// says why pyscope cannot tell: a type it meets first that may define
// name has a dict pyscope cannot read.
func (v *Values) classAttr(t uint64, name string) (p uint64, ok bool, unread string) {
	o := v.o
	T := o.L.Type
	if !T.Dict.Valid() {
		return 0, false, "the layout of type objects is unknown"
	}
	mro := []uint64{t}
	if T.Mro.Valid() {
		if m, err := o.u64(t + uint64(T.Mro)); err == nil && validPtr(m) {
			if items, err := o.TupleItems(m); err == nil && len(items) > 0 {
				mro = items
			}
		}
	}
	for _, c := range mro {
		d, why := v.typeDict(c)
		if why != "" {
			// A type that may define name hides every later one.
			if cn, err := o.TypeName(c); err != nil || mayDefine(cn, name) {
				return 0, false, why
			}
			continue
		}
		p, ok, err := o.DictGetStr(d, name)
		if err != nil {
			cn, _ := o.TypeName(c)
			return 0, false, fmt.Sprintf("the dict of %s is unreadable (%v)", pyQuote(cn), err)
		}
		if ok {
			return p, true, ""
		}
	}
	return 0, false, ""
}

// AttrNames lists the attributes obj holds: a module's or class's dict,
// an instance's slots and dict (for completion).
func (v *Values) AttrNames(obj uint64) []string {
	o := v.o
	var out []string
	add := func(items []DictEntry) {
		for _, it := range items {
			if s, err := o.Str(it.Key); err == nil {
				out = append(out, s)
			}
		}
	}
	switch v.kind(obj) {
	case model.ValueModule:
		if d, err := v.moduleDict(obj); err == nil {
			items, _ := o.DictItems(d, maxLocals)
			add(items)
		}
		return out
	case model.ValueClass:
		if d, err := o.u64(obj + uint64(o.L.Type.Dict)); err == nil && validPtr(d) {
			items, _ := o.DictItems(d, maxLocals)
			add(items)
		}
		return out
	}
	if t, err := o.TypeOf(obj); err == nil {
		for _, sc := range o.slotClasses(t) {
			for j, n := range sc.names {
				if p, err := o.u64(obj + sc.base + uint64(j)*pointerSize); err == nil && p != 0 {
					if s, err := o.Str(n); err == nil {
						out = append(out, s)
					}
				}
			}
		}
	}
	items, _ := o.InstanceAttrs(obj, maxLocals)
	add(items)
	return out
}

// KeyKind is the type of a subscript literal.
type KeyKind int

const (
	KeyInt KeyKind = iota
	KeyStr
	KeyBytes
	KeyNone
	KeyBool
)

// Key is a subscript literal: an int (a negative index counts from the
// end), a str, a bytes, None, True or False.
type Key struct {
	Kind KeyKind
	Int  int64
	Str  string // KeyStr and KeyBytes
	Bool bool
}

// String is the key in Python syntax (repr).
func (k Key) String() string {
	switch k.Kind {
	case KeyInt:
		return strconv.FormatInt(k.Int, 10)
	case KeyStr:
		return StrRepr([]rune(k.Str))
	case KeyBytes:
		return BytesRepr([]byte(k.Str))
	case KeyNone:
		return "None"
	case KeyBool:
		if k.Bool {
			return "True"
		}
		return "False"
	}
	return "?"
}

func (k Key) int() int64 {
	if k.Kind == KeyBool {
		if k.Bool {
			return 1
		}
		return 0
	}
	return k.Int
}

// LookupError is Python's IndexError, KeyError or TypeError of a
// subscript, with its message.
type LookupError struct{ Type, Msg string }

func (e *LookupError) Error() string { return e.Type + ": " + e.Msg }

// Synthetic refs stand for values an expression computes that are no
// object of the target: an instance's __dict__ (kept as inline values
// until Python is asked for it) and an item of a bytes or bytearray (an
// int the target may never have made). They lie past every user address,
// where no object is, and carry what they stand for in their low bits.
const (
	synthMask  = 0xff00_0000_0000_0000
	synthDict  = 0xf100_0000_0000_0000 // | the instance's address
	synthInt   = 0xf200_0000_0000_0000 // | the int, 0 to 2**56-1
	synthConst = 0xf300_0000_0000_0000 // | constNone, constFalse or constTrue
	synthBound = 0xf400_0000_0000_0000 // | its key in Values.bound
)

// The singletons a C field stands for: a NULL that Python shows as None,
// a char flag that it shows as a bool.
const (
	constNone = iota
	constFalse
	constTrue
)

func b2const(b bool) uint64 {
	if b {
		return constTrue
	}
	return constFalse
}

// synthKind is synthDict, synthInt or synthConst for a synthetic ref,
// else 0.
func synthKind(ref uint64) uint64 {
	switch k := ref & synthMask; k {
	case synthDict, synthInt, synthConst, synthBound:
		return k
	}
	return 0
}

// synth is synthKind of a synthetic ref this Values made, else 0.
func (v *Values) synth(ref uint64) uint64 {
	if k := synthKind(ref); k != 0 && v.made[ref] && (k != synthBound || v.bound[ref] != nil) {
		return k
	}
	return 0
}

// makeSynth hands out a synthetic ref.
func (v *Values) makeSynth(ref uint64) uint64 {
	if v.made == nil || len(v.made) >= 1<<16 {
		v.made = map[uint64]bool{}
	}
	v.made[ref] = true
	return ref
}

// Item reads obj[key] of a list, tuple, dict, bytes or bytearray (or a
// subclass), or of an instance's __dict__.
func (v *Values) Item(obj uint64, key Key) (uint64, error) {
	o := v.o
	tn := v.TypeName(obj)
	switch v.synth(obj) {
	case synthDict:
		items, err := o.InstanceAttrs(obj&^synthMask, maxLocals)
		for _, it := range items {
			if v.keyEquals(it.Key, key) {
				return it.Value, nil
			}
		}
		if err != nil {
			return 0, err
		}
		return 0, &LookupError{"KeyError", key.String()}
	case synthInt, synthConst:
		return 0, &LookupError{"TypeError", fmt.Sprintf("%s object is not subscriptable", pyQuote(tn))}
	}
	switch {
	case o.hasFlag(obj, tpflagsBytesSub) || v.kind(obj) == model.ValueByteArray:
		return v.byteItem(obj, key)
	case o.hasFlag(obj, tpflagsListSub|tpflagsTupleSub):
		if key.Kind != KeyInt && key.Kind != KeyBool {
			return 0, &LookupError{"TypeError", fmt.Sprintf("%s indices must be integers or slices, not %s", tn, key.typeName())}
		}
		var items []uint64
		var err error
		if o.hasFlag(obj, tpflagsTupleSub) {
			items, err = o.TupleItems(obj)
		} else {
			items, err = v.listItems(obj)
		}
		if err != nil {
			return 0, err
		}
		i, n := key.int(), int64(len(items))
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			what := "list"
			if o.hasFlag(obj, tpflagsTupleSub) {
				what = "tuple"
			}
			return 0, &LookupError{"IndexError", what + " index out of range"}
		}
		return items[i], nil
	case o.hasFlag(obj, tpflagsDictSub):
		var found uint64
		err := o.DictEach(obj, func(k, val uint64) bool {
			if v.keyEquals(k, key) {
				found = val
				return false
			}
			return true
		})
		if found != 0 {
			return found, nil
		}
		if err != nil {
			return 0, err
		}
		return 0, &LookupError{"KeyError", key.String()}
	}
	return 0, fmt.Errorf("pyscope can subscript lists, tuples, dicts, bytes and bytearrays, not %s", pyQuote(tn))
}

// byteItem is b[key] of a bytes or bytearray: an int, as in Python.
func (v *Values) byteItem(obj uint64, key Key) (uint64, error) {
	o := v.o
	array := !o.hasFlag(obj, tpflagsBytesSub)
	if key.Kind != KeyInt && key.Kind != KeyBool {
		what := "byte"
		if array {
			what = "bytearray"
		}
		return 0, &LookupError{"TypeError", fmt.Sprintf("%s indices must be integers or slices, not %s", what, key.typeName())}
	}
	size, err := o.u64(obj + uint64(o.L.Object.Size))
	if err != nil {
		return 0, err
	}
	if int64(size) < 0 || size > 1<<40 {
		return 0, fmt.Errorf("%s at %#x has impossible size %d", v.TypeName(obj), obj, int64(size))
	}
	data := obj + uint64(o.L.Bytes.Sval)
	if array {
		if !o.L.Bytes.ArrayStart.Valid() {
			return 0, fmt.Errorf("bytearray layout unknown")
		}
		if data, err = o.u64(obj + uint64(o.L.Bytes.ArrayStart)); err != nil {
			return 0, err
		}
	}
	i, n := key.int(), int64(size)
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		if array {
			return 0, &LookupError{"IndexError", "bytearray index out of range"}
		}
		return 0, &LookupError{"IndexError", "index out of range"}
	}
	b, err := o.u8(data + uint64(i))
	if err != nil {
		return 0, err
	}
	return v.makeSynth(synthInt | uint64(b)), nil
}

func (k Key) typeName() string {
	return [...]string{KeyInt: "int", KeyStr: "str", KeyBytes: "bytes", KeyNone: "NoneType", KeyBool: "bool"}[k.Kind]
}

// listItems reads the item pointers of a list.
func (v *Values) listItems(obj uint64) ([]uint64, error) {
	o := v.o
	n, err := o.u64(obj + uint64(o.L.Object.Size))
	if err != nil {
		return nil, err
	}
	if n > maxTupleItems*16 {
		return nil, fmt.Errorf("list at %#x has impossible size %d", obj, int64(n))
	}
	p, err := o.u64(obj + uint64(o.L.List.Item))
	if err != nil {
		return nil, err
	}
	b, err := o.read(p, int(n)*pointerSize)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = le64(b[8*i:])
	}
	return out, nil
}

// keyEquals compares a dict key in the target with a literal, as == would
// for the builtin types a literal can equal.
func (v *Values) keyEquals(k uint64, key Key) bool {
	o := v.o
	switch key.Kind {
	case KeyStr:
		return o.strEq(k, key.Str)
	case KeyBytes:
		if !o.hasFlag(k, tpflagsBytesSub) {
			return false
		}
		b, trunc, err := o.Bytes(k, len(key.Str)+1)
		return err == nil && !trunc && string(b) == key.Str
	case KeyNone:
		return v.kind(k) == model.ValueNone
	case KeyInt, KeyBool:
		if o.hasFlag(k, tpflagsLongSub) {
			n, err := o.Int(k)
			return err == nil && n.Cmp(big.NewInt(key.int())) == 0
		}
		if v.kind(k) == model.ValueFloat && o.L.Float.Fval.Valid() {
			bits, err := o.u64(k + uint64(o.L.Float.Fval))
			return err == nil && math.Float64frombits(bits) == float64(key.int())
		}
	}
	return false
}

// ReprNamed is repr() of the value held under name (a variable): the
// redaction marker when the name says secret, an environment's values
// left out when the name says it is one (Reader.Redact).
func (v *Values) ReprNamed(obj uint64, name string, lim Limits) string {
	if v.synth(obj) == synthBound {
		return Repr(v.Decode(obj, lim), lim)
	}
	if v.synth(obj) != 0 {
		// A secret name was seen by PathRedacted, on the whole path.
		return Repr(v.dec.decodeSynth(obj, lim), lim)
	}
	return Repr(v.dec.DecodeNamed(obj, lim, name), lim)
}

// PathStep is one step of an expression such as request.META['HTTP_COOKIE']:
// the variable or an attribute (Name), or an item (Key), taken from the
// object From (0 for the variable).
type PathStep struct {
	Name string
	Key  *Key
	From uint64
}

// PathRedacted reports whether the value an expression reaches is left
// out: a name or a str or bytes key on its path says secret, or a step
// takes an item of an environment (named so, os.environ's data, or a dict
// with an environment's keys) under a key that does not just describe a
// request.
func (v *Values) PathRedacted(path []PathStep) bool {
	red := v.r.Redact
	if red.Off() {
		return false
	}
	for i, st := range path {
		name := st.Name
		if st.Key != nil {
			if st.Key.Kind != KeyStr && st.Key.Kind != KeyBytes {
				continue
			}
			name = st.Key.Str
			if i > 0 && v.environment(path[i-1], st.From) && !redact.EnvironKeyShown(name) {
				return true
			}
		}
		if red.Secret(name) {
			return true
		}
	}
	return false
}

// environment reports whether obj, reached by step prev, is an
// environment.
func (v *Values) environment(prev PathStep, obj uint64) bool {
	if prev.Key == nil && v.r.Redact.Environ(prev.Name) {
		return true
	}
	if v.synth(obj) != 0 || v.synth(prev.From) != 0 {
		return false // an instance's __dict__ is its attributes, no environment
	}
	if prev.Name == "_data" && prev.Key == nil && v.TypeName(prev.From) == "_Environ" {
		return true
	}
	if v.TypeName(obj) == "_Environ" {
		return true
	}
	if v.kind(obj) != model.ValueDict {
		return false
	}
	n, err := v.o.DictLen(obj)
	if err != nil {
		return false
	}
	st := &decoding{Decoder: v.dec, lim: JSONLimits(), readLeft: 1 << 20}
	return st.environMarked(obj, n)
}
