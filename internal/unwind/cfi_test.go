package unwind

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fakeEnv is registers and memory for expression tests.
type fakeEnv struct {
	regs map[uint64]uint64
	mem  map[uint64]uint64
}

func (f fakeEnv) reg(n uint64) (uint64, bool) { v, ok := f.regs[n]; return v, ok }
func (f fakeEnv) read(a uint64, size int) (uint64, error) {
	v, ok := f.mem[a]
	if !ok {
		return 0, errors.New("fault")
	}
	if size < 8 {
		v &= 1<<(8*size) - 1
	}
	return v, nil
}

// glibc's PLT CFA: rsp+8 + ((rip&15) >= 11 ? 8 : 0).
var pltExpr = []byte{0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}

func TestExprPLT(t *testing.T) {
	for _, c := range []struct{ rip, want uint64 }{{0x1000, 0x2008}, {0x100a, 0x2008}, {0x100b, 0x2010}, {0x100f, 0x2010}} {
		got, err := evalExpr(pltExpr, fakeEnv{regs: map[uint64]uint64{7: 0x2000, 16: c.rip}})
		if err != nil || got != c.want {
			t.Errorf("rip %#x: %#x %v, want %#x", c.rip, got, err, c.want)
		}
	}
}

func TestExprOps(t *testing.T) {
	env := fakeEnv{regs: map[uint64]uint64{7: 0x100}, mem: map[uint64]uint64{0x1a0: 0x1234, 0x100: 0xffffffffffffff80}}
	cases := []struct {
		expr []byte
		init []uint64
		want uint64
	}{
		{[]byte{0x77, 0xa0, 0x01, 0x06}, nil, 0x1234},                               // breg7 160; deref (glibc sigframe CFA)
		{[]byte{0x23, 0x10}, []uint64{5}, 0x15},                                     // plus_uconst
		{[]byte{0x08, 0xff, 0x09, 0xff, 0x22}, nil, 0xfe},                           // const1u + const1s
		{[]byte{0x31, 0x32, 0x1c}, nil, ^uint64(0)},                                 // 1-2
		{[]byte{0x31, 0x32, 0x2d}, nil, 1},                                          // 1<2
		{[]byte{0x34, 0x32, 0x25}, nil, 1},                                          // 4>>2
		{[]byte{0x35, 0x33, 0x21, 0x36, 0x27}, nil, 1},                              // (5|3)^6
		{[]byte{0x31, 0x28, 0x02, 0x00, 0x30, 0x96, 0x39}, nil, 9},                  // bra over lit0
		{[]byte{0x2f, 0x01, 0x00, 0x30, 0x3a}, nil, 10},                             // skip
		{[]byte{0x77, 0x00, 0x94, 0x01}, nil, 0x80},                                 // deref_size 1
		{[]byte{0x10, 0xe5, 0x8e, 0x26, 0x12, 0x14, 0x16, 0x13, 0x13}, nil, 624485}, // uleb, dup/over/swap/drop
	}
	for i, c := range cases {
		got, err := evalExpr(c.expr, env, c.init...)
		if err != nil || got != c.want {
			t.Errorf("case %d: %#x %v, want %#x", i, got, err, c.want)
		}
	}
	for _, bad := range [][]byte{{0x13}, {0x06}, {0x31, 0x30, 0x1b}, {0x2f, 0x00, 0x80}, {0xe0}, {0x0c, 0x01}, {0x78, 0x00}} {
		if v, err := evalExpr(bad, env); err == nil {
			t.Errorf("%x: no error (%#x)", bad, v)
		}
	}
}

// cfiBuilder assembles .eh_frame/.debug_frame entries.
type cfiBuilder struct{ b []byte }

func (c *cfiBuilder) entry(is64 bool, body []byte) int {
	off := len(c.b)
	if is64 {
		c.b = binary.LittleEndian.AppendUint32(c.b, 0xffffffff)
		c.b = binary.LittleEndian.AppendUint64(c.b, uint64(len(body)))
	} else {
		c.b = binary.LittleEndian.AppendUint32(c.b, uint32(len(body)))
	}
	c.b = append(c.b, body...)
	return off
}

