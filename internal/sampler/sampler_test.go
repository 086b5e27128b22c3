package sampler

import (
	"testing"

	"pyscope/internal/target"
)

// TestReason: failure reasons leave out addresses and IDs, so failures of
// one kind add up.
func TestReason(t *testing.T) {
	a := Reason("read frame at 0x7f3a1c5ff6c0: cannot read 80 bytes at 0x7f3a1c5ff6c0: bad address")
	b := Reason("read frame at 0x55d0e2a1b000: cannot read 80 bytes at 0x55d0e2a1b000: bad address")
	if a != b || a != "read frame at N: cannot read 80 bytes at N: bad address" {
		t.Errorf("reasons %q and %q", a, b)
	}
	if r := Reason("thread 123456 of process 98765: gone"); r != "thread N of process N: gone" {
		t.Errorf("IDs kept: %q", r)
	}
	long := Reason(string(make([]byte, 500)))
	if len(long) > 130 {
		t.Errorf("a reason of %d bytes", len(long))
	}
}

// TestIsRunning: running is the kernel's R, unless the stop found the
// thread in a sleeping system call about to be restarted (woken only by
// the stop); a system call that completed counts as running.
func TestIsRunning(t *testing.T) {
	regs := func(origRax, rax int64) target.Regs {
		return &target.AMD64Regs{OrigRax: uint64(origRax), Rax: uint64(rax)}
	}
	for _, c := range []struct {
		state string
		regs  target.Regs
		want  bool
	}{
		{"R", nil, true},
		{"S", nil, false},
		{"D", nil, false},
		{"R", regs(-1, 0), true},     // user space
		{"R", regs(228, 0), true},    // clock_gettime returned
		{"R", regs(202, -110), true}, // futex timed out: it runs on
		{"R", regs(202, -512), false},
		{"R", regs(219, -516), false},
		{"S", regs(202, -512), false},
		{"R", &target.ARM64Regs{}, true}, // registers that cannot tell
	} {
		if got := isRunning(target.Thread{State: c.state, Regs: c.regs}); got != c.want {
			t.Errorf("state %s regs %+v: running %v, want %v", c.state, c.regs, got, c.want)
		}
	}
}
