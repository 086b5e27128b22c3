package native

import (
	"errors"
	"fmt"
	"sort"

	"pyscope/internal/model"
)

// stack is what one thread state contributes to a kernel thread's merge:
// its Python frames (innermost first) and the shims of its eval-loop calls
// that have no Python frame left (model.Thread.EmptyRuns).
type stack struct {
	frames []model.Frame
	empty  []uint64
}

// run is the Python frames one C-level call of the eval loop runs,
// innermost first, and the address that locates that call on the C stack
// (its shim; 0 when unknown).
type run struct {
	frames []model.Frame
	shim   uint64
	stack  int
}

// merge interleaves a kernel thread's native frames (innermost first) with
// the Python frames of the thread states that run on it: one, or several
// when subinterpreters run nested on the thread (each interpreter has its
// own thread state there). It returns each stack's merged frames.
//
// Each native frame of the eval loop (_PyEval_EvalFrameDefault) runs one
// run of Python frames: the frames from the innermost one up to and
// including the next Entry frame. On 3.12+ every run has a shim, a local of
// its eval-loop call, so the pairing is by address: the eval frame whose
// stack holds the shim runs that run. Otherwise (3.10, 3.11), and only for
// a single thread state, the k-th eval frame from the top runs the k-th
// run. When the stacks cannot be paired safely an error says so; the
// caller then shows them separately.
//
// With several thread states each gets the part of the native stack where
// its interpreter runs: from just below the eval loops of the interpreter
// nested in it (the C frames through which it called into that
// interpreter) down to its own outermost eval loop, and the outermost one
// down to the thread's start.
//
// Unless all is set, interpreter-internal frames (in libpython or a python
// executable) are hidden, except those above a stack's innermost eval
// frame: they show what the thread is doing in the interpreter (waiting for
// the GIL, sleeping, reading, running another interpreter). With all, every
// native frame is kept and each eval frame follows the Python frames it
// runs. An eval-loop call with no Python frame left is always shown.
// The order it returns lists the stacks innermost first.
//
// cut says the unwind stopped before the thread's first frame (a function
// without CFI or frame pointer, such as an OpenBLAS kernel): nf is then the
// innermost part of the stack, and the runs whose eval loops lie beyond it
// are the outermost ones. A single stack then gets its paired runs in
// place and the others after the last native frame, which is kept and
// marked UnwindStopped: what called it, down to the next frame, is unknown.
func merge(nf []nframe, stacks []stack, all, cut bool) ([][]model.Frame, []int, error) {
	var runs []run
	for k, st := range stacks {
		for _, r := range pythonRuns(st.frames) {
			var shim uint64
			if last := r[len(r)-1]; last.Entry {
				shim = last.Shim
			}
			runs = append(runs, run{frames: r, shim: shim, stack: k})
		}
		for _, a := range st.empty {
			runs = append(runs, run{shim: a, stack: k})
		}
	}
	owner, ok := pairByAddress(nf, runs, cut)
	if !ok {
		if len(stacks) > 1 {
			return nil, nil, fmt.Errorf("native and Python stacks do not pair up (%d thread states of different interpreters share this thread, and their eval loops cannot be told apart): both are shown separately", len(stacks))
		}
		if cut && hasShims(runs) {
			// Shims that do not pair are no count to trust on half a stack.
			return nil, nil, errors.New("native and Python stacks do not pair up (the native unwind stopped, and the eval loops it reached do not hold the Python frames' entry frames): both are shown separately")
		}
		var err error
		if owner, err = pairByCount(nf, runs, cut); err != nil {
			return nil, nil, err
		}
	}
	// The runs beyond a cut unwind, outermost in their stack.
	paired := make([]bool, len(runs))
	for _, j := range owner {
		if j >= 0 {
			paired[j] = true
		}
	}
	var beyond []run
	for j, r := range runs {
		if !paired[j] && len(r.frames) > 0 {
			beyond = append(beyond, r)
		}
	}
	if len(beyond) > 0 {
		if len(stacks) > 1 || len(nf) == 0 {
			why := fmt.Sprintf("the native unwind stopped before the eval loops of %s of Python frames", plural(len(beyond), "run", "runs"))
			if len(stacks) > 1 {
				// Which interpreter's runs lie beyond is unknown.
				why += fmt.Sprintf(", and %d thread states share this thread", len(stacks))
			}
			return nil, nil, fmt.Errorf("native and Python stacks do not pair up (%s): both are shown separately", why)
		}
		out := mergeSegment(nf, owner, runs, all)
		if last := nf[len(nf)-1]; len(out) == 0 || out[len(out)-1].Kind != "native" || out[len(out)-1].Address != last.pc {
			// Kept even where interpreter frames are hidden: the listing
			// must end where the unwind stopped.
			out = append(out, modelFrame(last))
		}
		out[len(out)-1].UnwindStopped = true
		for _, r := range beyond {
			out = append(out, r.frames...)
		}
		return [][]model.Frame{out}, []int{0}, nil
	}
	// Each stack's eval frames, outermost last, must not interleave with
	// another's: an interpreter runs nested in another, never beside it.
	lo, hi := make([]int, len(stacks)), make([]int, len(stacks))
	for k := range stacks {
		lo[k], hi[k] = -1, -1
	}
	for i, j := range owner {
		if j < 0 {
			continue
		}
		k := runs[j].stack
		if lo[k] < 0 {
			lo[k] = i
		}
		hi[k] = i
	}
	order := make([]int, 0, len(stacks))
	for k := range stacks {
		if lo[k] >= 0 {
			order = append(order, k)
		}
	}
	sort.Slice(order, func(a, b int) bool { return lo[order[a]] < lo[order[b]] })
	for n := 1; n < len(order); n++ {
		if lo[order[n]] <= hi[order[n-1]] {
			return nil, nil, fmt.Errorf("native and Python stacks do not pair up (the eval loops of %d interpreters on this thread interleave): both are shown separately", len(order))
		}
	}
	if len(order) == 0 {
		// No Python code runs on the thread now: the native stack is the
		// first thread state's.
		order = append(order, 0)
		hi[0] = len(nf) - 1
	}
	out := make([][]model.Frame, len(stacks))
	begin := 0
	for n, k := range order {
		end := hi[k] + 1
		if n == len(order)-1 {
			end = len(nf)
		}
		out[k] = mergeSegment(nf[begin:end], owner[begin:end], runs, all)
		begin = end
	}
	for k := range out {
		if out[k] == nil {
			out[k] = []model.Frame{}
			order = append(order, k)
		}
	}
	return out, order, nil
}

