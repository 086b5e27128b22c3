// Package greenlets finds the greenlets of a target (greenlet 2 and 3,
// hence gevent and eventlet): each one's state, thread, parent and
// suspended Python stack. It plugs into the engine as a Stage: Capture
// reads the greenlets while the target is stopped, Apply completes the
// snapshot (code objects, threads) after it runs again.
//
// Where the greenlets are: every greenlet is tracked by the garbage
// collector from its creation, so the collector's lists hold them all,
// whoever refers to them (a gevent hub's callbacks, a list, nobody); a
// main greenlet leads to its thread's running greenlet. greenlet's own
// per-thread state is a C++ thread_local that has no Python-visible root.
//
// Which thread: a greenlet's C stack lives on its thread's stack, so the
// thread whose stack mapping holds a greenlet's stack_stop (a main
// greenlet's saved stack start) is its thread; a greenlet without one
// (not started, or a main greenlet that never switched away) takes its
// main greenlet's thread.
package greenlets

import (
	"errors"
	"fmt"
	"sort"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/target"
)

// Stage reads the greenlets at every capture of a target.
type Stage struct{}

var _ engine.PythonOnlyStage = Stage{}

// Prepare walks the collector's lists while the target runs, so that the
// stop only checks what it found (see cpython.Values.PrepareGreenlets).
func (s Stage) Prepare(_ target.Target, r *cpython.Reader) engine.Stage {
	interps, _ := r.Interpreters()
	v := r.NewValues()
	for _, ip := range interps {
		v.PrepareGreenlets(ip)
	}
	return s
}

// Capture reads every greenlet while the target is stopped.
func (Stage) Capture(t target.Target, r *cpython.Reader) engine.Captured {
	return Capture(t, r)
}

// Close releases nothing.
func (Stage) Close() {}

// PythonOnly: Capture reads Python objects and greenlet's own, which only
// the GIL's holder changes (a greenlet switches with the GIL held), so the
// default stop need not stop every thread (engine.PythonOnlyStage).
func (Stage) PythonOnly() {}

// Captured is what one stop read of the greenlets.
type Captured struct {
	r        *cpython.Reader
	glets    []*cpython.Greenlet
	maps     []target.Mapping
	sps      map[int]uint64 // stopped thread's TID → its stack pointer
	warnings []string
	none     bool // greenlet is not imported
}

// Capture reads the greenlets of r's target, which must be stopped (or a
// core).
func Capture(t target.Target, r *cpython.Reader) *Captured {
	out := &Captured{r: r, sps: map[int]uint64{}}
	interps, err := r.Interpreters()
	if err != nil {
		out.warnings = append(out.warnings, "greenlets: "+err.Error())
	}
	v := r.NewValues()
	imported := false
	for _, ip := range interps {
		gs, err := v.Greenlets(ip)
		if errors.Is(err, cpython.ErrNoGreenlet) {
			continue
		}
		imported = true
		if err != nil {
			out.warnings = append(out.warnings, fmt.Sprintf("greenlets (greenlet %s): %v", v.GreenletVersion(ip), err))
		}
		out.glets = append(out.glets, gs...)
	}
	out.none = !imported
	// Where each thread's stack is, for attribute (after the resume).
	out.maps = t.Mappings()
	for _, th := range t.Threads() {
		if th.Regs != nil {
			out.sps[th.TID] = th.Regs.SP()
		}
	}
	return out
}

