package engine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/testenv"
)

// stepper parks its main thread in a read at another depth after each
// line it is given, and says where first: its native ID and its stack,
// innermost first, as traceback sees it from the line it blocks on.
const stepper = `
import sys, threading, time, traceback
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
def report():
    st = traceback.extract_stack(sys._getframe(1))
    sys.stdout.write("stack %d %s\n" % (threading.get_native_id(),
        ";".join("%s:%d" % (f.name, f.lineno) for f in reversed(st))))
    sys.stdout.flush()
    return -1
def level(n):
    if n == 0:
        return sys.stdin.readline(report())
    return level(n - 1)
k = 0
while level(k % 4):
    k += 1
`

// TestSamplingSeesEveryMove checks a profiler's captures of a process
// that is parked between moves: a capture may reuse what the last one
// read only while no thread ran since, so every capture after a move
// shows the new stack, and the ones after those the same.
func TestSamplingSeesEveryMove(t *testing.T) {
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			cmd := exec.Command(in.Path, "-c", stepper)
			cmd.Env = append(os.Environ(), in.Env...)
			cmd.Stderr = os.Stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			lines := make(chan string, 16)
			go func() {
				for s := bufio.NewScanner(stdout); s.Scan(); {
					lines <- s.Text()
				}
				close(lines)
			}()
			var p *Process
			var buf []cpython.Stack
			for step := 0; step < 8; step++ {
				var line string
				select {
				case line = <-lines:
				case <-time.After(30 * time.Second):
					t.Fatalf("step %d: the target said nothing", step)
				}
				if p == nil { // once the interpreter runs
					if p, err = OpenProcess(cmd.Process.Pid, Options{Sampling: true}); err != nil {
						t.Fatal(err)
					}
					defer closeBounded(t, p)
				}
				f := strings.Fields(line)
				if len(f) != 3 || f[0] != "stack" {
					t.Fatalf("step %d: the target said %q", step, line)
				}
				tid, _ := strconv.Atoi(f[1])
				want := f[2]
				testenv.WaitSleeping(t, cmd.Process.Pid)
				for i := 0; i < 3; i++ {
					c, err := bounded(t, "capture", func() (*Capture, error) { return p.Capture(StopNone) })
					if err != nil {
						t.Fatal(err)
					}
					buf = p.Stacks(c, buf)
					got := "no such thread"
					for _, st := range buf {
						if st.NativeID == tid {
							var fr []string
							for _, sf := range st.Frames {
								fr = append(fr, fmt.Sprintf("%s:%d", sf.Function(), sf.Line))
							}
							got = strings.Join(fr, ";")
						}
					}
					if got != want {
						t.Fatalf("step %d, capture %d: main thread at %s, the target says %s", step, i+1, got, want)
					}
				}
				if _, err := stdin.Write([]byte("\n")); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
