package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// Core dump tests: real crashes (os.abort, SIGSEGV) checked against the
// stacks faulthandler printed, cores from gdb's gcore and pyscope gcore
// checked against the targets' oracles, cores moved to "another machine"
// (a sysroot, a bundle), compressed cores and bad input.

// coreDump is `dump --json` of a core: the live schema plus the crash.
type coreDump struct {
	Dump
	Warnings []string `json:"warnings"`
	Crash    *struct {
		Signal  int    `json:"signal"`
		Name    string `json:"name"`
		Code    int    `json:"code"`
		Address uint64 `json:"address"`
		TID     int    `json:"tid"`
	} `json:"crash"`
	Core *struct {
		File    string   `json:"file"`
		Missing []string `json:"missing_files"`
	} `json:"core"`
	crashed map[uint64]bool // thread_id -> "crashed"
}

func decodeCoreDump(t *testing.T, raw string) *coreDump {
	t.Helper()
	d := &coreDump{Dump: *decodeDump(t, raw)}
	var extra struct {
		Warnings []string `json:"warnings"`
		Crash    json.RawMessage
		Core     json.RawMessage
		Threads  []struct {
			ThreadID uint64 `json:"thread_id"`
			Crashed  bool   `json:"crashed"`
		} `json:"threads"`
	}
	if err := json.Unmarshal([]byte(raw), &extra); err != nil {
		t.Fatal(err)
	}
	d.Warnings = extra.Warnings
	if len(extra.Crash) > 0 && string(extra.Crash) != "null" {
		if err := json.Unmarshal(extra.Crash, &d.Crash); err != nil {
			t.Fatalf("crash: %v", err)
		}
	}
	if len(extra.Core) > 0 {
		if err := json.Unmarshal(extra.Core, &d.Core); err != nil {
			t.Fatalf("core: %v", err)
		}
	}
	d.crashed = map[uint64]bool{}
	for _, th := range extra.Threads {
		if th.Crashed {
			d.crashed[th.ThreadID] = true
		}
	}
	return d
}

// dumpCore runs `pyscope dump --json ARGS... CORE` and decodes it.
func dumpCore(t *testing.T, bin string, args ...string) *coreDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append([]string{"dump", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump --json %v: exit %d\n%s", args, r.code, r.stderr)
	}
	d := decodeCoreDump(t, r.stdout)
	if d.Source != "core" {
		t.Errorf("source %q, want \"core\"", d.Source)
	}
	return d
}

// --- crashes ---------------------------------------------------------------

// needCoreFiles makes the kernel write cores as files in the crashing
// process's directory until the test ends (a piping pattern such as
// systemd-coredump's is replaced, then restored). Call it from top-level
// tests only: their parallel subtests share the setting.
func needCoreFiles(t *testing.T) {
	t.Helper()
	const path = "/proc/sys/kernel/core_pattern"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("core_pattern: %v", err)
	}
	old := strings.TrimSpace(string(b))
	if !strings.HasPrefix(old, "|") && !strings.Contains(old, "/") {
		return
	}
	if err := os.WriteFile(path, []byte("core"), 0o644); err != nil {
		t.Fatalf("cannot set %s to a file pattern (was %q): %v; run the tests as root", path, old, err)
	}
	t.Cleanup(func() { os.WriteFile(path, []byte(old), 0o644) })
}

// crashInfo is the line crash.py prints before crashing.
type crashInfo struct {
	PID          int               `json:"pid"`
	NativeIDs    map[string]int    `json:"native_ids"`
	Names        map[string]string `json:"names"`
	Main         uint64            `json:"main"`
	MainNativeID int               `json:"main_native_id"`
	Crasher      uint64            `json:"crasher"`
	GIL          bool              `json:"gil"` // the interpreter has a GIL
}

func (ci *crashInfo) nativeID(ident uint64) int {
	if ident == ci.Main {
		return ci.MainNativeID
	}
	return ci.NativeIDs[strconv.FormatUint(ident, 10)]
}

func (ci *crashInfo) name(ident uint64) *string {
	if n, ok := ci.Names[strconv.FormatUint(ident, 10)]; ok {
		return &n
	}
	return nil
}

