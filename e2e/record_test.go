package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"pyscope/internal/profile/profiletest"
	"pyscope/internal/testenv"
)

// record runs `pyscope record` with args and returns its output file, its
// stderr summary and the kept sample count it reported.
func record(t *testing.T, bin string, timeout time.Duration, args ...string) (string, result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "profile")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"record", "-o", out}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("pyscope record %s: no answer after %v\n%s", strings.Join(args, " "), timeout, stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	if crashed(r.stderr) {
		t.Fatalf("pyscope record crashed:\n%s", r.stderr)
	}
	if r.code != 0 {
		t.Fatalf("pyscope record %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	t.Logf("pyscope record %s:\n%s", strings.Join(args, " "), r.stderr)
	return out, r
}

var keptRE = regexp.MustCompile(`pyscope: (\d+) samples kept`)
var takenRE = regexp.MustCompile(`pyscope: (\d+) samples of .* in [\d.]+ s: (\d+) ticks at [\d.]+ Hz, ([\d.]+)% taken`)

// keptSamples is the kept count record reported.
func keptSamples(t *testing.T, stderr string) int64 {
	t.Helper()
	m := keptRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("record did not say how many samples it kept:\n%s", stderr)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// collapsedStacks parses folded stacks: frame labels root first, and
// counts.
func collapsedStacks(t *testing.T, path string) (stacks [][]string, counts []int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("collapsed line without a count: %q", line)
		}
		n, err := strconv.ParseInt(line[i+1:], 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("collapsed line with a bad count: %q", line)
		}
		stacks = append(stacks, strings.Split(line[:i], ";"))
		counts = append(counts, n)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stacks, counts
}

// funcName is the function of a frame label, `qualname (file...)`.
func funcName(label string) string {
	name, _, _ := strings.Cut(label, " (")
	return name
}

// sharesOf reads the target's CPU seconds by function.
func sharesOf(t *testing.T, tg *testenv.Target) map[string]float64 {
	t.Helper()
	raw, err := tg.Request("report", "report ", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("report %q: %v", raw, err)
	}
	return m
}

var shareFuncs = []string{"alpha", "beta", "gamma", "delta", "epsilon"}

// TestRecordAccuracy: on a target that spends known shares of its CPU
// time in known functions, measured by the target with
// time.thread_time(), every function's share of its thread in the profile
// is within 3 percentage points of the target's own, on every interpreter.
func TestRecordAccuracy(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	ins := testenv.Interpreters(t)
	type run struct {
		in   testenv.Interp
		args []string
	}
	var runs []run
	for _, in := range ins {
		runs = append(runs, run{in, nil})
	}
	// Without stopping, on both ways of walking frames (frame objects
	// before 3.11, the data stack after).
	for _, in := range pick(t, "pbs-3.10", "pbs-3.14") {
		runs = append(runs, run{in, []string{"--nonblocking"}})
	}
	for _, r := range runs {
		name := r.in.Name + strings.Join(r.args, "")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartPlain(t, r.in, "shares.py", "ready")
			time.Sleep(300 * time.Millisecond)
			before := sharesOf(t, tg)
			// 16 s: under load a preempted worker stays in one function for
			// several ticks, so samples come in runs and count for less.
			args := append([]string{"--rate", "1000", "--duration", "16", "--function", "--format", "collapsed"}, r.args...)
			out, res := record(t, bin, 2*time.Minute, append(args, strconv.Itoa(tg.PID))...)
			after := sharesOf(t, tg)
			tg.CheckRunning(t)

			// The target's shares over the recording, "work" being the
			// workers' loop outside the five functions.
			want := map[string]float64{}
			var wantSum float64
			for k, v := range after {
				want[k] = v - before[k]
				wantSum += want[k]
			}
			// The profile's: each worker sample goes to the innermost of
			// the five functions on its stack, else to "work".
			got := map[string]int64{}
			var gotSum int64
			stacks, counts := collapsedStacks(t, out)
			for i, st := range stacks {
				bucket := ""
				for j := len(st) - 1; j >= 0 && bucket == ""; j-- {
					for _, f := range shareFuncs {
						if funcName(st[j]) == f {
							bucket = f
						}
					}
				}
				if bucket == "" {
					for _, fr := range st {
						if funcName(fr) == "work" {
							bucket = "work"
						}
					}
				}
				if bucket != "" {
					got[bucket] += counts[i]
					gotSum += counts[i]
				}
			}
			// 3 points must be well beyond sampling noise: with n samples
			// a share's standard error is at most 50/sqrt(n) points.
			if gotSum < 2500 {
				t.Fatalf("only %d samples of the workers: too few to tell 3 points apart", gotSum)
			}
			// Shares are compared within each worker (shares.py's PLANS).
			// How the workers split the process's time is the kernel's
			// doing: on a loaded machine a worker holding the GIL may
			// wait for a CPU, which its thread_time() does not count and
			// a wall-clock sampler does (measured: workers 48/52 in the
			// profile, 39/61 in CPU time, while each worker's functions
			// agreed within a point).
			var rows []string
			for _, group := range [][]string{{"alpha", "beta", "gamma"}, {"delta", "epsilon"}} {
				var w0, g0 float64
				for _, f := range group {
					w0 += want[f]
					g0 += float64(got[f])
				}
				if w0 == 0 || g0 == 0 {
					t.Errorf("worker of %v: %.2f CPU seconds, %.0f samples", group, w0, g0)
					continue
				}
				for _, f := range group {
					w := 100 * want[f] / w0
					g := 100 * float64(got[f]) / g0
					rows = append(rows, fmt.Sprintf("%-8s target %5.1f%%  profile %5.1f%%  (%+.1f) of its worker", f, w, g, g-w))
					if math.Abs(g-w) > 3 {
						t.Errorf("%s: %.1f%% of its worker's samples, %.1f%% of its worker's CPU time (more than 3 points apart)", f, g, w)
					}
				}
			}
			rows = append(rows, fmt.Sprintf("work     target %5.1f%%  profile %5.1f%%  of both", 100*want["work"]/wantSum, 100*float64(got["work"])/float64(gotSum)))
			t.Logf("%d worker samples, %.2f CPU seconds:\n%s", gotSum, wantSum, strings.Join(rows, "\n"))
			if keptSamples(t, res.stderr) < gotSum {
				t.Errorf("the collapsed stacks hold more samples than record kept")
			}
		})
	}
}

