package live

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/target"
)

const idleThreads = `
import threading, time
def _idle():
    while True:
        time.sleep(0.01)
for _ in range(3):
    threading.Thread(target=_idle, daemon=True).start()
`

func TestAttachDetachLeavesRunning(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	before := threadStates(t, c.pid)

	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// While attached every thread is in tracing stop.
	for tid, st := range threadStates(t, c.pid) {
		if st != "t" {
			t.Errorf("thread %d is %q while attached, want t", tid, st)
		}
	}
	ths := p.Threads()
	if len(ths) != 4 || len(before) != 4 {
		t.Fatalf("got %d threads (%d before attach), want 4", len(ths), len(before))
	}
	if ths[0].TID != c.pid {
		t.Errorf("first thread is %d, want the main thread %d", ths[0].TID, c.pid)
	}
	maps := p.Mappings()
	for _, th := range ths {
		// The state from before the stop, never our own tracing stop.
		if th.State != "R" && th.State != "S" && th.State != "D" {
			t.Errorf("thread %d: state %q, want R/S/D (as before the attach)", th.TID, th.State)
		}
		if th.Comm == "" {
			t.Errorf("thread %d: empty comm", th.TID)
		}
		if th.Regs == nil {
			t.Fatalf("thread %d: no registers", th.TID)
		}
		if !inMapping(maps, th.Regs.SP(), 'w') || !inMapping(maps, th.Regs.PC(), 'x') {
			t.Errorf("thread %d: sp %#x / pc %#x not in a writable / executable mapping", th.TID, th.Regs.SP(), th.Regs.PC())
		}
	}
	exe, _ := filepath.EvalSymlinks(python)
	if p.Executable() != exe {
		t.Errorf("Executable() = %q, want %q", p.Executable(), exe)
	}
	if p.PID() != c.pid || p.Arch() != target.HostArch() {
		t.Errorf("PID/Arch = %d/%v", p.PID(), p.Arch())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if p.PauseDuration() <= 0 {
		t.Errorf("PauseDuration = %v", p.PauseDuration())
	}
	assertRunning(t, c.pid)
	if tp := tracerPid(c.pid); tp != 0 {
		t.Errorf("TracerPid %d after Close", tp)
	}
	c.ping(t)
}

func inMapping(maps []target.Mapping, addr uint64, perm byte) bool {
	for _, m := range maps {
		if addr >= m.Start && addr < m.End {
			return strings.IndexByte(m.Perms, perm) >= 0
		}
	}
	return false
}

const bufferScript = `
import ctypes, os, sys
data = os.urandom(3 * 4096 + 123)
addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
print("buf", hex(addr), data.hex(), flush=True)
`

func TestReadKnownBuffer(t *testing.T) {
	c := startPython(t, bufferScript)
	f := strings.Fields(c.until(t, "buf "))
	addr, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	want, err := hex.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	c.until(t, "ready")

	modes := []struct {
		name    string
		opts    Options
		cache   bool
		memFile bool
	}{
		{"stopped-cached", Options{}, true, false},
		{"stopped-uncached", Options{}, false, false},
		{"stopped-procmem", Options{}, true, true},
		{"stopped-procmem-uncached", Options{}, false, true},
		{"noblock", Options{NoBlock: true}, false, false},
		{"noblock-procmem", Options{NoBlock: true}, false, true},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			p, err := Open(c.pid, mode.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !mode.cache {
				p.mem.setCaching(false)
			}
			p.mem.useFile = mode.memFile

			got := make([]byte, len(want))
			if n, err := p.ReadAt(got, addr); err != nil || n != len(want) || !bytes.Equal(got, want) {
				t.Fatalf("whole buffer: n=%d err=%v equal=%v", n, err, bytes.Equal(got, want))
			}
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 500; i++ {
				off := rng.Intn(len(want))
				n := 1 + rng.Intn(min(len(want)-off, 300))
				if i%50 == 0 { // crossing a page boundary
					off = int((addr+4096)&^4095-addr) - 5
					n = 10
				}
				b := make([]byte, n)
				if k, err := p.ReadAt(b, addr+uint64(off)); err != nil || k != n || !bytes.Equal(b, want[off:off+n]) {
					t.Fatalf("read %d at +%d: k=%d err=%v", n, off, k, err)
				}
			}
			checkFaults(t, p)
			if mode.opts.NoBlock {
				if p.PauseDuration() != 0 {
					t.Errorf("NoBlock pause %v", p.PauseDuration())
				}
				assertRunning(t, c.pid)
				for _, th := range p.Threads() {
					if th.Regs != nil {
						t.Errorf("NoBlock: thread %d has registers", th.TID)
					}
				}
			}
		})
	}
	c.ping(t)
}

