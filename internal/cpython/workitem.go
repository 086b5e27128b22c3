package cpython

import "pyscope/internal/model"

// WorkItems finds the threads running concurrent.futures work items: the
// thread with a frame of a work item's run method
// (concurrent.futures.thread._WorkItem.run) whose self.future is a given
// future. The lock analysis asks it who a thread blocked in
// Future.result() waits on; the tasks analysis, who runs the work a task
// awaits through run_in_executor or to_thread.
type WorkItems struct {
	v       *Values
	threads []model.Thread
	running map[uint64]uint64 // concurrent future → ident of the thread running it
}

// WorkItems looks for work items in the frames of threads (a snapshot's).
// Their variables are read when first asked for: after a live target
// resumed, a frame that moved on no longer matches.
func (v *Values) WorkItems(threads []model.Thread) *WorkItems {
	return &WorkItems{v: v, threads: threads}
}

// Runner is the ident of the thread running fut's work item.
func (w *WorkItems) Runner(fut uint64) (uint64, bool) {
	if w.running == nil {
		w.running = map[uint64]uint64{}
		for _, th := range w.threads {
			for _, f := range th.Frames {
				if f.Kind != "python" && f.Kind != "" || f.Function != "run" {
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
