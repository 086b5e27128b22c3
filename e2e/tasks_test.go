package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"pyscope/internal/testenv"
)

// tasksOracle is what testdata/targets/tasks.py writes about its tasks.
type tasksOracle struct {
	Tasks []struct {
		ID        uint64            `json:"id"`
		Name      string            `json:"name"`
		State     string            `json:"state"`
		ThreadID  *uint64           `json:"thread_id"`
		Awaits    []string          `json:"awaits"`
		Futures   []uint64          `json:"futures"`
		Coroutine []DumpFrame       `json:"coroutine"`
		Locals    map[string]string `json:"locals"`
	} `json:"tasks"`
	Cycle []uint64 `json:"cycle"`
	// Finished tasks the target holds: not listed, as in asyncio.all_tasks().
	Finished []struct {
		ID    uint64 `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"finished"`
	// 3.14's own awaited_by records that name a task that does not await
	// it ("X awaited by Y"): stale, and left out by pyscope.
	Stale   []string `json:"stale"`
	Version []int    `json:"version"`
}

// DumpTask is a task of `pyscope dump --tasks --json`.
type DumpTask struct {
	ID        uint64      `json:"id"`
	Name      string      `json:"name"`
	State     string      `json:"state"`
	ThreadID  *uint64     `json:"thread_id"`
	Coroutine []taskFrame `json:"coroutine"`
	Awaits    []uint64    `json:"awaits"`
	AwaitedBy []uint64    `json:"awaited_by"`
	Error     string      `json:"error"`
}

// fileLine is the frame's line in a traceback.
func (f DumpFrame) fileLine() string {
	return fmt.Sprintf("File \"%s\", line %d, in %s", f.File, f.Line, f.Qualname)
}

type taskFrame struct {
	DumpFrame
	Locals []valueVar `json:"locals"`
}

type tasksDump struct {
	PauseUS    int64      `json:"pause_us"`
	Tasks      []DumpTask `json:"tasks"`
	TaskCycles [][]uint64 `json:"task_cycles"`
	Warnings   []string   `json:"warnings"`
	Stop       *struct {
		Policy  string `json:"policy"`
		Stopped []int  `json:"stopped"`
		Threads int    `json:"threads"`
	} `json:"stop"`
}

func readTasksOracle(t *testing.T, tg *testenv.Target) *tasksOracle {
	t.Helper()
	var o tasksOracle
	targetJSON(t, tg, "oracle.json.tasks.json", &o)
	return &o
}

func dumpTasks(t *testing.T, bin, arg string, more ...string) *tasksDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump", "--tasks", "--json"}, more...), arg)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump --tasks --json %s: exit %d\n%s", arg, r.code, r.stderr)
	}
	var d tasksDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	if d.Tasks == nil || d.TaskCycles == nil {
		t.Errorf("--tasks JSON lacks \"tasks\" or \"task_cycles\": %.300s", r.stdout)
	}
	return &d
}

