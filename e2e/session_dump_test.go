package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/report"
	"pyscope/internal/testenv"
)

// TestSessionMatchesDump runs every test program on every interpreter,
// takes one core of it, and checks that the session and dump, reading the
// same core, agree: py-locals equals dump --locals for every frame of
// every thread, and bt equals dump --native for every thread (the
// stripped static 3.14 included). Both sides are parsed, not grepped.
func TestSessionMatchesDump(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			for _, script := range append(append([]string{}, targets...), "values.py") {
				t.Run(strings.TrimSuffix(script, ".py"), func(t *testing.T) {
					var tg *testenv.Target
					if script == "values.py" {
						tg, _ = startValues(t, in)
					} else {
						tg = testenv.StartTarget(t, in, script)
					}
					core := filepath.Join(t.TempDir(), "core")
					pyscopeGcore(t, bin, tg, core)
					compareSessionWithDump(t, bin, core)
				})
			}
		})
	}
}

// opts (such as --sysroot) are given to dump and debug alike.
func compareSessionWithDump(t *testing.T, bin, core string, opts ...string) {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump", "--locals", "--color", "never"}, opts...), core)...)
	if r.code != 0 {
		t.Fatalf("dump --locals: exit %d\n%s", r.code, r.stderr)
	}
	locals := parseDumpLocals(t, r.stdout)
	r = runPyscope(t, bin, nil, append(append([]string{"dump", "--native", "--json"}, opts...), core)...)
	if r.code != 0 {
		t.Fatalf("dump --native: exit %d\n%s", r.code, r.stderr)
	}
	var nd struct {
		Threads []struct {
			NativeID     int         `json:"native_id"`
			Frames       []jsonFrame `json:"frames"`
			NativeFrames []jsonFrame `json:"native_frames"`
			Warnings     []string    `json:"warnings"`
		} `json:"threads"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &nd); err != nil {
		t.Fatalf("dump --native --json: %v", err)
	}

	// Session thread numbers, by TID.
	var script strings.Builder
	for n := 1; n <= len(nd.Threads); n++ {
		fmt.Fprintf(&script, "thread %d\necho @@thread %d\\n\n", n, n)
	}
	nums := map[int]int{}
	for n, out := range sessionSections(t, bin, core, script.String(), "thread", opts...) {
		m := regexp.MustCompile(`\(TID (\d+)\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("thread %s: no TID in %q", n, out)
		}
		tid, _ := strconv.Atoi(m[1])
		num, _ := strconv.Atoi(n)
		nums[tid] = num
	}

	// One session: bt of every thread, py-locals of every frame.
	script.Reset()
	for _, th := range nd.Threads {
		n, ok := nums[th.NativeID]
		if !ok {
			t.Errorf("the session has no thread with TID %d", th.NativeID)
			continue
		}
		fmt.Fprintf(&script, "thread %d\necho @@thread\\n\nbt\necho @@bt %d\\n\n", n, th.NativeID)
		for i, vars := range locals[th.NativeID] {
			if vars == nil {
				continue // folded
			}
			fmt.Fprintf(&script, "py-frame %d\necho @@frame\\n\npy-locals\necho @@locals %d/%d\\n\n", i, th.NativeID, i)
		}
	}
	bts := sessionSections(t, bin, core, script.String(), "bt", opts...)
	got := sessionSections(t, bin, core, script.String(), "locals", opts...)

	frames, vars := 0, 0
	for tid, fs := range locals {
		for i, want := range fs {
			if want == nil {
				continue // folded: dump did not show them
			}
			key := fmt.Sprintf("%d/%d", tid, i)
			g, ok := got[key]
			if !ok {
				t.Errorf("thread %d frame %d: no py-locals output", tid, i)
				continue
			}
			lines := strings.Split(strings.TrimSuffix(g, "\n"), "\n")
			if g == "" || (len(want) == 0 && g == "No locals.\n") {
				lines = nil
			}
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("thread %d frame %d: py-locals\n%s\nbut dump --locals\n%s", tid, i, g, strings.Join(want, "\n"))
			}
			frames++
			vars += len(want)
		}
	}
	for _, th := range nd.Threads {
		want := btFromJSON(th.Frames, th.Warnings, th.NativeFrames)
		g := bts[strconv.Itoa(th.NativeID)]
		gotFrames := parseBt(t, g)
		if fmt.Sprint(gotFrames) != fmt.Sprint(want) {
			t.Errorf("thread %d: bt\n%s\nbut dump --native says\n%s", th.NativeID, g, strings.Join(want, "\n"))
		}
		if len(want) == 0 {
			t.Errorf("thread %d: no frames at all", th.NativeID)
		}
	}
	t.Logf("%d threads: bt = dump --native; %d frames, %d variables: py-locals = dump --locals", len(nd.Threads), frames, vars)
}

