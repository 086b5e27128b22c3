package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/report"
	"pyscope/internal/testenv"
)

// longLine is what longline.py says of its caller's line.
type longLine struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  *int   `json:"col"`
	End  *int   `json:"end"`
	Text string `json:"text"`
	// Carets is what traceback prints under the stripped line ("" before
	// 3.11).
	Carets string `json:"carets"`
}

var cutRE = regexp.MustCompile(`^(?:\(\+(\d+) chars\)…)?(.*?)(?:…\(\+(\d+) chars\))?$`)

// checkLongLine checks the source line (and carets) shown under frame
// line `File "FILE", line N` in out: cut to report.MaxSource columns
// around the running call, each cut saying how many characters it left
// out, the text kept being the line's own, and the carets under the call.
func checkLongLine(t *testing.T, what, out string, ll longLine) {
	t.Helper()
	head := fmt.Sprintf("File \"%s\", line %d, in <module>\n", ll.File, ll.Line)
	_, rest, ok := strings.Cut(out, head)
	if !ok {
		t.Fatalf("%s: no frame %q in:\n%s", what, head, out)
	}
	lines := strings.SplitN(rest, "\n", 3)
	shown := strings.TrimPrefix(lines[0], "    ")
	m := cutRE.FindStringSubmatch(shown)
	before, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[3])
	kept := m[2]
	stripped := []rune(strings.TrimFunc(ll.Text, unicode.IsSpace))
	if w := runewidth.StringWidth(kept); w > report.MaxSource || before == 0 && after == 0 {
		t.Fatalf("%s: a line of %d characters shown %d columns wide, cut %d before and %d after:\n%.300s",
			what, len(stripped), w, before, after, shown)
	}
	if before+len([]rune(kept))+after != len(stripped) || string(stripped[before:before+len([]rune(kept))]) != kept {
		t.Errorf("%s: the kept text is not the line's characters %d to %d:\n%s", what, before, len(stripped)-after, shown)
	}
	if ll.Col == nil {
		return // 3.10: no columns, no carets
	}
	call := ll.Text[*ll.Col:*ll.End]
	if !strings.Contains(kept, call) {
		t.Fatalf("%s: the running call %q is not in the window:\n%s", what, call, shown)
	}
	// The carets are the target's own, cut at the columns the text was.
	from := runewidth.StringWidth(string(stripped[:before]))
	to := min(from+runewidth.StringWidth(kept), len(ll.Carets))
	want := strings.TrimRight(strings.Repeat(" ", runewidth.StringWidth(shown)-runewidth.StringWidth(strings.TrimPrefix(shown, shown[:strings.Index(shown, kept)])))+ll.Carets[min(from, to):to], " ")
	if got := strings.TrimPrefix(lines[1], "    "); strings.TrimSpace(ll.Carets) == "" || got != want {
		t.Errorf("%s: carets\n%s\nwant (traceback's, cut alike)\n%s\nunder\n%s", what, got, want, shown)
	}
}

// TestLongSourceLine: a frame whose current line is thousands of
// characters long (generated or minified code) shows in dump's text and
// py-bt cut to a window around the running call, with its carets; JSON
// keeps no source text.
func TestLongSourceLine(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "longline.py", "ready")
			var ll longLine
			targetJSON(t, tg, "longline.json", &ll)
			r := runPyscope(t, bin, nil, "dump", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("dump: exit %d\n%s", r.code, r.stderr)
			}
			checkLongLine(t, "dump", r.stdout, ll)
			r = runPyscope(t, bin, nil, "debug", strconv.Itoa(tg.PID), "--batch", "-ex", "py-bt")
			if r.code != 0 {
				t.Fatalf("debug: exit %d\n%s", r.code, r.stderr)
			}
			checkLongLine(t, "py-bt", r.stdout, ll)
			if err := testenv.NotStopped(tg.PID); err != nil {
				t.Error(err)
			}
		})
	}
}
