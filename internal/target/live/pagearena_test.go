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
		b := pageBuffer(n, true)
		for i, c := range b {
			if c != 0 {
				t.Fatalf("a %d-byte buffer handed out after prefault has %#x at %d", n, c, i)
			}
		}
	}
}

// TestArenaReadsAround: a reader that does not capture takes only what is
// left of the huge pages already faulted, then the heap, and faults no
// new one; a capturing reader after it still faults huge pages.
func TestArenaReadsAround(t *testing.T) {
	_ = pageBuffer(pageSize, true) // the fill point is inside a faulted huge page now
	a := &pageArena
	a.mu.Lock()
	free, faulted := a.free, a.faulted
	a.mu.Unlock()
	start := uintptr(unsafe.Pointer(&free[0]))
	end := start + uintptr(len(free))
	next := (max(start, faulted) + hugePage - 1) &^ (hugePage - 1)
	if next+2*hugePage > end {
		t.Skip("too little of the arena left")
	}
	inArena := func(b []byte) bool {
		p := uintptr(unsafe.Pointer(&b[0]))
		return p >= start && p < end
	}
	// What is left before the next huge page is served from the arena,
	// anything past it from the heap.
	if room := int(next - start); room > 0 {
		if b := pageBuffer(room, false); !inArena(b) {
			t.Errorf("a %d-byte read around a capture, within the faulted huge page, came from the heap", room)
		}
	}
	if b := pageBuffer(2*pageSize, false); inArena(b) {
		t.Errorf("a read around a capture took a huge page not yet faulted, at %#x", uintptr(unsafe.Pointer(&b[0])))
	}
	before := anonHuge(t, next)
	b := pageBuffer(int(hugePage), true)
	for i := range b {
		b[i] = 1
	}
	if !inArena(b) {
		t.Fatal("a capture's buffer came from the heap with the arena's room left")
	}
	if after := anonHuge(t, next); before >= 0 && after <= before && strings.Contains(smapsOf(t, next), " hg") {
		t.Errorf("a capture after a read around it got no huge page (AnonHugePages %d kB, then %d kB)", before, after)
	}
}

// anonHuge is the AnonHugePages of the mapping that holds addr, in kB.
func anonHuge(t *testing.T, addr uintptr) int {
	for _, line := range strings.Split(smapsOf(t, addr), "\n") {
		if v, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err == nil {
				return n
			}
		}
	}
	return -1
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
