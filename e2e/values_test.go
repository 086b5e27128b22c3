package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// valuesOracle is what testdata/targets/values.py writes: per frame (the
// caller of report() first), its variables and module globals as the
// interpreter itself shows them.
type valuesOracle struct {
	PID     int `json:"pid"`
	Version string
	Frames  []valuesFrame `json:"frames"`
	// Parked is the thread blocked in threading's code, innermost first.
	Parked []struct {
		Function string   `json:"function"`
		Stdlib   bool     `json:"stdlib"`
		Globals  []string `json:"globals"`
	} `json:"parked"`
}

type valuesFrame struct {
	Function string     `json:"function"`
	Locals   []valueVar `json:"locals"`
	Globals  []valueVar `json:"globals"`
}

type valueVar struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Type    string `json:"type"`
	Repr    string `json:"repr"`
	Unbound bool   `json:"unbound"`
}

type valuesDump struct {
	Threads []struct {
		Name   *string       `json:"name"`
		IsMain bool          `json:"is_main"`
		Frames []valuesFrame `json:"frames"`
	} `json:"threads"`
}

// startValues runs values.py and reads its oracle.
func startValues(t *testing.T, in testenv.Interp) (*testenv.Target, *valuesOracle) {
	t.Helper()
	oraclePath := filepath.Join(t.TempDir(), "oracle.json")
	tg := testenv.StartPlain(t, in, "values.py", "ready", oraclePath)
	raw, err := os.ReadFile(oraclePath)
	if err != nil {
		t.Fatal(err)
	}
	var o valuesOracle
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("oracle: %v", err)
	}
	if o.PID != tg.PID || len(o.Frames) < 5 {
		t.Fatalf("oracle of pid %d with %d frames, want pid %d", o.PID, len(o.Frames), tg.PID)
	}
	return tg, &o
}

// mainFrames runs pyscope with args and returns the main thread's frames
// below report() (whose own locals the oracle does not describe).
func mainFrames(t *testing.T, bin string, tg *testenv.Target, args ...string) []valuesFrame {
	t.Helper()
	d := valuesDumpOf(t, bin, tg, args...)
	for _, th := range d.Threads {
		if th.IsMain {
			if len(th.Frames) == 0 || th.Frames[0].Function != "report" {
				t.Fatalf("main thread is not blocked in report(): %+v", th.Frames)
			}
			return th.Frames[1:]
		}
	}
	t.Fatal("no main thread in the dump")
	return nil
}

func valuesDumpOf(t *testing.T, bin string, tg *testenv.Target, args ...string) *valuesDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump"}, args...), strconv.Itoa(tg.PID))...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var d valuesDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	return &d
}

// checkStdlibGlobals: --globals leaves out the globals of standard-library
// modules (threading's, under the parked thread), which the target itself
// places under its stdlib directory, and --stdlib-globals shows them.
func checkStdlibGlobals(t *testing.T, bin string, tg *testenv.Target, o *valuesOracle) {
	t.Helper()
	for _, all := range []bool{false, true} {
		args := []string{"--globals", "--json"}
		if all {
			args = []string{"--stdlib-globals", "--json"}
		}
		d := valuesDumpOf(t, bin, tg, args...)
		var frames []valuesFrame
		for _, th := range d.Threads {
			if th.Name != nil && *th.Name == "parked" {
				frames = th.Frames
			}
		}
		if len(frames) != len(o.Parked) {
			t.Fatalf("%v: parked thread has %d frames, the target says %d", args, len(frames), len(o.Parked))
		}
		stdlib, user := 0, 0
		for i, w := range o.Parked {
			g := frames[i]
			want := strings.Join(w.Globals, " ")
			if w.Stdlib && !all {
				want = ""
				stdlib++
			} else if !w.Stdlib {
				user++
			}
			if got := names(g.Globals); g.Function != w.Function || got != want {
				t.Errorf("%v: frame %d %s (stdlib %v) globals:\n got  %s\n want %s", args, i, w.Function, w.Stdlib, got, want)
			}
		}
		if stdlib == 0 && !all || user == 0 {
			t.Errorf("the parked thread should run both stdlib and user code: %+v", o.Parked)
		}
	}
}

// checkMaxRepr: --max-repr 80 prints at most 80 characters, the note of
// the cut included, and the note counts exactly what the target's own
// repr() has beyond the cut.
func checkMaxRepr(t *testing.T, want, got []valuesFrame) {
	t.Helper()
	const max = 80
	cut := 0
	noteRe := regexp.MustCompile(`…\(\+(\d+) chars?\)$`)
	for i, wf := range want {
		for j, w := range wf.Locals {
			g := got[i].Locals[j].Repr
			wr, gr := []rune(w.Repr), []rune(g)
			if len(wr) <= max {
				if g != w.Repr {
					t.Errorf("%s %s: %q, want %q", wf.Function, w.Name, g, w.Repr)
				}
				continue
			}
			cut++
			m := noteRe.FindStringSubmatch(g)
			if len(gr) > max || m == nil {
				t.Errorf("%s %s: %d characters, want at most %d with the note of the cut: %q", wf.Function, w.Name, len(gr), max, g)
				continue
			}
			prefix := []rune(strings.TrimSuffix(g, m[0]))
			n, _ := strconv.Atoi(m[1])
			if !strings.HasPrefix(w.Repr, string(prefix)) || len(prefix)+n != len(wr) || len(prefix) < max/2 {
				t.Errorf("%s %s: cut %q +%d, but repr() is %d characters: %.120q", wf.Function, w.Name, string(prefix), n, len(wr), w.Repr)
			}
		}
	}
	if cut < 10 {
		t.Errorf("only %d reprs were longer than %d characters", cut, max)
	}
	t.Logf("%d reprs cut at %d characters, note included", cut, max)
}

