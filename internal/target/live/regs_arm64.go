package live

import (
	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

// getRegs reads a stopped thread's registers; call it on the tracer thread.
func getRegs(tid int) (target.Regs, error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return nil, err
	}
	return &target.ARM64Regs{X: r.Regs, Sp: r.Sp, Pc: r.Pc, Pstate: r.Pstate}, nil
}
