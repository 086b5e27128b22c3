// Package unwind walks the native stack of a thread: DWARF CFI from
// .eh_frame/.debug_frame, signal frames, and frame pointers where there is
// no CFI. It only reads the target.
package unwind

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"pyscope/internal/target"
)

// Frame is one native frame, innermost first.
type Frame struct {
	PC  uint64
	CFA uint64 // canonical frame address (the caller's SP); 0 if unknown
	SP  uint64
	// Module is the mapped file holding PC ("" for anonymous memory) and
	// ModuleOffset PC's link-time address in it (what addr2line -e wants).
	Module       string
	ModuleOffset uint64
	// Signal marks a signal trampoline (__restore_rt): the next frame was
	// interrupted, not calling.
	Signal bool
	// ReturnAddress says PC is a return address: symbolize PC-1 (see
	// LookupPC), since a call may be the last instruction of a function.
	ReturnAddress bool
}

// LookupPC is the address to symbolize the frame with.
func (f Frame) LookupPC() uint64 {
	// A signal trampoline's PC is its entry, not a return site.
	if f.ReturnAddress && !f.Signal && f.PC > 0 {
		return f.PC - 1
	}
	return f.PC
}

// DefaultMax is the depth limit when Unwind is given max <= 0: deep enough
// for a recursion at Python's default limit (1,000) that goes through C
// at each level (about ten native frames a level on 3.10) to be unwound
// whole, so that it merges with its Python frames.
const DefaultMax = 1 << 16

// Bounds of the frame-pointer fallback.
const maxFrameSize = 64 << 20

// regset holds registers in DWARF numbering.
type regset struct {
	v  [numRegs]uint64
	ok [numRegs]bool
}

func fromRegs(r *target.AMD64Regs) regset {
	var s regset
	s.v = [numRegs]uint64{r.Rax, r.Rdx, r.Rcx, r.Rbx, r.Rsi, r.Rdi, r.Rbp, r.Rsp,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15, r.Rip}
	for i := range s.ok {
		s.ok[i] = true
	}
	return s
}

type env struct {
	t    target.Memory
	regs *regset
}

func (e env) reg(n uint64) (uint64, bool) {
	if n >= numRegs || !e.regs.ok[n] {
		return 0, false
	}
	return e.regs.v[n], true
}

