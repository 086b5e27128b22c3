package native

import (
	"fmt"

	"pyscope/internal/model"
)

// merge interleaves a thread's native frames (innermost first) with its
// Python frames (innermost first).
//
// Each native frame of the eval loop (_PyEval_EvalFrameDefault) runs one
// run of Python frames: the frames from the innermost one up to and
// including the next Entry frame. The k-th eval frame from the top is
// replaced by the k-th run. When the counts differ the stacks cannot be
// paired safely and an error says so; the caller then shows both.
//
// Unless all is set, interpreter-internal frames (in libpython or a python
// executable) are hidden, except those above the innermost eval frame:
// they show what the thread is doing in the interpreter (waiting for the
// GIL, sleeping, reading). With all, every native frame is kept and each
// eval frame follows the Python frames it runs.
func merge(nf []nframe, py []model.Frame, all bool) ([]model.Frame, error) {
	runs := pythonRuns(py)
	evals := 0
	for _, f := range nf {
		if isEval(f) {
			evals++
		}
	}
	if evals != len(runs) {
		return nil, fmt.Errorf("native and Python stacks do not pair up (%d eval-loop frames, %d runs of Python frames): both are shown separately", evals, len(runs))
	}
	out := make([]model.Frame, 0, len(nf)+len(py))
	k := 0
	for _, f := range nf {
		if isEval(f) {
			out = append(out, runs[k]...)
			k++
			if all {
				out = append(out, modelFrame(f))
			}
			continue
		}
		if !all && k > 0 && isInterpreter(f.module) {
			continue
		}
		out = append(out, modelFrame(f))
	}
	return out, nil
}

// pythonRuns splits Python frames (innermost first) into the runs of one
// eval-loop call each: a run ends at an Entry frame. Frames after the last
// Entry frame form a run of their own.
func pythonRuns(py []model.Frame) [][]model.Frame {
	var runs [][]model.Frame
	start := 0
	for i, f := range py {
		if f.Entry {
			runs = append(runs, py[start:i+1])
			start = i + 1
		}
	}
	if start < len(py) {
		runs = append(runs, py[start:])
	}
	return runs
}

// GIL and GC functions by CPython version: take_gil/drop_gil (3.10-3.14),
// the collector's entry points (collect* up to 3.11, gc_collect_main
// 3.10-3.13, the incremental collector's gc_collect_* in 3.14).
var (
	gilWaitFuncs = map[string]bool{"take_gil": true}
	gilDropFuncs = map[string]bool{"drop_gil": true, "drop_gil_impl": true}
	gcFuncs      = map[string]bool{
		"gc_collect_main": true, "collect": true, "collect_with_callback": true,
		"collect_generations": true, "gc_collect_region": true, "gc_collect_full": true,
		"gc_collect_young": true, "gc_collect_increment": true, "_PyGC_Collect": true,
		"PyGC_Collect": true, "gc_collect_impl": true,
	}
	// Exported functions whose only blocking step is taking the GIL; they
	// identify a GIL wait where take_gil has no symbol (stripped builds
	// keep only exported symbols).
	gilTakers = map[string]bool{
		"PyEval_RestoreThread": true, "PyEval_AcquireThread": true,
		"PyGILState_Ensure": true, "PyEval_AcquireLock": true,
	}
)

// classify works out what a thread is doing from its stack and registers.
// GIL and GC states win over the system call they block in.
func classify(nf []nframe, rt *rawThread) string {
	innermostEval := len(nf)
	for i, f := range nf {
		if isEval(f) {
			innermostEval = i
			break
		}
	}
	for i := 0; i < innermostEval; i++ {
		fn := baseName(nf[i].sym.Function)
		if !isInterpreter(nf[i].module) {
			continue
		}
		switch {
		case gilWaitFuncs[fn]:
			return StateGILWait
		case gilDropFuncs[fn]:
			return StateGILDrop
		}
	}
	for _, f := range nf {
		if isInterpreter(f.module) && gcFuncs[baseName(f.sym.Function)] {
			return StateGC
		}
	}
	if rt.sysNr >= 0 && gilTakerBlocked(nf[:innermostEval]) {
		return StateGILWait
	}
	// A core does not say whether a thread was blocked: one in a system
	// call is taken as blocked in it.
	blocked := rt.kstate == "S" || rt.kstate == "D" || rt.kstate == ""
	if rt.sysNr >= 0 && blocked {
		return StateSyscall
	}
	return StateRunning
}

// gilTakerBlocked: a thread blocked in libc under unnamed interpreter
// frames called from a GIL-taking API function.
func gilTakerBlocked(top []nframe) bool {
	i := 0
	for i < len(top) && !isInterpreter(top[i].module) {
		i++
	}
	if i == 0 {
		return false // not blocked outside the interpreter
	}
	for ; i < len(top); i++ {
		f := top[i]
		if !isInterpreter(f.module) {
			return false
		}
		if f.sym.Function == "" {
			continue
		}
		return gilTakers[baseName(f.sym.Function)]
	}
	return false
}