// checkFaults reads unmapped memory and across the end of a mapping.
func checkFaults(t *testing.T, p *Process) {
	t.Helper()
	var b [16]byte
	for _, a := range []uint64{0, 8, 1 << 63, ^uint64(0) - 4} {
		n, err := p.ReadAt(b[:], a)
		var fe *target.FaultError
		if n != 0 || !errors.As(err, &fe) {
			t.Errorf("read at %#x: n=%d err=%v, want a FaultError", a, n, err)
		}
	}
	maps := p.Mappings()
	for i, m := range maps {
		if !strings.HasPrefix(m.Perms, "r") || (i+1 < len(maps) && maps[i+1].Start == m.End) || m.Path == "[vvar]" {
			continue
		}
		n, err := p.ReadAt(b[:], m.End-8)
		var fe *target.FaultError
		if n != 8 || !errors.As(err, &fe) {
			t.Errorf("read across end of %#x-%#x %s: n=%d err=%v, want 8 and a FaultError", m.Start, m.End, m.Path, n, err)
		}
		// Again, now served by the cache when enabled.
		if n, err := p.ReadAt(b[:], m.End-8); n != 8 || err == nil {
			t.Errorf("second read across end: n=%d err=%v", n, err)
		}
		return
	}
	t.Error("no mapping followed by a gap")
}

func TestThreadsAppearAndVanish(t *testing.T) {
	c := startPython(t, `
import threading, time
def _churn():
    while True:
        ts = [threading.Thread(target=time.sleep, args=(0.0005,)) for _ in range(4)]
        for th in ts: th.start()
        for th in ts: th.join()
threading.Thread(target=_churn, daemon=True).start()
`)
	c.until(t, "ready")
	maxSeen := 0
	for i := 0; i < 40; i++ {
		p, err := Open(c.pid, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ths := p.Threads()
		maxSeen = max(maxSeen, len(ths))
		var tids []int
		for _, th := range ths {
			tids = append(tids, th.TID)
			if th.Regs == nil && th.State != "Z" {
				t.Errorf("thread %d (%s) not stopped", th.TID, th.State)
			}
		}
		// Nothing can start or exit while all threads are stopped.
		now, _ := listTasks(c.pid)
		slices.Sort(now)
		slices.Sort(tids)
		if !slices.Equal(now, tids) {
			t.Errorf("Threads() %v but /proc lists %v while stopped", tids, now)
		}
		for tid, st := range threadStates(t, c.pid) {
			if st != "t" && st != "Z" {
				t.Errorf("thread %d is %q while attached", tid, st)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Intn(3000)) * time.Microsecond)
	}
	t.Logf("up to %d threads seen", maxSeen)
	assertRunning(t, c.pid)
	c.ping(t)
}

// waitRunning polls until no thread of pid is stopped: the kernel wakes
// tracees of a dead tracer asynchronously.
func waitRunning(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		stopped := ""
		for tid, st := range threadStates(t, pid) {
			if st == "T" || st == "t" {
				stopped = fmt.Sprintf("thread %d in state %s", tid, st)
			}
		}
		if stopped == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after the attacher died", stopped)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSIGKILLOfAttacher(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	stoppedKills := 0
	for i := 0; i < 50; i++ {
		cmd, out, _ := helper(t, "attachloop", c.pid)
		if l := out.next(t, 10*time.Second); l != "start" {
			t.Fatalf("helper: %q", l)
		}
		time.Sleep(time.Duration(rand.Intn(4000)) * time.Microsecond)
		if taskState(c.pid, c.pid) == "t" {
			stoppedKills++
		}
		cmd.Process.Kill()
		cmd.Wait()
		waitRunning(t, c.pid)
		if tp := tracerPid(c.pid); tp != 0 {
			t.Fatalf("still traced by %d", tp)
		}
		if i%10 == 0 {
			c.ping(t)
		}
	}
	// Not asserted (timing), but shows the kills land while attached.
	t.Logf("%d of 50 kills found the main thread in tracing stop", stoppedKills)
	c.ping(t)
}

func TestSignalDetaches(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		cmd, out, in := helper(t, "hold", c.pid)
		if l := out.next(t, 10*time.Second); l != "attached" {
			t.Fatalf("helper: %q", l)
		}
		for tid, st := range threadStates(t, c.pid) {
			if st != "t" {
				t.Fatalf("thread %d is %q while the helper holds it", tid, st)
			}
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		in.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
			t.Errorf("%v: helper ended with %v, want exit code %d", sig, err, 128+int(sig))
		}
		// Detached before exiting: nothing left to wake asynchronously.
		assertRunning(t, c.pid)
		c.ping(t)
	}
}

