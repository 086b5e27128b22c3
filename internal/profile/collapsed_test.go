package profile

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

type folded struct {
	frames []string
	count  int64
}

func parseCollapsed(t *testing.T, b []byte) []folded {
	t.Helper()
	var out []folded
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			t.Fatalf("collapsed line without a count: %q", line)
		}
		n, err := strconv.ParseInt(line[i+1:], 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("collapsed line with a bad count: %q", line)
		}
		out = append(out, folded{frames: strings.Split(line[:i], ";"), count: n})
	}
	return out
}

// TestCollapsed: on real samples, under every option the recorder passes,
// the counts add up to the samples kept (counted here independently), per
// thread too, and stacks run from the root to the frame the target was in.
func TestCollapsed(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	for _, native := range []bool{false, true} {
		samples := rec.samples
		if !native {
			samples = rec.python()
		}
		for _, o := range []Options{
			{},
			{ByFunction: true},
			{SplitThreads: true},
			{Idle: true},
			{Idle: true, SplitThreads: true, ByFunction: true},
			{GILOnly: true},
		} {
			t.Run(optName(native, o), func(t *testing.T) {
				p := build(samples, o)
				var b bytes.Buffer
				if err := p.WriteCollapsed(&b); err != nil {
					t.Fatal(err)
				}
				lines := parseCollapsed(t, b.Bytes())
				per, all := kept(samples, o)
				if all == 0 {
					t.Fatalf("no samples to check: %d samples, options %+v", len(samples), o)
				}
				var sum int64
				perThread := map[string]int64{}
				for _, l := range lines {
					sum += l.count
					if o.SplitThreads {
						perThread[l.frames[0]] += l.count
					}
				}
				if sum != all || p.Stats().Kept != all {
					t.Errorf("counts add up to %d (Stats.Kept %d), want %d samples", sum, p.Stats().Kept, all)
				}
				if o.SplitThreads {
					for tid, n := range per {
						var got int64
						for root, c := range perThread {
							if strings.HasPrefix(root, fmt.Sprintf("Thread %#x ", tid)) {
								got += c
							}
						}
						if got != n {
							t.Errorf("thread %#x: %d samples under its root, want %d", tid, got, n)
						}
					}
				}
				// The spinning thread's Python stack, as the oracle has it,
				// root first, is in the output.
				var want []string
				for i := len(busy.Frames) - 1; i >= 0; i-- {
					want = append(want, pyLabel(busy.Frames[i], o.ByFunction))
				}
				found := false
				for _, l := range lines {
					var py []string
					for _, f := range l.frames {
						if strings.HasPrefix(f, "Thread 0x") {
							continue
						}
						for _, w := range want {
							if f == w {
								py = append(py, f)
								break
							}
						}
					}
					found = found || strings.Join(py, ";") == strings.Join(want, ";")
				}
				if !found {
					t.Errorf("the busy thread's stack %q is in no line:\n%s", want, b.String())
				}
			})
		}
	}
}

func optName(native bool, o Options) string {
	s := "python"
	if native {
		s = "native"
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{o.ByFunction, "function"}, {o.SplitThreads, "threads"}, {o.Idle, "idle"}, {o.GILOnly, "gil"}} {
		if f.on {
			s += "+" + f.name
		}
	}
	return s
}

// TestThreadRenamed: a thread whose name changes between samples (a new
// thread carries the OS's name until threading registers it) has one
// root, with its latest name.
func TestThreadRenamed(t *testing.T) {
	samples := busyRecording(t).python()
	renamed := make([]Sample, len(samples))
	copy(renamed, samples)
	for i := range renamed[:len(renamed)/2] {
		renamed[i].ThreadName = "python3.12"
	}
	var b bytes.Buffer
	if err := build(renamed, Options{SplitThreads: true, Idle: true}).WriteCollapsed(&b); err != nil {
		t.Fatal(err)
	}
	roots := map[string]bool{}
	for _, l := range parseCollapsed(t, b.Bytes()) {
		roots[l.frames[0]] = true
	}
	byTID := map[uint64]string{}
	for _, s := range samples {
		byTID[s.ThreadID] = s.ThreadName
	}
	if len(roots) != len(byTID) {
		t.Errorf("%d roots for %d threads: %v", len(roots), len(byTID), roots)
	}
	for root := range roots {
		if strings.Contains(root, `"python3.12"`) {
			t.Errorf("root %s has the thread's first name, not its latest", root)
		}
	}
}
