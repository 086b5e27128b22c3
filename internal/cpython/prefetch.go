package cpython

import (
	"cmp"
	"slices"
	"sort"

	"pyscope/internal/target"
)

// A process captured again and again (a profiler) is read in the same
// places each time: its thread states, the used part of each data stack,
// the GIL. The reader notes where one capture read and, at the start of
// the next, reads all of it in one call (target.VectorReader) into an
// overlay that serves that capture's reads; what the overlay lacks (a
// stack that grew, a new thread) is read as before and noted for the next
// time. Without a stop, the overlay is also more consistent than reads
// spread over the capture.
//
// When no thread of the process has run since the last capture
// (target.Unmoving: every thread asleep, its scheduler counts unchanged),
// nothing that capture read has changed, and when the overlay alone served
// it, the overlay serves this one too without a read: a parked process
// costs no memory read per sample.

const (
	maxPlanRegions = 1024    // ranges noted per capture
	maxPlanBytes   = 8 << 20 // and their total size
	planGap        = 64      // ranges closer than this are read as one
)

// prefetch is the reader's plan and overlay.
type prefetch struct {
	on      bool     // the overlay serves reads, and misses are noted
	plan    []region // noted by this capture, for the next
	regions []region // the overlay, by address
	buf     []byte
	addrs   []uint64
	bufs    [][]byte
	ok      []bool
	// last is the overlay of the last capture when it served every read
	// (nothing was noted), kept for a capture of a process that did not
	// run since, through the same target (lastFrom), which says so.
	last     []region
	lastFrom target.Target
	reused   int // captures served from last
}

type region struct {
	addr uint64
	n    int
	data []byte
	used bool
}

// begin reads what the last capture noted from t in one call and starts
// noting anew.
func (p *prefetch) begin(t target.Target) {
	if u, ok := t.(target.Unmoving); ok && len(p.last) > 0 && t == p.lastFrom && u.Unmoved() {
		p.reused++
		p.regions, p.last = p.last, p.regions[:0]
		for i := range p.regions {
			p.regions[i].used = false
		}
		p.plan = p.plan[:0]
		p.on = true
		return
	}
	p.last, p.lastFrom = p.last[:0], nil // its bytes are overwritten below
	p.regions = p.regions[:0]
	plan := p.plan
	p.plan = nil
	p.on = true
	vr, ok := t.(target.VectorReader)
	if !ok || len(plan) == 0 {
		return
	}
	slices.SortFunc(plan, func(a, b region) int { return cmp.Compare(a.addr, b.addr) })
	// Merge what overlaps or nearly touches.
	merged := plan[:1]
	for _, r := range plan[1:] {
		last := &merged[len(merged)-1]
		// Ranges on one page are read as one: process_vm_readv pins and
		// copies page by page, but locks and looks up the memory map
		// again for every range (0.2-0.3 µs), and the bytes between cost
		// next to nothing.
		if end := last.addr + uint64(last.n); r.addr <= end+planGap || (end-1)/pageSize == r.addr/pageSize {
			if e := r.addr + uint64(r.n); e > end {
				last.n = int(e - last.addr)
			}
			continue
		}
		merged = append(merged, r)
	}
	total := 0
	for _, r := range merged {
		total += r.n
	}
	if cap(p.buf) < total {
		p.buf = make([]byte, total)
	}
	buf := p.buf[:total]
	p.addrs, p.bufs, p.ok = p.addrs[:0], p.bufs[:0], p.ok[:0]
	off := 0
	for _, r := range merged {
		p.addrs = append(p.addrs, r.addr)
		p.bufs = append(p.bufs, buf[off:off+r.n])
		p.ok = append(p.ok, false)
		off += r.n
	}
	vr.ReadVector(p.addrs, p.bufs, p.ok)
	for i, r := range merged {
		if p.ok[i] {
			p.regions = append(p.regions, region{addr: r.addr, n: r.n, data: p.bufs[i]})
		}
	}
	p.plan = plan[:0]
}

// end stops the overlay: what follows (code objects, after the process
// resumed) is read from the process. The next capture reads what this one
// read: the ranges of the overlay it used, and those it missed. t is the
// target begin read the overlay from.
func (p *prefetch) end(t target.Target) {
	p.on = false
	missed := len(p.plan) > 0
	for _, r := range p.regions {
		if r.used && len(p.plan) < maxPlanRegions {
			p.plan = append(p.plan, region{addr: r.addr, n: r.n})
		}
	}
	if !missed && len(p.regions) > 0 {
		p.regions, p.last, p.lastFrom = p.last[:0], p.regions, t
		return
	}
	p.last, p.lastFrom = p.last[:0], nil
	p.regions = p.regions[:0]
}

// read serves the start of b from the overlay and says how much of it.
func (p *prefetch) read(b []byte, addr uint64) int {
	rs := p.regions
	i := sort.Search(len(rs), func(i int) bool { return rs[i].addr+uint64(rs[i].n) > addr })
	if i < len(rs) && rs[i].addr <= addr {
		rs[i].used = true
		return copy(b, rs[i].data[addr-rs[i].addr:])
	}
	return 0
}

// equal says whether the overlay holds b at addr; ok is false when it
// does not hold that range at all.
func (p *prefetch) equal(b []byte, addr uint64) (equal, ok bool) {
	if !p.on {
		return false, false
	}
	rs := p.regions
	i := sort.Search(len(rs), func(i int) bool { return rs[i].addr+uint64(rs[i].n) > addr })
	if i < len(rs) && rs[i].addr <= addr && addr+uint64(len(b)) <= rs[i].addr+uint64(rs[i].n) {
		rs[i].used = true
		return string(rs[i].data[addr-rs[i].addr:][:len(b)]) == string(b), true
	}
	return false, false
}

// note records a read the overlay could not serve whole, for the next
// capture.
func (p *prefetch) note(addr uint64, n int) {
	if len(p.plan) >= maxPlanRegions || n <= 0 || n > maxPlanBytes {
		return
	}
	p.plan = append(p.plan, region{addr: addr, n: n})
}

// OverlayReuses is how many captures were served from the last capture's
// overlay without reading the process (a parked process's samples).
func (r *Reader) OverlayReuses() int { return r.pf.reused }
