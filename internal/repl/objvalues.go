package repl

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"

	"pyscope/internal/cpython"
	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
	"pyscope/internal/target"
)

// objValues is the built-in Values: it reads frames and objects with the
// layouts cpython found, through the cpython object reader.
type objValues struct {
	m     target.Memory
	o     *cpython.Objects
	L     *layout.Layout
	minor int
	dec   *cpython.Decoder
}

// NewObjectValues reads values of the target r reads (which must be
// stopped or a core) through m.
func NewObjectValues(m target.Memory, r *cpython.Reader) Values {
	return &objValues{m: m, o: r.Obj, L: r.In.Layout, minor: r.In.Minor, dec: cpython.NewDecoder(r.Obj)}
}

// Limits on what one value may cost, whatever the target holds.
const (
	maxNames       = 1 << 16
	coOptimized    = 0x1
	coVarargs      = 0x4
	coVarkeywords  = 0x8
	fastHidden     = 0x10
	fastLocal      = 0x20
	fastCell       = 0x40
	fastFree       = 0x80
	fastArgs314    = 0x0e // CO_FAST_ARG_POS|KW|VAR (3.14+)
	tpflagsTypeSub = 1 << 31
	tpflagsDictSub = 1 << 29
	tpflagsListSub = 1 << 25
	tpflagsTupSub  = 1 << 26
	tpflagsLongSub = 1 << 24
)

func (v *objValues) read(addr uint64, n int) ([]byte, error) {
	if addr < 0x1000 || addr >= 1<<47 || n < 0 || n > 64<<20 {
		return nil, &target.FaultError{Addr: addr, Len: n}
	}
	b := make([]byte, n)
	got, err := v.m.ReadAt(b, addr)
	if got == n {
		return b, nil
	}
	if err == nil {
		err = &target.FaultError{Addr: addr, Len: n}
	}
	return nil, err
}

func (v *objValues) u64(addr uint64) (uint64, error) {
	b, err := v.read(addr, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (v *objValues) i32(addr uint64) (int32, error) {
	b, err := v.read(addr, 4)
	if err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b)), nil
}

// off returns a layout offset, or def where the layout does not know it
// but the field has had the same place in every release 3.10–3.14.
func off(o layout.Off, def int64) (uint64, bool) {
	if o.Valid() {
		return uint64(o), true
	}
	if def >= 0 {
		return uint64(def), true
	}
	return 0, false
}

func (v *objValues) TypeName(obj Ref) string {
	n, err := v.o.ObjTypeName(uint64(obj))
	if err != nil {
		return "?"
	}
	return n
}

func (v *objValues) typeFlags(obj uint64) uint64 {
	t, err := v.o.TypeOf(obj)
	if err != nil {
		return 0
	}
	f, _ := v.o.TypeFlags(t)
	return f
}

