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

// cfaProgram is the state of one run of call frame instructions: the row
// being built, the location it describes and the remembered rows.
type cfaProgram struct {
	ci         *CIE
	r          *buf
	row        *Row
	init       *Row // the CIE's row, for DW_CFA_restore
	loc, pc    uint64
	remembered []Row
}

var errCFATruncated = fmt.Errorf("truncated CFA instructions")

// execCFA runs call frame instructions on row until the location passes
// pc. init is the CIE's row (for DW_CFA_restore).
func execCFA(ci *CIE, ins []byte, row *Row, init *Row, loc, pc uint64) (uint64, error) {
	p := &cfaProgram{ci: ci, r: &buf{B: ins}, row: row, init: init, loc: loc, pc: pc}
	for p.r.Left() > 0 {
		done, err := p.exec(p.r.U8())
		if err != nil || done {
			return p.loc, err
		}
		if p.r.Err != nil {
			return p.loc, errCFATruncated
		}
	}
	if p.r.Err != nil {
		return p.loc, errCFATruncated
	}
	return p.loc, nil
}

// exec runs one instruction; done is true once the location passed pc.
func (p *cfaProgram) exec(op byte) (done bool, err error) {
	switch op & cfaPrimaryMask {
	case DW_CFA_advance_loc:
		return p.advance(uint64(op & cfaOperandMask)), nil
	case DW_CFA_offset:
		p.setRule(uint64(op&cfaOperandMask), rule{kind: ruleOffset, off: int64(p.r.Uleb()) * p.ci.DataAlign})
		return false, nil
	case DW_CFA_restore:
		p.restore(uint64(op & cfaOperandMask))
		return false, nil
	}
	switch op {
	case DW_CFA_nop:
	case DW_CFA_set_loc, DW_CFA_advance_loc1, DW_CFA_advance_loc2, DW_CFA_advance_loc4:
		return p.move(op)
	case DW_CFA_remember_state, DW_CFA_restore_state:
		return false, p.state(op)
	case DW_CFA_def_cfa, DW_CFA_def_cfa_register, DW_CFA_def_cfa_offset, DW_CFA_def_cfa_expression,
		DW_CFA_def_cfa_sf, DW_CFA_def_cfa_offset_sf:
		p.defineCFA(op)
	case DW_CFA_GNU_args_size:
		p.r.Uleb()
	default:
		return false, p.registerRule(op)
	}
	return false, nil
}

func (p *cfaProgram) setRule(reg uint64, ru rule) {
	if reg < numRegs {
		p.row.Regs[reg] = ru
	}
}

func (p *cfaProgram) restore(reg uint64) {
	if reg >= numRegs {
		return
	}
	if p.init != nil {
		p.row.Regs[reg] = p.init.Regs[reg]
	} else {
		p.row.Regs[reg] = rule{}
	}
}

// advance moves the location by delta code units; true once it passed pc.
func (p *cfaProgram) advance(delta uint64) bool {
	p.loc += delta * p.ci.CodeAlign
	return p.loc > p.pc
}

// move runs DW_CFA_set_loc and DW_CFA_advance_loc1/2/4.
func (p *cfaProgram) move(op byte) (done bool, err error) {
	r := p.r
	switch op {
	case DW_CFA_advance_loc1:
		return p.advance(uint64(r.U8())), nil
	case DW_CFA_advance_loc2:
		return p.advance(uint64(r.U16())), nil
	case DW_CFA_advance_loc4:
		return p.advance(uint64(r.U32())), nil
	}
	v, err := p.setLocAddress()
	if err != nil {
		return false, err
	}
	if v < p.loc {
		return false, fmt.Errorf("DW_CFA_set_loc goes backwards")
	}
	p.loc = v
	return p.loc > p.pc, nil
}

