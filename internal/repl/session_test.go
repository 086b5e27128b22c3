package repl

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/testenv"
)

// TestComplete checks the completer on a real target: commands, threads,
// names in scope and attributes.
func TestComplete(t *testing.T) {
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Minor == "3.12" {
			in = i
		}
	}
	tg := testenv.StartTarget(t, in, "session.py")
	prog, err := Open(strconv.Itoa(tg.PID), engine.Options{OwnSignals: true})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	s := &Session{prog: prog, selection: newSelection(), out: io.Discard, lim: cpython.TerminalLimits()}
	s.inf = &inferior{num: 1, prog: prog}
	s.infs = []*inferior{s.inf}
	s.cfg.Err = os.Stderr
	s.selectInitial()
	k := -1
	for _, th := range tg.Oracle.Threads {
		if th.Name != nil && *th.Name == "MainThread" {
			for i, f := range th.Frames {
				if f.Function == "handle" {
					k = i
				}
			}
		}
	}
	s.Exec("py-frame " + strconv.Itoa(k))
	cases := []struct {
		line string
		head string
		want []string
	}{
		{"py-b", "", []string{"py-bt ", "py-bt-full "}},
		{"info thr", "info ", []string{"threads"}},
		{"thread ", "thread ", []string{"1", "2", "3", "4", "apply"}},
		{"thread a", "thread ", []string{"apply"}},
		{"py-print sl", "py-print ", []string{"sleeper", "slice", "slotted"}}, // local, global, builtin
		{"py-print slo", "py-print ", []string{"slotted"}},
		{"py-print self.que", "py-print ", []string{"self.queue"}},
		{"p LIM", "p ", []string{"LIMIT"}},
		{"p le", "p ", []string{"len"}},
	}
	for _, c := range cases {
		head, got, tail := s.complete(c.line, len(c.line))
		if head != c.head || tail != "" || !slices.Equal(got, c.want) {
			t.Errorf("complete(%q) = %q %q %q, want %q %q", c.line, head, got, tail, c.head, c.want)
		}
	}
}

// infoLookup: a name, an alias or an abbreviation that fits one
// subcommand selects it; one that fits several is refused with their
// names, as gdb's "Ambiguous info command".
func TestInfoLookup(t *testing.T) {
	for sub, want := range map[string]string{"thr": "threads", "lock": "locks", "loca": "locals",
		"shared": "sharedlibrary", "signals": "signal", "f": "frame", "inf": "inferiors"} {
		c, err := infoLookup(sub)
		if err != nil || c.name != want {
			t.Errorf("info %s: %v, %v; want %s", sub, c, err, want)
		}
	}
	for sub, want := range map[string]string{"lo": "locals, locks", "loc": "locals, locks", "t": "tasks, threads",
		"s": "sharedlibrary, signal"} {
		_, err := infoLookup(sub)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ambiguous info command %q: %s.", sub, want)) {
			t.Errorf("info %s: %v; want it ambiguous between %s", sub, err, want)
		}
	}
	if _, err := infoLookup("nosuch"); err == nil || !strings.Contains(err.Error(), "undefined info command") {
		t.Errorf("info nosuch: %v", err)
	}
}
