package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"os"
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

	"github.com/google/pprof/profile"

	"pyscope/internal/cpython"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
)

// stackFuncs counts the collapsed samples by innermost function, and by
// process root ("Process PID ...") when the profile has them.
func stackFuncs(t *testing.T, path string) (byFunc map[string]int64, byProc map[int]map[string]int64, total int64) {
	t.Helper()
	stacks, counts := collapsedStacks(t, path)
	byFunc = map[string]int64{}
	byProc = map[int]map[string]int64{}
	for i, st := range stacks {
		f := funcName(st[len(st)-1])
		byFunc[f] += counts[i]
		total += counts[i]
		var pid int
		if _, err := fmt.Sscanf(st[0], "Process %d", &pid); err == nil {
			if byProc[pid] == nil {
				byProc[pid] = map[string]int64{}
			}
			byProc[pid][f] += counts[i]
		}
	}
	return byFunc, byProc, total
}

// TestRecordLaunchedExits: `record -- python script` samples the command
// it starts and writes the profile when the command exits, well before
// the duration.
func TestRecordLaunchedExits(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.14")[0]
	start := time.Now()
	out, r := record(t, bin, time.Minute, "-d", "60", "-f", "collapsed", "--",
		in.Path, testenv.TargetPath(t, "shares.py"), "--exit-after", "2")
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("record took %v for a command that ran 2 s", d)
	}
	byFunc, _, total := stackFuncs(t, out)
	if total == 0 || total != keptSamples(t, r.stderr) {
		t.Fatalf("%d samples in the profile, record kept %d", total, keptSamples(t, r.stderr))
	}
	for _, f := range shareFuncs {
		if byFunc[f] == 0 {
			t.Errorf("no sample of %s, which the command spun in: %v", f, byFunc)
		}
	}
	if !strings.Contains(r.stderr, "exited") {
		t.Errorf("record did not say the process exited:\n%s", r.stderr)
	}
	// The command exits 0, so record says nothing of its status: a
	// status such as "stop signal: trace/breakpoint trap" would be a
	// ptrace stop taken from the sampler by a wait for the command.
	if strings.Contains(r.stderr, "signal") {
		t.Errorf("record reported a status for a command that exited 0:\n%s", r.stderr)
	}
}

// TestRecordTargetExits: recording a running process that exits ends the
// recording at once and writes what was sampled.
func TestRecordTargetExits(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.11")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready", "--exit-after", "3")
	start := time.Now()
	out, r := record(t, bin, time.Minute, "-d", "60", "-f", "collapsed", strconv.Itoa(tg.PID))
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("record took %v for a process that exited after 3 s", d)
	}
	_, _, total := stackFuncs(t, out)
	if total == 0 || !strings.Contains(r.stderr, fmt.Sprintf("process %d exited", tg.PID)) {
		t.Errorf("%d samples; stderr:\n%s", total, r.stderr)
	}
}

