package repl

import (
	"fmt"
	"strings"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
)

// Repr is cpython's decoder and repr: exactly repr() for the builtins,
// gdb's libpython style for the rest, abbreviations marked.
func (v *objValues) Repr(obj Ref, lim Limits) string {
	cl := cpython.TerminalLimits()
	cl.MaxItems, cl.MaxString, cl.MaxDepth, cl.MaxRepr = lim.MaxItems, lim.MaxStr, lim.MaxDepth, lim.MaxLen
	val := v.dec.Decode(uint64(obj), cl)
	if val.Kind == model.ValueObject && val.Type == "builtin_function_or_method" {
		return v.builtinRepr(uint64(obj)) // names the function, as repr() does
	}
	return cpython.Repr(val, cl)
}

// builtinRepr is repr() of a builtin_function_or_method, which the decoder
// shows only by type.
func (v *objValues) builtinRepr(o uint64) string {
	// PyCFunctionObject: m_ml (PyMethodDef*, ml_name first) then m_self,
	// after the object head; stable 3.10–3.14.
	name := "?"
	if ml, err := v.u64(o + 16); err == nil {
		if np, err := v.u64(ml); err == nil {
			if b, err := v.read(np, 64); err == nil {
				if i := strings.IndexByte(string(b), 0); i >= 0 {
					name = string(b[:i])
				}
			}
		}
	}
	self, _ := v.u64(o + 24)
	if self == 0 || v.TypeName(Ref(self)) == "module" {
		return fmt.Sprintf("<built-in function %s>", name)
	}
	return fmt.Sprintf("<built-in method %s of %s object at %#x>", name, v.TypeName(Ref(self)), self)
}
