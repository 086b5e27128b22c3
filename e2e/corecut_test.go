package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