// TestRecordSubprocesses: with --subprocesses a process's forked and
// spawned Python children are sampled too, each under its own process
// root; without it only the process itself. Also through a shell that is
// not Python (record -s -- sh -c ...).
func TestRecordSubprocesses(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.12")[0]
	tg := testenv.StartPlain(t, in, "forks.py", "ready")
	var kids struct{ Forked, Spawned int }
	raw, err := os.ReadFile(filepath.Join(tg.Dir, "children.json"))
	if err != nil || json.Unmarshal(raw, &kids) != nil {
		t.Fatalf("children.json: %v %s", err, raw)
	}
	want := map[int]string{tg.PID: "parent_spin", kids.Forked: "forked_spin", kids.Spawned: "spawned_spin"}
	check := func(out string, want map[int]string) {
		t.Helper()
		_, byProc, _ := stackFuncs(t, out)
		for pid, f := range want {
			if byProc[pid][f] == 0 {
				t.Errorf("process %d: no sample in %s: %v", pid, f, byProc)
			}
		}
		if len(byProc) != len(want) {
			t.Errorf("processes sampled: %v, want %v", byProc, want)
		}
	}
	out, _ := record(t, bin, time.Minute, "-d", "3", "-s", "-f", "collapsed", strconv.Itoa(tg.PID))
	check(out, want)
	out, _ = record(t, bin, time.Minute, "-d", "2", "-f", "collapsed", strconv.Itoa(tg.PID))
	byFunc, _, _ := stackFuncs(t, out)
	if byFunc["forked_spin"] != 0 || byFunc["spawned_spin"] != 0 || byFunc["parent_spin"] == 0 {
		t.Errorf("without --subprocesses: %v", byFunc)
	}
	tg.CheckRunning(t)

	// A shell that is not Python, starting one that forks.
	dir := t.TempDir()
	cmd := fmt.Sprintf("cd %s && %s %s 3", dir, in.Path, testenv.TargetPath(t, "forks.py"))
	out, r := record(t, bin, time.Minute, "-s", "-f", "collapsed", "--", "sh", "-c", cmd)
	_, byProc, _ := stackFuncs(t, out)
	names := map[string]bool{}
	for _, fs := range byProc {
		for f := range fs {
			names[f] = true
		}
	}
	for _, f := range []string{"parent_spin", "forked_spin", "spawned_spin"} {
		if !names[f] {
			t.Errorf("record -s -- sh -c: no sample in %s: %v\n%s", f, byProc, r.stderr)
		}
	}
}

// TestRecordSubprocessesExec: with --subprocesses, a forked Python child
// that execs a new Python is sampled before (as the fork it is) and
// reopened at once after, with no failed sample for the program it left;
// a child spawned with posix_spawn (as subprocess's vfork) shares its
// parent's memory until its exec and is not sampled as Python meanwhile,
// so none of its samples shows the parent's stacks.
func TestRecordSubprocessesExec(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.12")[0]
	kidsPath := filepath.Join(t.TempDir(), "children.json")
	out, r := record(t, bin, 2*time.Minute, "-s", "--idle", "-f", "collapsed", "--",
		in.Path, testenv.TargetPath(t, "execs.py"), kidsPath)
	var kids struct{ Forked, Spawned []int }
	raw, err := os.ReadFile(kidsPath)
	if err != nil || json.Unmarshal(raw, &kids) != nil || len(kids.Forked) == 0 || len(kids.Spawned) == 0 {
		t.Fatalf("children.json: %v %s\n%s", err, raw, r.stderr)
	}
	// An exec'd child read at its old program's addresses failed with
	// "read interpreter list: cannot read …" until it was reopened. A
	// starting Python enters eval loops from C all the time (imports), so
	// a sample may still land in a prologue no read can make sense of
	// (TestRecordEvalLoopEntry): at most 1%.
	if f := failedRE.FindStringSubmatch(r.stderr); f != nil {
		n, _ := strconv.Atoi(f[1])
		if strings.Contains(f[2], "interpreter list") || int64(n)*100 > keptSamples(t, r.stderr) {
			t.Errorf("failed samples:\n%s", r.stderr)
		}
	}
	_, byProc, _ := stackFuncs(t, out)
	for _, pid := range kids.Forked {
		if byProc[pid]["forked_spin"] == 0 || byProc[pid]["execed_spin"] == 0 {
			t.Errorf("forked child %d: want samples before its exec (forked_spin) and after (execed_spin): %v", pid, byProc[pid])
		}
	}
	spawned := map[int]bool{}
	for _, pid := range kids.Spawned {
		spawned[pid] = true
		if byProc[pid]["spawned_spin"] == 0 {
			t.Errorf("spawned child %d: no sample in spawned_spin: %v", pid, byProc[pid])
		}
	}
	stacks, _ := collapsedStacks(t, out)
	for _, st := range stacks {
		var pid int
		fmt.Sscanf(st[0], "Process %d", &pid)
		if spawned[pid] && slices.ContainsFunc(st, func(f string) bool { return strings.Contains(f, "execs.py") }) {
			t.Errorf("spawned child %d sampled with its parent's stack: %s", pid, strings.Join(st, ";"))
		}
	}
}

