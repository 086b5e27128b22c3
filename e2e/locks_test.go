package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// lockFacts is what testdata/targets/locks.py wrote about itself.
type lockFacts struct {
	Threads map[string]struct {
		Name  string `json:"name"`
		Holds []struct {
			ID   uint64 `json:"id"`
			Line int    `json:"line"`
		} `json:"holds"`
		Waits *struct {
			ID     uint64   `json:"id"`
			Kind   string   `json:"kind"`
			HeldBy []uint64 `json:"held_by"`
		} `json:"waits"`
	} `json:"threads"`
	Objects map[string]struct {
		ID   uint64 `json:"id"`
		Repr string `json:"repr"`
	} `json:"objects"`
	Cycles [][]uint64 `json:"cycles"`
	Gone   []uint64   `json:"gone"`
	Main   uint64     `json:"main"`
}

func readLockFacts(t *testing.T, tg *testenv.Target) *lockFacts {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(tg.Dir, "locks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f lockFacts
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// lockDump is the lock analysis's part of `dump --json`.
type lockDump struct {
	Warnings  []string `json:"warnings"`
	Deadlocks []struct {
		Threads []uint64 `json:"threads"`
		Objects []uint64 `json:"objects"`
	} `json:"deadlocks"`
	Python struct {
		Version    string `json:"version"`
		Finalizing bool   `json:"finalizing"`
	} `json:"python"`
	Threads []struct {
		ThreadID   uint64  `json:"thread_id"`
		Name       *string `json:"name"`
		IsMain     bool    `json:"is_main"`
		HoldsGIL   bool    `json:"holds_gil"`
		GC         bool    `json:"gc"`
		WaitingFor *struct {
			Kind    string   `json:"kind"`
			Address uint64   `json:"address"`
			Repr    string   `json:"repr"`
			HeldBy  []uint64 `json:"held_by"`
		} `json:"waiting_for"`
		Holds []struct {
			Kind    string `json:"kind"`
			Address uint64 `json:"address"`
			Repr    string `json:"repr"`
		} `json:"holds"`
		Frames []struct {
			Function string `json:"function"`
			Line     int    `json:"line"`
			Locals   []struct {
				Name string `json:"name"`
				Repr string `json:"repr"`
			} `json:"locals"`
		} `json:"frames"`
	} `json:"threads"`
	raw string
}

func dumpLocks(t *testing.T, bin string, args ...string) *lockDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append([]string{"dump", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d: %s", args, r.code, r.stderr)
	}
	var d lockDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	// held_by is always a list, empty when no holder is known.
	if strings.Contains(r.stdout, `"held_by":null`) {
		t.Error(`"held_by" is null, want a list`)
	}
	d.raw = r.stdout
	return &d
}

func dumpText(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := runPyscope(t, bin, nil, append([]string{"dump", "--color", "never"}, args...)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

func sortedIDs(ids []uint64) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return fmt.Sprint(s)
}

// TestLocks runs every situation of locks.py in one process per
// interpreter and checks what pyscope says against what the target wrote
// about itself: two- and three-lock cycles taken with `with` and with
// acquire(), an RLock cycle, a waiter on an RLock whose owner ended,
// waiters on a lock held by a sleeping thread, a Condition, an Event, a
// Semaphore, a Queue, a Barrier, a Future, a join on a blocked thread, and
// the reprs of every primitive in every state. The same checks run on the
// live process, on a core of it, with --no-block, and in the session.
func TestLocks(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "locks.py", "all")
			f := readLockFacts(t, tg)
			pid := strconv.Itoa(tg.PID)
			checkLocks(t, tg, f, dumpLocks(t, bin, "--locals", pid), dumpText(t, bin, pid), "live")
			core := filepath.Join(t.TempDir(), "core")
			if r := runPyscope(t, bin, nil, "gcore", pid, "-o", core); r.code != 0 {
				t.Fatalf("pyscope gcore: exit %d: %s", r.code, r.stderr)
			}
			checkLocks(t, tg, f, dumpLocks(t, bin, "--locals", core), dumpText(t, bin, core), "core")
			nb := dumpLocks(t, bin, "--no-block", pid)
			if !slices.ContainsFunc(nb.Warnings, func(w string) bool { return strings.Contains(w, "may be torn") }) {
				t.Errorf("--no-block: no warning that the graph may be torn: %q", nb.Warnings)
			}
			checkCycles(t, f, nb, "--no-block")
			checkSessionLocks(t, bin, tg, f)
			tg.CheckRunning(t)
		})
	}
}

