package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// NativeDump is the --native part of the JSON schema.
type NativeDump struct {
	PID     int            `json:"pid"`
	Threads []NativeThread `json:"threads"`
}

type NativeThread struct {
	ThreadID     uint64        `json:"thread_id"`
	NativeID     int           `json:"native_id"`
	HoldsGIL     bool          `json:"holds_gil"`
	Python       *bool         `json:"python"`
	State        string        `json:"state"`    // attach state
	Activity     string        `json:"activity"` // what --native saw it doing
	Syscall      string        `json:"syscall"`
	Frames       []NativeFrame `json:"frames"`
	NativeFrames []NativeFrame `json:"native_frames"`
	Warnings     []string      `json:"warnings"`
}

type NativeFrame struct {
	Kind     string  `json:"kind"`
	Function string  `json:"function"`
	File     string  `json:"file"`
	Line     int     `json:"line"`
	Module   string  `json:"module"`
	Address  uint64  `json:"address"`
	Offset   *uint64 `json:"offset"`
	Inlined  bool    `json:"inlined"`
	Signal   bool    `json:"signal"`
}

func (d *NativeDump) thread(tid int) *NativeThread {
	for i := range d.Threads {
		if d.Threads[i].NativeID == tid {
			return &d.Threads[i]
		}
	}
	return nil
}

func nativeDump(t *testing.T, bin string, pid int, args ...string) *NativeDump {
	t.Helper()
	return nativeDumpOf(t, bin, strconv.Itoa(pid), args...)
}

func nativeDumpOf(t *testing.T, bin, what string, args ...string) *NativeDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump", "--json"}, args...), what)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d\n%s", args, r.code, r.stderr)
	}
	decodeDump(t, r.stdout) // the plain schema still holds
	var d NativeDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return &d
}

// nativeOracle is what native.py wrote about itself.
type nativeOracle struct {
	PID           int    `json:"pid"`
	NativeTID     int    `json:"native_tid"`
	NativePthread uint64 `json:"native_pthread"`
	IdleTID       int    `json:"idle_tid"`
	MainTID       int    `json:"main_tid"`
	CallbackStack []struct {
		Function string `json:"function"`
		File     string `json:"file"`
		Line     int    `json:"line"`
	} `json:"callback_stack"`
}

func startNative(t *testing.T, in testenv.Interp) (*testenv.Target, *nativeOracle) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oracle.json")
	tg := testenv.StartPlain(t, in, "native.py", "ready", path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o nativeOracle
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	if o.PID != tg.PID || len(o.CallbackStack) < 3 {
		t.Fatalf("bad oracle %s", raw)
	}
	return tg, &o
}

// TestNativeMixed: C frames (libffi, qsort) between Python frames, in the
// order the interpreter reports; a thread made by pthread_create listed
// with its native stack; system calls named.
func TestNativeMixed(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg, o := startNative(t, in)
			d := nativeDump(t, bin, tg.PID, "--native")
			checkQsortStack(t, d, o)
			checkNativeThread(t, d, o)
			if th := d.thread(o.IdleTID); th == nil || th.Activity != "syscall" || th.Syscall != "futex" {
				t.Errorf("idle thread: want state syscall in futex, got %+v", th)
			}
			// --native-all keeps the interpreter's frames, in the same order.
			all := nativeDump(t, bin, tg.PID, "--native-all")
			checkQsortStack(t, all, o)
			if a, b := len(all.thread(o.MainTID).Frames), len(d.thread(o.MainTID).Frames); a <= b {
				t.Errorf("--native-all shows %d frames, --native %d: want more", a, b)
			}
			txt := runPyscope(t, bin, nil, "dump", "--native", strconv.Itoa(tg.PID))
			for _, want := range []string{"no Python state, in syscall pause", "Native 0x", "in sort_with_qsort"} {
				if !strings.Contains(txt.stdout, want) {
					t.Errorf("text dump lacks %q:\n%s", want, txt.stdout)
				}
			}
			tg.CheckRunning(t)
		})
	}
}

