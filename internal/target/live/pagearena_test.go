package live

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPrefault: prefault makes the arena's next huge pages resident
// before a stop, touching nothing a buffer already handed out holds, and
// the buffers handed out after it are still zero.
func TestPrefault(t *testing.T) {
	held := pageBuffer(pageSize)
	held[0] = 0x5a
	prefault(prefaultCapture)
	a := &pageArena
	a.mu.Lock()
	free := a.free
	a.mu.Unlock()
	if len(free) == 0 {
		t.Skip("the arena could not be mapped here")
	}
	if held[0] != 0x5a {
		t.Fatal("prefault wrote into a buffer already handed out")
	}
	// Each huge page within reach holds a resident page (all of it where
	// THP backs the region).
	start := uintptr(unsafe.Pointer(&free[0])) // page-aligned: buffers are whole pages
	reach := min(len(free), prefaultCapture)
	for off := 0; off < reach; off = int((start+uintptr(off))&^(hugePage-1) + hugePage - start) {
		var vec [1]byte
		page := free[off : off+pageSize]
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&page[0])), pageSize, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		if vec[0]&1 == 0 {
			t.Errorf("the arena's page at offset %d is not resident after prefault", off)
		}
	}
	for _, n := range []int{pageSize, 64 * pageSize} {
		b := pageBuffer(n)
		for i, c := range b {
			if c != 0 {
				t.Fatalf("a %d-byte buffer handed out after prefault has %#x at %d", n, c, i)
			}
		}
	}
}