// TestRecordFormats: each format, written by `pyscope record`, is accepted
// by its consumer: go tool pprof reads the pprof profile and names the
// function the target spins in as the hottest, the speedscope file
// validates against speedscope's schema, the flame graph opens in
// headless Chromium and draws that function, the collapsed stacks add up
// to the samples kept, and the Chrome trace is Trace Event JSON with the
// function's slices.
func TestRecordFormats(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.13")[0]
	tg := testenv.StartTarget(t, in, "busy.py")
	var busy *testenv.OracleThread
	for i := range tg.Oracle.Threads {
		if tg.Oracle.Threads[i].Busy {
			busy = &tg.Oracle.Threads[i]
		}
	}
	if busy == nil {
		t.Fatal("the target has no busy thread")
	}
	spin := busy.Frames[0].Qualname
	pid := strconv.Itoa(tg.PID)
	record1 := func(format string, extra ...string) (string, int64) {
		out, r := record(t, bin, time.Minute, append(append([]string{"-d", "2", "-r", "200", "-f", format}, extra...), pid)...)
		return out, keptSamples(t, r.stderr)
	}

	t.Run("pprof", func(t *testing.T) {
		out, kept := record1("pprof")
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pp, err := profile.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("not a pprof profile: %v", err)
		}
		var n int64
		for _, s := range pp.Sample {
			n += s.Value[0]
		}
		if n != kept {
			t.Errorf("pprof holds %d samples, record kept %d", n, kept)
		}
		top, err := exec.Command("go", "tool", "pprof", "-top", out).CombinedOutput()
		if err != nil {
			t.Fatalf("go tool pprof -top: %v\n%s", err, top)
		}
		_, rows, ok := strings.Cut(string(top), "flat%   sum%        cum   cum%\n")
		first, _, _ := strings.Cut(rows, "\n")
		if f := strings.Fields(first); !ok || len(f) != 6 || f[5] != spin {
			t.Errorf("go tool pprof -top: hottest row %q, want %s:\n%s", first, spin, top)
		}
	})
	t.Run("speedscope", func(t *testing.T) {
		out, _ := record1("speedscope", "--threads", "--idle")
		if msg, ok := profiletest.SpeedscopeValidator(t)(out); !ok {
			t.Fatalf("the speedscope file does not validate: %s", msg)
		}
	})
	t.Run("flamegraph", func(t *testing.T) {
		out, kept := record1("flamegraph")
		abs, _ := filepath.Abs(out)
		html := abs + ".html"
		if err := os.Rename(abs, html); err != nil {
			t.Fatal(err)
		}
		titles := profiletest.SVGTitles(profiletest.ChromiumDOM(t, html))
		// The hottest function: the spinning one, with (nearly) every
		// running sample; the main thread may be caught runnable.
		found := false
		for _, ti := range titles {
			name, rest, _ := strings.Cut(ti, "\n")
			var n int64
			fmt.Sscanf(rest, "%d samples", &n)
			if strings.HasPrefix(name, spin+" (") && n >= kept*9/10 {
				found = true
			}
		}
		if !found {
			t.Errorf("the flame graph has no box for %s with its %d samples; boxes: %q", spin, kept, titles)
		}
	})
	t.Run("collapsed", func(t *testing.T) {
		for _, extra := range [][]string{nil, {"--idle", "--threads"}, {"--function", "--gil"}} {
			out, kept := record1("collapsed", extra...)
			stacks, counts := collapsedStacks(t, out)
			var sum int64
			for _, c := range counts {
				sum += c
			}
			if sum != kept || kept == 0 {
				t.Errorf("%v: the counts add up to %d, record kept %d samples", extra, sum, kept)
			}
			if extra == nil {
				var spun int64
				for i, st := range stacks {
					if funcName(st[len(st)-1]) == spin {
						spun += counts[i]
					}
				}
				if spun < sum*9/10 {
					t.Errorf("%d of %d running samples in %s, the function the target spins in", spun, sum, spin)
				}
			}
		}
	})
	t.Run("chrome", func(t *testing.T) {
		out, _ := record1("chrome")
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var tr struct {
			TraceEvents []struct {
				Name string `json:"name"`
				Ph   string `json:"ph"`
				Dur  int64  `json:"dur"`
			} `json:"traceEvents"`
		}
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatalf("not Trace Event JSON: %v", err)
		}
		var spun int64
		for _, e := range tr.TraceEvents {
			if e.Ph == "X" && strings.HasPrefix(e.Name, spin+" (") {
				spun += e.Dur
			}
		}
		if spun < 1_000_000 {
			t.Errorf("the trace has %d µs in %s over a 2 s recording", spun, spin)
		}
	})
	tg.CheckRunning(t)
}
