package cpython

// A thread's interpreter frames (3.11+) live in its data stack: a chain of
// chunks (struct _PyStackChunk: previous, size, top, then the frames), the
// newest pointed to by the thread state. Copying the used part of a chunk
// in one read replaces one read per frame, which is most of a capture's
// cost on deep stacks; frames elsewhere (generators, the C stack) are read
// one by one as before.

import "pyscope/internal/target"

const (
	// chunkHeader is sizeof(_PyStackChunk) before its data: three
	// pointers, the same in every version that has data stacks.
	chunkHeader = 3 * pointerSize
	// maxChunk bounds a chunk's size (they are 16 KiB, or one frame's
	// size when larger): a bigger one is torn or not a chunk.
	maxChunk = 16 << 20
	// maxChunks bounds the walk down a thread's chain of chunks.
	maxChunks = 256
)

// stackCopy is what a frame walk has copied of one thread's data stack.
type stackCopy struct {
	next   uint64 // the next chunk to learn, 0 when the chain is known
	chunks []chunkCopy
	buf    *[]byte // storage reused across threads and captures
	used   int
}

// stackTop is what a capture keeps of a thread's innermost frames: the
// pages that hold them, as the target's page cache lent them during the
// stop (never written again), so keeping them copies nothing while the
// target is stopped; the last one holds the innermost frame's variables,
// unless they run onto the next page.
type stackTop struct {
	pages []keptPage
}

type keptPage struct {
	base uint64
	data []byte
}

// maxTopPages bounds the pages kept per thread.
const maxTopPages = 4

// top keeps the pages of the innermost keep frames of raws that lie in
// the newest chunk, when the copy of that chunk went through the page
// cache (pager, and small enough for it: then lending them reads nothing).
func (sc *stackCopy) top(pager target.Pager, raws []rawFrame, keep int) stackTop {
	if keep <= 0 || sc == nil || len(sc.chunks) == 0 || pager == nil {
		return stackTop{}
	}
	c := &sc.chunks[0] // the newest
	if len(c.copied) > maxCachedCopy {
		return stackTop{}
	}
	end := c.base + uint64(len(c.copied))
	lo := end
	for i := 0; i < len(raws) && i < keep; i++ {
		if a := raws[i].addr; a >= c.base+chunkHeader && a < end && a < lo {
			lo = a
		}
	}
	if lo >= end {
		return stackTop{}
	}
	first, last := lo&^(pageSize-1), (end-1)&^(pageSize-1)
	if (last-first)/pageSize >= maxTopPages {
		return stackTop{}
	}
	var t stackTop
	for b := first; b <= last; b += pageSize {
		pg, ok := pager.Page(b)
		if !ok {
			return stackTop{}
		}
		t.pages = append(t.pages, keptPage{b, pg})
	}
	return t
}

// maxCachedCopy: a target's page cache takes reads this long (live's
// takes 16 pages).
const maxCachedCopy = 16 * pageSize

// chunkCopy is one chunk: its address range and what was copied of it.
type chunkCopy struct {
	base, end uint64 // [base, end) is the chunk
	top       uint64 // end of the used part, when known (older chunks)
	copied    []byte // memory from base, once read
}

func (r *Reader) newStackCopy(chunk uint64) *stackCopy {
	if chunk != 0 && !validPtr(chunk) {
		chunk = 0
	}
	// Copies of the previous thread's stack are done with: reuse them.
	return &stackCopy{next: chunk, buf: &r.stackBuf}
}

// readFrame fills dst with the frame at f, from the copy of the data stack
// when f lies in it.
func (r *Reader) readFrame(sc *stackCopy, dst []byte, f uint64) error {
	if sc != nil && sc.read(r, dst, f) {
		return nil
	}
	if err := r.Obj.readInto(dst, f); err != nil {
		return err
	}
	r.recordRead(f, dst)
	return nil
}

