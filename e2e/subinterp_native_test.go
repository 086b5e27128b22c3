package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// subDump is dump --json --native(-all) with what the subinterpreter
// checks need: every thread state, its interpreter and merged frames.
type subDump struct {
	Threads []subThread `json:"threads"`
}

type subThread struct {
	NativeID     int           `json:"native_id"`
	Name         *string       `json:"name"`
	Interpreter  int64         `json:"interpreter"`
	Python       *bool         `json:"python"`
	Frames       []NativeFrame `json:"frames"`
	NativeFrames []NativeFrame `json:"native_frames"`
	Warnings     []string      `json:"warnings"`
	raw          []subFrame
}

type subFrame struct {
	Kind     string `json:"kind"`
	Function string `json:"function"`
	Qualname string `json:"qualname"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// levelOracle is what one level of subinterp_nested.py's chains wrote
// about itself, inside its interpreter.
type levelOracle struct {
	Chain, Level int
	NativeID     int                   `json:"native_id"`
	Interpreter  int64                 `json:"interpreter"`
	Frames       []testenv.OracleFrame `json:"frames"`
}

const (
	subChains = 2
	subDepth  = 3
)

func readLevelOracles(t *testing.T, tg *testenv.Target) []levelOracle {
	t.Helper()
	var out []levelOracle
	for c := 0; c < subChains; c++ {
		for l := 1; l <= subDepth; l++ {
			o := levelOracle{Chain: c, Level: l}
			targetJSON(t, tg, fmt.Sprintf("oracle.json.chain-%d.%d", c, l), &o)
			out = append(out, o)
		}
	}
	return out
}

func subDumpOf(t *testing.T, bin, what string, args ...string) (*subDump, string) {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump", "--json"}, args...), what)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var d subDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump: %v", err)
	}
	var raw struct {
		Threads []struct {
			Frames []subFrame `json:"frames"`
		} `json:"threads"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("dump: %v", err)
	}
	for i := range d.Threads {
		d.Threads[i].raw = raw.Threads[i].Frames
	}
	return &d, r.stdout
}

func (d *subDump) state(tid int, interp int64) *subThread {
	for i := range d.Threads {
		th := &d.Threads[i]
		if th.NativeID == tid && th.Interpreter == interp && th.Python != nil && *th.Python {
			return th
		}
	}
	return nil
}

func (th *subThread) python() []subFrame {
	var out []subFrame
	for _, f := range th.raw {
		if f.Kind == "python" {
			out = append(out, f)
		}
	}
	return out
}

func samePython(got []subFrame, want []testenv.OracleFrame) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if g.Function != w.Function || g.Qualname != w.Qualname || g.File != w.File || g.Line != w.Line {
			return false
		}
	}
	return true
}

