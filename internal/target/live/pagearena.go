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

// pageBuffer is a zeroed buffer of n bytes (a multiple of pageSize) for
// the page cache. A reader that captures (fault) may fault the arena's
// next huge page; one that only reads around captures (the engine's
// probe: discovery, code objects, the analyses' objects after the
// target resumed) takes what is left of the huge pages already faulted,
// then the heap: a few hundred KiB should not zero 2 MiB (a dump of 50
// deadlocked pairs on Debian 3.11 read 456 KiB after its capture, and
// zeroed a second huge page for the last 116 KiB of it).
func pageBuffer(n int, fault bool) []byte {
	a := &pageArena
	a.mu.Lock()
	defer a.mu.Unlock()
	mapArena()
	room := len(a.free)
	if !fault && room > 0 {
		start := uintptr(unsafe.Pointer(&a.free[0]))
		faulted := (max(start, a.faulted) + hugePage - 1) &^ (hugePage - 1)
		room = min(room, int(faulted-start))
	}
	if n <= room {
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