// setLocAddress reads DW_CFA_set_loc's operand, encoded as the FDE's
// addresses are.
func (p *cfaProgram) setLocAddress() (uint64, error) {
	ci, r := p.ci, p.r
	if ci.debugFrame && ci.FDEEnc == peAbsptr {
		if ci.AddrSize == 4 {
			return uint64(r.U32()), nil
		}
		return r.U64(), nil
	}
	// pcrel bases are unknown here; set_loc is not emitted by GCC or LLVM
	// for .eh_frame, so only absolute forms.
	var v uint64
	switch ci.FDEEnc & peFormatMask {
	case peUdata4, peSdata4:
		v = uint64(r.U32())
	case peUdata2, peSdata2:
		v = uint64(r.U16())
	default:
		v = r.U64()
	}
	if ci.FDEEnc&peApplMask != 0 {
		return 0, fmt.Errorf("DW_CFA_set_loc with relative encoding")
	}
	return v, nil
}

// state runs DW_CFA_remember_state and DW_CFA_restore_state.
func (p *cfaProgram) state(op byte) error {
	if op == DW_CFA_remember_state {
		if len(p.remembered) >= maxRememberDepth {
			return fmt.Errorf("DW_CFA_remember_state nested too deep")
		}
		p.remembered = append(p.remembered, *p.row)
		return nil
	}
	if len(p.remembered) == 0 {
		return fmt.Errorf("DW_CFA_restore_state without remember_state")
	}
	// The CFA is part of the remembered state too.
	*p.row = p.remembered[len(p.remembered)-1]
	p.remembered = p.remembered[:len(p.remembered)-1]
	return nil
}

// defineCFA runs the DW_CFA_def_cfa* instructions.
func (p *cfaProgram) defineCFA(op byte) {
	r, row, align := p.r, p.row, p.ci.DataAlign
	switch op {
	case DW_CFA_def_cfa:
		row.CFAReg = r.Uleb()
		row.CFAOffset = int64(r.Uleb())
		row.CFAExpr = nil
	case DW_CFA_def_cfa_register:
		row.CFAReg = r.Uleb()
		row.CFAExpr = nil
	case DW_CFA_def_cfa_offset:
		row.CFAOffset = int64(r.Uleb())
	case DW_CFA_def_cfa_expression:
		row.CFAExpr = r.Bytes(r.Uleb())
	case DW_CFA_def_cfa_sf:
		row.CFAReg = r.Uleb()
		row.CFAOffset = r.Sleb() * align
		row.CFAExpr = nil
	case DW_CFA_def_cfa_offset_sf:
		row.CFAOffset = r.Sleb() * align
	}
}

// registerRule runs the instructions that set one register's rule.
func (p *cfaProgram) registerRule(op byte) error {
	r, align := p.r, p.ci.DataAlign
	switch op {
	case DW_CFA_offset_extended:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleOffset, off: int64(r.Uleb()) * align})
	case DW_CFA_restore_extended:
		p.restore(r.Uleb())
	case DW_CFA_undefined:
		p.setRule(r.Uleb(), rule{kind: ruleUndefined})
	case DW_CFA_same_value:
		p.setRule(r.Uleb(), rule{kind: ruleSame})
	case DW_CFA_register:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleRegister, reg: r.Uleb()})
	case DW_CFA_expression:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleExpr, expr: r.Bytes(r.Uleb())})
	case DW_CFA_offset_extended_sf:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleOffset, off: r.Sleb() * align})
	case DW_CFA_val_offset:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleValOffset, off: int64(r.Uleb()) * align})
	case DW_CFA_val_offset_sf:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleValOffset, off: r.Sleb() * align})
	case DW_CFA_val_expression:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleValExpr, expr: r.Bytes(r.Uleb())})
	case DW_CFA_GNU_negative_offset_extended:
		reg := r.Uleb()
		p.setRule(reg, rule{kind: ruleOffset, off: -int64(r.Uleb()) * align})
	default:
		return fmt.Errorf("unknown CFA instruction %#x", op)
	}
	return nil
}
