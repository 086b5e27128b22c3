package unwind

import (
	"errors"
	"fmt"
)

// Limits of the DWARF expression evaluator: CFI expressions are a handful
// of operations, so anything bigger is garbage.
const (
	maxExprSteps = 1000
	maxExprStack = 64
)

// exprEnv is what a CFI expression may read: the registers of the frame
// being unwound and the target's memory.
type exprEnv interface {
	reg(n uint64) (uint64, bool)
	read(addr uint64, size int) (uint64, error)
}

var errExprStack = errors.New("DWARF expression: stack underflow or overflow")

// exprMachine is the state of one evaluation: the operand stack and the
// position in the expression.
type exprMachine struct {
	stack [maxExprStack]uint64
	sp    int
	r     *buf
	env   exprEnv
}

// evalExpr evaluates a DWARF expression (the subset CFI uses: no pieces,
// no frame base, no calls) and returns the top of the stack. initial
// values are pushed first (the CFA for DW_CFA_expression rules).
func evalExpr(expr []byte, env exprEnv, initial ...uint64) (uint64, error) {
	m := &exprMachine{r: &buf{B: expr}, env: env}
	for _, v := range initial {
		if err := m.push(v); err != nil {
			return 0, err
		}
	}
	for steps := 0; m.r.Left() > 0; steps++ {
		if steps >= maxExprSteps {
			return 0, errors.New("DWARF expression: too many steps")
		}
		if err := m.exec(m.r.U8()); err != nil {
			return 0, err
		}
		if m.r.Err != nil {
			return 0, fmt.Errorf("DWARF expression: truncated")
		}
	}
	if err := m.need(1); err != nil {
		return 0, err
	}
	return m.stack[m.sp-1], nil
}

func (m *exprMachine) push(v uint64) error {
	if m.sp == len(m.stack) {
		return errExprStack
	}
	m.stack[m.sp] = v
	m.sp++
	return nil
}

// need checks that the stack holds at least n entries.
func (m *exprMachine) need(n int) error {
	if m.sp < n {
		return errExprStack
	}
	return nil
}

// exec runs one operation.
func (m *exprMachine) exec(op byte) error {
	switch {
	case op == DW_OP_addr, op >= DW_OP_const1u && op <= DW_OP_consts, op >= DW_OP_lit0 && op <= DW_OP_lit31:
		return m.push(m.constant(op))
	case op >= DW_OP_reg0 && op <= DW_OP_breg31, op == DW_OP_regx, op == DW_OP_bregx:
		return m.register(op)
	case op >= DW_OP_dup && op <= DW_OP_rot:
		return m.stackOp(op)
	case op == DW_OP_deref, op == DW_OP_deref_size:
		return m.deref(op)
	case op == DW_OP_abs, op == DW_OP_neg, op == DW_OP_not, op == DW_OP_plus_uconst:
		return m.unary(op)
	case op >= DW_OP_and && op <= DW_OP_ne && op != DW_OP_neg && op != DW_OP_not &&
		op != DW_OP_plus_uconst && op != DW_OP_bra:
		return m.binary(op)
	case op == DW_OP_skip, op == DW_OP_bra:
		return m.branch(op)
	case op == DW_OP_nop:
		return nil
	}
	return fmt.Errorf("DWARF expression: unsupported operation %#x", op)
}

// constant reads the value a literal or constant operation pushes.
func (m *exprMachine) constant(op byte) uint64 {
	r := m.r
	switch op {
	case DW_OP_addr, DW_OP_const8u, DW_OP_const8s:
		return r.U64()
	case DW_OP_const1u:
		return uint64(r.U8())
	case DW_OP_const1s:
		return uint64(int64(int8(r.U8())))
	case DW_OP_const2u:
		return uint64(r.U16())
	case DW_OP_const2s:
		return uint64(int64(int16(r.U16())))
	case DW_OP_const4u:
		return uint64(r.U32())
	case DW_OP_const4s:
		return uint64(int64(int32(r.U32())))
	case DW_OP_constu:
		return r.Uleb()
	case DW_OP_consts:
		return uint64(r.Sleb())
	}
	return uint64(op - DW_OP_lit0)
}

// register pushes a register's value (DW_OP_reg*, as CFI uses them) or a
// register plus an offset (DW_OP_breg*).
func (m *exprMachine) register(op byte) error {
	var n uint64
	var off int64
	switch {
	case op == DW_OP_regx:
		n = m.r.Uleb()
	case op == DW_OP_bregx:
		n = m.r.Uleb()
		off = m.r.Sleb()
	case op >= DW_OP_breg0:
		n = uint64(op - DW_OP_breg0)
		off = m.r.Sleb()
	default:
		n = uint64(op - DW_OP_reg0)
	}
	v, ok := m.env.reg(n)
	if !ok {
		return fmt.Errorf("DWARF expression: register %d unknown", n)
	}
	return m.push(v + uint64(off))
}

