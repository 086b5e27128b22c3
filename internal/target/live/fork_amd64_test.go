package live

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// forkScript keeps a buffer changing in one thread, sleeps in others, and
// reports any SIGCHLD it gets.
const forkScript = `
import ctypes, signal, sys, threading, time
signal.signal(signal.SIGCHLD, lambda *a: print("sigchld", flush=True))
buf = bytearray(b"\x01") * (8 << 20)
addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
gen = [0]
def mutate():
    while True:
        gen[0] += 1
        ctypes.memset(addr + (gen[0] % 8) * (1 << 20), gen[0] & 0xff, 1 << 20)
def idle():
    while True:
        time.sleep(0.001)
threading.Thread(target=mutate, daemon=True).start()
for _ in range(2):
    threading.Thread(target=idle, daemon=True).start()
print("buffer", addr, len(buf), flush=True)
`

func children(t *testing.T, pid int) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, strconv.Itoa(n)+":"+f[0])
		}
	}
	return out
}

// TestForkSnapshot: the child holds the memory of the stop while the
// parent runs on; closing it leaves no process, no zombie, no SIGCHLD, and
// a parent whose threads all carry on.
func TestForkSnapshot(t *testing.T) {
	c := startPython(t, forkScript)
	f := strings.Fields(c.until(t, "buffer"))
	addr, _ := strconv.ParseUint(f[1], 10, 64)
	size, _ := strconv.Atoi(f[2])
	c.until(t, "ready")
	time.Sleep(50 * time.Millisecond)

	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	atStop := make([]byte, size)
	if n, err := p.ReadAt(atStop, addr); err != nil || n != size {
		t.Fatalf("reading the buffer while stopped: %d, %v", n, err)
	}
	ts, err := p.Fork()
	if err != nil {
		p.Close()
		t.Fatalf("Fork: %v", err)
	}
	s := ts.(*Snapshot)
	t.Logf("fork took %v in thread %d; child %d", s.Info().ForkTime, s.Info().Borrowed, s.PID())
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	assertRunning(t, c.pid)
	// The parent runs on and changes the buffer; the child must not.
	time.Sleep(100 * time.Millisecond)
	now := make([]byte, size)
	if _, err := p.mem.readRaw(now, addr); err == nil && bytes.Equal(now, atStop) {
		t.Fatal("the parent's buffer did not change: the test proves nothing")
	}
	snap := make([]byte, size)
	if n, err := s.ReadAt(snap, addr); err != nil || n != size {
		t.Fatalf("reading the snapshot: %d, %v", n, err)
	}
	if !bytes.Equal(snap, atStop) {
		t.Error("the snapshot's buffer differs from the buffer at the stop")
	}
	if st := taskState(s.PID(), s.PID()); st != "t" {
		t.Errorf("child state %q, want t (stopped under ptrace)", st)
	}
	child := s.PID()
	if err := s.Close(); err != nil {
		t.Errorf("snapshot Close: %v", err)
	}
	info := s.Info()
	t.Logf("reaped in thread %d in %v (%v)", info.ReapThread, info.ReapTime, info.ReapErr)
	if info.ReapErr != nil {
		t.Errorf("child not reaped in the parent: %v", info.ReapErr)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(child)); err == nil {
		t.Errorf("child %d still exists (zombie?): %v", child, children(t, c.pid))
	}
	if ch := children(t, c.pid); len(ch) != 0 {
		t.Errorf("children left: %v", ch)
	}
	assertRunning(t, c.pid)
	// Every thread carries on: the mutator changes the buffer again.
	time.Sleep(50 * time.Millisecond)
	again := make([]byte, size)
	p2, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := p2.ReadAt(again, addr); err != nil || bytes.Equal(again, now) {
		t.Errorf("the mutator thread stopped after the fork (%v)", err)
	}
	for _, l := range pingLines(t, c) {
		if l == "sigchld" {
			t.Error("the parent got a SIGCHLD")
		}
	}
}

// pingLines is ping that returns the lines it skipped.
func pingLines(t *testing.T, c *child) []string {
	t.Helper()
	c.seq++
	msg := "ping " + strconv.Itoa(c.seq)
	if _, err := c.in.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for {
		l := c.out.next(t, 10*time.Second)
		if l == "echo:"+msg {
			return skipped
		}
		skipped = append(skipped, l)
	}
}

