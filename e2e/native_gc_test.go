package e2e

import (
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestNativeGCState: a thread blocked in a finalizer that the collector
// called is reported as being in garbage collection, wherever the build
// names its collector (the stripped 3.14.6 names none).
func TestNativeGCState(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if in.Minor == "3.14" {
			continue // stripped: no symbol marks the collector
		}
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "native_gc.py")
			var collector *testenv.OracleThread
			for i := range tg.Oracle.Threads {
				if n := tg.Oracle.Threads[i].Name; n != nil && *n == "collector" {
					collector = &tg.Oracle.Threads[i]
				}
			}
			if collector == nil || !strings.Contains(fmtOracle(collector.Frames[1]), "__del__") && !strings.Contains(fmtOracle(collector.Frames[2]), "__del__") {
				t.Fatalf("the oracle does not show the finalizer running: %+v", collector)
			}
			d := nativeDump(t, bin, tg.PID, "--native")
			th := d.thread(collector.NativeID)
			if th == nil {
				t.Fatal("collector thread missing")
			}
			if th.Activity != "gc" {
				t.Errorf("collector activity %q, want \"gc\"", th.Activity)
			}
			for _, other := range d.Threads {
				if other.NativeID != collector.NativeID && other.Activity == "gc" {
					t.Errorf("thread %d also said to be in gc", other.NativeID)
				}
			}
			tg.CheckRunning(t)
		})
	}
}
