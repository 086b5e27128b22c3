package testenv

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// StartScript runs `python -c code`, waits until it prints "ready" and every
// thread sleeps in the kernel (three samples in a row), and kills it when
// the test ends. For tests that compare stacks with gdb's on an idle process.
func StartScript(t testing.TB, python, code string) int {
	t.Helper()
	cmd := exec.Command(python, "-c", code)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if s.Text() == "ready" {
				ready <- true
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("target did not start")
	}
	WaitSleeping(t, cmd.Process.Pid)
	return cmd.Process.Pid
}

// WaitSleeping waits until every thread of pid is in state S for three
// samples 50 ms apart.
func WaitSleeping(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for stable := 0; stable < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d does not settle in sleep", pid)
		}
		all := true
		tids, _ := Tasks(pid)
		for _, tid := range tids {
			if st := TaskState(pid, tid); st != 0 && st != 'S' {
				all = false
			}
		}
		if all {
			stable++
		} else {
			stable = 0
		}
	}
}
