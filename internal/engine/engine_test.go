package engine

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
	"pyscope/internal/testenv"
)

// checkOracle compares every thread's Python frames with what the target
// wrote from sys._current_frames().
func checkOracle(t *testing.T, tg *testenv.Target, snap *model.Snapshot) {
	t.Helper()
	matched := 0
	for _, th := range snap.Threads {
		o := tg.Oracle.Thread(th.ThreadID)
		if o == nil {
			continue
		}
		matched++
		var py []model.Frame
		for _, f := range th.Frames {
			if f.Kind == "python" {
				py = append(py, f)
			}
		}
		if len(py) != len(o.Frames) {
			t.Errorf("thread %d: %d frames, the target says %d", th.NativeID, len(py), len(o.Frames))
			continue
		}
		for i, f := range py {
			if f.Function != o.Frames[i].Function || f.Line != o.Frames[i].Line || f.File != o.Frames[i].File {
				t.Errorf("thread %d frame %d: %s %s:%d, the target says %s %s:%d", th.NativeID, i,
					f.Function, f.File, f.Line, o.Frames[i].Function, o.Frames[i].File, o.Frames[i].Line)
			}
		}
	}
	if matched != len(tg.Oracle.Threads) {
		t.Errorf("%d of the target's %d threads found", matched, len(tg.Oracle.Threads))
	}
}

// TestCaptureMany opens a process once and captures it many times, as a
// sampling profiler will: every capture matches the target's own view,
// pauses are measured, and the process is running after each one.
func TestCaptureMany(t *testing.T) {
	for _, in := range testenv.Interpreters(t)[:2] {
		t.Run(in.Name, func(t *testing.T) {
			tg, p := openDemo(t, in, Options{Native: true})
			for i := 0; i < 20; i++ {
				c, err := bounded(t, fmt.Sprintf("capture %d", i), func() (*Capture, error) { return p.Capture(StopAll) })
				if err != nil {
					t.Fatal(err)
				}
				if c.Pause() <= 0 || len(c.Threads()) == 0 || c.Threads()[0].Regs == nil {
					t.Fatalf("capture %d: pause %v, %d threads", i, c.Pause(), len(c.Threads()))
				}
				if err := testenv.NotStopped(tg.PID); err != nil {
					t.Fatalf("capture %d: %v", i, err)
				}
				snap := p.Resolve(c)
				if snap.Source != "live" || snap.PauseMicros <= 0 {
					t.Errorf("capture %d: source %q pause %dµs", i, snap.Source, snap.PauseMicros)
				}
				checkOracle(t, tg, snap)
			}
			// Without stopping: no registers, no pause.
			c, err := bounded(t, "capture with StopNone", func() (*Capture, error) { return p.Capture(StopNone) })
			if err != nil {
				t.Fatal(err)
			}
			if c.Pause() != 0 || c.Threads()[0].Regs != nil {
				t.Errorf("StopNone: pause %v, registers %v", c.Pause(), c.Threads()[0].Regs != nil)
			}
			checkOracle(t, tg, p.Resolve(c))
			tg.CheckRunning(t)
		})
	}
}

// TestHold holds a process stopped, reads it, resumes it, and holds it
// again; Close resumes a held process.
func TestHold(t *testing.T) {
	in := testenv.Interpreters(t)[0]
	tg, p := openDemo(t, in, Options{})
	h, err := bounded(t, "hold", p.Hold)
	if err != nil {
		t.Fatal(err)
	}
	if testenv.NotStopped(tg.PID) == nil {
		t.Fatal("the held process runs")
	}
	checkOracle(t, tg, h.Snapshot())
	nat := h.NativeSnapshot()
	if len(nat.Threads) < len(h.Snapshot().Threads) || nat.Threads[0].Activity == "" {
		t.Errorf("native snapshot: %d threads, activity %q", len(nat.Threads), nat.Threads[0].Activity)
	}
	for _, th := range h.Snapshot().Threads {
		if th.Activity != "" {
			t.Errorf("the held snapshot was changed by the native one (thread %d activity %q)", th.NativeID, th.Activity)
		}
	}
	if err := boundedErr(t, "resume", h.Resume); err != nil {
		t.Fatal(err)
	}
	if err := testenv.NotStopped(tg.PID); err != nil {
		t.Fatal(err)
	}
	if err := boundedErr(t, "a second resume", h.Resume); err == nil {
		t.Error("a second Resume: no error")
	}
	if _, err := bounded(t, "hold again", p.Hold); err != nil {
		t.Fatal(err)
	}
	if err := boundedErr(t, "close of the held process", p.Close); err != nil {
		t.Fatal(err)
	}
	if err := testenv.NotStopped(tg.PID); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := bounded(t, "capture after Close", func() (*Capture, error) { return p.Capture(StopAll) }); err == nil {
		t.Error("Capture after Close: no error")
	}
	tg.CheckRunning(t)
}

