package report

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/fuzzguard"
)

var cutRE = regexp.MustCompile(`^(?:\(\+\d+ chars?\)…)?(.*?)(?:…\(\+\d+ chars?\))?$`)

// FuzzSourceLine: whatever the line, columns and markers (source files are
// the target's), SourceLine never panics, keeps at most MaxSource columns
// of the line between its notes, and its markers stay ASCII and no wider
// than the line it shows.
func FuzzSourceLine(f *testing.F) {
	f.Add("    x = "+strings.Repeat("a", 400)+" + f(1)", 410, 414, strings.Repeat(" ", 406)+"^^^^")
	f.Add(strings.Repeat("é中x", 200), 5, 2, "")
	f.Add(strings.Repeat("\x1b[31m", 100), -1, -1, "  ^^^")
	f.Add("short", 0, 5, "^^^^^")
	fuzzguard.Fuzz(f, func(t *testing.T, raw string, col, endCol int, marks string) {
		if !utf8.ValidString(marks) || strings.Trim(marks, " ~^") != "" {
			return // Carets makes only these
		}
		text, m := SourceLine(raw, col, endCol, marks)
		kept := cutRE.FindStringSubmatch(text)[1]
		if strings.Contains(text, "chars)") && runewidth.StringWidth(kept) > MaxSource {
			t.Fatalf("%d columns kept: %q", runewidth.StringWidth(kept), text)
		}
		if strings.Trim(m, " ~^") != "" {
			t.Fatalf("markers %q", m)
		}
		if strings.Contains(text, "chars)") && len(m) > runewidth.StringWidth(text) {
			t.Fatalf("markers %q wider than %q", m, text)
		}
		ListLine(raw)
	})
}
