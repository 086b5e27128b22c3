package main

import (
	"fmt"

	"pyscope/internal/target/live"
)

// sameProcess guards against PID reuse: a dump that starts on one process
// and ends on another (the first exited and its PID was recycled) must not
// mix the two. It compares the kernel's start time of the PID.
type sameProcess struct {
	pid   int
	start uint64
}

func watchPID(pid int) sameProcess {
	st, _ := live.StartTicks(pid)
	return sameProcess{pid: pid, start: st}
}

// check fails when the PID now belongs to a different process.
func (s sameProcess) check() error {
	if s.start == 0 {
		return nil
	}
	st, err := live.StartTicks(s.pid)
	if err == nil && st != s.start {
		return fmt.Errorf("process %d exited during the dump and its PID now belongs to another process; run pyscope again", s.pid)
	}
	return nil
}
