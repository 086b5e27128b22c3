package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// tmuxSession is a terminal in a private tmux server.
type tmuxSession struct {
	t    *testing.T
	bin  string
	sock string
}

func newTmux(t *testing.T, width, height int, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, bin: testenv.NeedCommand(t, "tmux", "tmux"), sock: filepath.Join(t.TempDir(), "tmux.sock")}
	s.run("new-session", "-d", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), command,
		";", "set-option", "-w", "remain-on-exit", "on")
	t.Cleanup(func() { exec.Command(s.bin, "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.bin, append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the terminal shows.
func (s *tmuxSession) screen() string { return s.run("capture-pane", "-p") }

func (s *tmuxSession) format(f string) string {
	return strings.TrimSpace(s.run("display-message", "-p", f))
}

// waitFor waits until the screen matches, and returns it.
func (s *tmuxSession) waitFor(what string, ok func(string) bool) string {
	s.t.Helper()
	var scr string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if scr = s.screen(); ok(scr) {
			return scr
		}
	}
	s.t.Fatalf("the screen never showed %s:\n%s", what, scr)
	return ""
}

func (s *tmuxSession) keys(k string) { s.run("send-keys", "-l", k) }

var rowRE = regexp.MustCompile(`^\s*([\d.]+)%\s+([\d.]+)%\s+[\d.]+s\s+[\d.]+s\s+(.+)$`)

// topRows are the function rows on a top screen: %Own, %Total, name.
func topRows(scr string) (own, total []float64, names []string) {
	for _, l := range strings.Split(scr, "\n") {
		if m := rowRE.FindStringSubmatch(l); m != nil {
			o, _ := strconv.ParseFloat(m[1], 64)
			tt, _ := strconv.ParseFloat(m[2], 64)
			own, total, names = append(own, o), append(total, tt), append(names, strings.TrimSpace(m[3]))
		}
	}
	return
}

// TestTopTmux runs `pyscope top` in a real terminal (tmux): it draws the
// summary with the GIL and idle shares and the functions by own time,
// re-sorts by total time on 2, pauses on p (and samples nothing
// meanwhile), shows lines on l, and quits on q, leaving the terminal's
// alternate screen and the process running.
func TestTopTmux(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.13")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	// The shell records top's exit status: tmux 3.3 can leave its own
	// child a zombie for seconds before it reaps it and shows a status.
	exit := filepath.Join(t.TempDir(), "exit")
	s := newTmux(t, 150, 40, bin+" top -r 200 "+strconv.Itoa(tg.PID)+"; echo $? >"+exit)

	// The first intervals may hold few samples: the ranking is looked at
	// once one puts the target's two largest shares first.
	scr := s.waitFor("the functions sampled, delta or alpha first", func(scr string) bool {
		_, _, names := topRows(scr)
		return len(names) > 3 && strings.Contains(scr, "GIL:") && strings.Contains(scr, "Idle:") &&
			(strings.HasPrefix(names[0], "delta (shares.py)") || strings.HasPrefix(names[0], "alpha (shares.py)"))
	})
	if s.format("#{alternate_on}") != "1" {
		t.Error("top does not draw on the alternate screen")
	}
	own, _, _ := topRows(scr)
	for i := 1; i < len(own); i++ {
		if own[i] > own[i-1] {
			t.Errorf("rows not sorted by %%Own:\n%s", scr)
			break
		}
	}
	if !regexp.MustCompile(`GIL: [\d.]+% held`).MatchString(scr) || !regexp.MustCompile(`Idle: [\d.]+% of thread samples`).MatchString(scr) {
		t.Errorf("no GIL and idle percentages:\n%s", scr)
	}

	s.keys("2")
	scr = s.waitFor("rows sorted by %Total", func(scr string) bool { return strings.Contains(scr, "sort %Total") })
	_, total, _ := topRows(scr)
	for i := 1; i < len(total); i++ {
		if total[i] > total[i-1] {
			t.Errorf("rows not sorted by %%Total:\n%s", scr)
			break
		}
	}

	s.keys("p")
	paused := s.waitFor("PAUSED", func(scr string) bool { return strings.Contains(scr, "PAUSED") })
	time.Sleep(2500 * time.Millisecond)
	if scr := s.screen(); scr != paused {
		t.Errorf("the paused screen changed:\n%s\n---\n%s", paused, scr)
	}
	// Paused, the process is not sampled: never stopped in half a second.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		if err := testenv.NotStopped(tg.PID); err != nil {
			t.Fatalf("stopped while top is paused: %v", err)
		}
	}
	s.keys("p")
	s.waitFor("the pause end", func(scr string) bool { return !strings.Contains(scr, "PAUSED") })

	s.keys("l")
	s.waitFor("lines", func(scr string) bool {
		return strings.Contains(scr, "by line") && regexp.MustCompile(`(alpha|delta) \(shares\.py:\d+\)`).MatchString(scr)
	})

	s.keys("q")
	var status []byte
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if status, err = os.ReadFile(exit); err == nil && bytes.HasSuffix(status, []byte("\n")) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("top did not quit on q:\n%s", s.screen())
		}
	}
	if st := strings.TrimSpace(string(status)); st != "0" {
		t.Errorf("top exited with status %s:\n%s", st, s.screen())
	}
	if s.format("#{alternate_on}") != "0" {
		t.Error("top left the terminal on the alternate screen")
	}
	tg.CheckRunning(t)
}