// TestDumpVforkChild: a child between vfork (here posix_spawn's) and exec
// shares its parent's memory, so it has no Python of its own: dump says
// so and names the parent, rather than show the parent's threads as the
// child's.
func TestDumpVforkChild(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "debian-3.11")[0]
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The child blocks in its file actions (opening a FIFO no one writes
	// to) until the test ends.
	cmd := exec.Command(in.Path, "-c", `import os, sys
print(os.posix_spawn("/bin/true", ["true"], os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 3, sys.argv[1], os.O_RDONLY, 0)]))`, fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	var child int
	for end := time.Now().Add(20 * time.Second); child == 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		fmt.Sscan(string(b), &child)
	}
	if child == 0 {
		t.Fatal("no child spawned")
	}
	r := runPyscope(t, bin, nil, "dump", strconv.Itoa(child))
	if r.code == 0 || !strings.Contains(r.stderr, "vfork") || !strings.Contains(r.stderr, fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Errorf("dump of a child between vfork and exec: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRecordManyThreads: a process with 1,000 threads is sampled, every
// thread at every tick with --idle, and is left running.
func TestRecordManyThreads(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "debian-3.11")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready", "--idle", "1000")
	out, r := record(t, bin, 2*time.Minute, "-d", "4", "-r", "20", "--idle", "-f", "collapsed", strconv.Itoa(tg.PID))
	tg.CheckRunning(t)
	byFunc, _, total := stackFuncs(t, out)
	m := takenRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no summary:\n%s", r.stderr)
	}
	ticks, _ := strconv.ParseInt(m[2], 10, 64)
	// main + 2 workers + 1,000 idle threads, at every tick taken.
	if ticks == 0 || total != ticks*1003 {
		t.Errorf("%d samples over %d ticks, want 1003 threads at each", total, ticks)
	}
	if byFunc["Condition.wait"] < ticks*1000 {
		t.Errorf("%d samples of the idle threads' Event.wait over %d ticks", byFunc["Condition.wait"], ticks)
	}
	if strings.Contains(r.stderr, "failed") {
		t.Errorf("failed samples:\n%s", r.stderr)
	}
}

// TestRecordInterrupt: Ctrl-C (SIGINT) ends a recording, which writes what
// it has and exits 0; the process runs on.
func TestRecordInterrupt(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.13")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	out := filepath.Join(t.TempDir(), "p.txt")
	cmd := exec.Command(bin, "record", "-r", "500", "-f", "collapsed", "-o", out, strconv.Itoa(tg.PID))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("record after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("record did not end on SIGINT")
	}
	_, _, total := stackFuncs(t, out)
	if total == 0 || total != keptSamples(t, stderr.String()) {
		t.Errorf("%d samples written; stderr:\n%s", total, stderr.String())
	}
	tg.CheckRunning(t)
}

// TestRecordTenMinutes: a ten-minute recording at 100 Hz of a process
// whose stacks keep changing keeps pyscope's memory bounded, samples
// (nearly) every tick, and leaves the process running. It runs in
// parallel with the other parallel tests.
func TestRecordTenMinutes(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.14")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready", "--idle", "20")
	out := filepath.Join(t.TempDir(), "p.pb.gz")
	cmd := exec.Command(bin, "record", "-d", "10m", "-f", "pprof", "-o", out, strconv.Itoa(tg.PID))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var rss []int64 // KiB, every 10 s
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("record: %v\n%s", err, stderr.String())
			}
			break wait
		case <-tick.C:
			rss = append(rss, vmRSS(cmd.Process.Pid))
			// Stopped a hundred times a second, but never for long: in
			// the next 200 ms every thread is seen running at some
			// moment (all at once, on a loaded machine, may take longer:
			// each stop waits for every thread to be scheduled into it).
			if stuck := stoppedThroughout(tg.PID, 200*time.Millisecond); len(stuck) > 0 {
				t.Errorf("during the recording: threads %v stopped for 200 ms", stuck)
			}
		case <-time.After(15 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("a ten-minute recording did not end")
		}
	}
	t.Logf("pyscope's RSS every 10 s (KiB): %v\n%s", rss, stderr.String())
	tg.CheckRunning(t)
	if len(rss) < 50 {
		t.Fatalf("only %d RSS readings", len(rss))
	}
	// After the first minute, memory stays put: what grows with samples
	// is bounded (distinct stacks, a capped timeline).
	peak, atMinute := int64(0), rss[5]
	for _, v := range rss {
		peak = max(peak, v)
	}
	if peak > 200<<10 || peak > atMinute+32<<10 {
		t.Errorf("RSS grew from %d KiB at one minute to a peak of %d KiB", atMinute, peak)
	}
	m := takenRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no summary:\n%s", stderr.String())
	}
	if pct, _ := strconv.ParseFloat(m[3], 64); pct < 90 {
		t.Errorf("%.1f%% of the ticks taken over ten minutes at 100 Hz", pct)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Errorf("no profile written: %v", err)
	}
}