type crashRun struct {
	core   string
	info   crashInfo
	fh     []fhThread // nil without faulthandler
	stderr string
}

// crash runs crash.py MODE under python with `ulimit -c unlimited` in a
// fresh directory and returns its core.
func crash(t *testing.T, python, mode string, faulthandler bool) *crashRun {
	t.Helper()
	dir := t.TempDir()
	script := testenv.TargetPath(t, "crash.py")
	cmd := exec.Command("/bin/sh", "-c", `ulimit -c unlimited && exec "$0" "$@"`, python, script, mode)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHON") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if faulthandler {
		cmd.Env = append(cmd.Env, "PYTHONFAULTHANDLER=1")
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("crash.py %s did not crash\n%s", mode, errb.String())
	}
	want := syscall.SIGABRT
	if mode == "segv" {
		want = syscall.SIGSEGV
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("crash.py %s: %v\n%s", mode, err, errb.String())
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != want || !ws.CoreDump() {
		t.Fatalf("crash.py %s: %v (core dumped: %v), want %v with a core\n%s", mode, err, ws.CoreDump(), want, errb.String())
	}
	cr := &crashRun{stderr: errb.String()}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &cr.info); err != nil {
		t.Fatalf("crash.py output %q: %v", out.String(), err)
	}
	cores, _ := filepath.Glob(filepath.Join(dir, "core*"))
	if len(cores) != 1 {
		t.Fatalf("crash.py %s: %d core files in %s (core_pattern and core_uses_pid?)", mode, len(cores), dir)
	}
	cr.core = cores[0]
	if faulthandler {
		cr.fh = parseFaulthandler(t, cr.stderr)
	}
	return cr
}

// fhThread is one thread of faulthandler's report.
type fhThread struct {
	ident     uint64
	current   bool
	frames    []string // `"file", line N in name`, as printed
	truncated bool     // faulthandler printed "..." after MAX_FRAME_DEPTH
}

var (
	fhHeader = regexp.MustCompile(`^(Current thread|Thread) 0x([0-9a-f]+)( \[.*\])? \(most recent call first\):$`)
	fhFrame  = regexp.MustCompile(`^  File (".*", line -?\d+ in .*)$`)
)

// parseFaulthandler reads the Python stacks faulthandler printed (C stacks
// and module lists that 3.13+ add are ignored).
func parseFaulthandler(t *testing.T, stderr string) []fhThread {
	t.Helper()
	var out []fhThread
	var cur *fhThread
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := fhHeader.FindStringSubmatch(l); m != nil {
			id, _ := strconv.ParseUint(m[2], 16, 64)
			out = append(out, fhThread{ident: id, current: m[1] == "Current thread"})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch m := fhFrame.FindStringSubmatch(l); {
		case m != nil:
			cur.frames = append(cur.frames, m[1])
		case l == "  ...":
			cur.truncated = true
		case l == "  <no Python frame>":
		default:
			cur = nil
		}
	}
	if len(out) == 0 {
		t.Fatalf("no faulthandler report in:\n%s", stderr)
	}
	return out
}

