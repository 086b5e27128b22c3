package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// targets are the scripts in testdata/targets that write an oracle.
var targets = []string{"shapes.py", "aio.py", "exotic.py", "busy.py", "demo.py"}

// TestDump dumps every target on every interpreter and compares the result
// with the interpreter's own view, thread by thread and frame by frame.
func TestDump(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel() // at most -parallel (GOMAXPROCS) interpreters at once
			for _, script := range targets {
				t.Run(strings.TrimSuffix(script, ".py"), func(t *testing.T) {
					tg := testenv.StartTarget(t, in, script)
					r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
					if r.code != 0 {
						tg.CheckRunning(t)
						t.Fatalf("pyscope dump: exit %d\n%s", r.code, r.stderr)
					}
					compareDump(t, tg, settledDump(t, bin, tg, decodeDump(t, r.stdout)))
					compareCarets(t, bin, tg)
					tg.CheckRunning(t)
				})
			}
		})
	}
}

// settledDump is d, or a later dump when d caught a busy thread between
// two turns: on a free-threaded build a spinner is detached for a moment
// whenever a thread stops the world (the oracle's reporter does), and on
// a GIL build it hands the GIL over whenever another thread asks for it;
// a loaded machine can take a while to run it again. A dump in that
// moment is right, but the thread must be seen attached, holding the GIL
// where there is one, within 3 more dumps.
func settledDump(t *testing.T, bin string, tg *testenv.Target, d *Dump) *Dump {
	t.Helper()
	for try := 0; try < 3 && onlyBetweenTurns(diffDump(tg.PID, &tg.Oracle, d)); try++ {
		time.Sleep(50 * time.Millisecond)
		r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
		if r.code != 0 {
			t.Fatalf("pyscope dump: exit %d\n%s", r.code, r.stderr)
		}
		d = decodeDump(t, r.stdout)
	}
	return d
}

// onlyBetweenTurns reports whether every difference is a busy thread seen
// detached or without the GIL.
func onlyBetweenTurns(diffs []string) bool {
	for _, m := range diffs {
		if !strings.HasSuffix(m, `state "detached", want "attached"`) && !strings.HasSuffix(m, "holds_gil false, want true") {
			return false
		}
	}
	return len(diffs) > 0
}

func compareDump(t *testing.T, tg *testenv.Target, d *Dump) {
	t.Helper()
	for _, m := range diffDump(tg.PID, &tg.Oracle, d) {
		t.Error(m)
	}
}

// diffDump lists every way the dump differs from the oracle.
func diffDump(pid int, o *testenv.Oracle, d *Dump) []string {
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.PID != pid {
		errorf("pid %d, want %d", d.PID, pid)
	}
	if d.Source != "live" {
		errorf("source %q, want \"live\"", d.Source)
	}
	if d.Python.Version != o.Version {
		errorf("python.version %q, want %q", d.Python.Version, o.Version)
	}
	if !samePath(d.Python.Executable, o.Executable) {
		errorf("python.executable %q, want %q", d.Python.Executable, o.Executable)
	}
	if d.Python.FreeThreaded != o.FreeThreaded {
		errorf("python.free_threaded %v, want %v", d.Python.FreeThreaded, o.FreeThreaded)
	}
	if len(d.Threads) != len(o.Threads) {
		errorf("%d threads, want %d", len(d.Threads), len(o.Threads))
	}
	seen := map[uint64]bool{}
	holders := 0
	for i := range d.Threads {
		dt := &d.Threads[i]
		if dt.HoldsGIL {
			holders++
		}
		if seen[dt.ThreadID] {
			errorf("thread_id %d appears twice", dt.ThreadID)
			continue
		}
		seen[dt.ThreadID] = true
		ot := o.Thread(dt.ThreadID)
		if ot == nil {
			errorf("thread_id %d (native %d) is not a thread of the target", dt.ThreadID, dt.NativeID)
			continue
		}
		errs = append(errs, diffThread(pid, ot, dt)...)
	}
	for _, ot := range o.Threads {
		if !seen[ot.ThreadID] {
			errorf("thread %s missing from the dump", label(&ot))
		}
	}
	busy := false
	for _, ot := range o.Threads {
		busy = busy || ot.Busy
	}
	switch {
	case holders > 1:
		errorf("%d threads hold the GIL", holders)
	case !busy && holders > 0:
		// Every thread is blocked in a call that released the GIL.
		errorf("a thread holds the GIL although every thread is blocked")
	}
	return errs
}

