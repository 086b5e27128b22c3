package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// Processes is `dump --json` of several processes.
type Processes struct {
	Processes []json.RawMessage `json:"processes"`
	Skipped   []SkippedProcess  `json:"skipped"`
}

type SkippedProcess struct {
	PID        int    `json:"pid"`
	PPID       int    `json:"ppid"`
	Executable string `json:"executable"`
	Reason     string `json:"reason"`
	Error      string `json:"error"`
}

// multiDump is one process of a dump of several, decoded and checked
// against the schema as a single dump is.
type multiDump struct {
	*Dump
	PPID int
}

func decodeProcesses(t *testing.T, raw string) ([]multiDump, []SkippedProcess) {
	t.Helper()
	var ps Processes
	if err := json.Unmarshal([]byte(raw), &ps); err != nil {
		t.Fatalf("not a dump of several processes: %v\n%.2000s", err, raw)
	}
	var out []multiDump
	for _, p := range ps.Processes {
		var pp struct {
			PPID int `json:"ppid"`
		}
		json.Unmarshal(p, &pp)
		out = append(out, multiDump{Dump: decodeDump(t, string(p)), PPID: pp.PPID})
	}
	return out, ps.Skipped
}

// textSection is one process of a text dump of several: each thread's
// frames as `file:line qualname`, by TID.
type textSection struct {
	pid, ppid int
	threads   map[int][]string
}

var (
	sectionRe     = regexp.MustCompile(`^Process (\d+)(?: \(parent (\d+)\))?: Python `)
	skippedRe     = regexp.MustCompile(`^Process (\d+)(?: \((?:parent (\d+))?(?:, )?([^)]*)\))?: (.*)$`)
	threadHeadRe  = regexp.MustCompile(`^Thread 0x[0-9a-f]+ \(TID (\d+)\)`)
	textFrameLine = regexp.MustCompile(`^  File "(.*)", line (-?\d+), in (.*)$`)
)

// startService starts cmd, a service's master, leading a process group
// killed whole at the end; it returns the master's PID, its stderr so far,
// and whether it is still alive (not a zombie).
func startService(t *testing.T, cmd *exec.Cmd) (int, func() string, func() bool) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	master := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-master, syscall.SIGKILL)
		cmd.Wait()
	})
	alive := func() bool { return syscall.Kill(master, 0) == nil && testenv.TaskState(master, master) != 'Z' }
	return master, stderr.String, alive
}

// dumpTree dumps master --subprocesses --json, which must give n
// processes, the master first, and skip none.
func dumpTree(t *testing.T, bin string, master, n int) []multiDump {
	t.Helper()
	r := runPyscope(t, bin, nil, "dump", "--subprocesses", "--json", strconv.Itoa(master))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	procs, skipped := decodeProcesses(t, r.stdout)
	if len(skipped) != 0 {
		t.Errorf("skipped %+v", skipped)
	}
	if len(procs) != n || procs[0].PID != master {
		t.Fatalf("%d processes; want the master %d first and %d more:\n%.3000s", len(procs), master, n-1, r.stdout)
	}
	return procs
}

// dumpTreeText is dumpTree in text, one section per process.
func dumpTreeText(t *testing.T, bin string, master, n int) []textSection {
	t.Helper()
	r := runPyscope(t, bin, nil, "dump", "--subprocesses", strconv.Itoa(master))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	secs, skipped := parseSections(t, r.stdout)
	if len(skipped) != 0 {
		t.Errorf("skipped %v", skipped)
	}
	if len(secs) != n || secs[0].pid != master {
		t.Fatalf("%d sections; want the master %d first and %d more:\n%s", len(secs), master, n-1, r.stdout)
	}
	return secs
}

