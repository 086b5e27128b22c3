package locks

import "testing"

// TestFutexWaitOnly: only a futex call that sleeps is a wait; the wakes a
// releasing thread makes are not, whatever flags they carry.
func TestFutexWaitOnly(t *testing.T) {
	for _, c := range []struct {
		op   uint64
		wait bool
	}{
		{0, true}, {128, true}, {9 | 128, true}, {9 | 128 | 256, true}, {6 | 128, true}, {11, true}, {13, true},
		{1, false}, {1 | 128, false}, {10 | 128, false}, {5 | 128, false}, {4, false}, {7 | 128, false},
	} {
		th := &osThread{known: true, syscall: sysFutex, args: [6]uint64{0x1000, c.op}}
		if addr, ok := th.futex(); ok != c.wait || ok && addr != 0x1000 {
			t.Errorf("futex op %#x: wait %v (address %#x), want %v", c.op, ok, addr, c.wait)
		}
	}
}