func diffThread(pid int, ot *testenv.OracleThread, dt *DumpThread) []string {
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	who := label(ot)
	if dt.NativeID != ot.NativeID {
		errorf("%s: native_id %d, want %d", who, dt.NativeID, ot.NativeID)
	}
	if str(dt.Name) != str(ot.Name) {
		errorf("%s: name %s, want %s", who, str(dt.Name), str(ot.Name))
	}
	if dt.IsMain != ot.IsMain {
		errorf("%s: is_main %v, want %v", who, dt.IsMain, ot.IsMain)
	}
	if ot.HoldsGIL != nil && dt.HoldsGIL != *ot.HoldsGIL {
		errorf("%s: holds_gil %v, want %v", who, dt.HoldsGIL, *ot.HoldsGIL)
	}
	if dt.State != ot.State {
		errorf("%s: state %q, want %q", who, dt.State, ot.State)
	}
	// The kernel's thread name, read now, is the truth for os_name, as
	// JSON carries it: a byte that is not UTF-8 is U+FFFD (the kernel cuts
	// a name at 15 bytes, inside a character if need be, and 3.14 names
	// the OS thread after the Python one).
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", pid, ot.NativeID)); err == nil {
		if want := string([]rune(strings.TrimSuffix(string(comm), "\n"))); str(dt.OSName) != strconv.Quote(want) {
			errorf("%s: os_name %s, want %q", who, str(dt.OSName), want)
		}
	}
	var frames []DumpFrame
	for _, f := range dt.Frames {
		if f.Kind == "python" {
			frames = append(frames, f)
		}
	}
	if len(frames) != len(ot.Frames) {
		errorf("%s: %d python frames, want %d\n%s", who, len(frames), len(ot.Frames), stacks(ot, frames))
		return errs
	}
	for i, of := range ot.Frames {
		f := frames[i]
		if f.Function != of.Function || f.Qualname != of.Qualname || f.File != of.File || f.Line != of.Line {
			errorf("%s: frame %d is %s, want %s\n%s", who, i, fmtDump(f), fmtOracle(of), stacks(ot, frames))
			return errs
		}
		// A busy thread keeps its line, not its instruction.
		if !ot.Busy && (intp(f.EndLine) != intp(of.EndLine) || intp(f.Column) != intp(of.Column) || intp(f.EndColumn) != intp(of.EndColumn)) {
			errorf("%s: frame %d (%s) at end_line %s, column %s, end_column %s; the target's traceback says %s, %s, %s",
				who, i, fmtDump(f), intp(f.EndLine), intp(f.Column), intp(f.EndColumn), intp(of.EndLine), intp(of.Column), intp(of.EndColumn))
		}
	}
	return errs
}

// intp shows an optional number ("-" when absent).
func intp(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func label(ot *testenv.OracleThread) string {
	return fmt.Sprintf("thread %d (native %d, name %s)", ot.ThreadID, ot.NativeID, str(ot.Name))
}

func str(s *string) string {
	if s == nil {
		return "null"
	}
	return strconv.Quote(*s)
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func fmtDump(f DumpFrame) string {
	return fmt.Sprintf("%s (%s) %s:%d", f.Qualname, f.Function, f.File, f.Line)
}

func fmtOracle(f testenv.OracleFrame) string {
	return fmt.Sprintf("%s (%s) %s:%d", f.Qualname, f.Function, f.File, f.Line)
}

// stacks shows both stacks side by side (innermost 12 frames).
func stacks(ot *testenv.OracleThread, got []DumpFrame) string {
	var b strings.Builder
	b.WriteString("  want:\n")
	for i, f := range ot.Frames {
		if i == 12 {
			fmt.Fprintf(&b, "    ... %d more\n", len(ot.Frames)-i)
			break
		}
		fmt.Fprintf(&b, "    %s\n", fmtOracle(f))
	}
	b.WriteString("  got:\n")
	for i, f := range got {
		if i == 12 {
			fmt.Fprintf(&b, "    ... %d more\n", len(got)-i)
			break
		}
		fmt.Fprintf(&b, "    %s\n", fmtDump(f))
	}
	return b.String()
}
