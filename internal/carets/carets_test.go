package carets

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/pybuilds"
)

// caretLine picks the marker line under the first source line of a frame
// CPython formatted, relative to that line with its indentation stripped;
// "" when there is none.
func caretLine(formatted string) string {
	lines := strings.Split(formatted, "\n")
	if len(lines) < 3 {
		return ""
	}
	src, marks := lines[1], lines[2]
	if strings.Trim(marks, " ^~") != "" || strings.TrimSpace(marks) == "" {
		return ""
	}
	indent := len(src) - len(strings.TrimLeft(src, " "))
	if len(marks) < indent {
		return "?" + marks
	}
	return marks[indent:]
}

// TestCaretsMatchCPython compares the markers for every instruction
// location of thousands of real code objects (the standard library and
// testdata/cases.py) with what each interpreter's own traceback module
// prints for a frame there.
func TestCaretsMatchCPython(t *testing.T) {
	for _, minor := range pybuilds.Minors() {
		m, _ := strconv.Atoi(strings.TrimPrefix(minor, "3."))
		if m < 11 {
			continue
		}
		t.Run(minor, func(t *testing.T) {
			t.Parallel()
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatalf("provision Python %s: %v (run scripts/test.sh)", minor, err)
			}
			out, err := exec.Command(b.Python, "testdata/tracebacks.py").Output()
			if err != nil {
				t.Fatalf("run %s: %v", b.Python, err)
			}
			var frames []struct {
				File      string
				Pos       [4]int
				Formatted string
			}
			if err := json.Unmarshal(out, &frames); err != nil {
				t.Fatal(err)
			}
			files := map[string][]string{}
			shown, bad := 0, 0
			for _, f := range frames {
				src, ok := files[f.File]
				if !ok {
					data, err := os.ReadFile(f.File)
					if err != nil {
						t.Fatal(err)
					}
					src = strings.Split(string(data), "\n")
					files[f.File] = src
				}
				line, endLine, col, endCol := f.Pos[0], f.Pos[1], f.Pos[2], f.Pos[3]
				if endLine < line || endLine > len(src) {
					continue
				}
				want := caretLine(f.Formatted)
				got := Line(m, src[line-1:endLine], col, endCol)
				if want != "" {
					shown++
				}
				if got != want {
					bad++
					if bad <= 20 {
						t.Errorf("%s:%d %v:\n%s  got carets %q\n  want       %q", f.File, line, f.Pos, f.Formatted, got, want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d locations differ", bad, len(frames))
			}
			if len(frames) < 10000 || shown < 2000 {
				t.Errorf("only %d locations, %d with carets, checked", len(frames), shown)
			}
			t.Logf("%d locations, %d with carets", len(frames), shown)
		})
	}
}
