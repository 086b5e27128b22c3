// Package coretest runs the real Python targets shared by the core and
// gcore tests, and checks a core against the facts the target printed.
package coretest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/gcore"
	"pyscope/internal/pybuilds"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
)

// DebianPython is Debian's static, stripped python3.11.
const DebianPython = "/usr/bin/python3.11"

// Facts is what the target (testdata/child.py) printed about itself.
type Facts struct {
	PID         int    `json:"pid"`
	MainTID     int    `json:"main_tid"`
	WorkerTIDs  []int  `json:"worker_tids"`
	Exe         string `json:"exe"`
	ObjAddr     uint64 `json:"obj_addr"`
	ObjDataAddr uint64 `json:"obj_data_addr"`
	ObjData     string `json:"obj_data"`
	BytesType   uint64 `json:"bytes_type"`
	TextAddr    uint64 `json:"text_addr"`
	TextBytes   string `json:"text_bytes"`
}

// Script is the path of child.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "child.py")
}

// Python312 returns the python-build-standalone 3.12 interpreter.
func Python312(t testing.TB) string {
	t.Helper()
	b, err := pybuilds.Get("3.12")
	if err != nil {
		t.Fatalf("pybuilds.Get(3.12): %v", err)
	}
	return b.Python
}

// Need installs a Debian package if cmd is missing.
func Need(t testing.TB, cmd, pkg string) string {
	t.Helper()
	return testenv.NeedCommand(t, cmd, pkg)
}

// Child is a running target.
type Child struct {
	Cmd   *exec.Cmd
	Facts Facts
}

