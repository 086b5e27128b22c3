package live

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCapabilities checks the live-only capabilities against what the
// target says of itself: its start time (time.time() at the top of the
// script), a worker's CPU time (time.thread_time()), the system call a
// thread blocks in and the kernel state of a spinning and a blocked thread.
func TestCapabilities(t *testing.T) {
	c := startPython(t, `
import os, threading, time
started = time.time()
r, w = os.pipe()
done = threading.Event()
def burn():
    x = 0
    while time.thread_time() < 0.3:
        x += 1
    print("burnt", threading.get_native_id(), repr(time.thread_time()), flush=True)
    threading.Thread(target=spin, daemon=True).start()
    os.read(r, 1)
def spin():
    print("spin", threading.get_native_id(), flush=True)
    while not done.is_set():
        pass
threading.Thread(target=burn, daemon=True).start()
print("started", repr(started), flush=True)
`)
	// The burner needs 0.3 s of CPU before the spinner starts; a loaded
	// machine (the whole suite runs at once) can take many times that.
	said := map[string][]string{}
	for said["burnt"] == nil || said["spin"] == nil || said["started"] == nil {
		if f := strings.Fields(c.out.next(t, 60*time.Second)); len(f) == 3 || len(f) == 2 {
			said[f[0]] = f
		}
	}
	burner, _ := strconv.Atoi(said["burnt"][1])
	cpu, _ := strconv.ParseFloat(said["burnt"][2], 64)
	spinner, _ := strconv.Atoi(said["spin"][1])
	startedAt, _ := strconv.ParseFloat(said["started"][1], 64)

	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	start, err := p.StartTime()
	if err != nil {
		t.Fatal(err)
	}
	// btime has a resolution of a second; the interpreter takes a moment
	// to reach the script.
	if d := time.Unix(0, int64(startedAt*1e9)).Sub(start); d < -time.Second || d > 10*time.Second {
		t.Errorf("StartTime %v is %v before the script's first line", start, d)
	}

	// The burner blocks in read(2) once it has printed its CPU time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nr, ok := p.Syscall(burner)
		if ok && nr == unix.SYS_READ {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Syscall(%d) = %d, %v; want read (%d)", burner, nr, ok, unix.SYS_READ)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, err := p.CPUTime(burner)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Duration(cpu * 1e9)
	if math.Abs(float64(got-want)) > float64(20*time.Millisecond) {
		t.Errorf("CPUTime(%d) = %v; the thread says %v", burner, got, want)
	}
	// A profiler reads it at every sample: the file stays open, and the
	// spinner's clock reads forward from it.
	if _, ok := p.tasks.scheds[burner]; !ok {
		t.Errorf("CPUTime(%d) did not keep the thread's schedstat open", burner)
	}
	s0, err0 := p.CPUTime(spinner)
	time.Sleep(50 * time.Millisecond)
	s1, err1 := p.CPUTime(spinner)
	if err0 != nil || err1 != nil || s1 <= s0 {
		t.Errorf("CPUTime(spinning) = %v (%v), then %v (%v): not forward", s0, err0, s1, err1)
	}
	if st, err := p.ThreadState(burner); err != nil || st != "S" {
		t.Errorf("ThreadState(blocked) = %q, %v; want S", st, err)
	}
	// A spinning thread runs, or waits for the GIL a moment (S).
	if st, err := p.ThreadState(spinner); err != nil || (st != "R" && st != "S") {
		t.Errorf("ThreadState(spinning) = %q, %v", st, err)
	}
	if nr, ok := p.Syscall(spinner); ok && nr == unix.SYS_READ {
		t.Errorf("Syscall(spinning) = read")
	}
	if _, err := p.CPUTime(1 << 30); err == nil {
		t.Error("CPUTime of a thread that does not exist: no error")
	}
	if clockTick() == 0 {
		t.Error("AT_CLKTCK missing from the auxiliary vector")
	}
}