func TestAlreadyTraced(t *testing.T) {
	c := startPython(t, "")
	c.until(t, "ready")
	cmd, out, in := helper(t, "seize", c.pid)
	if l := out.next(t, 10*time.Second); l != "seized" {
		t.Fatalf("helper: %q", l)
	}
	_, err := Open(c.pid, Options{})
	t.Log(err)
	if !errors.Is(err, target.ErrTraced) || !strings.Contains(err.Error(), "by process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("Open of a traced process: %v; want ErrTraced naming tracer %d", err, cmd.Process.Pid)
	}
	// NoBlock needs no ptrace and still works.
	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Errorf("NoBlock Open of a traced process: %v", err)
	} else {
		p.Close()
	}
	in.Close()
	cmd.Wait()
	c.ping(t)
}

func TestNoSuchProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{cmd.Process.Pid, 1 << 30, 0, -1} {
		for _, opts := range []Options{{}, {NoBlock: true}} {
			if _, err := Open(pid, opts); !errors.Is(err, target.ErrNoProcess) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open(%d, %+v): %v, want ErrNoProcess", pid, opts, err)
			}
		}
		if _, err := StartTicks(pid); !errors.Is(err, target.ErrNoProcess) {
			t.Errorf("StartTicks(%d): %v, want ErrNoProcess", pid, err)
		}
	}
}

// The main thread exited (pthread_exit) while another thread runs: the
// leader is a zombie without maps, exe or mm, yet the process is alive.
func TestZombieMainThread(t *testing.T) {
	cmd := exec.Command(python, "-c", bufferScript+`
import ctypes, sys, threading, time
def worker():
    print("ready", flush=True)
    for line in sys.stdin:
        sys.stdout.write("echo:" + line)
        sys.stdout.flush()
threading.Thread(target=worker).start()
time.sleep(0.1)
ctypes.CDLL(None).pthread_exit(None)
`)
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c := &child{cmd: cmd, pid: cmd.Process.Pid, in: in, out: newLineReader(outp)}
	f := strings.Fields(c.until(t, "buf "))
	addr, _ := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	want, _ := hex.DecodeString(f[2])
	c.until(t, "ready")
	for taskState(c.pid, c.pid) != "Z" {
		time.Sleep(time.Millisecond)
	}
	for _, opts := range []Options{{}, {NoBlock: true}} {
		p, err := Open(c.pid, opts)
		if err != nil {
			t.Fatal(err)
		}
		ths := p.Threads()
		if len(ths) != 2 || ths[0].TID != c.pid || ths[0].State != "Z" || ths[0].Regs != nil {
			t.Errorf("threads: %+v", ths)
		}
		if !opts.NoBlock && ths[1].Regs == nil {
			t.Errorf("live thread not stopped")
		}
		got := make([]byte, len(want))
		if n, err := p.ReadAt(got, addr); err != nil || n != len(want) || !bytes.Equal(got, want) {
			t.Errorf("read: n=%d err=%v", n, err)
		}
		if len(p.Mappings()) == 0 || p.Executable() == "" {
			t.Errorf("no mappings or executable")
		}
		p.Close()
	}
	assertRunning(t, c.pid)
	c.ping(t)
}