func checkLocks(t *testing.T, tg *testenv.Target, f *lockFacts, d *lockDump, text, what string) {
	t.Helper()
	byID := map[uint64]int{}
	for i, th := range d.Threads {
		byID[th.ThreadID] = i
	}
	for key, ft := range f.Threads {
		id, _ := strconv.ParseUint(key, 10, 64)
		i, ok := byID[id]
		if !ok {
			t.Errorf("%s: thread %s (%#x) missing", what, ft.Name, id)
			continue
		}
		th := d.Threads[i]
		if w := ft.Waits; w != nil {
			got := th.WaitingFor
			switch {
			case got == nil:
				t.Errorf("%s: %s waits for nothing, want %s %#x", what, ft.Name, w.Kind, w.ID)
			case got.Kind != w.Kind || got.Address != w.ID || sortedIDs(got.HeldBy) != sortedIDs(w.HeldBy):
				t.Errorf("%s: %s waits for %s %#x held by %v, want %s %#x held by %v", what, ft.Name,
					got.Kind, got.Address, got.HeldBy, w.Kind, w.ID, w.HeldBy)
			}
		} else if th.WaitingFor != nil && th.WaitingFor.Kind != "gil" {
			t.Errorf("%s: %s waits for %+v, want nothing", what, ft.Name, *th.WaitingFor)
		}
		for _, h := range ft.Holds {
			found := false
			for _, g := range th.Holds {
				found = found || g.Address == h.ID
			}
			if !found {
				t.Errorf("%s: %s does not hold %#x: %+v", what, ft.Name, h.ID, th.Holds)
			}
			// The text names the line of the with statement or acquire().
			if !holdsLine(text, h.ID, h.Line) {
				t.Errorf("%s: the text does not show %s holding %#x from locks.py:%d", what, ft.Name, h.ID, h.Line)
			}
		}
	}
	// A waiting thread's repr is the target's own.
	reprs := map[uint64]string{}
	for _, o := range f.Objects {
		reprs[o.ID] = o.Repr
	}
	for _, th := range d.Threads {
		if w := th.WaitingFor; w != nil {
			if want, ok := reprs[w.Address]; ok && w.Repr != want {
				t.Errorf("%s: waiting for %q, the target's repr is %q", what, w.Repr, want)
			}
		}
	}
	checkCycles(t, f, d, what)
	checkDeadlockText(t, tg, f, d, text, what)
	checkReprs(t, f, d, what)
}

// holdsLine reports whether the text has a `holds` line naming the object
// at addr and where it was taken.
func holdsLine(text string, addr uint64, line int) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "  holds ") && strings.Contains(l, fmt.Sprintf(" at %#x", addr)) &&
			strings.Contains(l, fmt.Sprintf("(locks.py:%d, ", line)) {
			return true
		}
	}
	return false
}

