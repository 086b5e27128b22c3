package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
		NotHolds []uint64 `json:"not_holds"`
		Waits    *struct {
			ID     uint64   `json:"id"`
			Kind   string   `json:"kind"`
			HeldBy []uint64 `json:"held_by"`
			// Pending: a future no worker has started.
			Pending bool `json:"pending"`
			// Futures: all a wait(fs) or as_completed(fs) waits on; Any:
			// one of them may end it.
			Futures []uint64 `json:"futures"`
			Any     bool     `json:"any"`
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
	var f lockFacts
	targetJSON(t, tg, "locks.json", &f)
	return &f
}

// lockDump is the lock analysis's part of `dump --json`.
type lockDump struct {
	Warnings []string `json:"warnings"`
	Stop     *struct {
		Stopped  []int `json:"stopped"`
		Attempts int   `json:"attempts"`
		Late     bool  `json:"late"`
	} `json:"stop"`
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
			Pending bool     `json:"pending"`
			Futures []uint64 `json:"futures"`
			Any     bool     `json:"any"`
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
// waiters on a lock held by a sleeping thread, a waiter on a lock whose
// holder is unknown (taken in a call that returned), a Condition, an Event, a
// Semaphore, a Queue, a Barrier, a Future, a join on a blocked thread, a
// notified waiter taking back a Condition's plain Lock, a plain Lock taken
// with acquire() and handed over to another thread (no cycle with a third),
// a plain Lock used as a signal (taken twice by its waiter: no cycle of
// one, holder unknown), a ThreadPoolExecutor's futures (a waiter in
// result() waits on the worker running the item, another on an item
// still queued; a thread holding a lock waits for a future whose worker
// waits for that lock: a deadlock), and the reprs of every primitive in
// every state. The same checks run on the
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

// TestLocksSeveralProcesses: a dump of several processes (as
// --subprocesses makes of a pre-fork server's workers) reads them at once,
// and each one's analysis must read its own threads' system calls, not
// another process's: every process's report is what it alone would give.
func TestLocksSeveralProcesses(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var tgs []*testenv.Target
	facts := map[int]*lockFacts{}
	var pids []string
	for range 2 {
		for _, in := range pick(t, "pbs-3.14", "debian-3.11") {
			tg := testenv.StartTarget(t, in, "locks.py", "all")
			tgs = append(tgs, tg)
			facts[tg.PID] = readLockFacts(t, tg)
			pids = append(pids, strconv.Itoa(tg.PID))
		}
	}
	for round := range 3 {
		r := runPyscope(t, bin, nil, append([]string{"dump", "--json"}, pids...)...)
		if r.code != 0 {
			t.Fatalf("pyscope dump --json %v: exit %d: %s", pids, r.code, r.stderr)
		}
		var ps struct {
			Processes []json.RawMessage `json:"processes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
			t.Fatalf("not a dump of several processes: %v", err)
		}
		dumps := map[int]*lockDump{}
		for _, raw := range ps.Processes {
			var d lockDump
			var id struct {
				PID int `json:"pid"`
			}
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(raw, &id)
			dumps[id.PID] = &d
		}
		sections := map[int]string{}
		pid := 0
		for _, l := range strings.SplitAfter(dumpText(t, bin, pids...), "\n") {
			if m := sectionRe.FindStringSubmatch(l); m != nil {
				pid, _ = strconv.Atoi(m[1])
			}
			sections[pid] += l
		}
		for _, tg := range tgs {
			what := fmt.Sprintf("round %d, process %d", round, tg.PID)
			d, text := dumps[tg.PID], sections[tg.PID]
			if d == nil || text == "" {
				t.Fatalf("%s: missing from the dump of %v", what, pids)
			}
			for _, w := range d.Warnings {
				t.Errorf("%s: warning %q", what, w)
			}
			checkLocks(t, tg, facts[tg.PID], d, text, what)
		}
	}
	for _, tg := range tgs {
		tg.CheckRunning(t)
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
			case got.Kind != w.Kind || got.Address != w.ID || sortedIDs(got.HeldBy) != sortedIDs(w.HeldBy) || got.Pending != w.Pending:
				t.Errorf("%s: %s waits for %s %#x held by %v pending %v, want %s %#x held by %v pending %v", what, ft.Name,
					got.Kind, got.Address, got.HeldBy, got.Pending, w.Kind, w.ID, w.HeldBy, w.Pending)
			case sortedIDs(got.Futures) != sortedIDs(w.Futures) || got.Any != w.Any:
				t.Errorf("%s: %s waits for futures %#x any %v, want %#x any %v", what, ft.Name, got.Futures, got.Any, w.Futures, w.Any)
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
		// What its frames suggest it holds, but it does not (a lock its
		// Condition.wait let go of, a plain lock handed over to another
		// thread or left for another to release).
		for _, id := range ft.NotHolds {
			for _, g := range th.Holds {
				if g.Address == id {
					t.Errorf("%s: %s holds %#x (%s), it does not", what, ft.Name, id, g.Repr)
				}
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
	// A lock whose holder left no evidence says so rather than guess.
	for key, ft := range f.Threads {
		if w := ft.Waits; w != nil && (w.Kind == "lock" || w.Kind == "rlock") && len(w.HeldBy) == 0 {
			id, _ := strconv.ParseUint(key, 10, 64)
			i := strings.Index(text, fmt.Sprintf("\nThread %#x ", id))
			if i < 0 {
				t.Errorf("%s: no header for %s in the text", what, ft.Name)
				continue
			}
			if l, _, _ := strings.Cut(text[i+1:], "\n"); !strings.Contains(l, fmt.Sprintf("at %#x>, holder unknown", w.ID)) {
				t.Errorf("%s: %q does not say the holder is unknown", what, l)
			}
		}
	}
	// A future: the text names the worker running it, or says no worker
	// has started it.
	for key, ft := range f.Threads {
		w := ft.Waits
		if w == nil || w.Kind != "future" {
			continue
		}
		id, _ := strconv.ParseUint(key, 10, 64)
		i := strings.Index(text, fmt.Sprintf("\nThread %#x ", id))
		if i < 0 {
			t.Errorf("%s: no header for %s in the text", what, ft.Name)
			continue
		}
		l, _, _ := strings.Cut(text[i+1:], "\n")
		var want string
		switch {
		case len(w.Futures) > 1:
			// wait(fs), as_completed(fs): the first future, how many more.
			conj := "and"
			if w.Any {
				conj = "or"
			}
			want = fmt.Sprintf("at %#x state=running> %s %d other future", w.ID, conj, len(w.Futures)-1)
			for _, h := range w.HeldBy {
				if !strings.Contains(l, fmt.Sprintf("Thread %#x \"", h)) {
					t.Errorf("%s: %q does not name the worker %#x", what, l, h)
				}
			}
		case w.Pending:
			want = "state=pending>, queued or not submitted: no worker has started it"
		case len(w.HeldBy) == 1:
			want = fmt.Sprintf("state=running> held by Thread %#x \"", w.HeldBy[0])
		default:
			continue
		}
		if !strings.Contains(l, want) {
			t.Errorf("%s: %q does not say %q", what, l, want)
		}
	}
	// An RLock's owner is named in the text when it is a thread of the
	// process: owner=140… ("rlock-2").
	for _, ft := range f.Threads {
		if w := ft.Waits; w != nil && w.Kind == "rlock" {
			for _, h := range w.HeldBy {
				owner, ok := f.Threads[strconv.FormatUint(h, 10)]
				if !ok {
					continue // a thread that no longer exists
				}
				if want := fmt.Sprintf("owner=%d (\"%s\")", h, owner.Name); !strings.Contains(text, want) {
					t.Errorf("%s: the text does not name the owner of the RLock %s waits for: no %s", what, ft.Name, want)
				}
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
			// Where it waits: its innermost frame in locks.py (a wait in
			// Future.result() is at the line calling it).
			at := ot.Frames[0].Line
			for _, fr := range ot.Frames {
				if filepath.Base(fr.File) == "locks.py" {
					at = fr.Line
					break
				}
			}
			waitLine := fmt.Sprintf("waits (locks.py:%d) for ", at)
			// `… at 0x…>` or `<Future at 0x… state=running>`, then its holders.
			// A wait(fs) on several futures: `… and 1 other future held by `.
			obj := regexp.MustCompile(fmt.Sprintf(`at %#x[^>]*>( (and|or) \d+ other futures?)? held by `, ft.Waits.ID))
			if !strings.Contains(l, waitLine) || !obj.MatchString(l) {
				t.Errorf("%s: %q does not say it waits at line %d for %#x", what, l, at, ft.Waits.ID)
			}
			for _, h := range ft.Waits.HeldBy {
				if slices.Contains(f.Gone, h) {
					if !strings.Contains(l, fmt.Sprintf("thread %#x, which no longer exists", h)) {
						t.Errorf("%s: %q does not say its holder %#x no longer exists", what, l, h)
					}
				} else if _, by, _ := strings.Cut(l, " held by "); !strings.Contains(by, fmt.Sprintf("Thread %#x \"", h)) {
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
			if !strings.Contains(r.stdout, fmt.Sprintf("\"%s\" waits (locks.py:", ft.Name)) {
				t.Errorf("info locks does not say what %s waits for:\n%s", ft.Name, r.stdout)
			}
		}
	}
}

// TestLocksWhileHolderRuns: the analysis adds nothing to the pause. With
// a thread spinning in Python, the GIL's holder runs whenever a dump comes:
// a default dump reads every other thread while it runs and stops it only
// for its own stack (stop.late), and must still find every situation
// TestLocks checks, and the lock the spinner holds (read after its stop)
// that another thread waits for. A capture that stopped the holder before reading (as
// one for --locals does) cannot say late, so the count can fail.
func TestLocksWhileHolderRuns(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.13", "pbs-3.14", "debian-3.11") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "locks.py", "busy")
			f := readLockFacts(t, tg)
			pid := strconv.Itoa(tg.PID)
			spinner := 0
			for _, o := range tg.Oracle.Threads {
				if o.Name != nil && *o.Name == "busy_holder" {
					spinner = o.NativeID
				}
			}
			if spinner == 0 {
				t.Fatalf("the oracle lacks the spinning thread: %+v", tg.Oracle.Threads)
			}
			const dumps = 10
			late := 0
			for i := 0; i < dumps; i++ {
				d := dumpLocks(t, bin, pid)
				checkLocks(t, tg, f, d, dumpText(t, bin, pid), fmt.Sprintf("dump %d", i))
				if d.Stop == nil {
					t.Fatal("a live dump without stop")
				}
				if d.Stop.Late {
					if !slices.Equal(d.Stop.Stopped, []int{spinner}) {
						t.Errorf("dump %d: late, yet it stopped %v, not the spinning holder %d", i, d.Stop.Stopped, spinner)
					}
					late++
				}
			}
			t.Logf("%d of %d dumps read the other threads while the holder ran", late, dumps)
			if late < dumps/2 {
				t.Errorf("only %d of %d dumps stopped the spinning holder late, after reading the others", late, dumps)
			}
			d := dumpLocks(t, bin, "--locals", pid)
			if d.Stop == nil {
				t.Fatal("a live dump without stop")
			}
			if d.Stop.Late {
				t.Errorf("--locals: late, yet the holder may change any variable while the others are read")
			}
			tg.CheckRunning(t)
		})
	}
}

