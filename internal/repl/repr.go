package repl

import (
	"fmt"
	"math"
	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"strconv"
	"strings"
	"unicode"
)

// Repr is cpython's decoder and repr: exactly repr() for the builtins,
// gdb's libpython style for the rest, abbreviations marked.
func (v *objValues) Repr(obj Ref, lim Limits) string {
	cl := cpython.TerminalLimits()
	cl.MaxItems, cl.MaxString, cl.MaxDepth, cl.MaxRepr = lim.MaxItems, lim.MaxStr, lim.MaxDepth, lim.MaxLen
	val := v.dec.Decode(uint64(obj), cl)
	if val.Kind == model.ValueObject && val.Type == "builtin_function_or_method" {
		return v.reprFallback(obj, lim) // names the function, as repr() does
	}
	return cpython.Repr(val, cl)
}

// reprFallback is the session's own renderer, kept for objects the
// decoder cannot place.
func (v *objValues) reprFallback(obj Ref, lim Limits) string {
	w := &reprWriter{v: v, lim: lim, seen: map[uint64]bool{}}
	w.obj(uint64(obj), 0)
	s := w.b.String()
	if lim.MaxLen > 0 && len(s) > lim.MaxLen {
		s = s[:lim.MaxLen] + "...(truncated)"
	}
	return s
}

type reprWriter struct {
	v    *objValues
	lim  Limits
	b    strings.Builder
	seen map[uint64]bool
}

func (w *reprWriter) full() bool { return w.lim.MaxLen > 0 && w.b.Len() > w.lim.MaxLen }