// checkSubinterpMerge checks a --native-all dump of subinterp_nested.py:
// every thread state merged without a warning, with its interpreter's own
// Python frames, each run of them just before the eval loop that runs it;
// the thread states of one kernel thread, innermost interpreter first,
// together make up its native stack as gdb sees it (inlined frames too
// where pyscope finds the same ones as gdb, see TestNativeMatchesGDB).
func checkSubinterpMerge(t *testing.T, tg *testenv.Target, levels []levelOracle, d *subDump, g map[int][]gdbFrame, inlinesAsGDB, shims bool) {
	t.Helper()
	for _, th := range d.Threads {
		if len(th.Warnings) > 0 || len(th.NativeFrames) > 0 {
			t.Errorf("thread %d (interpreter %d): warnings %q, %d unmerged native frames", th.NativeID, th.Interpreter, th.Warnings, len(th.NativeFrames))
		}
		for i, f := range th.raw {
			if f.Kind == "python" && (i+1 == len(th.raw) || th.raw[i+1].Kind == "native") {
				// The end of a run: the eval loop that runs it follows
				// (unnamed in a stripped build, 3.14 here).
				if i+1 == len(th.raw) || !isEvalLoop(th.raw[i+1]) {
					t.Errorf("thread %d (interpreter %d): frame %d %s is not followed by its eval loop: %s", th.NativeID, th.Interpreter, i, f.Function, fmtSub(th.raw))
				}
			}
		}
	}
	// Each level's thread state, by its own oracle.
	level := map[int64]int{0: 0}
	for _, o := range levels {
		level[o.Interpreter] = o.Level
		th := d.state(o.NativeID, o.Interpreter)
		if th == nil {
			t.Errorf("chain %d level %d: no thread state of interpreter %d on thread %d", o.Chain, o.Level, o.Interpreter, o.NativeID)
			continue
		}
		if !samePython(th.python(), o.Frames) {
			t.Errorf("chain %d level %d: python frames %s, want %s", o.Chain, o.Level, fmtSub(th.python()), fmtOracleFrames(o.Frames))
		}
	}
	// The main interpreter's threads, by the target's oracle.
	for _, ot := range tg.Oracle.Threads {
		th := d.state(ot.NativeID, 0)
		if th == nil {
			t.Errorf("thread %s missing", label(&ot))
			continue
		}
		if !samePython(th.python(), ot.Frames) {
			t.Errorf("thread %s: python frames %s, want %s", label(&ot), fmtSub(th.python()), fmtOracleFrames(ot.Frames))
		}
		if str(ot.Name) == strconv.Quote("gen-clear") && shims {
			checkFramelessLoop(t, th)
		}
	}
	// One native stack per kernel thread, shared by its thread states.
	whole := &NativeDump{}
	byTID := map[int][]subThread{}
	var tids []int
	for _, th := range d.Threads {
		if byTID[th.NativeID] == nil {
			tids = append(tids, th.NativeID)
		}
		byTID[th.NativeID] = append(byTID[th.NativeID], th)
	}
	for _, tid := range tids {
		ths := byTID[tid]
		sort.SliceStable(ths, func(a, b int) bool { return level[ths[a].Interpreter] > level[ths[b].Interpreter] })
		nt := NativeThread{NativeID: tid}
		for _, th := range ths {
			nt.Frames = append(nt.Frames, th.Frames...)
		}
		whole.Threads = append(whole.Threads, nt)
	}
	if inlinesAsGDB {
		compareWithGDB(t, whole, g)
		return
	}
	comparePhysicalWithGDB(t, whole, g)
}

// comparePhysicalWithGDB compares the frames that are real calls (not
// inlined) with gdb's: the same PCs and function names. gdb and pyscope
// differ in the inlined frames they find in the PBS builds' DWARF.
func comparePhysicalWithGDB(t *testing.T, d *NativeDump, g map[int][]gdbFrame) {
	t.Helper()
	if len(g) != len(d.Threads) {
		t.Errorf("gdb sees %d threads, pyscope %d", len(g), len(d.Threads))
	}
	for tid, all := range g {
		th := d.thread(tid)
		if th == nil {
			t.Errorf("thread %d missing", tid)
			continue
		}
		var gf []gdbFrame
		for _, f := range all {
			if !f.Inline {
				gf = append(gf, f)
			}
		}
		var nf []NativeFrame
		for _, f := range th.Frames {
			if f.Kind == "native" && !f.Inlined {
				nf = append(nf, f)
			}
		}
		var diffs []string
		for i := 0; i < len(gf) || i < len(nf); i++ {
			if i >= len(gf) || i >= len(nf) || gf[i].PC != nf[i].Address ||
				callName(gf[i].Name) != callName(nf[i].Function) && !sameFrame(gf, nf, i) {
				var a, b string
				if i < len(gf) {
					a = fmt.Sprintf("%s@%#x", gf[i].Name, gf[i].PC)
				}
				if i < len(nf) {
					b = fmt.Sprintf("%s@%#x", nf[i].Function, nf[i].Address)
				}
				diffs = append(diffs, fmt.Sprintf("#%d gdb %s, pyscope %s", i, a, b))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("thread %d: calls differ from gdb's (%d gdb, %d pyscope):\n  %s", tid, len(gf), len(nf), strings.Join(diffs, "\n  "))
		}
	}
}

// checkFramelessLoop: the generator's eval loop, stopped while it clears
// the generator's frame, shows as an eval-loop frame with no Python frame
// of its own, above the frame that resumed the generator.
func checkFramelessLoop(t *testing.T, th *subThread) {
	t.Helper()
	for _, f := range th.raw {
		if f.Kind == "python" {
			break
		}
		if isEvalLoop(f) {
			return
		}
	}
	t.Errorf("gen-clear: no frameless eval loop above its Python frames: %s", fmtSub(th.raw))
}

// checkSessionBacktrace: the session's bt of a chain thread is the whole
// thread, every interpreter's Python frames on it in one native stack.
func checkSessionBacktrace(t *testing.T, bin, pid string, tg *testenv.Target, levels []levelOracle) {
	t.Helper()
	tid := levels[0].NativeID
	want := 0
	for _, o := range levels {
		if o.NativeID == tid {
			want += len(o.Frames)
		}
	}
	for _, ot := range tg.Oracle.Threads {
		if ot.NativeID == tid {
			want += len(ot.Frames)
		}
	}
	list := runPyscope(t, bin, nil, "debug", pid, "--batch", "-ex", "info threads")
	num := ""
	for _, line := range strings.Split(list.stdout, "\n") {
		if f := strings.Fields(strings.TrimLeft(line, " *")); len(f) > 1 && f[1] == strconv.Itoa(tid) {
			num = f[0]
		}
	}
	if num == "" {
		t.Fatalf("session lists no thread %d:\n%s%s", tid, list.stdout, list.stderr)
	}
	bt := runPyscope(t, bin, nil, "debug", pid, "--batch", "-ex", "thread "+num, "-ex", "bt")
	if got := strings.Count(bt.stdout, "[Python] "); got != want || strings.Contains(bt.stdout, "warning: native") {
		t.Errorf("session bt of thread %d: %d Python frames, want %d (all its interpreters'):\n%s%s", tid, got, want, bt.stdout, bt.stderr)
	}
}

// callName is a function's name without leading underscores and a
// compiler's suffix (gdb shows _PyObject_CallNoArg where the ELF symbol is
// _PyObject_CallNoArg.2717).
func callName(s string) string {
	s, _, _ = strings.Cut(s, ".")
	return strings.TrimLeft(s, "_")
}

// isEvalLoop: a native frame of the eval loop, or an unnamed one (stripped
// builds keep only exported symbols).
func isEvalLoop(f subFrame) bool {
	return f.Kind == "native" && (f.Function == "_PyEval_EvalFrameDefault" || f.Function == "")
}

func fmtSub(fs []subFrame) string {
	var s []string
	for _, f := range fs {
		if f.Kind == "python" {
			s = append(s, fmt.Sprintf("%s:%d", f.Function, f.Line))
		} else {
			s = append(s, "["+f.Function+"]")
		}
	}
	return strings.Join(s, " ")
}

func fmtOracleFrames(fs []testenv.OracleFrame) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%s:%d", f.Function, f.Line))
	}
	return strings.Join(s, " ")
}