// Start runs child.py in "sleep" mode and waits for its facts; the child
// is killed at cleanup.
func Start(t testing.TB, python string, extra ...string) *Child {
	t.Helper()
	cmd := exec.Command(python, append([]string{Script(), "sleep"}, extra...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", python, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Buffer(nil, 1<<20)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	c := &Child{Cmd: cmd}
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("%s exited without printing its facts", python)
		}
		if err := json.Unmarshal([]byte(l), &c.Facts); err != nil {
			t.Fatalf("bad facts line %q: %v", l, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not print its facts in 30s", python)
	}
	waitSleeping(t, c.Facts.PID)
	return c
}

// waitSleeping waits until the main thread blocks in time.sleep (the
// facts line is printed just before), so stacks are deterministic.
func waitSleeping(t testing.TB, pid int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		switch strings.SplitN(string(b), " ", 2)[0] {
		case "230", "35", "23", "7", "271": // clock_nanosleep, nanosleep, select, poll, ppoll
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d did not reach time.sleep", pid)
}

// Crash runs child.py in "abort" mode under RLIMIT_CORE=unlimited and
// returns the kernel's core. A core_pattern that pipes to a program (or
// names another directory) is replaced by a file pattern in a temporary
// directory for the duration of the test and restored at cleanup.
func Crash(t testing.TB, python string, extra ...string) (string, Facts) {
	t.Helper()
	dir := t.TempDir()
	const patFile = "/proc/sys/kernel/core_pattern"
	old, err := os.ReadFile(patFile)
	if err != nil {
		t.Fatalf("reading %s: %v", patFile, err)
	}
	pattern := strings.TrimSpace(string(old))
	t.Logf("kernel core_pattern is %q", pattern)
	if strings.HasPrefix(pattern, "|") || strings.Contains(pattern, "/") || strings.Contains(pattern, "%") {
		newPat := filepath.Join(dir, "core.%p")
		if err := os.WriteFile(patFile, []byte(newPat), 0o644); err != nil {
			t.Fatalf("core_pattern %q does not write a file and cannot be changed (%v): run the tests as root outside a read-only /proc", pattern, err)
		}
		t.Cleanup(func() { os.WriteFile(patFile, old, 0o644) })
		pattern = newPat
	}
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -c unlimited && exec "$0" "$@"`, python, Script(), "abort"}, extra...)...)
	cmd.Dir = dir
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the aborting child did not fail as expected: %v", err)
	}
	var f Facts
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &f); err != nil {
		t.Fatalf("bad facts %q: %v", stdout.String(), err)
	}
	candidates := []string{
		filepath.Join(dir, "core"),
		filepath.Join(dir, "core."+strconv.Itoa(f.PID)),
		strings.ReplaceAll(pattern, "%p", strconv.Itoa(f.PID)),
	}
	for _, c := range candidates {
		if !filepath.IsAbs(c) {
			c = filepath.Join(dir, c)
		}
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, f
		}
	}
	ents, _ := os.ReadDir(dir)
	t.Fatalf("no core file after the crash (pattern %q, dir has %v, exit %v)", pattern, ents, err)
	return "", f
}

// ReadMaps parses /proc/PID/maps.
func ReadMaps(t testing.TB, pid int) []target.Mapping {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []target.Mapping
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		var m target.Mapping
		se := strings.SplitN(f[0], "-", 2)
		m.Start, _ = strconv.ParseUint(se[0], 16, 64)
		m.End, _ = strconv.ParseUint(se[1], 16, 64)
		m.Perms = f[1]
		m.Offset, _ = strconv.ParseUint(f[2], 16, 64)
		m.Inode, _ = strconv.ParseUint(f[4], 10, 64)
		if len(f) > 5 {
			m.Path = strings.Join(f[5:], " ")
		}
		out = append(out, m)
	}
	return out
}

// Tasks lists /proc/PID/task, sorted.
func Tasks(t testing.TB, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// SortedTIDs returns the TIDs of threads, sorted.
func SortedTIDs(ts []target.Thread) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.TID)
	}
	sort.Ints(out)
	return out
}

// CheckMemory verifies what the target printed against the core: the
// bytes object's data (heap), its type pointer (the interpreter's data
// segment) and the first bytes of Py_GetVersion (read-only text, which
// cores usually leave to the file on disk).
func CheckMemory(t testing.TB, m target.Memory, f Facts) {
	t.Helper()
	want, _ := hex.DecodeString(f.ObjData)
	got := make([]byte, len(want))
	if n, err := m.ReadAt(got, f.ObjDataAddr); err != nil || !bytes.Equal(got, want) {
		t.Errorf("bytes object data at %#x: got %q (n=%d, err=%v), want %q", f.ObjDataAddr, got[:n], n, err, want)
	}
	var typ [8]byte
	if _, err := m.ReadAt(typ[:], f.ObjAddr+8); err != nil || binary.LittleEndian.Uint64(typ[:]) != f.BytesType {
		t.Errorf("ob_type at %#x: got %#x (err %v), want id(bytes) %#x", f.ObjAddr+8, binary.LittleEndian.Uint64(typ[:]), err, f.BytesType)
	}
	want, _ = hex.DecodeString(f.TextBytes)
	got = make([]byte, len(want))
	if n, err := m.ReadAt(got, f.TextAddr); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Py_GetVersion text at %#x: got %x (n=%d, err=%v), want %x", f.TextAddr, got[:n], n, err, want)
	}
}

// CheckRegs verifies that every thread has registers with RIP in an
// executable mapping and RSP in a writable one.
func CheckRegs(t testing.TB, threads []target.Thread, maps []target.Mapping) {
	t.Helper()
	find := func(a uint64) *target.Mapping {
		for i := range maps {
			if maps[i].Start <= a && a < maps[i].End {
				return &maps[i]
			}
		}
		return nil
	}
	for _, th := range threads {
		if th.Regs == nil {
			t.Errorf("thread %d: no registers", th.TID)
			continue
		}
		if m := find(th.Regs.PC()); m == nil || m.Perms[2] != 'x' {
			t.Errorf("thread %d: PC %#x is not in an executable mapping (%+v)", th.TID, th.Regs.PC(), m)
		}
		if m := find(th.Regs.SP()); m == nil || m.Perms[1] != 'w' {
			t.Errorf("thread %d: SP %#x is not in a writable mapping (%+v)", th.TID, th.Regs.SP(), m)
		}
	}
}

// FileMappings keeps the file-backed mappings as "start-end offset path".
func FileMappings(ms []target.Mapping) []string {
	var out []string
	for _, m := range ms {
		if strings.HasPrefix(m.Path, "/") {
			out = append(out, fmt.Sprintf("%x-%x %x %s", m.Start, m.End, m.Offset, m.Path))
		}
	}
	return out
}

// CheckFPRegs verifies each thread's NT_FPREGSET: 512 bytes whose MXCSR
// holds the default control bits every thread starts with (0x1f80,
// ignoring the sticky exception flags).
func CheckFPRegs(t testing.TB, threads []target.Thread, fp func(tid int) []byte) {
	t.Helper()
	for _, th := range threads {
		b := fp(th.TID)
		if len(b) != 512 {
			t.Errorf("thread %d: FP registers %d bytes, want 512", th.TID, len(b))
			continue
		}
		if mxcsr := binary.LittleEndian.Uint32(b[24:]); mxcsr&^0x3f != 0x1f80 {
			t.Errorf("thread %d: MXCSR %#x, want 0x1f80", th.TID, mxcsr)
		}
	}
}

// Gcore stops process pid, writes its core to path with pyscope's writer
// and resumes it, as the engine does; Stats.Pause covers the whole stop.
func Gcore(pid int, path string, opts gcore.Options) (gcore.Stats, error) {
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		return gcore.Stats{}, err
	}
	st, err := gcore.WriteFile(p, path, opts)
	if cerr := p.Close(); err == nil && cerr != nil {
		err = cerr
	}
	st.Pause = p.PauseDuration()
	return st, err
}