// diffTasks compares pyscope's tasks with the target's own view.
func diffTasks(o *tasksOracle, d *tasksDump) []string {
	var out []string
	got := map[uint64]DumpTask{}
	for _, t := range d.Tasks {
		got[t.ID] = t
	}
	byName := map[string]uint64{}
	names := map[uint64]string{}
	for _, w := range o.Tasks {
		byName[w.Name] = w.ID
		names[w.ID] = w.Name
	}
	if len(d.Tasks) != len(o.Tasks) {
		var gn []string
		for _, t := range d.Tasks {
			gn = append(gn, t.Name)
		}
		out = append(out, fmt.Sprintf("%d tasks %v, the target has %d", len(d.Tasks), gn, len(o.Tasks)))
	}
	awaitedBy := map[uint64][]uint64{}
	for _, w := range o.Tasks {
		g, ok := got[w.ID]
		if !ok {
			out = append(out, fmt.Sprintf("task %q (%#x) missing", w.Name, w.ID))
			continue
		}
		who := fmt.Sprintf("task %q", w.Name)
		if g.Name != w.Name || g.State != w.State {
			out = append(out, fmt.Sprintf("%s: name %q state %q, want %q %q", who, g.Name, g.State, w.Name, w.State))
		}
		if (g.ThreadID == nil) != (w.ThreadID == nil) || g.ThreadID != nil && *g.ThreadID != *w.ThreadID {
			out = append(out, fmt.Sprintf("%s: thread %v, want %v", who, ptrStr(g.ThreadID), ptrStr(w.ThreadID)))
		}
		if g.Error != "" {
			out = append(out, fmt.Sprintf("%s: error %s", who, g.Error))
		}
		var want, have []string
		for _, f := range w.Coroutine {
			want = append(want, fhLine(f)+" "+f.Qualname)
		}
		for _, f := range g.Coroutine {
			have = append(have, fhLine(f.DumpFrame)+" "+f.Qualname)
		}
		// Tasks and futures held by its coroutine show as asyncio's repr.
		if len(g.Coroutine) > 0 {
			outer := g.Coroutine[len(g.Coroutine)-1]
			for name, want := range w.Locals {
				found := false
				for _, l := range outer.Locals {
					if l.Name == name {
						found = true
						if l.Repr != want {
							out = append(out, fmt.Sprintf("%s: local %s\n  got  %s\n  want %s", who, name, l.Repr, want))
						}
					}
				}
				if !found {
					out = append(out, fmt.Sprintf("%s: local %s missing", who, name))
				}
			}
		}
		if !slices.Equal(want, have) {
			out = append(out, fmt.Sprintf("%s: coroutine\n  got  %s\n  want %s", who, strings.Join(have, "\n       "), strings.Join(want, "\n       ")))
		}
		var wantA []uint64
		for _, n := range w.Awaits {
			wantA = append(wantA, byName[n])
			awaitedBy[byName[n]] = append(awaitedBy[byName[n]], w.ID)
		}
		var gotA, gotF []uint64
		for _, a := range g.Awaits {
			if _, isTask := got[a]; isTask {
				gotA = append(gotA, a)
			} else {
				gotF = append(gotF, a)
			}
		}
		if !sameIDs(gotA, wantA) {
			out = append(out, fmt.Sprintf("%s: awaits tasks %v, want %v", who, nameList(gotA, names), w.Awaits))
		}
		// Any other id it awaits is the future it is suspended on.
		if !sameIDs(gotF, w.Futures) {
			out = append(out, fmt.Sprintf("%s: awaits futures %#x, want %#x (its _fut_waiter)", who, gotF, w.Futures))
		}
	}
	for _, w := range o.Tasks {
		if g, ok := got[w.ID]; ok && !sameIDs(g.AwaitedBy, awaitedBy[w.ID]) {
			out = append(out, fmt.Sprintf("task %q: awaited by %v, want %v", w.Name, nameList(g.AwaitedBy, names), nameList(awaitedBy[w.ID], names)))
		}
	}
	if len(o.Finished) < 4 {
		out = append(out, fmt.Sprintf("the target holds %d finished tasks, want 4", len(o.Finished)))
	}
	for _, f := range o.Finished {
		if _, ok := got[f.ID]; ok {
			out = append(out, fmt.Sprintf("task %q is %s: listed, but asyncio.all_tasks() leaves it out", f.Name, f.State))
		}
		for _, t := range d.Tasks {
			if slices.Contains(t.Awaits, f.ID) {
				out = append(out, fmt.Sprintf("task %q awaits task %q, which is %s", t.Name, f.Name, f.State))
			}
		}
	}
	if len(d.TaskCycles) != 1 || !sameIDs(d.TaskCycles[0], o.Cycle) {
		out = append(out, fmt.Sprintf("task cycles %v, want one: %v", d.TaskCycles, o.Cycle))
	} else if d.TaskCycles[0][0] != slices.Min(o.Cycle) {
		out = append(out, fmt.Sprintf("a cycle starts at its lowest id: %v", d.TaskCycles[0]))
	}
	return out
}

func ptrStr(p *uint64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatUint(*p, 10)
}

func sameIDs(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func nameList(ids []uint64, names map[uint64]string) []string {
	var out []string
	for _, id := range ids {
		if n, ok := names[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("%#x", id))
		}
	}
	sort.Strings(out)
	return out
}

