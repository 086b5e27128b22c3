package repl

import (
	"fmt"

	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/unwind"
)

// nativeStacks unwinds with the target's CFI and names frames with the
// symbolizer (symbols and DWARF where found).
type nativeStacks struct {
	t       target.Target
	threads []target.Thread
	symFor  func() *symbolize.Symbolizer
	res     *unwind.Modules
}

func (n *nativeStacks) Backtrace(tid int) ([]NativeFrame, error) {
	var regs *target.Regs
	for _, th := range n.threads {
		if th.TID == tid {
			regs = th.Regs
		}
	}
	if regs == nil {
		return nil, fmt.Errorf("no registers for thread %d (it could not be stopped, or the core lacks them)", tid)
	}
	sym := n.symFor()
	if n.res == nil {
		n.res = unwind.NewResolverFrom(sym.ModuleMap())
	}
	frames, err := unwind.Unwind(n.t, regs, n.res, unwind.DefaultMax)
	var out []NativeFrame
	for _, f := range frames {
		syms := sym.Lookup(f.LookupPC())
		if len(syms) == 0 {
			out = append(out, NativeFrame{PC: f.PC, Module: f.Module, Offset: f.ModuleOffset, Signal: f.Signal})
			continue
		}
		for _, s := range syms {
			out = append(out, NativeFrame{PC: f.PC, Function: s.Function, Module: orStr(s.Module, f.Module),
				Offset: s.Offset, File: s.File, Line: s.Line, Inlined: s.Inlined, Signal: f.Signal})
		}
	}
	return out, err
}

func (n *nativeStacks) Modules() []symbolize.ModuleInfo { return n.symFor().Modules() }

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
