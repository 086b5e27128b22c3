package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/cache"
	"pyscope/internal/testenv"
)

// guideCmd is one command of docs/guide.md with the output shown under it.
type guideCmd struct {
	line    string
	want    []string
	session []guideCmd // for `./pyscope debug`: the session commands typed at its prompt
}

var (
	guideMarkRe   = regexp.MustCompile(`^<!-- guide-test: (shell|session) -->$`)
	guidePromptRe = regexp.MustCompile(`^\(pyscope [^)]*\) (.*)$`)
)

// guideCommands reads the blocks of docs/guide.md marked to be run: the
// shell commands ($ lines) in order, each session block attached to the
// `pyscope debug` command that opened it.
func guideCommands(t *testing.T, path string) []*guideCmd {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*guideCmd
	kind, in := "", false
	var sess *guideCmd // the session being typed into
	var cur *guideCmd
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case !in && guideMarkRe.MatchString(l):
			kind = guideMarkRe.FindStringSubmatch(l)[1]
		case !in && kind != "" && strings.HasPrefix(l, "```"):
			in, cur = true, nil
			if kind == "session" && sess == nil {
				t.Fatalf("%s: a session block before any `./pyscope debug` command", path)
			}
		case in && strings.HasPrefix(l, "```"):
			in, kind = false, ""
		case in && kind == "shell" && strings.HasPrefix(l, "$ "):
			cur = &guideCmd{line: l[2:]}
			cmds = append(cmds, cur)
			sess = nil
			if strings.HasPrefix(cur.line, "./pyscope debug ") && !strings.ContainsAny(cur.line, "|-") {
				sess = cur
			}
		case in && kind == "session" && guidePromptRe.MatchString(l):
			sess.session = append(sess.session, guideCmd{line: guidePromptRe.FindStringSubmatch(l)[1]})
			cur = &sess.session[len(sess.session)-1]
		case in && cur != nil:
			cur.want = append(cur.want, l)
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("%s: only %d commands marked to be run", path, len(cmds))
	}
	return cmds
}

// guideOutput is the shell's stdout and stderr, in order.
type guideOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *guideOutput) from(off int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()[off:]
}

func (o *guideOutput) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Len()
}

