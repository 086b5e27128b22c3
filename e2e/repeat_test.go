package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestSessionEnterRepeats: at the terminal, an empty line repeats the last
// command, as in gdb. Enter after py-up climbs on; Enter after py-list
// lists the next ten lines, and `py-list -` the ten before those last
// listed (gdb's list and list -); py-list N lists ten lines centred on N,
// as gdb's list N, and Enter after py-list N or py-list A,B lists on
// from there. The frames and lines are the target's.
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
	// py-list N is gdb's list N: ten lines centred on N (N-5 to N+4),
	// starting at line 1 near the top; Enter lists the ten after those,
	// not the same ones again.
	shown := func(i int) string {
		if i == f.Line {
			return fmt.Sprintf(">%d    %s", i, sourceLine(t, f.File, i))
		}
		return listed(i)
	}
	src, err := os.ReadFile(f.File)
	if err != nil {
		t.Fatal(err)
	}
	nlines := strings.Count(string(src), "\n")
	for _, n := range []int{f.Line, 2} {
		first := max(n-5, 1)
		last := min(first+9, nlines)
		p.send(fmt.Sprintf("py-list %d\r", n))
		out = p.expect(prompt)
		if !strings.Contains(out, shown(first)) || !strings.Contains(out, shown(last)) ||
			(first > 1 && strings.Contains(out, shown(first-1))) || (last < nlines && strings.Contains(out, shown(last+1))) {
			t.Errorf("py-list %d: want lines %d to %d, as gdb's list %d, got:\n%s", n, first, last, n, out)
		}
		p.send("\r")
		out = p.expect(prompt)
		if !strings.Contains(out, shown(last+1)) || strings.Contains(out, shown(last)) {
			t.Errorf("Enter after py-list %d: want the ten lines from %d, got:\n%s", n, last+1, out)
		}
	}
	n := max(f.Line-3, 1)
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
