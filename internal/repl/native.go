package repl

import (
	"fmt"
	"slices"
	"sync"

	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
)

// Native gives the native stacks of a program held stopped, merged with
// its Python frames by internal/native: exactly what dump --native shows.
type Native interface {
	// Thread is thread tid of the current snapshot with its native stack
	// (Python: false for a thread without Python state).
	Thread(tid int) (*model.Thread, error)
	// Modules lists the mapped modules with their build-ids and whether
	// symbols and debug info were found.
	Modules() []symbolize.ModuleInfo
}

// NewNative returns the native stacks of t, stopped at snap. sess is
// shared by the stops of one program (it caches files, CFI and symbols).
func NewNative(t target.Target, snap *model.Snapshot, sess *native.Session) Native {
	return &nativeStacks{t: t, snap: snap, sess: sess}
}

// nativeStacks unwinds every thread on first use, while the program is
// still stopped, and merges them into a copy of the snapshot.
type nativeStacks struct {
	t    target.Target
	snap *model.Snapshot
	sess *native.Session

	once    sync.Once
	threads map[int]*model.Thread
}

func (n *nativeStacks) Thread(tid int) (*model.Thread, error) {
	n.once.Do(func() {
		snap := *n.snap
		snap.Threads = make([]model.Thread, len(n.snap.Threads))
		for i, th := range n.snap.Threads {
			th.Frames = append([]model.Frame(nil), th.Frames...)
			th.Warnings = append([]string(nil), th.Warnings...)
			snap.Threads[i] = th
		}
		n.sess.Apply(&snap, n.sess.Capture(n.t))
		n.threads = map[int]*model.Thread{}
		for i := range snap.Threads {
			th := &snap.Threads[i]
			if th.NativeID == 0 {
				continue
			}
			if in := n.threads[th.NativeID]; in != nil {
				// Subinterpreters: the thread states of one kernel thread
				// come innermost first; together they are its stack,
				// shown under the outermost one (the thread's own).
				out := *th
				out.Frames = append(append([]model.Frame(nil), in.Frames...), th.Frames...)
				if len(out.NativeFrames) == 0 {
					out.NativeFrames = in.NativeFrames // the same native stack
				}
				out.Warnings = append([]string(nil), in.Warnings...)
				for _, w := range th.Warnings {
					if !slices.Contains(out.Warnings, w) {
						out.Warnings = append(out.Warnings, w)
					}
				}
				th = &out
			}
			n.threads[th.NativeID] = th
		}
	})
	th, ok := n.threads[tid]
	if !ok {
		return nil, fmt.Errorf("no native stack for thread %d: its kernel thread ID is unknown", tid)
	}
	return th, nil
}

func (n *nativeStacks) Modules() []symbolize.ModuleInfo { return n.sess.Modules() }
