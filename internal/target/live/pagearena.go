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
}

// pageBuffer is a zeroed buffer of n bytes (a multiple of pageSize) for
// the page cache.
func pageBuffer(n int) []byte {
	a := &pageArena
	a.mu.Lock()
	defer a.mu.Unlock()
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
	if n <= len(a.free) {
		b := a.free[:n:n]
		a.free = a.free[n:]
		return b
	}
	return make([]byte, n)
}
