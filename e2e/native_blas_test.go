package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/report"
	"pyscope/internal/testenv"
)

// numpyReq is a numpy with wheels for 3.10-3.13, bundling OpenBLAS.
const numpyReq = "numpy==2.2.6"

// TestNativeUnwindStopsInBLAS: a thread inside OpenBLAS's dgemm kernel,
// which has no CFI, so the native unwind stops there. The innermost native
// frame must still come first, numbered #0 by bt, with the Python frames
// after it in the target's own order (sys._current_frames()), and the gap
// marked: dump --native and the session's bt alike. 3.11 pairs eval loops
// by count, 3.12 by address.
func TestNativeUnwindStopsInBLAS(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.11", "pbs-3.12") {
		t.Run(in.Name, func(t *testing.T) {
			site := testenv.PySite(t, in, numpyReq)
			tg := testenv.StartTargetEnv(t, in, "native_blas.py", []string{"PYTHONPATH=" + site})
			blas := threadByName(t, &tg.Oracle, "blas")
			var want []string
			for _, f := range blas.Frames {
				want = append(want, fmt.Sprintf("[Python] %s (%s:%d)", f.Qualname, f.File, f.Line))
			}
			cut := func(warnings []string) bool {
				for _, w := range warnings {
					if strings.HasPrefix(w, "native unwind stopped at") {
						return true
					}
				}
				return false
			}

			// dump --native --json: retried until a stop lands in the kernel.
			found := false
			for try := 0; try < 20 && !found; try++ {
				r := runPyscope(t, bin, nil, "dump", "--native", "--json", strconv.Itoa(tg.PID))
				if r.code != 0 {
					t.Fatalf("dump --native: exit %d\n%s", r.code, r.stderr)
				}
				var d struct {
					Threads []struct {
						NativeID     int         `json:"native_id"`
						Frames       []jsonFrame `json:"frames"`
						NativeFrames []jsonFrame `json:"native_frames"`
						Warnings     []string    `json:"warnings"`
					} `json:"threads"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
					t.Fatal(err)
				}
				for _, th := range d.Threads {
					if th.NativeID != blas.NativeID || !cut(th.Warnings) {
						continue
					}
					found = true
					if len(th.NativeFrames) > 0 || len(th.Frames) == 0 || th.Frames[0].Kind != "native" {
						t.Fatalf("dump --native: the stacks were not merged with the native frames first: %+v", th)
					}
					var got []string
					stopped := 0
					for i, f := range th.Frames {
						if f.UnwindStopped {
							stopped++
							if i+1 >= len(th.Frames) || th.Frames[i+1].Kind == "native" {
								t.Errorf("frame %d marked unwind_stopped is not followed by a Python frame", i)
							}
						}
						if f.Kind == "python" {
							got = append(got, fmt.Sprintf("[Python] %s (%s:%d)", f.Qualname, f.File, f.Line))
						}
					}
					if stopped != 1 {
						t.Errorf("dump --native: %d frames marked unwind_stopped, want 1", stopped)
					}
					if strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("dump --native Python frames\n%s\nwant (the target's own)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				}
			}
			if !found {
				t.Fatalf("in 20 dumps, thread %d never stopped where the unwind stops", blas.NativeID)
			}

			// The session's bt, same rule.
			d := startDriver(t, bin, strconv.Itoa(tg.PID))
			ids, _ := threadIDs(t, d.run("info threads"))
			d.run(fmt.Sprintf("thread %d", ids[blas.NativeID]))
			found = false
			for try := 0; try < 20 && !found; try++ {
				if try > 0 {
					d.run("interrupt")
				}
				out := d.run("bt")
				if !strings.Contains(out, "warning: native unwind stopped at") {
					continue
				}
				found = true
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if !regexp.MustCompile(`^#0\s+0x[0-9a-f]+ in `).MatchString(lines[0]) {
					t.Errorf("bt: #0 is not the innermost native frame:\n%s", out)
				}
				if len(lines) < 2 || strings.TrimSpace(lines[1]) != report.UnwindStoppedNote {
					t.Errorf("bt: the gap after #0 is not marked:\n%s", out)
				}
				var numbered []string
				for n, l := range lines[2:] {
					if l, ok := strings.CutPrefix(l, fmt.Sprintf("#%-3d ", n+1)); ok && strings.HasPrefix(l, "[Python] ") {
						numbered = append(numbered, l)
					}
				}
				if strings.Join(numbered, "\n") != strings.Join(want, "\n") {
					t.Errorf("bt: Python frames #1.. are\n%s\nwant (the target's own)\n%s\nin:\n%s", strings.Join(numbered, "\n"), strings.Join(want, "\n"), out)
				}
				if strings.Contains(out, "not placed") || strings.Contains(out, "do not pair up") {
					t.Errorf("bt: the stacks were not merged:\n%s", out)
				}
			}
			if !found {
				t.Fatalf("in 20 stops, the session's bt never stopped where the unwind stops")
			}
			d.last("quit")
		})
	}
}