func checkQsortStack(t *testing.T, d *NativeDump, o *nativeOracle) {
	t.Helper()
	th := d.thread(o.MainTID)
	if th == nil {
		t.Fatalf("no main thread %d", o.MainTID)
	}
	if len(th.Warnings) > 0 || len(th.NativeFrames) > 0 {
		t.Errorf("main thread not merged: %v", th.Warnings)
	}
	// The Python frames from the callback outwards, innermost first,
	// must be the callback's own traceback, reversed.
	var py []NativeFrame
	var pyIdx []int
	for i, f := range th.Frames {
		if f.Kind == "python" {
			py = append(py, f)
			pyIdx = append(pyIdx, i)
		}
	}
	want := o.CallbackStack
	start := -1
	for i, f := range py {
		if f.Function == "compare" {
			start = i
			break
		}
	}
	if start < 0 || len(py)-start != len(want) {
		t.Fatalf("python frames %+v, want the callback's %+v below", py, want)
	}
	for k := range want {
		w, g := want[len(want)-1-k], py[start+k]
		if g.Function != w.Function || g.File != w.File || g.Line != w.Line {
			t.Errorf("python frame %d: got %s %s:%d, want %s %s:%d", k, g.Function, g.File, g.Line, w.Function, w.File, w.Line)
		}
	}
	// qsort's frames sit between the callback and its caller.
	lo, hi := pyIdx[start], pyIdx[start+1]
	qsort := false
	for _, f := range th.Frames[lo+1 : hi] {
		if f.Kind != "native" {
			t.Errorf("non-native frame %+v between compare and sort_with_qsort", f)
		}
		if strings.Contains(f.Function, "qsort") {
			qsort = true
		}
	}
	if !qsort {
		t.Errorf("no qsort frame between compare and sort_with_qsort: %+v", th.Frames[lo:hi+1])
	}
}

func checkNativeThread(t *testing.T, d *NativeDump, o *nativeOracle) {
	t.Helper()
	th := d.thread(o.NativeTID)
	if th == nil {
		t.Fatalf("thread %d (pthread_create) not listed", o.NativeTID)
	}
	if th.Python == nil || *th.Python || th.ThreadID != o.NativePthread {
		t.Errorf("native thread: python %v thread_id %#x, want false and %#x", th.Python, th.ThreadID, o.NativePthread)
	}
	if th.Activity != "syscall" || th.Syscall != "pause" {
		t.Errorf("native thread: activity %q syscall %q, want syscall pause", th.Activity, th.Syscall)
	}
	if len(th.Frames) < 2 || !strings.Contains(th.Frames[0].Function, "pause") || th.Frames[0].Kind != "native" {
		t.Errorf("native thread stack %+v: want pause innermost", th.Frames)
	}
	for _, f := range th.Frames {
		if f.Module == "" || f.Address == 0 || f.Offset == nil {
			t.Errorf("native frame lacks module/address/offset: %+v", f)
		}
	}
}

// gdbScript prints every thread's frames as JSON; tail-call frames are
// virtual frames gdb infers from DWARF call sites, which pyscope does not.
const gdbScript = `
import gdb, json
out = {}
for inf in gdb.inferiors():
    for th in inf.threads():
        th.switch()
        frames = []
        f = gdb.newest_frame()
        while f is not None and len(frames) < 512:
            if f.type() != gdb.TAILCALL_FRAME:
                off = -1
                if f.name() and f.function() is None:
                    # A minimal (ELF) symbol: how far past it is the PC?
                    s = gdb.execute("info symbol %d" % (f.pc() - 1), to_string=True)
                    if " + " in s:
                        off = int(s.split(" + ")[1].split()[0])
                    elif s.startswith(f.name() + " in"):
                        off = 0
                frames.append({"name": f.name() or "", "pc": f.pc(), "inline": f.type() == gdb.INLINE_FRAME, "msym_off": off})
            try:
                f = f.older()
            except gdb.error:
                break
        out[th.ptid[1]] = frames
print("PYSCOPE-JSON:" + json.dumps(out))
`

type gdbFrame struct {
	Name   string `json:"name"`
	PC     uint64 `json:"pc"`
	Inline bool   `json:"inline"`
	// MsymOff is how far past an ELF symbol (no debug info) the PC is.
	MsymOff int `json:"msym_off"`
}

func gdbFrames(t *testing.T, args ...string) map[int][]gdbFrame {
	t.Helper()
	script := filepath.Join(t.TempDir(), "frames.py")
	if err := os.WriteFile(script, []byte(gdbScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", append([]string{"-nx", "-batch", "-ex", "set debuginfod enabled off", "-x", script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(line, "PYSCOPE-JSON:"); ok {
			var m map[int][]gdbFrame
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("gdb printed no frames:\n%s", out)
	return nil
}

// TestNativeMatchesGDB compares every thread's native frames (names and
// PCs) with gdb's on the same idle process: full DWARF through the
// build-id debug file (Debian), the same through a copied venv binary,
// and dynamic symbols only (the stripped static 3.14).
func TestNativeMatchesGDB(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if in.Name != "debian-3.11" && in.Name != "venv-copies-3.11" && in.Minor != "3.14" && !in.FreeThreaded {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			tg, o := startNative(t, in)
			g := gdbFrames(t, "-p", strconv.Itoa(tg.PID))
			d := nativeDump(t, bin, tg.PID, "--native-all")
			compareWithGDB(t, d, g)
			if th := d.thread(o.MainTID); th != nil && in.Minor == "3.11" {
				// With the debug file, file:line are known too.
				if f := th.Frames[0]; f.File == "" || f.Line == 0 {
					t.Errorf("innermost frame without file:line: %+v", f)
				}
			}
			tg.CheckRunning(t)
		})
	}
}

