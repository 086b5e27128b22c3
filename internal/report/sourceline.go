package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/model"
)

// MaxSource is the most display columns of a source line the text output
// shows: a minified or generated line can be megabytes long, and Python's
// own traceback, which prints it whole, is no model there.
const MaxSource = 160

// SourceLine is a frame's current source line as the text output shows it:
// stripped of surrounding whitespace as a traceback does, made Safe, and,
// when wider than MaxSource columns, cut to a window of that width around
// the running expression, each cut end saying how many characters it left
// out in CutName's style (`(+N chars)…` before, `…(+N chars)` after).
// col and endCol are the expression's UTF-8 byte offsets in raw (col < 0
// when unknown, endCol < col when it ends on a later line); marks are the
// carets under the stripped line (Carets), cut the same way so that they
// stay under their text.
func SourceLine(raw string, col, endCol int, marks string) (string, string) {
	trimmed := strings.TrimLeftFunc(raw, unicode.IsSpace)
	lead := len(raw) - len(trimmed)
	s := strings.TrimRightFunc(trimmed, unicode.IsSpace)
	if len(s) <= MaxSource || shownWidth(s) <= MaxSource {
		return Safe(s), marks
	}
	// The focus, in display columns of s: the carets when there are, else
	// the expression's columns.
	focus, fs, fe := false, 0, 0
	if m := strings.TrimRight(marks, " "); m != "" {
		focus, fs, fe = true, len(m)-len(strings.TrimLeft(m, " ")), len(m)
	} else if col >= lead && col-lead <= len(s) {
		at := func(off int) int { // columns before byte offset off of raw
			off = min(max(off-lead, 0), len(s))
			for off > 0 && off < len(s) && !utf8.RuneStart(s[off]) {
				off--
			}
			return shownWidth(s[:off])
		}
		focus, fs = true, at(col)
		fe = fs + 1
		if endCol > col {
			fe = max(at(endCol), fe)
		}
	}
	return cutSource(s, focus, fs, fe, marks)
}

// FocusOf and FocusEndOf are a frame's expression columns as SourceLine
// takes them: -1 when unknown, and an end before the start when the
// expression ends on a later line.
func FocusOf(f model.Frame) int {
	if f.Column == nil {
		return -1
	}
	return *f.Column
}

func FocusEndOf(f model.Frame) int {
	if f.EndColumn == nil || f.EndLine == nil || *f.EndLine != f.Line {
		return -1
	}
	return *f.EndColumn
}

// ListLine is a source line as py-list shows it (indentation kept): cut
// after MaxSource columns when wider, saying how many characters it left
// out.
func ListLine(line string) string {
	if len(line) <= MaxSource || shownWidth(line) <= MaxSource {
		return Safe(line)
	}
	s := strings.TrimRightFunc(line, unicode.IsSpace)
	text, _ := cutSource(s, false, 0, 0, "")
	return text
}

// cutSource cuts s to MaxSource columns, around columns [fs, fe) when
// focus (from their start when wider than the window), else from its
// start; marks are cut alike.
func cutSource(s string, focus bool, fs, fe int, marks string) (string, string) {
	width := shownWidth(s)
	start := 0
	if focus {
		if fe-fs >= MaxSource {
			start = fs
		} else {
			start = fs - (MaxSource-(fe-fs))/2
		}
		start = max(0, min(start, width-MaxSource))
	}
	end := start + MaxSource
	// Whole characters only: a wide one across an edge is left out.
	var b0, b1, col, before, after, from int
	b0, b1, from = -1, len(s), start
	for i, r := range s {
		w := cellWidth(s[i:], r)
		switch {
		case col < start:
			before++
		case b1 < len(s) || col+w > end:
			if b1 == len(s) {
				b1 = i
			}
			after++
		case b0 < 0:
			b0, from = i, col
		}
		col += w
	}
	if b0 < 0 {
		b0 = len(s)
	}
	text := Safe(s[b0:b1])
	var pre string
	if before > 0 {
		pre = fmt.Sprintf("(+%d %s)…", before, chars(before))
		text = pre + text
	}
	if after > 0 {
		text += fmt.Sprintf("…(+%d %s)", after, chars(after))
	}
	if marks != "" {
		to := from + shownWidth(s[b0:b1])
		m := ""
		if from < len(marks) {
			m = marks[from:min(to, len(marks))]
		}
		marks = ""
		if strings.TrimSpace(m) != "" {
			marks = strings.TrimRight(strings.Repeat(" ", runewidth.StringWidth(pre))+m, " ")
		}
	}
	return text, marks
}

// cellWidth is how many columns rune r, at the start of s, takes once
// Safe escaped it (an escape when it must be one).
func cellWidth(s string, r rune) int {
	n := utf8.RuneLen(r)
	if r == utf8.RuneError {
		_, n = utf8.DecodeRuneInString(s)
	}
	if unsafeRune(r, n) {
		if r == utf8.RuneError {
			return len(`\xff`)
		}
		return len(escapeRune(r))
	}
	return runewidth.RuneWidth(r)
}

// shownWidth is the columns Safe(s) takes.
func shownWidth(s string) int {
	w := 0
	for i, r := range s {
		w += cellWidth(s[i:], r)
	}
	return w
}

func chars(n int) string {
	if n == 1 {
		return "char"
	}
	return "chars"
}
