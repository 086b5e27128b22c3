package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"pyscope/internal/wtf8"
)

// Safe makes text from the target harmless for a terminal: control
// characters (C0, DEL, C1), bidi overrides and invalid UTF-8 are shown as
// escapes, so a hostile process cannot drive the user's terminal. A lone
// surrogate of a Python str (package wtf8) is \udc80, as repr() writes
// it. Printable text, including non-ASCII, passes unchanged.
func Safe(s string) string {
	// Most text is printable ASCII: check bytes before decoding runes.
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	clean := true
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if r, ok := wtf8.Surrogate(s[i:]); ok {
			fmt.Fprintf(&b, `\u%04x`, r)
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r, n):
			b.WriteString(escapeRune(r))
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi controls
	}
	return false
}

func escapeRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case 0x1b:
		return `\x1b`
	}
	if r < 0x100 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// MaxName is how many characters of a name the text output shows: a
// thread's, a function's, a file's, a task's. The target bounds them only
// by what pyscope reads (a million characters), and a name is printed on
// every line that shows it.
const MaxName = 256

// Name is CutName(s) made Safe: how the text output shows a name.
func Name(s string) string { return Safe(CutName(s)) }

// CutName is s cut after MaxName characters (as Python counts them), with
// the note reprs use for a cut, `name…(+N chars)`; not escaped.
func CutName(s string) string {
	if len(s) <= MaxName { // bytes: never more characters than that
		return s
	}
	n := wtf8.Len(s)
	if n <= MaxName {
		return s
	}
	more := n - MaxName
	unit := "chars"
	if more == 1 {
		unit = "char"
	}
	return wtf8.Prefix(s, MaxName) + fmt.Sprintf("…(+%d %s)", more, unit)
}
