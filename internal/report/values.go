package report

import (
	"bufio"
	"fmt"

	"pyscope/internal/model"
)

// writeVars prints a frame's variables under it, one per line:
//
//	arg   a = 1
//	local b = <unbound>
//	global G = 'x'
//
// A module's globals are printed once per thread (seen), at its innermost
// frame, and not under its own module-level frame, whose locals they are.
// Everything from the target goes through Safe.
func writeVars(b *bufio.Writer, f model.Frame, c palette, seen map[uint64]bool) {
	const indent = "      "
	writeLocals(b, indent, f, c)
	if f.LocalsAddr != 0 && f.LocalsAddr == f.GlobalsAddr {
		seen[f.GlobalsAddr] = true // a module body: its locals are its globals
	}
	if len(f.Globals) > 0 && !seen[f.GlobalsAddr] {
		seen[f.GlobalsAddr] = true
		for _, l := range f.Globals {
			writeVar(b, indent, l, c)
		}
	}
}

// writeLocals prints a frame's own variables (not its module's globals)
// at indent: under a thread's frame, a task's coroutine, a greenlet's.
func writeLocals(b *bufio.Writer, indent string, f model.Frame, c palette) {
	if f.LocalsError != "" {
		fmt.Fprintf(b, "%s%s<locals unreadable: %s>%s\n", indent, c.red, Safe(f.LocalsError), c.reset)
	}
	for _, l := range f.Locals {
		writeVar(b, indent, l, c)
	}
}

func writeVar(b *bufio.Writer, indent string, l model.Local, c palette) {
	repr := Safe(l.Repr)
	if l.Unbound {
		repr = c.dim + repr + c.reset
	}
	// Plain appends: this runs for every variable of every frame.
	b.WriteString(indent)
	b.WriteString(c.dim)
	b.WriteString(l.Kind)
	for i := len(l.Kind); i < 5; i++ {
		b.WriteByte(' ')
	}
	b.WriteString(c.reset)
	b.WriteByte(' ')
	b.WriteString(c.bold)
	b.WriteString(Name(l.Name))
	b.WriteString(c.reset)
	b.WriteString(" = ")
	b.WriteString(repr)
	b.WriteByte('\n')
}
