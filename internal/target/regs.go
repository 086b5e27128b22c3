package target

import (
	"encoding/binary"
	"fmt"
	"runtime"
)

// Arch is a CPU architecture, numbered as ELF's e_machine: a core says
// its own, a live process has the host's. Nothing that reads a target may
// assume the host's architecture.
type Arch uint16

const (
	AMD64 Arch = 62  // EM_X86_64
	ARM64 Arch = 183 // EM_AARCH64
)

func (a Arch) String() string {
	switch a {
	case AMD64:
		return "x86-64"
	case ARM64:
		return "arm64"
	}
	return fmt.Sprintf("machine %d", uint16(a))
}

// HostArch is the architecture pyscope runs on (that of every live target).
func HostArch() Arch {
	switch runtime.GOARCH {
	case "amd64":
		return AMD64
	case "arm64":
		return ARM64
	}
	return 0
}

// Regs is one thread's general registers, as a *AMD64Regs or a *ARM64Regs.
type Regs interface {
	Arch() Arch
	PC() uint64
	SP() uint64
	// Syscall is the system call the thread is in, -1 when none; ok is
	// false when the registers cannot tell.
	Syscall() (nr int, ok bool)
	// Interrupted reports a thread stopped in a system call that was
	// sleeping when a signal or a stop interrupted it, and that the
	// kernel is about to restart: a sleeping thread woken only by that;
	// ok is false when the registers cannot tell.
	Interrupted() (interrupted, ok bool)
	// ThreadPointer is the thread's TLS base, which glibc's
	// pthread_self() returns; ok is false where it is not a register here.
	ThreadPointer() (tp uint64, ok bool)
	// SyscallArgs are the arguments of the system call the thread is in
	// (meaningful when Syscall says it is in one); ok is false where the
	// registers no longer hold them.
	SyscallArgs() (args [6]uint64, ok bool)
	// Prstatus is the register set as a core's NT_PRSTATUS stores it
	// (pr_reg: struct user_regs_struct / user_pt_regs).
	Prstatus() []byte
}

// AMD64Regs is struct user_regs_struct of x86-64, in its order.
type AMD64Regs struct {
	R15, R14, R13, R12, Rbp, Rbx, R11, R10, R9, R8  uint64
	Rax, Rcx, Rdx, Rsi, Rdi, OrigRax, Rip, Cs       uint64
	Eflags, Rsp, Ss, FsBase, GsBase, Ds, Es, Fs, Gs uint64
}

// AMD64RegsSize is the size of NT_PRSTATUS's pr_reg on x86-64.
const AMD64RegsSize = 27 * 8

func (r *AMD64Regs) fields() []*uint64 {
	return []*uint64{&r.R15, &r.R14, &r.R13, &r.R12, &r.Rbp, &r.Rbx, &r.R11, &r.R10, &r.R9, &r.R8,
		&r.Rax, &r.Rcx, &r.Rdx, &r.Rsi, &r.Rdi, &r.OrigRax, &r.Rip, &r.Cs,
		&r.Eflags, &r.Rsp, &r.Ss, &r.FsBase, &r.GsBase, &r.Ds, &r.Es, &r.Fs, &r.Gs}
}

func (r *AMD64Regs) Arch() Arch       { return AMD64 }
func (r *AMD64Regs) PC() uint64       { return r.Rip }
func (r *AMD64Regs) SP() uint64       { return r.Rsp }
func (r *AMD64Regs) Prstatus() []byte { return putRegs(r.fields()) }

// Syscall: orig_rax holds the number from entry until the thread returns to
// user mode, and -1 when the kernel was entered otherwise (interrupt,
// fault, signal).
func (r *AMD64Regs) Syscall() (int, bool) {
	nr := int64(r.OrigRax)
	if nr < 0 || nr > 1<<16 {
		return -1, true
	}
	return int(nr), true
}

// Interrupted: the kernel leaves the restart codes ERESTARTSYS (512),
// ERESTARTNOINTR, ERESTARTNOHAND and ERESTART_RESTARTBLOCK (516), negated,
// in rax until it restarts the call, which it does only once the thread
// runs again.
func (r *AMD64Regs) Interrupted() (bool, bool) {
	if int64(r.OrigRax) < 0 {
		return false, true
	}
	ret := int64(r.Rax)
	return ret >= -516 && ret <= -512, true
}

func (r *AMD64Regs) ThreadPointer() (uint64, bool) { return r.FsBase, r.FsBase != 0 }

// SyscallArgs: the x86-64 system call convention (rdi, rsi, rdx, r10, r8,
// r9), which the kernel leaves in place.
func (r *AMD64Regs) SyscallArgs() ([6]uint64, bool) {
	return [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}, true
}

// ARM64Regs is struct user_pt_regs of arm64.
type ARM64Regs struct {
	X      [31]uint64 // x0..x30 (x29 frame pointer, x30 link register)
	Sp, Pc uint64
	Pstate uint64
}

// ARM64RegsSize is the size of NT_PRSTATUS's pr_reg on arm64.
const ARM64RegsSize = 34 * 8

func (r *ARM64Regs) fields() []*uint64 {
	f := make([]*uint64, 0, 34)
	for i := range r.X {
		f = append(f, &r.X[i])
	}
	return append(f, &r.Sp, &r.Pc, &r.Pstate)
}

func (r *ARM64Regs) Arch() Arch       { return ARM64 }
func (r *ARM64Regs) PC() uint64       { return r.Pc }
func (r *ARM64Regs) SP() uint64       { return r.Sp }
func (r *ARM64Regs) Prstatus() []byte { return putRegs(r.fields()) }

// Syscall: arm64's general registers do not say whether the thread is in
// a system call (the number is in x8 only at entry).
func (r *ARM64Regs) Syscall() (int, bool) { return -1, false }

// Interrupted: without the system call number, x0's value cannot be told
// from a return value.
func (r *ARM64Regs) Interrupted() (bool, bool) { return false, false }

// ThreadPointer: TPIDR_EL0 is not a general register.
func (r *ARM64Regs) ThreadPointer() (uint64, bool) { return 0, false }

// SyscallArgs: the kernel returns its result in x0, the first argument.
func (r *ARM64Regs) SyscallArgs() ([6]uint64, bool) { return [6]uint64{}, false }

// DecodePrstatusRegs decodes NT_PRSTATUS's pr_reg of arch; it returns nil
// when b is too short or the architecture unknown.
func DecodePrstatusRegs(arch Arch, b []byte) Regs {
	switch arch {
	case AMD64:
		if len(b) < AMD64RegsSize {
			return nil
		}
		r := new(AMD64Regs)
		getRegs(r.fields(), b)
		return r
	case ARM64:
		if len(b) < ARM64RegsSize {
			return nil
		}
		r := new(ARM64Regs)
		getRegs(r.fields(), b)
		return r
	}
	return nil
}

// PrstatusRegsSize is the size of NT_PRSTATUS's pr_reg of arch (0 when
// unknown).
func PrstatusRegsSize(arch Arch) int {
	switch arch {
	case AMD64:
		return AMD64RegsSize
	case ARM64:
		return ARM64RegsSize
	}
	return 0
}

func getRegs(f []*uint64, b []byte) {
	for i, p := range f {
		*p = binary.LittleEndian.Uint64(b[8*i:])
	}
}

func putRegs(f []*uint64) []byte {
	b := make([]byte, 8*len(f))
	for i, p := range f {
		binary.LittleEndian.PutUint64(b[8*i:], *p)
	}
	return b
}