// TestForkRefusedUnderSeccomp: a process with a seccomp filter is not
// forked.
func TestForkRefusedUnderSeccomp(t *testing.T) {
	c := startPython(t, `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
class Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]
allow = (Filter * 1)(Filter(0x06, 0, 0, 0x7fff0000))
prog = Prog(1, allow)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()
`)
	c.until(t, "ready")
	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.Fork()
	if err == nil {
		s.Close()
		t.Fatal("Fork under a seccomp filter succeeded")
	}
	if !errors.Is(err, ErrForkRefused) || !strings.Contains(err.Error(), "seccomp") {
		t.Errorf("error %q does not refuse for seccomp", err)
	}
}

// TestForkWritesNothing: forking the target (and reaping the child in it)
// leaves every byte of its writable memory as it was. The target sits in
// one long sleep, so nothing of its own changes its memory either.
func TestForkWritesNothing(t *testing.T) {
	// The kernel writes the CPU number into a thread's rseq area when it
	// runs on another CPU: glibc must not register one for this check.
	t.Setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")
	c := startPython(t, `
import ctypes
print("ready", flush=True)
ctypes.CDLL(None).pause()  # restarted after a stop; no Python code, no memory written
`)
	c.until(t, "ready")
	time.Sleep(100 * time.Millisecond)
	hash := func() map[string][32]byte {
		p, err := Open(c.pid, Options{NoBlock: true, NoThreads: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		out := map[string][32]byte{}
		for _, m := range p.Mappings() {
			if len(m.Perms) < 2 || m.Perms[0] != 'r' || m.Perms[1] != 'w' || strings.HasPrefix(m.Path, "[v") {
				continue
			}
			b := make([]byte, m.End-m.Start)
			n, _ := p.mem.readRaw(b, m.Start)
			out[strconv.FormatUint(m.Start, 16)+" "+m.Path] = sha256.Sum256(b[:n])
		}
		return out
	}
	before := hash()
	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Fork()
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	p.Close()
	s.Close()
	if err := s.Info().ReapErr; err != nil {
		t.Errorf("not reaped: %v", err)
	}
	after := hash()
	if len(before) == 0 {
		t.Fatal("no writable mapping hashed")
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("mapping %s changed", k)
		}
	}
}

// TestForkRestartsSyscalls: the borrowed thread was blocked in a system
// call the kernel restarts after a stop (clock_nanosleep, read on a pipe);
// it must carry on as if it had only been stopped: the sleep lasts its
// whole time and returns 0, the read returns the byte written later, never
// EINTR. Each call is made in the main thread once, which Fork borrows when
// no thread runs user code.
func TestForkRestartsSyscalls(t *testing.T) {
	for _, main := range []string{"sleep", "read"} {
		t.Run(main, func(t *testing.T) {
			c := startPython(t, `
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
class timespec(ctypes.Structure):
    _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
r, w = os.pipe()
def sleep():
    t0 = time.monotonic()
    rc = libc.clock_nanosleep(1, 0, ctypes.byref(timespec(1, 500000000)), None)
    os.write(1, b"sleep %d %.3f\n" % (rc, time.monotonic() - t0))  # one write: lines never interleave
def read():
    buf = ctypes.create_string_buffer(1)
    n = libc.read(r, buf, 1)
    os.write(1, b"read %d %d\n" % (n, ctypes.get_errno()))
def write_later():
    time.sleep(1.5)
    os.write(w, b"x")
first, second = (sleep, read) if sys.argv[1] == "sleep" else (read, sleep)
threading.Thread(target=second, daemon=True).start()
threading.Thread(target=write_later, daemon=True).start()
print("ready", flush=True)
first()
time.sleep(0.5)
`, main)
			c.until(t, "ready")
			time.Sleep(300 * time.Millisecond)
			p, err := Open(c.pid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := p.Fork()
			if err != nil {
				p.Close()
				t.Fatal(err)
			}
			p.Close()
			s.Close()
			if info := s.Info(); info.Borrowed != c.pid || info.ReapThread != c.pid {
				t.Logf("borrowed %d, reaped in %d (main %d)", info.Borrowed, info.ReapThread, c.pid)
			}
			got := map[string][]string{}
			for len(got) < 2 {
				f := strings.Fields(c.out.next(t, 10*time.Second))
				if len(f) > 0 && (f[0] == "sleep" || f[0] == "read") {
					got[f[0]] = f[1:]
				}
			}
			if g := got["sleep"]; g[0] != "0" || g[1] < "1.5" {
				t.Errorf("clock_nanosleep returned %s after %s s, want 0 after at least 1.5 s", g[0], g[1])
			}
			if g := got["read"]; g[0] != "1" {
				t.Errorf("read returned %s (errno %s), want 1 byte", g[0], g[1])
			}
		})
	}
}
