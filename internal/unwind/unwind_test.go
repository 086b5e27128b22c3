package unwind_test

import (
	"errors"
	"testing"

	"pyscope/internal/elfx"
	"pyscope/internal/pybuilds"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
	"pyscope/internal/unwind"
)

const debianPython = "/usr/bin/python3.11"

func ensurePackages(t *testing.T, pkgs ...string) {
	t.Helper()
	testenv.NeedPackages(t, pkgs...)
}

// startPython runs script under python and waits until it printed
// "ready" and every thread sleeps in the kernel.
func startPython(t *testing.T, python, script string) int {
	t.Helper()
	return testenv.StartScript(t, python, script)
}

func names(s *symbolize.Symbolizer, frames []unwind.Frame) []string {
	var out []string
	for _, f := range frames {
		syms := s.Lookup(f.LookupPC())
		if len(syms) == 0 {
			out = append(out, "??")
			continue
		}
		// The real (outermost) function of the frame.
		n := syms[len(syms)-1].Function
		if n == "" {
			n = "??"
		}
		out = append(out, n)
	}
	return out
}

const threadsScript = `
import select, socket, threading, time
lock = threading.Lock(); lock.acquire()
a, b = socket.socketpair()
threading.Thread(target=lambda: time.sleep(1000), daemon=True).start()
threading.Thread(target=lambda: select.select([a], [], []), daemon=True).start()
threading.Thread(target=lock.acquire, daemon=True).start()
print("ready", flush=True)
time.sleep(1000)
`

// Every thread unwinds to its stack's end: _start for the main thread,
// clone3 for the others, with no error.
func TestThreadsReachStackEnd(t *testing.T) {
	ensurePackages(t, "python3.11", "python3.11-dbg", "libc6-dbg")
	pid := startPython(t, debianPython, threadsScript)
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := symbolize.New(p, symbolize.Options{})
	defer s.Close()
	res := unwind.NewResolver(p)
	defer res.Close()
	threads := p.Threads()
	if len(threads) != 4 {
		t.Fatalf("%d threads, want 4", len(threads))
	}
	inner := map[string]bool{}
	for i, th := range threads {
		frames, err := unwind.Unwind(p, th.Regs, res, 0)
		if err != nil {
			t.Fatalf("thread %d: %v", th.TID, err)
		}
		ns := names(s, frames)
		want := "__clone3"
		if i == 0 {
			want = "_start"
		}
		if ns[len(ns)-1] != want {
			t.Errorf("thread %d ends in %s, want %s: %v", th.TID, ns[len(ns)-1], want, ns)
		}
		inner[ns[0]] = true
		for j := 1; j < len(frames); j++ {
			if frames[j].SP <= frames[j-1].SP || frames[j-1].CFA != frames[j].SP {
				t.Errorf("thread %d frame %d: SP %#x after SP %#x CFA %#x", th.TID, j, frames[j].SP, frames[j-1].SP, frames[j-1].CFA)
			}
			if frames[j].Module == "" || !frames[j].ReturnAddress {
				t.Errorf("thread %d frame %d: %+v", th.TID, j, frames[j])
			}
		}
	}
	for _, n := range []string{"__GI___clock_nanosleep", "__GI___select", "__futex_abstimed_wait_common"} {
		if !inner[n] {
			t.Errorf("no thread blocked in %s: %v", n, inner)
		}
	}
}

// noCFI hides the CFI of one module, to force the frame-pointer walk.
type noCFI struct {
	r    *unwind.Modules
	path string
	hits *int
}

func (n noCFI) Module(pc uint64) *unwind.Module {
	m := n.r.Module(pc)
	if m != nil && m.Path == n.path {
		*n.hits++
		c := *m
		c.CFI = nil
		return &c
	}
	return m
}

// The 3.14 standalone build keeps frame pointers: walking its frames by
// the RBP chain must give the same frames as its CFI.
func TestFramePointerFallback(t *testing.T) {
	b, err := pybuilds.Get("3.14")
	if err != nil {
		t.Fatal(err)
	}
	pid := startPython(t, b.Python, `
import time
print("ready", flush=True)
time.sleep(1000)
`)
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res := unwind.NewResolver(p)
	defer res.Close()
	regs := p.Threads()[0].Regs
	withCFI, err := unwind.Unwind(p, regs, res, 0)
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	fp, err := unwind.Unwind(p, regs, noCFI{res, b.Python, &hits}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if hits < 5 {
		t.Fatalf("CFI of %s hidden only %d times", b.Python, hits)
	}
	inPython := 0
	for _, f := range withCFI {
		if f.Module == b.Python {
			inPython++
		}
	}
	if inPython < 5 || len(fp) != len(withCFI) {
		t.Fatalf("frame pointers: %d frames, CFI: %d (%d in python)", len(fp), len(withCFI), inPython)
	}
	for i := range fp {
		if fp[i].PC != withCFI[i].PC || fp[i].SP != withCFI[i].SP {
			t.Fatalf("frame %d: frame pointers %+v, CFI %+v", i, fp[i], withCFI[i])
		}
	}
}

// max bounds the walk and says so.
func TestMaxDepth(t *testing.T) {
	pid := startPython(t, debianPython, `
import time
print("ready", flush=True)
time.sleep(1000)
`)
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res := unwind.NewResolver(p)
	defer res.Close()
	frames, err := unwind.Unwind(p, p.Threads()[0].Regs, res, 3)
	if len(frames) != 3 || !errors.Is(err, unwind.ErrStopped) {
		t.Fatalf("max 3: %d frames, err %v", len(frames), err)
	}
	// No walk at all is no early stop: nothing says the frames are the
	// stack's innermost part.
	if _, err := unwind.Unwind(p, nil, res, 0); err == nil || errors.Is(err, unwind.ErrStopped) {
		t.Fatalf("no registers: err %v", err)
	}
	if _, err := unwind.Unwind(p, &target.ARM64Regs{}, res, 0); err == nil || errors.Is(err, unwind.ErrStopped) {
		t.Fatalf("arm64 registers: err %v", err)
	}
}

func loadCFI(t *testing.T, path string) *unwind.CFI {
	t.Helper()
	f, err := elfx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c := unwind.LoadCFI(f)
	if c == nil {
		t.Fatalf("%s: no CFI", path)
	}
	return c
}

// Every FDE of real files parses, evaluates at its start and end, and is
// found again through .eh_frame_hdr.
func TestRealCFI(t *testing.T) {
	for _, path := range []string{"/lib/x86_64-linux-gnu/libc.so.6", debianPython} {
		c := loadCFI(t, path)
		fdes := c.FDEs()
		if len(fdes) < 1000 {
			t.Fatalf("%s: only %d FDEs", path, len(fdes))
		}
		for _, f := range fdes {
			for _, pc := range []uint64{f.Begin, f.End - 1} {
				if _, err := c.Row(f, pc); err != nil {
					t.Fatalf("%s: FDE %#x-%#x at %#x: %v", path, f.Begin, f.End, pc, err)
				}
				g, err := c.FindFDE(pc)
				if err != nil || g.Begin > pc || g.End <= pc {
					t.Fatalf("%s: lookup of %#x: %v %+v", path, pc, err, g)
				}
			}
		}
	}
}
