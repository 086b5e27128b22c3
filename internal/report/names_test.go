package report

import (
	"strings"
	"testing"

	"pyscope/internal/wtf8"
)

// A name is cut after MaxName characters (not bytes), escaped after the
// cut, with the note reprs use.
func TestNameCut(t *testing.T) {
	full := strings.Repeat("ñ", MaxName)
	for _, c := range []struct{ in, want string }{
		{full, full},
		{full + "x", full + "…(+1 char)"},
		{full + "\x1b[2J", full + "…(+4 chars)"},
		{"\x1b" + full, `\x1b` + strings.Repeat("ñ", MaxName-1) + "…(+1 char)"},
		{strings.Repeat("x", MaxName-1) + wtf8.FromRunes([]rune{0xdc80, 0xdc80}), strings.Repeat("x", MaxName-1) + `\udc80…(+1 char)`},
	} {
		if got := Name(c.in); got != c.want {
			t.Errorf("Name(%.20q…): %q, want %q", c.in, got, c.want)
		}
	}
}
