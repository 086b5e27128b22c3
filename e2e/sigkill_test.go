package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// killMode is one way of running pyscope against the target.
type killMode struct {
	name   string
	rounds int
	// maxDelay bounds the random delay before the kill (about the time
	// the command takes, so kills spread over all of it).
	maxDelay time.Duration
	// args builds the command line; dir is a scratch directory.
	args func(pid int, dir string) []string
	// stdin, if set, is written to pyscope's stdin (kept open).
	stdin string
}

// TestSIGKILLAtRandomMoments kills pyscope with SIGKILL at random moments
// of `dump --stop-all`, `dump --native`, `gcore` and a `debug` session, over 200
// times in all. After every kill no thread of the target may be stopped or
// traced, no signal may be pending for it, its own handlers (for every
// catchable signal) must have recorded nothing, and it must answer.
func TestSIGKILLAtRandomMoments(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	modes := []killMode{
		// The default dump stops at most the GIL's holder, for well under
		// a millisecond here (sigwatch.py's threads sleep): random kills
		// would seldom land in its pause, so this mode stops every thread.
		// TestDumpSurvivesSIGKILL kills default dumps inside their pause.
		{name: "dump --stop-all", rounds: 36, maxDelay: 40 * time.Millisecond,
			args: func(pid int, _ string) []string { return []string{"dump", "--stop-all", strconv.Itoa(pid)} }},
		{name: "dump --native", rounds: 16, maxDelay: 700 * time.Millisecond,
			args: func(pid int, _ string) []string { return []string{"dump", "--native", strconv.Itoa(pid)} }},
		{name: "gcore", rounds: 30, maxDelay: 60 * time.Millisecond,
			args: func(pid int, dir string) []string {
				return []string{"gcore", strconv.Itoa(pid), "-o", filepath.Join(dir, "core")}
			}},
		// The session holds the target stopped until it is told to
		// continue or quit: most kills land while it is attached.
		{name: "debug", rounds: 22, maxDelay: 1200 * time.Millisecond,
			args:  func(pid int, _ string) []string { return []string{"debug", strconv.Itoa(pid)} },
			stdin: "py-bt\ninfo threads\nbt\nthread 2\npy-bt\ncontinue\ninterrupt\npy-bt\n"},
	}
	for _, in := range pick(t, "pbs-3.10", "pbs-3.14") { // shared libpython with DWARF; static, stripped
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath := filepath.Join(dir, "signals.log")
			tg := testenv.StartPlain(t, in, "sigwatch.py", "ready", logPath)
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			total, whileStopped := 0, 0
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
				if stopped == 0 && m.name != "dump --native" {
					t.Errorf("%s: no kill landed while the target was stopped: the test proved nothing", m.name)
				}
				total += m.rounds
				whileStopped += stopped
			}
			// Handlers run on the main thread between its short sleeps.
			time.Sleep(200 * time.Millisecond)
			checkUntouched(t, tg, logPath, "at the end")
			t.Logf("%s: %d SIGKILLs of pyscope in all, %d while the target was stopped; no signal reached the target", in.Name, total, whileStopped)
		})
	}
}

// killOnce runs pyscope, kills it after a random delay (or, every other
// round, as soon as the target is seen stopped) and reports whether the
// target was stopped at the kill.
func killOnce(t *testing.T, bin string, tg *testenv.Target, m killMode, dir string, rng *rand.Rand, i int) bool {
	t.Helper()
	cmd := exec.Command(bin, m.args(tg.PID, dir)...)
	cmd.Dir = dir
	var stdin io.WriteCloser
	if m.stdin != "" {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if stdin != nil {
		go func() { io.WriteString(stdin, m.stdin) }()
	}
	if i%2 == 0 {
		time.Sleep(time.Duration(rng.Int63n(int64(m.maxDelay))))
	} else {
		// Aim for the pause: wait until a thread is in tracing stop, then
		// kill at once or a little later (up to a quarter of the range).
		for end := time.Now().Add(m.maxDelay + 500*time.Millisecond); time.Now().Before(end); {
			if testenv.NotStopped(tg.PID) != nil {
				break
			}
		}
		if i%4 == 3 {
			time.Sleep(time.Duration(rng.Int63n(int64(m.maxDelay/4) + 1)))
		}
	}
	stopped := testenv.NotStopped(tg.PID) != nil
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if stdin != nil {
		stdin.Close()
	}
	os.Remove(filepath.Join(dir, "core"))
	// The kernel releases the tracees while the tracer exits, before
	// wait returns; allow a little slack for a loaded machine anyway.
	deadline := time.Now().Add(2 * time.Second)
	for testenv.NotStopped(tg.PID) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return stopped
}

// checkUntouched fails the test if the target is stopped, traced, has a
// signal pending, recorded a signal, or does not answer.
func checkUntouched(t *testing.T, tg *testenv.Target, logPath, when string) {
	t.Helper()
	if err := testenv.NotStopped(tg.PID); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	tids, err := testenv.Tasks(tg.PID)
	if err != nil {
		t.Fatalf("%s: target gone: %v", when, err)
	}
	for _, tid := range tids {
		st := procStatus(tg.PID, tid)
		if st == nil {
			continue // thread ended
		}
		if st["TracerPid"] != "0" {
			t.Errorf("%s: thread %d still traced by %s", when, tid, st["TracerPid"])
		}
		for _, k := range []string{"SigPnd", "ShdPnd"} {
			if strings.Trim(st[k], "0") != "" {
				t.Errorf("%s: thread %d has signals pending: %s %s", when, tid, k, st[k])
			}
		}
	}
	if b, _ := os.ReadFile(logPath); len(b) > 0 {
		t.Errorf("%s: the target received signals (numbers): %q", when, b)
	}
	if err := tg.Ping(); err != nil {
		t.Fatalf("%s: target does not answer: %v", when, err)
	}
}

// procStatus reads /proc/PID/task/TID/status as a map.
func procStatus(pid, tid int) map[string]string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