// fhString is how faulthandler writes a string (_Py_DumpASCII): printable
// ASCII as is, other characters as \xNN, \uNNNN or \UNNNNNNNN, and at most
// 500 characters followed by "...".
func fhString(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 500 {
			b.WriteString("...")
			break
		}
		n++
		switch {
		case r >= ' ' && r <= 126:
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

func fhLine(f DumpFrame) string {
	return fmt.Sprintf(`"%s", line %d in %s`, fhString(f.File), f.Line, fhString(f.Function))
}

func pyFrames(th *DumpThread) []DumpFrame {
	var out []DumpFrame
	for _, f := range th.Frames {
		if f.Kind == "python" {
			out = append(out, f)
		}
	}
	return out
}

// diffFrames compares a thread's frames with faulthandler's (which stops
// after 100 frames).
func diffFrames(who string, want []string, truncated bool, got []DumpFrame) string {
	var lines []string
	for _, f := range got {
		lines = append(lines, fhLine(f))
	}
	if truncated && len(lines) > len(want) {
		lines = lines[:len(want)]
	}
	if reflect.DeepEqual(lines, want) {
		return ""
	}
	return fmt.Sprintf("%s: frames differ\n  faulthandler:\n    %s\n  core:\n    %s", who,
		strings.Join(want, "\n    "), strings.Join(lines, "\n    "))
}

// checkCrash compares the dump of a crash core with faulthandler's report
// and with what crash.py said about its threads.
func checkCrash(t *testing.T, cr *crashRun, d *coreDump, signal string) {
	t.Helper()
	ci := &cr.info
	if d.PID != ci.PID {
		t.Errorf("pid %d, want %d", d.PID, ci.PID)
	}
	if len(d.Threads) != len(cr.fh) {
		t.Errorf("%d threads, faulthandler shows %d", len(d.Threads), len(cr.fh))
	}
	byID := map[uint64]*DumpThread{}
	for i := range d.Threads {
		byID[d.Threads[i].ThreadID] = &d.Threads[i]
	}
	holders := 0
	for _, th := range d.Threads {
		if th.HoldsGIL {
			holders++
		}
	}
	if want := b2i(ci.GIL); holders != want {
		t.Errorf("%d threads hold the GIL, want %d (the crashing thread where there is a GIL)", holders, want)
	}
	for _, ft := range cr.fh {
		who := fmt.Sprintf("thread %#x", ft.ident)
		dt := byID[ft.ident]
		if dt == nil {
			t.Errorf("%s (faulthandler) missing from the core's dump", who)
			continue
		}
		if msg := diffFrames(who, ft.frames, ft.truncated, pyFrames(dt)); msg != "" {
			t.Error(msg)
		}
		if str(dt.Name) != str(ci.name(ft.ident)) {
			t.Errorf("%s: name %s, want %s", who, str(dt.Name), str(ci.name(ft.ident)))
		}
		if want := ci.nativeID(ft.ident); dt.NativeID != want {
			t.Errorf("%s: native_id %d, want %d", who, dt.NativeID, want)
		}
		if dt.IsMain != (ft.ident == ci.Main) {
			t.Errorf("%s: is_main %v", who, dt.IsMain)
		}
		if ft.current != (ft.ident == ci.Crasher) {
			t.Errorf("%s: faulthandler's current thread is not the one crash.py crashed in", who)
		}
		if ft.current && dt.HoldsGIL != ci.GIL {
			t.Errorf("%s crashed running Python code: holds_gil %v, the interpreter has a GIL: %v", who, dt.HoldsGIL, ci.GIL)
		}
		if ft.current && dt.State != "attached" {
			t.Errorf("%s crashed running Python code but its state is %q, not attached", who, dt.State)
		}
		if d.crashed[ft.ident] != ft.current {
			t.Errorf("%s: crashed=%v, want %v", who, d.crashed[ft.ident], ft.current)
		}
	}
	checkCrashField(t, d, ci, signal)
}

func checkCrashField(t *testing.T, d *coreDump, ci *crashInfo, signal string) {
	t.Helper()
	want := ci.nativeID(ci.Crasher)
	if d.Crash == nil || d.Crash.Name != signal || d.Crash.TID != want {
		t.Errorf("crash %+v, want %s in TID %d", d.Crash, signal, want)
	}
}

// TestCoreCrash opens the cores of real crashes on every interpreter and
// compares them with faulthandler's report of the same moment.
func TestCoreCrash(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	needCoreFiles(t)
	testenv.NeedCommand(t, "zstd", "zstd")
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			// os.abort() in the main thread.
			ab := crash(t, in.Path, "abort", true)
			d := dumpCore(t, bin, ab.core)
			checkCrash(t, ab, d, "SIGABRT")
			r := runPyscope(t, bin, nil, "dump", ab.core)
			wantContains(t, "abort core", r.stdout, fmt.Sprintf("Crashed: SIGABRT in thread TID %d\n", ab.info.MainNativeID))
			wantHeaderTag(t, r.stdout, ab.info.MainNativeID, "crashed")

			// The same core compressed with zstd reads the same.
			zst := ab.core + ".zst"
			if out, err := exec.Command("zstd", "-q", "-f", ab.core, "-o", zst).CombinedOutput(); err != nil {
				t.Fatalf("zstd: %v\n%s", err, out)
			}
			dz := dumpCore(t, bin, zst)
			if !reflect.DeepEqual(dz.Threads, d.Threads) || !reflect.DeepEqual(dz.Crash, d.Crash) {
				t.Errorf("zstd core reads differently:\n%+v\nvs\n%+v", dz.Threads, d.Threads)
			}

			// SIGSEGV in a thread. faulthandler re-raises the signal, so the
			// core's siginfo carries no address: a second crash without
			// faulthandler checks the address, with the first as oracle.
			sf := crash(t, in.Path, "segv", true)
			checkCrash(t, sf, dumpCore(t, bin, sf.core), "SIGSEGV")
			sn := crash(t, in.Path, "segv", false)
			dn := dumpCore(t, bin, sn.core)
			checkCrashField(t, dn, &sn.info, "SIGSEGV")
			if dn.Crash != nil && (dn.Crash.Address != 0 || dn.Crash.Code <= 0) {
				t.Errorf("crash %+v: want the kernel's fault at address 0 (ctypes.string_at(0))", dn.Crash)
			}
			sameStacksByName(t, sf, dn, &sn.info)
			crasher := sn.info.nativeID(sn.info.Crasher)
			r = runPyscope(t, bin, nil, "dump", sn.core)
			wantContains(t, "segv core", r.stdout, fmt.Sprintf("Crashed: SIGSEGV (address 0x0) in thread TID %d\n", crasher))
			wantHeaderTag(t, r.stdout, crasher, "crashed")
		})
	}
}

