package live

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/fuzzguard"
	"pyscope/internal/testenv"
)

// said splits a line of the target's into words, the first without the
// "ready" that the main thread's print may have written just before it
// (print writes its newline apart).
func said(line string) []string {
	f := strings.Fields(line)
	if len(f) > 0 {
		for strings.HasPrefix(f[0], "ready") && len(f[0]) > len("ready") {
			f[0] = f[0][len("ready"):]
		}
	}
	return f
}

// TestRelistThreads checks a profiler's relisting (Restop without a stop),
// which reads a thread's state only when its schedstat moved or it was not
// asleep: a thread asleep all along stays asleep, one that wakes and runs
// is seen running from then on, a thread started meanwhile is listed, and
// each listed CPU time is the thread's clock, as CPUTime reads it.
func TestRelistThreads(t *testing.T) {
	// Only what the schedstats say: no stat read of every thread meanwhile.
	defer func(d time.Duration) { statsEvery = d }(statsEvery)
	statsEvery = time.Hour
	c := startPython(t, `
import hashlib, sys, threading, time
data = b"x" * (1 << 22)
def say(*words):  # one write: lines of threads do not mix
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()
def work():
    while True:
        hashlib.sha256(data).digest()  # without the GIL
def spin():
    say("spin", threading.get_native_id())
    work()
def sleeper():
    say("sleeper", threading.get_native_id())
    time.sleep(2)
    say("woken")
    end = time.monotonic() + 3
    while time.monotonic() < end:
        hashlib.sha256(data).digest()
    threading.Thread(target=third, daemon=True).start()
    work()
def third():
    say("third", threading.get_native_id())
    time.sleep(3600)
threading.Thread(target=spin, daemon=True).start()
threading.Thread(target=sleeper, daemon=True).start()
`)
	tids := map[string]int{}
	// When the sleeper is surely in its 2 s sleep: once it had time to
	// get there from its line, and with a margin before it ends.
	var asleepFrom, asleepUntil time.Time
	for tids["spin"] == 0 || tids["sleeper"] == 0 {
		if f := said(c.out.next(t, 60*time.Second)); len(f) == 2 {
			tids[f[0]], _ = strconv.Atoi(f[1])
			if f[0] == "sleeper" {
				asleepFrom, asleepUntil = time.Now().Add(300*time.Millisecond), time.Now().Add(1500*time.Millisecond)
			}
		}
	}
	woken, started := make(chan bool, 1), make(chan int, 1)
	go func() {
		for {
			f := said(c.out.next(t, 60*time.Second))
			switch {
			case len(f) == 1 && f[0] == "woken":
				woken <- true
			case len(f) == 2 && f[0] == "third":
				third, _ := strconv.Atoi(f[1])
				started <- third
				return
			}
		}
	}()

	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	state := func(tid int) (string, bool) {
		for _, th := range p.Threads() {
			if th.TID == tid {
				return th.State, true
			}
		}
		return "", false
	}
	var before, after struct{ spinR, sleeperR, n int }
	awake := false
	var lastCPU time.Duration
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never woke")
		}
		select {
		case <-woken:
			awake = true
		default:
		}
		if err := p.Restop(); err != nil {
			t.Fatal(err)
		}
		n := &after
		switch now := time.Now(); {
		case now.After(asleepFrom) && now.Before(asleepUntil):
			n = &before
		case !awake:
			continue
		}
		n.n++
		if st, _ := state(tids["spin"]); st == "R" {
			n.spinR++
		}
		if st, _ := state(tids["sleeper"]); st == "R" {
			n.sleeperR++
		}
		for _, th := range p.Threads() {
			if th.TID != tids["spin"] {
				continue
			}
			clock, err := p.CPUTime(th.TID)
			if !th.HasCPU || err != nil {
				t.Fatalf("spinner: listed CPU time known %v, CPUTime %v", th.HasCPU, err)
			}
			if th.CPU < lastCPU || th.CPU > clock {
				t.Fatalf("spinner: listed CPU time %v, previous %v, CPUTime after %v", th.CPU, lastCPU, clock)
			}
			lastCPU = th.CPU
		}
		if awake && after.n >= 50 {
			break
		}
	}
	// The sleeper starts a third thread 3 s after it woke.
	third := <-started
	for i := 0; i < 3; i++ {
		if err := p.Restop(); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := state(third); !ok {
		t.Errorf("thread %d, started before the last 3 listings, is not listed", third)
	}
	t.Logf("before the wake-up: %d listings, spinner running in %d, sleeper in %d; after: %d, %d, %d",
		before.n, before.spinR, before.sleeperR, after.n, after.spinR, after.sleeperR)
	if before.sleeperR > 0 {
		t.Errorf("the sleeper was listed running %d times of %d while it slept", before.sleeperR, before.n)
	}
	if before.spinR < before.n/2 || after.spinR < after.n/2 {
		t.Errorf("the spinner was listed running in %d of %d listings, then %d of %d", before.spinR, before.n, after.spinR, after.n)
	}
	if after.sleeperR < after.n/2 {
		t.Errorf("once woken, the sleeper was listed running in only %d of %d listings", after.sleeperR, after.n)
	}
}

