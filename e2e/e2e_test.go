// Package e2e runs the pyscope binary against real Python processes and
// compares what it prints with what the interpreter itself reported.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// Dump is the JSON schema of `pyscope dump --json`.
type Dump struct {
	PID      int          `json:"pid"`
	Source   string       `json:"source"`
	Python   DumpPython   `json:"python"`
	Threads  []DumpThread `json:"threads"`
	Warnings []string     `json:"warnings"`
}

type DumpPython struct {
	Version      string  `json:"version"`
	Executable   string  `json:"executable"`
	Library      *string `json:"library"`
	FreeThreaded bool    `json:"free_threaded"`
}

type DumpThread struct {
	ThreadID uint64  `json:"thread_id"`
	NativeID int     `json:"native_id"`
	Name     *string `json:"name"`
	OSName   *string `json:"os_name"`
	IsMain   bool    `json:"is_main"`
	HoldsGIL bool    `json:"holds_gil"`
	State    string  `json:"state"` // attached, detached, suspended
	// Interpreter is the interpreter id; 0 is the main interpreter.
	Interpreter int64       `json:"interpreter"`
	Frames      []DumpFrame `json:"frames"`
}

type DumpFrame struct {
	Kind      string `json:"kind"`
	Function  string `json:"function"`
	Qualname  string `json:"qualname"`
	File      string `json:"file"`
	Line      int    `json:"line"`
	EndLine   *int   `json:"end_line"`
	Column    *int   `json:"column"`
	EndColumn *int   `json:"end_column"`
}

// pick returns the interpreters of the matrix with these names ("pbs-3.14"
// matches pbs-3.14.6: a name prefix up to a dot), failing the test if one is
// missing, so tests that run on a few builds do not depend on the matrix order.
func pick(t *testing.T, names ...string) []testenv.Interp {
	t.Helper()
	var out []testenv.Interp
	for _, n := range names {
		found := false
		for _, in := range testenv.Interpreters(t) {
			if in.Name == n || strings.HasPrefix(in.Name, n+".") {
				out = append(out, in)
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no interpreter %s in the matrix", n)
		}
	}
	return out
}

// result is one finished pyscope run.
type result struct {
	stdout, stderr string
	code           int
}

// runPyscope runs the binary with a deadline; cred, if set, runs it as
// another user.
func runPyscope(t *testing.T, bin string, cred *syscall.Credential, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = "/"
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return runUntil(t, ctx, cmd, "pyscope "+strings.Join(args, " "))
}

// peakRSSUnderTime makes cmd run under GNU time and returns what gives,
// once cmd has run, its peak resident set in KiB. rusage's Maxrss of the
// test's own child is no measure: Go starts children with vfork, and the
// kernel keeps as a process's peak the largest RSS of the image it
// replaced at exec, here the test binary's (2.2 GB after the core tests).
// GNU time forks pyscope from its own small image.
func peakRSSUnderTime(t *testing.T, cmd *exec.Cmd) func() int64 {
	t.Helper()
	testenv.NeedPackages(t, "time")
	out := filepath.Join(t.TempDir(), "peak-rss")
	cmd.Args = append([]string{"/usr/bin/time", "-q", "-f", "%M", "-o", out, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/usr/bin/time"
	return func() int64 {
		t.Helper()
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("GNU time wrote no peak RSS: %v", err)
		}
		fields := strings.Fields(string(raw))
		if len(fields) == 0 {
			t.Fatalf("GNU time wrote %q, no peak RSS", raw)
		}
		kib, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
		if err != nil {
			t.Fatalf("GNU time's peak RSS %q: %v", raw, err)
		}
		return kib
	}
}

// runUntil runs cmd, made with ctx, to its end: a deadline or a Go crash in
// its output fails the test; a non-zero exit is the result's code.
func runUntil(t *testing.T, ctx context.Context, cmd *exec.Cmd, what string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: no answer in time\n%s", what, errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", what, err)
	}
	if crashed(r.stdout) || crashed(r.stderr) {
		t.Errorf("%s crashed:\n%s%s", what, r.stdout, r.stderr)
	}
	return r
}

// targetJSON decodes a JSON file the target wrote into its directory.
func targetJSON(t *testing.T, tg *testenv.Target, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(tg.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func crashed(s string) bool {
	return strings.Contains(s, "goroutine ") || strings.Contains(s, "panic")
}

// decodeDump parses the dump and checks every schema field is present.
func decodeDump(t *testing.T, raw string) *Dump {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		t.Fatalf("dump is not JSON: %v\n%.2000s", err, raw)
	}
	missing := missingKeys(top, "pid", "source", "python", "threads")
	var py map[string]json.RawMessage
	if json.Unmarshal(top["python"], &py) == nil {
		missing = append(missing, prefixed("python.", missingKeys(py, "version", "executable", "library", "free_threaded"))...)
	}
	var threads []map[string]json.RawMessage
	if json.Unmarshal(top["threads"], &threads) == nil {
		for i, th := range threads {
			p := fmt.Sprintf("threads[%d].", i)
			missing = append(missing, prefixed(p, missingKeys(th, "thread_id", "native_id", "name", "os_name", "is_main", "holds_gil", "frames"))...)
			var frames []map[string]json.RawMessage
			if json.Unmarshal(th["frames"], &frames) == nil {
				for j, f := range frames {
					missing = append(missing, prefixed(fmt.Sprintf("%sframes[%d].", p, j), missingKeys(f, "kind", "function", "qualname", "file", "line"))...)
				}
			}
		}
	}
	if len(missing) > 0 {
		if len(missing) > 10 {
			missing = append(missing[:10], "...")
		}
		t.Errorf("dump lacks fields: %s", strings.Join(missing, ", "))
	}
	var d Dump
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("dump does not follow the schema: %v", err)
	}
	return &d
}

func missingKeys(m map[string]json.RawMessage, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func prefixed(p string, ks []string) []string {
	for i := range ks {
		ks[i] = p + ks[i]
	}
	return ks
}

// checkOneLineError is the contract for every failure: non-zero exit and a
// single line on stderr (crash text is checked by runPyscope).
func checkOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not say %q", r.stderr, w)
		}
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr has a Go trace (%q): %q", bad, r.stderr)
		}
	}
	if r.code == 0 {
		t.Errorf("exit status 0, want non-zero; stdout:\n%.2000s", r.stdout)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("stderr should be exactly one line, got %q", r.stderr)
	}
	t.Logf("exit %d: %s", r.code, msg)
}