// TestLocksGIL: threads spinning in Python contend for the GIL; those
// waiting for it say so, naming its holder, live and in a core.
func TestLocksGIL(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			if in.FreeThreaded {
				t.Skip("a free-threaded build has no GIL to contend for")
			}
			tg := testenv.StartTarget(t, in, "locks.py", "gil")
			f := readLockFacts(t, tg)
			pid := strconv.Itoa(tg.PID)
			// check returns how many threads wait for the GIL; a wrong
			// holder or waiter fails at once.
			check := func(what, arg string) int {
				d := dumpLocks(t, bin, arg)
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
						t.Errorf("%s: thread %#x, no spinner, waits for the GIL", what, th.ThreadID)
					}
					want := []uint64{}
					if holder != 0 {
						want = append(want, holder)
					}
					if sortedIDs(w.HeldBy) != sortedIDs(want) {
						t.Errorf("%s: GIL held by %v, the thread holding it is %#x", what, w.HeldBy, holder)
					}
				}
				return waiters
			}
			// Three threads spin, so at almost any moment two wait for the
			// GIL; under load, a stop can still fall just as the GIL
			// changes hands with no thread waiting yet. Such a moment is
			// looked at again, up to three times.
			for _, what := range []string{"live", "core"} {
				waiters := 0
				for try := 0; try < 3 && waiters == 0; try++ {
					arg := pid
					if what == "core" {
						arg = filepath.Join(t.TempDir(), "core")
						if r := runPyscope(t, bin, nil, "gcore", pid, "-o", arg); r.code != 0 {
							t.Fatalf("pyscope gcore: exit %d: %s", r.code, r.stderr)
						}
					}
					if waiters = check(what, arg); waiters == 0 {
						t.Logf("%s, try %d: no thread waits for the GIL", what, try+1)
					}
				}
				if waiters == 0 {
					t.Errorf("%s: no thread waits for the GIL in 3 looks; three spin", what)
				}
			}
			tg.CheckRunning(t)
		})
	}
}

