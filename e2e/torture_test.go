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

// tortureOracle is what testdata/targets/torture.py says about the stacks
// its workers can have (see its docstring).
type tortureOracle struct {
	Outer   map[string][][]any        `json:"outer"`   // ident -> [[name, file, line]] outermost first
	Calls   map[string]map[string]any `json:"calls"`   // function -> line -> callee
	Lines   map[string][]int          `json:"lines"`   // function -> lines with code
	Workers map[string]int            `json:"workers"` // ident -> tag
	File    string                    `json:"file"`
}

type tortureDump struct {
	Threads []struct {
		ThreadID uint64         `json:"thread_id"`
		State    string         `json:"state"`
		Frames   []tortureFrame `json:"frames"`
	} `json:"threads"`
}

const tortureMaxDepth = 12 // MAXDEPTH in torture.py

// TestTornFrames: eight threads recurse and return as fast as they can,
// truly in parallel on the free-threaded build, and 1,000 dumps must never
// show a torn frame. A stack is torn when it is not one the thread could
// have had, as the target itself describes its program:
//   - its frames outside worker() are not the ones traceback gave;
//   - a frame that is not the innermost is not at a call site of the next
//     frame's function (dis of the target's own code);
//   - the innermost frame is on a line its function has no code on;
//   - the arguments contradict the call chain: every frame carries the
//     worker's tag, each descend() has n one less than its caller, marker
//     (once bound) is 7n+tag, and leaf() is called with n = 0 only.
//
// It runs on the free-threaded 3.13 and on the GIL build of 3.13. On the
// free-threaded build it also shows the check is not blind: the same dumps
// with --no-block (the threads keep running while pyscope reads) do tear.
func TestTornFrames(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var ins []testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if in.Minor == "3.13" && (in.FreeThreaded || strings.HasPrefix(in.Name, "pbs-")) {
			ins = append(ins, in)
		}
	}
	if len(ins) != 2 {
		t.Fatalf("want the free-threaded and the GIL 3.13, have %v", ins)
	}
	for _, in := range ins {
		// Not parallel: each run keeps every core busy.
		t.Run(in.Name, func(t *testing.T) {
			tg, o := startTorture(t, in)
			st := tortureDumps(t, bin, tg, o, 1000, 5)
			tg.CheckRunning(t)
			for _, msg := range st.torn {
				t.Error(msg)
			}
			// The dumps must have caught the threads all over their
			// programs, or the test proves nothing.
			for d := 0; d <= tortureMaxDepth; d++ {
				if st.depths[d] == 0 {
					t.Errorf("no stack with %d descend frames was seen: %v", d, st.depths)
				}
			}
			for _, fn := range []string{"descend", "leaf"} {
				if st.innermost[fn] == 0 {
					t.Errorf("%s was never the innermost frame: %v", fn, st.innermost)
				}
			}
			// With a GIL at most one thread is attached; without, threads
			// run Python at the same time.
			if in.FreeThreaded && st.maxAttached < 2 {
				t.Errorf("never more than %d attached threads on a free-threaded build", st.maxAttached)
			}
			if !in.FreeThreaded && st.maxAttached > 1 {
				t.Errorf("%d attached threads at once under a GIL", st.maxAttached)
			}
			t.Logf("%d dumps: descend depths %v, innermost %v, states %v, at most %d attached at once",
				st.dumps, st.depths, st.innermost, st.states, st.maxAttached)
			if in.FreeThreaded {
				// The definition has teeth: reading the same threads
				// without stopping them (--no-block) tears stacks.
				nb := tortureDumps(t, bin, tg, o, 1000, 1, "--no-block")
				if len(nb.torn) == 0 {
					t.Errorf("%d --no-block dumps of running threads showed no torn stack: the check is blind", nb.dumps)
				} else {
					t.Logf("--no-block: a torn stack after %d dumps, as expected: %s", nb.dumps, strings.SplitN(nb.torn[0], "\n", 2)[0])
				}
				tg.CheckRunning(t)
			}
		})
	}
}

func startTorture(t *testing.T, in testenv.Interp) (*testenv.Target, *tortureOracle) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oracle.json")
	tg := testenv.StartPlain(t, in, "torture.py", "ready", path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o tortureOracle
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	return tg, &o
}

type tortureStats struct {
	dumps       int
	torn        []string // one message per torn stack
	depths      map[int]int
	innermost   map[string]int
	states      map[string]int
	maxAttached int
}