func (w *reprWriter) obj(o uint64, depth int) {
	v := w.v
	if o == 0 {
		w.b.WriteString("<NULL>")
		return
	}
	t, err := v.o.TypeOf(o)
	if err != nil {
		fmt.Fprintf(&w.b, "<unreadable object at %#x>", o)
		return
	}
	tn := v.typeNameOf(t)
	fl := v.typeFlags(o)
	switch {
	case tn == "NoneType":
		w.b.WriteString("None")
	case tn == "bool":
		n, err := v.o.Int(o)
		if err != nil {
			w.b.WriteString("<bool ?>")
		} else if n.Sign() != 0 {
			w.b.WriteString("True")
		} else {
			w.b.WriteString("False")
		}
	case fl&tpflagsLongSub != 0:
		n, err := v.o.Int(o)
		if err != nil {
			fmt.Fprintf(&w.b, "<int at %#x: %v>", o, err)
		} else {
			w.b.WriteString(n.String())
		}
	case tn == "float":
		w.b.WriteString(floatRepr(v.float(o)))
	case v.o.IsStr(o):
		r, trunc, err := v.o.StrRunes(o, max(w.lim.MaxStr, 1))
		if err != nil {
			fmt.Fprintf(&w.b, "<str at %#x: %v>", o, err)
			return
		}
		w.b.WriteString(pyQuoteRunes(r, false))
		if trunc {
			w.b.WriteString("...")
		}
	case tn == "bytes":
		b, trunc, err := v.o.Bytes(o, max(w.lim.MaxStr, 1))
		if err != nil {
			fmt.Fprintf(&w.b, "<bytes at %#x: %v>", o, err)
			return
		}
		w.b.WriteString("b" + pyQuote(string(b), true))
		if trunc {
			w.b.WriteString("...")
		}
	case fl&(tpflagsListSub|tpflagsTupSub) != 0:
		open, close := "[", "]"
		if fl&tpflagsTupSub != 0 {
			open, close = "(", ")"
		}
		if w.seen[o] {
			w.b.WriteString(open + "..." + close)
			return
		}
		items, n, err := v.seqItems(o)
		if err != nil {
			fmt.Fprintf(&w.b, "<%s at %#x: %v>", tn, o, err)
			return
		}
		if depth >= w.lim.MaxDepth && n > 0 {
			w.b.WriteString(open + "..." + close)
			return
		}
		w.seen[o] = true
		defer delete(w.seen, o)
		w.b.WriteString(open)
		shown := min(n, int64(w.lim.MaxItems))
		var raw []byte
		if shown > 0 {
			if raw, err = v.read(items, int(8*shown)); err != nil {
				fmt.Fprintf(&w.b, "<unreadable items>%s", close)
				return
			}
		}
		for i := int64(0); i < shown && !w.full(); i++ {
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.obj(le(raw[8*i:]), depth+1)
		}
		if n > shown {
			fmt.Fprintf(&w.b, ", ...(%d more)", n-shown)
		}
		if n == 1 && close == ")" {
			w.b.WriteString(",")
		}
		w.b.WriteString(close)
	case fl&tpflagsDictSub != 0:
		if w.seen[o] {
			w.b.WriteString("{...}")
			return
		}
		n, known := v.dictLen(o)
		if depth >= w.lim.MaxDepth && n > 0 {
			w.b.WriteString("{...}")
			return
		}
		w.seen[o] = true
		defer delete(w.seen, o)
		w.b.WriteString("{")
		i := 0
		err := v.dictEach(o, func(k, val uint64) bool {
			if i >= w.lim.MaxItems || w.full() {
				return false
			}
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.obj(k, depth+1)
			w.b.WriteString(": ")
			w.obj(val, depth+1)
			i++
			return true
		})
		if err != nil {
			fmt.Fprintf(&w.b, "<error: %v>", err)
		}
		if known && n > int64(i) {
			fmt.Fprintf(&w.b, ", ...(%d more)", n-int64(i))
		}
		w.b.WriteString("}")
	case tn == "set" || tn == "frozenset":
		if w.seen[o] {
			fmt.Fprintf(&w.b, "%s(...)", tn)
			return
		}
		w.seen[o] = true
		defer delete(w.seen, o)
		var keys []uint64
		more := false
		err := v.setEach(o, func(k uint64) bool {
			if len(keys) >= w.lim.MaxItems {
				more = true
				return false
			}
			keys = append(keys, k)
			return true
		})
		if len(keys) == 0 && err == nil {
			w.b.WriteString(tn + "()")
			return
		}
		if tn == "frozenset" {
			w.b.WriteString("frozenset(")
		}
		w.b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.obj(k, depth+1)
		}
		if more {
			w.b.WriteString(", ...")
		}
		if err != nil {
			fmt.Fprintf(&w.b, "<error: %v>", err)
		}
		w.b.WriteString("}")
		if tn == "frozenset" {
			w.b.WriteString(")")
		}
	case fl&tpflagsTypeSub != 0:
		fmt.Fprintf(&w.b, "<class '%s'>", v.typeNameOf(o))
	case tn == "module":
		name := "?"
		if d, err := v.moduleDict(o); err == nil {
			if p, ok, _ := v.o.DictGetStr(d, "__name__"); ok {
				name, _ = v.o.Str(p)
			}
		}
		fmt.Fprintf(&w.b, "<module '%s'>", name)
	case tn == "builtin_function_or_method":
		// PyCFunctionObject: m_ml (PyMethodDef*, ml_name first) then
		// m_self, after the object head; stable 3.10–3.14.
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
			fmt.Fprintf(&w.b, "<built-in function %s>", name)
		} else {
			fmt.Fprintf(&w.b, "<built-in method %s of %s object at %#x>", name, v.TypeName(Ref(self)), self)
		}
	case tn == "function":
		name := "?"
		if v.L.Func.Qualname.Valid() {
			if p, err := v.u64(o + uint64(v.L.Func.Qualname)); err == nil {
				name, _ = v.o.Str(p)
			}
		}
		fmt.Fprintf(&w.b, "<function %s at %#x>", name, o)
	default:
		// Instances: show their attributes, as libpython does.
		attrs, _ := v.o.InstanceAttrs(o, w.lim.MaxItems+1)
		if len(attrs) == 0 || depth >= w.lim.MaxDepth || w.seen[o] {
			fmt.Fprintf(&w.b, "<%s object at %#x>", tn, o)
			return
		}
		w.seen[o] = true
		defer delete(w.seen, o)
		fmt.Fprintf(&w.b, "<%s(", tn)
		for i, a := range attrs {
			if i >= w.lim.MaxItems {
				w.b.WriteString(", ...")
				break
			}
			if i > 0 {
				w.b.WriteString(", ")
			}
			k, _ := v.o.Str(a.Key)
			w.b.WriteString(k + "=")
			w.obj(a.Value, depth+1)
		}
		fmt.Fprintf(&w.b, ") at %#x>", o)
	}
}

func le(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// floatRepr follows Python's repr(float): shortest round trip, fixed
// notation for exponents in [-4, 16), else scientific with 2+ digits.
func floatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

func pyQuote(s string, bytesLit bool) string {
	if bytesLit {
		r := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			r[i] = rune(s[i])
		}
		return pyQuoteRunes(r, true)
	}
	return pyQuoteRunes([]rune(s), false)
}

// pyQuoteRunes quotes like repr(): single quotes unless the text has a
// single quote and no double quote. The result is terminal-safe.
func pyQuoteRunes(r []rune, bytesLit bool) string {
	q := '\''
	hasS, hasD := false, false
	for _, c := range r {
		hasS = hasS || c == '\''
		hasD = hasD || c == '"'
	}
	if hasS && !hasD {
		q = '"'
	}
	var b strings.Builder
	b.WriteRune(q)
	for _, c := range r {
		switch {
		case c == q || c == '\\':
			b.WriteRune('\\')
			b.WriteRune(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f || (bytesLit && c >= 0x80):
			fmt.Fprintf(&b, `\x%02x`, c)
		case !bytesLit && (c >= 0xd800 && c <= 0xdfff || !unicode.IsPrint(c) && c != ' '):
			switch {
			case c < 0x100:
				fmt.Fprintf(&b, `\x%02x`, c)
			case c < 0x10000:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				fmt.Fprintf(&b, `\U%08x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	b.WriteRune(q)
	return b.String()
}