func (e env) read(addr uint64, size int) (uint64, error) {
	var b [8]byte
	n, err := e.t.ReadAt(b[:size], addr)
	if n != size {
		if err == nil {
			err = fmt.Errorf("short read at %#x", addr)
		}
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// sigreturn is glibc's __restore_rt: mov $15,%rax; syscall.
var sigreturn = []byte{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05}

// Offsets in the kernel's rt_sigframe, from the SP at __restore_rt (the
// handler's return popped pretcode): struct ucontext starts there and its
// uc_mcontext (struct sigcontext) at +40 (uc_flags, uc_link, uc_stack).
const mcontextOff = 40

// sigcontext slot of each DWARF register (struct sigcontext order: r8..r15,
// rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
var sigcontextSlot = [numRegs]int{
	0: 13, 1: 12, 2: 14, 3: 11, 4: 9, 5: 8, 6: 10, 7: 15,
	8: 0, 9: 1, 10: 2, 11: 3, 12: 4, 13: 5, 14: 6, 15: 7, 16: 16,
}

// ErrStopped is what Unwind's error wraps when the walk began but stopped
// before the stack's end (a frame it cannot step, a cycle, the depth
// limit): the frames it returns are then the stack's innermost part. An
// error that does not wrap it means no walk was made at all.
var ErrStopped = errors.New("unwind stopped before the stack's end")

// stopError is an early stop, worded as the caller shows it.
type stopError struct{ msg string }

func (e *stopError) Error() string        { return e.msg }
func (e *stopError) Is(target error) bool { return target == ErrStopped }

func stopped(format string, args ...any) error {
	return &stopError{fmt.Sprintf(format, args...)}
}

// Unwind walks the stack of a thread from its registers, innermost frame
// first, at most max frames. The frames are valid even when err is not
// nil: err says why the walk stopped before the stack's end, and wraps
// ErrStopped when frames were walked.
func Unwind(t target.Target, regs target.Regs, res Resolver, max int) ([]Frame, error) {
	if regs == nil {
		return nil, errors.New("no registers for this thread")
	}
	// The unwinder knows x86-64's registers, signal frames and calling
	// convention; other architectures' stacks are not walked yet.
	amd64, ok := regs.(*target.AMD64Regs)
	if !ok {
		return nil, fmt.Errorf("native stacks of %s are not supported", regs.Arch())
	}
	if max <= 0 {
		max = DefaultMax
	}
	u := unwinder{t: t, res: res, maps: t.Mappings()}
	cur := fromRegs(amd64)
	var frames []Frame
	seen := map[[2]uint64]bool{}
	returnAddr := false
	for len(frames) < max {
		pc := cur.v[regRA]
		if pc == 0 {
			return frames, nil
		}
		f := Frame{PC: pc, SP: cur.v[regRSP], ReturnAddress: returnAddr}
		mod := res.Module(pc)
		if mod != nil {
			f.Module = mod.Path
			f.ModuleOffset = pc - mod.Bias
		}
		next, cfa, signal, end, err := u.step(&cur, mod, f, len(frames) == 0)
		f.CFA = cfa
		f.Signal = signal
		frames = append(frames, f)
		if err != nil {
			return frames, stopped("unwind stopped at %#x: %v", pc, err)
		}
		if end {
			return frames, nil
		}
		if !signal && next.v[regRSP] <= cur.v[regRSP] && next.v[regRA] != 0 {
			return frames, stopped("unwind stopped at %#x: the stack does not grow", pc)
		}
		key := [2]uint64{next.v[regRA], next.v[regRSP]}
		if seen[key] {
			return frames, stopped("unwind stopped at %#x: frame cycle", pc)
		}
		seen[key] = true
		returnAddr = !signal
		cur = next
	}
	return frames, stopped("unwind stopped after %d frames (depth limit)", max)
}

type unwinder struct {
	t    target.Target
	res  Resolver
	maps []target.Mapping
}

// step computes the caller's registers. end means the stack's end was
// reached (return address undefined).
func (u *unwinder) step(cur *regset, mod *Module, f Frame, first bool) (next regset, cfa uint64, signal, end bool, err error) {
	if u.isSigreturn(f.PC, mod) || (first && f.PC >= 7 && u.isSigreturn(f.PC-7, mod)) {
		next, err = u.sigFrame(cur)
		return next, next.v[regRSP], true, false, err
	}
	if mod != nil && mod.CFI != nil {
		vpc := f.LookupPC() - mod.Bias
		if fde, ferr := mod.CFI.FindFDE(vpc); ferr == nil {
			row, rerr := mod.CFI.Row(fde, vpc)
			if rerr != nil {
				return next, 0, false, false, rerr
			}
			next, cfa, end, err = u.applyRow(cur, row, fde.CIE.RAReg)
			return next, cfa, fde.CIE.Signal, end, err
		}
	}
	next, cfa, end, err = u.framePointer(cur)
	return next, cfa, false, end, err
}

func (u *unwinder) isSigreturn(pc uint64, mod *Module) bool {
	var b [9]byte
	if n, _ := u.t.ReadAt(b[:], pc); n == len(b) {
		return bytes.Equal(b[:], sigreturn)
	}
	if mod != nil && mod.ReadCode(b[:], pc-mod.Bias) {
		return bytes.Equal(b[:], sigreturn)
	}
	return false
}

// sigFrame restores the interrupted registers from the ucontext the kernel
// pushed.
func (u *unwinder) sigFrame(cur *regset) (regset, error) {
	var next regset
	var b [17 * 8]byte
	addr := cur.v[regRSP] + mcontextOff
	if n, err := u.t.ReadAt(b[:], addr); n != len(b) {
		return next, fmt.Errorf("signal frame at %#x unreadable: %v", addr, err)
	}
	for r := 0; r < numRegs; r++ {
		next.v[r] = binary.LittleEndian.Uint64(b[sigcontextSlot[r]*8:])
		next.ok[r] = true
	}
	return next, nil
}

// applyRow unwinds one frame with a CFI row.
func (u *unwinder) applyRow(cur *regset, row *Row, raReg uint64) (next regset, cfa uint64, end bool, err error) {
	e := env{t: u.t, regs: cur}
	if row.CFAExpr != nil {
		cfa, err = evalExpr(row.CFAExpr, e)
		if err != nil {
			return next, 0, false, err
		}
	} else {
		v, ok := e.reg(row.CFAReg)
		if !ok {
			return next, 0, false, fmt.Errorf("CFA register %d unknown", row.CFAReg)
		}
		cfa = v + uint64(row.CFAOffset)
	}
	if raReg >= numRegs {
		return next, cfa, false, fmt.Errorf("return address column %d unsupported", raReg)
	}
	next = *cur
	for r := 0; r < numRegs; r++ {
		ru := row.Regs[r]
		var v uint64
		ok := true
		switch ru.kind {
		case ruleSame:
			v, ok = cur.v[r], cur.ok[r]
			if r == regRSP {
				v, ok = cfa, true // the caller's SP is the CFA by definition
			}
		case ruleUndefined:
			ok = false
		case ruleOffset:
			v, err = e.read(cfa+uint64(ru.off), 8)
		case ruleValOffset:
			v = cfa + uint64(ru.off)
		case ruleRegister:
			v, ok = e.reg(ru.reg)
		case ruleExpr:
			var a uint64
			if a, err = evalExpr(ru.expr, e, cfa); err == nil {
				v, err = e.read(a, 8)
			}
		case ruleValExpr:
			v, err = evalExpr(ru.expr, e, cfa)
		}
		if err != nil {
			if uint64(r) == raReg {
				return next, cfa, false, fmt.Errorf("return address: %v", err)
			}
			// A callee-saved register we cannot restore is unknown in
			// the caller, not fatal.
			err, ok = nil, false
		}
		next.v[r], next.ok[r] = v, ok
	}
	if raReg != regRA {
		next.v[regRA], next.ok[regRA] = next.v[raReg], next.ok[raReg]
	}
	if !next.ok[regRA] {
		if row.Regs[raReg].kind == ruleUndefined {
			return next, cfa, true, nil // outermost frame (_start, clone)
		}
		return next, cfa, false, errors.New("return address unknown")
	}
	return next, cfa, false, nil
}

// framePointer unwinds with the RBP chain: [rbp] is the caller's rbp and
// [rbp+8] the return address.
// A zero RBP is the outermost frame (the ABI has _start clear it).
func (u *unwinder) framePointer(cur *regset) (next regset, cfa uint64, end bool, err error) {
	rbp, sp := cur.v[regRBP], cur.v[regRSP]
	if !cur.ok[regRBP] {
		return next, 0, false, errors.New("no CFI and no frame pointer")
	}
	if rbp == 0 {
		return next, 0, true, nil
	}
	if rbp%8 != 0 || rbp < sp || rbp-sp > maxFrameSize {
		return next, 0, false, fmt.Errorf("no CFI and a bad frame pointer %#x", rbp)
	}
	e := env{t: u.t, regs: cur}
	callerRBP, err := e.read(rbp, 8)
	if err != nil {
		return next, 0, false, err
	}
	ra, err := e.read(rbp+8, 8)
	if err != nil {
		return next, 0, false, err
	}
	if ra != 0 && !u.executable(ra) {
		return next, 0, false, fmt.Errorf("no CFI and the frame pointer chain leads to a non-code address %#x", ra)
	}
	next = *cur
	// Caller-saved registers are unknown after a frame-pointer step.
	for _, r := range []int{0, 1, 2, 4, 5, 8, 9, 10, 11} {
		next.ok[r] = false
	}
	cfa = rbp + 16
	next.v[regRBP], next.ok[regRBP] = callerRBP, true
	next.v[regRSP] = cfa
	next.v[regRA] = ra
	return next, cfa, false, nil
}

func (u *unwinder) executable(addr uint64) bool {
	lo, hi := 0, len(u.maps)
	for lo < hi {
		m := (lo + hi) / 2
		if u.maps[m].End <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(u.maps) && u.maps[lo].Start <= addr {
		p := u.maps[lo].Perms
		return len(p) < 3 || p[2] == 'x'
	}
	return false
}