// vmRSS is a process's resident memory in KiB (0 when gone).
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// TestSIGKILLRecordAndTop kills `record` (blocking, 1,000 Hz, so most
// kills land while the target is stopped) and `top -b` with SIGKILL at
// random moments: the target is never left stopped or traced, receives
// no signal and answers, as for dump.
func TestSIGKILLRecordAndTop(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildPyscope(t)
	modes := []killMode{
		{name: "record", rounds: 24, maxDelay: 600 * time.Millisecond,
			args: func(pid int, dir string) []string {
				return []string{"record", "-r", "1000", "-o", filepath.Join(dir, "p.html"), strconv.Itoa(pid)}
			}},
		{name: "record --native", rounds: 6, maxDelay: 1500 * time.Millisecond,
			args: func(pid int, dir string) []string {
				return []string{"record", "--native", "-r", "200", "-o", filepath.Join(dir, "p.html"), strconv.Itoa(pid)}
			}},
		{name: "top -b", rounds: 10, maxDelay: 1500 * time.Millisecond,
			args: func(pid int, _ string) []string { return []string{"top", "-b", "-r", "1000", strconv.Itoa(pid)} }},
	}
	in := pick(t, "pbs-3.14")[0] // static, stripped
	dir := t.TempDir()
	logPath := filepath.Join(dir, "signals.log")
	tg := testenv.StartPlain(t, in, "sigwatch.py", "ready", logPath)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for _, m := range modes {
		stopped := 0
		for i := 0; i < m.rounds; i++ {
			if killOnce(t, bin, tg, m, dir, rng, i) {
				stopped++
			}
			checkUntouched(t, tg, logPath, fmt.Sprintf("%s round %d", m.name, i))
			if t.Failed() {
				return
			}
		}
		t.Logf("%s: %d kills, %d of them while the target was stopped", m.name, m.rounds, stopped)
		if stopped == 0 && m.name == "record" {
			t.Errorf("%s: no kill landed while the target was stopped: the test proved nothing", m.name)
		}
	}
	time.Sleep(200 * time.Millisecond)
	checkUntouched(t, tg, logPath, "at the end")
}

// TestRecordErrors: what cannot be recorded is said in one line, with a
// non-zero status.
func TestRecordErrors(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	pid := strconv.Itoa(sleep.Process.Pid)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"record", pid}, "not a Python process"},
		{[]string{"top", "-b", pid}, "not a Python process"},
		{[]string{"record", "-f", "svg", pid}, "unknown profile format"},
		{[]string{"record", "--native", "--nonblocking", pid}, "--nonblocking"},
		{[]string{"record", "-d", "soon", pid}, "not a duration"},
		{[]string{"record"}, "missing process ID"},
		{[]string{"record", "abc"}, "not a process ID"},
		{[]string{"record", "--", "/nonexistent/python"}, "cannot start"},
		{[]string{"record", "--", "sleep", "0.5"}, "sleep never ran Python"},
		{[]string{"record", "999999999"}, "no such process"},
	} {
		r := runPyscope(t, bin, nil, c.args...)
		checkOneLineError(t, r, c.want)
	}
}