// sameStacksByName checks a second run of crash.py against the first run's
// faulthandler report, matching threads by name (idents change per run).
func sameStacksByName(t *testing.T, first *crashRun, d *coreDump, ci *crashInfo) {
	t.Helper()
	want := map[string]fhThread{}
	for _, ft := range first.fh {
		want[str(first.info.name(ft.ident))] = ft
	}
	if len(d.Threads) != len(want) {
		t.Errorf("%d threads, want %d", len(d.Threads), len(want))
	}
	for i := range d.Threads {
		dt := &d.Threads[i]
		name := str(dt.Name)
		if name != str(ci.name(dt.ThreadID)) {
			t.Errorf("thread %#x: name %s, want %s", dt.ThreadID, name, str(ci.name(dt.ThreadID)))
		}
		ft, ok := want[name]
		if !ok {
			t.Errorf("thread %s not in the first run", name)
			continue
		}
		if msg := diffFrames("thread "+name, ft.frames, ft.truncated, pyFrames(dt)); msg != "" {
			t.Error(msg)
		}
		if dt.NativeID != ci.nativeID(dt.ThreadID) {
			t.Errorf("thread %s: native_id %d, want %d", name, dt.NativeID, ci.nativeID(dt.ThreadID))
		}
	}
}

// wantHeaderTag checks the text header of thread TID carries a tag.
func wantHeaderTag(t *testing.T, out string, tid int, tag string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Thread ") && strings.Contains(l, fmt.Sprintf("(TID %d)", tid)) {
			if !strings.Contains(l, tag) {
				t.Errorf("thread header %q lacks %q", l, tag)
			}
			return
		}
	}
	t.Errorf("no header for TID %d in:\n%s", tid, out)
}

// --- cores of live targets -------------------------------------------------

// diffCoreDump compares the dump of a core taken from a live target with
// its oracle, as TestDump does for the live process. gdb's cores do not
// name each thread, so os_name is checked only when the core says it.
func diffCoreDump(tg *testenv.Target, d *coreDump, perThreadNames bool) []string {
	live := d.Dump
	live.Source = "live"
	var out []string
	for _, m := range diffDump(tg.PID, &tg.Oracle, &live) {
		if !perThreadNames && strings.Contains(m, ": os_name null, want") {
			continue
		}
		out = append(out, m)
	}
	if d.Crash != nil {
		out = append(out, fmt.Sprintf("core of a running process reports a crash: %+v", d.Crash))
	}
	return out
}

