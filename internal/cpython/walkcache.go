package cpython

import (
	"bytes"
	"sync/atomic"
)

// A thread parked in a wait has the same stack at every capture. A frame
// walk depends only on the bytes it reads, so when a thread's walk would
// read the same bytes at the same addresses as last time (checked against
// the overlay or the process, one comparison per range), its frames are
// those of last time, and so are their code objects and lines: neither
// the walk nor the resolution is done again. Only for profilers' captures
// (Reader.Prefetch), and never with values, which a walk does not compare.

// walked is what one thread's last walk read and found.
type walked struct {
	head, chunk uint64
	reads       []walkRead // in the order read
	data        []byte     // their bytes, one after the other
	raws        []rawFrame
	err         error
	key         uint64 // Stack.Key of these frames
	frames      []StackFrame
	resolved    bool
	resolveErr  error
	seen        uint64 // the capture that last used it
}

type walkRead struct {
	addr uint64
	n    int
}

// stackKeys numbers distinct stacks across every reader.
var stackKeys atomic.Uint64

// walkCacheOn says whether this capture may use the walk cache.
func (r *Reader) walkCacheOn() bool { return r.Prefetch && r.Values == nil }

// cachedWalk returns the last walk of the thread state at ts when every
// byte it read is unchanged.
func (r *Reader) cachedWalk(ts, head, chunk uint64) *walked {
	w := r.walks[ts]
	if w == nil || w.head != head || w.chunk != chunk {
		return nil
	}
	off := 0
	for _, rd := range w.reads {
		old := w.data[off : off+rd.n]
		if eq, ok := r.pf.equal(old, rd.addr); ok {
			if !eq {
				return nil
			}
			off += rd.n
			continue
		}
		if cap(r.walkScratch) < rd.n {
			r.walkScratch = make([]byte, rd.n)
		}
		b := r.walkScratch[:rd.n]
		if r.Obj.readInto(b, rd.addr) != nil || !bytes.Equal(b, old) {
			return nil
		}
		off += rd.n
	}
	w.seen = r.captures
	return w
}

// startWalk begins recording a fresh walk of the thread state at ts.
func (r *Reader) startWalk(ts, head, chunk uint64) {
	w := r.walks[ts]
	if w == nil {
		w = &walked{}
		if r.walks == nil {
			r.walks = map[uint64]*walked{}
		}
		r.walks[ts] = w
	}
	*w = walked{head: head, chunk: chunk, reads: w.reads[:0], data: w.data[:0], raws: w.raws[:0],
		frames: w.frames[:0], seen: r.captures}
	r.recording = w
}

// recordRead notes bytes a walk read (stackcopy.go, readFrame).
func (r *Reader) recordRead(addr uint64, b []byte) {
	if w := r.recording; w != nil {
		w.reads = append(w.reads, walkRead{addr, len(b)})
		w.data = append(w.data, b...)
	}
}

// endWalk keeps what the walk found.
func (r *Reader) endWalk(raws []rawFrame, err error) {
	w := r.recording
	r.recording = nil
	if w == nil {
		return
	}
	if err != nil {
		// A walk that failed may not fail again: never reuse it.
		for ts, x := range r.walks {
			if x == w {
				delete(r.walks, ts)
			}
		}
		return
	}
	w.raws = append(w.raws[:0], raws...)
	w.key = stackKeys.Add(1)
}

// pruneWalks drops the walks of threads not seen lately.
func (r *Reader) pruneWalks() {
	for ts, w := range r.walks {
		if w.seen+16 < r.captures {
			delete(r.walks, ts)
		}
	}
}
