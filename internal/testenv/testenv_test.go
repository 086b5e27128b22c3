package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Scripts are the oracle-writing targets; every one must work everywhere.
var scripts = []string{"shapes.py", "aio.py", "exotic.py", "busy.py", "demo.py"}

func TestMatrix(t *testing.T) {
	m := Interpreters(t)
	if len(m) != 8 {
		t.Fatalf("matrix has %d interpreters, want 8: %v", len(m), m)
	}
	seen := map[string]bool{}
	for _, in := range m {
		if seen[in.Name] {
			t.Errorf("duplicate interpreter name %s", in.Name)
		}
		seen[in.Name] = true
	}
	for _, want := range []string{"debian-3.11", "venv-copies-3.11", "src-3.13.5t"} {
		if !seen[want] {
			t.Errorf("matrix lacks %s", want)
		}
	}
	for _, in := range m {
		if in.FreeThreaded {
			out, err := exec.Command(in.Path, "-c", "import sys; print(sys._is_gil_enabled())").Output()
			if err != nil || strings.TrimSpace(string(out)) != "False" {
				t.Errorf("%s: GIL enabled %q (%v), want a free-threaded interpreter", in.Name, out, err)
			}
		}
	}
}

// TestOracles checks the oracle side on every interpreter: each target
// starts, parks, writes a coherent oracle that shows the shapes it is meant
// to show, and keeps answering afterwards.
func TestOracles(t *testing.T) {
	for _, in := range Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			for _, script := range scripts {
				t.Run(strings.TrimSuffix(script, ".py"), func(t *testing.T) {
					tg := StartTarget(t, in, script)
					checkOracle(t, in, tg)
					checkShapes(t, in, script, &tg.Oracle)
					if err := NotStopped(tg.PID); err != nil {
						t.Fatal(err)
					}
					tg.CheckRunning(t)
					tg.CheckRunning(t) // the responder is back where it was
				})
			}
		})
	}
}

func checkOracle(t *testing.T, in Interp, tg *Target) {
	o := &tg.Oracle
	if !strings.HasPrefix(o.Version, in.Minor+".") {
		t.Errorf("version %s, want %s.x", o.Version, in.Minor)
	}
	if o.Executable != in.Path {
		t.Errorf("executable %s, want %s", o.Executable, in.Path)
	}
	if o.FreeThreaded != in.FreeThreaded {
		t.Errorf("free_threaded %v, want %v", o.FreeThreaded, in.FreeThreaded)
	}
	mains, busy := 0, 0
	ids := map[uint64]bool{}
	for _, th := range o.Threads {
		if ids[th.ThreadID] {
			t.Errorf("thread id %d twice", th.ThreadID)
		}
		ids[th.ThreadID] = true
		if th.IsMain {
			mains++
			if th.NativeID != tg.PID {
				t.Errorf("main thread native id %d, pid %d", th.NativeID, tg.PID)
			}
		}
		if th.Busy {
			busy++
			// No GIL to hold on a free-threaded build.
			if th.HoldsGIL == nil || *th.HoldsGIL != !in.FreeThreaded {
				t.Errorf("busy thread %d: holds_gil %v on %s", th.ThreadID, th.HoldsGIL, in.Name)
			}
			if th.State != "attached" {
				t.Errorf("busy thread %d: state %q, want attached", th.ThreadID, th.State)
			}
		} else {
			if th.HoldsGIL != nil {
				t.Errorf("parked thread %d: holds_gil should be null", th.ThreadID)
			}
			if th.State != "detached" {
				t.Errorf("parked thread %d: state %q, want detached", th.ThreadID, th.State)
			}
		}
		if len(th.Frames) == 0 {
			t.Errorf("thread %d has no frames", th.ThreadID)
		}
		for _, f := range th.Frames {
			if f.Function == "" || f.Qualname == "" || f.File == "" || f.Line <= 0 {
				t.Errorf("thread %d: incomplete frame %+v", th.ThreadID, f)
				break
			}
		}
		if name := th.Name; name != nil && *name == "pyscope-reporter" {
			t.Errorf("reporter thread is in the oracle")
		}
	}
	if mains != 1 {
		t.Errorf("%d main threads", mains)
	}
	if want := map[bool]int{true: 1, false: 0}[strings.HasPrefix(filepath.Base(tg.Cmd.Args[1]), "busy")]; busy != want {
		t.Errorf("%d busy threads, want %d", busy, want)
	}
	// Every main thread starts in the script's module code.
	for _, th := range o.Threads {
		if th.IsMain {
			last := th.Frames[len(th.Frames)-1]
			if last.Function != "<module>" || last.File != tg.Cmd.Args[1] {
				t.Errorf("main thread's outermost frame %+v", last)
			}
		}
	}
}