var stoppedFor = regexp.MustCompile(`^Saved core of process \d+ .*; the process was stopped for [0-9.]+ (µs|ms|s)\n$`)

// pyscopeGcore runs `pyscope gcore PID -o FILE [ARGS]`.
func pyscopeGcore(t *testing.T, bin string, tg *testenv.Target, out string, args ...string) {
	t.Helper()
	r := runPyscope(t, bin, nil, append([]string{"gcore", strconv.Itoa(tg.PID), "-o", out}, args...)...)
	if r.code != 0 {
		t.Fatalf("pyscope gcore: exit %d\n%s", r.code, r.stderr)
	}
	if !stoppedFor.MatchString(r.stdout) {
		t.Errorf("pyscope gcore output %q does not say how long the process was stopped", r.stdout)
	}
	tg.CheckRunning(t)
}

// TestCoreGcore dumps cores written by pyscope gcore and by gdb's gcore
// of live targets and compares them with the targets' own view.
func TestCoreGcore(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	testenv.NeedCommand(t, "gdb", "gdb")
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tg := testenv.StartTarget(t, in, "shapes.py")

			own := filepath.Join(dir, "pyscope.core")
			pyscopeGcore(t, bin, tg, own)
			for _, m := range diffCoreDump(tg, dumpCore(t, bin, own), true) {
				t.Error("pyscope gcore: " + m)
			}

			g := filepath.Join(dir, "gdb.core")
			cmd := exec.Command("gdb", "-batch", "-nx", "-p", strconv.Itoa(tg.PID), "-ex", "gcore "+g)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("gdb gcore: %v\n%s", err, out)
			}
			tg.CheckRunning(t)
			for _, m := range diffCoreDump(tg, dumpCore(t, bin, g), false) {
				t.Error("gdb gcore: " + m)
			}

			// --locals and --globals read the same values from a core.
			vt, vo := startValues(t, in)
			vc := filepath.Join(dir, "values.core")
			pyscopeGcore(t, bin, vt, vc)
			r := runPyscope(t, bin, nil, "dump", "--locals", "--globals", "--json",
				"--max-string", "100000", "--max-items", "5000", "--max-repr", "10000000", vc)
			if r.code != 0 {
				t.Fatalf("dump --locals of a core: exit %d\n%s", r.code, r.stderr)
			}
			compareVars(t, vo.Frames, coreMainFrames(t, r.stdout))

			if in.Name == "debian-3.11" {
				checkGDBOpens(t, in.Path, own, tg)
			}
		})
	}
}

// coreMainFrames is mainFrames for a dump already taken.
func coreMainFrames(t *testing.T, raw string) []valuesFrame {
	t.Helper()
	var d valuesDump
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	for _, th := range d.Threads {
		if th.IsMain {
			if len(th.Frames) == 0 || th.Frames[0].Function != "report" {
				t.Fatalf("main thread is not blocked in report(): %+v", th.Frames)
			}
			return th.Frames[1:]
		}
	}
	t.Fatal("no main thread in the dump")
	return nil
}

// checkGDBOpens opens pyscope's core in gdb (with Debian's python3.11-dbg
// and its py-bt): the main thread's Python stack must be the oracle's.
func checkGDBOpens(t *testing.T, exe, core string, tg *testenv.Target) {
	t.Helper()
	out, err := exec.Command("gdb", "-batch", "-nx", exe, core, "-ex", "bt", "-ex", "py-bt").CombinedOutput()
	if err != nil {
		t.Fatalf("gdb on pyscope's core: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "#0 ") || strings.Contains(s, "is not a core dump") {
		t.Fatalf("gdb cannot read pyscope's core:\n%s", s)
	}
	for _, ot := range tg.Oracle.Threads {
		if !ot.IsMain {
			continue
		}
		var want []string
		for _, f := range ot.Frames {
			want = append(want, fmt.Sprintf("File \"%s\", line %d, in %s", f.File, f.Line, f.Function))
		}
		wantInOrder(t, "gdb py-bt of pyscope's core", s, want)
	}
}

// --- cores moved elsewhere ---------------------------------------------------

// copyTree hard-links an interpreter tree (cheap, and the original stays).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-al", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -al: %v\n%s", err, out)
	}
}

