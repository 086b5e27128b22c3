package cpython

import (
	"encoding/binary"
	"fmt"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
)

// ValueOptions asks Capture to read frame variables too. They are decoded
// while the target is stopped (values mutate) and rendered by Resolve.
type ValueOptions struct {
	Locals  bool // the variables frame.f_locals shows, plus unbound ones
	Globals bool // the user globals of each frame's module
	// StdlibGlobals: with Globals, also the globals of standard-library
	// modules (threading's, under every thread, otherwise left out).
	StdlibGlobals bool
	Limits        Limits
}

// Local kinds (co_localspluskinds, Include/internal/pycore_code.h).
const (
	coFastHidden = 0x10 // 3.12+: inlined comprehension variable
	coFastLocal  = 0x20
	coFastCell   = 0x40
	coFastFree   = 0x80
)

// Code flags.
const (
	coOptimized   = 0x1
	coVarargs     = 0x4
	coVarkeywords = 0x8
)

// maxLocals bounds the variables of one frame.
const maxLocals = 1 << 16

// Var is a name bound in a frame's scope or a namespace.
type Var struct {
	Name string
	Kind string // "arg", "local", "cell", "free", "global" or "builtin"
	Ref  uint64 // the value's address; 0 when the name is unbound
}

// codeVars is what a frame's variables need from its code object.
type codeVars struct {
	names     []string
	kinds     []byte // 3.11+: co_localspluskinds; 3.10: synthesised
	nargs     int
	optimized bool // CO_OPTIMIZED: a function body, not a module, class or exec body
	nvar      int  // 3.10: len(co_varnames), the first slots of f_localsplus
	err       error
}

func (r *Reader) codeVars(code uint64) *codeVars {
	if r.vars == nil {
		r.vars = map[uint64]*codeVars{}
	}
	if c, ok := r.vars[code]; ok {
		return c
	}
	c := r.readCodeVars(code)
	if len(r.vars) < 1<<16 {
		r.vars[code] = c
	}
	return c
}

func (r *Reader) readCodeVars(code uint64) *codeVars {
	o := r.Obj
	C := r.In.Layout.Code
	c := &codeVars{}
	i32 := func(off int64) int {
		if off < 0 {
			c.err = fmt.Errorf("code layout unknown")
			return 0
		}
		v, err := o.u32(code + uint64(off))
		if err != nil {
			c.err = err
		}
		return int(int32(v))
	}
	argc, kwc, flags := i32(int64(C.Argcount)), i32(int64(C.KwOnlyArgcount)), i32(int64(C.Flags))
	if c.err != nil {
		return c
	}
	c.optimized = flags&coOptimized != 0
	c.nargs = argc + kwc
	if flags&coVarargs != 0 {
		c.nargs++
	}
	if flags&coVarkeywords != 0 {
		c.nargs++
	}
	names := func(off int64) []string {
		if off < 0 || c.err != nil {
			if c.err == nil {
				c.err = fmt.Errorf("code layout unknown")
			}
			return nil
		}
		t, err := o.u64(code + uint64(off))
		if err != nil {
			c.err = err
			return nil
		}
		items, err := o.TupleItems(t)
		if err != nil || len(items) > maxLocals {
			c.err = fmt.Errorf("names of code at %#x: %v", code, err)
			return nil
		}
		out := make([]string, len(items))
		for i, it := range items {
			if out[i], err = o.Str(it); err != nil {
				c.err = err
				return nil
			}
		}
		return out
	}
	if r.In.Minor <= 10 {
		vars, cells, frees := names(int64(C.Varnames)), names(int64(C.Cellvars)), names(int64(C.Freevars))
		c.nvar = len(vars)
		c.names = append(append(append(c.names, vars...), cells...), frees...)
		for range vars {
			c.kinds = append(c.kinds, coFastLocal)
		}
		for range cells {
			c.kinds = append(c.kinds, coFastCell)
		}
		for range frees {
			c.kinds = append(c.kinds, coFastFree)
		}
		return c
	}
	c.names = names(int64(C.Localsplusnames))
	if c.err != nil {
		return c
	}
	kp, err := o.u64(code + uint64(C.Localspluskinds))
	if err != nil {
		c.err = err
		return c
	}
	kinds, trunc, err := o.Bytes(kp, maxLocals)
	if err != nil || trunc || len(kinds) != len(c.names) {
		c.err = fmt.Errorf("co_localspluskinds of code at %#x does not match its names", code)
		return c
	}
	c.kinds = kinds
	return c
}

