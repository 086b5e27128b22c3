package repl

import (
	"io"
	"os"
	"slices"
	"strconv"
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
