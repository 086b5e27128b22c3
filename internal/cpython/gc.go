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

// ErrFreeThreadedGC: a free-threaded build links no object into the
// collector's lists; its objects are found only by walking mimalloc's
// heaps, which pyscope does not do.
var ErrFreeThreadedGC = fmt.Errorf("%w: a free-threaded build keeps its objects in mimalloc heaps, which pyscope does not walk", ErrNoGCLists)

// GCEach calls fn with every object the garbage collector of interpreter
// interp tracks (its three generations and the permanent one) and the
// object's type, until fn returns false. Each list is a ring through the
// PyGC_Head before every tracked object; a ring that does not close, or
// that leaves readable memory, ends with an error after what it read.
// It may run while the target runs (the result is then a candidate list
// to check once it is stopped: GCTracked).
func (r *Reader) GCEach(interp uint64, fn func(obj, typ uint64) bool) error {
	heads, err := r.gcHeads(interp)
	if err != nil {
		return err
	}
	return r.gcWalk(heads, fn)
}

// GCEachYoung is GCEach over the youngest generation only, where every
// object starts (a few thousand at most between collections).
func (r *Reader) GCEachYoung(interp uint64, fn func(obj, typ uint64) bool) error {
	heads, err := r.gcHeads(interp)
	if err != nil {
		return err
	}
	return r.gcWalk(heads[:1], fn)
}

func (r *Reader) gcHeads(interp uint64) ([]uint64, error) {
	L := r.In.Layout
	G := L.GC
	if L.FreeThreaded {
		return nil, ErrFreeThreadedGC
	}
	if !L.Interp.GC.Valid() || !G.Generations.Valid() || !G.GenerationSize.Valid() || !G.HeadSize.Valid() ||
		G.HeadSize <= 0 || G.HeadSize > 64 || G.GenerationSize < G.HeadSize || G.GenerationSize > 256 {
		return nil, ErrNoGCLists
	}
	var heads []uint64
	for i := range 3 {
		heads = append(heads, interp+uint64(G.Generations)+uint64(i)*uint64(G.GenerationSize))
	}
	if G.Permanent.Valid() {
		heads = append(heads, interp+uint64(G.Permanent))
	}
	return heads, nil
}

// gcBlock is what one read of a collector walk fetches: the objects of a
// list sit mostly in the same pymalloc pools (16 KiB).
const gcBlock = 16 << 10

func (r *Reader) gcWalk(heads []uint64, fn func(obj, typ uint64) bool) error {
	L := r.In.Layout
	hs := uint64(L.GC.HeadSize)
	typeAt := hs + uint64(L.Object.Type)
	buf := make([]byte, typeAt+8)
	// Blocks read for this walk: the page cache is off while the target
	// runs, and one system call per object would be slow.
	blocks := map[uint64][]byte{}
	read := func(p uint64) error {
		base := p &^ (gcBlock - 1)
		if p+uint64(len(buf)) <= base+gcBlock {
			b, ok := blocks[base]
			if !ok {
				if len(blocks) >= 4096 {
					clear(blocks)
				}
				b, _ = r.Obj.read(base, gcBlock)
				blocks[base] = b
			}
			if b != nil {
				copy(buf, b[p-base:])
				return nil
			}
		}
		return r.Obj.readInto(buf, p)
	}
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
			if err := read(p); err != nil {
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

// GCTracked reports whether obj is linked in one of the collector's
// lists: its neighbours point back at it (an object freed since it was
// seen has been unlinked).
func (r *Reader) GCTracked(obj uint64) bool {
	hs := uint64(r.In.Layout.GC.HeadSize)
	if !r.In.Layout.GC.HeadSize.Valid() || obj < hs {
		return false
	}
	head := obj - hs
	b, err := r.Obj.read(head, 16)
	if err != nil {
		return false
	}
	next, prev := le64(b)&^7, le64(b[8:])&^7
	if !validPtr(next) || !validPtr(prev) {
		return false
	}
	n, err1 := r.Obj.u64(next + 8)
	p, err2 := r.Obj.u64(prev)
	return err1 == nil && err2 == nil && n&^7 == head && p&^7 == head
}

// GCCollections is how many collections interpreter interp has run (the
// sum over its generations); ok is false when the layout does not say.
func (r *Reader) GCCollections(interp uint64) (uint64, bool) {
	G := r.In.Layout.GC
	if !G.Stats.Valid() || !G.StatsSize.Valid() || G.StatsSize < 8 {
		return 0, false
	}
	var sum uint64
	for i := range 3 {
		c, err := r.Obj.u64(interp + uint64(G.Stats) + uint64(i)*uint64(G.StatsSize))
		if err != nil {
			return 0, false
		}
		sum += c
	}
	return sum, true
}