// frameVars is pyscope's one locals algorithm: the variables the
// interpreter itself shows as frame.f_locals of the frame at addr running
// code, whose f_locals field holds localsDict. See docs/json-schema.md.
//
//   - Functions (CO_OPTIMIZED): every argument, local, cell and free
//     variable in definition order, unbound ones with Ref 0; inlined
//     comprehension variables (PEP 709) only while bound.
//   - Module, class and exec bodies: the f_locals dict (a module's is its
//     globals) with the frame's own bound variables merged as
//     PyFrame_GetLocals merges them; on 3.13+ a frame running an inlined
//     comprehension shows only its bound fast variables, as its
//     FrameLocalsProxy does.
//
// fromDict is localsDict when the variables are that dict's, else 0.
func (r *Reader) frameVars(code, addr, localsDict uint64) (vars []Var, fromDict uint64, err error) {
	cv := r.codeVars(code)
	if cv.err != nil {
		return nil, 0, cv.err
	}
	fast, err := r.fastVars(cv, addr)
	if err != nil {
		return nil, 0, err
	}
	if cv.optimized {
		return fast, 0, nil
	}
	minor := r.In.Minor
	var bound []Var
	hiddenBound := false
	for i, v := range fast {
		if v.Ref == 0 {
			continue
		}
		hiddenBound = hiddenBound || v.Kind == "hidden"
		bound = append(bound, fast[i])
	}
	if minor >= 13 && hiddenBound {
		return unhide(bound), 0, nil
	}
	var out []Var
	if validPtr(localsDict) {
		items, err := r.Obj.DictItems(localsDict, maxLocals)
		if err != nil {
			return nil, 0, fmt.Errorf("f_locals of frame at %#x: %w", addr, err)
		}
		for _, it := range items {
			if !r.Obj.IsStr(it.Key) {
				continue // only a str can name a variable
			}
			name, err := r.Obj.Str(it.Key)
			if err != nil {
				continue
			}
			out = append(out, Var{Name: name, Kind: "local", Ref: it.Value})
		}
	}
	if !validPtr(localsDict) {
		localsDict = 0
	}
	if minor >= 13 {
		return out, localsDict, nil // f_locals is the dict itself
	}
	// 3.10-3.12 merge the frame's cells and locals into the dict (free
	// variables only in functions), then (3.12) hidden variables into a
	// copy: either way a name keeps its place, or goes last when new.
	set := func(v Var) {
		for i := range out {
			if out[i].Name == v.Name {
				out[i] = v
				return
			}
		}
		out = append(out, v)
	}
	for _, v := range fast {
		switch v.Kind {
		case "free", "hidden":
		default:
			if v.Ref != 0 {
				set(v)
			} else {
				out = deleteVar(out, v.Name)
			}
		}
	}
	for _, v := range bound {
		if v.Kind == "hidden" {
			set(v)
		}
	}
	return unhide(out), localsDict, nil
}

// fastVars reads the variables a frame keeps in its own slots, in
// definition order. Inlined comprehension variables have kind "hidden"
// (callers rename it "local") and are left out while unbound.
func (r *Reader) fastVars(cv *codeVars, addr uint64) ([]Var, error) {
	n := len(cv.names)
	if n == 0 {
		return nil, nil
	}
	L := r.In.Layout
	base := L.Frame.Localsplus
	if r.In.Minor <= 10 {
		base = L.FrameObj.Localsplus
	}
	if !base.Valid() {
		return nil, fmt.Errorf("frame layout unknown (localsplus)")
	}
	raw, err := r.Obj.read(addr+uint64(base), n*8)
	if err != nil {
		return nil, fmt.Errorf("read locals of frame at %#x: %w", addr, err)
	}
	o := r.Obj
	minor := r.In.Minor
	out := make([]Var, 0, n)
	var byName map[string]int // 3.10: an argument that is also a cell
	if minor <= 10 {
		byName = map[string]int{}
	}
	for i, name := range cv.names {
		kind := cv.kinds[i]
		p := binary.LittleEndian.Uint64(raw[8*i:])
		if minor >= 14 {
			if p&3 == 3 {
				p = 0 // a tagged int, not an object
			}
			p &^= 3 // _PyStackRef tag bits
		}
		// Cells hold the value once MAKE_CELL ran (3.10: always); before
		// that a cell slot holds the raw argument.
		if kind&(coFastCell|coFastFree) != 0 && p != 0 && o.isCell(p) {
			ref, err := o.u64(p + uint64(L.Cell.Ref))
			if err != nil {
				ref = 0
			}
			p = ref
		}
		if kind&coFastHidden != 0 && p == 0 {
			continue // as f_locals: hidden comprehension variables only when bound
		}
		v := Var{Name: name, Ref: p}
		switch {
		case minor <= 10 && i < cv.nvar && i < cv.nargs, minor > 10 && i < cv.nargs:
			v.Kind = "arg"
		case kind&coFastFree != 0:
			v.Kind = "free"
		case kind&coFastCell != 0:
			v.Kind = "cell"
		case kind&coFastHidden != 0:
			v.Kind = "hidden"
		default:
			v.Kind = "local"
		}
		if minor <= 10 && kind&coFastCell != 0 {
			if j, ok := byName[name]; ok {
				if p != 0 {
					out[j].Ref = p
				}
				continue
			}
		}
		if minor <= 10 && i < cv.nvar {
			byName[name] = len(out)
		}
		out = append(out, v)
	}
	return out, nil
}

