package engine

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/testenv"
)

// TestSamplingSeesEveryMove checks a profiler's captures of a process
// that is parked between moves (testdata/targets/stepper.py): a capture
// may reuse what the last one read only while no thread ran since, so
// every capture after a move shows the new stack, as the target printed
// it, and so do the ones after those, which do reuse it.
func TestSamplingSeesEveryMove(t *testing.T) {
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "stepper.py", "ready")
			p, err := OpenProcess(tg.PID, Options{Sampling: true})
			if err != nil {
				t.Fatal(err)
			}
			defer closeBounded(t, p)
			var buf []cpython.Stack
			for step := 0; step < 8; step++ {
				reply, err := tg.Request("", "stack ", 30*time.Second)
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				f := strings.Fields(reply)
				if len(f) != 2 {
					t.Fatalf("step %d: the target said %q", step, reply)
				}
				tid, _ := strconv.Atoi(f[0])
				want := f[1]
				testenv.WaitSleeping(t, tg.PID)
				for i := 0; i < 4; i++ {
					c, err := bounded(t, "capture", func() (*Capture, error) { return p.Capture(StopNone) })
					if err != nil {
						t.Fatal(err)
					}
					buf = p.Stacks(c, buf)
					got := "no such thread"
					for _, st := range buf {
						if st.NativeID == tid {
							var fr []string
							for _, sf := range st.Frames {
								fr = append(fr, fmt.Sprintf("%s:%d", sf.Function(), sf.Line))
							}
							got = strings.Join(fr, ";")
						}
					}
					if got != want {
						t.Fatalf("step %d, capture %d: main thread at %s, the target says %s", step, i+1, got, want)
					}
				}
			}
			// Once a move's first captures have seen it (and the thread's
			// sleep is confirmed), the others are served without a read:
			// the path whose soundness this test is for must run.
			n := p.r.OverlayReuses()
			t.Logf("%d of 32 captures served without a read", n)
			if n < 8 {
				t.Errorf("%d of 32 captures were served without a read; want at least 8", n)
			}
		})
	}
}
