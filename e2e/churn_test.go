package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestDumpDuringThreadChurn dumps a target that starts and ends hundreds of
// threads per second: every dump must be a consistent snapshot (each thread
// once, with a readable stack) or a clean error, never a torn one.
func TestDumpDuringThreadChurn(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.13", "pbs-3.14", "src-3.13.5t") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "churn.py", "ready")
			ok, failed := 0, 0
			for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
				r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
				if r.code != 0 {
					failed++
					checkOneLineError(t, r)
					continue
				}
				ok++
				d := decodeDump(t, r.stdout)
				ids, tids := map[uint64]bool{}, map[int]bool{}
				parked := 0
				for _, th := range d.Threads {
					if ids[th.ThreadID] || (th.NativeID != 0 && tids[th.NativeID]) {
						t.Fatalf("thread %d (TID %d) appears twice", th.ThreadID, th.NativeID)
					}
					ids[th.ThreadID], tids[th.NativeID] = true, true
					if th.Name != nil && strings.HasPrefix(*th.Name, "parked-") {
						parked++
						if len(th.Frames) == 0 || th.Frames[len(th.Frames)-1].Function != "_bootstrap" {
							t.Errorf("parked thread with a torn stack: %+v", th.Frames)
						}
					}
				}
				// threading._active caught mid-resize leaves every thread
				// unnamed, with a warning saying so.
				if parked != 3 && !slices.ContainsFunc(d.Warnings, func(w string) bool { return strings.HasPrefix(w, "thread names: ") }) {
					t.Errorf("%d parked threads in the dump, want 3 (warnings %q)", parked, d.Warnings)
				}
				if strings.Contains(r.stdout, `"truncated"`) {
					t.Errorf("a thread's stack was cut short:\n%.3000s", r.stdout)
				}
			}
			t.Logf("%d consistent dumps, %d clean errors", ok, failed)
			if ok == 0 {
				t.Error("no dump succeeded")
			}
			tg.CheckRunning(t)
		})
	}
}
