package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/testenv"
)

// headingRe is a thread's heading, with the blank line before it.
var headingRe = regexp.MustCompile(`(?m)^\nThread (\d+) \(TID (\d+)\) (.*):\n`)

// applySections splits `thread apply` output at its thread headings:
// thread numbers in order, and each thread's output.
func applySections(out string) ([]int, map[int]string) {
	var nums []int
	body := map[int]string{}
	locs := headingRe.FindAllStringSubmatchIndex(out, -1)
	for i, l := range locs {
		n, _ := strconv.Atoi(out[l[2]:l[3]])
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		nums = append(nums, n)
		body[n] = out[l[1]:end]
	}
	return nums, body
}

// thread apply, gdb's way, checked against what the target says of its
// own threads: every thread's py-bt under its heading, all in descending
// order, lists and ranges, -q, -s, -c and the default stop at the first
// error; the selected thread and frame stay.
func TestSessionThreadApply(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range sessionInterps(t) {
		t.Run(in.Name, func(t *testing.T) {
			tg, so := startSession(t, in)
			main := threadByName(t, &tg.Oracle, "MainThread")
			d := startDriver(t, bin, strconv.Itoa(tg.PID))
			ids, cur := threadIDs(t, d.run("info threads"))
			var all []int
			for _, n := range ids {
				all = append(all, n)
			}
			slices.Sort(all)
			k := frameIndex(t, main, "handle")
			d.run(fmt.Sprintf("py-frame %d", k))

			out := d.run("thread apply all py-bt")
			nums, body := applySections(out)
			desc := slices.Clone(all)
			slices.Reverse(desc)
			if !slices.Equal(nums, desc) {
				t.Errorf("thread apply all: threads %v, want %v (descending, as gdb):\n%s", nums, desc, out)
			}
			marked := 0
			for _, th := range tg.Oracle.Threads {
				var want []string
				for _, f := range th.Frames {
					want = append(want, frameLine(f))
				}
				wantInOrder(t, "py-bt of "+*th.Name, body[ids[th.NativeID]], want)
				// Source lines and markers as the target's traceback prints them.
				marked += compareMarks(t, "py-bt of "+*th.Name, &th, parseFrames(body[ids[th.NativeID]]))
			}
			if in.Minor != "3.10" && marked == 0 {
				t.Errorf("py-bt marked no expression on %s", in.Name)
			}
			// The selection is where it was.
			wantContains(t, "thread after apply", d.run("thread"), fmt.Sprintf("[Current thread is %d ", cur))
			wantContains(t, "frame after apply", d.run("py-frame"), fmt.Sprintf("#%d %s", k, frameLine(main.Frames[k])))

			// -ascending -q: no headings, one traceback per Python thread.
			out = d.run("thread apply all -ascending -q py-bt")
			if headingRe.MatchString(out) {
				t.Errorf("-q printed headings:\n%s", out)
			}
			if n := strings.Count(out, "Traceback (most recent call first):"); n != len(tg.Oracle.Threads) {
				t.Errorf("-q: %d tracebacks, want %d:\n%s", n, len(tg.Oracle.Threads), out)
			}

			// A list with a range, in the order given.
			list := []int{all[len(all)-1], all[0], all[1]}
			out = d.run(fmt.Sprintf("thread apply %d %d-%d thread", list[0], list[1], list[2]))
			if nums, _ := applySections(out); !slices.Equal(nums, list) {
				t.Errorf("thread apply %d %d-%d: threads %v:\n%s", list[0], list[1], list[2], nums, out)
			}
			for _, n := range list {
				wantContains(t, "thread apply LIST", out, fmt.Sprintf("[Current thread is %d ", n))
			}

			// py-print LIMIT works where frame 0 runs session.py's code.
			var works, fails []int
			for _, th := range tg.Oracle.Threads {
				if strings.HasSuffix(th.Frames[0].File, "session.py") {
					works = append(works, ids[th.NativeID])
				} else {
					fails = append(fails, ids[th.NativeID])
				}
			}
			if len(works) == 0 || len(fails) == 0 {
				t.Fatalf("want threads where LIMIT resolves and threads where it does not: %v %v", works, fails)
			}
			slices.Sort(works)
			slices.Reverse(works)
			value := "global 'LIMIT' = " + so.Exprs["LIMIT"] + "\n"
			out = d.run("thread apply all -s py-print LIMIT")
			if nums, body := applySections(out); !slices.Equal(nums, works) {
				t.Errorf("-s: threads %v, want only %v:\n%s", nums, works, out)
			} else {
				for _, n := range works {
					if body[n] != value {
						t.Errorf("-s: thread %d printed %q, want %q", n, body[n], value)
					}
				}
			}
			if out2 := d.run("taas py-print LIMIT"); out2 != out {
				t.Errorf("taas differs from thread apply all -s:\n%s\n%s", out2, out)
			}
			out = d.run("thread apply all -c py-print LIMIT")
			if nums, _ := applySections(out); !slices.Equal(nums, desc) {
				t.Errorf("-c: threads %v, want %v:\n%s", nums, desc, out)
			}
			if n := strings.Count(out, `no symbol "LIMIT" in current context`); n != len(fails) {
				t.Errorf("-c: %d errors, want %d:\n%s", n, len(fails), out)
			}
			// Without a flag, the first error ends the command.
			out = d.run("thread apply all py-print LIMIT")
			nums, _ = applySections(out)
			first := slices.IndexFunc(desc, func(n int) bool { return slices.Contains(fails, n) })
			if !slices.Equal(nums, desc[:first+1]) || !strings.HasSuffix(out, `no symbol "LIMIT" in current context`+"\n") {
				t.Errorf("stops at the first error: threads %v, want %v:\n%s", nums, desc[:first+1], out)
			}
			wantContains(t, "no command", d.run("thread apply all"), "Please specify a command")
			wantContains(t, "process command", d.run("thread apply all continue"), "acts on the whole process")
			checkHeld(t, tg.PID, true)
			if code := d.wait(); code != 1 {
				t.Errorf("exit status %d, want 1 (commands failed on purpose)", code)
			}
			tg.CheckRunning(t)
		})
	}
}

