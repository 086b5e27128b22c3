package repl

import (
	"strings"
	"testing"
	"unicode/utf8"

	"pyscope/internal/fuzzguard"
)

func TestParseExpr(t *testing.T) {
	cases := []struct{ in, want string }{
		{"x", "x"},
		{"self.queue[0].priority", "self.queue[0].priority"},
		{`d["key"]`, "d['key']"},
		{"items[-1]", "items[-1]"},
		{"items[ - 2 ]", "items[-2]"},
		{"m[0x10]", "m[16]"},
		{`d[b"raw"]`, "d[b'raw']"},
		{`d['it\'s']`, `d["it's"]`},
		{"d[None][True][False]", "d[None][True][False]"},
		{"  a . b  ", "a.b"},
		{"été.ñ", "été.ñ"},
	}
	for _, c := range cases {
		e, err := ParseExpr(c.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("ParseExpr(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "1x", "a.", "a[", "a[]", "a[b]", "a(1)", `a["x]`, "a[1", "a..b", "a[99999999999999999999]", `a[b"é"]`, "a b"} {
		if _, err := ParseExpr(bad); err == nil {
			t.Errorf("ParseExpr(%q) accepted", bad)
		}
	}
}

// FuzzParseExpr: never panics, and what it accepts prints back to an
// expression that parses to the same thing.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"self.queue[0].priority", `d["key"]`, "items[-1]", `x[b'\x00']`, `d['\u00e9']`, "a[None]"} {
		f.Add(s)
	}
	fuzzguard.Fuzz(f, func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			return
		}
		back := e.String()
		e2, err := ParseExpr(back)
		if err != nil {
			t.Fatalf("%q parsed, but its printed form %q does not: %v", s, back, err)
		}
		if e2.String() != back {
			t.Fatalf("%q → %q → %q", s, back, e2.String())
		}
		if !utf8.ValidString(e.Name) || strings.ContainsAny(e.Name, ".[ ") {
			t.Fatalf("bad name %q from %q", e.Name, s)
		}
	})
}
