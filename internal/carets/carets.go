// Package carets computes the markers CPython's traceback module (3.11+)
// prints under a frame's source line to show the running expression (PEP
// 657): `^^^^`, or `~~~~^^^` where it finds a binary operator or a call's
// or subscript's brackets. It follows the rules of the target's version,
// which changed in 3.13, so that pyscope marks a frame as the target's own
// traceback would.
package carets

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// Bounds of the source one location may span: beyond them, no markers.
const (
	maxLines = 200
	maxBytes = 64 << 10
)

// Line returns the markers under a frame's first source line, aligned to
// that line with its surrounding whitespace stripped (how pyscope prints
// it), or "" where CPython prints none. minor is the target's minor
// version (11 for 3.11). lines are the source lines of the location, from
// its first to its last; col and endCol are its UTF-8 byte columns on the
// first and last of them.
func Line(minor int, lines []string, col, endCol int) (out string) {
	defer func() {
		if recover() != nil { // malformed input never breaks a dump
			out = ""
		}
		if strings.TrimSpace(out) == "" { // CPython may print a blank line; nothing to show
			out = ""
		}
	}()
	if minor < 11 || len(lines) == 0 || len(lines) > maxLines || col < 0 || endCol < 0 {
		return ""
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	if size > maxBytes {
		return ""
	}
	if minor <= 12 {
		return line311(lines, col, endCol)
	}
	return line313(lines, col, endCol)
}

// charOffset is traceback's _byte_offset_to_character_offset: the number
// of characters in the first off bytes of s.
func charOffset(s string, off int) int {
	if off > len(s) {
		off = len(s)
	}
	return utf8.RuneCountInString(s[:off])
}

// byteOffset is the byte offset of character n of s (len(s) past the end).
func byteOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// displayWidth is traceback's _display_width: columns of the first n
// characters, East Asian wide and fullwidth characters counting two.
func displayWidth(s string, n int) int {
	w := 0
	for _, r := range s {
		if n == 0 {
			break
		}
		n--
		if r >= utf8.RuneSelf && runewidth.RuneWidth(r) == 2 {
			w += 2
		} else {
			w++
		}
	}
	return w + max(n, 0)
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func isSpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

func strip(s string) string  { return strings.TrimFunc(s, isSpace) }
func lstrip(s string) string { return strings.TrimLeftFunc(s, isSpace) }
func rstrip(s string) string { return strings.TrimRightFunc(s, isSpace) }

// anchors are where the secondary markers (^) go inside the primary ones
// (~), in characters: from left on line leftLine to right on rightLine.
type anchors struct {
	leftLine, left, rightLine, right int
}

// line311 follows 3.11 and 3.12's StackSummary.format_frame_summary.
func line311(lines []string, col, endCol int) string {
	line := lines[0] + "\n" // linecache keeps the newline
	stripped := strip(line)
	if stripped == "" {
		return ""
	}
	strippedChars := runes(line) - runes(stripped)
	start, end := charOffset(line, col), charOffset(line, endCol)
	var a *anchors
	if len(lines) == 1 {
		a = anchors311(substr(line, start, end))
	} else {
		end = runes(rstrip(line))
	}
	if !(end-start < runes(stripped) || a != nil && a.right-a.left > 0) {
		return ""
	}
	dpStart, dpEnd := displayWidth(line, start)+1, displayWidth(line, end)+1
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", max(dpStart-strippedChars, 0)))
	if a != nil {
		seg := substr(line, start, end)
		l, r := displayWidth(seg, a.left), displayWidth(seg, a.right)
		b.WriteString(strings.Repeat("~", max(l, 0)))
		b.WriteString(strings.Repeat("^", max(r-l, 0)))
		b.WriteString(strings.Repeat("~", max(dpEnd-dpStart-r, 0)))
	} else {
		b.WriteString(strings.Repeat("^", max(dpEnd-dpStart, 0)))
	}
	return b.String()
}

// substr is s[from:to] in characters, clamped as Python slices are.
func substr(s string, from, to int) string {
	n := runes(s)
	from, to = min(max(from, 0), n), min(max(to, 0), n)
	if to < from {
		return ""
	}
	return s[byteOffset(s, from):byteOffset(s, to)]
}

// anchors311 is 3.11's _extract_caret_anchors_from_line_segment: the
// segment must parse as one expression statement, a binary operation or a
// subscript.
func anchors311(seg string) *anchors {
	n, ok := parseExpr(seg)
	if !ok || strings.HasPrefix(seg, " ") || strings.HasPrefix(seg, "\t") {
		return nil
	}
	chars := []rune(seg)
	norm := func(off int) int { return charOffset(seg, off) }
	switch n.kind {
	case binOp:
		opStr := chars[min(norm(n.left.end), len(chars)):max(min(norm(n.right.start), len(chars)), min(norm(n.left.end), len(chars)))]
		opOff := len(opStr) - len([]rune(lstrip(string(opStr))))
		left := n.left.end + opOff
		right := left + 1
		if opOff+1 < len(opStr) && !isSpace(opStr[opOff+1]) {
			right++
		}
		for left < len(chars) && (isSpace(chars[left]) || chars[left] == ')' || chars[left] == '#') {
			left++
			right++
		}
		return &anchors{left: norm(left), right: norm(right)}
	case subscript:
		left := norm(n.callee.end)
		for left < len(chars) && chars[left] != '[' {
			left++
		}
		return &anchors{left: left, right: len(chars)}
	}
	return nil
}

// dedent is textwrap.dedent on lines without their newlines: the longest
// common leading whitespace of the lines that are not blank is removed.
func dedent(lines []string) []string {
	margin, first := "", true
	for _, l := range lines {
		if strip(l) == "" {
			continue
		}
		ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		switch {
		case first:
			margin, first = ws, false
		case strings.HasPrefix(ws, margin):
		case strings.HasPrefix(margin, ws):
			margin = ws
		default:
			i := 0
			for i < len(ws) && i < len(margin) && ws[i] == margin[i] {
				i++
			}
			margin = margin[:i]
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if strip(l) == "" {
			continue
		}
		out[i] = strings.TrimPrefix(l, margin)
	}
	return out
}

// line313 follows 3.13's StackSummary.format_frame_summary for the first
// line of the location (3.13 shows every line of a multi-line one; pyscope
// shows the first).
func line313(lines []string, col, endCol int) string {
	orig := make([]string, len(lines))
	for i, l := range lines {
		orig[i] = rstrip(l)
	}
	all := dedent(orig)
	if strip(strings.Join(all, "\n")) == "" {
		return ""
	}
	last := len(all) - 1
	dedentChars := runes(orig[0]) - runes(all[0])
	start := max(0, charOffset(orig[0], col)-dedentChars)
	end := max(0, charOffset(orig[last], endCol)-dedentChars)
	dpStart, dpEnd := displayWidth(all[0], start), displayWidth(all[last], end)
	joined := strings.Join(all, "\n")
	seg := substr(joined, start, runes(joined)-(runes(all[last])-end))
	a := anchors313(seg)
	if !showCarets313(start, end, all, a) {
		return ""
	}
	line0 := all[0]
	spaces := runes(line0) - runes(lstrip(line0))
	numCarets := dpEnd
	if last > 0 {
		numCarets = displayWidth(line0, runes(line0))
	}
	var aLeft, aRight int
	if a != nil {
		aLeft, aRight = a.left, a.right
		if a.leftLine == 0 {
			aLeft += start
		}
		if a.rightLine == 0 {
			aRight += start
		}
		aLeft = displayWidth(all[a.leftLine], aLeft)
		aRight = displayWidth(all[a.rightLine], aRight)
	}
	var b strings.Builder
	for c := spaces; c < numCarets; c++ {
		switch {
		case c < dpStart:
			b.WriteByte(' ')
		case a != nil && (0 > a.leftLine || 0 == a.leftLine && c >= aLeft) && (0 < a.rightLine || 0 == a.rightLine && c < aRight):
			b.WriteByte('^')
		case a != nil:
			b.WriteByte('~')
		default:
			b.WriteByte('^')
		}
	}
	return b.String()
}

// showCarets313 is 3.13's _should_show_carets.
func showCarets313(start, end int, all []string, a *anchors) bool {
	if exempt313(start, end, all) {
		return false
	}
	if a != nil {
		return true
	}
	return strip(substr(all[0], 0, start)) != "" || rstrip(substr(all[len(all)-1], end, runes(all[len(all)-1]))) != ""
}

// exempt313: `return f(...)` (f a name) and `name = g(...)`, the call
// being the whole statement, show no carets on 3.13+. ast's columns are
// bytes and traceback's characters, so any non-ASCII text before the end
// of the call defeats the exemption, as it does in CPython.
func exempt313(start, end int, all []string) bool {
	prefix := substr(all[0], 0, start)
	lastLine := all[len(all)-1]
	suffix := strings.TrimSpace(substr(lastLine, end, runes(lastLine)))
	if !isASCII(prefix) || !isASCII(substr(lastLine, 0, end)) {
		return false
	}
	if suffix != "" && !strings.HasPrefix(suffix, "#") && !strings.HasPrefix(suffix, ";") {
		return false
	}
	joined := strings.Join(all, "\n")
	seg := substr(joined, start, runes(joined)-(runes(lastLine)-end))
	n, ok := parseExpr(seg)
	if !ok || n.kind != call || n.span != (span{0, len(seg)}) {
		return false
	}
	p := strings.TrimSpace(prefix)
	if p == "return" {
		return n.calleeName && strings.TrimRight(prefix, " \t") != prefix
	}
	name, eq := strings.CutSuffix(p, "=")
	name = strings.TrimSpace(name)
	return eq && isIdentifier(name) && !strings.HasSuffix(name, "=") && !strings.ContainsAny(name, "!<>")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isIdentifier(s string) bool {
	if s == "" || keywords[s] {
		return false
	}
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// anchors313 is 3.13's _extract_caret_anchors_from_line_segment, on a
// segment that may span lines.
func anchors313(seg string) (a *anchors) {
	n, ok := parseExpr(seg)
	if !ok {
		return nil
	}
	lines := strings.Split(seg, "\n")
	starts := make([]int, len(lines)) // byte offset of each line in seg
	for i := 1; i < len(lines); i++ {
		starts[i] = starts[i-1] + len(lines[i-1]) + 1
	}
	// pos turns a byte offset in seg into (line, character).
	pos := func(off int) (int, int) {
		l := 0
		for l+1 < len(lines) && starts[l+1] <= off {
			l++
		}
		return l, charOffset(lines[l], off-starts[l])
	}
	chars := make([][]rune, len(lines))
	for i, l := range lines {
		chars[i] = []rune(l)
	}
	lineLen := func(l int) int { return len(chars[l]) }
	at := func(l, c int) rune { return chars[l][c] }
	invalid := false
	nextValid := func(l, c int) (int, int) {
		for l < len(lines) && c >= lineLen(l) {
			c, l = 0, l+1
		}
		if l >= len(lines) {
			invalid = true // CPython's assertion fails: no anchors
			return len(lines) - 1, 0
		}
		return l, c
	}
	until := func(l, c int, stop func(rune) bool) (int, int) {
		for steps := 0; !invalid && steps <= len(seg); steps++ {
			ch := at(l, c)
			switch {
			case ch == '\\' || ch == '#':
				l, c = nextValid(l+1, 0)
			case !stop(ch):
				l, c = nextValid(l, c+1)
			default:
				return l, c
			}
		}
		invalid = true
		return l, c
	}
	switch n.kind {
	case binOp:
		l, c := nextValid(pos(n.left.end))
		if invalid {
			return nil
		}
		l, c = until(l, c, func(r rune) bool { return !isSpace(r) && r != ')' })
		if invalid {
			return nil
		}
		right := c + 1
		rl, rc := pos(n.right.start)
		if right < lineLen(l) && (rl > l || right < rc) && !isSpace(at(l, right)) && at(l, right) != '\\' && at(l, right) != '#' {
			right++
		}
		return &anchors{leftLine: l, left: c, rightLine: l, right: right}
	case call, subscript:
		bracket := '('
		if n.kind == subscript {
			bracket = '['
		}
		l, c := nextValid(pos(n.callee.end))
		if invalid {
			return nil
		}
		l, c = until(l, c, func(r rune) bool { return r == bracket })
		if invalid {
			return nil
		}
		rl, rc := pos(n.end)
		return &anchors{leftLine: l, left: c, rightLine: rl, right: rc}
	}
	return nil
}
