package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"pyscope/internal/profile/profiletest"
)

func write(t *testing.T, p *Profile, f Format) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profile"+f.Ext())
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(fh, f); err != nil {
		t.Fatalf("write %s: %v", f, err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPprof: `go tool pprof -top` reads the profile and names the function
// the target spun in as the hottest; the profile parses back with the same
// totals and per-thread labels.
func TestPprof(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	for _, native := range []bool{false, true} {
		t.Run(fmt.Sprintf("native=%v", native), func(t *testing.T) {
			samples := rec.python()
			if native {
				samples = rec.samples
			}
			o := Options{Name: "busy.py"}
			per, all := kept(samples, o)
			path := write(t, build(samples, o), Pprof)

			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pp, err := profile.Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("profile.Parse: %v", err)
			}
			var sum int64
			byThread := map[int64]int64{}
			for _, s := range pp.Sample {
				sum += s.Value[0]
				if s.Value[1] != s.Value[0]*pp.Period {
					t.Errorf("sample value %v: cpu is not count × period %d", s.Value, pp.Period)
				}
				byThread[s.NumLabel["thread_id"][0]] += s.Value[0]
			}
			if sum != all {
				t.Errorf("pprof holds %d samples, want %d", sum, all)
			}
			for tid, n := range per {
				if byThread[int64(tid)] != n {
					t.Errorf("thread %#x: %d samples labelled, want %d", tid, byThread[int64(tid)], n)
				}
			}

			out, err := exec.Command("go", "tool", "pprof", "-top", path).CombinedOutput()
			if err != nil {
				t.Fatalf("go tool pprof -top: %v\n%s", err, out)
			}
			// The first row under the header is the hottest by own time.
			_, rows, ok := strings.Cut(string(out), "flat%   sum%        cum   cum%\n")
			if !ok {
				t.Fatalf("go tool pprof -top printed no table:\n%s", out)
			}
			first, _, _ := strings.Cut(rows, "\n")
			f := strings.Fields(first)
			want := busy.Frames[0].Qualname
			if native {
				// With C frames the spinning thread's own time is spread over
				// the interpreter's C functions; its Python function is the
				// hottest by total time.
				out, err = exec.Command("go", "tool", "pprof", "-top", "-cum", "-focus=^"+regexp.QuoteMeta(want)+"$", path).CombinedOutput()
				if err != nil || !strings.Contains(string(out), " "+want+"\n") {
					t.Errorf("go tool pprof -top -cum does not show %s: %v\n%s", want, err, out)
				}
				return
			}
			if len(f) != 6 || f[5] != want {
				t.Errorf("go tool pprof -top: hottest row %q, want the function the target spun in, %s:\n%s", first, want, out)
			}
		})
	}
}

// TestPprofNames: go tool pprof shows every Python function under its own
// name, the target's qualnames: <module>, <lambda> and <genexpr> too, which
// pprof's C++ heuristics would empty (and show as the mapping, [python])
// when a function's system name equals its name.
func TestPprofNames(t *testing.T) {
	rec := busyRecording(t)
	path := write(t, build(rec.python(), Options{Name: "busy.py", Idle: true}), Pprof)
	out, err := exec.Command("go", "tool", "pprof", "-traces", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -traces: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], "s"): // "1s   <module>": a stack's innermost frame
			names[f[1]] = true
		case len(f) == 1:
			names[f[0]] = true
		}
	}
	module := false
	for _, th := range rec.oracle.Threads {
		for _, fr := range th.Frames {
			module = module || fr.Qualname == "<module>"
			if !names[fr.Qualname] {
				t.Errorf("go tool pprof -traces does not name %s (thread %#x):\n%s", fr.Qualname, th.ThreadID, out)
			}
		}
	}
	if !module {
		t.Error("no thread of the target runs <module>: the test checks nothing pprof would rename")
	}
}

