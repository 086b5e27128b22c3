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

// evalExpr evaluates a DWARF expression (the subset CFI uses: no pieces,
// no frame base, no calls) and returns the top of the stack. initial
// values are pushed first (the CFA for DW_CFA_expression rules).
func evalExpr(expr []byte, env exprEnv, initial ...uint64) (uint64, error) {
	var stack [maxExprStack]uint64
	sp := 0
	for _, v := range initial {
		if sp == len(stack) {
			return 0, errExprStack
		}
		stack[sp] = v
		sp++
	}
	push := func(v uint64) bool {
		if sp == len(stack) {
			return false
		}
		stack[sp] = v
		sp++
		return true
	}
	r := &buf{b: expr}
	for steps := 0; r.left() > 0; steps++ {
		if steps >= maxExprSteps {
			return 0, errors.New("DWARF expression: too many steps")
		}
		op := r.u8()
		ok := true
		switch {
		case op >= 0x30 && op <= 0x4f: // DW_OP_lit0..31
			ok = push(uint64(op - 0x30))
		case op >= 0x70 && op <= 0x8f: // DW_OP_breg0..31
			off := r.sleb()
			v, rok := env.reg(uint64(op - 0x70))
			if !rok {
				return 0, fmt.Errorf("DWARF expression: register %d unknown", op-0x70)
			}
			ok = push(v + uint64(off))
		case op == 0x92: // DW_OP_bregx
			n := r.uleb()
			off := r.sleb()
			v, rok := env.reg(n)
			if !rok {
				return 0, fmt.Errorf("DWARF expression: register %d unknown", n)
			}
			ok = push(v + uint64(off))
		case op >= 0x50 && op <= 0x6f, op == 0x90: // DW_OP_reg*: value of the register
			n := uint64(op - 0x50)
			if op == 0x90 {
				n = r.uleb()
			}
			v, rok := env.reg(n)
			if !rok {
				return 0, fmt.Errorf("DWARF expression: register %d unknown", n)
			}
			ok = push(v)
		case op == 0x03: // DW_OP_addr
			ok = push(r.u64())
		case op == 0x08:
			ok = push(uint64(r.u8()))
		case op == 0x09:
			ok = push(uint64(int64(int8(r.u8()))))
		case op == 0x0a:
			ok = push(uint64(r.u16()))
		case op == 0x0b:
			ok = push(uint64(int64(int16(r.u16()))))
		case op == 0x0c:
			ok = push(uint64(r.u32()))
		case op == 0x0d:
			ok = push(uint64(int64(int32(r.u32()))))
		case op == 0x0e, op == 0x0f:
			ok = push(r.u64())
		case op == 0x10:
			ok = push(r.uleb())
		case op == 0x11:
			ok = push(uint64(r.sleb()))
		case op == 0x12: // dup
			if sp < 1 {
				return 0, errExprStack
			}
			ok = push(stack[sp-1])
		case op == 0x13: // drop
			if sp < 1 {
				return 0, errExprStack
			}
			sp--
		case op == 0x14: // over
			if sp < 2 {
				return 0, errExprStack
			}
			ok = push(stack[sp-2])
		case op == 0x15: // pick
			i := int(r.u8())
			if i >= sp {
				return 0, errExprStack
			}
			ok = push(stack[sp-1-i])
		case op == 0x16: // swap
			if sp < 2 {
				return 0, errExprStack
			}
			stack[sp-1], stack[sp-2] = stack[sp-2], stack[sp-1]
		case op == 0x17: // rot
			if sp < 3 {
				return 0, errExprStack
			}
			stack[sp-1], stack[sp-2], stack[sp-3] = stack[sp-2], stack[sp-3], stack[sp-1]
		case op == 0x06, op == 0x94: // deref, deref_size
			size := 8
			if op == 0x94 {
				size = int(r.u8())
				if size < 1 || size > 8 {
					return 0, fmt.Errorf("DWARF expression: bad deref size %d", size)
				}
			}
			if sp < 1 {
				return 0, errExprStack
			}
			v, err := env.read(stack[sp-1], size)
			if err != nil {
				return 0, err
			}
			stack[sp-1] = v
		case op == 0x19: // abs
			if sp < 1 {
				return 0, errExprStack
			}
			if int64(stack[sp-1]) < 0 {
				stack[sp-1] = -stack[sp-1]
			}
		case op == 0x1f: // neg
			if sp < 1 {
				return 0, errExprStack
			}
			stack[sp-1] = -stack[sp-1]
		case op == 0x20: // not
			if sp < 1 {
				return 0, errExprStack
			}
			stack[sp-1] = ^stack[sp-1]
		case op == 0x23: // plus_uconst
			if sp < 1 {
				return 0, errExprStack
			}
			stack[sp-1] += r.uleb()
		case op == 0x1a, op == 0x1b, op == 0x1c, op == 0x1d, op == 0x1e, op == 0x21, op == 0x22,
			op == 0x24, op == 0x25, op == 0x26, op == 0x27, op >= 0x29 && op <= 0x2e:
			if sp < 2 {
				return 0, errExprStack
			}
			b, a := stack[sp-1], stack[sp-2]
			sp--
			v, err := binop(op, a, b)
			if err != nil {
				return 0, err
			}
			stack[sp-1] = v
		case op == 0x2f: // skip
			off := int(int16(r.u16()))
			if err := jump(r, off); err != nil {
				return 0, err
			}
		case op == 0x28: // bra
			off := int(int16(r.u16()))
			if sp < 1 {
				return 0, errExprStack
			}
			sp--
			if stack[sp] != 0 {
				if err := jump(r, off); err != nil {
					return 0, err
				}
			}
		case op == 0x96: // nop
		default:
			return 0, fmt.Errorf("DWARF expression: unsupported operation %#x", op)
		}
		if !ok {
			return 0, errExprStack
		}
		if r.err != nil {
			return 0, fmt.Errorf("DWARF expression: truncated")
		}
	}
	if sp < 1 {
		return 0, errExprStack
	}
	return stack[sp-1], nil
}

func jump(r *buf, off int) error {
	n := r.off + off
	if n < 0 || n > len(r.b) {
		return errors.New("DWARF expression: branch out of range")
	}
	r.off = n
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
	case 0x1a:
		return a & b, nil
	case 0x1b:
		if b == 0 {
			return 0, errors.New("DWARF expression: division by zero")
		}
		if int64(b) == -1 {
			return -a, nil
		}
		return uint64(int64(a) / int64(b)), nil
	case 0x1c:
		return a - b, nil
	case 0x1d:
		if b == 0 {
			return 0, errors.New("DWARF expression: division by zero")
		}
		return a % b, nil
	case 0x1e:
		return a * b, nil
	case 0x21:
		return a | b, nil
	case 0x22:
		return a + b, nil
	case 0x24:
		if b >= 64 {
			return 0, nil
		}
		return a << b, nil
	case 0x25:
		if b >= 64 {
			return 0, nil
		}
		return a >> b, nil
	case 0x26:
		if b >= 64 {
			b = 63
		}
		return uint64(int64(a) >> b), nil
	case 0x27:
		return a ^ b, nil
	case 0x29:
		return b2u(a == b), nil
	case 0x2a:
		return b2u(int64(a) >= int64(b)), nil
	case 0x2b:
		return b2u(int64(a) > int64(b)), nil
	case 0x2c:
		return b2u(int64(a) <= int64(b)), nil
	case 0x2d:
		return b2u(int64(a) < int64(b)), nil
	case 0x2e:
		return b2u(a != b), nil
	}
	return 0, fmt.Errorf("DWARF expression: unsupported operation %#x", op)
}
