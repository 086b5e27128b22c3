package e2e

import (
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

const (
	evilFunc   = "evil\x1b[31mred\x1b[0m\rover\bwrite"
	evilFile   = "/nonexistent/\x1b]0;pwned\x07\u202eyp.txt"
	evilThread = "thread\x1b[2J\u202ename"
)

// TestHostileNames: escape sequences in names from the target are escaped
// on a terminal and exact in JSON.
func TestHostileNames(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if strings.HasPrefix(in.Name, "venv") {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "hostile.py")
			// JSON keeps the exact text.
			r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			d := decodeDump(t, r.stdout)
			compareDump(t, tg, d)
			found := false
			for _, th := range d.Threads {
				if th.Name != nil && *th.Name == evilThread {
					found = true
					ok := false
					for _, f := range th.Frames {
						ok = ok || f.Function == evilFunc && f.Qualname == evilFunc && f.File == evilFile
					}
					if !ok {
						t.Errorf("evil frame not exact in JSON: %+v", th.Frames)
					}
				}
			}
			if !found {
				t.Error("the evil thread name is not exact in JSON")
			}
			// Text, even forced to colour as on a terminal, carries no
			// control character from the target.
			for _, args := range [][]string{{"dump"}, {"dump", "--color=always"}} {
				r := runPyscope(t, bin, nil, append(args, strconv.Itoa(tg.PID))...)
				out := r.stdout
				if args[len(args)-1] == "--color=always" {
					// pyscope's own colours are SGR sequences; drop them first.
					for _, c := range []string{"\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m"} {
						out = strings.ReplaceAll(out, c, "")
					}
				}
				for _, bad := range []string{"\x1b", "\r", "\b", "\x07", "\u202e"} {
					if strings.Contains(out, bad) {
						t.Errorf("%v: raw %q from the target reached the output", args, bad)
					}
				}
				for _, want := range []string{`evil\x1b[31mred\x1b[0m\rover\x08write`, `\x1b]0;pwned\x07\u202eyp.txt`, `thread\x1b[2J\u202ename`} {
					if !strings.Contains(out, want) {
						t.Errorf("%v: escaped form %q missing", args, want)
					}
				}
			}
			tg.CheckRunning(t)
		})
	}
}
