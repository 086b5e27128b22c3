//go:build !amd64

package live

import (
	"errors"
	"fmt"
	"runtime"
)

// The fork runs a system call in a borrowed thread, with registers and
// system call numbers of x86-64 only.

func (p *Process) syscallInstruction() (uint64, error) {
	return 0, fmt.Errorf("%w: not supported on %s", ErrForkRefused, runtime.GOARCH)
}

func (p *Process) forkIn(*Snapshot, []*tracee) error {
	return fmt.Errorf("%w: not supported on %s", ErrForkRefused, runtime.GOARCH)
}

func reapVia(pid, tid, child int, at uint64) error {
	return errors.New("not supported on " + runtime.GOARCH)
}

func endsWithEINTR(int) bool { return false }