// TestTopBatch: when stdout is not a terminal, top prints plain lines, one
// block per refresh, with no escape sequence, and -n ends it.
func TestTopBatch(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.10")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	r := runPyscope(t, bin, nil, "top", "-n", "2", "-d", "0.5", "-r", "200", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("top -n 2: exit %d\n%s", r.code, r.stderr)
	}
	if strings.ContainsRune(r.stdout, 0x1b) {
		t.Errorf("escape sequences in batch output:\n%q", r.stdout)
	}
	if n := strings.Count(r.stdout, "pyscope top - "); n != 2 {
		t.Errorf("%d blocks, want 2:\n%s", n, r.stdout)
	}
	_, _, names := topRows(r.stdout)
	found := false
	for _, n := range names {
		found = found || strings.HasPrefix(n, "delta (shares.py)")
	}
	if !found {
		t.Errorf("no row for delta:\n%s", r.stdout)
	}
	tg.CheckRunning(t)
}

// TestTopFilterKeys: i and g refilter the rows already shown at once, not
// from the next refresh on: paused (so that no refresh comes), i shows
// the idle threads' functions and g then keeps only the GIL holders'.
func TestTopFilterKeys(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "pbs-3.13")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	s := newTmux(t, 150, 60, bin+" top -r 200 "+strconv.Itoa(tg.PID))
	has := func(names []string, prefix string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix) })
	}
	// The idle thread waits in never.wait(): Event.wait, then
	// Condition.wait, its innermost Python function.
	const idleFunc = "Condition.wait (threading.py)"
	s.waitFor("the workers' functions", func(scr string) bool {
		_, _, names := topRows(scr)
		return has(names, "alpha (shares.py)") && has(names, "delta (shares.py)")
	})
	s.keys("p")
	scr := s.waitFor("PAUSED", func(scr string) bool { return strings.Contains(scr, "PAUSED") })
	if _, _, names := topRows(scr); has(names, idleFunc) {
		t.Fatalf("an idle thread's function shown before i:\n%s", scr)
	}
	s.keys("i")
	s.waitFor("the idle thread's function, while paused", func(scr string) bool {
		_, _, names := topRows(scr)
		return strings.Contains(scr, "idle shown") && has(names, idleFunc) && has(names, "alpha (shares.py)")
	})
	s.keys("g")
	scr = s.waitFor("GIL holders only, while paused", func(scr string) bool {
		_, _, names := topRows(scr)
		return strings.Contains(scr, "GIL holders only") && !has(names, idleFunc) && len(names) > 0
	})
	if !strings.Contains(scr, "PAUSED") {
		t.Errorf("no longer paused:\n%s", scr)
	}
	s.keys("q")
	tg.CheckRunning(t)
}

// TestTopFreeThreaded: on a free-threaded build with the GIL disabled,
// top says there is no GIL, as dump does, rather than a 0% share; with
// the GIL re-enabled (PYTHON_GIL=1) it shows the share its holders had.
func TestTopFreeThreaded(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	in := pick(t, "src-3.13.5t")[0]
	for _, gil := range []string{"0", "1"} {
		t.Setenv("PYTHON_GIL", gil)
		tg := testenv.StartPlain(t, in, "shares.py", "ready")
		// The interpreter's own view of its GIL, under the same setting.
		cmd := exec.Command(in.Path, "-c", "import sys; print(sys._is_gil_enabled())")
		enabled, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		r := runPyscope(t, bin, nil, "top", "-n", "1", "-d", "1", strconv.Itoa(tg.PID))
		if r.code != 0 {
			t.Fatalf("top: exit %d\n%s", r.code, r.stderr)
		}
		if !regexp.MustCompile(`Python [\d.]+ free-threaded, `).MatchString(r.stdout) {
			t.Errorf("PYTHON_GIL=%s: the title does not say the build is free-threaded:\n%s", gil, r.stdout)
		}
		none := strings.Contains(r.stdout, "GIL: none (a free-threaded build has no GIL)")
		held := regexp.MustCompile(`GIL: [\d.]+% held`).FindString(r.stdout)
		switch strings.TrimSpace(string(enabled)) {
		case "False":
			if !none || held != "" {
				t.Errorf("PYTHON_GIL=%s, the GIL disabled: top does not say there is none:\n%s", gil, r.stdout)
			}
		case "True":
			if none || held == "" || held == "GIL: 0.0% held" {
				t.Errorf("PYTHON_GIL=%s, the GIL enabled: top shows no share of it:\n%s", gil, r.stdout)
			}
		default:
			t.Fatalf("sys._is_gil_enabled(): %q", enabled)
		}
		tg.CheckRunning(t)
	}
}
