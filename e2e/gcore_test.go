package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
	"pyscope/internal/target/core"
	"pyscope/internal/testenv"
)

// heapTarget is testdata/targets/heapstall.py.
type heapTarget struct {
	*testenv.Target
	info   heapInfo
	stalls string
}

type heapInfo struct {
	PID    int    `json:"pid"`
	Heap   uint64 `json:"heap"`
	Blocks int    `json:"blocks"`
	Block  int    `json:"block"`
	Crcs   uint64 `json:"crcs"`
	Seq    uint64 `json:"seq"`
}

func debianInterp(t *testing.T) testenv.Interp {
	t.Helper()
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "debian-3.11" {
			return in
		}
	}
	t.Fatal("no debian-3.11 interpreter")
	return testenv.Interp{}
}

func startHeap(t *testing.T, in testenv.Interp, mib int) *heapTarget {
	t.Helper()
	dir := t.TempDir()
	infoPath, stalls := filepath.Join(dir, "info.json"), filepath.Join(dir, "stalls")
	tg := testenv.StartPlain(t, in, "heapstall.py", "ready", infoPath, strconv.Itoa(mib), stalls)
	b, err := os.ReadFile(infoPath)
	if err != nil {
		t.Fatal(err)
	}
	h := &heapTarget{Target: tg, stalls: stalls}
	if err := json.Unmarshal(b, &h.info); err != nil || h.info.PID != tg.PID {
		t.Fatalf("info %s: %v (pid %d)", b, err, h.info.PID)
	}
	return h
}

// checkHeap checks a memory image of the target against its own records
// (see heapstall.py): every block but the one being rewritten must have
// the CRC the target recorded for it. It returns the blocks that do not.
// laggingMem reads a running process, and before its first read of the
// heap's blocks waits until the target has rewritten some blocks since the
// CRCs were read: on a loaded machine the target might otherwise not run
// at all during the copy, and the negative control would prove nothing.
type laggingMem struct {
	m      target.Memory
	seq    uint64
	start  uint64
	reads  int
	waited bool
}

func (l *laggingMem) ReadAt(p []byte, addr uint64) (int, error) {
	l.reads++
	if l.reads == 1 && addr == l.seq && len(p) >= 8 {
		n, err := l.m.ReadAt(p, addr)
		l.start = binary.LittleEndian.Uint64(p)
		return n, err
	}
	if l.reads > 2 && !l.waited {
		l.waited = true
		var b [8]byte
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := l.m.ReadAt(b[:], l.seq); err != nil {
				return 0, err
			}
			if binary.LittleEndian.Uint64(b[:]) >= l.start+3 {
				break
			}
		}
	}
	return l.m.ReadAt(p, addr)
}

func checkHeap(m target.Memory, hi heapInfo) (begin, end uint64, bad []int, err error) {
	var seq [16]byte
	if _, err := m.ReadAt(seq[:], hi.Seq); err != nil {
		return 0, 0, nil, fmt.Errorf("reading seq: %v", err)
	}
	begin, end = binary.LittleEndian.Uint64(seq[:]), binary.LittleEndian.Uint64(seq[8:])
	crcs := make([]byte, 4*hi.Blocks)
	if _, err := m.ReadAt(crcs, hi.Crcs); err != nil {
		return 0, 0, nil, fmt.Errorf("reading crcs: %v", err)
	}
	if begin != end && begin != end+1 {
		return begin, end, nil, fmt.Errorf("step begun %d, ended %d: torn", begin, end)
	}
	block := make([]byte, hi.Block)
	for b := 0; b < hi.Blocks; b++ {
		if begin != end && b == int(begin%uint64(hi.Blocks)) {
			continue // being rewritten at the stop
		}
		if _, err := m.ReadAt(block, hi.Heap+uint64(b*hi.Block)); err != nil {
			return begin, end, bad, fmt.Errorf("reading block %d: %v", b, err)
		}
		if crc32.ChecksumIEEE(block) != binary.LittleEndian.Uint32(crcs[4*b:]) {
			bad = append(bad, b)
		}
	}
	return begin, end, bad, nil
}

