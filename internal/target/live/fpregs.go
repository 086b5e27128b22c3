package live

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FPRegsSize is the size of struct user_fpregs_struct (FXSAVE layout).
const FPRegsSize = 512

// FPRegs returns a stopped thread's floating-point registers (struct
// user_fpregs_struct, as in a core's NT_FPREGSET) via PTRACE_GETFPREGS.
func (p *Process) FPRegs(tid int) ([]byte, error) {
	p.mu.Lock()
	tr := p.tr
	stopped := false
	for _, t := range p.tracees {
		if t.tid == tid && t.stopped && !t.gone {
			stopped = true
		}
	}
	p.mu.Unlock()
	if tr == nil || !stopped {
		return nil, fmt.Errorf("thread %d of process %d is not stopped", tid, p.pid)
	}
	buf := make([]byte, FPRegsSize)
	err := tr.do(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETFPREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(&buf[0])), 0, 0)
		if e != 0 {
			return fmt.Errorf("PTRACE_GETFPREGS on thread %d: %v", tid, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return buf, nil
}
