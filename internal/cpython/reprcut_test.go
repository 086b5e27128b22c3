package cpython

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"pyscope/internal/model"
)

// reprKinds is one long value of every kind the decoder produces.
func reprKinds() map[string]*model.Value {
	long := []rune(strings.Repeat("abc\x1b\u20ac\U0001F600'", 40))
	n, _ := new(big.Int).SetString(strings.Repeat("1234567890", 30), 10)
	item := func(i int) *model.Value { return &model.Value{Kind: model.ValueInt, Int: big.NewInt(int64(i * 1001))} }
	items := func(k int) []*model.Value {
		var out []*model.Value
		for i := 0; i < k; i++ {
			out = append(out, item(i))
		}
		return out
	}
	str := &model.Value{Kind: model.ValueStr, Runes: long, Len: len(long) + 500}
	attrs := []model.Attr{}
	for i := 0; i < 30; i++ {
		attrs = append(attrs, model.Attr{Name: "attribute_" + strconv.Itoa(i), Value: str})
	}
	return map[string]*model.Value{
		"none":      {Kind: model.ValueNone},
		"bool":      {Kind: model.ValueBool, Bool: true},
		"int":       {Kind: model.ValueInt, Int: n},
		"float":     {Kind: model.ValueFloat, Float: 1.0 / 3},
		"complex":   {Kind: model.ValueComplex, Float: 1.0 / 3, Imag: -2.0 / 3},
		"str":       str,
		"bytes":     {Kind: model.ValueBytes, Bytes: []byte(strings.Repeat("\x00ab'\xff", 60)), Len: 1000},
		"bytearray": {Kind: model.ValueByteArray, Bytes: []byte(strings.Repeat("xyz\n", 60)), Len: 240},
		"tuple":     {Kind: model.ValueTuple, Items: items(50), Len: 80},
		"list":      {Kind: model.ValueList, Items: append(items(40), str), Len: 41},
		"set":       {Kind: model.ValueSet, Items: items(60), Len: 60},
		"frozenset": {Kind: model.ValueFrozenSet, Items: items(60), Len: 70},
		"dict":      {Kind: model.ValueDict, Keys: items(40), Items: items(40), Len: 41},
		"function":  {Kind: model.ValueFunction, Name: strings.Repeat("Outer.inner.", 20) + "f", Addr: 0x7f0000001000},
		"builtin":   {Kind: model.ValueBuiltin, Name: strings.Repeat("method_", 20), Module: strings.Repeat("mod.", 20) + "T", Self: 0x7f0000002000},
		"class":     {Kind: model.ValueClass, Name: strings.Repeat("Name", 40), Module: "pkg.mod"},
		"module":    {Kind: model.ValueModule, Name: "json", Origin: "/usr/lib/python3.11/" + strings.Repeat("very/long/", 20) + "json/__init__.py", Located: true},
		"exception": {Kind: model.ValueException, Name: "ValueError", Items: []*model.Value{str}, Len: 1},
		"instance":  {Kind: model.ValueInstance, Type: "Point", Attrs: attrs, Len: 30, Addr: 0x7f0000003000},
		"cycle":     {Kind: model.ValueCycle, Of: model.ValueInstance, Type: strings.Repeat("Recursive", 20), Addr: 0x7f0000004000},
		"elided":    {Kind: model.ValueElided, Of: model.ValueInstance, Type: strings.Repeat("Deep", 30), Addr: 0x7f0000005000},
		"error":     {Kind: model.ValueError, Type: "T", Addr: 0x7f0000006000, Err: strings.Repeat("cannot read ", 20)},
		"object":    {Kind: model.ValueObject, Type: strings.Repeat("_thread.lock", 15), Addr: 0x7f0000007000},
	}
}

// TestReprCut: a repr longer than MaxRepr is cut so that it and the note
// "…(+N chars)" fit in MaxRepr characters, N counting exactly what was
// left out; a shorter one is whole. For every kind of value.
func TestReprCut(t *testing.T) {
	note := regexp.MustCompile(`…\(\+(\d+) chars?\)$`)
	full := TerminalLimits()
	full.MaxRepr = 1 << 20
	for name, v := range reprKinds() {
		whole := Repr(v, full)
		wn := utf8.RuneCountInString(whole)
		cuts := 0
		for max := 32; max <= wn+10; max += 1 + max/100 {
			lim := TerminalLimits()
			lim.MaxRepr = max
			got := Repr(v, lim)
			gn := utf8.RuneCountInString(got)
			if wn <= max {
				if got != whole {
					t.Errorf("%s at %d: %q, want the whole %q", name, max, got, whole)
				}
				continue
			}
			cuts++
			m := note.FindStringSubmatch(got)
			if m == nil || gn > max {
				t.Errorf("%s at %d: %d characters %q, want at most %d ending in the note", name, max, gn, got, max)
				continue
			}
			prefix := strings.TrimSuffix(got, m[0])
			left, _ := strconv.Atoi(m[1])
			if !strings.HasPrefix(whole, prefix) || utf8.RuneCountInString(prefix)+left != wn {
				t.Errorf("%s at %d: %q does not cut %q exactly", name, max, got, whole)
			}
			if gn < max-len(m[0]) {
				t.Errorf("%s at %d: %q is shorter than needed", name, max, got)
			}
		}
		if wn > 32 && cuts == 0 {
			t.Errorf("%s: never cut (%d characters)", name, wn)
		}
	}
}
