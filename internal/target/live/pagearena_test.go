package live

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPrefault: prefault makes the arena's next huge pages resident
// before a stop, and the buffers handed out after it are still zero.
func TestPrefault(t *testing.T) {
	prefault(prefaultCapture)
	a := &pageArena
	a.mu.Lock()
	free := a.free
	a.mu.Unlock()
	if len(free) == 0 {
		t.Skip("the arena could not be mapped here")
	}
	// Each huge page boundary within reach is resident (with THP, the
	// whole huge page). The fill point's own page is not checked: an
	// earlier prefault may have covered it by touching its huge page
	// elsewhere, which is all it takes where THP backs the region.
	start := uintptr(unsafe.Pointer(&free[0])) // page-aligned: buffers are whole pages
	reach := uintptr(min(len(free), prefaultCapture))
	checked := 0
	for q := (start + hugePage - 1) &^ (hugePage - 1); q < start+reach; q += hugePage {
		var vec [1]byte
		page := free[q-start : q-start+pageSize]
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&page[0])), pageSize, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		if vec[0]&1 == 0 {
			t.Errorf("the arena's huge page at offset %d is not resident after prefault", q-start)
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("earlier tests left %d bytes of the arena, no huge page boundary to check: raise arenaSize or use less", len(free))
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
