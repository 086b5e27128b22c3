package report

import (
	"strconv"
	"strings"

	"pyscope/internal/carets"
	"pyscope/internal/model"
)

// Carets returns the markers to print under frame f's source line, as the
// target's own traceback would (3.11+, PEP 657), or "". version is the
// target's Python version; line(n) returns source line n of f's file.
func Carets(version string, f model.Frame, line func(n int) (string, bool)) string {
	if f.EndLine == nil || f.Column == nil || f.EndColumn == nil || *f.EndLine < f.Line || f.Line < 1 {
		return ""
	}
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 || parts[0] != "3" {
		return ""
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil || *f.EndLine-f.Line >= 200 {
		return ""
	}
	var lines []string
	for n := f.Line; n <= *f.EndLine; n++ {
		l, ok := line(n)
		if !ok {
			return ""
		}
		lines = append(lines, l)
	}
	// Escaped text no longer lines up with the columns.
	if Safe(lines[0]) != lines[0] {
		return ""
	}
	return carets.Line(minor, lines, *f.Column, *f.EndColumn)
}