func (v *objValues) strs(tuple uint64) ([]string, error) {
	if tuple == 0 {
		return nil, nil
	}
	items, err := v.o.TupleItems(tuple)
	if err != nil {
		return nil, err
	}
	if len(items) > maxNames {
		return nil, fmt.Errorf("code object has %d names", len(items))
	}
	out := make([]string, len(items))
	for i, it := range items {
		if out[i], err = v.o.Str(it); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (v *objValues) codeField(code uint64, o layout.Off) (uint64, error) {
	if !o.Valid() {
		return 0, fmt.Errorf("this build's layout lacks a code object field pyscope needs")
	}
	return v.u64(code + uint64(o))
}

// Locals reads the fast locals (and cells) of a frame; for module and
// class bodies, the f_locals dict.
func (v *objValues) Locals(f model.Frame) ([]Var, error) {
	if f.Addr == 0 || f.Code == 0 {
		return nil, fmt.Errorf("frame has no interpreter frame to read")
	}
	C := v.L.Code
	flags := int32(-1)
	if C.Flags.Valid() {
		flags, _ = v.i32(f.Code + uint64(C.Flags))
	}
	var names []string
	var kinds []byte
	var slots uint64
	var localsDict uint64
	nargs := -1
	if C.Argcount.Valid() && flags >= 0 {
		ac, _ := v.i32(f.Code + uint64(C.Argcount))
		nargs = int(ac)
		if C.KwOnlyArgcount.Valid() {
			kw, _ := v.i32(f.Code + uint64(C.KwOnlyArgcount))
			nargs += int(kw)
		}
		if flags&coVarargs != 0 {
			nargs++
		}
		if flags&coVarkeywords != 0 {
			nargs++
		}
	}
	if v.minor <= 10 {
		var all []string
		for _, o := range []layout.Off{C.Varnames, C.Cellvars, C.Freevars} {
			t, err := v.codeField(f.Code, o)
			if err != nil {
				return nil, err
			}
			s, err := v.strs(t)
			if err != nil {
				return nil, err
			}
			all = append(all, s...)
		}
		nl := -1
		if C.Nlocals.Valid() {
			n, _ := v.i32(f.Code + uint64(C.Nlocals))
			nl = int(n)
		}
		cells, _ := v.codeField(f.Code, C.Cellvars)
		ncell := 0
		if cells != 0 {
			if it, err := v.o.TupleItems(cells); err == nil {
				ncell = len(it)
			}
		}
		names = all
		kinds = make([]byte, len(all))
		for i := range kinds {
			switch {
			case i < nl:
				kinds[i] = fastLocal
			case i < nl+ncell:
				kinds[i] = fastCell
			default:
				kinds[i] = fastFree
			}
		}
		FO := v.L.FrameObj
		if !FO.Localsplus.Valid() {
			return nil, fmt.Errorf("this build's layout lacks f_localsplus")
		}
		slots = f.Addr + uint64(FO.Localsplus)
		if FO.Locals.Valid() {
			localsDict, _ = v.u64(f.Addr + uint64(FO.Locals))
		}
	} else {
		t, err := v.codeField(f.Code, C.Localsplusnames)
		if err != nil {
			return nil, err
		}
		if names, err = v.strs(t); err != nil {
			return nil, err
		}
		kb, err := v.codeField(f.Code, C.Localspluskinds)
		if err != nil {
			return nil, err
		}
		if kinds, _, err = v.o.Bytes(kb, maxNames); err != nil {
			return nil, err
		}
		if len(kinds) != len(names) {
			return nil, fmt.Errorf("code object at %#x: %d names but %d kinds", f.Code, len(names), len(kinds))
		}
		F := v.L.Frame
		if !F.Localsplus.Valid() {
			return nil, fmt.Errorf("this build's layout lacks localsplus")
		}
		slots = f.Addr + uint64(F.Localsplus)
		if F.Locals.Valid() {
			localsDict, _ = v.u64(f.Addr + uint64(F.Locals))
		}
	}
	var raw []byte
	if len(names) > 0 {
		var err error
		if raw, err = v.read(slots, 8*len(names)); err != nil {
			return nil, fmt.Errorf("read locals of frame at %#x: %w", f.Addr, err)
		}
	}
	var out []Var
	visible := 0
	for i, name := range names {
		k := kinds[i]
		if k&fastHidden != 0 {
			continue
		}
		visible++
		p := binary.LittleEndian.Uint64(raw[8*i:])
		if v.minor >= 14 {
			if p&3 == 3 { // a tagged int is not an object
				p = 0
			}
			p &^= 3
		}
		kind := "local"
		switch {
		case k&fastFree != 0:
			kind = "free"
		case k&fastCell != 0:
			kind = "cell"
		}
		if (v.minor >= 14 && k&fastArgs314 != 0) || (v.minor < 14 && i < nargs) {
			kind = "arg"
		}
		if p != 0 && k&(fastCell|fastFree) != 0 && v.TypeName(Ref(p)) == "cell" {
			ro, _ := off(v.L.Cell.Ref, 16)
			p, _ = v.u64(p + ro)
		}
		out = append(out, Var{Name: name, Kind: kind, Ref: Ref(p)})
	}
	out = mergeDuplicates(out)
	unoptimized := (flags >= 0 && flags&coOptimized == 0) || (flags < 0 && visible == 0)
	if unoptimized && localsDict != 0 {
		seen := map[string]bool{}
		for _, x := range out {
			seen[x.Name] = true
		}
		err := v.o.DictEach(localsDict, func(k, val uint64) bool {
			if s, err := v.o.Str(k); err == nil && !seen[s] {
				out = append(out, Var{Name: s, Kind: "local", Ref: Ref(val)})
			}
			return len(out) < maxNames
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (v *objValues) frameDict(f model.Frame, o311, o310 layout.Off, what string) (uint64, error) {
	o := o311
	if v.minor <= 10 {
		o = o310
	}
	if !o.Valid() {
		return 0, fmt.Errorf("this build's layout does not say where a frame keeps its %s", what)
	}
	d, err := v.u64(f.Addr + uint64(o))
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, fmt.Errorf("the frame has no %s", what)
	}
	return d, nil
}

func (v *objValues) dictVars(d uint64, kind string) ([]Var, error) {
	var out []Var
	err := v.o.DictEach(d, func(k, val uint64) bool {
		if s, err := v.o.Str(k); err == nil {
			out = append(out, Var{Name: s, Kind: kind, Ref: Ref(val)})
		}
		return len(out) < maxNames
	})
	return out, err
}

func (v *objValues) globalsDict(f model.Frame) (uint64, error) {
	d, err := v.frameDict(f, v.L.Frame.Globals, v.L.FrameObj.Globals, "globals")
	if err == nil {
		return d, nil
	}
	// 3.14 layouts may lack f_globals; the function object has them.
	if v.L.Frame.FuncObj.Valid() && v.L.Func.Globals.Valid() {
		fn, ferr := v.u64(f.Addr + uint64(v.L.Frame.FuncObj))
		if ferr == nil && fn != 0 {
			if v.minor >= 14 {
				fn &^= 3
			}
			if g, gerr := v.u64(fn + uint64(v.L.Func.Globals)); gerr == nil && g != 0 {
				return g, nil
			}
		}
	}
	return 0, err
}

func (v *objValues) Globals(f model.Frame) ([]Var, error) {
	d, err := v.globalsDict(f)
	if err != nil {
		return nil, err
	}
	return v.dictVars(d, "global")
}

func (v *objValues) Builtins(f model.Frame) ([]Var, error) {
	d, err := v.frameDict(f, v.L.Frame.Builtins, v.L.FrameObj.Builtins, "builtins")
	if err != nil {
		// Fall back to globals["__builtins__"] (a module or its dict).
		g, gerr := v.globalsDict(f)
		if gerr != nil {
			return nil, err
		}
		b, ok, berr := v.o.DictGetStr(g, "__builtins__")
		if berr != nil || !ok {
			return nil, err
		}
		d = b
		if v.TypeName(Ref(b)) == "module" {
			if d, err = v.moduleDict(b); err != nil {
				return nil, err
			}
		}
	}
	return v.dictVars(d, "builtin")
}

func (v *objValues) moduleDict(mod uint64) (uint64, error) {
	o, _ := off(v.L.Module.Dict, 16)
	return v.u64(mod + o)
}

func (v *objValues) seqItems(obj uint64) (items uint64, n int64, err error) {
	so, _ := off(v.L.Object.Size, 16)
	sz, err := v.u64(obj + so)
	if err != nil {
		return 0, 0, err
	}
	if int64(sz) < 0 || sz > 1<<40 {
		return 0, 0, fmt.Errorf("object at %#x has impossible size", obj)
	}
	if v.typeFlags(obj)&tpflagsTupSub != 0 {
		o, _ := off(v.L.Tuple.Item, 24)
		return obj + o, int64(sz), nil
	}
	o, _ := off(v.L.List.Item, 24)
	p, err := v.u64(obj + o)
	return p, int64(sz), err
}

func (v *objValues) Item(obj Ref, key Key) (Ref, error) {
	o := uint64(obj)
	fl := v.typeFlags(o)
	switch {
	case fl&(tpflagsListSub|tpflagsTupSub) != 0:
		if key.Kind != KeyInt {
			return 0, fmt.Errorf("%s indices must be integers, not %s", v.TypeName(obj), key)
		}
		items, n, err := v.seqItems(o)
		if err != nil {
			return 0, err
		}
		i := key.Int
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return 0, fmt.Errorf("%s index %d out of range (length %d)", v.TypeName(obj), key.Int, n)
		}
		p, err := v.u64(items + 8*uint64(i))
		return Ref(p), err
	case fl&tpflagsDictSub != 0:
		var found uint64
		err := v.o.DictEach(o, func(k, val uint64) bool {
			if v.keyEquals(k, key) {
				found = val
				return false
			}
			return true
		})
		if found != 0 {
			return Ref(found), nil
		}
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("KeyError: %s", key)
	}
	return 0, fmt.Errorf("pyscope can subscript lists, tuples and dicts, not %s", v.TypeName(obj))
}

func (v *objValues) keyEquals(k uint64, key Key) bool {
	tn := v.TypeName(Ref(k))
	switch key.Kind {
	case KeyStr:
		if !v.o.IsStr(k) {
			return false
		}
		s, err := v.o.Str(k)
		return err == nil && s == key.Str
	case KeyBytes:
		if tn != "bytes" {
			return false
		}
		b, trunc, err := v.o.Bytes(k, len(key.Str)+1)
		return err == nil && !trunc && string(b) == key.Str
	case KeyNone:
		return tn == "NoneType"
	case KeyInt, KeyBool:
		if v.typeFlags(k)&tpflagsLongSub == 0 {
			return tn == "float" && v.float(k) == float64(key.int())
		}
		n, err := v.o.Int(k)
		return err == nil && n.Cmp(big.NewInt(key.int())) == 0
	}
	return false
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

func (v *objValues) float(obj uint64) float64 {
	o, _ := off(v.L.Float.Fval, 16)
	b, err := v.read(obj+o, 8)
	if err != nil {
		return math.NaN()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (v *objValues) Attr(obj Ref, name string) (Ref, error) {
	o := uint64(obj)
	tn := v.TypeName(obj)
	if tn == "module" {
		d, err := v.moduleDict(o)
		if err != nil {
			return 0, err
		}
		if p, ok, err := v.o.DictGetStr(d, name); err == nil && ok {
			return Ref(p), nil
		}
		return 0, fmt.Errorf("module has no attribute %q", name)
	}
	if name == "__class__" {
		t, err := v.o.TypeOf(o)
		return Ref(t), err
	}
	if v.typeFlags(o)&tpflagsTypeSub != 0 {
		if p, ok := v.classAttr(o, name, 0); ok {
			return Ref(p), nil
		}
		return 0, fmt.Errorf("type object %q has no attribute %q", v.typeNameOf(o), name)
	}
	if p, ok, err := v.o.Attr(o, name); err == nil && ok {
		return Ref(p), nil
	}
	t, err := v.o.TypeOf(o)
	if err != nil {
		return 0, err
	}
	if p, ok := v.classAttr(t, name, o); ok {
		if tn := v.TypeName(Ref(p)); tn == "property" || tn == "getset_descriptor" {
			return 0, fmt.Errorf("%q is a %s of %s: its value is computed by code, and pyscope runs none in the target (print the attribute it reads, often _%s)", name, tn, v.typeNameOf(t), name)
		}
		return Ref(p), nil
	}
	return 0, fmt.Errorf("'%s' object has no attribute %q (pyscope reads instance, slot, class and module attributes; it runs no properties or __getattr__)", tn, name)
}

func (v *objValues) typeNameOf(t uint64) string {
	n, _ := v.o.TypeName(t)
	return n
}

// classAttr looks name up in the dicts of t's MRO. For an instance inst, a
// __slots__ member descriptor is followed to the slot's value.
func (v *objValues) classAttr(t uint64, name string, inst uint64) (uint64, bool) {
	T := v.L.Type
	if !T.Dict.Valid() {
		return 0, false
	}
	mro := []uint64{t}
	if T.Mro.Valid() {
		if m, err := v.u64(t + uint64(T.Mro)); err == nil && m != 0 {
			if items, err := v.o.TupleItems(m); err == nil && len(items) > 0 {
				mro = items
			}
		}
	}
	for _, c := range mro {
		d, err := v.u64(c + uint64(T.Dict))
		if err != nil || d == 0 {
			continue
		}
		p, ok, err := v.o.DictGetStr(d, name)
		if err != nil || !ok {
			continue
		}
		if inst != 0 && v.TypeName(Ref(p)) == "member_descriptor" {
			// PyMemberDescrObject: PyDescr_COMMON (object head, d_type,
			// d_name, d_qualname) then d_member; PyMemberDef keeps the
			// offset after name and type. Stable 3.10–3.14.
			md, err := v.u64(p + 40)
			if err != nil {
				return 0, false
			}
			so, err := v.u64(md + 16)
			if err != nil || so > 1<<20 {
				return 0, false
			}
			val, err := v.u64(inst + so)
			if err != nil || val == 0 {
				return 0, false
			}
			return val, true
		}
		return p, true
	}
	return 0, false
}

// AttrNames lists the attributes an instance, module or class holds in
// its dicts (for completion).
func (v *objValues) AttrNames(obj Ref) []string {
	o := uint64(obj)
	var out []string
	add := func(d uint64) {
		v.o.DictEach(d, func(k, _ uint64) bool {
			if s, err := v.o.Str(k); err == nil {
				out = append(out, s)
			}
			return len(out) < maxNames
		})
	}
	if v.TypeName(obj) == "module" {
		if d, err := v.moduleDict(o); err == nil {
			add(d)
		}
		return out
	}
	items, _ := v.o.InstanceAttrs(o, 4096)
	for _, it := range items {
		if s, err := v.o.Str(it.Key); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// EntryFrames marks the frames an interpreter loop call was entered with
// (3.12+: the frame below is the loop's C-stack-owned shim, or there is
// none); nil when the version records it in the frame itself (3.11) or
// runs one frame per call (3.10).
func (v *objValues) EntryFrames(frames []model.Frame) []bool {
	F := v.L.Frame
	if v.minor < 12 || !F.Previous.Valid() || !F.Owner.Valid() {
		return nil
	}
	out := make([]bool, len(frames))
	for i, f := range frames {
		prev, err := v.u64(f.Addr + uint64(F.Previous))
		if err != nil {
			return nil
		}
		if prev == 0 {
			out[i] = true
			continue
		}
		b, err := v.read(prev+uint64(F.Owner), 1)
		if err != nil {
			return nil
		}
		// 3.12/3.13: 3 is FRAME_OWNED_BY_CSTACK; 3.14: 3 is
		// FRAME_OWNED_BY_INTERPRETER (the entry shim), 4 FRAME_OWNED_BY_CSTACK.
		out[i] = b[0] >= 3
	}
	return out
}

// mergeDuplicates keeps one entry per name: on 3.10 an argument that is
// also a cell has an emptied argument slot and the value in the cell.
func mergeDuplicates(vs []Var) []Var {
	first := map[string]int{}
	out := vs[:0]
	for _, x := range vs {
		if i, ok := first[x.Name]; ok {
			if out[i].Ref == 0 {
				out[i].Ref = x.Ref
			}
			continue
		}
		first[x.Name] = len(out)
		out = append(out, x)
	}
	return out
}
