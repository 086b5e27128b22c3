package report

import (
	"fmt"
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
	}, func(n int) { got = append(got, Repeated(n)) })
	want := []string{"one0", "three0", "three0", "three0", "four0", "four0", "four0", "[Previous line repeated 1 more time]",
		"ten0", "ten0", "ten0", "[Previous line repeated 7 more times]", "1", "1", "1", "[Previous line repeated 1 more time]", "2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Fold:\n got %q\nwant %q", got, want)
	}
}