// parseSections reads a text dump of several processes.
func parseSections(t *testing.T, out string) (secs []textSection, skipped map[int]string) {
	t.Helper()
	skipped = map[int]string{}
	tid := 0
	for _, l := range strings.Split(out, "\n") {
		if m := sectionRe.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			ppid, _ := strconv.Atoi(m[2])
			secs = append(secs, textSection{pid: pid, ppid: ppid, threads: map[int][]string{}})
			tid = 0
			continue
		}
		if m := skippedRe.FindStringSubmatch(l); m != nil && !strings.Contains(l, ": Python ") {
			pid, _ := strconv.Atoi(m[1])
			skipped[pid] = m[4]
			tid = 0
			continue
		}
		if len(secs) == 0 {
			continue
		}
		cur := &secs[len(secs)-1]
		if m := threadHeadRe.FindStringSubmatch(l); m != nil {
			tid, _ = strconv.Atoi(m[1])
			cur.threads[tid] = []string{}
			continue
		}
		if m := textFrameLine.FindStringSubmatch(l); m != nil && tid != 0 {
			cur.threads[tid] = append(cur.threads[tid], fmt.Sprintf("%s:%s %s", m[1], m[2], m[3]))
		}
	}
	return secs, skipped
}

// checkSection compares a text section with the process's oracle.
func checkSection(t *testing.T, s textSection, o *testenv.Oracle) {
	t.Helper()
	if len(s.threads) != len(o.Threads) {
		t.Errorf("process %d: %d threads in text, the target has %d", s.pid, len(s.threads), len(o.Threads))
	}
	for _, th := range o.Threads {
		var want []string
		for _, f := range th.Frames {
			want = append(want, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Qualname))
		}
		got, ok := s.threads[th.NativeID]
		if !ok {
			t.Errorf("process %d: no thread %d in text", s.pid, th.NativeID)
			continue
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("process %d thread %d in text:\n%s\nthe target says:\n%s", s.pid, th.NativeID, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func readOracle(t *testing.T, path string) *testenv.Oracle {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o testenv.Oracle
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &o
}

// waitOracles waits until n files match pattern, and returns them by PID.
func waitOracles(t *testing.T, pattern string, n int, stderr func() string, alive func() bool) map[int]*testenv.Oracle {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		files, _ := filepath.Glob(pattern)
		if len(files) >= n {
			out := map[int]*testenv.Oracle{}
			for _, f := range files {
				o := readOracle(t, f)
				out[o.PID] = o
			}
			return out
		}
		if !alive() {
			t.Fatalf("the target ended with %d of %d oracles (%s)\n%s", len(files), n, pattern, stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d oracles (%s) after 90 s\n%s", len(files), n, pattern, stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitThreads waits until process pid has exactly the oracle's threads
// (its reporter thread has ended).
func waitThreads(t *testing.T, pid int, o *testenv.Oracle) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tids, _ := testenv.Tasks(pid)
		if len(tids) == len(o.Threads) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has %d threads, its oracle %d", pid, len(tids), len(o.Threads))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// descendants lists pid's descendants from every /proc/PID/stat: the
// test's own view of the tree.
func descendants(t *testing.T, pid int) map[int]int {
	t.Helper()
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	out := map[int]int{}
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out[p] = parent[p]
				break
			}
		}
	}
	return out
}

func exeOf(pid int) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return l
}

// TestDumpGunicorn dumps a gunicorn master (Debian's python3-gunicorn on
// Debian's Python) and its three sync workers, each blocked in a request
// as hung requests block them, with --subprocesses, in JSON and in text:
// every process against its own view of its threads.
func TestDumpGunicorn(t *testing.T) {
	testenv.NeedPackages(t, "python3-gunicorn")
	bin := testenv.BuildPyscope(t)
	dir := t.TempDir()
	script := testenv.TargetPath(t, "gunicorn_service.py")
	cmd := exec.Command(testenv.DebianPython, "-m", "gunicorn", "--chdir", filepath.Dir(script), "-c", script, "gunicorn_service:app")
	cmd.Env = []string{"PYSCOPE_ORACLE_DIR=" + dir, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "LC_ALL=C.UTF-8", "PATH=/usr/bin:/bin"}
	master, stderr, alive := startService(t, cmd)
	mo := waitOracles(t, filepath.Join(dir, "oracle-master.json"), 1, stderr, alive)[master]
	if mo == nil {
		t.Fatalf("the master's oracle is not the master's (pid %d)", master)
	}
	addr, err := os.ReadFile(filepath.Join(dir, "address"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		go func() {
			// Never answered: the worker stays blocked until the test ends.
			resp, err := http.Get(fmt.Sprintf("http://%s/hang/%d", addr, i))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	oracles := waitOracles(t, filepath.Join(dir, "oracle-[0-9]*.json"), 3, stderr, alive)
	oracles[master] = mo
	for pid, o := range oracles {
		waitThreads(t, pid, o)
	}
	tree := descendants(t, master)
	if len(tree) != 3 {
		t.Fatalf("the master has %d descendants, want its 3 workers: %v", len(tree), tree)
	}
	for w := range tree {
		if oracles[w] == nil {
			t.Fatalf("worker %d has no oracle (oracles of %v)", w, keysOf(oracles))
		}
	}

	t.Run("json", func(t *testing.T) {
		procs := dumpTree(t, bin, master, 4)
		for _, p := range procs {
			o := oracles[p.PID]
			if o == nil {
				t.Errorf("process %d is not of the tree", p.PID)
				continue
			}
			if want := parentOf(p.PID); p.PPID != want {
				t.Errorf("process %d: ppid %d, want %d", p.PID, p.PPID, want)
			}
			for _, m := range diffDump(p.PID, o, p.Dump) {
				t.Errorf("process %d: %s", p.PID, m)
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		secs := dumpTreeText(t, bin, master, 4)
		for _, s := range secs {
			if o := oracles[s.pid]; o == nil {
				t.Errorf("process %d is not of the tree", s.pid)
			} else {
				checkSection(t, s, o)
			}
			if want := parentOf(s.pid); s.ppid != want {
				t.Errorf("process %d: parent %d in the header, want %d", s.pid, s.ppid, want)
			}
		}
	})
	for pid := range oracles {
		if err := testenv.NotStopped(pid); err != nil {
			t.Error(err)
		}
	}
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	pp, _ := strconv.Atoi(f[1])
	return pp
}

func keysOf(m map[int]*testenv.Oracle) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// TestDumpPool dumps a multiprocessing pool with --subprocesses under each
// start method (fork on Debian's 3.11, spawn on 3.12, 3.14's default
// forkserver, whose workers are the fork server's children): the parent
// and every worker against their own views, the fork server and resource
// tracker as the Python processes they are, the `sleep` child skipped as
// running no Python. Then `dump PID PID` of two workers, named.
func TestDumpPool(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	cases := map[string]string{"debian-3.11": "", "pbs-3.12.3": "spawn", "pbs-3.14.6": ""}
	for _, in := range testenv.Interpreters(t) {
		method, ok := cases[in.Name]
		if !ok {
			continue
		}
		delete(cases, in.Name)
		t.Run(in.Name, func(t *testing.T) {
			var args []string
			if method != "" {
				args = append(args, method)
			}
			tg := testenv.StartTarget(t, in, "pool.py", args...)
			workers := waitOracles(t, filepath.Join(tg.Dir, "oracle-[0-9]*.json"), 3, tg.Stderr, func() bool { return !tg.Exited() })
			for pid, o := range workers {
				waitThreads(t, pid, o)
			}
			oracles := map[int]*testenv.Oracle{tg.PID: &tg.Oracle}
			for pid, o := range workers {
				oracles[pid] = o
			}
			tree := descendants(t, tg.PID)
			r := runPyscope(t, bin, nil, "dump", "--subprocesses", "--json", strconv.Itoa(tg.PID))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			procs, skipped := decodeProcesses(t, r.stdout)
			if len(procs) == 0 || procs[0].PID != tg.PID {
				t.Fatalf("the first process is not the pool's parent %d", tg.PID)
			}
			seen := map[int]bool{}
			for _, p := range procs {
				seen[p.PID] = true
				if _, ok := tree[p.PID]; !ok && p.PID != tg.PID {
					t.Errorf("process %d is not of the tree %v", p.PID, tree)
				}
				if p.Python.Version != tg.Oracle.Version {
					t.Errorf("process %d: Python %s, want %s", p.PID, p.Python.Version, tg.Oracle.Version)
				}
				if o := oracles[p.PID]; o != nil {
					for _, m := range diffDump(p.PID, o, p.Dump) {
						t.Errorf("process %d: %s", p.PID, m)
					}
				}
			}
			for pid := range oracles {
				if !seen[pid] {
					t.Errorf("process %d (with an oracle) missing from the dump", pid)
				}
			}
			for _, s := range skipped {
				seen[s.PID] = true
				if filepath.Base(exeOf(s.PID)) != "sleep" || s.Reason != "not_python" || s.PPID != tg.PID {
					t.Errorf("skipped %+v (executable %s), want only the sleep child, as not_python", s, exeOf(s.PID))
				}
			}
			if len(skipped) != 1 {
				t.Errorf("%d processes skipped, want the sleep child", len(skipped))
			}
			for pid := range tree {
				if !seen[pid] {
					t.Errorf("descendant %d (%s) neither dumped nor skipped", pid, exeOf(pid))
				}
			}

			// Two workers by PID: their snapshots, in the order given.
			var two []int
			for pid := range workers {
				two = append(two, pid)
			}
			two = two[:2]
			r = runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(two[0]), strconv.Itoa(two[1]))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			procs, skipped = decodeProcesses(t, r.stdout)
			if len(procs) != 2 || len(skipped) != 0 || procs[0].PID != two[0] || procs[1].PID != two[1] {
				t.Fatalf("dump %d %d gave %d processes, %d skipped", two[0], two[1], len(procs), len(skipped))
			}
			for _, p := range procs {
				for _, m := range diffDump(p.PID, oracles[p.PID], p.Dump) {
					t.Errorf("process %d: %s", p.PID, m)
				}
			}
			for pid := range oracles {
				if err := testenv.NotStopped(pid); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if len(cases) != 0 {
		t.Errorf("interpreters missing from the matrix: %v", cases)
	}
}

// lockedBuf collects a child's stderr for failure messages.
type lockedBuf struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	applyHeadRe = regexp.MustCompile(`^Thread (\d+)\.(\d+) \(TID (\d+)\) (.*):$`)
	inferiorRe  = regexp.MustCompile(`^([ *]) (\d+) +process (\d+) +(\d+) +stopped +(\S+)$`)
)

// TestSessionInferiors holds a multiprocessing pool with debug
// --subprocesses: info inferiors lists the parent and its workers (the
// sleep child is noted, not held), thread apply all py-bt goes through
// every inferior's threads, numbered INFERIOR.N as gdb numbers them, each
// stack as its process says; inferior N and thread N.M switch. After quit
// no process is stopped.
func TestSessionInferiors(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Name == "debian-3.11" {
			in = i
		}
	}
	tg := testenv.StartTarget(t, in, "pool.py")
	workers := waitOracles(t, filepath.Join(tg.Dir, "oracle-[0-9]*.json"), 3, tg.Stderr, func() bool { return !tg.Exited() })
	for pid, o := range workers {
		waitThreads(t, pid, o)
	}
	oracles := map[int]*testenv.Oracle{tg.PID: &tg.Oracle}
	for pid, o := range workers {
		oracles[pid] = o
	}
	var some int
	for pid := range workers {
		some = pid
	}
	r := runPyscope(t, bin, nil, "debug", "--subprocesses", strconv.Itoa(tg.PID), "--batch",
		"-ex", "info inferiors", "-ex", "thread apply all py-bt", "-ex", "info inferiors")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stderr, "runs no Python: not an inferior") {
		t.Errorf("no note of the sleep child:\n%s", r.stderr)
	}
	// info inferiors: the parent first and current, then the workers.
	infs := map[int]int{} // PID -> inferior number
	lines := strings.Split(r.stdout, "\n")
	for _, l := range lines {
		if m := inferiorRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			pid, _ := strconv.Atoi(m[3])
			if _, seen := infs[pid]; seen {
				continue // the second info inferiors
			}
			infs[pid] = n
			if (m[1] == "*") != (pid == tg.PID) || (pid == tg.PID) != (n == 1) {
				t.Errorf("inferior line %q: the parent %d is inferior 1, and current", l, tg.PID)
			}
			if want := parentOf(pid); m[4] != strconv.Itoa(want) {
				t.Errorf("inferior line %q: parent %d", l, want)
			}
		}
	}
	if len(infs) != len(oracles) {
		t.Fatalf("info inferiors lists %v, want the parent and the workers %v:\n%s", infs, keysOf(oracles), r.stdout)
	}
	// thread apply all py-bt: every thread of every inferior.
	got := map[int]map[int][]string{} // PID -> TID -> frames
	var cur []string
	var curPID, curTID int
	flush := func() {
		if curPID != 0 {
			if got[curPID] == nil {
				got[curPID] = map[int][]string{}
			}
			got[curPID][curTID] = cur
		}
	}
	byNum := map[int]int{}
	for pid, n := range infs {
		byNum[n] = pid
	}
	for _, l := range lines {
		if m := applyHeadRe.FindStringSubmatch(l); m != nil {
			flush()
			n, _ := strconv.Atoi(m[1])
			curPID = byNum[n]
			curTID, _ = strconv.Atoi(m[3])
			cur = []string{}
			continue
		}
		if m := textFrameLine.FindStringSubmatch(l); m != nil && curPID != 0 {
			cur = append(cur, fmt.Sprintf("%s:%s %s", m[1], m[2], m[3]))
		}
	}
	flush()
	for pid, o := range oracles {
		checkSection(t, textSection{pid: pid, threads: got[pid]}, o)
	}

	// inferior N, thread N.M: the worker's frames, then back.
	n := infs[some]
	r = runPyscope(t, bin, nil, "debug", "--subprocesses", strconv.Itoa(tg.PID), "--batch",
		"-ex", fmt.Sprintf("inferior %d", n), "-ex", "py-bt", "-ex", "thread 1.1", "-ex", "inferior")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	if want := fmt.Sprintf("[Switching to inferior %d [process %d]", n, some); !strings.Contains(r.stdout, want) {
		t.Errorf("no %q:\n%s", want, r.stdout)
	}
	checkPyBt(t, r.stdout, workers[some])
	if want := fmt.Sprintf("[Current inferior is 1 [process %d]", tg.PID); !strings.Contains(r.stdout, want) {
		t.Errorf("thread 1.1 did not go back to inferior 1: no %q:\n%s", want, r.stdout)
	}

	// py-list - goes on from the current inferior's listing only: two
	// workers wait in the same file, on the same line, in threads of the
	// same number, yet one's listing is no place to go on from in the other.
	var pids []int
	for pid := range workers {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	a, b := pids[0], pids[1]
	var bf *testenv.OracleFrame
	for i := range workers[b].Threads {
		if th := &workers[b].Threads[i]; th.IsMain && len(th.Frames) > 0 {
			bf = &th.Frames[0]
		}
	}
	if bf == nil || bf.Line <= 16 {
		t.Fatalf("worker %d: no main thread frame past line 16 in its oracle", b)
	}
	r = runPyscope(t, bin, nil, "debug", "--subprocesses", strconv.Itoa(tg.PID), "--batch",
		"-ex", fmt.Sprintf("inferior %d", infs[a]), "-ex", "py-list", "-ex", "py-list -",
		"-ex", fmt.Sprintf("inferior %d", infs[b]), "-ex", "py-list -")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	_, inB, ok := strings.Cut(r.stdout, fmt.Sprintf("[Switching to inferior %d [process %d]", infs[b], b))
	listedB := func(n int) string { return fmt.Sprintf("%4d    %s", n, sourceLine(t, bf.File, n)) }
	if !ok || !strings.Contains(inB, listedB(bf.Line-6)) || strings.Contains(inB, listedB(bf.Line-16)) {
		t.Errorf("py-list - in inferior %d: want the ten lines before %d (%s:%d), not inferior %d's listing continued:\n%s",
			infs[b], bf.Line-5, bf.File, bf.Line, infs[a], r.stdout)
	}
	for pid := range oracles {
		if err := testenv.NotStopped(pid); err != nil {
			t.Error(err)
		}
	}
}

// TestDumpSeveralFails: a named process that cannot be read is reported
// (text and JSON) and fails the dump with its own exit status, after the
// others are printed.
func TestDumpSeveralFails(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	tg := testenv.StartTarget(t, anyInterp(t), "shapes.py")
	gone := freePID(t)
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID), strconv.Itoa(gone))
	if r.code != 3 {
		t.Errorf("exit %d, want 3 (no such process): %s", r.code, r.stderr)
	}
	checkOneLineError(t, r, fmt.Sprintf("process %d", gone))
	procs, skipped := decodeProcesses(t, r.stdout)
	if len(procs) != 1 || procs[0].PID != tg.PID || len(skipped) != 1 || skipped[0].PID != gone || skipped[0].Reason != "error" {
		t.Fatalf("%d processes, skipped %+v", len(procs), skipped)
	}
	compareDump(t, tg, procs[0].Dump)
	r = runPyscope(t, bin, nil, "dump", strconv.Itoa(gone), strconv.Itoa(tg.PID))
	secs, sk := parseSections(t, r.stdout)
	if r.code != 3 || len(secs) != 1 || secs[0].pid != tg.PID || !strings.Contains(sk[gone], "error: ") {
		t.Errorf("text: exit %d, sections %v, skipped %v:\n%s", r.code, secs, sk, r.stdout)
	}
}

// stracePtraceRe is one ptrace or process_vm_readv call of `strace -f -o`:
// the calling thread, the request (none for process_vm_readv) and the
// thread or process it names. An <unfinished ...> call counts once; its
// "<... resumed>" line does not match.
var stracePtraceRe = regexp.MustCompile(`^(\d+) +(?:ptrace\(PTRACE_([A-Z_]+), (\d+)|process_vm_readv\((\d+),)`)

// TestDumpSeveralOnePauseEach dumps three processes of three interpreters
// under strace, which records every ptrace and process_vm_readv call
// pyscope makes: each thread of each process is seized, interrupted and
// detached exactly once, all its process's seizes before any of its
// detaches (one pause per process), no other thread is traced, and the
// processes are read concurrently: the span from a process's first call
// to its last overlaps another's. Each snapshot is the process's own view.
func TestDumpSeveralOnePauseEach(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	straceBin := testenv.NeedCommand(t, "strace", "strace")
	interps := testenv.Interpreters(t)
	if len(interps) < 3 {
		t.Fatalf("%d interpreters in the matrix, want 3", len(interps))
	}
	var tgs []*testenv.Target
	// --stop-all: the default stops at most each GIL holder
	// (TestDumpSparesBlockedThreads); every thread's one pause is checked
	// here.
	args := []string{"dump", "--json", "--stop-all"}
	owner := map[int]int{} // TID -> its process
	for _, in := range interps[:3] {
		tg := testenv.StartTarget(t, in, "shapes.py")
		tgs = append(tgs, tg)
		args = append(args, strconv.Itoa(tg.PID))
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", tg.PID))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tasks {
			tid, _ := strconv.Atoi(e.Name())
			owner[tid] = tg.PID
		}
	}
	// Concurrency shows as overlap, which a loaded machine's scheduler
	// could hide in one run; a sequential reader never overlaps.
	overlapped := false
	for try := 0; try < 3 && !overlapped; try++ {
		log := filepath.Join(t.TempDir(), "strace.txt")
		r := runPyscope(t, straceBin, nil, append([]string{"-f", "-qq", "-e", "trace=ptrace,process_vm_readv", "-e", "signal=none", "-o", log, bin}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		procs, skipped := decodeProcesses(t, r.stdout)
		if len(procs) != len(tgs) || len(skipped) != 0 {
			t.Fatalf("%d processes, %d skipped; want %d", len(procs), len(skipped), len(tgs))
		}
		for i, tg := range tgs {
			if procs[i].PID != tg.PID {
				t.Fatalf("process %d is %d, want %d (the order given)", i, procs[i].PID, tg.PID)
			}
			compareDump(t, tg, procs[i].Dump)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[int]map[string]int{} // TID -> request -> calls
		first, last := map[int]int{}, map[int]int{}
		lastSeize, firstDetach := map[int]int{}, map[int]int{}
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			m := stracePtraceRe.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n++
			req, id := m[2], m[3]
			if id == "" {
				id = m[4]
			}
			tid, _ := strconv.Atoi(id)
			pid, ok := owner[tid]
			if !ok {
				if req != "" {
					t.Errorf("ptrace %s of %d, a thread of none of the targets: %s", req, tid, l)
				}
				continue
			}
			if _, ok := first[pid]; !ok {
				first[pid] = n
			}
			last[pid] = n
			if req == "" {
				continue
			}
			if counts[tid] == nil {
				counts[tid] = map[string]int{}
			}
			counts[tid][req]++
			switch req {
			case "SEIZE":
				lastSeize[pid] = n
			case "DETACH":
				if _, ok := firstDetach[pid]; !ok {
					firstDetach[pid] = n
				}
			}
		}
		for tid, pid := range owner {
			c := counts[tid]
			if c["SEIZE"] != 1 || c["INTERRUPT"] != 1 || c["DETACH"] != 1 {
				t.Errorf("thread %d of %d: %d seizes, %d interrupts, %d detaches; want one of each", tid, pid, c["SEIZE"], c["INTERRUPT"], c["DETACH"])
			}
		}
		for _, tg := range tgs {
			if lastSeize[tg.PID] > firstDetach[tg.PID] {
				t.Errorf("process %d: a thread seized after another was detached: two pauses", tg.PID)
			}
			if err := testenv.NotStopped(tg.PID); err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			t.Fatalf("strace:\n%s", data)
		}
		for i, a := range tgs {
			for _, b := range tgs[i+1:] {
				overlapped = overlapped || (first[a.PID] < last[b.PID] && first[b.PID] < last[a.PID])
			}
		}
	}
	if !overlapped {
		t.Errorf("in 3 runs, every process was read only after the one before it was done: not concurrently")
	}
}

// TestDumpSubprocessesAlone: --subprocesses of a process without children
// prints the shape of several (one process), so that a consumer sees one
// shape whatever the tree holds at the moment; one PID alone keeps the
// single snapshot.
func TestDumpSubprocessesAlone(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	tg := testenv.StartTarget(t, anyInterp(t), "shapes.py")
	if kids := descendants(t, tg.PID); len(kids) != 0 {
		t.Fatalf("shapes.py has children %v", kids)
	}
	r := runPyscope(t, bin, nil, "dump", "--subprocesses", "--json", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	procs, skipped := decodeProcesses(t, r.stdout)
	if len(procs) != 1 || len(skipped) != 0 || procs[0].PID != tg.PID {
		t.Fatalf("%d processes, skipped %+v; want %d alone", len(procs), skipped, tg.PID)
	}
	compareDump(t, tg, procs[0].Dump)
	r = runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil || top["processes"] != nil {
		t.Fatalf("dump --json PID is not a single snapshot (%v):\n%.500s", err, r.stdout)
	}
	compareDump(t, tg, decodeDump(t, r.stdout))
}