func TestSyntheticEhFrame(t *testing.T) {
	const addr = 0x10000
	var c cfiBuilder
	// CIE "zPLRS": personality (udata4, indirect), LSDA sdata4, FDE
	// encoding pcrel|sdata4, signal frame. code 1, data -8, RA 16.
	cie := []byte{0, 0, 0, 0, 1, 'z', 'P', 'L', 'R', 'S', 0, 1, 0x78, 16,
		7, 0x83, 0x44, 0x33, 0x22, 0x11, 0x1b, 0x1b,
		0x0c, 7, 8, 0x90, 1} // def_cfa rsp+8; offset r16 at cfa-8
	cieOff := c.entry(false, cie)
	// FDE: pc_begin pcrel sdata4 -> 0x20000, range 0x100, aug data 4
	// bytes (LSDA), then: advance 4, def_cfa_offset 16, offset rbp at
	// cfa-16, advance 1, remember, def_cfa_register rbp, advance 1,
	// restore_state, advance 1, def_cfa_expression (breg7 0).
	fdeOff := len(c.b)
	body := binary.LittleEndian.AppendUint32(nil, uint32(fdeOff+4-cieOff))
	field := addr + uint64(fdeOff) + 8
	body = binary.LittleEndian.AppendUint32(body, uint32(int32(0x20000-int64(field))))
	body = binary.LittleEndian.AppendUint32(body, 0x100)
	body = append(body, 4, 0, 0, 0, 0)
	body = append(body, 0x44, 0x0e, 16, 0x86, 2, 0x41, 0x0a, 0x0d, 6, 0x41, 0x0b, 0x41, 0x0f, 2, 0x77, 0)
	c.entry(false, body)
	// A 64-bit-length CIE/FDE pair with udata8 absolute pointers.
	cie64 := c.entry(true, []byte{0, 0, 0, 0, 3, 'z', 'R', 0, 1, 0x78, 16, 1, 0x04, 0x0c, 7, 8})
	fde64 := len(c.b)
	body = binary.LittleEndian.AppendUint32(nil, uint32(fde64+12-cie64))
	body = binary.LittleEndian.AppendUint64(body, 0x30000)
	body = binary.LittleEndian.AppendUint64(body, 0x10)
	body = append(body, 0, 0x09, 6, 3) // aug len 0; register rbp in rbx
	c.entry(true, body)
	c.b = append(c.b, 0, 0, 0, 0)

	cf := NewCFI(Section{Data: c.b, Addr: addr}, Section{}, Section{}, func(uint64) (uint64, bool) { return 0, true })
	f, err := cf.FindFDE(0x20050)
	if err != nil {
		t.Fatal(err)
	}
	if f.Begin != 0x20000 || f.End != 0x20100 || !f.CIE.Signal || f.CIE.FDEEnc != 0x1b || f.CIE.LSDAEnc != 0x1b {
		t.Fatalf("FDE %+v CIE %+v", f, f.CIE)
	}
	rows := []struct {
		pc     uint64
		reg    uint64
		off    int64
		rbp    ruleKind
		isExpr bool
	}{
		{0x20000, 7, 8, ruleSame, false},
		{0x20004, 7, 16, ruleOffset, false},
		{0x20005, 6, 16, ruleOffset, false},
		{0x20006, 7, 16, ruleOffset, false}, // restored
		{0x20007, 7, 16, ruleOffset, true},
	}
	for _, r := range rows {
		row, err := cf.Row(f, r.pc)
		if err != nil {
			t.Fatal(err)
		}
		if (row.CFAExpr != nil) != r.isExpr || (!r.isExpr && (row.CFAReg != r.reg || row.CFAOffset != r.off)) || row.Regs[regRBP].kind != r.rbp {
			t.Errorf("pc %#x: %+v", r.pc, row)
		}
		if row.Regs[regRA].kind != ruleOffset || row.Regs[regRA].off != -8 {
			t.Errorf("pc %#x: RA %+v", r.pc, row.Regs[regRA])
		}
	}
	g, err := cf.FindFDE(0x30008)
	if err != nil || g.Begin != 0x30000 {
		t.Fatalf("64-bit FDE: %v %+v", err, g)
	}
	if row, _ := cf.Row(g, 0x30008); row.Regs[regRBP].kind != ruleRegister || row.Regs[regRBP].reg != 3 {
		t.Fatalf("64-bit row: %+v", row)
	}
	if _, err := cf.FindFDE(0x20100); err != ErrNoFDE {
		t.Fatalf("past the end: %v", err)
	}

	// The same pair as .debug_frame (CIE id 0xffffffff, absolute CIE
	// offset, version 4 with address size).
	var d cfiBuilder
	dcie := d.entry(false, []byte{0xff, 0xff, 0xff, 0xff, 4, 0, 8, 0, 1, 0x78, 16, 0x0c, 7, 8, 0x90, 1})
	body = binary.LittleEndian.AppendUint32(nil, uint32(dcie))
	body = binary.LittleEndian.AppendUint64(body, 0x40000)
	body = binary.LittleEndian.AppendUint64(body, 0x20)
	body = append(body, 0x48, 0x0e, 0x20)
	d.entry(false, body)
	dc := NewCFI(Section{}, Section{}, Section{Data: d.b}, nil)
	h, err := dc.FindFDE(0x40010)
	if err != nil {
		t.Fatal(err)
	}
	if row, _ := dc.Row(h, 0x40010); row.CFAOffset != 0x20 {
		t.Fatalf("debug_frame row %+v", row)
	}
}