// attribute finds each greenlet's thread (by its ident): the thread whose
// stack mapping holds the greenlet's stack address, else its main
// greenlet's thread. A stopped thread's stack is the mapping its stack
// pointer is in; a running one's (the default stop leaves threads that
// cannot change Python state running, without registers) is the mapping
// that holds its pthread_t, which glibc puts at the top of the stack it
// allocates, or [stack] for the main thread. Greenlets switch only under
// the GIL, so the default stop's argument covers what Capture read.
func (cp *Captured) attribute(threads []model.Thread) map[uint64]uint64 {
	owner := map[uint64]uint64{} // greenlet → thread ident
	type span struct {
		start, end uint64
		ident      uint64
	}
	in := func(addr uint64) (target.Mapping, bool) {
		for _, m := range cp.maps {
			if addr >= m.Start && addr < m.End {
				return m, true
			}
		}
		return target.Mapping{}, false
	}
	var stacks []span
	for _, th := range threads {
		var m target.Mapping
		ok := false
		if sp, stopped := cp.sps[th.NativeID]; stopped && th.NativeID != 0 {
			m, ok = in(sp)
		} else if th.IsMain {
			for _, mm := range cp.maps {
				if mm.Path == "[stack]" {
					m, ok = mm, true
				}
			}
		} else {
			m, ok = in(th.ThreadID)
		}
		if ok {
			stacks = append(stacks, span{m.Start, m.End, th.ThreadID})
		}
	}
	byAddr := map[uint64]*cpython.Greenlet{}
	for _, g := range cp.glets {
		byAddr[g.Addr] = g
		for _, s := range stacks {
			if g.StackAddr >= s.start && g.StackAddr < s.end {
				owner[g.Addr] = s.ident
				break
			}
		}
	}
	// A main greenlet takes the thread of any greenlet it is the root of,
	// and they take its thread.
	for _, g := range cp.glets {
		if id, ok := owner[g.Addr]; ok && g.Root != 0 && g.Root != g.Addr {
			if _, known := owner[g.Root]; !known {
				owner[g.Root] = id
			}
		}
	}
	for _, g := range cp.glets {
		if _, ok := owner[g.Addr]; !ok && g.Root != 0 {
			if id, ok := owner[g.Root]; ok {
				owner[g.Addr] = id
			}
		}
	}
	// One not started yet has no main greenlet: its parent's thread
	// (greenlet refuses a parent of another thread).
	for _, g := range cp.glets {
		p := g
		for i := 0; i < 64 && p != nil; i++ {
			if _, ok := owner[p.Addr]; ok {
				if p != g {
					owner[g.Addr] = owner[p.Addr]
				}
				break
			}
			p = byAddr[p.Parent]
		}
	}
	return owner
}

// Apply completes snap with the greenlets: their frames (code objects are
// read now) and threads.
func (cp *Captured) Apply(snap *model.Snapshot) {
	snap.Warnings = append(snap.Warnings, cp.warnings...)
	snap.Greenlets = []model.Greenlet{}
	owner := cp.attribute(snap.Threads)
	// The greenlet each main greenlet says runs in its thread.
	running := map[uint64]bool{}
	for _, g := range cp.glets {
		if g.Main && g.Current != 0 {
			running[g.Current] = true
		}
	}
	for _, g := range cp.glets {
		mg := model.Greenlet{ID: g.Addr, Type: g.TypeName, Main: g.Main, Error: g.Err, Frames: []model.Frame{}}
		switch g.State {
		case cpython.GreenletRunning:
			mg.State = "running"
		case cpython.GreenletDead:
			mg.State = "dead"
		case cpython.GreenletUnstarted:
			mg.State, mg.NotStarted = "suspended", true
		default:
			mg.State = "suspended"
		}
		if g.Parent != 0 {
			p := g.Parent
			mg.Parent = &p
		}
		if id, ok := owner[g.Addr]; ok {
			mg.ThreadID = &id
		}
		switch {
		case g.State == cpython.GreenletRunning:
			// Its frames are its thread's Python stack.
			if mg.ThreadID != nil {
				for _, th := range snap.Threads {
					if th.ThreadID == *mg.ThreadID {
						for _, f := range th.Frames {
							if f.Kind == "python" || f.Kind == "" {
								mg.Frames = append(mg.Frames, f)
							}
						}
					}
				}
			}
			if !running[g.Addr] && mg.Error == "" && len(running) > 0 && !g.Main {
				mg.Error = "no main greenlet names it as running"
			}
		case len(g.Frames) > 0:
			frames, err := cp.r.ResolveFrames(g.Frames)
			mg.Frames = append(mg.Frames, frames...)
			if err != nil && mg.Error == "" {
				mg.Error = err.Error()
			}
		}
		snap.Greenlets = append(snap.Greenlets, mg)
	}
	sortGreenlets(snap.Greenlets, snap.Threads)
}

// sortGreenlets orders greenlets by thread (in the snapshot's thread
// order, unknown last), main greenlets first, then by id.
func sortGreenlets(gs []model.Greenlet, threads []model.Thread) {
	order := map[uint64]int{}
	for i, th := range threads {
		order[th.ThreadID] = i
	}
	rank := func(g *model.Greenlet) int {
		if g.ThreadID == nil {
			return len(threads)
		}
		if i, ok := order[*g.ThreadID]; ok {
			return i
		}
		return len(threads)
	}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := &gs[i], &gs[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if a.Main != b.Main {
			return a.Main
		}
		return a.ID < b.ID
	})
}
