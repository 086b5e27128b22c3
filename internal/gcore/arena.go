package gcore

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The copy made while the target is stopped goes into an arena of
// anonymous slabs mapped, and faulted in, before the stop: the copy then
// pays no page faults, and the pause costs memory bandwidth only.

const slabSize = 64 << 20

// Arena is pyscope's copy of target memory: pieces laid out in slabs.
type Arena struct {
	slabs [][]byte
	cap   uint64 // bytes in slabs
	used  uint64 // bytes handed out, from the start of the first slab on
}

// piece is one contiguous range of target memory and its copy.
type piece struct {
	addr uint64
	buf  []byte
	seg  int
}

// NewArena maps and faults in size bytes.
func NewArena(size uint64) (*Arena, error) {
	a := &Arena{}
	if err := a.grow(size); err != nil {
		a.Free()
		return nil, err
	}
	return a, nil
}

// grow adds slabs until the arena holds size more bytes.
func (a *Arena) grow(size uint64) error {
	for want := a.cap + size; a.cap < want; {
		n := alignUp(min(uint64(slabSize), want-a.cap), pageSize)
		b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return fmt.Errorf("cannot allocate %s for the copy: %v", size2(size), err)
		}
		populate(b)
		a.slabs = append(a.slabs, b)
		a.cap += n
	}
	return nil
}

// populate faults b in: MADV_POPULATE_WRITE (Linux 5.14), else a write to
// every page.
func populate(b []byte) {
	const madvPopulateWrite = 23
	if unix.Madvise(b, madvPopulateWrite) == nil {
		return
	}
	for i := 0; i < len(b); i += pageSize {
		b[i] = 0
	}
}

// Free unmaps the arena.
func (a *Arena) Free() {
	if a == nil {
		return
	}
	for _, b := range a.slabs {
		unix.Munmap(b)
	}
	a.slabs, a.cap, a.used = nil, 0, 0
}

// place lays the spans of the chosen segments out in the arena, in address
// order, growing it (within budget) if they do not fit.
func (a *Arena) place(segs []seg, chosen func(*seg) bool, budget uint64) ([]piece, error) {
	var need uint64
	for i := range segs {
		if chosen(&segs[i]) {
			need += segs[i].dataBytes()
		}
	}
	if free := a.cap - a.used; need > free {
		more := need - free
		if a.cap+more > budget {
			return nil, &NoRoomError{Need: need, Budget: budget}
		}
		if err := a.grow(more); err != nil {
			return nil, err
		}
	}
	var out []piece
	slab, off := 0, uint64(0)
	for i := range segs {
		if !chosen(&segs[i]) {
			continue
		}
		for _, sp := range segs[i].spans() {
			for addr := sp.start; addr < sp.end; {
				for off >= uint64(len(a.slabs[slab])) {
					slab, off = slab+1, 0
				}
				n := min(sp.end-addr, uint64(len(a.slabs[slab]))-off)
				out = append(out, piece{addr: addr, buf: a.slabs[slab][off : off+n], seg: i})
				addr += n
				off += n
				a.used += n
			}
		}
	}
	return out, nil
}

// NoRoomError says the copy does not fit in the memory it may take.
type NoRoomError struct{ Need, Budget uint64 }

func (e *NoRoomError) Error() string {
	return fmt.Sprintf("copying %s of memory would leave too little free (%s may be used)", size2(e.Need), size2(e.Budget))
}

// Budget is how much of avail (the memory pyscope may allocate) a copy may
// take: all but a margin of 1/20 of the machine (total), at least 512 MiB,
// for everything else.
func Budget(avail, total uint64) uint64 {
	margin := max(uint64(512<<20), total/20)
	if avail <= margin {
		return 0
	}
	return avail - margin
}

// size2 prints a byte count for people.
func size2(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
