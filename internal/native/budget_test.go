package native_test

import (
	"strings"
	"testing"

	"pyscope/internal/native"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
)

// TestCaptureBudget: the native frames of one capture are bounded all
// threads together. With a budget smaller than the process's stacks, the
// threads unwound first share it, and the others say they were not
// unwound, rather than each going its own full depth.
func TestCaptureBudget(t *testing.T) {
	pid := testenv.StartScript(t, testenv.DebianPython, `
import threading, time
for _ in range(6):
    threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
print("ready", flush=True)
time.sleep(1000)
`)
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	full := native.New(p, native.Options{}).Capture(p)
	total, threads := full.Frames()
	if threads != 7 || total < 3*threads {
		t.Fatalf("the unbounded capture unwound %d frames of %d threads; want 7 threads, several frames each", total, threads)
	}
	budget := total / 2
	cut := native.New(p, native.Options{Budget: budget}).Capture(p)
	got, _ := cut.Frames()
	if got > budget {
		t.Errorf("a capture with a budget of %d native frames unwound %d", budget, got)
	}
	errs := cut.Errors()
	if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], "budget") {
		t.Errorf("the last threads past the budget do not say so: %q", errs)
	}
}