// sessionSections runs a session on core with script on stdin and returns
// the output before each "@@kind KEY" marker (since the previous marker of
// any kind), by KEY.
func sessionSections(t *testing.T, bin, core, script, kind string, opts ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"debug"}, opts...), core)...)
	cmd.Stdin = strings.NewReader(script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("pyscope debug %s: %v\n%s", core, err, errb.String())
	}
	sections := map[string]string{}
	var cur strings.Builder
	for _, l := range strings.SplitAfter(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "@@"); ok {
			k, key, _ := strings.Cut(strings.TrimSpace(rest), " ")
			if k == kind {
				sections[key] = cur.String()
			}
			cur.Reset()
			continue
		}
		cur.WriteString(l)
	}
	return sections
}

var (
	dumpThreadRe = regexp.MustCompile(`^Thread 0x[0-9a-f]+ \(TID (\d+)\)`)
	dumpFrameRe  = regexp.MustCompile(`^  File ".*", line -?\d+, in `)
	dumpVarRe    = regexp.MustCompile(`^      (arg|local|cell|free)\s+(.*)$`)
)

// parseDumpLocals reads dump --locals text: TID → frame → "name = repr";
// nil for the frames of a run folded as `[Previous line repeated N more
// times]`, whose variables dump leaves out.
func parseDumpLocals(t *testing.T, out string) map[int][][]string {
	t.Helper()
	res := map[int][][]string{}
	tid := -1
	for _, l := range strings.Split(out, "\n") {
		if m := dumpThreadRe.FindStringSubmatch(l); m != nil {
			tid, _ = strconv.Atoi(m[1])
			continue
		}
		if tid < 0 {
			continue
		}
		p, n, folded := repeatedFrames(l)
		switch {
		case dumpFrameRe.MatchString(l):
			res[tid] = append(res[tid], []string{})
		case folded: // Python frames only: p is 1
			res[tid] = append(res[tid], make([][]string, p*n)...)
		case strings.HasPrefix(l, "      <locals unreadable: "):
			f := res[tid]
			f[len(f)-1] = append(f[len(f)-1], strings.TrimSuffix(strings.TrimPrefix(l, "      <locals unreadable: "), ">"))
		default:
			if m := dumpVarRe.FindStringSubmatch(l); m != nil {
				f := res[tid]
				f[len(f)-1] = append(f[len(f)-1], m[2])
			}
		}
	}
	if len(res) == 0 {
		t.Fatalf("no threads in dump --locals:\n%.2000s", out)
	}
	return res
}

// jsonFrame is a frame of dump --native --json.
type jsonFrame struct {
	Kind     string  `json:"kind"`
	Function string  `json:"function"`
	Qualname string  `json:"qualname"`
	File     string  `json:"file"`
	Line     int     `json:"line"`
	Module   string  `json:"module"`
	Address  uint64  `json:"address"`
	Offset   *uint64 `json:"offset"`
	Inlined  bool    `json:"inlined"`
	Signal   bool    `json:"signal"`
	// UnwindStopped: the unwind stopped after this frame, with Python
	// frames after it.
	UnwindStopped bool `json:"unwind_stopped"`
}

