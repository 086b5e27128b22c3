package cpython

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"unicode"

	"pyscope/internal/pybuilds"
)

// The formatting functions are checked against the interpreter itself:
// Python 3.12, whose Unicode tables (15.0) are the ones Go 1.26 carries.
const reprOracleMinor = "3.12"

// askPython runs script with the test's input on stdin and returns its
// stdout lines.
func askPython(t *testing.T, script string, input []byte) []string {
	t.Helper()
	b, err := pybuilds.Get(reprOracleMinor)
	if err != nil {
		t.Fatalf("reference Python %s: %v", reprOracleMinor, err)
	}
	cmd := exec.Command(b.Python, "-c", script)
	cmd.Stdin = bytes.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\n%s", err, errb.String())
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestUnicodeVersionMatchesOracle(t *testing.T) {
	got := askPython(t, "import unicodedata; print(unicodedata.unidata_version)", nil)
	if len(got) != 1 || got[0] != unicode.Version {
		t.Fatalf("Python %s has Unicode %v, Go %s: pick the reference build whose tables match", reprOracleMinor, got, unicode.Version)
	}
}

// TestPrintableEveryCodePoint compares isPrintable with str.isprintable()
// (Py_UNICODE_ISPRINTABLE, what repr() uses) for every code point.
func TestPrintableEveryCodePoint(t *testing.T) {
	got := askPython(t, `import sys
sys.stdout.write("".join("1" if chr(c).isprintable() else "0" for c in range(0x110000)) + "\n")`, nil)
	if len(got) != 1 || len(got[0]) != 0x110000 {
		t.Fatal("bad answer from python")
	}
	bad := 0
	for c, f := range got[0] {
		if want := f == '1'; isPrintable(rune(c)) != want {
			if bad++; bad < 10 {
				t.Errorf("U+%04X: printable %v, Python says %v", c, !want, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d code points differ", bad)
	}
}

func TestFloatRepr(t *testing.T) {
	special := []float64{0, math.Copysign(0, -1), 1, -1, 100, 1e16, 1e15, 1e17, 123456789012345678, 1e22,
		1e-4, 1e-5, 0.1, 1.0 / 3, 2.5e-300, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
		9007199254740993, 1.5e-7, 0.0001, 0.00012345, 9999999999999998, 1e16 - 2, 12345678901234567890}
	r := rand.New(rand.NewPCG(1, 2))
	vals := append([]float64{}, special...)
	for i := 0; i < 20000; i++ {
		switch i % 3 {
		case 0:
			vals = append(vals, math.Float64frombits(r.Uint64()))
		case 1:
			vals = append(vals, float64(r.IntN(1<<20))*math.Pow(10, float64(r.IntN(44)-22)))
		default:
			vals = append(vals, r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)))
		}
	}
	var in bytes.Buffer
	for _, v := range vals {
		fmt.Fprintf(&in, "%016x\n", math.Float64bits(v))
	}
	got := askPython(t, `import sys, struct
for l in sys.stdin:
    print(repr(struct.unpack("<d", bytes.fromhex(l.strip())[::-1])[0]))`, in.Bytes())
	if len(got) != len(vals) {
		t.Fatalf("%d answers for %d floats", len(got), len(vals))
	}
	bad := 0
	for i, v := range vals {
		if s := FloatRepr(v); s != got[i] {
			if bad++; bad < 10 {
				t.Errorf("repr(%016x) = %q, Python says %q", math.Float64bits(v), s, got[i])
			}
		}
	}
	// complex: every pair of interesting parts.
	var pairs [][2]float64
	parts := append(special, 2.5, -2.5, 1e-7, -1e22)
	for _, a := range parts {
		for _, b := range parts {
			pairs = append(pairs, [2]float64{a, b})
		}
	}
	in.Reset()
	for _, p := range pairs {
		fmt.Fprintf(&in, "%016x %016x\n", math.Float64bits(p[0]), math.Float64bits(p[1]))
	}
	got = askPython(t, `import sys, struct
f = lambda h: struct.unpack("<d", bytes.fromhex(h)[::-1])[0]
for l in sys.stdin:
    a, b = l.split()
    print(repr(complex(f(a), f(b))))`, in.Bytes())
	for i, p := range pairs {
		if s := ComplexRepr(p[0], p[1]); s != got[i] {
			if bad++; bad < 20 {
				t.Errorf("repr(complex(%v, %v)) = %q, Python says %q", p[0], p[1], s, got[i])
			}
		}
	}
}

// TestStrBytesRepr checks quoting and escaping on random strings that mix
// quotes, backslashes, controls and code points of every width, including
// lone surrogates.
func TestStrBytesRepr(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() rune {
		switch r.IntN(8) {
		case 0:
			return []rune{'\'', '"', '\\', '\t', '\n', '\r', 0, 0x1b, 0x7f}[r.IntN(9)]
		case 1:
			return rune(r.IntN(0x100))
		case 2:
			return rune(0xd800 + r.IntN(0x800)) // surrogates
		case 3:
			return rune(r.IntN(0x10000))
		case 4:
			return rune(r.IntN(0x110000))
		default:
			return rune(0x20 + r.IntN(0x5f))
		}
	}
	var strs [][]rune
	for i := 0; i < 3000; i++ {
		s := make([]rune, r.IntN(12))
		for j := range s {
			s[j] = pick()
		}
		strs = append(strs, s)
	}
	var in bytes.Buffer
	for _, s := range strs {
		cps := make([]int, len(s))
		for i, c := range s {
			cps[i] = int(c)
		}
		b, _ := json.Marshal(cps)
		in.Write(append(b, '\n'))
	}
	got := askPython(t, `import sys, json
for l in sys.stdin:
    cps = json.loads(l)
    s = "".join(map(chr, cps))
    b = bytes(c & 0xff for c in cps)
    print(json.dumps([repr(s), repr(b), repr(bytearray(b))]))`, in.Bytes())
	if len(got) != len(strs) {
		t.Fatalf("%d answers for %d strings", len(got), len(strs))
	}
	bad := 0
	for i, s := range strs {
		var want [3]string
		if err := json.Unmarshal([]byte(got[i]), &want); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(s))
		for j, c := range s {
			b[j] = byte(c)
		}
		gs := []string{StrRepr(s), BytesRepr(b), ByteArrayRepr(b)}
		for k := range gs {
			if gs[k] != want[k] {
				if bad++; bad < 10 {
					t.Errorf("repr of %U: got %q, Python says %q", s, gs[k], want[k])
				}
			}
		}
	}
	if !strings.HasPrefix(StrRepr([]rune("it's")), `"`) {
		t.Error("quote choice")
	}
}
