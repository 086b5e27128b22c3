package engine

import (
	"testing"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
	"pyscope/internal/testenv"
)

// stillStage keeps the proof the engine hands its captures.
type stillStage struct{ got *func() bool }

func (s stillStage) Prepare(target.Target, *cpython.Reader) Stage    { return s }
func (s stillStage) Capture(target.Target, *cpython.Reader) Captured { return stillCaptured(s) }
func (stillStage) Close()                                            {}
func (stillStage) PythonOnly()                                       {}

type stillCaptured struct{ got *func() bool }

func (stillCaptured) Apply(*model.Snapshot) {}
func (c stillCaptured) Still(f func() bool) { *c.got = f }

// TestStill checks the proof a capture that stopped no thread hands its
// stages (StillCaptured), on testdata/targets/handoff.py, whose threads
// all sleep without the GIL: it holds until a thread runs Python code,
// and no longer once one did. Both ways of running are tried: a lock
// handed from one thread to another (the GIL changes hands), and the
// GIL's last holder running alone (the GIL's word may read the same
// again; its switch count does not).
func TestStill(t *testing.T) {
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "handoff.py", "ready")
			var still func() bool
			p, err := OpenProcess(tg.PID, Options{Stages: []Stage{stillStage{&still}}})
			if err != nil {
				t.Fatal(err)
			}
			defer closeBounded(t, p)
			capture := func() {
				t.Helper()
				testenv.WaitSleeping(t, tg.PID)
				still = nil
				c, err := bounded(t, "capture", func() (*Capture, error) { return p.Capture(StopGIL) })
				if err != nil {
					t.Fatal(err)
				}
				p.Resolve(c)
			}
			capture()
			if in.FreeThreaded {
				// No GIL vouches for anything: the capture stopped every
				// thread, and there is no proof.
				if still != nil {
					t.Fatal("a free-threaded capture handed a proof that no thread ran")
				}
				return
			}
			if still == nil {
				t.Fatal("a capture that stopped no thread handed no proof")
			}
			if !still() {
				t.Fatal("the proof fails although every thread slept since the capture")
			}
			for _, req := range []struct{ line, reply string }{{"noop", "done"}, {"release", "acquired"}} {
				if _, err := tg.Request(req.line, req.reply, 30*time.Second); err != nil {
					t.Fatal(err)
				}
				if still() {
					t.Errorf("after %q the proof still says no thread ran", req.line)
				}
				capture()
				if still == nil || !still() {
					t.Errorf("after %q, a new capture of the sleeping threads has no proof", req.line)
				}
			}
		})
	}
}
