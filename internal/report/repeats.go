package report

import (
	"fmt"

	"pyscope/internal/model"
)

// RecursiveCutoff is how many identical frames in a row a traceback
// prints before one line says how many more there were: CPython's
// traceback module and traceback.c (_RECURSIVE_CUTOFF).
const RecursiveCutoff = 3

// MaxPeriod is the longest block of frames Fold finds repeated: a Python
// call through C (the eval loop, the vectorcall machinery, a builtin such
// as map) puts a handful of native frames between two Python ones.
const MaxPeriod = 16

// Repeated is the line that stands for the rest of a run: n more copies
// of the frame above, in traceback's words, or of the block of period
// frames above.
func Repeated(period, n int) string {
	s := "s"
	if n == 1 {
		s = ""
	}
	if period <= 1 {
		return fmt.Sprintf("[Previous line repeated %d more time%s]", n, s)
	}
	return fmt.Sprintf("[Previous %d frames repeated %d more time%s]", period, n, s)
}

// Fold walks frames as a traceback prints them: show(i) for each frame
// shown, and more(period, n) for the rest of a run, n more copies of the
// block of period frames shown last. A run of identical frames (same
// file, line and name, traceback's test; a native frame: the same address
// and symbol) shows its first RecursiveCutoff frames. A run of a block of
// 2..MaxPeriod frames that holds a native frame (a Python recursion seen
// with its native frames, which interleave the Python ones) shows the
// block RecursiveCutoff times. Python frames alone fold only as traceback
// folds them: a→b→a→b stays whole. The text outputs fold deep recursion
// this way; JSON keeps every frame. The work is linear in frames ×
// MaxPeriod.
//
// Frames shown with their variables (dump --locals) are identical only
// when their variables are too, name, kind and repr: unlike a traceback
// with capture_locals, a recursion whose frames differ in an argument is
// not folded, since the differing values are what one looks for (gdb's
// py-bt-full folds nothing).
func Fold(frames []model.Frame, show func(i int), more func(period, n int)) {
	FoldBy(frames, nil, show, more)
}

// FoldBy is Fold where same(a, b), when not nil, must also hold for
// frames a and b to be identical: the session's py-bt-full compares the
// variables it reads itself.
func FoldBy(frames []model.Frame, same func(a, b int) bool, show func(i int), more func(period, n int)) {
	eq := func(a, b int) bool {
		return sameFrame(&frames[a], &frames[b]) && sameVars(&frames[a], &frames[b]) && (same == nil || same(a, b))
	}
	// natives[i]: the native frames among frames[:i].
	var natives []int
	for i := range frames {
		if frames[i].Kind == "native" {
			natives = make([]int, len(frames)+1)
			break
		}
	}
	if natives != nil {
		for i := range frames {
			natives[i+1] = natives[i]
			if frames[i].Kind == "native" {
				natives[i+1]++
			}
		}
	}
	// end[p]: a k where frames[k] differs from frames[k-p], such that
	// every frame from the last position asked about up to k matched.
	// The positions asked about only grow, so each frame is compared at
	// most once per period.
	var end [MaxPeriod + 1]int
	for p := range end {
		end[p] = -1
	}
	// copies is how many times the block of p frames at i repeats from i.
	copies := func(i, p int) int {
		j := i + p
		if end[p] < j {
			k := j
			for k < len(frames) && eq(k-p, k) {
				k++
			}
			end[p] = k
		}
		return 1 + (end[p]-j)/p
	}
	for i := 0; i < len(frames); {
		p, n := 1, copies(i, 1)
		if n <= RecursiveCutoff && natives != nil {
			for q := 2; q <= MaxPeriod && i+q*(RecursiveCutoff+1) <= len(frames); q++ {
				if natives[i+q] == natives[i] {
					continue // Python frames only: traceback's rule
				}
				if c := copies(i, q); c > RecursiveCutoff {
					p, n = q, c
					break
				}
			}
		}
		if n <= RecursiveCutoff {
			show(i)
			i++
			continue
		}
		for j := i; j < i+p*RecursiveCutoff; j++ {
			show(j)
		}
		more(p, n-RecursiveCutoff)
		i += p * n
	}
}

// sameVars: the frames' own variables, as the text shows them, are equal.
func sameVars(a, b *model.Frame) bool {
	if a.LocalsError != b.LocalsError || len(a.Locals) != len(b.Locals) {
		return false
	}
	for i := range a.Locals {
		x, y := &a.Locals[i], &b.Locals[i]
		if x.Name != y.Name || x.Kind != y.Kind || x.Repr != y.Repr || x.Unbound != y.Unbound {
			return false
		}
	}
	return true
}

func sameFrame(a, b *model.Frame) bool {
	if a.Kind != b.Kind || a.File != b.File || a.Line != b.Line {
		return false
	}
	if a.Kind != "native" {
		return frameName(*a) == frameName(*b)
	}
	return a.Address == b.Address && a.Function == b.Function && a.Module == b.Module &&
		a.Inlined == b.Inlined && a.Signal == b.Signal && a.UnwindStopped == b.UnwindStopped
}