func TestZombie(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	defer cmd.Wait()
	for taskState(cmd.Process.Pid, cmd.Process.Pid) != "Z" {
		time.Sleep(time.Millisecond)
	}
	_, err := Open(cmd.Process.Pid, Options{})
	t.Log(err)
	if !errors.Is(err, target.ErrNoProcess) && !errors.Is(err, target.ErrExited) {
		t.Errorf("Open of a zombie: %v", err)
	}
}

func TestExitedDuringDump(t *testing.T) {
	c := startPython(t, bufferScript)
	addr, _ := strconv.ParseUint(strings.TrimPrefix(strings.Fields(c.until(t, "buf "))[1], "0x"), 16, 64)
	c.until(t, "ready")
	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.mem.setCaching(false)
	c.cmd.Process.Kill()
	var b [8]byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := p.ReadAt(b[:], addr)
		if errors.Is(err, target.ErrExited) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read after the target was killed: %v, want ErrExited", err)
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close after exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs after the target exited")
	}
}

func TestPermissionDenied(t *testing.T) {
	c := startPython(t, "")
	c.until(t, "ready")
	// The helper runs as nobody, so it needs a copy of the test binary it
	// can execute (go test's build directory is private).
	dir, err := os.MkdirTemp("", "pyscope-live-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "live.test")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"open", "open-noblock"} {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "LIVE_TEST_HELPER="+mode, "LIVE_TEST_PID="+strconv.Itoa(c.pid))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.Output()
		s := string(out)
		t.Log(s)
		if !strings.HasPrefix(s, "ERR perm=true") || !strings.Contains(s, "CAP_SYS_PTRACE") {
			t.Errorf("%s as nobody: %q, want a permission error naming CAP_SYS_PTRACE", mode, s)
		}
	}
	c.ping(t)
}