// columnOf is the display column where cell first appears in line.
func columnOf(line, cell string) int {
	i := strings.Index(line, cell)
	if i < 0 {
		return -1
	}
	return runewidth.StringWidth(line[:i])
}

// info threads and info sharedlibrary line up under their headings, long
// and wide thread names included; help's summaries line up; a process
// with one thread is not "All 1 threads".
func TestSessionAlignmentAndWording(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var py string
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "pbs-3.12.3" {
			py = in.Path
		}
	}
	names := []string{"a-thread-name-much-longer-than-any-column-should-be", "travailleur-ü-等待中", "w"}
	code := "import threading, time\n"
	for _, n := range names {
		code += fmt.Sprintf("threading.Thread(target=time.sleep, args=(3600,), name=%q, daemon=True).start()\n", n)
	}
	code += "print('ready', flush=True)\ntime.sleep(3600)\n"
	pid := testenv.StartScript(t, py, code)
	r := runPyscope(t, bin, nil, "debug", strconv.Itoa(pid), "-batch", "-ex", "info threads", "-ex", "echo @@\\n", "-ex", "info sharedlibrary", "-ex", "echo @@\\n", "-ex", "help")
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	parts := strings.Split(r.stdout, "@@\n")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", r.stdout)
	}
	lines := func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
	threads, libs, help := lines(parts[0]), lines(parts[1]), parts[2]

	// info threads: the frame column starts at one display column.
	frameCol := columnOf(threads[0], "Python frame")
	shown := map[string]bool{}
	for _, l := range threads[1:] {
		m := threadRowRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("info threads row %q", l)
		}
		rest := strings.TrimLeft(l[strings.Index(l, m[4])+len(m[4]):], " ")
		if c := columnOf(l, rest); c != frameCol {
			t.Errorf("frame at column %d, header at %d:\n%s", c, frameCol, strings.Join(threads, "\n"))
		}
		shown[m[4]] = true
	}
	for _, n := range names {
		if !shown[n] {
			cut := false
			for s := range shown {
				p, ok := strings.CutSuffix(s, "…")
				cut = cut || (ok && strings.HasPrefix(n, p) && len(p) > 8)
			}
			if !cut {
				t.Errorf("thread %q neither shown nor cut to a prefix in:\n%s", n, strings.Join(threads, "\n"))
			}
		}
	}

	// info sharedlibrary: each field starts under its heading, and From/To
	// are a mapping's bounds in /proc/PID/maps.
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	starts, ends := map[uint64]bool{}, map[uint64]bool{}
	for _, l := range strings.Split(string(maps), "\n") {
		var a, b uint64
		if _, err := fmt.Sscanf(l, "%x-%x", &a, &b); err == nil {
			starts[a], ends[b] = true, true
		}
	}
	for _, l := range libs[1:] {
		f := strings.Fields(l)
		for i, h := range []string{"From", "To", "Syms", "Debug", "Build-id", "Library"} {
			if a, b := columnOf(l, f[i]), columnOf(libs[0], h); a != b && !(i > 0 && f[i] == f[i-1]) {
				t.Errorf("%s %q at column %d, heading at %d:\n%s\n%s", h, f[i], a, b, libs[0], l)
			}
		}
		from, err1 := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 64)
		to, err2 := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
		if err1 != nil || err2 != nil || !starts[from] || !ends[to] {
			t.Errorf("%s-%s is not a mapping's bounds in /proc/%d/maps", f[0], f[1], pid)
		}
	}

	// help: every summary starts at one column.
	col := -1
	for _, l := range strings.Split(help, "\n") {
		if !strings.HasPrefix(l, "  ") {
			continue
		}
		m := regexp.MustCompile(`^  \S.*?\S {2,}(\S)`).FindStringSubmatchIndex(l)
		if m == nil {
			t.Errorf("help line without a summary column: %q", l)
			continue
		}
		if col == -1 {
			col = m[2]
		}
		if m[2] != col {
			t.Errorf("help summary at column %d, want %d: %q", m[2], col, l)
		}
	}
	if !strings.Contains(r.stderr, "All 4 threads") {
		t.Errorf("banner: %s", r.stderr)
	}

	// One thread: no "All 1 threads".
	one := testenv.StartScript(t, py, "import time\nprint('ready', flush=True)\ntime.sleep(3600)\n")
	r = runPyscope(t, bin, nil, "debug", strconv.Itoa(one), "-batch", "-ex", "refresh")
	if strings.Contains(r.stderr+r.stdout, "1 threads") || !strings.Contains(r.stderr, "Its one thread is stopped") ||
		!strings.Contains(r.stdout, "new snapshot of 1 thread.") {
		t.Errorf("one thread:\n%s%s", r.stderr, r.stdout)
	}
}