// TestTasks dumps the asyncio tasks of tasks.py, live and from a core,
// on every interpreter, and compares them with the target's own view:
// names, states, threads, each task's chain (cr_await walked with
// f_lineno), who awaits whom by construction (nested gather, TaskGroup,
// wait_for, shield, asyncio.wait, an async generator, a yield-from chain,
// a task awaiting another, a Task subclass, a pure-Python task, an eager
// task, a loop that is not running, a running task, an await cycle, and
// the tasks a gather, shield or wait was given after their caller stopped
// waiting, which 3.14 still records as awaited by it),
// the future each awaits (its _fut_waiter, done or not), the reprs of the
// futures and tasks its frame holds, and that finished tasks are left
// out; and the text tree.
func TestTasks(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "tasks.py")
			o := readTasksOracle(t, tg)
			if v := o.Version; len(v) == 2 && v[0] == 3 && v[1] >= 14 && len(o.Stale) == 0 {
				t.Error("the interpreter records no stale awaiter: the target no longer tests that pyscope ignores them")
			}
			// The tasks stage reads only what the GIL protects: the default
			// stops at most the GIL's holder.
			d := dumpTasks(t, bin, strconv.Itoa(tg.PID), "--locals", "--max-repr", "100000")
			if !in.FreeThreaded && (d.Stop == nil || d.Stop.Policy != "gil" || len(d.Stop.Stopped) >= d.Stop.Threads) {
				t.Errorf("the default dump --tasks did not stop only the GIL's holder: %+v", d.Stop)
			}
			for _, m := range diffTasks(o, d) {
				t.Error("live: " + m)
			}
			tg.CheckRunning(t)

			r := runPyscope(t, bin, nil, "dump", "--tasks", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("dump --tasks: exit %d\n%s", r.code, r.stderr)
			}
			for _, m := range diffTaskTree(o, r.stdout) {
				t.Error("text: " + m)
			}
			if !strings.Contains(r.stdout, "Deadlock: tasks await each other") {
				t.Errorf("text: no deadlock shown:\n%s", r.stdout)
			}
			// With --locals, the tree shows each coroutine's variables
			// under it, as the JSON has them.
			r = runPyscope(t, bin, nil, "dump", "--tasks", "--locals", "--max-repr", "100000", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("dump --tasks --locals: exit %d\n%s", r.code, r.stderr)
			}
			shown := 0
			for _, w := range o.Tasks {
				for name, want := range w.Locals {
					if line := " " + name + " = " + want + "\n"; !strings.Contains(r.stdout, line) {
						t.Errorf("text --locals: task %s: no line %q", w.Name, line)
					}
					shown++
				}
			}
			if shown == 0 {
				t.Error("the oracle has no task's locals to look for")
			}

			checkTaskSession(t, bin, strconv.Itoa(tg.PID), o)
			tg.CheckRunning(t)

			core := filepath.Join(t.TempDir(), "tasks.core")
			pyscopeGcore(t, bin, tg, core)
			for _, m := range diffTasks(o, dumpTasks(t, bin, core, "--locals", "--max-repr", "100000")) {
				t.Error("core: " + m)
			}
			checkTaskSession(t, bin, core, o)
		})
	}
}

