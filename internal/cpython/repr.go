package cpython

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"pyscope/internal/model"
	"pyscope/internal/redact"
)

// Abbreviations are written "…(note)" outside any literal, so they can
// never be mistaken for part of a value (docs/json-schema.md):
//
//	'abc'…(+1234 chars)   b'ab'…(+10 bytes)   1234…(+5000 digits)
//	[1, 2, …(+98 items)]  [[…(3 items)]]      <Point(x=1, …) at 0x…>
//	…(read limit)         [1, 2, 3, 4…(+95 chars) for the whole repr
const ellipsis = "…"

// Repr renders v as Python's repr() would, in at most lim.MaxRepr
// characters, the note of a cut included (the decoder applied the other
// limits).
func Repr(v *model.Value, lim Limits) string {
	lim = lim.normalise()
	w := &reprWriter{keep: lim.MaxRepr}
	rd := &render{maxDigits: lim.MaxString}
	rd.value(w, v)
	return w.cut(lim.MaxRepr)
}

// reprWriter keeps the first keep characters written and counts them all,
// so a cut repr says exactly how much it left out.
type reprWriter struct {
	buf        []byte
	keep, kept int // characters to keep, kept
	total      int // characters written
}

func (w *reprWriter) WriteString(s string) (int, error) {
	n := utf8.RuneCountInString(s)
	w.total += n
	switch room := w.keep - w.kept; {
	case room <= 0:
	case n <= room:
		w.buf = append(w.buf, s...)
		w.kept += n
	default:
		i := 0
		for j := 0; j < room; j++ {
			_, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
		}
		w.buf = append(w.buf, s[:i]...)
		w.kept = w.keep
	}
	return len(s), nil
}

// room is how many more characters the writer keeps.
func (w *reprWriter) room() int { return max(0, w.keep-w.kept) }

// skip counts n characters written but not kept (the writer is full).
func (w *reprWriter) skip(n int) { w.total += n }

func (w *reprWriter) Write(p []byte) (int, error) { return w.WriteString(string(p)) }

func (w *reprWriter) WriteByte(c byte) error {
	w.WriteString(string(rune(c)))
	return nil
}

func (w *reprWriter) WriteRune(r rune) (int, error) { return w.WriteString(string(r)) }

// cut returns the repr, or its longest prefix that fits in max characters
// with the note "…(+N chars)", N the characters left out. A cut that would
// split an abbreviation's own note moves before it.
func (w *reprWriter) cut(max int) string {
	if w.total <= max {
		return string(w.buf)
	}
	note := func(k int) string {
		return fmt.Sprintf("%s(+%d %s)", ellipsis, w.total-k, plural(w.total-k, "char"))
	}
	k := min(max, w.kept)
	for k > 0 && k+utf8.RuneCountInString(note(k)) > max {
		k--
	}
	prefix := w.buf[:runeOffset(w.buf, k)]
	if i := bytes.LastIndex(prefix, []byte(ellipsis+"(")); i >= 0 && !bytes.Contains(prefix[i:], []byte(")")) {
		prefix = prefix[:i]
		k = utf8.RuneCount(prefix)
	}
	return string(prefix) + note(k)
}

// runeOffset is the byte offset of the k-th character of b.
func runeOffset(b []byte, k int) int {
	i := 0
	for ; k > 0 && i < len(b); k-- {
		_, sz := utf8.DecodeRune(b[i:])
		i += sz
	}
	return i
}

// render writes one value tree.
type render struct {
	maxDigits int
	digits    intDigits
}