// TestNativeSubinterpreters: two threads each run three nested
// subinterpreters, and a third blocks while a finished generator's frame is
// cleared (on 3.12+ its eval loop is left without a Python frame). With
// --native every thread state (one per interpreter on each thread) is
// merged where its interpreter's eval loops run, with no pairing warning,
// live and on a core, and the native frames are gdb's.
func TestNativeSubinterpreters(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	testenv.NeedCommand(t, "gdb", "gdb")
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "subinterp_nested.py")
			levels := readLevelOracles(t, tg)
			pid := strconv.Itoa(tg.PID)
			inlines := in.Minor == "3.14" || in.FreeThreaded || in.Name == "debian-3.11" || in.Name == "venv-copies-3.11"
			shims := in.Minor >= "3.12"

			d, _ := subDumpOf(t, bin, pid, "--native-all")
			checkSubinterpMerge(t, tg, levels, d, gdbFrames(t, "-p", pid), inlines, shims)

			// The default view: merged too, and the text says nothing of
			// unknown TIDs or stacks that do not pair up.
			d, _ = subDumpOf(t, bin, pid, "--native")
			for _, th := range d.Threads {
				if len(th.Warnings) > 0 || len(th.NativeFrames) > 0 {
					t.Errorf("--native: thread %d (interpreter %d): warnings %q", th.NativeID, th.Interpreter, th.Warnings)
				}
			}
			txt := runPyscope(t, bin, nil, "dump", "--native", pid)
			for _, bad := range []string{"do not pair up", "kernel TID is unknown", "warning"} {
				if strings.Contains(txt.stdout, bad) {
					t.Errorf("text dump says %q:\n%s", bad, txt.stdout)
				}
			}

			checkSessionBacktrace(t, bin, pid, tg, levels)

			core := filepath.Join(t.TempDir(), "core")
			pyscopeGcore(t, bin, tg, core)
			d, _ = subDumpOf(t, bin, core, "--native-all")
			checkSubinterpMerge(t, tg, levels, d, gdbFrames(t, in.Path, core), inlines, shims)
			tg.CheckRunning(t)
		})
	}
}
