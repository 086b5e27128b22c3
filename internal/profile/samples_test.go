package profile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pyscope/internal/model"
	"pyscope/internal/testenv"
)

// A recording is real samples: a target dumped by pyscope again and again,
// each dump turned into samples as the recorder will do.
type recording struct {
	samples []Sample
	oracle  testenv.Oracle
}

// python returns the samples without their C frames: what a recording
// without --native holds.
func (r *recording) python() []Sample {
	out := make([]Sample, len(r.samples))
	for i, s := range r.samples {
		s.Frames = nil
		for _, f := range r.samples[i].Frames {
			if !f.Native {
				s.Frames = append(s.Frames, f)
			}
		}
		out[i] = s
	}
	return out
}

// busyThread is the oracle's thread that spins in pure Python.
func (r *recording) busyThread(t *testing.T) *testenv.OracleThread {
	t.Helper()
	for i := range r.oracle.Threads {
		if r.oracle.Threads[i].Busy {
			return &r.oracle.Threads[i]
		}
	}
	t.Fatal("the oracle has no busy thread")
	return nil
}

var (
	busyOnce sync.Once
	busyRec  *recording
	busyErr  string
)

const busyDumps = 12

// busyRecording samples busy.py (one thread spinning in pure Python,
// holding the GIL; the others blocked) on Python 3.12 with `dump --native
// --json`, which also gives each thread's state, hence idleness.
func busyRecording(t *testing.T) *recording {
	t.Helper()
	busyOnce.Do(func() {
		in := interp(t, "3.12")
		tg := testenv.StartTarget(t, in, "busy.py")
		busyRec, busyErr = record(t, tg, busyDumps, "--native")
	})
	if busyErr != "" {
		t.Fatal(busyErr)
	}
	return busyRec
}

func interp(t *testing.T, minor string) testenv.Interp {
	t.Helper()
	for _, in := range testenv.Interpreters(t) {
		if in.Minor == minor && strings.HasPrefix(in.Name, "pbs-") {
			return in
		}
	}
	t.Fatalf("no python-build-standalone %s in the matrix", minor)
	return testenv.Interp{}
}

// record dumps the target n times and returns the samples, or why not.
func record(t *testing.T, tg *testenv.Target, n int, flags ...string) (*recording, string) {
	bin := testenv.BuildPyscope(t)
	rec := &recording{oracle: tg.Oracle}
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, bin, append(append([]string{"dump", "--json"}, flags...), strconv.Itoa(tg.PID))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		at := time.Now()
		out, err := cmd.Output()
		cancel()
		if err != nil {
			return nil, fmt.Sprintf("pyscope dump: %v: %s", err, stderr.String())
		}
		var snap model.Snapshot
		if err := json.Unmarshal(out, &snap); err != nil {
			return nil, fmt.Sprintf("dump is not JSON: %v", err)
		}
		rec.samples = append(rec.samples, FromSnapshot(&snap, at)...)
	}
	if err := testenv.NotStopped(tg.PID); err != nil {
		return nil, err.Error()
	}
	return rec, ""
}

// kept is what a profile with these options must keep, counted here
// independently of the package: per thread, and in all.
func kept(samples []Sample, o Options) (map[uint64]int64, int64) {
	per := map[uint64]int64{}
	var all int64
	for _, s := range samples {
		if len(s.Frames) == 0 || s.Idle && !o.Idle || o.GILOnly && !s.HoldsGIL {
			continue
		}
		per[s.ThreadID]++
		all++
	}
	return per, all
}

func build(samples []Sample, o Options) *Profile {
	p := New(o)
	for _, s := range samples {
		p.Add(s)
	}
	return p
}

// pyLabel is how every format names a Python frame, from the oracle.
func pyLabel(f testenv.OracleFrame, byFunction bool) string {
	if byFunction {
		return fmt.Sprintf("%s (%s)", f.Qualname, f.File)
	}
	return fmt.Sprintf("%s (%s:%d)", f.Qualname, f.File, f.Line)
}