// TestCoreMoved opens cores whose interpreter is no longer where the
// process had it: through --sysroot, and from a pyscope gcore --bundle
// archive. It runs on the python-build-standalone trees and the
// free-threaded 3.13t built from source, which can be copied and removed
// (Debian's python3.11 cannot be hidden).
func TestCoreMoved(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	needCoreFiles(t)
	for _, in := range testenv.Interpreters(t) {
		if !strings.HasPrefix(in.Name, "pbs-") && !in.FreeThreaded {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			// python3.X, or python3.13t, whose library directory is named the same.
			exe := filepath.Base(in.Path)
			root := filepath.Dir(filepath.Dir(in.Path)) // .../pythons/3.X.Y
			tree := filepath.Join(base, "prod", "python")
			os.MkdirAll(filepath.Dir(tree), 0o755)
			copyTree(t, root, tree)
			moved := testenv.Interp{Name: in.Name + "-copy", Minor: in.Minor, Path: filepath.Join(tree, "bin", exe), FreeThreaded: in.FreeThreaded}
			threadingPy := filepath.Join(tree, "lib", exe, "threading.py")

			// A bundle of a live target, and a crash, both from the copy.
			tg := testenv.StartTarget(t, moved, "shapes.py")
			bundle := filepath.Join(base, "incident.tar.zst")
			pyscopeGcore(t, bin, tg, bundle, "--bundle")
			ab := crash(t, moved.Path, "abort", true)
			wantSrc := sourceLine(t, threadingPy, firstLineIn(tg, threadingPy))

			// "Another machine": the tree is gone from its path.
			sysroot := filepath.Join(base, "sysroot")
			dst := filepath.Join(sysroot, tree)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.Rename(tree, dst); err != nil {
				t.Fatal(err)
			}

			// Without the files: one line that says what is missing.
			r := runPyscope(t, bin, nil, "dump", ab.core)
			checkOneLineError(t, r, "--sysroot", "missing")
			// A wrong sysroot: the same, and a sysroot that does not exist.
			r = runPyscope(t, bin, nil, "dump", "--sysroot", t.TempDir(), ab.core)
			checkOneLineError(t, r, "--sysroot")
			r = runPyscope(t, bin, nil, "dump", "--sysroot", filepath.Join(base, "nowhere"), ab.core)
			checkOneLineError(t, r, "sysroot", "not a directory")

			// With --sysroot: everything, as on the machine it came from.
			d := dumpCore(t, bin, "--sysroot", sysroot, ab.core)
			checkCrash(t, ab, d, "SIGABRT")
			for _, w := range d.Warnings {
				t.Errorf("warning with the right sysroot: %s", w)
			}
			r = runPyscope(t, bin, nil, "dump", "--sysroot", sysroot, ab.core)
			wantContains(t, "source lines through the sysroot", r.stdout, "    waiter.acquire()\n")
			// debug takes it as dump does: bt = dump --native, py-locals =
			// dump --locals, and without it the same one line.
			r = runPyscope(t, bin, nil, "debug", ab.core, "--batch", "-ex", "bt")
			checkOneLineError(t, r, "--sysroot", "missing")
			compareSessionWithDump(t, bin, ab.core, "--sysroot", sysroot)

			// --lib-path: the mapped files found by name in one directory.
			libs := filepath.Join(base, "libs")
			linkMappedFiles(t, dst, libs)
			d = dumpCore(t, bin, "--lib-path", libs, ab.core)
			checkCrash(t, ab, d, "SIGABRT")
			compareSessionWithDump(t, bin, ab.core, "--lib-path", libs)

			// The bundle carries its own files.
			bd := dumpCore(t, bin, bundle)
			for _, m := range diffCoreDump(tg, bd, true) {
				t.Error("bundle: " + m)
			}
			for _, w := range bd.Warnings {
				t.Errorf("bundle: warning: %s", w)
			}
			// Text, with source lines from the bundle; nothing left behind.
			tmp := t.TempDir()
			cmd := exec.Command(bin, "dump", bundle)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dump of the bundle: %v", err)
			}
			wantContains(t, "bundle source lines", string(out), "    "+strings.TrimSpace(wantSrc)+"\n")
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("unpacked bundle left behind in %s: %v", tmp, left)
			}
		})
	}
}

