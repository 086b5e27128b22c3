package e2e

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// writableDigest hashes every readable, writable mapping of a process.
func writableDigest(t *testing.T, pid int) (string, int64) {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	h := sha256.New()
	var total int64
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") || strings.Contains(sc.Text(), "[vvar") || strings.Contains(sc.Text(), "[vsyscall]") {
			continue
		}
		var lo, hi uint64
		fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
		buf := make([]byte, hi-lo)
		n, _ := mem.ReadAt(buf, int64(lo))
		fmt.Fprintf(h, "%x-%x:%d:", lo, hi, n)
		h.Write(buf[:n])
		total += int64(n)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), total
}

// TestDumpWritesNothing checksums the writable memory of a stopped target
// before and after dumps in every mode: pyscope must not change a byte.
func TestDumpWritesNothing(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.12", "pbs-3.14", "debian-3.11", "src-3.13.5t") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "shapes.py")
			if err := syscall.Kill(tg.PID, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(tg.PID, syscall.SIGCONT)
			// Wait for the group stop to take every thread.
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if testenv.NotStopped(tg.PID) != nil && allStopped(tg.PID) {
					break
				}
			}
			before, n := writableDigest(t, tg.PID)
			for _, args := range [][]string{{"dump"}, {"dump", "--json"}, {"dump", "--no-block"}, {"dump", "--json", "--locals"}} {
				r := runPyscope(t, bin, nil, append(args, strconv.Itoa(tg.PID))...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
				}
			}
			after, _ := writableDigest(t, tg.PID)
			if before != after {
				t.Fatalf("writable memory changed during the dumps (%d bytes hashed)", n)
			}
			if !allStopped(tg.PID) {
				t.Error("a process that was stopped before the dump is no longer stopped")
			}
			t.Logf("%d writable bytes unchanged", n)
		})
	}
}

// TestContinueJobStopped: a session's continue leaves a process that a
// signal stopped before the session stopped, and says so rather than that
// it runs; a process that ran before runs again.
func TestContinueJobStopped(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	tg := testenv.StartTarget(t, anyInterp(t), "shapes.py")
	pid := strconv.Itoa(tg.PID)
	r := runPyscope(t, bin, nil, "debug", pid, "-batch", "-ex", "continue")
	if r.code != 0 || !strings.Contains(r.stdout, "process "+pid+" runs") {
		t.Fatalf("continue of a running process: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := syscall.Kill(tg.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(tg.PID, syscall.SIGCONT)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !allStopped(tg.PID); time.Sleep(10 * time.Millisecond) {
	}
	r = runPyscope(t, bin, nil, "debug", pid, "-batch", "-ex", "continue")
	if r.code != 0 || !strings.Contains(r.stdout, "process "+pid+" stays stopped") || strings.Contains(r.stdout, " runs.") {
		t.Errorf("continue of a process stopped by SIGSTOP: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A thread the session seized and let go re-enters the group stop on
	// its own (the kernel wakes it for that, so it may read R or S for a
	// moment on a loaded machine); one the session resumed stays running.
	if !stoppedWithin(tg.PID, 5*time.Second) {
		t.Error("the session resumed a process that SIGSTOP had stopped")
	}
	syscall.Kill(tg.PID, syscall.SIGCONT)
	tg.CheckRunning(t)
}

// stoppedWithin reports whether every thread of pid is in the stopped
// state within d, and still 200 ms later.
func stoppedWithin(pid int, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if allStopped(pid) {
			time.Sleep(200 * time.Millisecond)
			return allStopped(pid)
		}
	}
	return false
}

func allStopped(pid int) bool {
	tids, err := testenv.Tasks(pid)
	if err != nil {
		return false
	}
	for _, tid := range tids {
		if testenv.TaskState(pid, tid) != 'T' {
			return false
		}
	}
	return true
}
