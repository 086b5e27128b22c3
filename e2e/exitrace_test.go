package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestTargetExitsDuringDump kills the target (SIGKILL) at random moments
// while pyscope dumps it (with and without --native) or writes its core. Every run must end either
// with exit 0 and a complete result (JSON that parses, a core pyscope can
// read), or with a non-zero exit and one line on stderr, never a hang or
// a Go trace.
func TestTargetExitsDuringDump(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			ok, failed := 0, 0
			msgs := map[string]int{}
			const rounds = 24
			for i := 0; i < rounds; i++ {
				dir := t.TempDir()
				tg := testenv.StartPlain(t, in, "sigwatch.py", "ready", filepath.Join(dir, "signals.log"))
				corePath := filepath.Join(dir, "core")
				args := []string{"dump", "--json", strconv.Itoa(tg.PID)}
				switch {
				case i%3 == 2:
					args = []string{"gcore", strconv.Itoa(tg.PID), "-o", corePath}
				case i%6 == 1:
					args = []string{"dump", "--native", "--json", strconv.Itoa(tg.PID)}
				}
				cmd := exec.Command(bin, args...)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				if i%2 == 0 {
					time.Sleep(time.Duration(rng.Int63n(int64(25 * time.Millisecond))))
				} else {
					// Kill while the target is held stopped.
					for end := time.Now().Add(time.Second); time.Now().Before(end); {
						if testenv.NotStopped(tg.PID) != nil {
							break
						}
					}
				}
				syscall.Kill(tg.PID, syscall.SIGKILL)
				var err error
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
					t.Fatalf("round %d: pyscope %s hangs after the target died", i, strings.Join(args, " "))
				}
				r := result{stdout: out.String(), stderr: errb.String()}
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					r.code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if crashed(r.stderr) || strings.Contains(r.stderr, ".go:") {
					t.Fatalf("round %d: pyscope %s crashed:\n%s", i, strings.Join(args, " "), r.stderr)
				}
				if r.code == 0 {
					ok++
					if args[0] == "dump" {
						var v map[string]any
						if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["threads"] == nil {
							t.Errorf("round %d: exit 0 but the JSON is incomplete (%v):\n%.500s", i, err, r.stdout)
						}
					} else {
						rr := runPyscope(t, bin, nil, "dump", "--json", corePath)
						if rr.code != 0 {
							t.Errorf("round %d: gcore exit 0 but its core does not load: %s", i, rr.stderr)
						}
					}
					continue
				}
				failed++
				msg := strings.TrimSuffix(r.stderr, "\n")
				if msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("round %d: exit %d, stderr should be one line: %q", i, r.code, r.stderr)
				}
				if !strings.Contains(msg, "exited") && !strings.Contains(msg, "no such process") {
					t.Errorf("round %d: the error does not say the process exited: %q", i, msg)
				}
				if args[0] == "gcore" {
					if _, err := os.Stat(corePath); err == nil {
						t.Errorf("round %d: gcore failed but left a partial core", i)
					}
				}
				msgs[regexp.MustCompile(`[0-9]+`).ReplaceAllString(msg, "N")]++
			}
			var lines []string
			for m, n := range msgs {
				lines = append(lines, strconv.Itoa(n)+"× "+m)
			}
			sort.Strings(lines)
			t.Logf("%d runs: %d complete, %d clean errors:\n%s", rounds, ok, failed, strings.Join(lines, "\n"))
		})
	}
}