// TestRecordNativeAndGIL: on a target with one thread spinning in Python
// and one spinning in C (libc's qsort with strcmp, called through ctypes,
// which releases the GIL), both threads are running; --native attributes
// the C thread's time to the C functions it runs, below the Python
// function that called them; --gil keeps only the thread holding the GIL
// (but on free-threaded builds, which have none).
func TestRecordNativeAndGIL(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartPlain(t, in, "native_spin.py", "ready")
			pid := strconv.Itoa(tg.PID)
			// The samples of each spinning thread, by the Python function
			// it runs, and the stacks below it.
			bySpinner := func(out string) (count map[string]int64, below map[string][][]string) {
				count, below = map[string]int64{}, map[string][][]string{}
				stacks, counts := collapsedStacks(t, out)
				for i, st := range stacks {
					for j, fr := range st {
						if f := funcName(fr); f == "py_spin" || f == "c_spin" {
							count[f] += counts[i]
							for range counts[i] {
								below[f] = append(below[f], st[j+1:])
							}
							break
						}
					}
				}
				return count, below
			}

			out, _ := record(t, bin, time.Minute, "-d", "3", "-F", "-f", "collapsed", pid)
			plain, below := bySpinner(out)
			// Enough samples for shares (the C spinner also waits for the
			// GIL between sorts, idle then, longer on a loaded machine).
			const enough = 30
			if plain["py_spin"] < enough || plain["c_spin"] < enough {
				t.Errorf("both threads spin, but py_spin has %d samples and c_spin %d", plain["py_spin"], plain["c_spin"])
			}
			for f, bs := range below {
				for _, b := range bs {
					if len(b) != 0 {
						t.Errorf("without --native, frames below %s: %q", f, b)
						break
					}
				}
			}

			out, _ = record(t, bin, time.Minute, "-d", "3", "-F", "--native", "-f", "collapsed", pid)
			native, below := bySpinner(out)
			var inC, inQsort, inStrcmp int64
			for _, b := range below["c_spin"] {
				inC += int64(min(len(b), 1))
				for _, fr := range b {
					if strings.Contains(funcName(fr), "qsort") {
						inQsort++
						break
					}
				}
				if len(b) > 0 && strings.Contains(funcName(b[len(b)-1]), "strcmp") {
					inStrcmp++
				}
			}
			t.Logf("--native: c_spin %d samples, %d in C, %d under qsort, %d in strcmp", native["c_spin"], inC, inQsort, inStrcmp)
			if n := native["c_spin"]; n < enough || inC < n*9/10 || inQsort < n/2 || inStrcmp == 0 {
				t.Errorf("--native: of %d samples of c_spin, %d in C, %d under qsort, %d in strcmp", n, inC, inQsort, inStrcmp)
			}

			if in.FreeThreaded {
				tg.CheckRunning(t)
				return // no GIL to hold
			}
			out, r := record(t, bin, time.Minute, "-d", "3", "-F", "--gil", "-f", "collapsed", pid)
			gil, _ := bySpinner(out)
			kept := keptSamples(t, r.stderr)
			// c_spin takes the GIL only between two sorts, for a loop
			// iteration: a sliver of its time.
			if kept < enough || gil["py_spin"] < kept*9/10 || gil["c_spin"] > kept/20 {
				t.Errorf("--gil: %d samples kept, %d of py_spin and %d of c_spin", kept, gil["py_spin"], gil["c_spin"])
			}
			if !strings.Contains(r.stderr, "not holding the GIL") {
				t.Errorf("--gil: record did not say how many samples it left out:\n%s", r.stderr)
			}
			tg.CheckRunning(t)
		})
	}
}

var failedRE = regexp.MustCompile(`pyscope: (\d+) samples failed \(counted in the profile\): (.*)`)