// TestExitDuringCapture: a process that is gone when a capture starts is
// reported as exited, not as some read error.
func TestExitDuringCapture(t *testing.T) {
	in := testenv.Interpreters(t)[0]
	tg, p := openDemo(t, in, Options{})
	killReaped(t, tg)
	if _, err := bounded(t, "capture of the exited process", func() (*Capture, error) { return p.Capture(StopAll) }); !errors.Is(err, target.ErrExited) {
		t.Errorf("Capture of an exited process: %v, want ErrExited", err)
	}
}

// TestCaptureErrorOfLiveProcess: a capture of a live process that fails
// for a reason of its own (here, no interpreter: one starting or ending)
// keeps its error and does not wait to see the process exit, as a
// sampler meets it at every sample; one that may come from a dying
// process looks for exitWait at most.
func TestCaptureErrorOfLiveProcess(t *testing.T) {
	in := testenv.Interpreters(t)[0]
	tg, p := openDemo(t, in, Options{})
	for _, c := range []struct {
		err  error
		most time.Duration
	}{
		{fmt.Errorf("capture: %w", cpython.ErrNoInterpreter), exitWait / 4},
		{fmt.Errorf("seize: %w", target.ErrPermission), 5 * exitWait},
	} {
		start := time.Now()
		got := p.captureError(c.err)
		if took := time.Since(start); got != c.err || took > c.most {
			t.Errorf("captureError(%v) = %v after %v, want the error itself within %v", c.err, got, took, c.most)
		}
	}
	tg.CheckRunning(t)
}

// TestExitMidCapture kills a target while captures of it run back to
// back: the capture under way, or the next one, reports the exit, and
// none hangs.
func TestExitMidCapture(t *testing.T) {
	in := testenv.Interpreters(t)[0]
	for _, policy := range []StopPolicy{StopAll, StopGIL} {
		t.Run(policy.String(), func(t *testing.T) {
			tg, p := openDemo(t, in, Options{})
			captures := 0
			ended := make(chan error, 1)
			go func() {
				for {
					if _, err := p.Capture(policy); err != nil {
						ended <- err
						return
					}
					captures++
				}
			}()
			time.Sleep(100 * time.Millisecond)
			killReaped(t, tg)
			select {
			case err := <-ended:
				if !errors.Is(err, target.ErrExited) {
					t.Errorf("after %d captures, the target killed: %v, want ErrExited", captures, err)
				}
			case <-time.After(callTimeout):
				t.Fatalf("captures of the killed target still running %v after SIGKILL; goroutines:\n%s", callTimeout, allStacks())
			}
		})
	}
}

// TestSubprocesses lists a real process tree.
func TestSubprocesses(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 60 & sleep 60 & sh -c 'sleep 60; true' & wait")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// The whole tree, which is the shell's process group.
		syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
		if !returnsWithin(30*time.Second, func() { sh.Wait() }) {
			t.Errorf("the shell (pid %d) was not reaped within 30 s of SIGKILL", sh.Process.Pid)
		}
	}()
	var got []int
	for deadline := time.Now().Add(20 * time.Second); len(got) < 4 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, _ = Subprocesses(sh.Process.Pid)
	}
	if len(got) != 4 {
		t.Fatalf("Subprocesses = %v after 20 s, want two sleeps, a shell and its sleep", got)
	}
}

// TestCore writes a core and a bundle of a real process with WriteCore and
// reads them back: the same Python stacks as the target's own view, native
// stacks on demand, and no crash (the core was taken from a running
// process).
func TestCore(t *testing.T) {
	in := testenv.Interpreters(t)[0]
	tg := testenv.StartTarget(t, in, "demo.py")
	dir := t.TempDir()
	for _, bundle := range []bool{false, true} {
		path := filepath.Join(dir, "core")
		if bundle {
			path += ".tar.zst"
		}
		cf, err := bounded(t, "WriteCore", func() (CoreFile, error) {
			return WriteCore(tg.PID, path, CoreFileOptions{Bundle: bundle, Warn: func(s string) { t.Log(s) }})
		})
		if err != nil {
			t.Fatal(err)
		}
		if cf.Pause <= 0 || cf.Bytes <= 0 || bundle != (cf.Files > 0) {
			t.Errorf("WriteCore: %+v", cf)
		}
		tg.CheckRunning(t)
		c, err := OpenCore(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := c.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if snap.Source != "core" || snap.Core == nil || snap.Core.File != path || c.Crash() != nil || c.PID() != tg.PID {
			t.Errorf("core fields: source %q core %+v crash %v pid %d", snap.Source, snap.Core, c.Crash(), c.PID())
		}
		checkOracle(t, tg, snap)
		nat, err := c.NativeSnapshot()
		if err != nil || nat == snap || nat.Threads[0].Activity == "" {
			t.Errorf("NativeSnapshot: %v", err)
		}
		checkOracle(t, tg, nat)
		c.Close()
	}
}