// mergeSegment replaces each eval frame of nf with the run it runs
// (owner[i] indexes runs, -1 for other frames).
func mergeSegment(nf []nframe, owner []int, runs []run, all bool) []model.Frame {
	out := make([]model.Frame, 0, len(nf))
	evals := 0
	for i, f := range nf {
		if owner[i] >= 0 {
			r := runs[owner[i]]
			out = append(out, r.frames...)
			evals++
			if all || len(r.frames) == 0 {
				out = append(out, modelFrame(f))
			}
			continue
		}
		if !all && evals > 0 && isInterpreter(f.module) {
			continue
		}
		out = append(out, modelFrame(f))
	}
	return out
}

// pairByAddress gives the run of each eval frame (-1 for other frames) by
// the shim each run has on its eval-loop call's stack. Every eval frame
// and every run with Python frames must pair exactly once, each stack's
// runs in order; a frameless run may pair with nothing (its shim is then
// no eval-loop call's, such as 3.14's base frame). When the unwind was cut,
// a stack's outermost runs may pair with nothing: their eval loops lie
// beyond the last native frame, or in it when the unwind stopped at an eval
// frame it could not step (its CFA unknown).
func pairByAddress(nf []nframe, runs []run, cut bool) ([]int, bool) {
	if len(runs) == 0 {
		return nil, false
	}
	// Runs by shim, so that each eval frame finds its own by binary search
	// (a hostile target may have many of both).
	byShim := make([]int, 0, len(runs))
	for j, r := range runs {
		if r.shim == 0 && len(r.frames) > 0 {
			return nil, false
		}
		byShim = append(byShim, j)
	}
	sort.Slice(byShim, func(a, b int) bool { return runs[byShim[a]].shim < runs[byShim[b]].shim })
	owner := make([]int, len(nf))
	paired := make([]bool, len(runs))
	last := map[int]int{} // stack -> its last paired run with frames
	for i, f := range nf {
		owner[i] = -1
		if !isEval(f) {
			continue
		}
		if f.cfa <= f.sp {
			if cut && i == len(nf)-1 {
				// The frame the unwind could not step: its stack's
				// extent is unknown, so its run is one beyond the cut.
				continue
			}
			return nil, false
		}
		n := sort.Search(len(byShim), func(n int) bool { return runs[byShim[n]].shim >= f.sp })
		for ; n < len(byShim) && runs[byShim[n]].shim < f.cfa; n++ {
			j := byShim[n]
			if owner[i] >= 0 || paired[j] {
				return nil, false
			}
			owner[i], paired[j] = j, true
		}
		if owner[i] < 0 {
			return nil, false
		}
		if r := runs[owner[i]]; len(r.frames) > 0 {
			if prev, ok := last[r.stack]; ok && prev > owner[i] {
				return nil, false
			}
			last[r.stack] = owner[i]
		}
	}
	beyond := map[int]bool{} // stacks with a run beyond the cut
	for j, r := range runs {
		switch {
		case paired[j] && len(r.frames) > 0 && beyond[r.stack]:
			return nil, false // a paired run outside an unpaired one
		case !paired[j] && len(r.frames) > 0:
			if !cut {
				return nil, false
			}
			beyond[r.stack] = true
		}
	}
	return owner, true
}

// pairByCount pairs the k-th eval frame from the top with the k-th run
// that has Python frames (one thread state, no shims). When the unwind was
// cut, the outermost runs may have no eval frame.
func pairByCount(nf []nframe, runs []run, cut bool) ([]int, error) {
	var real []int
	for j, r := range runs {
		if len(r.frames) > 0 {
			real = append(real, j)
		}
	}
	owner := make([]int, len(nf))
	evals := 0
	for i, f := range nf {
		owner[i] = -1
		if isEval(f) {
			if evals < len(real) {
				owner[i] = real[evals]
			}
			evals++
		}
	}
	if evals > len(real) || (evals < len(real) && !cut) {
		return nil, fmt.Errorf("native and Python stacks do not pair up (%d eval-loop frames, %d runs of Python frames): both are shown separately", evals, len(real))
	}
	return owner, nil
}

// plural counts n things: "1 run", "2 runs".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func hasShims(runs []run) bool {
	for _, r := range runs {
		if r.shim != 0 {
			return true
		}
	}
	return false
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