func TestGroupStoppedTargetStaysStopped(t *testing.T) {
	c := startPython(t, idleThreads)
	c.until(t, "ready")
	syscall.Kill(c.pid, syscall.SIGSTOP)
	for taskState(c.pid, c.pid) != "T" {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let every thread reach the group stop
	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range p.Threads() {
		if th.State != "T" || th.Regs == nil {
			t.Errorf("thread %d: state %q regs %v", th.TID, th.State, th.Regs != nil)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Detached threads re-enter the group stop asynchronously.
	deadline := time.Now().Add(2 * time.Second)
	for {
		bad := ""
		for tid, st := range threadStates(t, c.pid) {
			if st != "T" {
				bad = fmt.Sprintf("thread %d is %q after Close, want T (stopped before we came)", tid, st)
			}
		}
		if bad == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(bad)
		}
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(c.pid, syscall.SIGCONT)
	c.ping(t)
}

// A process-wide signal that arrives while the target is stopped must reach
// the main thread after Close (Python runs handlers only there; had another
// thread dequeued it, the main thread would stay blocked in read()).
func TestSignalWhileStoppedReachesMainThread(t *testing.T) {
	c := startPython(t, `
import signal
signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
`+idleThreads)
	c.until(t, "ready")
	for i := 0; i < 20; i++ {
		p, err := Open(c.pid, Options{})
		if err != nil {
			t.Fatal(err)
		}
		syscall.Kill(c.pid, syscall.SIGUSR1)
		p.Close()
		c.until(t, "usr1")
		time.Sleep(5 * time.Millisecond) // let every thread settle
	}
	c.ping(t)
}

func TestMappingsAndOpen(t *testing.T) {
	dir := t.TempDir()
	c := startPython(t, `
import ctypes, mmap, os, sys
d = sys.argv[1]
def mapfile(name, content):
    f = open(os.path.join(d, name), "w+b")
    f.write(content)
    f.flush()
    m = mmap.mmap(f.fileno(), len(content))
    return f, m, ctypes.addressof(ctypes.c_char.from_buffer(m))
f1, m1, a1 = mapfile("with space (x).bin", b"A" * 8192)
f2, m2, a2 = mapfile("gone.bin", b"DELETED-CONTENT" * 1000)
os.unlink(os.path.join(d, "gone.bin"))
print("maps", hex(a1), hex(a2), flush=True)
`, dir)
	f := strings.Fields(c.until(t, "maps "))
	a1, _ := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	a2, _ := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 64)
	c.until(t, "ready")
	for _, opts := range []Options{{}, {NoBlock: true}} {
		p, err := Open(c.pid, opts)
		if err != nil {
			t.Fatal(err)
		}
		maps := p.Mappings()
		byStart := map[uint64]target.Mapping{}
		names := map[string]bool{}
		for i, m := range maps {
			if i > 0 && maps[i-1].Start >= m.Start {
				t.Errorf("mappings not sorted at %d", i)
			}
			byStart[m.Start] = m
			names[m.Path] = true
		}
		for _, n := range []string{"[heap]", "[stack]", "[vdso]"} {
			if !names[n] {
				t.Errorf("no %s mapping", n)
			}
		}
		if m := byStart[a1]; m.Path != filepath.Join(dir, "with space (x).bin") || m.Inode == 0 || m.Perms != "rw-s" {
			t.Errorf("mapping at %#x: %+v", a1, m)
		}
		gone := filepath.Join(dir, "gone.bin") + " (deleted)"
		if m := byStart[a2]; m.Path != gone {
			t.Errorf("mapping at %#x: %+v, want path %q", a2, m, gone)
		}
		fh, err := p.Open(gone)
		if err != nil {
			t.Fatalf("Open(%q): %v", gone, err)
		}
		b, _ := io.ReadAll(fh)
		fh.Close()
		if !bytes.Equal(b, bytes.Repeat([]byte("DELETED-CONTENT"), 1000)) {
			t.Errorf("deleted file content: %d bytes %.20q", len(b), b)
		}
		fh, err = p.Open(p.Executable())
		if err != nil {
			t.Fatal(err)
		}
		var magic [4]byte
		fh.ReadAt(magic[:], 0)
		fh.Close()
		if string(magic[:]) != "\x7fELF" {
			t.Errorf("executable starts with %q", magic)
		}
		p.Close()
	}
	c.ping(t)
}

func TestOpenStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(dir, "lib/x.txt"), []byte("lib"), 0o644)
	os.Symlink("/etc/os-release", filepath.Join(dir, "abs"))
	os.Symlink("../../../../../../etc/os-release", filepath.Join(dir, "rel"))
	os.Symlink("/lib", filepath.Join(dir, "dirlink"))
	os.Symlink("/proc/self/root/etc/os-release", filepath.Join(dir, "magic"))
	c := startPython(t, `
import os, sys
os.chroot(sys.argv[1])
os.chdir("/")
`, dir)
	c.until(t, "ready")
	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer func() { useOpenat2 = true }()
	for _, o2 := range []bool{true, false} {
		useOpenat2 = o2
		for path, want := range map[string]string{
			"/etc/os-release":            "inside",
			"etc/os-release":             "inside",
			"/abs":                       "inside",
			"/rel":                       "inside",
			"/../../etc/os-release":      "inside",
			"/dirlink/x.txt":             "lib",
			"/dirlink/../etc/os-release": "inside",
		} {
			f, err := p.Open(path)
			if err != nil {
				t.Errorf("openat2=%v Open(%q): %v", o2, path, err)
				continue
			}
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != want {
				t.Errorf("openat2=%v Open(%q) = %q, want %q", o2, path, b, want)
			}
		}
		// A magic link must not lead out of the root either.
		if f, err := p.Open("/magic"); err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != "inside" {
				t.Errorf("openat2=%v: /magic escaped the root: %.40q", o2, b)
			}
		}
		if _, err := p.Open("/missing"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("openat2=%v Open(/missing): %v", o2, err)
		}
	}
}

func TestStartTime(t *testing.T) {
	c := startPython(t, `
open("/proc/self/comm", "w").write("a) b (c")
print("start", open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19], flush=True)
`)
	want, _ := strconv.ParseUint(strings.Fields(c.until(t, "start "))[1], 10, 64)
	got, err := StartTicks(c.pid)
	if err != nil || got != want || want == 0 {
		t.Errorf("StartTime = %d, %v; the process says %d", got, err, want)
	}
	self, err := StartTicks(os.Getpid())
	if err != nil || self > got {
		t.Errorf("StartTicks(self) = %d, %v; child started at %d", self, err, got)
	}
}

