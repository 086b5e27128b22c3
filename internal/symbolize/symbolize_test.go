package symbolize_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pyscope/internal/elfx"
	"pyscope/internal/pybuilds"
	"pyscope/internal/symbolize"
	"pyscope/internal/target/live"
)

const sleepScript = `
import time
print("ready", flush=True)
time.sleep(1000)
`

// Debian's python3.11 is static and stripped; its symbols and DWARF come
// from python3.11-dbg's build-id file. gdb and we must agree frame by
// frame, inlined frames and file:line included.
func TestMatchesGDBDebianPython(t *testing.T) {
	ensurePackages(t, "gdb", "python3.11", "python3.11-dbg", "libc6-dbg")
	pid := startPython(t, debianPython, sleepScript)
	gdb := gdbBT(t, pid, 0)
	ours, _ := ourBT(t, pid, 0, symbolize.Options{})
	compareBT(t, gdb, ours, true)
	requireFuncs(t, ours, "__GI___clock_nanosleep", "time_sleep", "_PyEval_EvalFrameDefault",
		"Py_RunMain", "__libc_start_call_main", "_start")
}

// A copied binary (as in venv --copies) still finds its debug file by
// build-id.
func TestMatchesGDBCopiedPython(t *testing.T) {
	ensurePackages(t, "gdb", "python3.11", "python3.11-dbg", "libc6-dbg")
	dir := t.TempDir()
	cp := filepath.Join(dir, "python3.11")
	if out, err := exec.Command("cp", debianPython, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	script := `
import select, socket
a, b = socket.socketpair()
print("ready", flush=True)
select.select([a], [], [])
`
	pid := startPython(t, cp, script)
	gdb := gdbBT(t, pid, 0)
	ours, _ := ourBT(t, pid, 0, symbolize.Options{})
	compareBT(t, gdb, ours, true)
	requireFuncs(t, ours, "select_select_impl", "_PyEval_EvalFrameDefault", "__libc_start_call_main")
}

// The 3.14 standalone build is static, stripped and BOLT-optimized: only
// .dynsym names exist; gdb shows ?? where we have no name either.
func TestMatchesGDBStripped314(t *testing.T) {
	ensurePackages(t, "gdb", "libc6-dbg")
	pid := startPython(t, python314(t), sleepScript)
	gdb := gdbBT(t, pid, 0)
	ours, _ := ourBT(t, pid, 0, symbolize.Options{})
	compareBT(t, gdb, ours, true)
	requireFuncs(t, ours, "__GI___clock_nanosleep", "PyEval_EvalCode", "Py_RunMain", "__libc_start_call_main")
}

// The standalone builds (3.10-3.13) are built with clang, whose
// .debug_aranges lists only the assembly units: the line tables and
// inlined frames of every C unit must still be found, as gdb finds them.
func TestMatchesGDBStandalone(t *testing.T) {
	ensurePackages(t, "gdb", "libc6-dbg")
	for _, minor := range []string{"3.10", "3.12", "3.13"} {
		t.Run(minor, func(t *testing.T) {
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatalf("%s build: %v", minor, err)
			}
			// Symbols remembered on disk by an earlier run would hide
			// what the DWARF gives.
			t.Setenv("PYSCOPE_CACHE", t.TempDir())
			pid := startPython(t, b.Python, sleepScript)
			gdb := gdbBT(t, pid, 0)
			ours, _ := ourBT(t, pid, 0, symbolize.Options{})
			compareBT(t, gdb, ours, true)
			requireFuncs(t, ours, "time_sleep", "_PyEval_EvalFrameDefault", "Py_RunMain")
		})
	}
}

