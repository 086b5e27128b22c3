package unwind

import (
	"fmt"
)

// numRegs is the x86-64 DWARF registers the unwinder tracks: rax..r15 (0-15)
// and the return address column (16).
const numRegs = 17

// DWARF register numbers.
const (
	regRBP = 6
	regRSP = 7
	regRA  = 16
)

type ruleKind uint8

const (
	ruleSame ruleKind = iota // also "unspecified": callee-saved by convention
	ruleUndefined
	ruleOffset    // saved at CFA+off
	ruleValOffset // value is CFA+off
	ruleRegister  // saved in another register
	ruleExpr      // saved at the address the expression computes
	ruleValExpr   // value is the expression's result
)

type rule struct {
	kind ruleKind
	off  int64
	reg  uint64
	expr []byte
}

// Row is the unwind rule set at one PC.
type Row struct {
	CFAReg    uint64
	CFAOffset int64
	CFAExpr   []byte // when non-nil, the CFA is this expression's value
	Regs      [numRegs]rule
}

// maxRememberDepth bounds DW_CFA_remember_state nesting.
const maxRememberDepth = 64

// Row computes the unwind rules of a link-time pc inside f.
func (c *CFI) Row(f *FDE, pc uint64) (*Row, error) {
	c.mu.Lock()
	ci := f.CIE
	if ci.initialRow == nil && ci.initialErrs == nil {
		var row Row
		_, err := execCFA(ci, ci.Initial, &row, nil, 0, ^uint64(0))
		if err != nil {
			ci.initialErrs = err
		} else {
			ci.initialRow = &row
		}
	}
	init, err := ci.initialRow, ci.initialErrs
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	row := *init
	if _, err := execCFA(ci, f.Instructions, &row, init, f.Begin, pc); err != nil {
		return nil, err
	}
	return &row, nil
}

// execCFA runs call frame instructions on row until the location passes
// pc. init is the CIE's row (for DW_CFA_restore).
func execCFA(ci *CIE, ins []byte, row *Row, init *Row, loc, pc uint64) (uint64, error) {
	r := &buf{b: ins}
	var stack []Row
	setRule := func(reg uint64, ru rule) {
		if reg < numRegs {
			row.Regs[reg] = ru
		}
	}
	restore := func(reg uint64) {
		if reg >= numRegs {
			return
		}
		if init != nil {
			row.Regs[reg] = init.Regs[reg]
		} else {
			row.Regs[reg] = rule{}
		}
	}
	advance := func(delta uint64) bool {
		loc += delta * ci.CodeAlign
		return loc > pc
	}
	for r.left() > 0 {
		op := r.u8()
		switch op >> 6 {
		case 1: // DW_CFA_advance_loc
			if advance(uint64(op & 0x3f)) {
				return loc, nil
			}
			continue
		case 2: // DW_CFA_offset
			setRule(uint64(op&0x3f), rule{kind: ruleOffset, off: int64(r.uleb()) * ci.DataAlign})
			continue
		case 3: // DW_CFA_restore
			restore(uint64(op & 0x3f))
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			var v uint64
			if ci.debugFrame && ci.FDEEnc == peAbsptr {
				if ci.AddrSize == 4 {
					v = uint64(r.u32())
				} else {
					v = r.u64()
				}
			} else {
				// pcrel bases are unknown here; set_loc is not emitted
				// by GCC or LLVM for .eh_frame, so only absolute forms.
				switch ci.FDEEnc & 0x0f {
				case peUdata4, peSdata4:
					v = uint64(r.u32())
				case peUdata2, peSdata2:
					v = uint64(r.u16())
				default:
					v = r.u64()
				}
				if ci.FDEEnc&0x70 != 0 {
					return loc, fmt.Errorf("DW_CFA_set_loc with relative encoding")
				}
			}
			if v < loc {
				return loc, fmt.Errorf("DW_CFA_set_loc goes backwards")
			}
			loc = v
			if loc > pc {
				return loc, nil
			}
		case 0x02:
			if advance(uint64(r.u8())) {
				return loc, nil
			}
		case 0x03:
			if advance(uint64(r.u16())) {
				return loc, nil
			}
		case 0x04:
			if advance(uint64(r.u32())) {
				return loc, nil
			}
		case 0x05: // offset_extended
			reg := r.uleb()
			setRule(reg, rule{kind: ruleOffset, off: int64(r.uleb()) * ci.DataAlign})
		case 0x06: // restore_extended
			restore(r.uleb())
		case 0x07: // undefined
			setRule(r.uleb(), rule{kind: ruleUndefined})
		case 0x08: // same_value
			setRule(r.uleb(), rule{kind: ruleSame})
		case 0x09: // register
			reg := r.uleb()
			setRule(reg, rule{kind: ruleRegister, reg: r.uleb()})
		case 0x0a: // remember_state
			if len(stack) >= maxRememberDepth {
				return loc, fmt.Errorf("DW_CFA_remember_state nested too deep")
			}
			stack = append(stack, *row)
		case 0x0b: // restore_state
			if len(stack) == 0 {
				return loc, fmt.Errorf("DW_CFA_restore_state without remember_state")
			}
			// The CFA is part of the remembered state too.
			*row = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case 0x0c: // def_cfa
			row.CFAReg = r.uleb()
			row.CFAOffset = int64(r.uleb())
			row.CFAExpr = nil
		case 0x0d: // def_cfa_register
			row.CFAReg = r.uleb()
			row.CFAExpr = nil
		case 0x0e: // def_cfa_offset
			row.CFAOffset = int64(r.uleb())
		case 0x0f: // def_cfa_expression
			row.CFAExpr = r.bytes(r.uleb())
		case 0x10: // expression
			reg := r.uleb()
			setRule(reg, rule{kind: ruleExpr, expr: r.bytes(r.uleb())})
		case 0x11: // offset_extended_sf
			reg := r.uleb()
			setRule(reg, rule{kind: ruleOffset, off: r.sleb() * ci.DataAlign})
		case 0x12: // def_cfa_sf
			row.CFAReg = r.uleb()
			row.CFAOffset = r.sleb() * ci.DataAlign
			row.CFAExpr = nil
		case 0x13: // def_cfa_offset_sf
			row.CFAOffset = r.sleb() * ci.DataAlign
		case 0x14: // val_offset
			reg := r.uleb()
			setRule(reg, rule{kind: ruleValOffset, off: int64(r.uleb()) * ci.DataAlign})
		case 0x15: // val_offset_sf
			reg := r.uleb()
			setRule(reg, rule{kind: ruleValOffset, off: r.sleb() * ci.DataAlign})
		case 0x16: // val_expression
			reg := r.uleb()
			setRule(reg, rule{kind: ruleValExpr, expr: r.bytes(r.uleb())})
		case 0x2e: // GNU_args_size
			r.uleb()
		case 0x2f: // GNU_negative_offset_extended
			reg := r.uleb()
			setRule(reg, rule{kind: ruleOffset, off: -int64(r.uleb()) * ci.DataAlign})
		default:
			return loc, fmt.Errorf("unknown CFA instruction %#x", op)
		}
		if r.err != nil {
			return loc, fmt.Errorf("truncated CFA instructions")
		}
	}
	if r.err != nil {
		return loc, fmt.Errorf("truncated CFA instructions")
	}
	return loc, nil
}