// btFromJSON lists what a thread's frames are, one normalised line each:
// "py QUALNAME FILE:LINE", "native ADDR|inlined FUNC+OFF MODULE FILE:LINE",
// "signal", "unwind stopped", "warning TEXT", and when the stacks are
// apart, the native frames first and "python apart" before the Python ones.
func btFromJSON(frames []jsonFrame, warnings []string, native []jsonFrame) []string {
	var out []string
	one := func(f jsonFrame) string {
		if f.Kind != "native" {
			q := f.Qualname
			if q == "" {
				q = f.Function
			}
			return fmt.Sprintf("py %s %s:%d", report.Safe(q), report.Safe(f.File), f.Line)
		}
		if f.Signal {
			return "signal"
		}
		where := fmt.Sprintf("%#x", f.Address)
		if f.Inlined {
			where = "inlined"
		}
		name := "??"
		if f.Function != "" {
			name = report.Safe(f.Function)
			if f.Offset != nil && *f.Offset != 0 {
				name += fmt.Sprintf("+%#x", *f.Offset)
			}
		}
		mod := "?"
		if f.Module != "" {
			mod = report.Safe(filepath.Base(f.Module))
		}
		if f.Function == "" && f.Offset != nil {
			mod += fmt.Sprintf("+%#x", *f.Offset)
		}
		loc := ""
		if f.File != "" {
			loc = report.Safe(f.File)
			if f.Line > 0 {
				loc += ":" + strconv.Itoa(f.Line)
			}
		}
		return fmt.Sprintf("native %s %s %s %s", where, name, mod, loc)
	}
	numbered, apart := frames, []jsonFrame(nil)
	if len(native) > 0 {
		numbered, apart = native, frames
	}
	for _, f := range numbered {
		out = append(out, one(f))
		if f.UnwindStopped {
			out = append(out, "unwind stopped")
		}
	}
	for _, w := range warnings {
		out = append(out, "warning "+report.Safe(w))
	}
	if len(apart) > 0 {
		out = append(out, "python apart")
		for _, f := range apart {
			out = append(out, one(f))
		}
	}
	return out
}

var (
	btPythonRe = regexp.MustCompile(`^#(\d+)\s+\[Python\] (.+) \((.+):(-?\d+)\)$`)
	btNativeRe = regexp.MustCompile(`^#(\d+)\s+(0x[0-9a-f]+|\(inlined\))\s+in (.+?) \(([^()]*)\)(?: at (.+))?$`)
	btSignalRe = regexp.MustCompile(`^#(\d+)\s+<signal handler called>$`)
	btApartRe  = regexp.MustCompile(`^\s+\[Python\] (.+) \((.+):(-?\d+)\)$`)
)

// parseBt reads the session's bt into btFromJSON's lines, checking the
// frame numbers count up from 0.
func parseBt(t *testing.T, out string) []string {
	t.Helper()
	var res []string
	num := 0
	frame := func(n string) {
		if n != strconv.Itoa(num) {
			t.Errorf("bt frame #%s, want #%d:\n%s", n, num, out)
		}
		num++
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch m := btPythonRe.FindStringSubmatch(l); {
		case m != nil:
			frame(m[1])
			res = append(res, fmt.Sprintf("py %s %s:%s", m[2], m[3], m[4]))
			continue
		}
		if m := btNativeRe.FindStringSubmatch(l); m != nil {
			frame(m[1])
			where := m[2]
			if where == "(inlined)" {
				where = "inlined"
			} else {
				a, _ := strconv.ParseUint(where, 0, 64)
				where = fmt.Sprintf("%#x", a)
			}
			res = append(res, fmt.Sprintf("native %s %s %s %s", where, m[3], m[4], m[5]))
			continue
		}
		if m := btSignalRe.FindStringSubmatch(l); m != nil {
			frame(m[1])
			res = append(res, "signal")
			continue
		}
		if w, ok := strings.CutPrefix(l, "warning: "); ok {
			res = append(res, "warning "+w)
			continue
		}
		if strings.TrimSpace(l) == report.UnwindStoppedNote {
			res = append(res, "unwind stopped")
			continue
		}
		if l == "Python frames, not placed among the native ones (innermost first):" {
			res = append(res, "python apart")
			continue
		}
		if m := btApartRe.FindStringSubmatch(l); m != nil {
			res = append(res, fmt.Sprintf("py %s %s:%s", m[1], m[2], m[3]))
			continue
		}
		t.Errorf("bt line not understood: %q", l)
	}
	return res
}
