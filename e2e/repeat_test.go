package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestSessionEnterRepeats: at the terminal, an empty line repeats the last
// command, as in gdb. Enter after py-up climbs on; Enter after py-list
// lists the next ten lines, and `py-list -` the ten before those last
// listed (gdb's list and list -); Enter after py-list N or py-list A,B
// lists on from there. The frames and lines are the target's.
func TestSessionEnterRepeats(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.12")[0]
	tg, _ := startSession(t, in)
	main := threadByName(t, &tg.Oracle, "MainThread")
	if len(main.Frames) < 3 {
		t.Fatalf("main thread has %d frames, want 3 or more", len(main.Frames))
	}
	k := frameIndex(t, main, "handle")
	prompt := fmt.Sprintf("(pyscope %d stopped) ", tg.PID)
	p := startPTY(t, bin, t.TempDir(), strconv.Itoa(tg.PID))
	p.expect(prompt)

	p.send("py-frame 0\r")
	p.expect(prompt)
	p.send("py-up\r")
	p.expect("#1 " + frameLine(main.Frames[1]))
	p.expect(prompt)
	p.send("\r")
	p.expect("#2 " + frameLine(main.Frames[2]))
	p.expect(prompt)

	f := main.Frames[k]
	listed := func(n int) string { return fmt.Sprintf("%4d    %s", n, sourceLine(t, f.File, n)) }
	p.send(fmt.Sprintf("py-frame %d\r", k))
	p.expect(prompt)
	p.send("py-list\r")
	p.expect(fmt.Sprintf(">%d    %s", f.Line, sourceLine(t, f.File, f.Line)))
	p.expect(prompt)
	p.send("\r")
	out := p.expect(prompt)
	if !strings.Contains(out, listed(f.Line+6)) || strings.Contains(out, fmt.Sprintf(">%d ", f.Line)) {
		t.Errorf("Enter after py-list: want the ten lines from %d, got:\n%s", f.Line+6, out)
	}
	p.send("py-list -\r")
	out = p.expect(prompt)
	if !strings.Contains(out, listed(f.Line-4)) || strings.Contains(out, listed(f.Line+6)) {
		t.Errorf("py-list -: want the ten lines before %d, got:\n%s", f.Line+6, out)
	}
	// Enter after py-list N and py-list A,B: the ten lines after those
	// listed, not the same ones again.
	n := max(f.Line-3, 1)
	p.send(fmt.Sprintf("py-list %d\r", n))
	out = p.expect(prompt)
	if !strings.Contains(out, listed(n)) {
		t.Fatalf("py-list %d: no line %d in:\n%s", n, n, out)
	}
	p.send("\r")
	out = p.expect(prompt)
	if !strings.Contains(out, listed(n+11)) || strings.Contains(out, listed(n)) {
		t.Errorf("Enter after py-list %d: want the ten lines from %d, got:\n%s", n, n+11, out)
	}
	p.send(fmt.Sprintf("py-list %d,%d\r", n, n+1))
	p.expect(listed(n + 1))
	p.expect(prompt)
	p.send("\r")
	out = p.expect(prompt)
	if !strings.Contains(out, listed(n+2)) || strings.Contains(out, listed(n)) {
		t.Errorf("Enter after py-list %d,%d: want the ten lines from %d, got:\n%s", n, n+1, n+2, out)
	}
	p.send("quit\r")
	p.expect("Detached")
	p.cmd.Wait()
	tg.CheckRunning(t)
}