// diffTaskTree checks the text tree of `dump --tasks` against the
// target's view: each task's line, its chain under it outermost first,
// one level deeper per frame (`qualname  file:line`), the tasks it
// awaits one level below its innermost frame, and each task that no
// task awaits under the header of the thread running its loop.
func diffTaskTree(o *tasksOracle, text string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	// col is where a tree line's branch (├── or └──) starts, in runes.
	col := func(l string) int {
		i := strings.Index(l, "── ")
		if i < 3 {
			return -1
		}
		return utf8.RuneCountInString(l[:i-3])
	}
	taskLine := func(id uint64) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`[├└]── \(T\) '[^']*' %#x \[`, id))
	}
	awaited := map[string]bool{}
	for _, w := range o.Tasks {
		for _, a := range w.Awaits {
			awaited[a] = true
		}
	}
	byName := map[string]uint64{}
	for _, w := range o.Tasks {
		byName[w.Name] = w.ID
	}
	for _, w := range o.Tasks {
		who := fmt.Sprintf("task %q", w.Name)
		re := taskLine(w.ID)
		at := -1
		for i, l := range lines {
			if re.MatchString(l) && !strings.HasSuffix(l, "(shown above)") {
				at = i
				break
			}
		}
		if at < 0 {
			out = append(out, fmt.Sprintf("%s: no line of its own", who))
			continue
		}
		c := col(lines[at])
		// Its chain, outermost first.
		for k := range w.Coroutine {
			f := w.Coroutine[len(w.Coroutine)-1-k]
			want := fmt.Sprintf("└── %s  %s:%d", f.Qualname, f.File, f.Line)
			i := at + 1 + k
			if i >= len(lines) || col(lines[i]) != c+4*(k+1) || !strings.HasSuffix(lines[i], want) {
				got := ""
				if i < len(lines) {
					got = lines[i]
				}
				out = append(out, fmt.Sprintf("%s: frame %d of its chain\n  got  %q\n  want %q at column %d", who, k, got, want, c+4*(k+1)))
				break
			}
		}
		// The tasks it awaits, in its subtree one level below its chain.
		end := at + 1
		for end < len(lines) && col(lines[end]) > c {
			end++
		}
		for _, a := range w.Awaits {
			re := taskLine(byName[a])
			found := false
			for _, l := range lines[at+1 : end] {
				if re.MatchString(l) && col(l) == c+4*(len(w.Coroutine)+1) {
					found = true
				}
			}
			if !found {
				out = append(out, fmt.Sprintf("%s: awaited task %q not under its innermost frame", who, a))
			}
		}
		// A root: under the header of its loop's thread.
		if !awaited[w.Name] {
			header := ""
			for i := at; i >= 0 && header == ""; i-- {
				if strings.HasPrefix(lines[i], "Thread 0x") || strings.HasPrefix(lines[i], "Tasks ") {
					header = lines[i]
				}
			}
			want := "Tasks of event loops that are not running"
			if w.ThreadID != nil {
				want = fmt.Sprintf("Thread %#x ", *w.ThreadID)
			}
			if !strings.HasPrefix(header, want) {
				out = append(out, fmt.Sprintf("%s: under %q, want %q", who, header, want))
			}
		}
	}
	if len(out) > 0 {
		out = append(out, "the tree:\n"+text)
	}
	return out
}

// checkTaskSession selects a task in a session (info tasks, task N) and
// checks that py-bt shows its coroutine chain as the target does, and
// that py-up and py-locals work on its frames.
func checkTaskSession(t *testing.T, bin, arg string, o *tasksOracle) {
	t.Helper()
	r := runPyscope(t, bin, nil, "debug", arg, "-batch", "-ex", "info tasks")
	if r.code != 0 {
		t.Fatalf("debug: info tasks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	num := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(strings.TrimPrefix(l, "*")); len(f) > 3 && slices.Contains(f, "'gather-a'") {
			num = f[0]
		}
	}
	if num == "" {
		t.Fatalf("info tasks does not list gather-a:\n%s", r.stdout)
	}
	reg := "asyncio.tasks._scheduled_tasks"
	if v := o.Version; len(v) == 2 && v[1] <= 11 {
		reg = "asyncio.tasks._all_tasks"
	}
	r = runPyscope(t, bin, nil, "debug", arg, "-batch", "-ex", "info tasks", "-ex", "task "+num, "-ex", "py-bt", "-ex", "py-up", "-ex", "py-up", "-ex", "py-locals", "-ex", "py-print "+reg)
	if r.code != 0 {
		t.Fatalf("debug: task %s: exit %d\n%s%s", num, r.code, r.stdout, r.stderr)
	}
	for _, w := range o.Tasks {
		if w.Name != "gather-a" {
			continue
		}
		checkSessionPyBt(t, "task gather-a", r.stdout, w.Coroutine)
	}
	if !strings.Contains(r.stdout, "in child\n") || !strings.Contains(r.stdout, "\nev = ") {
		t.Errorf("session: py-up to child and its locals (ev) not shown:\n%s", r.stdout)
	}
	// py-print follows the registry's weakrefs to the tasks.
	if !regexp.MustCompile(`<weakref at 0x[0-9a-f]+; to <Task pending name='[^']+' coro=<`).MatchString(r.stdout) {
		t.Errorf("session: py-print %s does not follow its weakrefs to tasks:\n%s", reg, r.stdout)
	}
}