// TestSessionPrintCharactersUnlimited: `set print characters 0` shows
// whole strings and takes nothing from the other limits: a dict of short
// strings still shows its first `elements` items (each one the target's
// own repr), none of them cut by the read limit.
func TestSessionPrintCharactersUnlimited(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var py string
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "pbs-3.12.3" {
			py = in.Path
		}
	}
	oracle := filepath.Join(t.TempDir(), "items")
	code := fmt.Sprintf(`import time
d = {i: "v%%d" %% i for i in range(50)}
long = "x" * 5000
with open(%q, "w") as f:
    f.write("\n".join("%%r: %%r" %% kv for kv in list(d.items())[:20]) + "\n" + repr(long))
print("ready", flush=True)
time.sleep(3600)
`, oracle)
	pid := testenv.StartScript(t, py, code)
	r := runPyscope(t, bin, nil, "debug", strconv.Itoa(pid), "-batch", "-ex", "set print characters 0", "-ex", "set print repr 0", "-ex", "py-print d", "-ex", "py-print long")
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(oracle)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(string(raw), "\n")
	items, long := want[:len(want)-1], want[len(want)-1]
	for _, it := range items {
		if !strings.Contains(r.stdout, it) {
			t.Errorf("py-print d does not show %s:\n%s", it, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "…(+30 items)") || strings.Contains(r.stdout, "read limit") {
		t.Errorf("py-print d: want 20 items and …(+30 items), nothing cut by the read limit:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "= "+long+"\n") {
		t.Errorf("py-print long: not the whole string:\n%s", r.stdout)
	}
}

// TestSessionSelectedThreadExits: when the selected thread exits while the
// process runs, `interrupt` says which thread the commands now work on, as
// gdb does, rather than switching without a word.
func TestSessionSelectedThreadExits(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var py string
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "pbs-3.12.3" {
			py = in.Path
		}
	}
	gate := filepath.Join(t.TempDir(), "go")
	code := fmt.Sprintf(`import os, threading, time
def short():
    while not os.path.exists(%q):
        time.sleep(0.02)
t = threading.Thread(target=short, name="short")
t.start()
print("ready", flush=True)
t.join()
time.sleep(3600)
`, gate)
	pid := testenv.StartScript(t, py, code)
	d := startDriver(t, bin, strconv.Itoa(pid))
	var num, tid int
	for _, m := range threadRowRe.FindAllStringSubmatch(d.run("info threads"), -1) {
		if m[4] == "short" {
			num, _ = strconv.Atoi(m[2])
			tid, _ = strconv.Atoi(m[3])
		}
	}
	if num == 0 {
		t.Fatal("info threads does not list the thread named short")
	}
	wantContains(t, "thread N", d.run(fmt.Sprintf("thread %d", num)), "short")
	d.run("continue")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); testenv.TaskState(pid, tid) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the thread did not exit")
		}
	}
	wantContains(t, "interrupt", d.run("interrupt"), fmt.Sprintf("[Thread %d exited; switching to thread 1 (TID %d) MainThread]", num, pid))
	d.last("quit")
	d.wait()
}