func (rd *render) value(b *reprWriter, v *model.Value) {
	if v == nil {
		b.WriteString("<nil>")
		return
	}
	switch v.Kind {
	case model.ValueNone:
		b.WriteString("None")
	case model.ValueBool:
		if v.Bool {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case model.ValueInt:
		rd.int(b, v)
	case model.ValueFloat:
		b.WriteString(FloatRepr(v.Float))
	case model.ValueComplex:
		b.WriteString(ComplexRepr(v.Float, v.Imag))
	case model.ValueStr:
		writeHidden(b, len(v.Runes), v.Hidden, func(i, j int) string { return StrRepr(v.Runes[i:j]) })
		if v.Len > len(v.Runes) {
			fmt.Fprintf(b, "%s(+%d %s)", ellipsis, v.Len-len(v.Runes), plural(v.Len-len(v.Runes), "char"))
		}
	case model.ValueBytes, model.ValueByteArray:
		if v.Kind == model.ValueByteArray {
			b.WriteString("bytearray(")
		}
		writeHidden(b, len(v.Bytes), v.Hidden, func(i, j int) string { return bytesRepr(v.Bytes[i:j], v.Kind == model.ValueByteArray) })
		if v.Len > len(v.Bytes) {
			fmt.Fprintf(b, "%s(+%d %s)", ellipsis, v.Len-len(v.Bytes), plural(v.Len-len(v.Bytes), "byte"))
		}
		if v.Kind == model.ValueByteArray {
			b.WriteString(")")
		}
	case model.ValueTuple:
		b.WriteString("(")
		rd.items(b, v)
		if v.Len == 1 && len(v.Items) == 1 {
			b.WriteString(",")
		}
		b.WriteString(")")
	case model.ValueList:
		b.WriteString("[")
		rd.items(b, v)
		b.WriteString("]")
	case model.ValueSet, model.ValueFrozenSet:
		switch {
		case v.Len == 0 && v.Kind == model.ValueSet:
			b.WriteString("set()")
		case v.Len == 0:
			b.WriteString("frozenset()")
		case v.Kind == model.ValueSet:
			b.WriteString("{")
			rd.items(b, v)
			b.WriteString("}")
		default:
			b.WriteString("frozenset({")
			rd.items(b, v)
			b.WriteString("})")
		}
	case model.ValueDict:
		b.WriteString("{")
		for i := range v.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			rd.value(b, v.Keys[i])
			b.WriteString(": ")
			rd.value(b, v.Items[i])
		}
		writeMore(b, len(v.Items), v.Len, "item")
		b.WriteString("}")
	case model.ValueFunction:
		fmt.Fprintf(b, "<function %s at %#x>", v.Name, v.Addr)
	case model.ValueRepr:
		b.WriteString(v.Name)
	case model.ValueMethod:
		fmt.Fprintf(b, "<bound method %s of ", v.Name)
		if len(v.Items) == 1 {
			rd.value(b, v.Items[0])
		}
		b.WriteString(">")
	case model.ValueBuiltin:
		if v.Self == 0 {
			fmt.Fprintf(b, "<built-in function %s>", v.Name)
		} else {
			fmt.Fprintf(b, "<built-in method %s of %s object at %#x>", v.Name, v.Module, v.Self)
		}
	case model.ValueClass:
		if v.Module != "" && v.Module != "builtins" {
			fmt.Fprintf(b, "<class '%s.%s'>", v.Module, v.Name)
		} else {
			fmt.Fprintf(b, "<class '%s'>", v.Name)
		}
	case model.ValueModule:
		name := StrRepr([]rune(v.Name))
		switch {
		case v.Origin == "":
			fmt.Fprintf(b, "<module %s>", name)
		case v.Located:
			fmt.Fprintf(b, "<module %s from %s>", name, StrRepr([]rune(v.Origin)))
		default:
			fmt.Fprintf(b, "<module %s (%s)>", name, v.Origin)
		}
	case model.ValueException:
		b.WriteString(v.Name)
		if v.Len == 1 && len(v.Items) == 1 {
			b.WriteString("(")
			rd.value(b, v.Items[0])
			b.WriteString(")")
		} else {
			b.WriteString("(")
			rd.items(b, v)
			b.WriteString(")")
		}
	case model.ValueInstance:
		fmt.Fprintf(b, "<%s(", v.Type)
		for i, a := range v.Attrs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Name)
			b.WriteString("=")
			rd.value(b, a.Value)
		}
		if v.Len < 0 {
			b.WriteString(", " + ellipsis)
		}
		fmt.Fprintf(b, ") at %#x>", v.Addr)
	case model.ValueCycle:
		switch v.Of {
		case model.ValueList:
			b.WriteString("[...]")
		case model.ValueDict:
			b.WriteString("{...}")
		case model.ValueTuple:
			b.WriteString("(...)")
		case model.ValueSet, model.ValueFrozenSet:
			fmt.Fprintf(b, "%s(...)", v.Type)
		default:
			fmt.Fprintf(b, "<%s(...) at %#x>", v.Type, v.Addr)
		}
	case model.ValueWeakref:
		// Python shows the referent's type and address; pyscope follows
		// the reference and shows the referent.
		if len(v.Items) == 0 {
			fmt.Fprintf(b, "<weakref at %#x; dead>", v.Addr)
		} else {
			fmt.Fprintf(b, "<weakref at %#x; to ", v.Addr)
			rd.value(b, v.Items[0])
			b.WriteString(">")
		}
	case model.ValueGenerator:
		fmt.Fprintf(b, "<%s object %s at %#x>", v.Type, v.Name, v.Addr)
	case model.ValueFuture:
		rd.future(b, v.Future)
	case model.ValueElided:
		writeElided(b, v)
	case model.ValueRedacted:
		b.WriteString(redact.Marker)
	case model.ValueError:
		if v.Type != "" {
			fmt.Fprintf(b, "<%s object at %#x: unreadable: %s>", v.Type, v.Addr, v.Err)
		} else if v.Addr != 0 {
			fmt.Fprintf(b, "<unreadable object at %#x: %s>", v.Addr, v.Err)
		} else {
			fmt.Fprintf(b, "<unreadable: %s>", v.Err)
		}
	default:
		fmt.Fprintf(b, "<%s object at %#x>", v.Type, v.Addr)
	}
}