// stackOp runs DW_OP_dup, drop, over, pick, swap and rot.
func (m *exprMachine) stackOp(op byte) error {
	s := m.stack[:]
	sp := m.sp
	switch op {
	case DW_OP_dup:
		if err := m.need(1); err != nil {
			return err
		}
		return m.push(s[sp-1])
	case DW_OP_drop:
		if err := m.need(1); err != nil {
			return err
		}
		m.sp--
	case DW_OP_over:
		if err := m.need(2); err != nil {
			return err
		}
		return m.push(s[sp-2])
	case DW_OP_pick:
		i := int(m.r.U8())
		if i >= sp {
			return errExprStack
		}
		return m.push(s[sp-1-i])
	case DW_OP_swap:
		if err := m.need(2); err != nil {
			return err
		}
		s[sp-1], s[sp-2] = s[sp-2], s[sp-1]
	case DW_OP_rot:
		if err := m.need(3); err != nil {
			return err
		}
		s[sp-1], s[sp-2], s[sp-3] = s[sp-2], s[sp-3], s[sp-1]
	}
	return nil
}

// deref replaces the address on top of the stack with what it points to.
func (m *exprMachine) deref(op byte) error {
	size := 8
	if op == DW_OP_deref_size {
		size = int(m.r.U8())
		if size < 1 || size > 8 {
			return fmt.Errorf("DWARF expression: bad deref size %d", size)
		}
	}
	if err := m.need(1); err != nil {
		return err
	}
	v, err := m.env.read(m.stack[m.sp-1], size)
	if err != nil {
		return err
	}
	m.stack[m.sp-1] = v
	return nil
}

// unary applies an operation to the top of the stack in place.
func (m *exprMachine) unary(op byte) error {
	if err := m.need(1); err != nil {
		return err
	}
	top := &m.stack[m.sp-1]
	switch op {
	case DW_OP_abs:
		if int64(*top) < 0 {
			*top = -*top
		}
	case DW_OP_neg:
		*top = -*top
	case DW_OP_not:
		*top = ^*top
	case DW_OP_plus_uconst:
		*top += m.r.Uleb()
	}
	return nil
}

// binary pops two entries and pushes the result of op on them.
func (m *exprMachine) binary(op byte) error {
	if err := m.need(2); err != nil {
		return err
	}
	b, a := m.stack[m.sp-1], m.stack[m.sp-2]
	m.sp--
	v, err := binop(op, a, b)
	if err != nil {
		return err
	}
	m.stack[m.sp-1] = v
	return nil
}

// branch runs DW_OP_skip, and DW_OP_bra, which pops its condition.
func (m *exprMachine) branch(op byte) error {
	off := int(int16(m.r.U16()))
	if op == DW_OP_bra {
		if err := m.need(1); err != nil {
			return err
		}
		m.sp--
		if m.stack[m.sp] == 0 {
			return nil
		}
	}
	return jump(m.r, off)
}

func jump(r *buf, off int) error {
	n := r.Off + off
	if n < 0 || n > len(r.B) {
		return errors.New("DWARF expression: branch out of range")
	}
	r.Off = n
	return nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// binop applies a binary operation to a (second entry) and b (top).
func binop(op byte, a, b uint64) (uint64, error) {
	switch op {
	case DW_OP_and:
		return a & b, nil
	case DW_OP_div:
		if b == 0 {
			return 0, errors.New("DWARF expression: division by zero")
		}
		if int64(b) == -1 {
			return -a, nil
		}
		return uint64(int64(a) / int64(b)), nil
	case DW_OP_minus:
		return a - b, nil
	case DW_OP_mod:
		if b == 0 {
			return 0, errors.New("DWARF expression: division by zero")
		}
		return a % b, nil
	case DW_OP_mul:
		return a * b, nil
	case DW_OP_or:
		return a | b, nil
	case DW_OP_plus:
		return a + b, nil
	case DW_OP_shl:
		if b >= 64 {
			return 0, nil
		}
		return a << b, nil
	case DW_OP_shr:
		if b >= 64 {
			return 0, nil
		}
		return a >> b, nil
	case DW_OP_shra:
		if b >= 64 {
			b = 63
		}
		return uint64(int64(a) >> b), nil
	case DW_OP_xor:
		return a ^ b, nil
	case DW_OP_eq:
		return b2u(a == b), nil
	case DW_OP_ge:
		return b2u(int64(a) >= int64(b)), nil
	case DW_OP_gt:
		return b2u(int64(a) > int64(b)), nil
	case DW_OP_le:
		return b2u(int64(a) <= int64(b)), nil
	case DW_OP_lt:
		return b2u(int64(a) < int64(b)), nil
	case DW_OP_ne:
		return b2u(a != b), nil
	}
	return 0, fmt.Errorf("DWARF expression: unsupported operation %#x", op)
}
