package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestFoldNative: a Python recursion 1,000 deep that goes through C at
// each level (testdata/targets/recursion.py), dumped with its native
// frames. With --native-all each Python frame sits among the same native
// frames (the eval loop, functools.partial's call), and text folds the
// repeating block as `[Previous P frames repeated N more times]`; with
// --native the interpreter's frames are hidden and the Python frames fold
// as a traceback folds them. Either way the text, expanded, holds every
// frame of the JSON, in its order, and the JSON keeps them all.
func TestFoldNative(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "debian-3.11", "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "recursion.py")
			var facts struct {
				Ident        uint64 `json:"ident"`
				Depth        int    `json:"depth"`
				PythonFrames int    `json:"python_frames"`
			}
			targetJSON(t, tg, "recursion.json", &facts)
			if facts.Depth < 1000 || facts.PythonFrames < facts.Depth {
				t.Fatalf("the target recursed %d deep (%d Python frames), not 1,000", facts.Depth, facts.PythonFrames)
			}
			pid := strconv.Itoa(tg.PID)
			run := func(args ...string) string {
				r := runPyscope(t, bin, nil, append(args, pid)...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
				}
				return r.stdout
			}
			for _, flag := range []string{"--native", "--native-all"} {
				text := textSections(run("dump", flag, "--color", "never"))[facts.Ident]
				var d struct {
					Threads []struct {
						ThreadID     uint64            `json:"thread_id"`
						Frames       []DumpFrame       `json:"frames"`
						NativeFrames []json.RawMessage `json:"native_frames"`
					} `json:"threads"`
				}
				if err := json.Unmarshal([]byte(run("dump", flag, "--json")), &d); err != nil {
					t.Fatal(err)
				}
				var frames []DumpFrame
				found := false
				for _, th := range d.Threads {
					if th.ThreadID == facts.Ident {
						frames, found = th.Frames, true
						if len(th.NativeFrames) > 0 {
							t.Errorf("%s: the deep thread's stacks were not merged:\n%s", flag, strings.Join(text, "\n"))
						}
					}
				}
				if !found || len(text) == 0 {
					t.Fatalf("%s: no deep thread %#x", flag, facts.Ident)
				}
				python := 0
				for _, f := range frames {
					if f.Kind == "python" {
						python++
					}
				}
				if python != facts.PythonFrames {
					t.Errorf("%s --json: %d Python frames, the target has %d", flag, python, facts.PythonFrames)
				}
				got := parseAllFrames(strings.Join(text, "\n"))
				if len(got) != len(frames) {
					t.Errorf("%s: the text stands for %d frames, the JSON has %d", flag, len(got), len(frames))
				}
				for i := range min(len(got), len(frames)) {
					g, w := got[i], frames[i]
					if g.native != (w.Kind == "native") || !g.native && (g.file != w.File || g.line != w.Line) {
						t.Errorf("%s: frame %d of the expanded text is %+v, the JSON's %+v", flag, i, g, w)
						break
					}
				}
				// Folded: the recursion shows RecursiveCutoff times.
				if len(text) > 300 {
					t.Errorf("%s: the deep thread takes %d lines", flag, len(text))
				}
				block := false
				for _, l := range text {
					if p, n, ok := repeatedFrames(l); ok && p > 1 && n >= facts.Depth-10 {
						block = true
					}
				}
				if flag == "--native-all" && !block {
					t.Errorf("%s: no `[Previous P frames repeated N more times]` for the recursion:\n%s", flag, strings.Join(text, "\n"))
				}
			}
			tg.CheckRunning(t)
		})
	}
}
