package cpython

import (
	"testing"

	"pyscope/internal/cpython/layout"
)

// TestFrameWalkBadLayout: a frame layout from a target's own
// _Py_DebugOffsets or DWARF is untrusted; one whose fields fall outside
// the frame header must end the walk with an error, never a panic.
func TestFrameWalkBadLayout(t *testing.T) {
	for sel := byte(0); sel < 4; sel++ {
		l, minor := fuzzLayout(t, sel)
		walk := func(l *layout.Layout) error {
			r := &Reader{In: &Interpreter{Minor: minor, Layout: l},
				Obj: NewObjects(mem{&fuzzMem{data: make([]byte, 4096)}}, l, minor)}
			_, err := r.captureFrames(fuzzBase, fuzzBase-64)
			return err
		}
		// A frame of zeros ends the chain at once.
		if err := walk(l); err != nil {
			t.Fatalf("3.%d: the generated table is refused: %v", minor, err)
		}
		bad := *l
		if minor <= 10 {
			bad.FrameObj.Lasti = bad.FrameObj.Localsplus
		} else {
			bad.Frame.Owner = bad.Frame.Localsplus
		}
		if err := walk(&bad); err == nil {
			t.Fatalf("3.%d: a field outside the frame header was accepted", minor)
		}
		bad = *l
		bad.Frame.Localsplus, bad.FrameObj.Localsplus = -1, -1
		if err := walk(&bad); err == nil {
			t.Fatalf("3.%d: an unknown localsplus offset was accepted", minor)
		}
	}
}
