package cpython

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/model"
)

// bigIntListImage lays out, at fuzzBase, a list of n pointers to nint
// ints (in turn) of ndigits 30-bit digits each, as the given layout keeps
// them; the list is at the returned address.
func bigIntListImage(t testing.TB, l *layout.Layout, minor, n, nint, ndigits int) ([]byte, uint64) {
	const (
		listType = 0x0
		intType  = 0x400
		list     = 0x800
		items    = 0x1000
	)
	ints := items + 8*n + 64
	size := (int(l.Long.Digit) + 4*ndigits + 15) &^ 7
	b := make([]byte, ints+nint*size)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	for _, ty := range []struct {
		off  int
		name string
	}{{listType, "list"}, {intType, "int"}} {
		put(ty.off+int(l.Object.Type), fuzzBase) // a type's type: some type
		put(ty.off+int(l.Type.Name), fuzzBase+uint64(ty.off)+0x300)
		copy(b[ty.off+0x300:], ty.name+"\x00")
	}
	put(list+int(l.Object.Type), fuzzBase+listType)
	put(list+int(l.Object.Size), uint64(n))
	put(list+int(l.List.Item), fuzzBase+items)
	for i := 0; i < n; i++ {
		put(items+8*i, fuzzBase+uint64(ints+i%nint*size))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < nint; k++ {
		obj := ints + k*size
		put(obj+int(l.Object.Type), fuzzBase+intType)
		if l.Long.LvTag.Valid() && minor >= 12 {
			put(obj+int(l.Long.LvTag), uint64(ndigits)<<3) // positive
		} else {
			put(obj+int(l.Object.Size), uint64(ndigits))
		}
		for i := 0; i < ndigits; i++ {
			d := r.Uint32() & (1<<30 - 1)
			if i == ndigits-1 {
				d |= 1 << 29
			}
			binary.LittleEndian.PutUint32(b[obj+int(l.Long.Digit)+4*i:], d)
		}
	}
	return b, fuzzBase + list
}

// TestManyBigIntsBounded: a list holding huge ints, one many times or
// many different ones, costs no more than the digits shown. Converting
// each in full took seconds.
func TestManyBigIntsBounded(t *testing.T) {
	for _, c := range []struct {
		sel  byte
		nint int
	}{{1, 1}, {2, 1}, {2, 300}} { // 3.11 (ob_size), 3.12 (lv_tag)
		l, minor := fuzzLayout(t, c.sel)
		data, list := bigIntListImage(t, l, minor, 1000, c.nint, 16000)
		for _, lim := range []Limits{JSONLimits(), TerminalLimits()} {
			d := NewDecoder(NewObjects(mem{&fuzzMem{data: data}}, l, minor))
			t0 := time.Now()
			v := d.Decode(list, lim)
			s := Repr(v, lim)
			el := time.Since(t0)
			ints := 0
			for _, it := range v.Items {
				if it.Kind == model.ValueInt {
					ints++
				}
			}
			t.Logf("3.%d, %d distinct, max-string %d: %d ints decoded, %d chars in %v", minor, c.nint, lim.MaxString, ints, len(s), el)
			if v.Kind != model.ValueList || len(v.Items) != min(1000, lim.MaxItems) || ints < 15 {
				t.Fatalf("not a list of ints: %.200s", s)
			}
			if !strings.Contains(s, "…(+") {
				t.Fatalf("no int cut: %.200s", s)
			}
			if el > time.Second {
				t.Errorf("3.%d, max-string %d: rendering took %v", minor, lim.MaxString, el)
			}
		}
	}
}

// oldIntRepr is the full conversion the render used to make: the
// reference for every character it now writes.
func oldIntRepr(x *big.Int, maxDigits int) string {
	s := x.String()
	if len(s) > maxDigits {
		return fmt.Sprintf("%s%s(+%d %s)", s[:maxDigits], ellipsis, len(s)-maxDigits, plural(len(s)-maxDigits, "digit"))
	}
	return s
}

// testInts are ints around powers of ten and random ones, both signs.
func testInts() []*big.Int {
	var xs []*big.Int
	r := rand.New(rand.NewPCG(3, 4))
	ten := big.NewInt(10)
	for _, k := range []int{0, 1, 2, 9, 10, 18, 19, 20, 38, 39, 64, 100, 119, 120, 121, 300, 1000, 4300, 4301, 8191, 8192, 8193, 20000} {
		p := new(big.Int).Exp(ten, big.NewInt(int64(k)), nil)
		for _, dd := range []int64{-2, -1, 0, 1} {
			xs = append(xs, new(big.Int).Add(p, big.NewInt(dd)))
		}
		// 99…98 and 10…01 with the same digit count as 10^k ± 1 but a
		// different leading part: ints whose floats round to 10^k.
		xs = append(xs, new(big.Int).Sub(new(big.Int).Mul(p, ten), big.NewInt(2)))
	}
	for _, bits := range []int{1, 2, 3, 62, 63, 64, 65, 200, 397, 398, 1000, 14284, 27212, 53160} {
		for i := 0; i < 4; i++ {
			lim := new(big.Int).Lsh(big.NewInt(1), uint(bits))
			buf := make([]byte, (bits+7)/8)
			for j := range buf {
				buf[j] = byte(r.Uint32())
			}
			xs = append(xs, new(big.Int).Mod(new(big.Int).SetBytes(buf), lim))
			xs = append(xs, new(big.Int).Sub(lim, big.NewInt(int64(r.IntN(3)))))
		}
	}
	n := len(xs)
	for _, x := range xs[:n] {
		xs = append(xs, new(big.Int).Neg(x))
	}
	return xs
}

// TestIntReprMatchesFullConversion: every int, alone or in a list cut
// anywhere, renders exactly as the full conversion did.
func TestIntReprMatchesFullConversion(t *testing.T) {
	xs := testInts()
	for _, lim := range []Limits{
		JSONLimits(), TerminalLimits(),
		{MaxString: 1, MaxRepr: 32}, {MaxString: 2, MaxRepr: 40}, {MaxString: 5, MaxRepr: 33},
		{MaxString: 4300, MaxRepr: 5000}, {MaxString: 1 << 20, MaxRepr: 1 << 20},
	} {
		lim = lim.normalise()
		for _, x := range xs {
			v := &model.Value{Kind: model.ValueInt, Type: "int", Int: x}
			want := oldIntRepr(x, lim.MaxString)
			w := &reprWriter{keep: lim.MaxRepr}
			w.WriteString(want)
			if got, exp := Repr(v, lim), w.cut(lim.MaxRepr); got != exp {
				t.Fatalf("%.20s… (%d bits), limits %+v: got …%q, want …%q", x, x.BitLen(), lim, got[max(0, len(got)-60):], exp[max(0, len(exp)-60):])
			}
		}
		// Lists: ints cut anywhere by --max-repr, and counted past it.
		for i := 0; i+5 <= len(xs); i += 5 {
			l := &model.Value{Kind: model.ValueList, Type: "list", Len: 5}
			var parts []string
			for _, x := range xs[i : i+5] {
				l.Items = append(l.Items, &model.Value{Kind: model.ValueInt, Type: "int", Int: x})
				parts = append(parts, oldIntRepr(x, lim.MaxString))
			}
			w := &reprWriter{keep: lim.MaxRepr}
			w.WriteString("[" + strings.Join(parts, ", ") + "]")
			if got, exp := Repr(l, lim), w.cut(lim.MaxRepr); got != exp {
				t.Fatalf("list at %d, limits %+v: got …%q, want …%q", i, lim, got[max(0, len(got)-60):], exp[max(0, len(exp)-60):])
			}
		}
	}
}

// TestIntDigitCount: the count is len(str(abs(x))), and the digits are
// what the interpreter's own repr() prints (limit lifted).
func TestIntDigitCount(t *testing.T) {
	xs := testInts()
	var in bytes.Buffer
	for _, x := range xs {
		fmt.Fprintf(&in, "%x\n", x)
	}
	got := askPython(t, `import sys
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
for line in sys.stdin:
    print(repr(int(line, 16)))`, in.Bytes())
	if len(got) != len(xs) {
		t.Fatalf("python answered %d lines for %d ints", len(got), len(xs))
	}
	var d intDigits
	for i, x := range xs {
		want := strings.TrimPrefix(got[i], "-")
		if n := d.count(x); n != len(want) {
			t.Fatalf("%d bits: %d digits, repr() has %d", x.BitLen(), n, len(want))
		}
		for _, n := range []int{0, 1, 7, 120, len(want)} {
			if n <= len(want) {
				if lead := d.lead(x, len(want), n); lead != want[:n] {
					t.Fatalf("%d bits: first %d digits %.40q, repr() has %.40q", x.BitLen(), n, lead, want[:n])
				}
			}
		}
		if old := x.String(); old != got[i] {
			t.Fatalf("%d bits: big.Int prints %.40q, repr() %.40q", x.BitLen(), old, got[i])
		}
	}
}
