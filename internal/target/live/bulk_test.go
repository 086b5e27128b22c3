package live

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestReadRangesAroundAHole: a range whose middle page cannot be read
// (PROT_NONE) comes back with that page zeroed and counted, the pages
// around it intact, and the ranges after it read too.
func TestReadRangesAroundAHole(t *testing.T) {
	c := startPython(t, `
import ctypes, mmap
m = mmap.mmap(-1, 3 * 4096)
m[:] = b"a" * 4096 + b"b" * 4096 + b"c" * 4096
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(addr + 4096, 4096, 0) == 0
other = bytearray(b"z" * 8192)
oaddr = ctypes.addressof((ctypes.c_char * len(other)).from_buffer(other))
print("addrs", addr, oaddr, flush=True)
`)
	f := strings.Fields(c.until(t, "addrs"))
	a, _ := strconv.ParseUint(f[1], 10, 64)
	o, _ := strconv.ParseUint(f[2], 10, 64)
	c.until(t, "ready")
	p, err := Open(c.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, second := make([]byte, 3*4096), make([]byte, 8192)
	for i := range first {
		first[i] = 0xff
	}
	bad, err := p.ReadRanges([]uint64{a, o}, [][]byte{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if bad != 4096 {
		t.Errorf("%d bytes unreadable, want 4096", bad)
	}
	want := append(append(bytes.Repeat([]byte("a"), 4096), make([]byte, 4096)...), bytes.Repeat([]byte("c"), 4096)...)
	if !bytes.Equal(first, want) {
		t.Errorf("the range around the hole came back wrong")
	}
	if !bytes.Equal(second, bytes.Repeat([]byte("z"), 8192)) {
		t.Errorf("the range after the hole was not read")
	}
}
