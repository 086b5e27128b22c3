package gcore_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"pyscope/internal/gcore"
	"pyscope/internal/target/core"
	"pyscope/internal/target/core/coretest"
)

// TestDumpWhileParentWaits writes cores (coretest.Gcore) in a process that is also the
// target's parent and waits for it as os/exec does (waitid, WEXITED). That
// wait reaps the main thread's ptrace-stops; Dump used to miss the stop,
// wait a second, write the main thread with zero registers (PC 0) and
// sometimes leave it in tracing stop.
func TestDumpWhileParentWaits(t *testing.T) {
	ch := coretest.Start(t, coretest.Python312(t))
	pid := ch.Facts.PID
	var stolen atomic.Int64
	go func() {
		for {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED, nil)
			if err == unix.EINTR {
				continue
			}
			// si_code 4 is CLD_TRAPPED: a ptrace-stop taken from the tracer.
			if err != nil || *(*int32)(unsafe.Add(unsafe.Pointer(&info), 8)) != 4 {
				return
			}
			stolen.Add(1)
		}
	}()
	path := filepath.Join(t.TempDir(), "core")
	const rounds = 6
	for i := 0; i < rounds; i++ {
		st, err := coretest.Gcore(pid, path, gcore.Options{Warn: func(s string) { t.Errorf("round %d: %s", i, s) }})
		if err != nil {
			t.Fatal(err)
		}
		if st.Pause > 500*time.Millisecond {
			t.Errorf("round %d: paused %v", i, st.Pause)
		}
		for _, tid := range coretest.Tasks(t, pid) {
			if s := taskState(pid, tid); s == "t" || s == "T" {
				t.Errorf("round %d: thread %d in state %s after Dump", i, tid, s)
			}
		}
		c, err := core.Open(path, core.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range c.Threads() {
			if th.Regs == nil || th.Regs.PC() == 0 {
				t.Errorf("round %d: thread %d has no PC in the core", i, th.TID)
			}
		}
		c.Close()
		if t.Failed() {
			break
		}
	}
	t.Logf("%d dumps, %d stop notifications taken by the waiting parent", rounds, stolen.Load())
}

func taskState(pid, tid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return string(b[i+2])
	}
	return ""
}