// TestPause measures the stop time of a 4-thread target for an attach, a
// batch of small reads as a dump does, and the detach.
func TestPause(t *testing.T) {
	c := startPython(t, bufferScript+idleThreads)
	addr, _ := strconv.ParseUint(strings.TrimPrefix(strings.Fields(c.until(t, "buf "))[1], "0x"), 16, 64)
	c.until(t, "ready")
	var heap target.Mapping
	pauses := map[string][]time.Duration{}
	for i := 0; i < 21; i++ {
		for _, reads := range []int{0, 2000} {
			p, err := Open(c.pid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if heap.Start == 0 {
				for _, m := range p.Mappings() {
					if addr >= m.Start && addr < m.End {
						heap = m
					}
				}
			}
			var b [32]byte
			for k := 0; k < reads; k++ {
				// Pointer-chasing-like locality: many reads in few pages.
				off := uint64(k*97) % min(heap.End-heap.Start-32, 256<<10)
				p.ReadAt(b[:], heap.Start+off)
			}
			p.Close()
			key := fmt.Sprintf("%d reads", reads)
			pauses[key] = append(pauses[key], p.PauseDuration())
		}
	}
	for k, v := range pauses {
		slices.Sort(v)
		t.Logf("pause with 4 threads, %s: min %v median %v max %v", k, v[0], v[len(v)/2], v[len(v)-1])
	}
	if med := pauses["0 reads"][10]; med > 50*time.Millisecond {
		t.Errorf("median attach+detach pause %v", med)
	}
	c.ping(t)
}

// TestRefusalCauses checks which cause the message names for each set of
// facts; the e2e tests meet the real refusals (another user, a dropped
// CAP_SYS_PTRACE, a tracer, a kernel thread, PID 1).
func TestRefusalCauses(t *testing.T) {
	const all = 1<<41 - 1
	noPtrace := uint64(all &^ (1 << capSysPtrace))
	for _, c := range []struct {
		name string
		a    access
		want string
	}{
		{"other user", access{pid: "7", euid: 1000, targetUIDs: []int{0, 0, 0, 0}, yama: 1}, "runs as user 0"},
		{"yama 3", access{pid: "7", euid: 0, ourCaps: all, yama: 3}, "ptrace_scope is 3"},
		{"yama 2", access{pid: "7", euid: 1000, targetUIDs: []int{1000}, yama: 2}, "ptrace_scope is 2"},
		{"yama 1", access{pid: "7", euid: 1000, targetUIDs: []int{1000}, yama: 1}, "ptrace_scope is 1"},
		{"yama 1, child", access{pid: "7", euid: 1000, targetUIDs: []int{1000}, yama: 1, descendant: true}, "non-dumpable"},
		{"root without ptrace", access{pid: "7", euid: 0, ourCaps: noPtrace, targetCaps: all, targetCapsOK: true, targetUIDs: []int{0}, yama: -1}, "CAP_SYS_PTRACE overrides"},
		{"user namespace", access{pid: "7", euid: 0, ourCaps: all, yama: 0, ownUserNS: true}, "user namespace"},
		{"seccomp", access{pid: "7", euid: 0, ourCaps: all, yama: -1, seccomp: true}, "seccomp"},
		{"unknown", access{pid: "7", euid: 0, ourCaps: noPtrace | 1<<capSysPtrace, targetCaps: all, targetCapsOK: true, yama: -1}, "cause is unknown"},
		{"kernel thread", access{pid: "2", euid: 0, ourCaps: all, kernelThread: true}, "kernel thread"},
	} {
		msg := c.a.cause()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q does not say %q", c.name, msg, c.want)
		}
		if c.a.euid == 0 && strings.Contains(msg, "as root") && !strings.Contains(msg, "runs as root") {
			t.Errorf("%s: tells root to run as root: %q", c.name, msg)
		}
	}
}
