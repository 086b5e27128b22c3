package live

import (
	"os"
	"strconv"
	"strings"
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

// TestSettleArena: once settled, the arena faults no new huge page: the
// region past the huge page in use is marked for 4 KiB pages, and a page
// written there comes without a huge page behind it.
func TestSettleArena(t *testing.T) {
	_ = pageBuffer(pageSize) // the fill point is inside a huge page now
	settleArena()
	a := &pageArena
	a.mu.Lock()
	free, faulted := a.free, a.faulted
	a.mu.Unlock()
	start := uintptr(unsafe.Pointer(&free[0]))
	// Past what is in use and what prefault faulted.
	next := (max(start, faulted) + hugePage - 1) &^ (hugePage - 1)
	if next+hugePage > start+uintptr(len(free)) {
		t.Skip("no huge page left in the arena")
	}
	// Hand out buffers up to and into the next huge page, and fill them.
	b := pageBuffer(int(next-start) + 2*pageSize)
	for i := range b {
		b[i] = 1
	}
	vma := smapsOf(t, next)
	if !strings.Contains(vma, " nh") {
		t.Errorf("the arena past the huge page in use is not marked for 4 KiB pages:\n%s", vma)
	}
	if strings.Contains(vma, "\nAnonHugePages:") && !strings.Contains(vma, "\nAnonHugePages:         0 kB") {
		t.Errorf("a huge page backs the arena after it settled:\n%s", vma)
	}
}

// smapsOf is the entry of /proc/self/smaps for the mapping that holds addr.
func smapsOf(t *testing.T, addr uintptr) string {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var entry []string
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			if found {
				break
			}
			lo, hi, _ := strings.Cut(f[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			found = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			entry = entry[:0]
		}
		entry = append(entry, line)
	}
	if !found {
		t.Fatalf("no mapping holds %#x", addr)
	}
	return strings.Join(entry, "\n")
}