// TestLocksFinalizing: an interpreter stuck while it shuts down says so,
// and what its main thread waits for: the end of a thread blocked on a
// lock (threading._shutdown), or a lock, from a finalizer the last
// collection runs (the collector's thread then says so too).
func TestLocksFinalizing(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		for _, mode := range []string{"shutdown", "del"} {
			t.Run(in.Name+"/"+mode, func(t *testing.T) {
				tg := testenv.StartPlain(t, in, "locks_exit.py", "ready", mode)
				testenv.WaitSleeping(t, tg.PID)
				var f struct {
					Lock       uint64 `json:"lock"`
					Holder     uint64 `json:"holder"`
					Main       uint64 `json:"main"`
					Blocked    uint64 `json:"blocked"`
					BlockedObj uint64 `json:"blocked_obj"`
				}
				targetJSON(t, tg, "locks_exit.json", &f)
				pid := strconv.Itoa(tg.PID)
				d := dumpLocks(t, bin, pid)
				if !d.Python.Finalizing {
					t.Errorf("python.finalizing is not true")
				}
				if text := dumpText(t, bin, pid); !strings.Contains(text, "The interpreter is finalizing (shutting down).") {
					t.Errorf("the text does not say the interpreter is finalizing")
				}
				for _, th := range d.Threads {
					w := th.WaitingFor
					switch {
					case th.ThreadID == f.Main && mode == "shutdown":
						if w == nil || w.Kind != "join" || w.Address != f.BlockedObj || sortedIDs(w.HeldBy) != sortedIDs([]uint64{f.Blocked}) {
							t.Errorf("main waits for %+v, want the end of thread %#x", w, f.Blocked)
						}
					case th.ThreadID == f.Main:
						if w == nil || w.Kind != "lock" || w.Address != f.Lock {
							t.Errorf("main waits for %+v, want lock %#x (warnings %q)", w, f.Lock, d.Warnings)
						}
						if !th.GC {
							t.Errorf("main runs the last collection's finalizer: gc is not true")
						}
					case th.ThreadID == f.Blocked:
						if w == nil || w.Kind != "lock" || w.Address != f.Lock || sortedIDs(w.HeldBy) != sortedIDs([]uint64{f.Holder}) {
							t.Errorf("blocked waits for %+v, want lock %#x held by %#x", w, f.Lock, f.Holder)
						}
					}
				}
			})
		}
	}
}