// linkMappedFiles hard-links the executables and shared objects of an
// interpreter tree into one flat directory, as --lib-path takes them.
func linkMappedFiles(t *testing.T, tree, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(tree, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		name := e.Name()
		if !strings.Contains(name, ".so") && filepath.Base(filepath.Dir(p)) != "bin" {
			return nil
		}
		if err := os.Link(p, filepath.Join(dir, name)); err == nil {
			n++
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("linking %s into %s: %v (%d files)", tree, dir, err, n)
	}
}

// firstLineIn returns the line of the first oracle frame in file.
func firstLineIn(tg *testenv.Target, file string) int {
	for _, th := range tg.Oracle.Threads {
		for _, f := range th.Frames {
			if f.File == file {
				return f.Line
			}
		}
	}
	return 0
}

// --- bad input ---------------------------------------------------------------

// TestCoreBadInput feeds dump what is not a good core: each case ends with
// one clear line or partial results with a warning, never a crash.
func TestCoreBadInput(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	needCoreFiles(t)
	in := anyInterp(t)
	dir := t.TempDir()

	// Not a core: a text file, a program, an empty file.
	text := testenv.TargetPath(t, "crash.py")
	checkOneLineError(t, runPyscope(t, bin, nil, "dump", text), "not a core file")
	checkOneLineError(t, runPyscope(t, bin, nil, "dump", "/bin/true"), "not a core file")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	checkOneLineError(t, runPyscope(t, bin, nil, "dump", empty), "not a core file")

	// A core of a program that is not Python.
	sdir := t.TempDir()
	sl := exec.Command("/bin/sh", "-c", "ulimit -c unlimited && exec sleep 60")
	sl.Dir = sdir
	if err := sl.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	sl.Process.Signal(syscall.SIGABRT)
	sl.Wait()
	cores, _ := filepath.Glob(filepath.Join(sdir, "core*"))
	if len(cores) != 1 {
		t.Fatalf("no core of sleep in %s", sdir)
	}
	checkOneLineError(t, runPyscope(t, bin, nil, "dump", cores[0]), "sleep", "not of a Python process")

	// Truncated cores: partial results with a warning, or one clear line.
	cr := crash(t, in.Path, "abort", true)
	raw, err := os.ReadFile(cr.core)
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []int{2, 10, 1000} {
		p := filepath.Join(dir, fmt.Sprintf("core.1-%d", frac))
		os.WriteFile(p, raw[:len(raw)/frac], 0o644)
		r := runPyscope(t, bin, nil, "dump", p)
		if r.code == 0 {
			wantContains(t, "truncated core", r.stdout, "warning: ", "truncated")
		} else {
			checkOneLineError(t, r)
		}
	}

	// A sysroot that holds none of the files: results (the files are still
	// at their paths here) and a warning about the sysroot.
	r := runPyscope(t, bin, nil, "dump", "--sysroot", t.TempDir(), cr.core)
	if r.code != 0 {
		t.Fatalf("dump with a useless sysroot: exit %d\n%s", r.code, r.stderr)
	}
	wantContains(t, "useless sysroot", r.stdout, "warning: sysroot ", "holds none")

	// A bundle cut short.
	tg := testenv.StartTarget(t, in, "shapes.py")
	bundle := filepath.Join(dir, "b.tar.zst")
	pyscopeGcore(t, bin, tg, bundle, "--bundle")
	b, _ := os.ReadFile(bundle)
	cut := filepath.Join(dir, "cut.tar.zst")
	os.WriteFile(cut, b[:len(b)/3], 0o644)
	if r := runPyscope(t, bin, nil, "dump", cut); r.code != 0 {
		checkOneLineError(t, r)
	} else {
		wantContains(t, "cut bundle", r.stdout, "warning: bundle ", "truncated")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
