// Package testenv is test support shared by pyscope's tests: the interpreter
// matrix, real target processes that write the interpreter's own view of
// their threads (the oracle), and a once-per-process pyscope build.
package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/cache"
	"pyscope/internal/pybuilds"
)

// Interp is one interpreter of the test matrix.
type Interp struct {
	Name  string // "pbs-3.12.3", "debian-3.11", "venv-copies-3.11", "src-3.13.5t"
	Minor string // "3.12"
	Path  string // executable to run
	// FreeThreaded is a free-threaded (PEP 703) build: threads run Python
	// in parallel and there is no GIL.
	FreeThreaded bool
	// Env is added to the environment of targets (e.g. PYTHON_GIL=1).
	Env []string
}

// DebianPython is the distribution interpreter (static, stripped; its debug
// file comes from python3.11-dbg).
const DebianPython = "/usr/bin/python3.11"

const remedy = "run ./scripts/test.sh once (it installs and provisions the test interpreters)"

// VenvDir is where the `python3.11 -m venv --copies` virtualenv lives.
func VenvDir() string {
	return cache.Dir("venv-copies-3.11")
}

// Matrix lists the test interpreters and reports the first missing one.
func Matrix() ([]Interp, error) {
	var out []Interp
	for _, minor := range pybuilds.Minors() {
		// Same layout as pybuilds.Get, without fetching anything.
		patch := strings.SplitN(strings.TrimPrefix(pybuilds.Tags[minor], "v0.0.0-"), "-", 2)[0]
		root := filepath.Join(cache.Dir("pythons"), patch)
		if _, err := os.Stat(filepath.Join(root, ".complete")); err != nil {
			return nil, fmt.Errorf("reference Python %s is not provisioned in %s", patch, root)
		}
		out = append(out, Interp{
			Name:  "pbs-" + patch,
			Minor: minor,
			Path:  filepath.Join(root, "bin", "python"+minor),
		})
	}
	ft := pybuilds.FreeThreadedBuild()
	if _, err := os.Stat(filepath.Join(ft.Root, ".complete")); err != nil {
		return nil, fmt.Errorf("free-threaded Python %s is not built in %s", ft.Patch, ft.Root)
	}
	out = append(out,
		Interp{Name: "src-" + ft.Patch + "t", Minor: ft.Minor, Path: ft.Python, FreeThreaded: true},
		Interp{Name: "debian-3.11", Minor: "3.11", Path: DebianPython},
		Interp{Name: "venv-copies-3.11", Minor: "3.11", Path: filepath.Join(VenvDir(), "bin", "python3.11")},
	)
	for _, in := range out {
		fi, err := os.Stat(in.Path)
		if err != nil || fi.Mode()&0o111 == 0 || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("interpreter %s missing at %s", in.Name, in.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(VenvDir(), ".complete")); err != nil {
		return nil, fmt.Errorf("virtualenv %s is incomplete", VenvDir())
	}
	return out, nil
}

// Interpreters returns the test matrix or fails the test if any interpreter
// is missing: the matrix is never silently reduced.
func Interpreters(t testing.TB) []Interp {
	t.Helper()
	m, err := Matrix()
	if err != nil {
		t.Fatalf("%v; %s", err, remedy)
	}
	return m
}

// RepoRoot is the directory holding pyscope's go.mod.
func RepoRoot() (string, error) {
	dirs := []string{}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Dir(file))
	}
	for _, d := range dirs {
		for {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && bytes.HasPrefix(b, []byte("module pyscope\n")) {
				return d, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("cannot find the pyscope module root")
}

func repoRoot(t testing.TB) string {
	t.Helper()
	r, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TargetPath is the absolute path of a script in testdata/targets.
func TargetPath(t testing.TB, script string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "testdata", "targets", script)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("target script: %v", err)
	}
	return p
}

// Oracle is what a target wrote about itself from sys._current_frames().
type Oracle struct {
	PID          int            `json:"pid"`
	Version      string         `json:"version"`
	Executable   string         `json:"executable"`
	FreeThreaded bool           `json:"free_threaded"`
	Threads      []OracleThread `json:"threads"`
}

// OracleThread is one thread, frames innermost first.
type OracleThread struct {
	ThreadID uint64        `json:"thread_id"`
	NativeID int           `json:"native_id"`
	Name     *string       `json:"name"`
	IsMain   bool          `json:"is_main"`
	HoldsGIL *bool         `json:"holds_gil"` // known only for busy threads
	State    string        `json:"state"`     // attached (busy) or detached (parked)
	Busy     bool          `json:"busy"`      // spinning in pure Python
	Frames   []OracleFrame `json:"frames"`
}

// OracleFrame is one Python frame as the interpreter reports it.
type OracleFrame struct {
	Function string `json:"function"`
	Qualname string `json:"qualname"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	// The location of its instruction, from a traceback entry made for
	// the frame (FrameSummary end_lineno, colno, end_colno; 3.11+).
	EndLine   *int `json:"end_line"`
	Column    *int `json:"column"`
	EndColumn *int `json:"end_column"`
	// Formatted is how traceback.format_list prints the frame.
	Formatted string `json:"formatted"`
}

// Thread returns the oracle thread with this threading.get_ident(), or nil.
func (o *Oracle) Thread(id uint64) *OracleThread {
	for i := range o.Threads {
		if o.Threads[i].ThreadID == id {
			return &o.Threads[i]
		}
	}
	return nil
}

// Target is a running target process.
type Target struct {
	// Cmd is waited on by testenv already: never call Cmd.Wait (a second
	// concurrent Wait can block forever); poll Exited instead.
	Cmd    *exec.Cmd
	PID    int
	Oracle Oracle
	Dir    string // the target's scratch directory (holds the oracle)

	stdin   *os.File
	stdout  *lineSink
	stderr  *lockedBuffer
	done    chan struct{} // closed when the process has been reaped
	waitErr error
}

// StartTarget runs testdata/targets/<script> under interp, waits until it
// has written its oracle and every thread is parked, and kills the process
// group when the test ends. The target's stderr is logged if the test fails.
func StartTarget(t testing.TB, interp Interp, script string, args ...string) *Target {
	t.Helper()
	tg, err := startTarget(t, interp, script, nil, args)
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s", script, interp.Name, err, tg.stderrTail())
	}
	return tg
}

// StartTargetEnv is StartTarget with more environment variables
// ("PYTHONPATH=...").
func StartTargetEnv(t testing.TB, interp Interp, script string, env []string, args ...string) *Target {
	t.Helper()
	tg, err := startTarget(t, interp, script, env, args)
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s", script, interp.Name, err, tg.stderrTail())
	}
	return tg
}

// StartPlain runs a target that writes no oracle (e.g. demo.py without
// arguments) and returns once it printed a line starting with readyPrefix.
func StartPlain(t testing.TB, interp Interp, script, readyPrefix string, args ...string) *Target {
	t.Helper()
	tg, err := startProcess(t, interp, script, t.TempDir(), nil, args)
	if err == nil {
		err = tg.waitLine(func(s string) bool { return strings.HasPrefix(s, readyPrefix) }, 60*time.Second)
	}
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s", script, interp.Name, err, tg.stderrTail())
	}
	return tg
}

func startProcess(t testing.TB, interp Interp, script, dir string, env, args []string) (*Target, error) {
	path := TargetPath(t, script)
	tg := &Target{Dir: dir, stdout: &lineSink{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(interp.Path, append([]string{path}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(targetEnv(), interp.Env...), env...)
	cmd.Stdout = tg.stdout
	cmd.Stderr = tg.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		return tg, err
	}
	cmd.Stdin = r
	tg.stdin = w
	tg.Cmd = cmd
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return tg, err
	}
	r.Close()
	tg.PID = cmd.Process.Pid
	go func() {
		tg.waitErr = cmd.Wait()
		close(tg.done)
	}()
	t.Cleanup(func() {
		if s := tg.stderrTail(); t.Failed() && s != "" {
			t.Logf("%s (pid %d) stderr:\n%s", script, tg.PID, s)
		}
		tg.kill()
	})
	return tg, nil
}

func startTarget(t testing.TB, interp Interp, script string, env, args []string) (*Target, error) {
	dir := t.TempDir()
	oraclePath := filepath.Join(dir, "oracle.json")
	tg, err := startProcess(t, interp, script, dir, env, append([]string{oraclePath}, args...))
	if err != nil {
		return tg, err
	}
	if err := tg.waitLine(func(s string) bool { return s == "ready" }, 60*time.Second); err != nil {
		return tg, err
	}
	raw, err := os.ReadFile(oraclePath)
	if err != nil {
		return tg, err
	}
	if err := json.Unmarshal(raw, &tg.Oracle); err != nil {
		return tg, fmt.Errorf("oracle %s: %v", oraclePath, err)
	}
	if tg.Oracle.PID != tg.PID {
		return tg, fmt.Errorf("oracle pid %d, process pid %d", tg.Oracle.PID, tg.PID)
	}
	// The reporter thread exits after writing: wait until the process has
	// exactly the threads the oracle describes.
	want := map[int]bool{}
	for _, th := range tg.Oracle.Threads {
		want[th.NativeID] = true
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tids, err := Tasks(tg.PID)
		if err != nil {
			return tg, err
		}
		if sameSet(tids, want) && tg.busyRunning() {
			return tg, nil
		}
		if time.Now().After(deadline) {
			return tg, fmt.Errorf("threads %v never matched the oracle's %v with the busy ones running", tids, keys(want))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// busyRunning reports whether every busy thread is running (kernel state
// R) again. The reporter's last samples take the GIL, or on a free-threaded
// build stop the world (sys._current_frames() does), and a loaded machine
// may not have run the spinner since: until it does, it sleeps waiting to
// re-attach, and its thread state truly says detached.
func (tg *Target) busyRunning() bool {
	for _, th := range tg.Oracle.Threads {
		if th.Busy && TaskState(tg.PID, th.NativeID) != 'R' {
			return false
		}
	}
	return true
}

func sameSet(tids []int, want map[int]bool) bool {
	if len(tids) != len(want) {
		return false
	}
	for _, id := range tids {
		if !want[id] {
			return false
		}
	}
	return true
}

func keys(m map[int]bool) []int {
	var k []int
	for id := range m {
		k = append(k, id)
	}
	sort.Ints(k)
	return k
}

func targetEnv() []string {
	env := []string{
		"LC_ALL=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1", // keep testdata/ clean
		"PYTHONUNBUFFERED=1",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "PYTHON_GIL"} { // PYTHON_GIL: set by tests of free-threaded builds
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (tg *Target) kill() {
	if tg.Cmd == nil || tg.Cmd.Process == nil {
		return
	}
	if tg.stdin != nil {
		tg.stdin.Close()
	}
	syscall.Kill(-tg.PID, syscall.SIGKILL)
	tg.Cmd.Process.Kill()
	select {
	case <-tg.done:
	case <-time.After(10 * time.Second):
	}
}

// Exited reports whether the process has ended.
func (tg *Target) Exited() bool {
	select {
	case <-tg.done:
		return true
	default:
		return false
	}
}

func (tg *Target) waitLine(match func(string) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if tg.stdout.take(match) {
			return nil
		}
		select {
		case <-tg.done:
			if tg.stdout.take(match) {
				return nil
			}
			return fmt.Errorf("target exited (%v) before it was ready", tg.waitErr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target not ready after %v", timeout)
		}
	}
}

// Ping checks that the target still runs Python code: its responder thread
// must answer within 10 s.
func (tg *Target) Ping() error {
	if tg.stdin == nil {
		return errors.New("target has no responder")
	}
	if _, err := tg.stdin.Write([]byte("ping\n")); err != nil {
		return fmt.Errorf("ping: %v", err)
	}
	return tg.waitLine(func(s string) bool { return s == "pong" }, 10*time.Second)
}

// Request writes line to the target's stdin and returns what follows
// prefix on the first line the target prints that starts with it.
func (tg *Target) Request(line, prefix string, timeout time.Duration) (string, error) {
	if tg.stdin == nil {
		return "", errors.New("target reads no requests")
	}
	if _, err := tg.stdin.Write([]byte(line + "\n")); err != nil {
		return "", fmt.Errorf("request %q: %v", line, err)
	}
	var reply string
	err := tg.waitLine(func(s string) bool {
		rest, ok := strings.CutPrefix(s, prefix)
		if ok {
			reply = rest
		}
		return ok
	}, timeout)
	return reply, err
}

// CheckRunning fails the test if any thread of the target is stopped
// (state T or t) or the target no longer answers a ping.
func (tg *Target) CheckRunning(t testing.TB) {
	t.Helper()
	if tg.Exited() {
		t.Fatalf("target %d exited: %v", tg.PID, tg.waitErr)
	}
	if err := NotStopped(tg.PID); err != nil {
		t.Fatal(err)
	}
	if err := tg.Ping(); err != nil {
		t.Fatalf("target %d does not respond after the dump: %v", tg.PID, err)
	}
}

// NotStopped returns an error if any thread of pid is in a stopped or
// traced state.
func NotStopped(pid int) error {
	tids, err := Tasks(pid)
	if err != nil {
		return err
	}
	for _, tid := range tids {
		if st := TaskState(pid, tid); st == 'T' || st == 't' {
			return fmt.Errorf("thread %d of target %d left stopped (state %c)", tid, pid, st)
		}
	}
	return nil
}

// TaskState is the one-letter kernel state of thread tid of pid (t:
// traced, T: stopped), or 0 when the thread is gone.
func TaskState(pid, tid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// Tasks lists the thread ids of pid.
func Tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, n)
		}
	}
	sort.Ints(tids)
	return tids, nil
}

// Stderr is what the target wrote on stderr so far.
func (tg *Target) Stderr() string { return tg.stderr.String() }

func (tg *Target) stderrTail() string {
	if tg == nil || tg.stderr == nil {
		return ""
	}
	s := tg.stderr.String()
	if len(s) > 8000 {
		s = "..." + s[len(s)-8000:]
	}
	return s
}

// lineSink collects complete stdout lines.
type lineSink struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.lines) > 10000 { // a runaway target must not eat memory
		s.lines = s.lines[len(s.lines)-1000:]
	}
	return len(p), nil
}

// take removes and reports the first line that matches.
func (s *lineSink) take(match func(string) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.lines {
		if match(l) {
			s.lines = append(s.lines[:i], s.lines[i+1:]...)
			return true
		}
	}
	return false
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BuildPyscope builds ./cmd/pyscope once per test process and returns the
// binary's path. The directory is world-readable so tests can run it as
// another user.
func BuildPyscope(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		removeStaleBuilds()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("pyscope-testbin-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		bin := filepath.Join(dir, "pyscope")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/pyscope")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/pyscope: %v\n%s", err, out)
			return
		}
		buildPath = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// RunTests runs a test binary's tests (call it from TestMain) and then
// deletes the pyscope binary BuildPyscope built for them.
func RunTests(m *testing.M) int {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	return code
}

// removeStaleBuilds deletes binaries left by test processes that were
// killed before RunTests could.
func removeStaleBuilds() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pyscope-testbin-*"))
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "pyscope-testbin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(m)
		}
	}
}
