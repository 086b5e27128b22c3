// Package bytecode decodes CPython bytecode as each version lays it out:
// instructions (a specialised instruction reads as the one it specialises,
// inline caches are skipped), their jump targets, and 3.11+ exception
// tables. The opcode tables are generated from the reference interpreters'
// own opcode and dis modules (gen/); tests check the decoding against dis.
package bytecode

//go:generate go run ./gen

import (
	"errors"
	"fmt"
	"strings"
)

type jumpKind uint8

const (
	noJump jumpKind = iota
	jumpForward
	jumpBackward
	jumpAbsolute // 3.10: the argument is the target, in code units
)

// opInfo is one opcode of one version.
type opInfo struct {
	op     int
	name   string
	base   string // the instruction a specialisation stands for
	caches int    // inline cache units after the instruction
	jump   jumpKind
}

// Table is one version's opcodes.
type Table struct {
	Minor   string
	haveArg int
	ops     [256]*opInfo
}

var tables = map[string]*Table{}

func newTable(minor string, haveArg int, ops []opInfo) *Table {
	t := &Table{Minor: minor, haveArg: haveArg}
	for i := range ops {
		if o := &ops[i]; o.op >= 0 && o.op < 256 {
			t.ops[o.op] = o
		}
	}
	return t
}

// For returns the opcodes of a minor version ("3.12"). Free-threaded
// builds number their opcodes as the default build of the same version.
func For(minor string) (*Table, error) {
	t, ok := tables[minor]
	if !ok {
		return nil, fmt.Errorf("no opcode table for Python %s", minor)
	}
	return t, nil
}

// Instr is one decoded instruction. Offsets are in bytes from the start
// of the code.
type Instr struct {
	Start  int    // its first code unit, EXTENDED_ARG prefixes included
	Offset int    // the instruction itself (what a frame's instruction pointer names)
	Name   string // its name; a specialised instruction is named as its base
	Arg    int
	Next   int // the next instruction, after the inline caches
	Target int // where it jumps; -1 when it does not
}

// ErrInstrumented means the code runs instrumented (sys.monitoring, a
// tracer or profiler) or with an optimizer executor: its original
// instructions are kept elsewhere and are not decoded.
var ErrInstrumented = errors.New("the code is instrumented (a debugger, tracer or profiler is attached) or optimized")

// maxCode bounds the code decoded: CPython's own limit is far lower.
const maxCode = 1 << 22

// Decode decodes a code object's instructions (co_code on 3.10,
// co_code_adaptive on 3.11+).
func (t *Table) Decode(code []byte) ([]Instr, error) {
	if len(code) > maxCode {
		return nil, fmt.Errorf("code of %d bytes is too long", len(code))
	}
	out := make([]Instr, 0, len(code)/4)
	for i := 0; i+1 < len(code); {
		start, arg := i, 0
		var info *opInfo
		for prefixes := 0; ; prefixes++ {
			info = t.ops[code[i]]
			if info == nil {
				return out, fmt.Errorf("unknown opcode %d at offset %d", code[i], i)
			}
			if info.base != "EXTENDED_ARG" {
				break
			}
			if prefixes >= 3 || i+3 >= len(code) {
				return out, fmt.Errorf("bad EXTENDED_ARG at offset %d", i)
			}
			arg = (arg | int(code[i+1])) << 8
			i += 2 + 2*info.caches
		}
		if strings.HasPrefix(info.base, "INSTRUMENTED_") || info.base == "ENTER_EXECUTOR" {
			return out, ErrInstrumented
		}
		arg |= int(code[i+1])
		in := Instr{Start: start, Offset: i, Name: info.base, Arg: arg, Next: i + 2 + 2*info.caches, Target: -1}
		switch info.jump {
		case jumpAbsolute:
			in.Target = 2 * arg
		case jumpForward:
			in.Target = in.Next + 2*arg
		case jumpBackward:
			in.Target = in.Next - 2*arg
		}
		out = append(out, in)
		i = in.Next
	}
	return out, nil
}

// At returns the index of the instruction at byte offset off (its
// Offset, or inside its prefixes or caches), or -1.
func At(ins []Instr, off int) int {
	lo, hi := 0, len(ins)
	for lo < hi {
		m := (lo + hi) / 2
		if ins[m].Next <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ins) && ins[lo].Start <= off {
		return lo
	}
	return -1
}

// Handler is one entry of a 3.11+ exception table: an exception raised by
// an instruction in [Start, End) unwinds the value stack to Depth items
// (pushing the raising instruction's offset when Lasti) and jumps to
// Target. Offsets are in bytes.
type Handler struct {
	Start, End, Target, Depth int
	Lasti                     bool
}

// maxHandlers bounds a table: one entry takes at least four bytes.
const maxHandlers = 1 << 18

// ExceptionTable parses co_exceptiontable (Objects/exception_handling_notes.txt):
// entries of varints (6 bits a byte, big-endian, 0x40 continues), the
// first byte of each marked by 0x80.
func ExceptionTable(b []byte) ([]Handler, error) {
	var out []Handler
	i := 0
	varint := func() (int, error) {
		if i >= len(b) {
			return 0, errors.New("exception table ends inside an entry")
		}
		c := b[i]
		i++
		v := int(c & 63)
		for n := 0; c&64 != 0; n++ {
			if i >= len(b) || n > 5 {
				return 0, errors.New("bad varint in the exception table")
			}
			c = b[i]
			i++
			v = v<<6 | int(c&63)
		}
		return v, nil
	}
	for i < len(b) {
		if b[i]&0x80 == 0 {
			return out, fmt.Errorf("exception table entry %d does not start at a marked byte", len(out))
		}
		if len(out) >= maxHandlers {
			return out, errors.New("exception table too long")
		}
		start, err1 := varint()
		size, err2 := varint()
		target, err3 := varint()
		dl, err4 := varint()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return out, err
		}
		out = append(out, Handler{Start: 2 * start, End: 2 * (start + size), Target: 2 * target, Depth: dl >> 1, Lasti: dl&1 != 0})
	}
	return out, nil
}

// Covering returns the handler whose range holds offset off, or false.
func Covering(hs []Handler, off int) (Handler, bool) {
	for _, h := range hs {
		if h.Start <= off && off < h.End {
			return h, true
		}
	}
	return Handler{}, false
}
