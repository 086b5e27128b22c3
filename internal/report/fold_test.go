package report

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pyscope/internal/model"
)

// Fold keeps traceback's rule: three identical frames in a row shown,
// then how many more; a frame that differs only in its column is the same
// (traceback compares file, line and name).
func TestFold(t *testing.T) {
	col := func(c int) *int { return &c }
	run := func(name string, n int) []model.Frame {
		out := make([]model.Frame, n)
		for i := range out {
			out[i] = model.Frame{Kind: "python", Function: name, File: "a.py", Line: 1, Column: col(i)}
		}
		return out
	}
	var frames []model.Frame
	for n, name := range []string{"one", "three", "four", "ten"} {
		frames = append(frames, run(name, []int{1, 3, 4, 10}[n])...)
	}
	frames = append(frames, model.Frame{Kind: "native", Address: 1}, model.Frame{Kind: "native", Address: 1},
		model.Frame{Kind: "native", Address: 1}, model.Frame{Kind: "native", Address: 1}, model.Frame{Kind: "native", Address: 2})
	var got []string
	Fold(frames, func(i int) {
		got = append(got, fmt.Sprintf("%s%d", frames[i].Function, frames[i].Address))
	}, func(p, n int) { got = append(got, Repeated(p, n)) })
	want := []string{"one0", "three0", "three0", "three0", "four0", "four0", "four0", "[Previous line repeated 1 more time]",
		"ten0", "ten0", "ten0", "[Previous line repeated 7 more times]", "1", "1", "1", "[Previous line repeated 1 more time]", "2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Fold:\n got %q\nwant %q", got, want)
	}
}

// foldLines is what Fold shows of frames, one token a frame (its name and
// address) or a fold line, and the frames the shown ones and the fold
// lines stand for, expanded.
func foldLines(frames []model.Frame) (lines []string, expanded []model.Frame) {
	Fold(frames, func(i int) {
		lines = append(lines, fmt.Sprintf("%s%d", frames[i].Function, frames[i].Address))
		expanded = append(expanded, frames[i])
	}, func(p, n int) {
		lines = append(lines, Repeated(p, n))
		block := slices.Clone(expanded[len(expanded)-p:])
		for range n {
			expanded = append(expanded, block...)
		}
	})
	return lines, expanded
}

// A Python recursion seen with its native frames repeats a block of
// frames: a block of 1..MaxPeriod frames with a native one in it shows
// RecursiveCutoff times, then one line for the rest, and the lines add up
// to every frame; a partial copy after the run is shown.
func TestFoldPeriods(t *testing.T) {
	py := func(name string, line int) model.Frame {
		return model.Frame{Kind: "python", Function: name, File: "a.py", Line: line}
	}
	nat := func(addr uint64) model.Frame {
		return model.Frame{Kind: "native", Function: "n", Module: "libpython.so", Address: addr}
	}
	for p := 1; p <= MaxPeriod; p++ {
		for _, reps := range []int{RecursiveCutoff, RecursiveCutoff + 1, 1000} {
			// The block: recurse at line 2, and p-1 native frames (a
			// native frame alone when p is 1).
			block := []model.Frame{py("recurse", 2)}
			for j := 1; j < p; j++ {
				block = append(block, nat(uint64(100+j)))
			}
			if p == 1 {
				block = []model.Frame{nat(100)}
			}
			frames := []model.Frame{nat(1), py("leaf", 1)}
			for range reps {
				frames = append(frames, block...)
			}
			// A partial copy, then the outermost frames.
			frames = append(frames, block[:p-1]...)
			frames = append(frames, py("main", 9), nat(2))
			lines, expanded := foldLines(frames)
			want := []string{"n1", "leaf0"}
			for j := range min(reps, RecursiveCutoff) * p {
				want = append(want, fmt.Sprintf("%s%d", block[j%p].Function, block[j%p].Address))
			}
			if reps > RecursiveCutoff {
				want = append(want, Repeated(p, reps-RecursiveCutoff))
			}
			for _, f := range block[:p-1] {
				want = append(want, fmt.Sprintf("%s%d", f.Function, f.Address))
			}
			want = append(want, "main0", "n2")
			if !slices.Equal(lines, want) {
				t.Errorf("period %d, %d copies: Fold shows\n %q\nwant\n %q", p, reps, lines, want)
			}
			if len(expanded) != len(frames) || !slices.EqualFunc(expanded, frames, func(a, b model.Frame) bool { return sameFrame(&a, &b) }) {
				t.Errorf("period %d, %d copies: the lines stand for %d frames, not the %d there are", p, reps, len(expanded), len(frames))
			}
		}
	}
	if got := Repeated(4, 997); got != "[Previous 4 frames repeated 997 more times]" {
		t.Errorf("Repeated(4, 997) = %q", got)
	}
	if got := Repeated(2, 1); got != "[Previous 2 frames repeated 1 more time]" {
		t.Errorf("Repeated(2, 1) = %q", got)
	}
}

// Python frames alone fold as traceback folds them: only identical frames
// in a row, so a mutual recursion a→b→a→b stays whole, even in a stack
// that has native frames elsewhere; a block longer than MaxPeriod does not
// fold.
func TestFoldPythonBlocks(t *testing.T) {
	var frames []model.Frame
	for range 10 {
		frames = append(frames, model.Frame{Kind: "python", Function: "a", File: "a.py", Line: 1},
			model.Frame{Kind: "python", Function: "b", File: "a.py", Line: 2})
	}
	frames = append(frames, model.Frame{Kind: "native", Address: 1})
	long := make([]model.Frame, 0, 5*(MaxPeriod+1))
	for range 5 {
		for j := range MaxPeriod + 1 {
			long = append(long, model.Frame{Kind: "native", Function: "c", Address: uint64(10 + j)})
		}
	}
	for _, fs := range [][]model.Frame{frames, long} {
		lines, _ := foldLines(fs)
		if len(lines) != len(fs) {
			t.Errorf("Fold folded %d frames into %d lines: %q", len(fs), len(lines), lines)
		}
	}
}

// A stack of 100k native frames full of near misses (a block of 7 frames
// copied twice and a bit, over and over) folds nothing and stays whole.
func TestFoldLinear(t *testing.T) {
	frames := make([]model.Frame, 100_000)
	for i := range frames {
		// Period 7 for a while, then one frame off: no run long enough
		// at the period, many near misses.
		frames[i] = model.Frame{Kind: "native", Function: "f", Address: uint64(i % 7)}
		if i%20 == 19 {
			frames[i].Address = uint64(1000 + i)
		}
	}
	shown := 0
	Fold(frames, func(int) { shown++ }, func(p, n int) { shown += p * n })
	if shown != len(frames) {
		t.Errorf("the lines stand for %d frames, not %d", shown, len(frames))
	}
}

// A native stack shown apart from the Python one (the stacks did not pair
// up) folds as the merged stacks do.
func TestFoldNativeStack(t *testing.T) {
	var native []model.Frame
	for range 100 {
		native = append(native, model.Frame{Kind: "native", Function: "walk", Module: "ext.so", Address: 0x10},
			model.Frame{Kind: "native", Function: "visit", Module: "ext.so", Address: 0x20})
	}
	s := &model.Snapshot{Threads: []model.Thread{{ThreadID: 1, NativeFrames: native}}}
	var b strings.Builder
	if err := Text(&b, s, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "Native 0x"); got != 2*RecursiveCutoff || !strings.Contains(b.String(), Repeated(2, 97)) {
		t.Errorf("the native stack of 200 frames is not folded to 3 copies of 2 and a line:\n%s", b.String())
	}
}