// procMem reads a running process (a torn copy: the negative control).
type procMem int

func (p procMem) ReadAt(b []byte, addr uint64) (int, error) {
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	return unix.ProcessVMReadv(int(p), local, remote, 0)
}

func monotonic() float64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// longestStall is the longest gap the target's ticker saw that overlaps
// [from, to].
func longestStall(t *testing.T, path string, from, to float64) time.Duration {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // the ticker writes a gap when it ends
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0
		}
		t.Fatal(err)
	}
	defer f.Close()
	var worst float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a, b float64
		if _, err := fmt.Sscanf(sc.Text(), "%f %f", &a, &b); err != nil {
			continue
		}
		if b >= from && a <= to && b-a > worst {
			worst = b - a
		}
	}
	return time.Duration(worst * float64(time.Second))
}

var stoppedForRE = regexp.MustCompile(`stopped for ([0-9.]+) (µs|ms|s)\n$`)

func parseDur(t *testing.T, out string) time.Duration {
	t.Helper()
	m := stoppedForRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no pause in %q", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit))
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
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
			out = append(out, e.Name()+" ("+f[0]+")")
		}
	}
	return out
}

// gcoreHeapMiB is the heap of the CI test; bench/gcore.sh measures 5 GiB.
const gcoreHeapMiB = 1024

// TestGcorePauseAndConsistency takes cores of a 1 GiB heap that keeps
// changing, by each method, and checks (1) the pause the target itself
// measured, against the goals scaled from issue 15's 5 GB figures, and (2)
// that every block of the core has the CRC the target recorded at the
// stop. A copy made while the target runs fails that check (negative
// control), so the check can fail.
func TestGcorePauseAndConsistency(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	h := startHeap(t, debianInterp(t), gcoreHeapMiB)
	dir := t.TempDir()

	// The negative control: a copy of the running heap is torn.
	_, _, bad, err := checkHeap(&laggingMem{m: procMem(h.PID), seq: h.info.Seq}, h.info)
	if err != nil {
		t.Logf("running copy: %v", err)
	}
	if err == nil && len(bad) == 0 {
		t.Fatal("a copy of the running heap passed the consistency check: the check proves nothing")
	}
	t.Logf("copy of the running heap: %d of %d blocks torn", len(bad), h.info.Blocks)

	gib := float64(gcoreHeapMiB) / 1024
	for _, tc := range []struct {
		name  string
		args  []string
		limit time.Duration // 0: not bounded (today's method)
		say   string
	}{
		// 1.5 s for 5 GB, i.e. 0.3 s per GiB, plus the stop itself.
		{"default", nil, time.Duration(gib*0.3*float64(time.Second)) + 100*time.Millisecond, "memory copied while stopped"},
		{"fork", []string{"--fork"}, 100 * time.Millisecond, "from a fork by thread"},
		{"no-copy", []string{"--no-copy"}, 0, "written while stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".core")
			from := monotonic()
			r := runPyscope(t, bin, nil, append([]string{"gcore", strconv.Itoa(h.PID), "-o", path}, tc.args...)...)
			to := monotonic()
			if r.code != 0 {
				t.Fatalf("pyscope gcore %v: exit %d\n%s", tc.args, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.say) {
				t.Errorf("output %q does not say %q", r.stdout, tc.say)
			}
			reported := parseDur(t, r.stdout)
			stall := longestStall(t, h.stalls, from, to)
			t.Logf("%s: pyscope says stopped for %v; the target's longest stall %v; whole gcore %.2f s",
				tc.name, reported, stall, to-from)
			if stall == 0 && reported > 20*time.Millisecond {
				t.Errorf("the target saw no stall while pyscope reports a pause of %v", reported)
			}
			if tc.limit > 0 && stall > tc.limit {
				t.Errorf("the target stalled for %v, more than %v", stall, tc.limit)
			}
			if kids := childrenOf(h.PID); len(kids) > 0 {
				t.Errorf("process(es) left behind as children of the target: %v", kids)
			}
			h.CheckRunning(t)

			c, err := core.Open(path, core.Options{})
			if err != nil {
				t.Fatalf("opening the core: %v", err)
			}
			defer c.Close()
			begin, end, bad, err := checkHeap(c, h.info)
			if err != nil {
				t.Fatalf("core: %v", err)
			}
			if len(bad) > 0 {
				t.Errorf("core taken at step %d/%d: %d blocks do not have the CRC the target recorded (first %v)", begin, end, len(bad), bad[:min(5, len(bad))])
			}
			os.Remove(path)
		})
	}
}