// future writes asyncio's repr of a Future or Task.
func (rd *render) future(b *reprWriter, f *model.FutureValue) {
	fmt.Fprintf(b, "<%s %s", f.Class, f.State)
	if f.Task {
		fmt.Fprintf(b, " name=%s", StrRepr([]rune(f.Name)))
		if f.Coro != "" {
			fmt.Fprintf(b, " coro=<%s>", f.Coro)
		}
	}
	if f.WaitFor != nil {
		b.WriteString(" wait_for=")
		rd.value(b, f.WaitFor)
	}
	switch {
	case f.Exception != nil:
		b.WriteString(" exception=")
		rd.value(b, f.Exception)
	case f.Result != nil:
		w := &reprWriter{keep: 1 << 20}
		rd.value(w, f.Result)
		b.WriteString(" result=" + reprlibCut(string(w.buf), 30))
	}
	if len(f.Callbacks) > 0 {
		fmt.Fprintf(b, " cb=[%s]", strings.Join(f.Callbacks, ", "))
	}
	b.WriteString(">")
}

// writeHidden writes a text of n characters whose parts hidden are left
// out: the literals of the parts around them (lit of a range), with the
// marker between, outside any literal: 'a=1&token='…(redacted)'&b=2'.
func writeHidden(b *reprWriter, n int, hidden [][2]int, lit func(i, j int) string) {
	at, wrote := 0, false
	for _, h := range hidden {
		from, to := max(h[0], at), min(h[1], n)
		if from >= to {
			continue
		}
		if from > at {
			b.WriteString(lit(at, from))
		}
		b.WriteString(redact.Marker)
		at, wrote = to, true
	}
	if at < n || !wrote {
		b.WriteString(lit(at, n))
	}
}

func writeElided(b *reprWriter, v *model.Value) {
	note := ellipsis
	switch {
	case v.Err == "read limit":
		note += "(read limit)"
	case v.Of == model.ValueInt:
		note += fmt.Sprintf("(int of about %d digits)", v.Len)
	case v.Len == 1:
		note += "(1 item)"
	case v.Len >= 0:
		note += fmt.Sprintf("(%d items)", v.Len)
	}
	switch v.Of {
	case model.ValueList:
		fmt.Fprintf(b, "[%s]", note)
	case model.ValueTuple:
		fmt.Fprintf(b, "(%s)", note)
	case model.ValueDict, model.ValueSet:
		fmt.Fprintf(b, "{%s}", note)
	case model.ValueFrozenSet:
		fmt.Fprintf(b, "frozenset({%s})", note)
	case model.ValueInstance:
		fmt.Fprintf(b, "<%s(%s) at %#x>", v.Type, ellipsis, v.Addr)
	case model.ValueException:
		fmt.Fprintf(b, "%s(%s)", v.Type, ellipsis)
	default:
		b.WriteString(note)
	}
}

func (rd *render) items(b *reprWriter, v *model.Value) {
	for i, it := range v.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		rd.value(b, it)
	}
	writeMore(b, len(v.Items), v.Len, "item")
}