// waitFor waits until s appears after off; it returns the text up to it.
func (o *guideOutput) waitFor(t *testing.T, off int, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := o.from(off)
		if i := strings.Index(out, s); i >= 0 {
			return out[:i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v; output:\n%s", s, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	digitsRe = regexp.MustCompile(`0x[0-9a-f]+|[0-9]+`)
	spacesRe = regexp.MustCompile(`\s+`)
)

// normalize makes a line comparable across runs: numbers (PIDs, TIDs,
// addresses, line numbers) and the width of the spaces that align them
// vary; words, source lines and markers (and their indentation) do not.
// A number that starts a line is right-aligned: its indentation is its
// width (py-list's line numbers, top's percentages).
func normalize(line string) string {
	line = strings.TrimRight(digitsRe.ReplaceAllString(line, "#"), " \t")
	body := strings.TrimLeft(line, " ")
	if strings.HasPrefix(body, "#") {
		return spacesRe.ReplaceAllString(body, " ")
	}
	return line[:len(line)-len(body)] + spacesRe.ReplaceAllString(body, " ")
}

// checkGuideOutput checks that every line the guide shows for cmd is a
// line of its real output (normalized, with paths mapped to this
// machine's). Output of other programs (the shell's crash report) need
// only contain the line; pyscope's must have it whole.
func checkGuideOutput(t *testing.T, cmd string, want []string, got string, paths *strings.Replacer, pyscope bool) {
	t.Helper()
	if strings.HasPrefix(cmd, "bt") {
		return // native frames depend on the machine's libc and CPU
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		lines[normalize(l)] = true
	}
	for _, w := range want {
		w = normalize(paths.Replace(w))
		if strings.TrimSpace(w) == "" {
			continue
		}
		if !lines[w] && cutMatches(w, lines) {
			continue
		}
		if !lines[w] && (pyscope || !strings.Contains(normalize(strings.ReplaceAll(got, "\n", " ")), strings.TrimSpace(w))) {
			t.Errorf("%s: the guide shows %q; the output is:\n%s", cmd, w, got)
		}
	}
}

// cutMatches accepts a value cut at --max-repr ("…(+N chars)"): where it
// is cut depends on how many digits the numbers before it have, so the
// line need only start as the guide's does, up to a few characters before
// the cut.
func cutMatches(w string, lines map[string]bool) bool {
	i := strings.Index(w, "…(+")
	if i < 0 {
		return false
	}
	prefix := w[:i]
	if n := len(prefix) - 8; n > 0 {
		prefix = prefix[:n]
	}
	for l := range lines {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, "…(+") {
			return true
		}
	}
	return false
}

// TestGuide types every command of the blocks marked <!-- guide-test -->
// of docs/guide.md and docs/containers.md into one shell per guide, as a
// reader of the guide would, in a copy of the repository's tree, and
// checks each command's output against what the guide shows: the guides
// work as written on a machine set up by the README.
func TestGuide(t *testing.T) {
	for _, doc := range []string{"guide.md", "containers.md"} {
		t.Run(doc, func(t *testing.T) { testGuide(t, doc) })
	}
}

func testGuide(t *testing.T, doc string) {
	testenv.Interpreters(t) // the README's setup: ./scripts/test.sh provisions them
	needPlainCoreFile(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmds := guideCommands(t, filepath.Join(root, "docs", doc))
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "cmd", "internal", "testdata"} {
		if err := os.Symlink(filepath.Join(root, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	paths := strings.NewReplacer("/root/pyscope/", dir+"/", "/root/.cache/pyscope/", cache.Dir("")+"/")

	sh := exec.Command("bash", "--norc", "--noprofile")
	sh.Dir = dir
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh.Stdout, sh.Stderr = w, w
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The shell's process group holds everything the guide starts.
	t.Cleanup(func() { syscall.Kill(-sh.Process.Pid, syscall.SIGKILL); sh.Wait() })
	out := &guideOutput{}
	go func() {
		br := bufio.NewReader(r)
		b := make([]byte, 4096)
		for {
			n, err := br.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	typeLine := func(s string) {
		if _, err := fmt.Fprintln(stdin, s); err != nil {
			t.Fatalf("shell: %v", err)
		}
	}

	for k, c := range cmds {
		start := out.len()
		done := fmt.Sprintf("@@cmd-%d@@", k)
		if len(c.session) == 0 {
			typeLine(c.line)
		} else {
			// The commands typed at the session's prompt, with an echo
			// after each to tell their outputs apart.
			typeLine(c.line + " <<'GUIDE_SESSION'")
			for i, sc := range c.session {
				typeLine(sc.line)
				typeLine(fmt.Sprintf(`echo @@session-%d-%d@@\n`, k, i))
			}
			typeLine("GUIDE_SESSION")
		}
		timeout := 2 * time.Minute
		if strings.HasPrefix(c.line, "go build") {
			timeout = 15 * time.Minute
		}
		if strings.HasSuffix(c.line, "&") {
			// A background program: wait for what the guide shows it
			// printing, then until its threads sleep, as a reader would
			// before typing the next command.
			typeLine(fmt.Sprintf("echo %s $!", done))
			pidText := strings.Fields(out.from(start + len(out.waitFor(t, start, done, timeout)) + len(done)))
			pid, err := strconv.Atoi(pidText[0])
			if err != nil {
				t.Fatalf("%s: no PID: %v", c.line, err)
			}
			for _, l := range c.want {
				if l = strings.TrimSpace(l); l != "" {
					out.waitFor(t, start, l, time.Minute)
				}
			}
			testenv.WaitSleeping(t, pid)
			continue
		}
		typeLine(fmt.Sprintf("echo %s $?", done))
		got := out.waitFor(t, start, done, timeout)
		status := strings.Fields(out.from(start + len(got) + len(done)))[0]
		if strings.HasPrefix(c.line, "go build") && status != "0" {
			t.Fatalf("%s: exit %s\n%s", c.line, status, got)
		}
		checkGuideOutput(t, c.line, c.want, got, paths, strings.Contains(c.line, "./pyscope"))
		rest := got
		for i, sc := range c.session {
			mark := fmt.Sprintf("@@session-%d-%d@@", k, i)
			one, after, found := strings.Cut(rest, mark)
			if !found && i < len(c.session)-1 {
				t.Fatalf("session command %q: the session ended early:\n%s", sc.line, got)
			}
			checkGuideOutput(t, sc.line, sc.want, one, paths, true)
			rest = after
		}
	}
}

// needPlainCoreFile makes the kernel write a crashing process's core as
// "core" in its directory until the test ends, as the guide says to.
func needPlainCoreFile(t *testing.T) {
	t.Helper()
	for file, value := range map[string]string{
		"/proc/sys/kernel/core_pattern":  "core",
		"/proc/sys/kernel/core_uses_pid": "0",
	} {
		old, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(old)) == value {
			continue
		}
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
			t.Fatalf("cannot set %s to %q: %v; run the tests as root", file, value, err)
		}
		t.Cleanup(func() { os.WriteFile(file, old, 0o644) })
	}
}
