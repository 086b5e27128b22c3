package live

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadsScript starts two sleeping threads and prints their TIDs; a line
// "bump" on stdin increments a counter in a ctypes buffer whose address
// it printed.
const threadsScript = `
import ctypes, threading, time, sys
tids = []
def sleeper():
    tids.append(threading.get_native_id())
    time.sleep(3600)
for _ in range(2):
    threading.Thread(target=sleeper, daemon=True).start()
while len(tids) < 2:
    time.sleep(0.01)
counter = ctypes.c_uint64(7)
print("tids", threading.get_native_id(), *tids, hex(ctypes.addressof(counter)), flush=True)
def bump():
    counter.value += 1
`

const bumpLoop = `
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "bump":
        bump()
    sys.stdout.write("echo:" + line)
    sys.stdout.flush()
`

func startThreads(t *testing.T) (*child, []int, uint64) {
	t.Helper()
	c := startPython(t, threadsScript+bumpLoop)
	f := strings.Fields(c.until(t, "tids "))
	var tids []int
	for _, s := range f[1:4] {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		tids = append(tids, n)
	}
	addr, err := strconv.ParseUint(strings.TrimPrefix(f[4], "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	c.until(t, "ready")
	return c, tids, addr
}

// TestAttachSubset stops exactly the threads named and lists the others,
// running and without registers.
func TestAttachSubset(t *testing.T) {
	c, tids, _ := startThreads(t)
	main, sleeper := tids[0], tids[1]
	for _, stop := range [][]int{{sleeper}, {}, {main, sleeper, 999999999}} {
		t.Run(fmt.Sprint(stop), func(t *testing.T) {
			p, err := Open(c.pid, Options{Subset: true, Stop: stop, Cache: true})
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]bool{}
			for _, tid := range stop {
				want[tid] = true
			}
			states := threadStates(t, c.pid)
			if len(p.Threads()) != len(states) {
				t.Errorf("%d threads listed, the process has %d", len(p.Threads()), len(states))
			}
			for _, th := range p.Threads() {
				stopped := states[th.TID] == "t"
				if stopped != want[th.TID] || (th.Regs != nil) != want[th.TID] {
					t.Errorf("thread %d: state %s, registers %v; want stopped %v", th.TID, states[th.TID], th.Regs != nil, want[th.TID])
				}
			}
			if len(stop) == 0 && p.PauseDuration() != 0 {
				t.Errorf("nothing stopped, yet a pause of %v", p.PauseDuration())
			}
			checkStopped(t, p, want)
			// Stopping more later (the engine stops the GIL's holder last).
			if !want[sleeper] {
				if err := p.Stop([]int{sleeper}); err != nil {
					t.Fatal(err)
				}
				want[sleeper] = true
				if s := threadStates(t, c.pid)[sleeper]; s != "t" {
					t.Errorf("Stop left thread %d in state %s", sleeper, s)
				}
				checkStopped(t, p, want)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			assertRunning(t, c.pid)
			c.ping(t)
		})
	}
}

// checkStopped: Stopped lists exactly the threads of want that exist,
// with their registers.
func checkStopped(t *testing.T, p *Process, want map[int]bool) {
	t.Helper()
	got := map[int]bool{}
	for _, th := range p.Stopped() {
		if th.Regs == nil {
			t.Errorf("Stopped lists thread %d without registers", th.TID)
		}
		got[th.TID] = true
	}
	for _, th := range p.Threads() {
		if got[th.TID] != want[th.TID] {
			t.Errorf("thread %d: in Stopped %v, stopped %v", th.TID, got[th.TID], want[th.TID])
		}
	}
	if len(got) > len(want) {
		t.Errorf("Stopped lists %v, want %v", got, want)
	}
}

// TestReadVector reads past the page cache: a value changed after it was
// cached is seen new, and a range that faults fails alone.
func TestReadVector(t *testing.T) {
	c, _, addr := startThreads(t)
	p, err := Open(c.pid, Options{NoBlock: true, NoThreads: true, Cache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u64 := binary.LittleEndian.Uint64
	var cached [8]byte
	if _, err := p.ReadAt(cached[:], addr); err != nil || u64(cached[:]) != 7 {
		t.Fatalf("cached read: %d, %v", u64(cached[:]), err)
	}
	fmt.Fprintln(c.in, "bump")
	c.until(t, "echo:bump")
	for _, useFile := range []bool{false, true} {
		p.mem.useFile = useFile
		bufs := make([][]byte, 3000) // more than one process_vm_readv
		addrs := make([]uint64, len(bufs))
		for i := range bufs {
			bufs[i] = make([]byte, 8)
			addrs[i] = addr
		}
		bad := map[int]bool{0: true, 1500: true, 1501: true, 2047: true, 2999: true}
		for i := range bad {
			addrs[i] = 8 // never mapped
		}
		ok := make([]bool, len(bufs))
		p.ReadVector(addrs, bufs, ok)
		for i, b := range bufs {
			switch {
			case ok[i] == bad[i]:
				t.Fatalf("procmem=%v: range %d ok %v", useFile, i, ok[i])
			case ok[i] && len(b) > 0 && u64(b) != 8:
				t.Fatalf("procmem=%v: range %d read %d, want the new value 8", useFile, i, u64(b))
			}
		}
		if _, err := p.ReadAt(cached[:], addr); err != nil || u64(cached[:]) != 7 {
			t.Errorf("the cache is still what it was: %d, %v", u64(cached[:]), err)
		}
	}
}

// TestTaskActivity: a thread asleep keeps its count of switches; one that
// ran in between has a larger count, or is not asleep.
func TestTaskActivity(t *testing.T) {
	c, tids, _ := startThreads(t)
	main, sleeper := tids[0], tids[1]
	// The main thread settles asleep first (it lets the GIL go), then the
	// sleeper is taken once it stays asleep with the same count for 50 ms:
	// on a loaded machine it may still be starting, or asleep waiting for
	// the GIL on its way into time.sleep, both of which it leaves soon.
	deadline := time.Now().Add(5 * time.Second)
	var a1, s1 Activity
	for {
		var err error
		if a1, err = TaskActivity(c.pid, main); err != nil {
			t.Fatal(err)
		}
		if a1.Asleep() || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for {
		a, err := TaskActivity(c.pid, sleeper)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if s1, err = TaskActivity(c.pid, sleeper); err != nil {
			t.Fatal(err)
		}
		if (s1.Asleep() && s1 == a) || time.Now().After(deadline) {
			break
		}
	}
	if !s1.Asleep() || s1.Switches == 0 {
		t.Fatalf("sleeper: %+v after 5 s", s1)
	}
	c.ping(t) // the main thread runs
	a2, _ := TaskActivity(c.pid, main)
	if a2.Asleep() && a2.Switches == a1.Switches {
		t.Errorf("the main thread answered a ping, yet reads %+v before and %+v after", a1, a2)
	}
	s2, _ := TaskActivity(c.pid, sleeper)
	if s2 != s1 {
		t.Errorf("a thread in time.sleep read %+v, then %+v", s1, s2)
	}
	if _, err := TaskActivity(c.pid, 999999999); err == nil {
		t.Error("no error for a thread that does not exist")
	}
	if !a1.Asleep() {
		t.Logf("main thread never settled asleep: %+v", a1)
	}
}