// liveChildren lists the target's children that are not zombies, and
// counts the zombies.
func liveChildren(pid int) (alive []string, zombies int) {
	for _, c := range childrenOf(pid) {
		if strings.HasSuffix(c, "(Z)") {
			zombies++
		} else {
			alive = append(alive, c)
		}
	}
	return alive, zombies
}

// TestGcoreSIGKILL kills pyscope gcore with SIGKILL, by default and with
// --fork. The target must never be left stopped or traced, and the fork's
// child must never outlive pyscope (it carries PTRACE_O_EXITKILL).
//
// One outcome is allowed, as docs/reliability.md says: with --fork, a kill
// that lands while the borrowed thread runs the fork kills the target too,
// by SIGKILL. That can only happen while the target is stopped: a death
// after a kill made while it ran fails the test. Such kills are counted and
// the target restarted. A kill once the parent runs again and the core is
// written from the child is also made on purpose: the target lives on.
func TestGcoreSIGKILL(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := debianInterp(t)
	dir := t.TempDir()
	const heap = 256
	h := startHeap(t, in, heap)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))

	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"gcore", strconv.Itoa(h.PID), "-o", filepath.Join(dir, "core")}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// settle waits for the kernel to release the tracees, then checks.
	settle := func(when string) (targetKilled bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for testenv.NotStopped(h.PID) != nil && time.Now().Before(deadline) && !h.Exited() {
			time.Sleep(5 * time.Millisecond)
		}
		// A killed snapshot, or target, takes a moment to free its memory.
		alive, _ := liveChildren(h.PID)
		for end := time.Now().Add(5 * time.Second); len(alive) > 0 && time.Now().Before(end); alive, _ = liveChildren(h.PID) {
			time.Sleep(10 * time.Millisecond)
		}
		if len(alive) > 0 {
			t.Errorf("%s: the snapshot outlived pyscope: %v", when, alive)
		}
		if err := h.Ping(); err != nil && !h.Exited() {
			t.Fatalf("%s: target does not answer: %v", when, err)
		}
		if h.Exited() {
			ws, _ := h.Cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("%s: the target died: %v", when, h.Cmd.ProcessState)
			}
			return true
		}
		if err := testenv.NotStopped(h.PID); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		for _, tid := range mustTasks(t, h.PID) {
			if st := procStatus(h.PID, tid); st != nil && st["TracerPid"] != "0" {
				t.Fatalf("%s: thread %d still traced by %s", when, tid, st["TracerPid"])
			}
		}
		return false
	}

	for _, mode := range [][]string{nil, {"--fork"}} {
		// How long one gcore takes, to spread the kills over it.
		start := time.Now()
		cmd := run(mode...)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("gcore %v: %v", mode, err)
		}
		took := time.Since(start)
		settle(fmt.Sprintf("gcore %v", mode))
		_, zombiesBefore := liveChildren(h.PID)
		const rounds = 16
		inStop, deaths := 0, 0
		for i := 0; i < rounds; i++ {
			cmd := run(mode...)
			if i%2 == 0 {
				time.Sleep(time.Duration(rng.Int63n(int64(took))))
			} else {
				// Aim at the stop.
				for end := time.Now().Add(took + time.Second); testenv.NotStopped(h.PID) == nil && time.Now().Before(end); {
				}
			}
			stopped := testenv.NotStopped(h.PID) != nil
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if stopped {
				inStop++
			}
			when := fmt.Sprintf("gcore %v, kill %d (target stopped: %v)", mode, i, stopped)
			if settle(when) {
				if mode == nil || !stopped {
					t.Fatalf("%s: the kernel killed the target", when)
				}
				deaths++
				t.Logf("%s: the kill landed in the fork and the kernel killed the target (documented); restarting it", when)
				h = startHeap(t, in, heap)
				zombiesBefore = 0
			}
		}
		_, zombies := liveChildren(h.PID)
		t.Logf("gcore %v: %d SIGKILLs over %v, %d while the target was stopped; %d killed the target; %d zombie snapshots left (killed with pyscope, not reaped)",
			mode, rounds, took, inStop, deaths, zombies-zombiesBefore)
		if inStop == 0 {
			t.Errorf("gcore %v: no kill landed while the target was stopped: the test proved nothing", mode)
		}
	}

	// A kill while the core is written from the child: the parent runs on,
	// the child dies with pyscope.
	cmd := run("--fork")
	var child string
	for deadline := time.Now().Add(30 * time.Second); child == "" && time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		if testenv.NotStopped(h.PID) != nil {
			continue
		}
		if alive, _ := liveChildren(h.PID); len(alive) == 1 && strings.HasSuffix(alive[0], "(t)") {
			child = alive[0]
		}
	}
	if child == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("never saw the snapshot stopped while the parent runs")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if settle("kill while writing from the snapshot " + child) {
		t.Fatal("the target was killed although the fork was long over")
	}
}