// A C-level handler (libc's pause, installed with ctypes) blocks inside
// the signal: the stack goes through __restore_rt into the interrupted
// clock_nanosleep. Python-level handlers run later from the eval loop, so
// only a native handler gives a real signal frame.
func TestSignalFrame(t *testing.T) {
	ensurePackages(t, "gdb", "python3.11", "python3.11-dbg", "libc6-dbg")
	script := `
import ctypes, signal, threading, time
libc = ctypes.CDLL(None)
libc.signal.restype = ctypes.c_void_p
libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.signal(signal.SIGUSR1, ctypes.cast(libc.pause, ctypes.c_void_p))
print("ready", flush=True)
time.sleep(1000)
`
	pid := startPython(t, debianPython, script)
	if err := exec.Command("kill", "-USR1", fmt.Sprint(pid)).Run(); err != nil {
		t.Fatal(err)
	}
	// Wait until the main thread sits in pause().
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if strings.HasPrefix(string(b), "34 ") { // SYS_pause
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target not in pause(): %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	gdb := gdbBT(t, pid, 0)
	ours, frames := ourBT(t, pid, 0, symbolize.Options{})
	compareBT(t, gdb, ours, true)
	sig := -1
	for i, f := range frames {
		if f.Signal {
			sig = i
		}
	}
	if sig != 1 {
		t.Fatalf("signal frame at %d, want 1: %v", sig, ours)
	}
	if ours[0].Func != "__libc_pause" || ours[2].Func != "__GI___clock_nanosleep" {
		t.Fatalf("frames around the signal: %v", ours[:3])
	}
	requireFuncs(t, ours, "_PyEval_EvalFrameDefault", "__libc_start_call_main")
}

// Modules reports build-ids and debug files like info sharedlibrary.
func TestModules(t *testing.T) {
	ensurePackages(t, "python3.11", "python3.11-dbg")
	pid := startPython(t, debianPython, sleepScript)
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := symbolize.New(p, symbolize.Options{})
	defer s.Close()
	ef, err := elfx.Open(debianPython)
	if err != nil {
		t.Fatal(err)
	}
	id := ef.BuildID()
	ef.Close()
	want := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
	var found, vdso bool
	for _, m := range s.Modules() {
		if m.Path == debianPython {
			found = true
			if m.BuildID != id || m.DebugFile != want || !m.HasDebugInfo || !m.HasSymbols {
				t.Errorf("python module: %+v, want build-id %s and debug file %s", m, id, want)
			}
			if m.Start > m.End || m.Start == 0 {
				t.Errorf("python module range: %+v", m)
			}
		}
		if m.Path == "[vdso]" {
			vdso = m.HasSymbols
		}
	}
	if !found || !vdso {
		t.Errorf("modules: python found=%v vdso with symbols=%v", found, vdso)
	}
}

// DebugDirs pointing nowhere: only the modules' own .dynsym names, no
// static functions and no file:line.
func TestNoDebugDirs(t *testing.T) {
	ensurePackages(t, "python3.11")
	pid := startPython(t, debianPython, sleepScript)
	ours, _ := ourBT(t, pid, 0, symbolize.Options{DebugDirs: []string{t.TempDir()}})
	if hasFunc(ours, "time_sleep") {
		t.Fatalf("found a static function without debug file: %v", ours)
	}
	for _, f := range ours {
		if f.File != "" {
			t.Fatalf("file:line without debug file: %v", ours)
		}
	}
	requireFuncs(t, ours, "clock_nanosleep", "_PyEval_EvalFrameDefault", "PyEval_EvalCode", "Py_RunMain")
}

// A real debuginfod server serves the debug file; the second lookup, with
// the server stopped, comes from the client cache.
func TestDebuginfod(t *testing.T) {
	ensurePackages(t, "python3.11", "python3.11-dbg", "debuginfod")
	ef, err := elfx.Open(debianPython)
	if err != nil {
		t.Fatal(err)
	}
	id := ef.BuildID()
	ef.Close()
	src := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
	srv := t.TempDir()
	if out, err := exec.Command("cp", src, filepath.Join(srv, "python3.11.debug")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	db := filepath.Join(t.TempDir(), "debuginfod.sqlite")
	cmd := exec.Command("debuginfod", "-F", "-L", "-d", db, "-p", fmt.Sprint(port), "-t", "1", srv)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("debuginfod log:\n%s", logs.String())
		}
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	defer stop()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Wait until the server has scanned the directory.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status := ""
		if resp, err := http.Get(url + "/buildid/" + id + "/debuginfo"); err == nil {
			resp.Body.Close()
			status = resp.Status
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("debuginfod never served %s (last status %q)", id, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cache := t.TempDir()
	t.Setenv("DEBUGINFOD_URLS", url)
	t.Setenv("DEBUGINFOD_CACHE_PATH", cache)
	opts := symbolize.Options{DebugDirs: []string{t.TempDir()}, Debuginfod: true}

	pid := startPython(t, debianPython, sleepScript)
	ours, _ := ourBT(t, pid, 0, opts)
	requireFuncs(t, ours, "time_sleep", "_PyEval_EvalFrameDefault", "Py_RunMain")
	cached := filepath.Join(cache, id, "debuginfo")
	if st, err := os.Stat(cached); err != nil || st.Size() == 0 {
		t.Fatalf("no cached debug file at %s: %v", cached, err)
	}

	stop()
	again, _ := ourBT(t, pid, 0, opts)
	if len(again) != len(ours) {
		t.Fatalf("from cache: %v, first: %v", again, ours)
	}
	requireFuncs(t, again, "time_sleep", "_PyEval_EvalFrameDefault")
}

// With no debug dir, the debug file is found by .gnu_debuglink in the
// binary's .debug/ subdirectory, after a CRC check; a corrupted copy is
// refused.
func TestDebuglink(t *testing.T) {
	ensurePackages(t, "python3.11", "python3.11-dbg")
	ef, err := elfx.Open(debianPython)
	if err != nil {
		t.Fatal(err)
	}
	id := ef.BuildID()
	link, _, ok := ef.Debuglink()
	ef.Close()
	if !ok {
		t.Fatal("python3.11 has no .gnu_debuglink")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "python3.11")
	dbg := filepath.Join(dir, ".debug", link)
	os.Mkdir(filepath.Join(dir, ".debug"), 0o755)
	for _, c := range [][2]string{{debianPython, exe}, {filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug"), dbg}} {
		if out, err := exec.Command("cp", c[0], c[1]).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	pid := startPython(t, exe, sleepScript)
	opts := symbolize.Options{DebugDirs: []string{t.TempDir()}}
	ours, _ := ourBT(t, pid, 0, opts)
	requireFuncs(t, ours, "time_sleep", "_PyEval_EvalFrameDefault")

	// Change one byte of .comment: the file still parses, but the CRC no
	// longer matches.
	df, err := elfx.Open(dbg)
	if err != nil {
		t.Fatal(err)
	}
	sec := df.Section(".comment")
	df.Close()
	if sec == nil {
		t.Fatal("debug file has no .comment")
	}
	f, err := os.OpenFile(dbg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], int64(sec.Offset))
	b[0] ^= 0x20
	f.WriteAt(b[:], int64(sec.Offset))
	f.Close()
	ours, _ = ourBT(t, pid, 0, opts)
	if hasFunc(ours, "time_sleep") {
		t.Fatalf("a debug file with a bad CRC was used: %v", ours)
	}
}