// TestLocksGC: the thread in the collector (blocked in a finalizer that
// gc.collect() runs) says so without --native: "gc": true.
func TestLocksGC(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "native_gc.py")
			pid := strconv.Itoa(tg.PID)
			d := dumpLocks(t, bin, pid)
			found := false
			for _, th := range d.Threads {
				collector := th.Name != nil && *th.Name == "collector"
				if th.GC != collector {
					t.Errorf("thread %v: gc %v", th.Name, th.GC)
				}
				found = found || collector
			}
			if !found {
				t.Fatal("no collector thread")
			}
			if text := dumpText(t, bin, pid); !regexp.MustCompile(`"collector" \[[^\]\n]*in garbage collection`).MatchString(text) {
				t.Errorf("the text does not tag the collector:\n%s", text)
			}
			tg.CheckRunning(t)
		})
	}
}

// TestLocksWSGI: two request handlers of a real WSGI server (gunicorn's
// threaded worker, from PyPI) deadlocked on the application's locks. The
// report names both threads, both locks, and the lines where each holds
// one and waits for the other, as the application recorded them.
func TestLocksWSGI(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	site := testenv.Gunicorn(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			dir := t.TempDir()
			facts := filepath.Join(dir, "facts.jsonl")
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			cmd := exec.Command(in.Path, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "4", "--workers", "1",
				"--bind", addr, "--control-socket", filepath.Join(dir, "gunicorn.ctl"), "--chdir", filepath.Dir(testenv.TargetPath(t, "wsgi_deadlock.py")), "wsgi_deadlock:app")
			cmd.Env = append(os.Environ(), "PYTHONPATH="+site, "LOCKS_FACTS="+facts, "PYTHONDONTWRITEBYTECODE=1")
			var errb bytes.Buffer
			cmd.Stderr = &errb
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Wait()
				if t.Failed() {
					t.Logf("gunicorn stderr:\n%s", errb.String())
				}
			})
			client := &http.Client{Timeout: 120 * time.Second}
			deadline := time.Now().Add(60 * time.Second)
			for {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("gunicorn does not listen on %s", addr)
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, q := range []string{"src=a&dst=b", "src=b&dst=a"} {
				go client.Get("http://" + addr + "/transfer?" + q) // never answered
			}
			type handler struct {
				PID      int    `json:"pid"`
				Ident    uint64 `json:"ident"`
				NativeID int    `json:"native_id"`
				Name     string `json:"name"`
				Holds    uint64 `json:"holds"`
				HoldLine int    `json:"hold_line"`
				Waits    uint64 `json:"waits"`
				WaitLine int    `json:"wait_line"`
			}
			var hs []handler
			for len(hs) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("the handlers never took their first lock: %v", hs)
				}
				time.Sleep(50 * time.Millisecond)
				raw, _ := os.ReadFile(facts)
				hs = nil
				for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
					var h handler
					if json.Unmarshal([]byte(line), &h) == nil {
						hs = append(hs, h)
					}
				}
			}
			// Both blocked on their second lock (a futex wait).
			for _, h := range hs {
				for {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", h.PID, h.NativeID))
					if strings.HasPrefix(string(b), "202 ") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("handler %s never blocks: %s", h.Name, b)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			pid := strconv.Itoa(hs[0].PID)
			d := dumpLocks(t, bin, pid)
			if len(d.Deadlocks) != 1 || sortedIDs(d.Deadlocks[0].Threads) != sortedIDs([]uint64{hs[0].Ident, hs[1].Ident}) ||
				sortedIDs(d.Deadlocks[0].Objects) != sortedIDs([]uint64{hs[0].Waits, hs[1].Waits}) {
				t.Errorf("deadlocks %+v, want the handlers %#x and %#x on locks %#x and %#x", d.Deadlocks,
					hs[0].Ident, hs[1].Ident, hs[0].Waits, hs[1].Waits)
			}
			text := dumpText(t, bin, pid)
			for _, h := range hs {
				want := fmt.Sprintf("  Thread %#x \"%s\" holds <locked _thread.lock object at %#x> (wsgi_deadlock.py:%d) and waits (wsgi_deadlock.py:%d) for <locked _thread.lock object at %#x> held by Thread ",
					h.Ident, h.Name, h.Holds, h.HoldLine, h.WaitLine, h.Waits)
				if !strings.Contains(text, want) {
					t.Errorf("the text lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

// TestLocksAcquireThenLoop: a lock taken with acquire() before a loop the
// thread stays in (while True: …, for …: …) is held there, though the
// loop's back edge jumps from below the current line to above it; one
// taken at the top of the loop body too; one released further down the
// loop body is not, once the loop went round (locks.py "loops"). Every
// lock has a waiter, which names the holder the target recorded.
func TestLocksAcquireThenLoop(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "locks.py", "loops")
			f := readLockFacts(t, tg)
			pid := strconv.Itoa(tg.PID)
			checkLocks(t, tg, f, dumpLocks(t, bin, pid), dumpText(t, bin, pid), "live")
			tg.CheckRunning(t)
		})
	}
}
