package report

import (
	"fmt"

	"pyscope/internal/model"
)

// RecursiveCutoff is how many identical frames in a row a traceback
// prints before one line says how many more there were: CPython's
// traceback module and traceback.c (_RECURSIVE_CUTOFF).
const RecursiveCutoff = 3

// Repeated is the line that stands for the rest of a run of identical
// frames, in traceback's words.
func Repeated(n int) string {
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("[Previous line repeated %d more time%s]", n, s)
}

// Fold walks frames as a traceback prints them: show(i) for each frame
// shown, and more(n) after the first RecursiveCutoff frames of a run of
// identical ones (same file, line and name, traceback's test; a native
// frame: the same address and symbol), n the frames left out. The text
// outputs fold deep recursion this way; JSON keeps every frame.
func Fold(frames []model.Frame, show func(i int), more func(n int)) {
	run := 0
	for i := range frames {
		if i > 0 && sameFrame(&frames[i-1], &frames[i]) {
			run++
		} else {
			if run > RecursiveCutoff {
				more(run - RecursiveCutoff)
			}
			run = 1
		}
		if run <= RecursiveCutoff {
			show(i)
		}
	}
	if run > RecursiveCutoff {
		more(run - RecursiveCutoff)
	}
}

func sameFrame(a, b *model.Frame) bool {
	if a.Kind != b.Kind || a.File != b.File || a.Line != b.Line {
		return false
	}
	if a.Kind != "native" {
		return frameName(*a) == frameName(*b)
	}
	return a.Address == b.Address && a.Function == b.Function && a.Module == b.Module &&
		a.Inlined == b.Inlined && a.Signal == b.Signal
}