// TestRelistNewThreadOfSleepers checks that a relisting sees a thread that
// a sleeping process starts: the thread count is taken again only when a
// listed thread ran, and the one that started it did.
func TestRelistNewThreadOfSleepers(t *testing.T) {
	c := startPython(t, `
import sys, threading, time
def say(*words):  # one write: lines of threads do not mix
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()
def child():
    time.sleep(3600)
def creator():
    time.sleep(1)
    th = threading.Thread(target=child, daemon=True)
    th.start()
    say("created", th.native_id)
    time.sleep(3600)
threading.Thread(target=creator, daemon=True).start()
`)
	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	created := make(chan int, 1)
	go func() {
		for {
			if f := said(c.out.next(t, 60*time.Second)); len(f) == 2 && f[0] == "created" {
				tid, _ := strconv.Atoi(f[1])
				created <- tid
				return
			}
		}
	}()
	listed := func(tid int) bool {
		for _, th := range p.Threads() {
			if th.TID == tid {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the creator never started its thread")
		}
		if err := p.Restop(); err != nil {
			t.Fatal(err)
		}
		select {
		case tid := <-created:
			// The thread runs from before its line: the next listing,
			// after everything went back to sleep, must have it.
			time.Sleep(100 * time.Millisecond)
			for i := 0; i < 3; i++ {
				if err := p.Restop(); err != nil {
					t.Fatal(err)
				}
				if !listed(tid) {
					t.Errorf("listing %d after the creator started thread %d does not list it", i+1, tid)
				}
			}
			return
		default:
		}
	}
}

// FuzzSchedstat checks that any schedstat line parses without a panic,
// into three counts that are never negative.
func FuzzSchedstat(f *testing.F) {
	for _, seed := range []string{"356142470 268383556 61260\n", "0 0 0\n", "1 2", "", "9999999999999999999999 1 1\n", "12 x 3\n"} {
		f.Add([]byte(seed))
	}
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		ss, err := parseSchedstat(b)
		if err == nil && (ss.runtime < 0 || ss.delay < 0 || ss.slices < 0) {
			t.Fatalf("parseSchedstat(%q) = %+v", b, ss)
		}
	})
}

// TestUnmoved checks what a profiler's reader relies on to skip its read:
// a relisting says no thread moved only when none ran since the listing
// before. A process asleep says so once its threads' sleeps are
// confirmed; one that wakes to answer a line does not, for the relisting
// after it; one with a thread that spins never does.
func TestUnmoved(t *testing.T) {
	c := startPython(t, `
import threading, time
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
`)
	c.until(t, "ready")
	testenv.WaitSleeping(t, c.pid)
	p, err := Open(c.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	relist := func() bool {
		t.Helper()
		if err := p.Restop(); err != nil {
			t.Fatal(err)
		}
		return p.Unmoved()
	}
	// A sleep is confirmed by the reading after the one that saw the
	// thread move: within two relistings of a process asleep.
	settle := func(what string) {
		t.Helper()
		for i := 0; i < 3; i++ {
			if relist() {
				return
			}
		}
		t.Fatalf("%s: three relistings of a process asleep say a thread moved", what)
	}
	if relist() {
		t.Error("the first relisting, with no schedstat read before it, says no thread moved")
	}
	settle("after the open")
	for i := 0; i < 5; i++ {
		if !relist() {
			t.Fatalf("relisting %d of a process asleep, settled, says a thread moved", i+1)
		}
	}
	for i := 0; i < 5; i++ {
		c.ping(t) // the main thread wakes, answers and sleeps again
		if relist() {
			t.Fatalf("answer %d: the relisting after the main thread ran says no thread moved", i+1)
		}
		testenv.WaitSleeping(t, c.pid)
		settle(fmt.Sprintf("answer %d", i+1))
	}

	busy := startPython(t, `
import threading
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
`)
	busy.until(t, "ready")
	q, err := Open(busy.pid, Options{NoBlock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := 0; i < 20; i++ {
		if err := q.Restop(); err != nil {
			t.Fatal(err)
		}
		if q.Unmoved() {
			t.Fatalf("relisting %d of a process with a spinning thread says no thread moved", i+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