// checkSessionPyBt compares the py-bt in a session's output with the
// frames the target reported, innermost first.
func checkSessionPyBt[F interface{ fileLine() string }](t *testing.T, what, out string, frames []F) {
	t.Helper()
	var want []string
	for _, f := range frames {
		want = append(want, f.fileLine())
	}
	_, bt, _ := strings.Cut(out, "Traceback (most recent call first):\n")
	var got []string
	for _, l := range strings.Split(bt, "\n") {
		if strings.HasPrefix(l, "  File ") {
			got = append(got, strings.TrimSpace(l))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("session py-bt of %s:\n got  %q\n want %q", what, got, want)
	}
}

// manyTasksInterps are the interpreters TestManyTasks runs on: each
// layout of the registries and of the tasks (3.10, 3.11 Debian, 3.12's
// eager registry, 3.13t free-threaded, 3.14's per-thread lists), within
// about a minute of CI time.
var manyTasksInterps = []string{"pbs-3.10", "debian-3.11", "pbs-3.12", "src-3.13", "pbs-3.14"}

// Resource bounds of docs/reliability.md §8 for dumping many_tasks.py's
// 10,000 tasks (dump --tasks --json, live or from a core): the pyscope
// process's CPU time (user + system) and peak RSS, from its rusage.
const (
	manyTasksCPU = 1500 * time.Millisecond
	manyTasksRSS = 256 << 10 // KiB
)

// TestManyTasks dumps 10,000 pending tasks, live and from a core, within
// the resource bounds of docs/reliability.md: every task is found, with
// its chain, awaited by the parent that gathers them.
func TestManyTasks(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	ran := 0
	for _, in := range testenv.Interpreters(t) {
		if !slices.ContainsFunc(manyTasksInterps, func(p string) bool { return strings.HasPrefix(in.Name, p) }) {
			continue
		}
		ran++
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "many_tasks.py")
			var o struct {
				N      int    `json:"n"`
				Parent uint64 `json:"parent"`
			}
			targetJSON(t, tg, "oracle.json.tasks.json", &o)
			check := func(what, arg string) {
				t.Helper()
				d, cost := dumpTasksCost(t, bin, arg)
				t.Logf("%s: %d tasks in %v: CPU %v, peak RSS %d KiB, pause %v",
					what, len(d.Tasks), cost.wall, cost.cpu, cost.rss, time.Duration(d.PauseUS)*time.Microsecond)
				workers := 0
				for _, tk := range d.Tasks {
					if tk.ID == o.Parent {
						if len(tk.Awaits) != o.N {
							t.Errorf("%s: parent awaits %d tasks, want %d", what, len(tk.Awaits), o.N)
						}
						continue
					}
					if !strings.HasPrefix(tk.Name, "worker-") {
						continue
					}
					workers++
					if len(tk.Coroutine) < 3 || tk.Coroutine[len(tk.Coroutine)-1].Function != "worker" ||
						len(tk.AwaitedBy) != 1 || tk.AwaitedBy[0] != o.Parent || tk.State != "pending" {
						t.Fatalf("%s: task %s: state %s, awaited by %v, chain %+v", what, tk.Name, tk.State, tk.AwaitedBy, tk.Coroutine)
					}
				}
				if workers != o.N {
					t.Errorf("%s: %d worker tasks, want %d", what, workers, o.N)
				}
				if cost.cpu > manyTasksCPU {
					t.Errorf("%s: dumping %d tasks took %v of CPU, more than %v", what, o.N, cost.cpu, manyTasksCPU)
				}
				if cost.rss > manyTasksRSS {
					t.Errorf("%s: dumping %d tasks peaked at %d KiB, more than %d KiB", what, o.N, cost.rss, manyTasksRSS)
				}
			}
			check("live", strconv.Itoa(tg.PID))
			tg.CheckRunning(t)
			core := filepath.Join(t.TempDir(), "many_tasks.core")
			pyscopeGcore(t, bin, tg, core)
			check("core", core)
		})
	}
	if ran != len(manyTasksInterps) {
		t.Errorf("ran on %d interpreters, want %d: %v", ran, len(manyTasksInterps), manyTasksInterps)
	}
}

// dumpCost is what one pyscope run cost, from its rusage.
type dumpCost struct {
	wall, cpu time.Duration
	rss       int64 // peak resident set, KiB
}

// dumpTasksCost runs `dump --tasks --json` and measures it.
func dumpTasksCost(t *testing.T, bin, arg string) (*tasksDump, dumpCost) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dump", "--tasks", "--json", arg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	peakRSS := peakRSSUnderTime(t, cmd)
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("pyscope dump --tasks --json %s: %v\n%s", arg, err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cost := dumpCost{wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rss: peakRSS()}
	var d tasksDump
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	return &d, cost
}