// TestValues compares every argument, local, cell, free variable and
// global pyscope shows with the repr() the target computed itself, on
// every interpreter of the matrix.
func TestValues(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg, o := startValues(t, in)
			// Limits high enough that nothing is abbreviated.
			got := mainFrames(t, bin, tg, "--locals", "--globals", "--json",
				"--max-string", "100000", "--max-items", "5000", "--max-repr", "10000000")
			compareVars(t, o.Frames, got)
			checkLimits(t, o.Frames, mainFrames(t, bin, tg, "--locals", "--json"))
			checkMaxRepr(t, o.Frames, mainFrames(t, bin, tg, "--locals", "--json",
				"--max-string", "100000", "--max-items", "5000", "--max-repr", "80"))
			checkStdlibGlobals(t, bin, tg, o)
			checkText(t, bin, tg)
			tg.CheckRunning(t)
		})
	}
}

func compareVars(t *testing.T, want, got []valuesFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames below report(), the target has %d", len(got), len(want))
	}
	n := 0
	for i, wf := range want {
		gf := got[i]
		if gf.Function != wf.Function {
			t.Fatalf("frame %d is %s, want %s", i, gf.Function, wf.Function)
		}
		for _, part := range []struct {
			what      string
			want, got []valueVar
		}{{"locals", wf.Locals, gf.Locals}, {"globals", wf.Globals, gf.Globals}} {
			if names(part.got) != names(part.want) {
				t.Errorf("%s %s:\n got  %s\n want %s", wf.Function, part.what, names(part.got), names(part.want))
				continue
			}
			for j, w := range part.want {
				g := part.got[j]
				n++
				if g != w {
					at := firstDiff(g.Repr, w.Repr)
					t.Errorf("%s %s %s (reprs differ at byte %d):\n got  %s\n want %s", wf.Function, part.what, w.Name, at, show(g, at), show(w, at))
				}
			}
		}
	}
	t.Logf("%d variables match the target's own repr()", n)
}

func names(vs []valueVar) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name)
	}
	return strings.Join(s, " ")
}

// show prints a variable with 400 bytes of its repr around byte at.
func show(v valueVar, at int) string {
	r := v.Repr
	if start := max(0, at-200); len(r) > 400 {
		r = "..." + r[start:min(len(r), start+400)] + "..."
	}
	return fmt.Sprintf("kind=%s type=%q unbound=%v repr=%q", v.Kind, v.Type, v.Unbound, r)
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func find(t *testing.T, frames []valuesFrame, fn, name string) valueVar {
	t.Helper()
	for _, f := range frames {
		if f.Function != fn {
			continue
		}
		for _, v := range f.Locals {
			if v.Name == name {
				return v
			}
		}
	}
	t.Fatalf("no variable %s in %s", name, fn)
	return valueVar{}
}

// checkLimits: with the --json defaults (8192 characters or digits, 1000
// items) long values are cut exactly where documented and say how much
// is missing.
func checkLimits(t *testing.T, want, got []valuesFrame) {
	t.Helper()
	long := find(t, want, "scalars", "long_str").Repr // 'abc…' quoted
	body := long[1 : len(long)-1]
	exp := long[:1] + body[:8192] + long[:1] + fmt.Sprintf("…(+%d chars)", len(body)-8192)
	if g := find(t, got, "scalars", "long_str").Repr; g != exp {
		t.Errorf("long_str: got %.80q…, want %.80q…", g, exp)
	}
	huge := find(t, want, "scalars", "huge").Repr
	exp = huge[:8192] + fmt.Sprintf("…(+%d digits)", len(huge)-8192)
	if g := find(t, got, "scalars", "huge").Repr; g != exp {
		t.Errorf("huge: got %.80q, want %.80q", g[len(g)-40:], exp[len(exp)-40:])
	}
	items := strings.Split(strings.Trim(find(t, want, "containers", "many").Repr, "[]"), ", ")
	exp = "[" + strings.Join(items[:1000], ", ") + fmt.Sprintf(", …(+%d items)]", len(items)-1000)
	if g := find(t, got, "containers", "many").Repr; g != exp {
		t.Errorf("many: got …%q, want …%q", g[max(0, len(g)-40):], exp[len(exp)-40:])
	}
}

// checkText: the text output shows the same variables with everything the
// target controls escaped: no raw control or bidi characters reach the
// terminal.
func checkText(t *testing.T, bin string, tg *testenv.Target) {
	t.Helper()
	r := runPyscope(t, bin, nil, "dump", "--locals", "--globals", "--color", "never", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("pyscope dump --locals: exit %d\n%s", r.code, r.stderr)
	}
	for _, bad := range []string{"\x1b", "\x07", "\x08", "\r", "\u202e"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("text output holds a raw %q", bad)
		}
	}
	for _, want := range []string{
		`local evil = <Evil\x1b[2J\x07\u202e() at 0x`,
		`local hostile = '\x1b[2J\x1b[H\rowned\x08\u202e'`,
		`arg   a = 1`, `local later = <unbound>`, `free  cell_var = [1500]`,
		`global G_INT = 42`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("text output:\n%.6000s", r.stdout)
	}
}