func compareWithGDB(t *testing.T, d *NativeDump, g map[int][]gdbFrame) {
	t.Helper()
	if len(g) != len(d.Threads) {
		t.Errorf("gdb sees %d threads, pyscope %d", len(g), len(d.Threads))
	}
	for tid, gf := range g {
		th := d.thread(tid)
		if th == nil {
			t.Errorf("thread %d missing", tid)
			continue
		}
		var nf []NativeFrame
		for _, f := range append(th.Frames, th.NativeFrames...) {
			if f.Kind == "native" {
				nf = append(nf, f)
			}
		}
		var diffs []string
		for i := 0; i < len(gf) || i < len(nf); i++ {
			var a, b string
			if i < len(gf) {
				a = fmt.Sprintf("%s@%#x", gf[i].Name, gf[i].PC)
			}
			if i < len(nf) {
				b = fmt.Sprintf("%s@%#x", nf[i].Function, nf[i].Address)
			}
			if a != b && !sameFrame(gf, nf, i) {
				diffs = append(diffs, fmt.Sprintf("#%d gdb %s, pyscope %s", i, a, b))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("thread %d differs from gdb (%d gdb frames, %d pyscope):\n  %s", tid, len(gf), len(nf), strings.Join(diffs, "\n  "))
		} else if len(gf) < 3 {
			t.Errorf("thread %d: only %d frames", tid, len(gf))
		}
	}
}

// TestNativeGILWait: a thread that wants the GIL while another spins in
// Python holding it is reported as waiting for the GIL, detached, while the
// spinner is attached. A free-threaded build runs with its GIL re-enabled
// (PYTHON_GIL=1), which brings the GIL back with the same meaning.
func TestNativeGILWait(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			if in.FreeThreaded {
				in.Env = []string{"PYTHON_GIL=1"}
			}
			path := filepath.Join(t.TempDir(), "oracle.json")
			tg := testenv.StartPlain(t, in, "native_gil.py", "ready", path)
			var o struct{ Spinner, Waiter int }
			raw, err := os.ReadFile(path)
			if err == nil {
				err = json.Unmarshal(raw, &o)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The waiter is stuck in take_gil once the spinner runs with
			// its huge switch interval; allow the machine time to get there.
			var last string
			for i := 0; i < 50; i++ {
				d := nativeDump(t, bin, tg.PID, "--native")
				w, s := d.thread(o.Waiter), d.thread(o.Spinner)
				if w == nil || s == nil {
					t.Fatalf("threads missing: %+v", d.Threads)
				}
				if w.Activity == "waiting_for_gil" && s.HoldsGIL && s.Activity == "running" && w.State == "detached" && s.State == "attached" {
					if err := testenv.NotStopped(tg.PID); err != nil {
						t.Fatal(err)
					}
					return
				}
				last = fmt.Sprintf("waiter %q %q (%+v), spinner %q %q holds_gil=%v", w.Activity, w.State, w.Frames, s.Activity, s.State, s.HoldsGIL)
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("never saw the waiter waiting for the GIL: %s", last)
		})
	}
}

// sameFrame accepts two known differences from gdb: an alias of the same
// function (clone3 / __clone3), and a PC that gdb attributes to an ELF
// symbol thousands of bytes before it (a label such as
// _Py_trampoline_func_end), where pyscope says it does not know.
func sameFrame(gf []gdbFrame, nf []NativeFrame, i int) bool {
	if i >= len(gf) || i >= len(nf) || gf[i].PC != nf[i].Address {
		return false
	}
	g, p := gf[i].Name, nf[i].Function
	if p != "" && strings.TrimLeft(g, "_") == strings.TrimLeft(p, "_") {
		return true
	}
	return p == "" && gf[i].MsymOff >= 4096
}

// TestNativeCore: the same checks on a core of the process (registers from
// NT_PRSTATUS, system calls from orig_rax), against gdb on the same core.
func TestNativeCore(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if in.Name != "debian-3.11" && in.Minor != "3.14" && !in.FreeThreaded {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			tg, o := startNative(t, in)
			corePath := filepath.Join(t.TempDir(), "core")
			if r := runPyscope(t, bin, nil, "gcore", "-o", corePath, strconv.Itoa(tg.PID)); r.code != 0 {
				t.Fatalf("pyscope gcore: exit %d\n%s", r.code, r.stderr)
			}
			d := nativeDumpOf(t, bin, corePath, "--native-all")
			checkQsortStack(t, d, o)
			checkNativeThread(t, d, o)
			compareWithGDB(t, d, gdbFrames(t, in.Path, corePath))
			tg.CheckRunning(t)
		})
	}
}
