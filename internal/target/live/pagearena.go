package live

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// arenaSize is how much of the page cache comes from the arena: a plain
// dump of 100 threads × 50 frames fills about 3.5 MiB.
const arenaSize = 16 << 20

const hugePage = 2 << 20

// pageArena hands out the page cache's buffers from one region mapped
// once per process and asked for transparent huge pages: filling a fresh
// 4 KiB page of pyscope's heap costs a page fault (about a third of a
// dump's CPU went to them), a huge page costs one fault per 2 MiB. The
// region is never unmapped nor reused, so a page the cache lent stays
// valid whatever holds it; past it, buffers come from the heap as before.
var pageArena struct {
	mu     sync.Mutex
	mapped bool
	free   []byte
	// faulted is where the region's faulted part ends (see prefault).
	faulted uintptr
	settled bool // see settleArena
}

// Arena room prefault faults ahead: for a stop that reads every thread,
// about what a plain dump of 100 threads × 50 frames fills while stopped;
// for one that reads the GIL holder's stack alone (Stop), a few pages,
// so that only a huge page it would likely cross is faulted early.
const (
	prefaultCapture = 4 << 20
	prefaultStack   = 256 << 10
)

// prefault faults the arena's huge pages within ahead bytes of what is
// handed out, so that a capture that fills them while the target is
// stopped does not: a huge page's fault zeroes 2 MiB (0.2-0.55 ms here),
// and where the kernel compacts memory to find one (THP defrag
// "madvise") it took 6 ms. It writes one zero per huge page (a read would
// map the shared zero page). Where THP is off it faults a 4 KiB page per
// huge page, which costs nothing.
func prefault(ahead int) {
	a := &pageArena
	a.mu.Lock()
	defer a.mu.Unlock()
	mapArena()
	if len(a.free) == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(&a.free[0]))
	end := start + uintptr(min(len(a.free), ahead))
	for p := max(start, a.faulted); p < end; p = (p + hugePage) &^ (hugePage - 1) {
		a.free[p-start] = 0
	}
	a.faulted = max(a.faulted, end)
}

// settleArena has the rest of the arena faulted in 4 KiB pages from the
// next huge page on. It runs when a capture's handle resumes the target
// or closes: what a dump still reads afterwards (code objects, the
// analyses' objects) is a few hundred KiB, for which a fresh huge page
// would zero 2 MiB (a dump of 50 deadlocked pairs read 456 KiB past its
// first huge page and spent 0.2-0.3 ms, a tenth of its lock analysis,
// zeroing the second).
func settleArena() {
	a := &pageArena
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.mapped || a.settled || len(a.free) == 0 {
		return
	}
	a.settled = true
	start := uintptr(unsafe.Pointer(&a.free[0]))
	next := (max(start, a.faulted) + hugePage - 1) &^ (hugePage - 1)
	if skip := next - start; skip < uintptr(len(a.free)) {
		_ = unix.Madvise(a.free[skip:], unix.MADV_NOHUGEPAGE)
	}
}

// pageBuffer is a zeroed buffer of n bytes (a multiple of pageSize) for
// the page cache.
func pageBuffer(n int) []byte {
	a := &pageArena
	a.mu.Lock()
	defer a.mu.Unlock()
	mapArena()
	if n <= len(a.free) {
		b := a.free[:n:n]
		a.free = a.free[n:]
		return b
	}
	return make([]byte, n)
}

// mapArena maps the region on first use; pageArena.mu is held.
func mapArena() {
	a := &pageArena
	if !a.mapped {
		a.mapped = true
		if b, err := unix.Mmap(-1, 0, arenaSize+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE); err == nil {
			// From a huge page boundary: the kernel backs only aligned
			// 2 MiB ranges with huge pages. (Where THP is off or
			// "never", these are ordinary pages, faulted one by one.)
			skip := 0
			if r := uintptr(unsafe.Pointer(&b[0])) % hugePage; r != 0 {
				skip = int(hugePage - r)
			}
			b = b[skip : skip+arenaSize : skip+arenaSize]
			_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
			a.free = b
		}
	}
}
