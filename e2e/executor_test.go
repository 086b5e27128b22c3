package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"pyscope/internal/testenv"
)

// executorOracle is what testdata/targets/executor_tasks.py writes.
type executorOracle struct {
	Tasks []struct {
		Name       string  `json:"name"`
		ID         uint64  `json:"id"`
		Future     uint64  `json:"future"`     // the task's _fut_waiter
		Concurrent uint64  `json:"concurrent"` // the concurrent future submit() returned
		State      string  `json:"state"`      // its _state: RUNNING, PENDING
		Thread     *uint64 `json:"thread"`     // get_ident() inside the work; null: queued
	} `json:"tasks"`
}

// executorDump is the part of `dump --tasks --json` this test reads.
type executorDump struct {
	Tasks []struct {
		ID         uint64   `json:"id"`
		Name       string   `json:"name"`
		Awaits     []uint64 `json:"awaits"`
		Concurrent []struct {
			Future     uint64 `json:"future"`
			WaitingFor struct {
				Kind    string   `json:"kind"`
				Address uint64   `json:"address"`
				Repr    string   `json:"repr"`
				HeldBy  []uint64 `json:"held_by"`
				Pending bool     `json:"pending"`
			} `json:"waiting_for"`
		} `json:"concurrent_futures"`
	} `json:"tasks"`
}

// TestTasksExecutor dumps, live and from a core, tasks that await
// loop.run_in_executor and asyncio.to_thread: each names the concurrent
// future its awaited future is chained to and the worker thread running
// its work item, or says the item is still queued, and never a thread
// whose run method of another class has self.future equal to it (the
// decoys); checked against the target's own record of the futures
// submit() returned and of the thread idents inside the works.
func TestTasksExecutor(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "executor_tasks.py")
			var o executorOracle
			targetJSON(t, tg, "oracle.json.executor.json", &o)
			if len(o.Tasks) != 3 {
				t.Fatalf("oracle has %d tasks, want 3", len(o.Tasks))
			}
			check := func(what, arg string) {
				t.Helper()
				r := runPyscope(t, bin, nil, "dump", "--tasks", "--json", arg)
				if r.code != 0 {
					t.Fatalf("%s: dump --tasks --json: exit %d\n%s", what, r.code, r.stderr)
				}
				var d executorDump
				if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
					t.Fatalf("%s: dump is not JSON: %v", what, err)
				}
				for _, m := range diffExecutor(&o, &d) {
					t.Errorf("%s: %s", what, m)
				}
				r = runPyscope(t, bin, nil, "dump", "--tasks", arg)
				if r.code != 0 {
					t.Fatalf("%s: dump --tasks: exit %d\n%s", what, r.code, r.stderr)
				}
				for _, m := range diffExecutorText(&o, r.stdout) {
					t.Errorf("%s: text: %s", what, m)
				}
			}
			check("live", strconv.Itoa(tg.PID))
			tg.CheckRunning(t)
			core := filepath.Join(t.TempDir(), "executor.core")
			pyscopeGcore(t, bin, tg, core)
			check("core", core)
		})
	}
}

func diffExecutor(o *executorOracle, d *executorDump) []string {
	var out []string
	for _, w := range o.Tasks {
		found := false
		for _, g := range d.Tasks {
			if g.ID != w.ID {
				continue
			}
			found = true
			who := fmt.Sprintf("task %q", w.Name)
			if len(g.Concurrent) != 1 {
				out = append(out, fmt.Sprintf("%s: %d concurrent futures %+v, want 1", who, len(g.Concurrent), g.Concurrent))
				break
			}
			c := g.Concurrent[0]
			if c.Future != w.Future || !sameIDs(g.Awaits, []uint64{w.Future}) {
				out = append(out, fmt.Sprintf("%s: chained future %#x, awaits %#x; want %#x", who, c.Future, g.Awaits, w.Future))
			}
			wf := c.WaitingFor
			if wf.Kind != "future" || wf.Address != w.Concurrent {
				out = append(out, fmt.Sprintf("%s: waits for %s %#x, want future %#x", who, wf.Kind, wf.Address, w.Concurrent))
			}
			state := map[string]string{"RUNNING": "running", "PENDING": "pending"}[w.State]
			if want := fmt.Sprintf("<Future at %#x state=%s>", w.Concurrent, state); wf.Repr != want {
				out = append(out, fmt.Sprintf("%s: repr %q, want %q", who, wf.Repr, want))
			}
			var want []uint64
			if w.Thread != nil {
				want = []uint64{*w.Thread}
			}
			if wf.HeldBy == nil || !sameIDs(wf.HeldBy, want) {
				out = append(out, fmt.Sprintf("%s: run by %v, want %v", who, wf.HeldBy, want))
			}
			if wf.Pending != (w.Thread == nil) {
				out = append(out, fmt.Sprintf("%s: pending %v, want %v", who, wf.Pending, w.Thread == nil))
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("task %q (%#x) not listed", w.Name, w.ID))
		}
	}
	return out
}

// diffExecutorText checks that each awaited future of the tree is
// followed by the concurrent future and the thread running it, in the
// words of a thread waiting for it (TestLocks).
func diffExecutorText(o *executorOracle, text string) []string {
	var out []string
	for _, w := range o.Tasks {
		tail := ", queued or not submitted: no worker has started it"
		if w.Thread != nil {
			tail = fmt.Sprintf(` held by Thread %#x "`, *w.Thread)
		}
		re := regexp.MustCompile(fmt.Sprintf(`(?m)awaits <Future pending[^\n]*\n[│ ]*└── chained to <Future at %#x state=\w+>%s`,
			w.Concurrent, regexp.QuoteMeta(tail)))
		if !re.MatchString(text) {
			out = append(out, fmt.Sprintf("task %q: no line `chained to <Future at %#x …>%s` under its awaited future", w.Name, w.Concurrent, tail))
		}
	}
	if len(out) > 0 {
		out = append(out, "the text:\n"+text)
	}
	return out
}