func unhide(vs []Var) []Var {
	for i := range vs {
		if vs[i].Kind == "hidden" {
			vs[i].Kind = "local"
		}
	}
	return vs
}

func deleteVar(vs []Var, name string) []Var {
	for i := range vs {
		if vs[i].Name == name {
			return append(vs[:i], vs[i+1:]...)
		}
	}
	return vs
}

// captureVars reads the variables (and globals) of a frame. Called from
// the frame walk while the target is stopped.
func (r *Reader) captureVars(rf *rawFrame, localsDict, globals uint64) {
	opt := r.Values
	rv := &rawVars{}
	rf.vars = rv
	if opt.Locals {
		vars, fromDict, err := r.frameVars(rf.code, rf.addr, localsDict)
		if err != nil {
			rv.varErr = err.Error()
		}
		if len(vars) > 0 {
			rv.locals = make([]model.Local, len(vars))
			for i, v := range vars {
				l := &rv.locals[i]
				l.Name, l.Kind = v.Name, v.Kind
				if v.Ref == 0 {
					l.Unbound = true
				} else {
					l.Value = r.dec.DecodeNamed(v.Ref, opt.Limits, v.Name)
				}
			}
		}
		rv.localsAddr = fromDict
	}
	if opt.Globals && validPtr(globals) {
		g, ok := r.globals[globals]
		if !ok {
			if opt.StdlibGlobals || !r.isStdlibModule(globals) {
				g = r.moduleGlobals(globals, opt.Limits)
			}
			r.globals[globals] = g
		}
		if g != nil {
			rv.globalsAddr = globals
		}
	}
}

// moduleGlobals lists a module dict's user names: neither dunder names nor
// modules.
func (r *Reader) moduleGlobals(dict uint64, lim Limits) []model.Local {
	o := r.Obj
	items, err := o.DictItems(dict, maxLocals)
	if err != nil {
		return []model.Local{{Name: "?", Kind: "global", Value: errValue(dict, "dict", err)}}
	}
	out := []model.Local{}
	for _, it := range items {
		if !o.IsStr(it.Key) {
			continue
		}
		name, err := o.Str(it.Key)
		if err != nil || isDunder(name) {
			continue
		}
		if _, ti := r.dec.typeOf(it.Value); ti.kind == model.ValueModule {
			continue
		}
		out = append(out, model.Local{Name: name, Kind: "global", Value: r.dec.DecodeNamed(it.Value, lim, name)})
	}
	return out
}

func isDunder(name string) bool {
	return len(name) > 4 && name[:2] == "__" && name[len(name)-2:] == "__"
}

// beginValues prepares a capture's value state.
func (r *Reader) beginValues() {
	if r.Values == nil {
		return
	}
	r.dec = NewDecoder(r.Obj)
	r.dec.r = r
	r.dec.Memoize()
	r.dec.Redact(r.Redact)
	r.reprs = map[*model.Value]string{}
	r.globals = map[uint64][]model.Local{}
	r.rendered = nil
	clear(r.stdlibCache) // module dicts may have been freed since
}

// renderVars fills Type and Repr of captured variables; shared values
// (memoized by the decoder) are rendered once.
func (r *Reader) renderVars(ls []model.Local, lim Limits) []model.Local {
	for i := range ls {
		l := &ls[i]
		if l.Unbound || l.Value == nil {
			l.Unbound, l.Repr = true, "<unbound>"
			continue
		}
		l.Type = l.Value.Type
		l.Redacted = l.Value.Kind == model.ValueRedacted
		s, ok := r.reprs[l.Value]
		if !ok {
			s = Repr(l.Value, lim)
			if r.reprs != nil {
				r.reprs[l.Value] = s
			}
		}
		l.Repr = s
	}
	return ls
}

// fieldOf reads a pointer field from a raw struct copy; 0 when absent.
func fieldOf(raw []byte, off layout.Off) uint64 {
	if !off.Valid() || int(off)+8 > len(raw) {
		return 0
	}
	return le64(raw[off:])
}

// resolveVars renders a captured frame's variables into f.
func (r *Reader) resolveVars(f *model.Frame, rf rawFrame) {
	lim := r.Values.Limits
	rv := rf.vars
	if rv == nil {
		return
	}
	f.Locals = r.renderVars(rv.locals, lim)
	f.LocalsError = rv.varErr
	f.LocalsAddr = rv.localsAddr
	if rv.globalsAddr != 0 {
		f.GlobalsAddr = rv.globalsAddr
		if r.rendered == nil {
			r.rendered = map[uint64]bool{}
		}
		g := r.globals[rv.globalsAddr]
		if !r.rendered[rv.globalsAddr] {
			r.renderVars(g, lim)
			r.rendered[rv.globalsAddr] = true
		}
		f.Globals = g
	}
}
