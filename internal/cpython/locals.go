package cpython

import (
	"encoding/binary"
	"fmt"
	"strings"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
)

// ValueOptions asks Capture to read frame variables too. They are decoded
// while the target is stopped (values mutate) and rendered by Resolve.
type ValueOptions struct {
	Locals  bool // arguments, locals, cells and free variables
	Globals bool // the user globals of each frame's module
	Limits  Limits
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
	coVarargs     = 0x4
	coVarkeywords = 0x8
)

// maxLocals bounds the variables of one frame.
const maxLocals = 1 << 16

// codeVars is what a frame's variables need from its code object.
type codeVars struct {
	names []string
	kinds []byte // 3.11+: co_localspluskinds; 3.10: synthesised
	nargs int
	// 3.10: slots of f_localsplus = len(varnames)+len(cellvars)+len(freevars)
	nvar, ncell int
	err         error
}

func (r *Reader) codeVars(code uint64) *codeVars {
	if r.vars == nil {
		r.vars = map[uint64]*codeVars{}
	}
	if c, ok := r.vars[code]; ok {
		return c
	}
	c := r.readCodeVars(code)
	r.vars[code] = c
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
		c.nvar, c.ncell = len(vars), len(cells)
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

// frameVars reads one frame's variables: slots is f_localsplus (3.10) or
// localsplus (3.11+) as raw words.
func (r *Reader) frameVars(cv *codeVars, slots []uint64, dec *Decoder, lim Limits) []model.Local {
	o := r.Obj
	stackref := r.In.Minor >= 14
	out := make([]model.Local, 0, len(cv.names))
	var byName map[string]int // 3.10: an argument that is also a cell
	if r.In.Minor <= 10 {
		byName = map[string]int{}
	}
	for i, name := range cv.names {
		if i >= len(slots) {
			break
		}
		kind := cv.kinds[i]
		p := slots[i]
		if stackref {
			if p&3 == 3 {
				p = 0 // a tagged int, not an object
			}
			p &^= 3
		}
		// Cells hold the value once MAKE_CELL ran (3.10: always); before
		// that a cell slot holds the raw argument.
		if kind&(coFastCell|coFastFree) != 0 && p != 0 {
			if _, ti := dec.typeOf(p); ti.name == "cell" && !ti.heap {
				ref, err := o.u64(p + uint64(r.In.Layout.Cell.Ref))
				if err != nil {
					ref = 0
				}
				p = ref
			}
		}
		if kind&coFastHidden != 0 && p == 0 {
			continue // as f_locals: hidden comprehension variables only when bound
		}
		l := model.Local{Name: name}
		switch {
		case r.In.Minor <= 10 && i < cv.nvar && i < cv.nargs, r.In.Minor > 10 && i < cv.nargs:
			l.Kind = "arg"
		case kind&coFastFree != 0:
			l.Kind = "free"
		case kind&coFastCell != 0:
			l.Kind = "cell"
		default:
			l.Kind = "local"
		}
		if r.In.Minor <= 10 && kind&coFastCell != 0 {
			if j, ok := byName[name]; ok {
				if p != 0 {
					out[j].Value = dec.Decode(p, lim)
					out[j].Unbound = false
				}
				continue
			}
		}
		if p == 0 {
			l.Unbound = true
		} else {
			l.Value = dec.Decode(p, lim)
		}
		if r.In.Minor <= 10 && i < cv.nvar {
			byName[name] = len(out)
		}
		out = append(out, l)
	}
	return out
}

// captureVars reads the variables (and globals) of the frame at f. Called
// from the frame walk while the target is stopped.
func (r *Reader) captureVars(rf *rawFrame, globals uint64) {
	opt := r.Values
	if opt.Locals {
		cv := r.codeVars(rf.code)
		if cv.err != nil {
			rf.varErr = cv.err.Error()
		} else if n := len(cv.names); n > 0 {
			var base uint64
			if r.In.Minor <= 10 {
				base = rf.addr + uint64(r.In.Layout.FrameObj.Localsplus)
			} else {
				base = rf.addr + uint64(r.In.Layout.Frame.Localsplus)
			}
			raw, err := r.Obj.read(base, n*8)
			if err != nil {
				rf.varErr = err.Error()
			} else {
				slots := make([]uint64, n)
				for i := range slots {
					slots[i] = binary.LittleEndian.Uint64(raw[8*i:])
				}
				rf.locals = r.frameVars(cv, slots, r.dec, opt.Limits)
			}
		}
	}
	if opt.Globals && validPtr(globals) {
		rf.globalsAddr = globals
		if _, ok := r.globals[globals]; !ok {
			r.globals[globals] = r.moduleGlobals(globals, opt.Limits)
		}
	}
}

// moduleGlobals lists a module dict's user names: neither dunder names nor
// modules.
func (r *Reader) moduleGlobals(dict uint64, lim Limits) []model.Local {
	o := r.Obj
	items, err := o.DictItems(dict, 10000)
	if err != nil {
		return []model.Local{{Name: "?", Kind: "global", Value: errValue(dict, "dict", err)}}
	}
	var out []model.Local
	for _, it := range items {
		if !o.IsStr(it.Key) {
			continue
		}
		name, err := o.Str(it.Key)
		if err != nil || (strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")) {
			continue
		}
		if _, ti := r.dec.typeOf(it.Value); ti.kind == model.ValueModule {
			continue
		}
		out = append(out, model.Local{Name: name, Kind: "global", Value: r.dec.Decode(it.Value, lim)})
	}
	return out
}

// beginValues prepares a capture's value state.
func (r *Reader) beginValues() {
	if r.Values == nil {
		return
	}
	r.dec = NewDecoder(r.Obj)
	r.dec.Memoize()
	r.reprs = map[*model.Value]string{}
	r.globals = map[uint64][]model.Local{}
	r.rendered = nil
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
	f.Locals = r.renderVars(rf.locals, lim)
	f.LocalsError = rf.varErr
	if rf.globalsAddr != 0 {
		f.GlobalsAddr = rf.globalsAddr
		if r.rendered == nil {
			r.rendered = map[uint64]bool{}
		}
		g := r.globals[rf.globalsAddr]
		if !r.rendered[rf.globalsAddr] {
			r.renderVars(g, lim)
			r.rendered[rf.globalsAddr] = true
		}
		f.Globals = g
	}
}