// tortureDumps dumps the torture target up to n times, stopping early once
// maxTorn torn stacks were seen.
func tortureDumps(t *testing.T, bin string, tg *testenv.Target, o *tortureOracle, n, maxTorn int, extra ...string) *tortureStats {
	t.Helper()
	st := &tortureStats{depths: map[int]int{}, innermost: map[string]int{}, states: map[string]int{}}
	for i := 0; i < n && len(st.torn) < maxTorn; i++ {
		st.dumps++
		r := runPyscope(t, bin, nil, append([]string{"dump", "--json", "--locals", strconv.Itoa(tg.PID)}, extra...)...)
		if r.code != 0 {
			tg.CheckRunning(t)
			t.Fatalf("dump %d: exit %d: %s", i, r.code, r.stderr)
		}
		var d tortureDump
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		workers, attached := 0, 0
		for _, th := range d.Threads {
			tag, ok := o.Workers[strconv.FormatUint(th.ThreadID, 10)]
			if !ok {
				continue
			}
			workers++
			st.states[th.State]++
			if th.State == "attached" {
				attached++
			}
			if msg := tornStack(o, th.ThreadID, tag, th.Frames); msg != "" {
				st.torn = append(st.torn, fmt.Sprintf("dump %d, worker-%d: torn stack: %s\n%s", i, tag, msg, fmtTorture(th.Frames)))
				continue
			}
			if len(th.Frames) > 0 {
				st.innermost[th.Frames[0].Function]++
				st.depths[countFn(th.Frames, "descend")]++
			}
		}
		if workers != len(o.Workers) {
			t.Errorf("dump %d: %d of %d workers", i, workers, len(o.Workers))
		}
		st.maxAttached = max(st.maxAttached, attached)
	}
	return st
}

type tortureFrame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Locals   []struct {
		Name    string `json:"name"`
		Repr    string `json:"repr"`
		Unbound bool   `json:"unbound"`
	} `json:"locals"`
}

// tornStack says how a worker's stack (innermost first) cannot be one its
// program has, or "".
func tornStack(o *tortureOracle, ident uint64, tag int, frames []tortureFrame) string {
	outer := o.Outer[strconv.FormatUint(ident, 10)]
	n := len(frames)
	if n < len(outer)+1 {
		return fmt.Sprintf("%d frames, the bootstrap alone has %d", n, len(outer))
	}
	// Outermost first.
	fs := make([]tortureFrame, n)
	for i := range frames {
		fs[n-1-i] = frames[i]
	}
	for i, want := range outer {
		name, _ := want[0].(string)
		file, _ := want[1].(string)
		line, _ := want[2].(float64)
		if f := fs[i]; f.Function != name || f.File != file || f.Line != int(line) {
			return fmt.Sprintf("frame %d from the outside is %s:%d %s, traceback says %s:%d %s", i, f.File, f.Line, f.Function, file, int(line), name)
		}
	}
	fs = fs[len(outer):]
	if fs[0].Function != "worker" {
		return "the first frame after the bootstrap is " + fs[0].Function
	}
	prevN := -1
	for i, f := range fs {
		if f.File != o.File {
			return fmt.Sprintf("%s is in %s", f.Function, f.File)
		}
		if i < len(fs)-1 {
			callee, _ := o.Calls[f.Function][strconv.Itoa(f.Line)].(string)
			if callee == "" || callee != fs[i+1].Function {
				return fmt.Sprintf("%s at line %d calls %q, not %s", f.Function, f.Line, callee, fs[i+1].Function)
			}
		} else if !containsInt(o.Lines[f.Function], f.Line) {
			return fmt.Sprintf("innermost %s at line %d, which has no code", f.Function, f.Line)
		}
		vars := map[string]string{}
		for _, l := range f.Locals {
			if !l.Unbound {
				vars[l.Name] = l.Repr
			}
		}
		if vars["tag"] != strconv.Itoa(tag) {
			return fmt.Sprintf("%s has tag %q, the worker's is %d", f.Function, vars["tag"], tag)
		}
		switch f.Function {
		case "descend":
			fn, err := strconv.Atoi(vars["n"])
			if err != nil || fn < 0 || fn >= tortureMaxDepth || (prevN >= 0 && fn != prevN-1) {
				return fmt.Sprintf("descend has n = %q after n = %d", vars["n"], prevN)
			}
			if m, ok := vars["marker"]; ok && m != strconv.Itoa(7*fn+tag) {
				return fmt.Sprintf("descend(n=%d) has marker %s", fn, m)
			}
			prevN = fn
		case "leaf":
			if vars["n"] != "0" || prevN != 0 {
				return fmt.Sprintf("leaf has n = %q, called from n = %d", vars["n"], prevN)
			}
		}
	}
	return ""
}

func countFn(frames []tortureFrame, fn string) int {
	n := 0
	for _, f := range frames {
		if f.Function == fn {
			n++
		}
	}
	return n
}

func containsInt(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func fmtTorture(frames []tortureFrame) string {
	var b strings.Builder
	for _, f := range frames {
		fmt.Fprintf(&b, "  %s:%d %s", filepath.Base(f.File), f.Line, f.Function)
		for _, l := range f.Locals {
			fmt.Fprintf(&b, " %s=%.40s", l.Name, l.Repr)
		}
		b.WriteString("\n")
	}
	return b.String()
}