// TestRecordFailedSamples: threads whose stacks cannot be read (a frame
// pointing at unmapped memory, a frame chain that loops, corrupted by the
// target itself) are counted as failed samples at every tick, with their
// reasons, on stderr and in the profile; none of their frames is
// invented, and the other threads are sampled as usual.
func TestRecordFailedSamples(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "corrupt.py")
			p, err := live.Open(tg.PID, live.Options{NoBlock: true})
			if err != nil {
				t.Fatal(err)
			}
			interp, err := cpython.Discover(p)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := cpython.NewReader(p, interp).Snapshot()
			p.Close()
			if err != nil {
				t.Fatal(err)
			}
			prevOff := uint64(interp.Layout.Frame.Previous)
			if interp.Minor <= 10 {
				prevOff = uint64(interp.Layout.FrameObj.Back)
			}
			for i := range snap.Threads {
				th := &snap.Threads[i]
				switch {
				case th.Name == nil:
				case *th.Name == "victim": // innermost frame's caller unmapped
					poke(t, tg, th.Frames[0].Addr+prevOff, 0x00007a0000000000)
				case *th.Name == "bystander": // the chain loops
					poke(t, tg, th.Frames[len(th.Frames)-1].Addr+prevOff, th.Frames[0].Addr)
				}
			}

			out, r := record(t, bin, time.Minute, "-d", "2", "-r", "50", "--idle", "-f", "collapsed", strconv.Itoa(tg.PID))
			tg.CheckRunning(t)
			m, f := takenRE.FindStringSubmatch(r.stderr), failedRE.FindStringSubmatch(r.stderr)
			if m == nil || f == nil {
				t.Fatalf("record did not report the samples taken and failed:\n%s", r.stderr)
			}
			samples, _ := strconv.ParseInt(m[1], 10, 64)
			ticks, _ := strconv.ParseInt(m[2], 10, 64)
			failed, _ := strconv.ParseInt(f[1], 10, 64)
			threads := int64(len(tg.Oracle.Threads))
			// samples counts those taken; the failed come on top.
			if ticks == 0 || samples+failed != threads*ticks || failed != 2*ticks {
				t.Errorf("%d ticks of %d threads: %d samples taken, %d failed; want 2 failed at each tick", ticks, threads, samples, failed)
			}
			if !strings.Contains(f[2], "cycle") || !strings.Contains(f[2], "cannot read") {
				t.Errorf("failure reasons %q: want the cycle and the unreadable frame", f[2])
			}
			byFunc, _, total := stackFuncs(t, out)
			if total != keptSamples(t, r.stderr) || total != samples {
				t.Errorf("the profile holds %d samples, record kept %d of %d taken", total, keptSamples(t, r.stderr), samples)
			}
			for _, fn := range []string{"victim_inner", "victim_middle", "victim"} {
				if byFunc[fn] != 0 {
					t.Errorf("%d samples in %s, whose stack cannot be read", byFunc[fn], fn)
				}
			}

			// The profile says so too.
			out, _ = record(t, bin, time.Minute, "-d", "1", "-r", "50", "-f", "pprof", strconv.Itoa(tg.PID))
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			pp, err := profile.Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if c := strings.Join(pp.Comments, "\n"); !strings.Contains(c, "samples failed") {
				t.Errorf("the pprof profile does not count the failed samples: %q", c)
			}
		})
	}
}

