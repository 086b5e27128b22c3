package cpython

import (
	"strings"

	"pyscope/internal/model"
)

// WorkItems finds the threads running concurrent.futures work items: the
// thread with a frame of a work item's run method
// (concurrent.futures.thread._WorkItem.run) whose self.future is a given
// future. Both the lock analysis (a thread blocked in Future.result())
// and the tasks analysis (a task awaiting run_in_executor or to_thread)
// ask it through Wait, so that they say the same thing.
type WorkItems struct {
	v       *Values
	snap    *model.Snapshot
	running map[uint64]uint64 // concurrent future → ident of the thread running it
}

// WorkItems looks for work items in the frames of snap's threads. It is
// made once per snapshot and shared by the analyses that complete it, so
// the frames are read once. Their variables are read when first asked
// for: after a live target resumed, a frame that moved on no longer
// matches.
func (r *Reader) WorkItems(snap *model.Snapshot) *WorkItems {
	if r.work == nil || r.work.snap != snap {
		r.work = &WorkItems{v: r.NewValues(), snap: snap}
	}
	return r.work
}

// Wait says who a waiter on so, a concurrent.futures.Future, waits on:
// heldBy names the thread running its work item while the future is
// RUNNING (none when that thread is not found: a ProcessPoolExecutor's
// work runs in another process); pending is true while it is PENDING, no
// worker having started it (its work item queued, or the future never
// submitted). Neither for any other object or state.
func (w *WorkItems) Wait(so SyncObject) (heldBy []uint64, pending bool) {
	if so.Kind != SyncFuture {
		return nil, false
	}
	switch so.FutureState {
	case "RUNNING":
		if th, ok := w.runner(so.Addr); ok {
			return []uint64{th}, false
		}
	case "PENDING":
		return nil, true
	}
	return nil, false
}

// runner is the ident of the thread running fut's work item.
func (w *WorkItems) runner(fut uint64) (uint64, bool) {
	if w.running == nil {
		w.running = map[uint64]uint64{}
		for _, th := range w.snap.Threads {
			for _, f := range th.Frames {
				if !w.isRun(f) || !w.v.stillRuns(f) {
					continue
				}
				vars, err := w.v.Locals(f)
				if err != nil {
					continue
				}
				for _, vr := range vars {
					if vr.Name != "self" || vr.Ref == 0 {
						continue
					}
					if p, err := w.v.Attr(vr.Ref, "future"); err == nil {
						if _, dup := w.running[p]; !dup {
							w.running[p] = th.ThreadID
						}
					}
				}
			}
		}
	}
	th, ok := w.running[fut]
	return th, ok
}

// isRun reports whether f is concurrent.futures.thread._WorkItem.run: by
// its qualified name (3.11+), else (3.10 has no co_qualname) by its file.
// Any other run method may have a future attribute too.
func (w *WorkItems) isRun(f model.Frame) bool {
	if f.Kind != "python" && f.Kind != "" || f.Function != "run" {
		return false
	}
	if w.v.r.In.Minor >= 11 {
		return f.Qualname == "_WorkItem.run"
	}
	return strings.HasSuffix(f.File, "concurrent/futures/thread.py")
}

// stillRuns reports whether the frame slot at f.Addr still runs f.Code.
// Read after a live target resumed, the slot may hold another function's
// frame by now, whose variables f.Code's layout would misread.
func (v *Values) stillRuns(f model.Frame) bool {
	if f.Addr == 0 || f.Code == 0 {
		return false
	}
	L := v.r.In.Layout
	off := L.Frame.Executable
	if v.r.In.Minor <= 10 {
		off = L.FrameObj.Code
	}
	if !off.Valid() {
		return false
	}
	p, err := v.o.u64(f.Addr + uint64(off))
	if err != nil {
		return false
	}
	if v.r.In.Minor >= 14 {
		p &^= 3 // _PyStackRef tag bits
	}
	return p == f.Code
}
