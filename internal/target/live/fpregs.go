package live

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxFPRegs bounds NT_PRFPREG: x86-64's user_fpregs_struct is 512 bytes
// (FXSAVE layout), arm64's user_fpsimd_state 528.
const maxFPRegs = 1024

// FPRegs returns a stopped thread's floating-point registers as a core's
// NT_FPREGSET holds them (PTRACE_GETREGSET of NT_PRFPREG).
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
	buf := make([]byte, maxFPRegs)
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	const ntPrfpreg = 2
	err := tr.do(func() error {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(tid), ntPrfpreg, uintptr(unsafe.Pointer(&iov)), 0, 0)
		if e != 0 {
			return fmt.Errorf("PTRACE_GETREGSET(NT_PRFPREG) on thread %d: %v", tid, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return buf[:iov.Len], nil
}