// TestRecordNonblocking: with --nonblocking no thread of the process is
// ever traced or stopped while it is recorded (polled all along), and the
// running functions are sampled. TestRecordAccuracy checks its shares.
func TestRecordNonblocking(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.12")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	stop, polled := make(chan struct{}), make(chan error, 1)
	polls := 0
	go func() {
		for {
			select {
			case <-stop:
				polled <- nil
				return
			default:
			}
			if err := testenv.NotStopped(tg.PID); err != nil {
				polled <- err
				return
			}
			tids, _ := testenv.Tasks(tg.PID)
			for _, tid := range tids {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", tg.PID, tid))
				if m := regexp.MustCompile(`TracerPid:\s*(\d+)`).FindSubmatch(b); m != nil && string(m[1]) != "0" {
					polled <- fmt.Errorf("thread %d traced by %s", tid, m[1])
					return
				}
			}
			polls++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	out, r := record(t, bin, time.Minute, "--nonblocking", "-d", "3", "-r", "500", "-F", "-f", "collapsed", strconv.Itoa(tg.PID))
	close(stop)
	if err := <-polled; err != nil {
		t.Fatalf("during record --nonblocking: %v", err)
	}
	t.Logf("%d polls found no thread traced or stopped", polls)
	if polls < 100 {
		t.Errorf("only %d polls of the process's threads", polls)
	}
	if strings.Contains(r.stderr, "process stopped") {
		t.Errorf("record --nonblocking reports a pause:\n%s", r.stderr)
	}
	byFunc, _, _ := stackFuncs(t, out)
	for _, f := range shareFuncs {
		if byFunc[f] == 0 {
			t.Errorf("no sample of %s: %v", f, byFunc)
		}
	}
	tg.CheckRunning(t)
}

// TestRecordOutputNotRegular: -o naming a FIFO (as /dev/null is a device)
// writes into it rather than renaming a file over it, and a directory is
// an error.
func TestRecordOutputNotRegular(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.13")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until record opens it, reads to its close
		got <- b
	}()
	cmd := exec.Command(bin, "record", "-d", "1", "-f", "collapsed", "-o", fifo, strconv.Itoa(tg.PID))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("record -o FIFO: %v\n%s", err, out)
	}
	select {
	case b := <-got:
		if !strings.Contains(string(b), "shares.py") {
			t.Errorf("the FIFO carried no profile: %q", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing read from the FIFO")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
	r := runPyscope(t, bin, nil, "record", "-d", "0.2", "-o", dir, strconv.Itoa(tg.PID))
	checkOneLineError(t, r, "is a directory")
	tg.CheckRunning(t)
}

// stoppedThroughout returns the threads of pid found stopped (T or t) at
// every look during d.
func stoppedThroughout(pid int, d time.Duration) []int {
	stuck := map[int]bool{}
	tids, _ := testenv.Tasks(pid)
	for _, tid := range tids {
		stuck[tid] = true
	}
	for end := time.Now().Add(d); len(stuck) > 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
		for tid := range stuck {
			if st := testenv.TaskState(pid, tid); st != 'T' && st != 't' {
				delete(stuck, tid)
			}
		}
	}
	var out []int
	for tid := range stuck {
		out = append(out, tid)
	}
	sort.Ints(out)
	return out
}

// TestRecordShapes: every thread of shapes.py, parked in every shape of
// ordinary code the dump tests cover, is sampled at every tick with the
// stack the interpreter itself reports (root first, each frame's function,
// file and line), and no sample fails. A finalizer run as a function called
// from C returns puts, on 3.12+, an eval loop's shim with no Python frame of
// its own between __del__ and its caller: the profiler's stacks failed on
// it at every tick while dumps skipped it.
func TestRecordShapes(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "shapes.py")
			out, r := record(t, bin, time.Minute, "-d", "1", "-r", "20", "--idle", "-f", "collapsed", strconv.Itoa(tg.PID))
			tg.CheckRunning(t)
			if f := failedRE.FindStringSubmatch(r.stderr); f != nil {
				t.Errorf("%s samples failed: %s", f[1], f[2])
			}
			m := takenRE.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Fatalf("record did not say how many ticks it took:\n%s", r.stderr)
			}
			ticks, _ := strconv.ParseInt(m[2], 10, 64)
			stacks, counts := collapsedStacks(t, out)
			got := map[string]int64{}
			for i, st := range stacks {
				got[strings.Join(st, ";")] += counts[i]
			}
			for _, th := range tg.Oracle.Threads {
				var labels []string
				for i := len(th.Frames) - 1; i >= 0; i-- {
					f := th.Frames[i]
					labels = append(labels, fmt.Sprintf("%s (%s:%d)", f.Qualname, f.File, f.Line))
				}
				want := strings.Join(labels, ";")
				// Threads parked alike (the same stack) share a line.
				if n := got[want]; n < ticks {
					t.Errorf("thread %d: %d samples of its stack in %d ticks; want every tick:\n%s", th.ThreadID, n, ticks, want)
				}
			}
			if t.Failed() {
				t.Logf("recorded stacks:\n%s", strings.Join(slices.Sorted(maps.Keys(got)), "\n"))
			}
		})
	}
}