// TestSessionSelectedTaskGone: when the selected greenlet is freed, or
// the selected asyncio task finishes, while the process runs, `interrupt`
// says so and which thread the frame commands now work on, as it does for
// a thread that exited; `greenlet` and `task` then say none is selected.
func TestSessionSelectedTaskGone(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Name == "pbs-3.12.3" {
			in = i
		}
	}
	site := greenletSite(t, in)
	dir := t.TempDir()
	gate := []string{filepath.Join(dir, "go1"), filepath.Join(dir, "go2")}
	done := []string{filepath.Join(dir, "done1"), filepath.Join(dir, "done2")}
	code := fmt.Sprintf(`import asyncio, os, sys
sys.path.insert(0, %q)
import greenlet
def park():
    greenlet.getcurrent().parent.switch()
g = greenlet.greenlet(park)
g.switch()
async def gate(path):
    while not os.path.exists(path):
        await asyncio.sleep(0.02)
async def main():
    global g
    t = asyncio.create_task(gate(%q), name="short")
    print("ready", flush=True)
    await gate(%q)
    g = None  # the last reference: the greenlet is freed
    open(%q, "w").close()
    await t
    open(%q, "w").close()
    await asyncio.sleep(3600)
asyncio.run(main())
`, site, gate[1], gate[0], done[0], done[1])
	pid := testenv.StartScript(t, in.Path, code)
	d := startDriver(t, bin, strconv.Itoa(pid))
	num := func(out, col string) int {
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(strings.TrimPrefix(l, "*"))
			if len(f) > 4 && strings.Contains(l, col) {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
		t.Fatalf("no row with %q:\n%s", col, out)
		return 0
	}
	release := func(i int) {
		t.Helper()
		d.run("continue")
		if err := os.WriteFile(gate[i], nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(done[i]); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the target did not reach %s", done[i])
			}
		}
	}
	thread := fmt.Sprintf("the frame commands work on thread 1 (TID %d) MainThread]", pid)

	glet := num(d.run("info greenlets"), " park (")
	wantContains(t, "greenlet N", d.run(fmt.Sprintf("greenlet %d", glet)), "in park")
	release(0)
	wantContains(t, "interrupt", d.run("interrupt"), fmt.Sprintf("[Greenlet %d greenlet.greenlet was freed; %s", glet, thread))
	wantContains(t, "greenlet", d.run("greenlet"), "no greenlet selected")
	wantContains(t, "py-bt", d.run("py-bt"), "in <module>")

	task := num(d.run("info tasks"), "'short'")
	wantContains(t, "task N", d.run(fmt.Sprintf("task %d", task)), "'short'")
	release(1)
	wantContains(t, "interrupt", d.run("interrupt"), fmt.Sprintf("[Task %d 'short' finished; %s", task, thread))
	wantContains(t, "task", d.run("task"), "no task selected")
	wantContains(t, "py-bt", d.run("py-bt"), "in <module>")
	d.last("quit")
	d.wait()
}
