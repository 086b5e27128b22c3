package e2e

import (
	"math/rand"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestDumpText checks the human output against the oracle: one header per
// thread, then `File "…", line N, in qualname` per frame followed by the
// source line as the target's file has it, and no colour when piped.
func TestDumpText(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "shapes.py")
			r := runPyscope(t, bin, nil, "dump", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if strings.Contains(r.stdout, "\x1b[") {
				t.Error("colour escapes in output that is not a terminal")
			}
			for _, ot := range tg.Oracle.Threads {
				hdr := regexp.MustCompile(`(?m)^Thread 0x` + strconv.FormatUint(ot.ThreadID, 16) +
					` \(TID ` + strconv.Itoa(ot.NativeID) + `\)(.*)$`).FindStringSubmatch(r.stdout)
				if hdr == nil {
					t.Errorf("no header for thread %#x (TID %d)", ot.ThreadID, ot.NativeID)
					continue
				}
				if ot.Name != nil && !strings.Contains(hdr[1], strconv.Quote(*ot.Name)) {
					t.Errorf("header %q lacks the name %q", hdr[0], *ot.Name)
				}
				if ot.IsMain != strings.Contains(hdr[1], "main") {
					t.Errorf("header %q: main should be %v", hdr[0], ot.IsMain)
				}
				// The frames follow the header, innermost first.
				body := r.stdout[strings.Index(r.stdout, hdr[0])+len(hdr[0]):]
				if i := strings.Index(body, "\nThread 0x"); i >= 0 {
					body = body[:i]
				}
				pos := 0
				for _, f := range ot.Frames {
					want := `File "` + f.File + `", line ` + strconv.Itoa(f.Line) + ", in " + f.Qualname
					i := strings.Index(body[pos:], want)
					if i < 0 {
						t.Errorf("thread %#x: %q missing or out of order", ot.ThreadID, want)
						break
					}
					pos += i + len(want)
					if src := sourceLineOf(f.File, f.Line); src != "" {
						if !strings.HasPrefix(body[pos:], "\n    "+src+"\n") {
							t.Errorf("thread %#x: after %q want source %q", ot.ThreadID, want, src)
						}
					}
				}
			}
			// NO_COLOR beats --color=auto, but --color=always forces it.
			r = runPyscope(t, bin, nil, "dump", "--color=always", strconv.Itoa(tg.PID))
			if r.code != 0 || !strings.Contains(r.stdout, "\x1b[") {
				t.Errorf("--color=always printed no colour (exit %d: %s)", r.code, r.stderr)
			}
			tg.CheckRunning(t)
		})
	}
}

// sourceLineOf returns a source line stripped as pyscope prints it, or ""
// when the file cannot be read (e.g. "<string>").
func sourceLineOf(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[n-1])
}

// TestDumpSurvivesSIGKILL kills pyscope at random moments of a dump, many
// times: the target must never be left stopped and must keep running.
func TestDumpSurvivesSIGKILL(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	// 3.10, 3.14 (static), and the free-threaded 3.13 whose threads run in
	// parallel while pyscope stops them.
	for _, in := range pick(t, "pbs-3.10", "pbs-3.14", "src-3.13.5t") {
		t.Run(in.Name, func(t *testing.T) {
			// A thread spins holding the GIL: the default dump stops it,
			// so kills can land in the pause.
			tg := testenv.StartTarget(t, in, "busy.py")
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			killedWhileStopped := 0
			const rounds = 40
			for i := 0; i < rounds; i++ {
				cmd := exec.Command(bin, "dump", "--json", strconv.Itoa(tg.PID))
				cmd.Stdout, cmd.Stderr = nil, nil
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 {
					time.Sleep(time.Duration(rng.Intn(12000)) * time.Microsecond)
				} else {
					// Aim for the pause itself: kill as soon as a thread
					// is seen in tracing stop.
					for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
						if testenv.NotStopped(tg.PID) != nil {
							break
						}
					}
				}
				if err := testenv.NotStopped(tg.PID); err != nil {
					killedWhileStopped++
				}
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				// The kernel resumes a SEIZEd tracee when its tracer dies.
				deadline := time.Now().Add(2 * time.Second)
				for testenv.NotStopped(tg.PID) != nil && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if err := testenv.NotStopped(tg.PID); err != nil {
					t.Fatalf("round %d: target left stopped after SIGKILL of pyscope: %v", i, err)
				}
				if err := tg.Ping(); err != nil {
					t.Fatalf("round %d: target does not answer: %v", i, err)
				}
			}
			t.Logf("%d kills, %d of them while the target was stopped", rounds, killedWhileStopped)
			if killedWhileStopped == 0 {
				t.Error("no kill landed while the target was stopped: the test proved nothing")
			}
		})
	}
}

// TestSubinterpreters dumps a thread that runs code in a subinterpreter:
// both its thread states must appear, each with its own interpreter's stack.
func TestSubinterpreters(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "subinterp.py")
			var sub struct {
				NativeID int                   `json:"native_id"`
				Frames   []testenv.OracleFrame `json:"frames"`
			}
			targetJSON(t, tg, "oracle.json.sub", &sub)
			r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			d := decodeDump(t, r.stdout)
			var mainThreads []DumpThread
			var subThreads []DumpThread
			for _, th := range d.Threads {
				if th.Interpreter == 0 {
					mainThreads = append(mainThreads, th)
				} else {
					subThreads = append(subThreads, th)
				}
			}
			if len(subThreads) != 1 {
				t.Fatalf("%d subinterpreter threads, want 1", len(subThreads))
			}
			st := subThreads[0]
			if st.NativeID != sub.NativeID {
				t.Errorf("subinterpreter thread: native_id %d, want %d", st.NativeID, sub.NativeID)
			}
			if len(st.Frames) != len(sub.Frames) {
				t.Fatalf("subinterpreter thread: %d frames, want %d:\n%v\n%v", len(st.Frames), len(sub.Frames), st.Frames, sub.Frames)
			}
			for i, f := range sub.Frames {
				g := st.Frames[i]
				if g.Function != f.Function || g.Qualname != f.Qualname || g.File != f.File || g.Line != f.Line {
					t.Errorf("subinterpreter frame %d: %s, want %s", i, fmtDump(g), fmtOracle(f))
				}
			}
			d.Threads = mainThreads
			compareDump(t, tg, d)
			tg.CheckRunning(t)
		})
	}
}
