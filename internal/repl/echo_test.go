package repl

import "testing"

// TestUnescapeEcho: echo reads C escapes as gdb's does.
func TestUnescapeEcho(t *testing.T) {
	for in, want := range map[string]string{
		`done\n`:       "done\n",
		`a\tb`:         "a\tb",
		`\101\0102`:    "A\b2",
		`back\\slash`:  `back\slash`,
		`\"q\"`:        `"q"`,
		`trailing\`:    "trailing",
		`\e[1m`:        "\x1b[1m",
		`no escape`:    "no escape",
		`\x41\u00e9`:   "Aé",
		`\q unknown`:   "q unknown",
		`\777 too big`: "\xff too big",
	} {
		if got := unescapeEcho(in); got != want {
			t.Errorf("unescapeEcho(%q) = %q, want %q", in, got, want)
		}
	}
}
