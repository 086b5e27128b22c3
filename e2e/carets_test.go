package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// textFrame is one Python frame of the text output.
type textFrame struct {
	file, source, marks string
	line                int
	native              bool // a native frame: file is its line
}

var (
	textThreadRe = regexp.MustCompile(`^Thread (0x[0-9a-f]+)`)
	textFrameRe  = regexp.MustCompile(`^  File "(.*)", line (-?\d+), in `)
)

// parseText reads `pyscope dump` text: each thread's frames with the
// source line and marker line under them.
func parseText(out string) map[uint64][]textFrame {
	threads := map[uint64][]textFrame{}
	var id uint64
	var chunk []string
	flush := func() {
		if id != 0 {
			threads[id] = parseFrames(strings.Join(chunk, "\n"))
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if m := textThreadRe.FindStringSubmatch(l); m != nil {
			flush()
			id, _ = strconv.ParseUint(m[1], 0, 64)
			chunk = nil
			continue
		}
		chunk = append(chunk, l)
	}
	flush()
	return threads
}

// parseFrames reads traceback-style frames (dump's text, py-bt): each
// `File` line with the source and marker lines under it; a run folded as
// `[Previous line repeated N more times]` is the frame above N more times,
// and one folded as `[Previous P frames repeated N more times]` the P
// frames above (native ones counted, then left out) N more times.
func parseFrames(out string) []textFrame {
	frames := parseAllFrames(out)
	py := frames[:0]
	for _, f := range frames {
		if !f.native {
			py = append(py, f)
		}
	}
	return py
}

// parseAllFrames is parseFrames with dump --native's native frames, whose
// lines start with "Native " (or are a signal frame).
func parseAllFrames(out string) []textFrame {
	var frames []textFrame
	for _, l := range strings.Split(out, "\n") {
		if m := textFrameRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			frames = append(frames, textFrame{file: m[1], line: n})
			continue
		}
		if textNativeRe.MatchString(l) {
			frames = append(frames, textFrame{native: true, file: strings.TrimSpace(l)})
			continue
		}
		if p, n, ok := repeatedFrames(l); ok && len(frames) >= p {
			block := slices.Clone(frames[len(frames)-p:])
			for range n {
				frames = append(frames, block...)
			}
			continue
		}
		if len(frames) == 0 || frames[len(frames)-1].native || !strings.HasPrefix(l, "    ") {
			continue
		}
		f := &frames[len(frames)-1]
		switch {
		case f.source == "":
			f.source = l[4:]
		case f.marks == "" && strings.Trim(l, " ^~") == "":
			f.marks = l[4:]
		}
	}
	return frames
}

var (
	repeatedRe   = regexp.MustCompile(`^ *\[Previous (?:line|(\d+) frames) repeated (\d+) more times?\]$`)
	textNativeRe = regexp.MustCompile(`^  (?:Native |<signal handler called>)`)
)

// repeatedFrames reads the line that folds a run: the block of p frames
// above it (1: a run of identical frames) repeats n more times.
func repeatedFrames(l string) (p, n int, ok bool) {
	m := repeatedRe.FindStringSubmatch(l)
	if m == nil {
		return 0, 0, false
	}
	p = 1
	if m[1] != "" {
		if p, _ = strconv.Atoi(m[1]); p < 1 {
			return 0, 0, false
		}
	}
	n, err := strconv.Atoi(m[2])
	return p, n, err == nil
}

// tracebackMarks is the source line and the marker line (relative to the
// stripped source line) of a frame the target's traceback module formatted.
func tracebackMarks(formatted string) (source, marks string) {
	lines := strings.Split(formatted, "\n")
	if len(lines) < 2 {
		return "", ""
	}
	source = strings.TrimSpace(lines[1])
	if len(lines) > 2 && strings.TrimSpace(lines[2]) != "" && strings.Trim(lines[2], " ^~") == "" {
		indent := len(lines[1]) - len(strings.TrimLeft(lines[1], " "))
		if len(lines[2]) >= indent {
			marks = lines[2][indent:]
		}
	}
	return source, marks
}

// compareCarets checks the text dump's source lines and markers against
// how the target's own traceback module prints each frame (3.11+ mark the
// running expression with ^ and ~; CPython decides when).
func compareCarets(t *testing.T, bin string, tg *testenv.Target) {
	t.Helper()
	r := runPyscope(t, bin, nil, "dump", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("pyscope dump: exit %d\n%s", r.code, r.stderr)
	}
	text := parseText(r.stdout)
	marked := 0
	for _, ot := range tg.Oracle.Threads {
		if !ot.Busy { // a busy thread's instruction moves within the line
			marked += compareMarks(t, label(&ot), &ot, text[ot.ThreadID])
		}
	}
	if tg.Oracle.Version >= "3.11" && marked == 0 {
		t.Errorf("no frame with markers on %s: nothing was compared", tg.Oracle.Version)
	}
}

// compareMarks compares frames printed by pyscope with the target's own
// traceback formatting of the same frames; it returns how many had markers.
func compareMarks(t *testing.T, who string, ot *testenv.OracleThread, frames []textFrame) int {
	t.Helper()
	if len(frames) != len(ot.Frames) {
		t.Errorf("%s: %d frames in the text output, want %d", who, len(frames), len(ot.Frames))
		return 0
	}
	marked := 0
	for i, of := range ot.Frames {
		src, marks := tracebackMarks(of.Formatted)
		got := frames[i]
		if src == "" {
			continue // no source: traceback prints none either
		}
		if got.source != src || got.marks != marks {
			t.Errorf("%s frame %d (%s:%d):\n  pyscope:   %q\n             %q\n  traceback: %q\n             %q",
				who, i, of.File, of.Line, got.source, got.marks, src, marks)
		}
		if marks != "" {
			marked++
		}
	}
	return marked
}