// TestSpeedscopeSchema: the output validates against speedscope's published
// schema (with the reference JSON-schema validator), and its samples are
// the recording's, per thread, root first, in units the file declares.
func TestSpeedscopeSchema(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	validate := profiletest.SpeedscopeValidator(t)
	for _, native := range []bool{false, true} {
		for _, o := range []Options{{Name: "busy.py"}, {Name: "busy.py", Idle: true, ByFunction: true, SplitThreads: true}} {
			t.Run(fmt.Sprintf("native=%v/idle=%v", native, o.Idle), func(t *testing.T) {
				samples := rec.python()
				if native {
					samples = rec.samples
				}
				per, _ := kept(samples, o)
				p := build(samples, o)
				path := write(t, p, Speedscope)
				if msg, ok := validate(path); !ok {
					t.Fatalf("speedscope output does not validate: %s", msg)
				}
				var f ssFile
				raw, _ := os.ReadFile(path)
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatal(err)
				}
				if len(f.Profiles) != len(per) {
					t.Errorf("%d profiles, want one per thread with samples (%d)", len(f.Profiles), len(per))
				}
				var spinner *ssProfile
				for i := range f.Profiles {
					pr := &f.Profiles[i]
					if len(pr.Samples) != len(pr.Weights) {
						t.Fatalf("%s: %d samples, %d weights", pr.Name, len(pr.Samples), len(pr.Weights))
					}
					var sum float64
					for j, s := range pr.Samples {
						sum += pr.Weights[j]
						for _, fi := range s {
							if fi < 0 || int(fi) >= len(f.Shared.Frames) {
								t.Fatalf("%s: frame index %d out of %d", pr.Name, fi, len(f.Shared.Frames))
							}
						}
					}
					if math.Abs(sum-pr.EndValue) > 1e-9 || pr.StartValue != 0 {
						t.Errorf("%s: weights add up to %v, range [%v, %v]", pr.Name, sum, pr.StartValue, pr.EndValue)
					}
					if strings.HasPrefix(pr.Name, fmt.Sprintf("Thread %#x ", busy.ThreadID)) {
						spinner = pr
						if n := int64(math.Round(sum / p.Options().Interval.Seconds())); n != per[busy.ThreadID] {
							t.Errorf("spinner: weights are %d samples, want %d", n, per[busy.ThreadID])
						}
					}
				}
				if spinner == nil {
					t.Fatalf("no profile for the busy thread %#x", busy.ThreadID)
				}
				if f.Profiles[f.ActiveProfileIndex].Name != spinner.Name && !o.Idle {
					t.Errorf("speedscope opens on %q, not on the busiest thread", f.Profiles[f.ActiveProfileIndex].Name)
				}
				// Root first: the oracle's outermost frame starts each stack
				// of the busy thread, its innermost Python frame is in it.
				outer, inner := busy.Frames[len(busy.Frames)-1], busy.Frames[0]
				for _, s := range spinner.Samples {
					var py []ssFrame
					for _, fi := range s {
						if fr := f.Shared.Frames[fi]; !strings.Contains(fr.File, "/build/") && !strings.HasPrefix(fr.File, "../") && strings.HasSuffix(fr.File, ".py") {
							py = append(py, fr)
						}
					}
					if len(py) == 0 || py[0].Name != outer.Qualname || py[len(py)-1].Name != inner.Qualname || py[len(py)-1].File != inner.File {
						t.Errorf("busy thread stack %+v: want %s first and %s last", py, outer.Qualname, inner.Qualname)
					}
				}
			})
		}
	}
	// The validator rejects what breaks the schema, so its "valid" means
	// something.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{"frames":[{"file":"x"}]},"profiles":[{"type":"sampled"}]}`), 0o644)
	if _, ok := validate(bad); ok {
		t.Error("the schema validator accepts a file without frame names and profile fields")
	}
}

