package cpython

import (
	"errors"
	"fmt"
)

// maxGCObjects bounds one walk of the collector's lists, whatever the
// target holds.
const maxGCObjects = 1 << 24

// ErrNoGCLists means this build's layout does not say where the
// collector's lists are.
var ErrNoGCLists = errors.New("this build's layout does not describe the garbage collector's lists")

// GCEach calls fn with every object the garbage collector of interpreter
// interp tracks (its three generations and the permanent one) and the
// object's type, until fn returns false. Each list is a ring through the
// PyGC_Head before every tracked object; a ring that does not close, or
// that leaves readable memory, ends with an error after what it read.
func (r *Reader) GCEach(interp uint64, fn func(obj, typ uint64) bool) error {
	L := r.In.Layout
	G := L.GC
	if !L.Interp.GC.Valid() || !G.Generations.Valid() || !G.GenerationSize.Valid() || !G.HeadSize.Valid() ||
		G.HeadSize <= 0 || G.HeadSize > 64 || G.GenerationSize < G.HeadSize || G.GenerationSize > 256 {
		return ErrNoGCLists
	}
	heads := []uint64{}
	for i := range 3 {
		heads = append(heads, interp+uint64(G.Generations)+uint64(i)*uint64(G.GenerationSize))
	}
	if G.Permanent.Valid() {
		heads = append(heads, interp+uint64(G.Permanent))
	}
	hs := uint64(G.HeadSize)
	typeAt := hs + uint64(L.Object.Type)
	buf := make([]byte, typeAt+8)
	n := 0
	var errs []error
	for _, head := range heads {
		next, err := r.Obj.u64(head)
		if err != nil {
			errs = append(errs, fmt.Errorf("collector list at %#x: %w", head, err))
			continue
		}
		var cg cycleGuard
		for p := next &^ 7; p != head; {
			if !validPtr(p) {
				errs = append(errs, fmt.Errorf("collector list at %#x: bad link %#x", head, p))
				break
			}
			if cg.seen(p) {
				errs = append(errs, fmt.Errorf("collector list at %#x does not close", head))
				break
			}
			if n++; n > maxGCObjects {
				return errors.Join(append(errs, fmt.Errorf("more than %d objects tracked by the collector", maxGCObjects))...)
			}
			if err := r.Obj.readInto(buf, p); err != nil {
				errs = append(errs, fmt.Errorf("collector list at %#x: %w", head, err))
				break
			}
			if !fn(p+hs, le64(buf[typeAt:])) {
				return errors.Join(errs...)
			}
			p = le64(buf) &^ 7
		}
	}
	return errors.Join(errs...)
}
