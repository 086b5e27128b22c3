package report

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	"pyscope/internal/model"
)

// writeGreenlets shows the greenlets thread by thread: first the one that
// runs (its frames are the thread's stack) and below it the greenlets it
// returns to (gevent's hub, then the main greenlet), as a native `bt`
// shows their C frames below it; then the thread's other greenlets, each
// with its suspended stack.
func writeGreenlets(b *bufio.Writer, s *model.Snapshot, c palette) {
	if s.Greenlets == nil {
		return
	}
	counts := map[string]int{}
	byID := map[uint64]*model.Greenlet{}
	for i := range s.Greenlets {
		g := &s.Greenlets[i]
		byID[g.ID] = g
		counts[g.State]++
	}
	b.WriteString("\n")
	if len(s.Greenlets) == 0 && slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.HasPrefix(w, "greenlets") }) {
		fmt.Fprintf(b, "%sGreenlets: not read (see the warning above)%s\n", c.bold, c.reset)
		return
	}
	fmt.Fprintf(b, "%sGreenlets: %d%s", c.bold, len(s.Greenlets), c.reset)
	var parts []string
	for _, st := range []string{"running", "suspended", "dead"} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	const noThread = ^uint64(0)
	var order []uint64
	groups := map[uint64][]*model.Greenlet{}
	for i := range s.Greenlets {
		g := &s.Greenlets[i]
		th := noThread
		if g.ThreadID != nil {
			th = *g.ThreadID
		}
		if _, ok := groups[th]; !ok {
			order = append(order, th)
		}
		groups[th] = append(groups[th], g)
	}
	shown := map[uint64]bool{}
	for _, th := range order {
		b.WriteString("\n")
		header := fmt.Sprintf("%sGreenlets of no known thread%s", c.bold, c.reset)
		if th != noThread {
			header = fmt.Sprintf("%sThread %#x%s", c.bold, th, c.reset)
			for _, t := range s.Threads {
				if t.ThreadID == th {
					header = threadHeader(t, c, false)
				}
			}
		}
		b.WriteString(header + "\n")
		gs := groups[th]
		for _, g := range gs {
			if g.State != "running" || shown[g.ID] {
				continue
			}
			writeGreenlet(b, g, "  ", c, shown)
			// Below it, the greenlets it returns to.
			prefix := "  "
			for p := g.Parent; p != nil; {
				pg, ok := byID[*p]
				if !ok || shown[pg.ID] {
					break
				}
				fmt.Fprintf(b, "%s%s└── below it, its parent:%s\n", prefix, c.dim, c.reset)
				prefix += "    "
				writeGreenlet(b, pg, prefix, c, shown)
				p = pg.Parent
			}
		}
		for _, g := range gs {
			if !shown[g.ID] {
				writeGreenlet(b, g, "  ", c, shown)
			}
		}
	}
}

// writeGreenlet writes one greenlet and its frames.
func writeGreenlet(b *bufio.Writer, g *model.Greenlet, prefix string, c palette, shown map[uint64]bool) {
	shown[g.ID] = true
	kind := g.Type
	if kind == "" {
		kind = "greenlet"
	}
	state := g.State
	if g.NotStarted {
		state = "not started"
	}
	fmt.Fprintf(b, "%s%s(G) %s %#x%s [%s%s%s]", prefix, c.bold, Name(kind), g.ID, c.reset, c.yellow, state, c.reset)
	if g.Main {
		b.WriteString(" main greenlet")
	} else if g.Parent != nil {
		fmt.Fprintf(b, " parent %#x", *g.Parent)
	}
	if g.State == "running" {
		fmt.Fprintf(b, " %s(its frames are the thread's stack)%s", c.dim, c.reset)
	}
	b.WriteString("\n")
	if g.Error != "" {
		fmt.Fprintf(b, "%s    %s<%s>%s\n", prefix, c.red, Safe(g.Error), c.reset)
	}
	Fold(g.Frames, func(i int) {
		f := g.Frames[i]
		fmt.Fprintf(b, "%s    File %s\"%s\"%s, line %s%d%s, in %s%s%s\n", prefix,
			c.cyan, Name(f.File), c.reset, c.yellow, f.Line, c.reset, c.green, Name(frameName(f)), c.reset)
		writeLocals(b, prefix+"      ", f, c) // with --locals
	}, func(period, n int) {
		fmt.Fprintf(b, "%s    %s%s%s\n", prefix, c.dim, Repeated(period, n), c.reset)
	})
}
