package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	r := runPyscope(t, bin, nil, append(append([]string{"dump"}, args...), strconv.Itoa(tg.PID))...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var d valuesDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
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
					t.Errorf("%s %s %s:\n got  %s\n want %s", wf.Function, part.what, w.Name, show(g), show(w))
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

func show(v valueVar) string {
	r := v.Repr
	if len(r) > 400 {
		r = r[:400] + "..."
	}
	return fmt.Sprintf("kind=%s type=%q unbound=%v repr=%q", v.Kind, v.Type, v.Unbound, r)
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
