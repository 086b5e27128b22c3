package live

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

const python = "/usr/bin/python3"

// The test binary doubles as an attacher process (for SIGKILL, signal and
// permission tests) when LIVE_TEST_HELPER is set.
func TestMain(m *testing.M) {
	if mode := os.Getenv("LIVE_TEST_HELPER"); mode != "" {
		os.Exit(helperMain(mode, os.Getenv("LIVE_TEST_PID")))
	}
	os.Exit(m.Run())
}

func helperMain(mode, pidStr string) int {
	pid, _ := strconv.Atoi(pidStr)
	switch mode {
	case "mainthread":
		return mainThreadHelper(pid)
	case "attachloop":
		fmt.Println("start")
		for {
			p, err := Open(pid, Options{})
			if err != nil {
				fmt.Println("ERR", err)
				return 1
			}
			var b [64]byte
			for _, m := range p.Mappings() {
				if m.Path == "[heap]" {
					p.ReadAt(b[:], m.Start)
				}
			}
			p.Close()
		}
	case "hold":
		p, err := Open(pid, Options{})
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("attached")
		io.Copy(io.Discard, os.Stdin)
		p.Close()
		return 0
	case "seize":
		runtime.LockOSThread()
		if err := unix.PtraceSeize(pid); err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("seized")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "open", "open-noblock":
		p, err := Open(pid, Options{NoBlock: mode == "open-noblock"})
		if err != nil {
			fmt.Printf("ERR perm=%v %v\n", errors.Is(err, target.ErrPermission), err)
			return 1
		}
		p.Close()
		fmt.Println("OK")
		return 0
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

// helper starts the test binary as a helper process against pid.
func helper(t *testing.T, mode string, pid int) (*exec.Cmd, *lineReader, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LIVE_TEST_HELPER="+mode, "LIVE_TEST_PID="+strconv.Itoa(pid))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, newLineReader(out), in
}

type lineReader struct{ ch chan string }

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{ch: make(chan string, 100)}
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			lr.ch <- s.Text()
		}
		close(lr.ch)
	}()
	return lr
}

func (lr *lineReader) next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-lr.ch:
		if !ok {
			t.Fatal("process closed its output")
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no output within %v", timeout)
	}
	return ""
}

// child is a python3 process that runs script, then echoes stdin lines as
// "echo:LINE" so the test can check it still runs.
type child struct {
	cmd *exec.Cmd
	pid int
	in  io.WriteCloser
	out *lineReader
	seq int
}

const echoLoop = `
import sys
print("ready", flush=True)
for line in sys.stdin:
    sys.stdout.write("echo:" + line)
    sys.stdout.flush()
`

func startPython(t testing.TB, script string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(python, append([]string{"-c", script + echoLoop}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, in: in, out: newLineReader(out)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// until reads lines until one starts with prefix and returns it.
func (c *child) until(t testing.TB, prefix string) string {
	t.Helper()
	for {
		l := c.out.next(t, 10*time.Second)
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// ping checks that the child still runs and answers.
func (c *child) ping(t *testing.T) {
	t.Helper()
	c.seq++
	msg := fmt.Sprintf("ping %d", c.seq)
	if _, err := fmt.Fprintln(c.in, msg); err != nil {
		t.Fatal(err)
	}
	if got := c.until(t, "echo:ping"); got != "echo:"+msg {
		t.Fatalf("child answered %q, want %q", got, "echo:"+msg)
	}
}

// threadStates reads the kernel state of every thread of pid.
func threadStates(t *testing.T, pid int) map[int]string {
	t.Helper()
	tids, err := listTasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, tid := range tids {
		if st := taskState(pid, tid); st != "" {
			m[tid] = st
		}
	}
	return m
}

// assertRunning fails if any thread of pid is stopped.
func assertRunning(t *testing.T, pid int) {
	t.Helper()
	for tid, st := range threadStates(t, pid) {
		if st == "T" || st == "t" {
			t.Fatalf("thread %d of %d left in state %s", tid, pid, st)
		}
	}
}