func mustTasks(t *testing.T, pid int) []int {
	t.Helper()
	tids, err := testenv.Tasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	return tids
}

// TestBundleSecondOpen: a bundle is unpacked on its first open only; the
// second costs at most 100 ms more than opening the unpacked core itself
// (it took 20 s for a 475 MB bundle, every time). Measured as CPU time
// (rusage) of the pyscope process, less sensitive to a busy machine.
func TestBundleSecondOpen(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	h := startHeap(t, debianInterp(t), 256)
	dir := t.TempDir()
	cache := t.TempDir()
	bundle := filepath.Join(dir, "incident.tar.zst")
	r := runPyscope(t, bin, nil, "gcore", "--bundle", strconv.Itoa(h.PID), "-o", bundle)
	if r.code != 0 {
		t.Fatalf("gcore --bundle: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "secrets included") {
		t.Errorf("gcore --bundle does not say that a bundle holds secrets:\n%s", r.stderr)
	}
	dump := func(args ...string) (string, time.Duration, time.Duration) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"dump", "--json"}, args...)...)
		cmd.Env = append(os.Environ(), "PYSCOPE_CACHE="+cache)
		start := time.Now()
		out, err := cmd.Output()
		wall := time.Since(start)
		if err != nil {
			t.Fatalf("pyscope dump %v: %v", args, err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return string(out), time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), wall
	}
	first, cpu1, wall1 := dump(bundle)
	second, cpu2, wall2 := dump(bundle)
	if first != second {
		t.Errorf("the second open gives another dump:\n%s\nvs\n%s", first, second)
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "bundles", "sha256-*"))
	if len(dirs) != 1 {
		t.Fatalf("bundle cache holds %v, want one unpacked bundle", dirs)
	}
	_, cpu0, wall0 := dump("--sysroot", filepath.Join(dirs[0], "root"), filepath.Join(dirs[0], "core"))
	t.Logf("first open %v CPU (%v wall), second %v (%v), the unpacked core alone %v (%v)", cpu1, wall1, cpu2, wall2, cpu0, wall0)
	if extra := cpu2 - cpu0; extra > 100*time.Millisecond {
		t.Errorf("the second open of the bundle cost %v of CPU more than the core alone, more than 100 ms", extra)
	}
}
