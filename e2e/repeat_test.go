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
// listed (gdb's list and list -). The frames and lines are the target's.
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
	p.send("quit\r")
	p.expect("Detached")
	p.cmd.Wait()
	tg.CheckRunning(t)
}