// TestRecordEvalLoopEntry: a thread that calls Python functions from C in a
// tight loop is often stopped inside an eval loop's prologue, where 3.12
// has made the new entry frame current before marking it as the C stack's,
// and its _PyCFrame the thread's before setting its current frame: that
// frame, running 3.12's "<interpreter trampoline>" shim code, was shown as
// a Python function in 0.6% of the samples, and the uninitialised frame
// pointer failed 0.1% of them. Every frame of every sample must be one of
// the target's functions, at a line its code spans (the target writes both
// from its code objects).
func TestRecordEvalLoopEntry(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "debian-3.11", "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartPlain(t, in, "ccalls.py", "ready")
			raw, err := os.ReadFile(filepath.Join(tg.Dir, "functions.json"))
			if err != nil {
				t.Fatal(err)
			}
			var spans []struct {
				Qualname    string
				File        string
				First, Last int
			}
			if err := json.Unmarshal(raw, &spans); err != nil {
				t.Fatal(err)
			}
			out, r := record(t, bin, time.Minute, "-d", "5", "-r", "1000", "-f", "collapsed", strconv.Itoa(tg.PID))
			tg.CheckRunning(t)
			// A stop in 3.12's prologue can still find the calling loop's
			// links unwritten (in about 1 of 5,000 samples): such a sample
			// fails, counted, and must not show a wrong stack.
			if f := failedRE.FindStringSubmatch(r.stderr); f != nil {
				n, _ := strconv.Atoi(f[1])
				if k := keptSamples(t, r.stderr); int64(n)*200 > k {
					t.Errorf("%s samples failed of %d kept: %s", f[1], k, f[2])
				}
			}
			stacks, counts := collapsedStacks(t, out)
			for i, st := range stacks {
				for _, label := range st {
					ok := false
					for _, s := range spans {
						if s.Qualname == "" { // a directory: any function of a file in it
							_, loc, _ := strings.Cut(label, " (")
							ok = ok || strings.HasPrefix(loc, s.File)
							continue
						}
						// A generator resumed at its start is at no line.
						ok = ok || label == s.Qualname+" ("+s.File+")"
						rest, found := strings.CutPrefix(label, s.Qualname+" ("+s.File+":")
						line, err := strconv.Atoi(strings.TrimSuffix(rest, ")"))
						ok = ok || found && err == nil && line >= s.First && line <= s.Last
					}
					if !ok {
						t.Errorf("%d samples hold %q, not a line of the target's functions: %s", counts[i], label, strings.Join(st, ";"))
						break
					}
				}
			}
			if len(stacks) == 0 {
				t.Errorf("no sample of the spinning thread:\n%s", r.stderr)
			}
		})
	}
}

// TestRecordGILFreeThreaded: record --gil on a free-threaded build whose
// GIL is disabled (the target's own sys._is_gil_enabled(), in its oracle)
// keeps no sample; its summary says plainly why, not only how many
// samples it left out.
func TestRecordGILFreeThreaded(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "src-3.13.5t")[0]
	tg := testenv.StartTargetEnv(t, in, "busy.py", []string{"PYTHON_GIL=0"})
	for _, th := range tg.Oracle.Threads {
		if th.HoldsGIL != nil && *th.HoldsGIL {
			t.Fatalf("the target says its GIL is enabled")
		}
	}
	_, r := record(t, bin, time.Minute, "-d", "1", "--gil", "-f", "collapsed", strconv.Itoa(tg.PID))
	const want = "pyscope: no sample holds the GIL: the process is a free-threaded build, which runs without a GIL unless it is enabled at run time\n"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("record --gil without a GIL: want %q on stderr, got:\n%s", want, r.stderr)
	}
	tg.CheckRunning(t)
}