func writeMore(b *reprWriter, shown, total int, what string) {
	if total > shown {
		if shown > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s(+%d %s)", ellipsis, total-shown, plural(total-shown, what))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}

// int prints an int in full, as if sys.set_int_max_str_digits(0)
// were in effect, abbreviating beyond the string limit (budget). It
// converts only the characters the writer keeps: the rest it counts.
func (rd *render) int(b *reprWriter, v *model.Value) {
	if v.Int == nil {
		b.WriteString("<int>")
		return
	}
	nd := rd.digits.count(v.Int)
	sign := 0
	if v.Int.Sign() < 0 {
		sign = 1
	}
	n := sign + nd // characters of the full repr
	shown := min(n, rd.maxDigits)
	if keep := min(shown, b.room()); keep > 0 {
		s := rd.digits.lead(v.Int, nd, keep-sign)
		if sign == 1 {
			s = "-" + s
		}
		b.WriteString(s)
		b.skip(shown - keep)
	} else {
		b.skip(shown)
	}
	if n > shown {
		fmt.Fprintf(b, "%s(+%d %s)", ellipsis, n-shown, plural(n-shown, "digit"))
	}
}

// FloatRepr is Python's repr(float): the shortest string that round-trips,
// in exponent form when the decimal exponent is < -4 or >= 16.
func FloatRepr(f float64) string { return pyFloat(f, true, false) }

// ComplexRepr is Python's repr(complex).
func ComplexRepr(re, im float64) string {
	if re == 0 && !math.Signbit(re) {
		return pyFloat(im, false, false) + "j"
	}
	return "(" + pyFloat(re, false, false) + pyFloat(im, false, true) + "j)"
}

// pyFloat follows PyOS_double_to_string(x, 'r', 0, flags): addDot0 is
// Py_DTSF_ADD_DOT_0, sign is Py_DTSF_SIGN.
func pyFloat(f float64, addDot0, sign bool) string {
	switch {
	case math.IsNaN(f):
		if sign {
			return "+nan"
		}
		return "nan"
	case math.IsInf(f, 1):
		if sign {
			return "+inf"
		}
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	pre := ""
	if math.Signbit(f) {
		pre = "-"
	} else if sign {
		pre = "+"
	}
	s := strconv.FormatFloat(math.Abs(f), 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	decpt := e + 1
	if digits == "0" {
		decpt = 1
	}
	var out string
	switch {
	case decpt <= -4 || decpt > 16:
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		out += fmt.Sprintf("e%+03d", decpt-1)
	case decpt <= 0:
		out = "0." + strings.Repeat("0", -decpt) + digits
	case decpt >= len(digits):
		out = digits + strings.Repeat("0", decpt-len(digits))
		if addDot0 {
			out += ".0"
		}
	default:
		out = digits[:decpt] + "." + digits[decpt:]
	}
	return pre + out
}

// StrRepr is Python's repr(str) (unicode_repr): single quotes unless the
// text holds ' and no ", and escapes for every non-printable character.
// Printability follows Go's Unicode tables, which match
// Py_UNICODE_ISPRINTABLE except for characters assigned in a Unicode
// version only one of them knows.
func StrRepr(r []rune) string {
	squote, dquote := false, false
	for _, c := range r {
		switch c {
		case '\'':
			squote = true
		case '"':
			dquote = true
		}
	}
	quote := '\''
	if squote && !dquote {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(r) + 2)
	b.WriteRune(quote)
	for _, c := range r {
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c < 0x7f:
			b.WriteRune(c)
		case isPrintable(c):
			b.WriteRune(c)
		case c <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			fmt.Fprintf(&b, `\U%08x`, uint32(c))
		}
	}
	b.WriteRune(quote)
	return b.String()
}

func isPrintable(c rune) bool {
	if c < 0 || c > unicode.MaxRune || (c >= 0xd800 && c <= 0xdfff) {
		return false
	}
	return unicode.IsPrint(c)
}

// BytesRepr is Python's repr(bytes).
func BytesRepr(p []byte) string { return bytesRepr(p, false) }

// ByteArrayRepr is Python's repr(bytearray): bytearray_repr escapes ' even
// inside double quotes.
func ByteArrayRepr(p []byte) string { return "bytearray(" + bytesRepr(p, true) + ")" }

func bytesRepr(p []byte, array bool) string {
	squote, dquote := false, false
	for _, c := range p {
		switch c {
		case '\'':
			squote = true
		case '"':
			dquote = true
		}
	}
	quote := byte('\'')
	if squote && !dquote {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(p) + 3)
	b.WriteByte('b')
	b.WriteByte(quote)
	for _, c := range p {
		switch {
		case c == quote || c == '\\' || (array && c == '\''):
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
