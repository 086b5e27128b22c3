package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// PyPI's Celery, pinned with its dependencies (all pure Python).
var celeryReqs = []string{"celery==5.7.0", "amqp==5.4.2", "billiard==4.3.2", "click==8.5.1",
	"click-didyoumean==0.3.1", "click-plugins==1.1.1.2", "click-repl==0.4.1", "kombu==5.7.0",
	"prompt_toolkit==3.0.53", "python-dateutil==2.9.0.post0", "six==1.17.0", "typing_extensions==4.16.0",
	"tzlocal==5.4.5", "vine==5.1.0", "wcwidth==0.9.4"}

// celeryMaster is the master's own view (celery_app.py): per thread, the
// outer frames that did not move over 2 s of samples, and its pool's
// children.
type celeryMaster struct {
	testenv.Oracle
	Children []int `json:"children"`
}

// TestDumpCelery dumps a real Celery worker (PyPI's, on 3.12 and 3.14)
// with a prefork pool of three children, each blocked in a task, with
// --subprocesses, in JSON and in text: the master first, then every child
// of its pool (as the master lists them), each child's threads and frames
// equal to its own view, the master's threads its own and each of their
// stacks ending with the frames the master saw stay put.
func TestDumpCelery(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			site := testenv.PySite(t, in, celeryReqs...)
			checkCelery(t, bin, in, site)
		})
	}
}

func checkCelery(t *testing.T, bin string, in testenv.Interp, site string) {
	dir := t.TempDir()
	targets := filepath.Dir(testenv.TargetPath(t, "celery_app.py"))
	cmd := exec.Command(in.Path, "-m", "celery", "-A", "celery_app", "worker", "--pool=prefork", "--concurrency=3",
		"-O", "fair", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=warning")
	cmd.Dir = dir
	cmd.Env = append([]string{"PYSCOPE_ORACLE_DIR=" + dir, "PYTHONPATH=" + targets + ":" + site,
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "LC_ALL=C.UTF-8", "PATH=/usr/bin:/bin"}, in.Env...)
	master, stderr, alive := startService(t, cmd)
	waitOracles(t, filepath.Join(dir, "oracle-master.json"), 1, stderr, alive)
	var mo celeryMaster
	if raw, err := os.ReadFile(filepath.Join(dir, "oracle-master.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &mo); err != nil {
		t.Fatalf("oracle-master.json: %v", err)
	}
	if mo.PID != master {
		t.Fatalf("the master's oracle is process %d's, not the master %d's", mo.PID, master)
	}
	children := waitOracles(t, filepath.Join(dir, "oracle-[0-9]*.json"), 3, stderr, alive)
	for pid, o := range children {
		waitThreads(t, pid, o)
	}
	waitThreads(t, master, &mo.Oracle)
	if got := slices.Sorted(func(yield func(int) bool) {
		for pid := range children {
			if !yield(pid) {
				return
			}
		}
	}); !slices.Equal(got, mo.Children) || len(got) != 3 {
		t.Fatalf("the children blocked in tasks are %v; the master's pool children %v", got, mo.Children)
	}
	tree := descendants(t, master)
	if len(tree) != 3 {
		t.Fatalf("the master has %d descendants, want its 3 pool children: %v", len(tree), tree)
	}

	t.Run("json", func(t *testing.T) {
		procs := dumpTree(t, bin, master, 4)
		for _, m := range diffCeleryMaster(&mo, procs[0].Dump) {
			t.Errorf("master %d: %s", master, m)
		}
		for _, p := range procs[1:] {
			o := children[p.PID]
			if o == nil {
				t.Errorf("process %d is not a pool child (%v)", p.PID, mo.Children)
				continue
			}
			if p.PPID != master {
				t.Errorf("process %d: ppid %d, want the master %d", p.PID, p.PPID, master)
			}
			for _, m := range diffDump(p.PID, o, p.Dump) {
				t.Errorf("process %d: %s", p.PID, m)
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		secs := dumpTreeText(t, bin, master, 4)
		m := secs[0]
		if len(m.threads) != len(mo.Threads) {
			t.Errorf("master: %d threads in text, it has %d", len(m.threads), len(mo.Threads))
		}
		for _, th := range mo.Threads {
			got, ok := m.threads[th.NativeID]
			if !ok {
				t.Errorf("master: no thread %d in text", th.NativeID)
				continue
			}
			var want []string
			for _, f := range th.Frames {
				want = append(want, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Qualname))
			}
			if len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
				t.Errorf("master thread %d in text:\n%s\ndoes not end with the frames it stayed in:\n%s", th.NativeID, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
		for _, s := range secs[1:] {
			if o := children[s.pid]; o == nil {
				t.Errorf("process %d is not a pool child (%v)", s.pid, mo.Children)
			} else {
				checkSection(t, s, o)
			}
			if s.ppid != master {
				t.Errorf("process %d: parent %d in the header, want the master %d", s.pid, s.ppid, master)
			}
		}
	})
	for _, pid := range append([]int{master}, mo.Children...) {
		if err := testenv.NotStopped(pid); err != nil {
			t.Error(err)
		}
	}
	if !alive() {
		t.Errorf("the worker ended:\n%s", stderr())
	}
}

// diffCeleryMaster compares the master's dump with its own view: the same
// threads, each stack ending with the frames that stayed put.
func diffCeleryMaster(mo *celeryMaster, d *Dump) []string {
	var errs []string
	if d.Python.Version != mo.Version || !samePath(d.Python.Executable, mo.Executable) {
		errs = append(errs, fmt.Sprintf("Python %s (%s), want %s (%s)", d.Python.Version, d.Python.Executable, mo.Version, mo.Executable))
	}
	if len(d.Threads) != len(mo.Threads) {
		errs = append(errs, fmt.Sprintf("%d threads, want %d", len(d.Threads), len(mo.Threads)))
	}
	for _, dt := range d.Threads {
		ot := mo.Thread(dt.ThreadID)
		if ot == nil {
			errs = append(errs, fmt.Sprintf("thread_id %d is not a thread of the master", dt.ThreadID))
			continue
		}
		if dt.NativeID != ot.NativeID || dt.IsMain != ot.IsMain || dt.Name == nil || ot.Name == nil || *dt.Name != *ot.Name {
			errs = append(errs, fmt.Sprintf("thread %d: native %d main %v name %v, want %d %v %v", dt.ThreadID, dt.NativeID, dt.IsMain, deref(dt.Name), ot.NativeID, ot.IsMain, deref(ot.Name)))
		}
		if len(ot.Frames) == 0 {
			errs = append(errs, fmt.Sprintf("thread %d: no frame stayed put in the master's samples", dt.ThreadID))
		}
		if len(dt.Frames) < len(ot.Frames) {
			errs = append(errs, fmt.Sprintf("thread %d: %d frames, want at least %d", dt.ThreadID, len(dt.Frames), len(ot.Frames)))
			continue
		}
		for i, of := range ot.Frames {
			f := dt.Frames[len(dt.Frames)-len(ot.Frames)+i]
			if f.File != of.File || f.Line != of.Line || f.Qualname != of.Qualname {
				errs = append(errs, fmt.Sprintf("thread %d frame %d: %s:%d %s, want %s:%d %s", dt.ThreadID,
					len(dt.Frames)-len(ot.Frames)+i, f.File, f.Line, f.Qualname, of.File, of.Line, of.Qualname))
			}
		}
	}
	return errs
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