// checkCycles: the deadlocks are exactly the cycles the target made, each
// with the objects its threads wait for.
func checkCycles(t *testing.T, f *lockFacts, d *lockDump, what string) {
	t.Helper()
	var want, got []string
	for _, c := range f.Cycles {
		want = append(want, sortedIDs(c))
	}
	waits := map[uint64]uint64{}
	for _, th := range d.Threads {
		if th.WaitingFor != nil {
			waits[th.ThreadID] = th.WaitingFor.Address
		}
	}
	for _, dl := range d.Deadlocks {
		got = append(got, sortedIDs(dl.Threads))
		var objs []uint64
		for _, id := range dl.Threads {
			if a, ok := waits[id]; ok {
				objs = append(objs, a)
			}
		}
		if sortedIDs(objs) != sortedIDs(dl.Objects) {
			t.Errorf("%s: deadlock of %v names objects %#x, its threads wait for %#x", what, dl.Threads, dl.Objects, objs)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("%s: deadlocks %v, want %v", what, got, want)
	}
}

// checkDeadlockText: each deadlock is at the top of the text, each thread
// on a line naming what it holds and waits for, where (the line of the
// with statement or acquire(), and the line it waits at, as the oracle
// says), and who holds that.
func checkDeadlockText(t *testing.T, tg *testenv.Target, f *lockFacts, d *lockDump, text, what string) {
	t.Helper()
	top, _, _ := strings.Cut(text, "\nThread ")
	if n := strings.Count(top, "Deadlock: "); n != len(f.Cycles) {
		t.Errorf("%s: %d deadlocks at the top of the text, want %d:\n%s", what, n, len(f.Cycles), top)
	}
	for _, c := range f.Cycles {
		for _, id := range c {
			ft, ok := f.Threads[strconv.FormatUint(id, 10)]
			if !ok {
				continue // a thread that no longer exists
			}
			ot := tg.Oracle.Thread(id)
			if ot == nil || len(ot.Frames) == 0 {
				t.Fatalf("oracle lacks thread %s", ft.Name)
			}
			line := fmt.Sprintf("  Thread %#x \"%s\"", id, ft.Name)
			if len(ft.Holds) > 0 {
				line += " holds "
			} else {
				line += " waits "
			}
			i := strings.Index(top, line)
			if i < 0 {
				t.Errorf("%s: no deadlock line for %s (%q) in:\n%s", what, ft.Name, line, top)
				continue
			}
			l, _, _ := strings.Cut(top[i:], "\n")
			for _, h := range ft.Holds {
				if !strings.Contains(l, fmt.Sprintf("at %#x> (locks.py:%d)", h.ID, h.Line)) {
					t.Errorf("%s: %q does not say it holds %#x from line %d", what, l, h.ID, h.Line)
				}
			}
			waitLine := fmt.Sprintf("waits (locks.py:%d) for ", ot.Frames[0].Line)
			if !strings.Contains(l, waitLine) || !strings.Contains(l, fmt.Sprintf("at %#x> held by ", ft.Waits.ID)) {
				t.Errorf("%s: %q does not say it waits at line %d for %#x", what, l, ot.Frames[0].Line, ft.Waits.ID)
			}
			for _, h := range ft.Waits.HeldBy {
				if slices.Contains(f.Gone, h) {
					if !strings.Contains(l, fmt.Sprintf("thread %#x, which no longer exists", h)) {
						t.Errorf("%s: %q does not say its holder %#x no longer exists", what, l, h)
					}
				} else if !strings.Contains(l, fmt.Sprintf("held by Thread %#x \"", h)) {
					t.Errorf("%s: %q does not name its holder %#x", what, l, h)
				}
			}
		}
	}
}

// checkReprs: the module's v_* variables show as the target's repr().
func checkReprs(t *testing.T, f *lockFacts, d *lockDump, what string) {
	t.Helper()
	for _, th := range d.Threads {
		if th.ThreadID != f.Main || len(th.Frames) == 0 {
			continue
		}
		if len(th.Frames[len(th.Frames)-1].Locals) == 0 {
			return // a dump without --locals
		}
		got := map[string]string{}
		for _, l := range th.Frames[len(th.Frames)-1].Locals {
			got[l.Name] = l.Repr
		}
		n := 0
		for name, o := range f.Objects {
			g, ok := got["v_"+name]
			if !ok {
				continue
			}
			n++
			if name == "own_repr" {
				// A __repr__ of the program's own cannot run: shown as
				// any instance.
				if g == o.Repr || !strings.HasPrefix(g, "<OwnRepr(") {
					t.Errorf("%s: v_own_repr = %q", what, g)
				}
				continue
			}
			if g != o.Repr {
				t.Errorf("%s: v_%s = %q, the target's repr() is %q", what, name, g, o.Repr)
			}
		}
		if n < 25 {
			t.Errorf("%s: only %d of the reprs found", what, n)
		}
		return
	}
	t.Errorf("%s: main thread missing", what)
}

// checkSessionLocks: `info locks` in a session names the deadlocked
// threads by their session numbers.
func checkSessionLocks(t *testing.T, bin string, tg *testenv.Target, f *lockFacts) {
	t.Helper()
	r := runPyscope(t, bin, nil, "debug", "--batch", "-ex", "info locks", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("debug: exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "Deadlock: "); n != len(f.Cycles) {
		t.Errorf("info locks shows %d deadlocks, want %d:\n%s", n, len(f.Cycles), r.stdout)
	}
	for _, c := range f.Cycles {
		for _, id := range c {
			ft, ok := f.Threads[strconv.FormatUint(id, 10)]
			if !ok {
				continue
			}
			if !strings.Contains(r.stdout, fmt.Sprintf("\"%s\" waiting for ", ft.Name)) {
				t.Errorf("info locks does not say what %s waits for:\n%s", ft.Name, r.stdout)
			}
		}
	}
}

// TestLocksGIL: threads spinning in Python contend for the GIL; those
// waiting for it say so, naming its holder, live and in a core.
func TestLocksGIL(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "locks.py", "gil")
			f := readLockFacts(t, tg)
			pid := strconv.Itoa(tg.PID)
			core := filepath.Join(t.TempDir(), "core")
			if r := runPyscope(t, bin, nil, "gcore", pid, "-o", core); r.code != 0 {
				t.Fatalf("pyscope gcore: exit %d: %s", r.code, r.stderr)
			}
			for _, c := range []struct{ what, arg string }{{"live", pid}, {"core", core}} {
				d := dumpLocks(t, bin, c.arg)
				var holder uint64
				for _, th := range d.Threads {
					if th.HoldsGIL {
						holder = th.ThreadID
					}
				}
				waiters := 0
				for _, th := range d.Threads {
					w := th.WaitingFor
					if w == nil || w.Kind != "gil" {
						continue
					}
					waiters++
					if _, spinner := f.Threads[strconv.FormatUint(th.ThreadID, 10)]; !spinner {
						t.Errorf("%s: thread %#x, no spinner, waits for the GIL", c.what, th.ThreadID)
					}
					want := []uint64{}
					if holder != 0 {
						want = append(want, holder)
					}
					if sortedIDs(w.HeldBy) != sortedIDs(want) {
						t.Errorf("%s: GIL held by %v, the thread holding it is %#x", c.what, w.HeldBy, holder)
					}
				}
				if waiters == 0 {
					t.Errorf("%s: no thread waits for the GIL; three spin", c.what)
				}
			}
			tg.CheckRunning(t)
		})
	}
}
