package carets

import (
	"strings"
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzLine feeds arbitrary source text and columns: source files come from
// the target, so the analysis must never panic or loop.
func FuzzLine(f *testing.F) {
	f.Add(13, "    return f(a) + g[b]\n", 11, 22)
	f.Add(11, "x = (a\n     + b)", 4, 9)
	f.Add(12, "print(f'{x[\"k\"]!r:>{w}}', '''a\nb''')", 0, 30)
	f.Add(14, "d['界面'] = f(é) ** -b", 12, 24)
	fuzzguard.Fuzz(f, func(t *testing.T, minor int, src string, col, endCol int) {
		lines := strings.Split(src, "\n")
		for _, m := range []int{minor, 11, 13} {
			out := Line(m, lines, col, endCol)
			if strings.Trim(out, " ^~") != "" {
				t.Fatalf("markers %q contain other characters", out)
			}
		}
	})
}
