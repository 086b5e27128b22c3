package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// cutAtThreadStacks writes a copy of core cut where the first thread
// stack (other than the main thread's) starts, as a core size limit cuts
// a kernel core: the kernel writes memory in address order, so the heap
// (thread states) stays whole and the threads' stacks are gone. A thread's
// ident is its struct pthread, at the top of its stack's mapping.
func cutAtThreadStacks(t *testing.T, core string, ci *crashInfo) string {
	t.Helper()
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cut := uint64(0)
	for s := range ci.NativeIDs {
		var ident uint64
		fmt.Sscan(s, &ident)
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Filesz > 0 && p.Vaddr <= ident && ident < p.Vaddr+p.Memsz {
				if cut == 0 || p.Off < cut {
					cut = p.Off
				}
			}
		}
	}
	if cut == 0 {
		t.Fatalf("no thread stack found in %s", core)
	}
	raw, err := os.ReadFile(core)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "core.cut")
	if err := os.WriteFile(out, raw[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCoreCutBeforeThreadStacks opens a core that lost the threads' stacks
// (a core size limit): every thread the interpreter lists is still shown,
// with its name and identity, and a thread whose frames are gone says why.
// On 3.11 and 3.12 a thread's innermost frame is found through its
// _PyCFrame, on its C stack: the first one unreadable used to end the
// thread list, and the dump showed no thread at all.
func TestCoreCutBeforeThreadStacks(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	needCoreFiles(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			cr := crash(t, in.Path, "abort", true)
			core := cutAtThreadStacks(t, cr.core, &cr.info)
			r := runPyscope(t, bin, nil, "dump", "--json", core)
			if r.code != 0 && strings.Contains(r.stderr, "interpreter's state was not saved") {
				// A shared libpython is mapped among the thread stacks:
				// the runtime was cut too, which must say so in one line.
				checkOneLineError(t, r, "truncated", "ulimit -c")
				return
			}
			if r.code != 0 {
				t.Fatalf("dump of the cut core: exit %d\n%s", r.code, r.stderr)
			}
			var d struct {
				Threads []struct {
					ThreadID  uint64 `json:"thread_id"`
					NativeID  int    `json:"native_id"`
					Truncated bool   `json:"truncated"`
					Error     string `json:"error"`
					Frames    []DumpFrame
				} `json:"threads"`
				Warnings []string `json:"warnings"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
				t.Fatal(err)
			}
			byID := map[uint64]int{}
			for i, th := range d.Threads {
				byID[th.ThreadID] = i
			}
			for _, ft := range cr.fh {
				i, ok := byID[ft.ident]
				if !ok {
					t.Errorf("thread %#x (faulthandler) missing from the cut core's dump; warnings: %q", ft.ident, d.Warnings)
					continue
				}
				th := d.Threads[i]
				// Names are objects, which pymalloc keeps in mapped arenas
				// that were cut too; the TID is in the thread state.
				if th.NativeID != cr.info.nativeID(ft.ident) {
					t.Errorf("thread %#x: TID %d, want %d", ft.ident, th.NativeID, cr.info.nativeID(ft.ident))
				}
				if len(th.Frames) > 0 && !th.Truncated {
					var py []DumpFrame
					for _, f := range th.Frames {
						if f.Kind == "python" {
							py = append(py, f)
						}
					}
					if msg := diffFrames(fmt.Sprintf("thread %#x", ft.ident), ft.frames, ft.truncated, py); msg != "" {
						t.Error(msg)
					}
					continue
				}
				if !th.Truncated || !strings.Contains(th.Error, "truncated core") {
					t.Errorf("thread %#x: %d frames, truncated %v, error %q: want the truncated core named", ft.ident, len(th.Frames), th.Truncated, th.Error)
				}
			}
		})
	}
}

// TestCoreBtCount: bt N shows the innermost N frames and says more follow,
// bt -N the outermost N, as gdb's bt; anything else is refused. The count
// was ignored and every frame printed.
func TestCoreBtCount(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	needCoreFiles(t)
	cr := crash(t, debianInterp(t).Path, "abort", true)
	frames := func(out string) []string {
		var fs []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "#") {
				fs = append(fs, l)
			}
		}
		return fs
	}
	run := func(cmd string) result {
		t.Helper()
		r := runPyscope(t, bin, nil, "debug", cr.core, "-batch", "-ex", cmd)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", cmd, r.code, r.stderr)
		}
		return r
	}
	all := frames(run("bt").stdout)
	if len(all) < 8 || !strings.Contains(strings.Join(all, "\n"), "[Python]") {
		t.Fatalf("bt of the crashed thread: %q", all)
	}
	r := run("bt 3")
	if got := frames(r.stdout); !reflect.DeepEqual(got, all[:3]) {
		t.Errorf("bt 3:\n%s\nwant the first 3 of:\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}
	wantContains(t, "bt 3", r.stdout, "(More stack frames follow...)\n")
	r = run("bt -2")
	if got := frames(r.stdout); !reflect.DeepEqual(got, all[len(all)-2:]) {
		t.Errorf("bt -2:\n%s\nwant the last 2 of:\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}
	if strings.Contains(r.stdout, "More stack frames") {
		t.Errorf("bt -2 says more frames follow:\n%s", r.stdout)
	}
	if got := frames(run(fmt.Sprintf("bt %d", len(all)+5)).stdout); !reflect.DeepEqual(got, all) {
		t.Errorf("bt with a count past the last frame:\n%s", strings.Join(got, "\n"))
	}
	r = runPyscope(t, bin, nil, "debug", cr.core, "-batch", "-ex", "bt sideways")
	wantContains(t, "bt sideways", r.stdout+r.stderr, "bt takes a frame count")
	if len(frames(r.stdout)) != 0 {
		t.Errorf("bt sideways printed frames:\n%s", r.stdout)
	}
}
