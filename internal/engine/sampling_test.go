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

// TestSamplingGeneratorFromC profiles a generator that a C function
// resumes item by item (testdata/targets/genspin.py: sum() over a
// generator expression). Just after each yield, 3.12+ has only the eval
// loop's entry shim innermost, a frame with no code: every capture must
// still give the stack, the one the target saw from inside the generator
// or its caller's part of it, with no failure.
func TestSamplingGeneratorFromC(t *testing.T) {
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "genspin.py", "ready")
			line, err := tg.Request("", "stack ", 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(line, ";")
			if len(want) != 3 {
				t.Fatalf("the target said %q", line)
			}
			p, err := OpenProcess(tg.PID, Options{Sampling: true})
			if err != nil {
				t.Fatal(err)
			}
			defer closeBounded(t, p)
			var buf []cpython.Stack
			inGen := 0
			const captures = 1500
			for i := 0; i < captures; i++ {
				c, err := bounded(t, "capture", func() (*Capture, error) { return p.Capture(StopAll) })
				if err != nil {
					t.Fatal(err)
				}
				buf = p.Stacks(c, buf)
				if len(buf) != 1 {
					t.Fatalf("capture %d: %d threads, want 1", i, len(buf))
				}
				st := buf[0]
				var got []string
				for j := len(st.Frames) - 1; j >= 0; j-- {
					got = append(got, st.Frames[j].Qualname())
				}
				if st.Err != nil {
					t.Fatalf("capture %d: %v (frames %v)", i, st.Err, got)
				}
				if len(got) < 2 || len(got) > 3 || strings.Join(got, ";") != strings.Join(want[:len(got)], ";") {
					t.Fatalf("capture %d: stack %v, the target's is %v", i, got, want)
				}
				if len(got) == 3 {
					inGen++
				}
			}
			if inGen == 0 || inGen == captures {
				t.Errorf("%d of %d captures inside the generator: the test saw only one side of the yield", inGen, captures)
			}
			if err := testenv.NotStopped(tg.PID); err != nil {
				t.Error(err)
			}
		})
	}
}