// TestChromeTrace: the trace is Trace Event JSON: per thread, metadata
// names it and complete events nest exactly (what Perfetto requires); the
// busy thread spends its recorded time in the function it spun in.
func TestChromeTrace(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	for _, native := range []bool{false, true} {
		t.Run(fmt.Sprintf("native=%v", native), func(t *testing.T) {
			samples := rec.python()
			if native {
				samples = rec.samples
			}
			o := Options{Name: "busy.py", Idle: true}
			path := write(t, build(samples, o), Chrome)
			raw, _ := os.ReadFile(path)
			var tr struct {
				TraceEvents []struct {
					Name string         `json:"name"`
					Ph   string         `json:"ph"`
					Ts   *int64         `json:"ts"`
					Dur  *int64         `json:"dur"`
					PID  *int           `json:"pid"`
					TID  *int64         `json:"tid"`
					Args map[string]any `json:"args"`
				} `json:"traceEvents"`
				DisplayTimeUnit string `json:"displayTimeUnit"`
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&tr); err != nil {
				// otherData is allowed by the format; decode it loosely.
				if !strings.Contains(err.Error(), "otherData") {
					t.Fatalf("not Trace Event JSON: %v", err)
				}
				if err := json.Unmarshal(raw, &tr); err != nil {
					t.Fatal(err)
				}
			}
			type span struct{ start, end int64 }
			named := map[int64]string{}
			spans := map[int64][]span{}
			var spinTime int64
			for _, e := range tr.TraceEvents {
				if e.PID == nil || e.TID == nil || e.Ts == nil {
					t.Fatalf("event without pid, tid or ts: %+v", e)
				}
				switch e.Ph {
				case "M":
					if e.Name == "thread_name" {
						named[*e.TID], _ = e.Args["name"].(string)
					}
				case "X":
					if e.Dur == nil || *e.Dur < 0 {
						t.Fatalf("complete event without a duration: %+v", e)
					}
					spans[*e.TID] = append(spans[*e.TID], span{*e.Ts, *e.Ts + *e.Dur})
					if *e.TID == int64(busy.NativeID) && e.Name == pyLabel(busy.Frames[0], false) {
						spinTime += *e.Dur
					}
				default:
					t.Fatalf("unexpected phase %q", e.Ph)
				}
			}
			for _, th := range rec.oracle.Threads {
				if !strings.Contains(named[int64(th.NativeID)], fmt.Sprintf("(TID %d)", th.NativeID)) {
					t.Errorf("thread %d has no thread_name metadata", th.NativeID)
				}
			}
			// Nesting: sorted by start (longest first), each span lies in
			// the innermost open one or starts after it ends.
			for tid, ss := range spans {
				sort.Slice(ss, func(i, j int) bool {
					if ss[i].start != ss[j].start {
						return ss[i].start < ss[j].start
					}
					return ss[i].end > ss[j].end
				})
				var open []span
				for _, s := range ss {
					for len(open) > 0 && s.start >= open[len(open)-1].end {
						open = open[:len(open)-1]
					}
					if len(open) > 0 && s.end > open[len(open)-1].end {
						t.Fatalf("thread %d: slice %v overlaps %v without nesting", tid, s, open[len(open)-1])
					}
					open = append(open, s)
				}
			}
			// Every sample of the spinner was in spin: its slices cover the
			// recording, from the first dump to one interval past the last.
			var first, last int64 = -1, 0
			for _, s := range samples {
				if s.ThreadID == busy.ThreadID {
					ns := s.Time.Sub(samples[0].Time).Nanoseconds()
					if first < 0 {
						first = ns
					}
					last = ns
				}
			}
			want := (last - first + New(o).Options().Interval.Nanoseconds()) / 1000
			if d := spinTime - want; d < -1 || d > 1 {
				t.Errorf("spin lasts %d µs in the trace, want %d", spinTime, want)
			}
		})
	}
}

// TestFlamegraphChromium: the page opens in headless Chromium, the
// renderer draws a box per frame, and the function the target spun in is
// drawn with every sample kept.
func TestFlamegraphChromium(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	o := Options{Name: "busy.py"}
	samples := rec.python()
	_, all := kept(samples, o)
	p := build(samples, o)
	dom := profiletest.ChromiumDOM(t, write(t, p, Flamegraph))
	titles := profiletest.SVGTitles(dom)
	if len(titles) < len(busy.Frames) {
		t.Fatalf("the flame graph drew %d frames; the DOM:\n%.3000s", len(titles), dom)
	}
	want := fmt.Sprintf("%s\n%d samples, 100.00%%", pyLabel(busy.Frames[0], false), all)
	found := false
	for _, ti := range titles {
		found = found || ti == want
	}
	if !found {
		t.Errorf("no frame box %q among %q", want, titles)
	}
}