// checkShapes verifies the target really parked in the shapes it exists
// for (so a broken target cannot make the e2e comparison vacuous).
func checkShapes(t *testing.T, in Interp, script string, o *Oracle) {
	has := func(pred func(th *OracleThread, f *OracleFrame) bool) bool {
		for i := range o.Threads {
			for j := range o.Threads[i].Frames {
				if pred(&o.Threads[i], &o.Threads[i].Frames[j]) {
					return true
				}
			}
		}
		return false
	}
	need := func(what string, pred func(th *OracleThread, f *OracleFrame) bool) {
		if !has(pred) {
			t.Errorf("%s: no %s in the oracle", script, what)
		}
	}
	named := func(n string) func(th *OracleThread, f *OracleFrame) bool {
		return func(th *OracleThread, f *OracleFrame) bool { return th.Name != nil && *th.Name == n }
	}
	qual := func(q string) func(th *OracleThread, f *OracleFrame) bool {
		return func(th *OracleThread, f *OracleFrame) bool { return f.Qualname == q }
	}
	newQual := in.Minor != "3.10" // co_qualname exists from 3.11
	switch script {
	case "shapes.py":
		need("thread named worker-0", named("worker-0"))
		need("unnamed thread", func(th *OracleThread, f *OracleFrame) bool { return th.Name == nil })
		need("exec'd function", func(th *OracleThread, f *OracleFrame) bool { return f.File == "<string>" })
		need("generator", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "numbers" })
		need("lambda", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "<lambda>" })
		need("genexpr", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "<genexpr>" })
		need("list comprehension", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "wait_in_listcomp" })
		need("class body", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "Config" })
		need("finalizer run as a call from C returns", func(th *OracleThread, f *OracleFrame) bool {
			fs := th.Frames
			for i := 0; i+1 < len(fs); i++ {
				if &fs[i] == f && f.Function == "__del__" && fs[i+1].Function == "finalize_on_return" {
					return true
				}
			}
			return false
		})
		if newQual {
			need("nested class method", qual("Service.Handler.helper"))
			need("nested function", qual("outer.<locals>.middle.<locals>.inner"))
		}
	case "aio.py":
		need("async generator", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "ticks" })
		need("coroutine", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "handler" })
		need("event loop in select", func(th *OracleThread, f *OracleFrame) bool {
			return th.IsMain && f.Function == "select" && strings.HasSuffix(f.File, "selectors.py")
		})
	case "exotic.py":
		need("zip module", func(th *OracleThread, f *OracleFrame) bool {
			return strings.HasSuffix(f.File, "mods.zip/zipped_mod.py")
		})
		need("non-ASCII file", func(th *OracleThread, f *OracleFrame) bool {
			return strings.HasSuffix(f.File, "répertoire_ß/données_ünïcode.py")
		})
		need("non-ASCII function", func(th *OracleThread, f *OracleFrame) bool { return f.Function == "等待" })
		if newQual {
			need("non-ASCII class method", qual("Ünïcode.Вложенный.ждать"))
		}
		need("non-ASCII thread name", named("travailleur-ü-等"))
		need("3000-deep recursion", func(th *OracleThread, f *OracleFrame) bool {
			n := 0
			for _, g := range th.Frames {
				if g.Function == "dive" {
					n++
				}
			}
			return n == 3000
		})
	case "busy.py":
		need("spinner", func(th *OracleThread, f *OracleFrame) bool { return th.Busy && f.Function == "spin" })
	case "demo.py":
		need("web worker", named("web-worker-1"))
	}
}

// TestDemoStandalone runs demo.py the way `pyscope demo` does: no
// arguments, no helper module.
func TestDemoStandalone(t *testing.T) {
	for _, in := range Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := StartPlain(t, in, "demo.py", "demo running")
			if err := NotStopped(tg.PID); err != nil {
				t.Fatal(err)
			}
			if tg.Exited() {
				t.Fatal("demo exited")
			}
			if s := tg.Stderr(); s != "" {
				t.Errorf("demo wrote to stderr: %s", s)
			}
		})
	}
}

func TestBuildPyscopeOnce(t *testing.T) {
	a := BuildPyscope(t)
	b := BuildPyscope(t)
	if a != b {
		t.Fatalf("built twice: %s, %s", a, b)
	}
	if _, err := os.Stat(a); err != nil {
		t.Fatal(err)
	}
}

// TestOracleStable checks the harness itself: one second after the oracle
// was written, sys._current_frames() still shows the same stacks, so a dump
// taken after StartTarget returns can be compared with it exactly.
func TestOracleStable(t *testing.T) {
	for _, in := range Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			for _, script := range scripts {
				t.Run(strings.TrimSuffix(script, ".py"), func(t *testing.T) {
					tg, err := startTarget(t, in, script, []string{"PYSCOPE_ORACLE_RECHECK=1"}, nil)
					if err != nil {
						t.Fatal(err)
					}
					raw, err := os.ReadFile(filepath.Join(tg.Dir, "oracle.json.recheck"))
					if err != nil {
						t.Fatal(err)
					}
					var later []OracleThread
					if err := json.Unmarshal(raw, &later); err != nil {
						t.Fatal(err)
					}
					if len(later) != len(tg.Oracle.Threads) {
						t.Fatalf("%d threads later, %d in the oracle", len(later), len(tg.Oracle.Threads))
					}
					for _, l := range later {
						o := tg.Oracle.Thread(l.ThreadID)
						if o == nil {
							t.Errorf("thread %d not in the oracle", l.ThreadID)
							continue
						}
						want, got := lines(o), l.Frames
						if o.Busy { // spinning in one line: its instruction moves
							got = lines(&l)
						} else {
							want = o.Frames
						}
						if !reflect.DeepEqual(want, got) {
							t.Errorf("thread %d moved:\noracle %+v\nlater  %+v", l.ThreadID, want, got)
						}
					}
				})
			}
		})
	}
}

// lines is a thread's frames without their locations within the line.
func lines(th *OracleThread) []OracleFrame {
	var out []OracleFrame
	for _, f := range th.Frames {
		out = append(out, OracleFrame{Function: f.Function, Qualname: f.Qualname, File: f.File, Line: f.Line})
	}
	return out
}

func TestMain(m *testing.M) { os.Exit(RunTests(m)) }
