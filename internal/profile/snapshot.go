package profile

import (
	"time"

	"pyscope/internal/model"
)

// FromSnapshot turns every thread of a snapshot taken at `at` into a
// sample. Idle is set from the thread's state when the snapshot has one
// (dump --native: blocked in a system call, or waiting for the GIL);
// without it threads count as running, and the sampler should set Idle
// from the kernel's thread state.
func FromSnapshot(s *model.Snapshot, at time.Time) []Sample {
	out := make([]Sample, 0, len(s.Threads))
	for i := range s.Threads {
		t := &s.Threads[i]
		smp := Sample{
			Time:     at,
			PID:      s.PID,
			ThreadID: t.ThreadID,
			NativeID: t.NativeID,
			HoldsGIL: t.HoldsGIL,
			Idle:     t.Activity == "syscall" || t.Activity == "waiting_for_gil",
			Frames:   make([]Frame, 0, len(t.Frames)),
		}
		switch {
		case t.Name != nil:
			smp.ThreadName = *t.Name
		case t.OSName != nil:
			smp.ThreadName = *t.OSName
		}
		for _, f := range t.Frames {
			smp.Frames = append(smp.Frames, Frame{
				Function: f.Function,
				Qualname: f.Qualname,
				File:     f.File,
				Line:     f.Line,
				Native:   f.Kind == "native",
				Module:   f.Module,
				Offset:   f.ModuleOffset,
			})
		}
		out = append(out, smp)
	}
	return out
}