func (sc *stackCopy) read(r *Reader, dst []byte, f uint64) bool {
	n := uint64(len(dst))
	for i := 0; ; i++ {
		for j := range sc.chunks {
			c := &sc.chunks[j]
			if f < c.base+chunkHeader || f+n > c.end || f+n < f {
				continue
			}
			if f+n > c.base+uint64(len(c.copied)) && !sc.copy(r, c, f+n) {
				return false
			}
			copy(dst, c.copied[f-c.base:])
			return true
		}
		if sc.next == 0 || i >= maxChunks {
			return false
		}
		if len(sc.chunks) == 0 && f >= sc.next+chunkHeader && f+n-sc.next <= maxChunk {
			// The newest chunk, where the walk starts: its header and
			// frames up to f come in one read.
			if !sc.copyNewest(r, f+n) {
				return false
			}
			continue
		}
		if !sc.learn(r) {
			return false
		}
	}
}

// copyNewest copies the newest chunk from its base up to upto, and learns
// its size and the chunk before it from the header copied with it.
func (sc *stackCopy) copyNewest(r *Reader, upto uint64) bool {
	base := sc.next
	sc.next = 0
	c := chunkCopy{base: base, end: upto}
	if !sc.copy(r, &c, upto) {
		return false
	}
	prev, size := le64(c.copied[0:]), le64(c.copied[8:])
	if size <= chunkHeader || size > maxChunk || base+size < upto {
		return false // not the chunk holding the frame (torn, or another)
	}
	c.end = base + size
	sc.chunks = append(sc.chunks, c)
	if validPtr(prev) {
		sc.next = prev
	}
	return true
}

// learn adds the next chunk of the chain, reading its header.
func (sc *stackCopy) learn(r *Reader) bool {
	base := sc.next
	sc.next = 0
	var h [chunkHeader]byte
	if err := r.Obj.readInto(h[:], base); err != nil {
		return false
	}
	r.recordRead(base, h[:])
	prev, size, top := le64(h[0:]), le64(h[8:]), le64(h[16:])
	if size <= chunkHeader || size > maxChunk {
		return false
	}
	c := chunkCopy{base: base, end: base + size}
	if len(sc.chunks) > 0 && top > base+chunkHeader && top <= c.end {
		// An older chunk: its top was saved when the next one was pushed.
		c.top = top
	}
	sc.chunks = append(sc.chunks, c)
	if validPtr(prev) {
		sc.next = prev
	}
	return true
}

// copy reads chunk c from its base up to at least upto: the whole used
// part of an older chunk, or up to the frame asked for in the newest one
// (the walk goes from the newest frame down, so that is all it needs).
func (sc *stackCopy) copy(r *Reader, c *chunkCopy, upto uint64) bool {
	end := upto
	if c.top >= upto {
		end = c.top
	}
	n := int(end - c.base)
	if cap(*sc.buf)-sc.used < n {
		grown := make([]byte, max(2*cap(*sc.buf), sc.used+n, 64<<10))
		// Copies made so far keep their old storage.
		*sc.buf = grown
		sc.used = 0
	}
	b := (*sc.buf)[sc.used : sc.used+n]
	if err := r.Obj.readInto(b, c.base); err != nil {
		return false
	}
	r.recordRead(c.base, b)
	sc.used += n
	c.copied = b
	return true
}

// maxTops bounds the pages kept of one capture's stacks.
const maxTops = 1 << 14

// keepTops makes the pages of innermost frames cp kept what frameBytes
// serves, until the next capture is resolved.
func (r *Reader) keepTops(cp *Capture) {
	clear(r.tops)
	for _, ct := range cp.threads {
		for _, p := range ct.top.pages {
			if len(r.tops) >= maxTops {
				return
			}
			if r.tops == nil {
				r.tops = map[uint64][]byte{}
			}
			r.tops[p.base] = p.data
		}
	}
}

// frameBytes reads n bytes at addr of a frame: from the kept pages of its
// thread's innermost frames when they hold them, else from the target.
func (r *Reader) frameBytes(addr uint64, n int) ([]byte, error) {
	if n <= 0 || n > pageSize || addr > maxUserAddr {
		return r.Obj.read(addr, n)
	}
	base, off := addr&^(pageSize-1), int(addr&(pageSize-1))
	if pg, ok := r.tops[base]; ok && len(pg) == pageSize {
		if off+n <= pageSize {
			return pg[off : off+n : off+n], nil
		}
		if next, ok := r.tops[base+pageSize]; ok && len(next) == pageSize {
			b := make([]byte, n)
			copy(b[copy(b, pg[off:]):], next)
			return b, nil
		}
	}
	return r.Obj.read(addr, n)
}
