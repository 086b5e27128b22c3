package symbolize_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/pybuilds"
	"pyscope/internal/symbolize"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
	"pyscope/internal/unwind"
)

const debianPython = "/usr/bin/python3.11"

func ensurePackages(t *testing.T, pkgs ...string) {
	t.Helper()
	testenv.NeedPackages(t, pkgs...)
}

func python314(t *testing.T) string {
	t.Helper()
	b, err := pybuilds.Get("3.14")
	if err != nil {
		t.Fatalf("3.14 build: %v", err)
	}
	return b.Python
}

// startPython runs script under python and waits until it printed
// "ready" and every thread sleeps in the kernel.
func startPython(t *testing.T, python, script string) int {
	t.Helper()
	return testenv.StartScript(t, python, script)
}

func waitSleeping(t *testing.T, pid int) {
	t.Helper()
	testenv.WaitSleeping(t, pid)
}

// frame is one line of a backtrace: function name ("??" when unknown),
// file base name and line.
type frame struct {
	Func string
	File string
	Line int
}

func (f frame) String() string {
	if f.File == "" {
		return f.Func
	}
	return fmt.Sprintf("%s at %s:%d", f.Func, f.File, f.Line)
}

var gdbFrameRe = regexp.MustCompile(`^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: at (\S+):(\d+))?(?: from \S+)?$`)

// gdbBT runs gdb's bt on one thread of pid (gdb's thread number) and
// returns its frames.
func gdbBT(t *testing.T, pid int, thread int) []frame {
	t.Helper()
	ensurePackages(t, "gdb")
	args := []string{"-nx", "-batch", "-p", strconv.Itoa(pid)}
	if thread > 0 {
		args = append(args, "-ex", fmt.Sprintf("thread %d", thread))
	}
	// gdb adds frames for tail calls from the call sites DWARF records
	// (tail call frames, with no return address of their own); an
	// unwinder sees only the real frames. Their levels are printed after
	// the backtrace and left out.
	args = append(args, "-ex", "bt", "-ex", tailCallsPy)
	cmd := exec.Command("gdb", args...)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "DEBUGINFOD_") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	tail := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if lvl, ok := strings.CutPrefix(l, "TAILCALL "); ok {
			tail[lvl] = true
		}
	}
	var fs []frame
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		if lvl, _, _ := strings.Cut(l[1:], " "); tail[lvl] {
			continue
		}
		if strings.Contains(l, "<signal handler called>") {
			fs = append(fs, frame{Func: "<signal handler called>"})
			continue
		}
		m := gdbFrameRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("cannot parse gdb frame %q", l)
		}
		f := frame{Func: m[2]}
		if m[3] != "" {
			f.File = filepath.Base(m[3])
			f.Line, _ = strconv.Atoi(m[4])
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		t.Fatalf("gdb printed no frames:\n%s", out)
	}
	waitSleeping(t, pid)
	return fs
}

// tailCallsPy prints the level of each tail call frame of the selected
// thread, as "TAILCALL N".
const tailCallsPy = `python exec("f = gdb.newest_frame()\ni = 0\nwhile f is not None:\n    if f.type() == gdb.TAILCALL_FRAME: print('TAILCALL %d' % i)\n    f = f.older()\n    i += 1")`

// ourBT unwinds and symbolizes the thread tid (0: the main thread) of pid.
func ourBT(t *testing.T, pid, tid int, opts symbolize.Options) ([]frame, []unwind.Frame) {
	t.Helper()
	p, err := live.Open(pid, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := symbolize.New(p, opts)
	defer s.Close()
	res := unwind.NewResolverFrom(s.ModuleMap())
	if tid == 0 {
		tid = pid
	}
	for _, th := range p.Threads() {
		if th.TID != tid {
			continue
		}
		frames, err := unwind.Unwind(p, th.Regs, res, 0)
		if err != nil {
			t.Errorf("unwind: %v", err)
		}
		return symbolizeFrames(s, frames), frames
	}
	t.Fatalf("no thread %d in %d", tid, pid)
	return nil, nil
}

func symbolizeFrames(s *symbolize.Symbolizer, frames []unwind.Frame) []frame {
	var out []frame
	for _, f := range frames {
		if f.Signal {
			out = append(out, frame{Func: "<signal handler called>"})
			continue
		}
		syms := s.Lookup(f.LookupPC())
		if len(syms) == 0 {
			out = append(out, frame{Func: "??"})
		}
		for _, sy := range syms {
			fr := frame{Func: sy.Function, Line: sy.Line}
			if fr.Func == "" {
				fr.Func = "??"
			}
			if sy.File != "" {
				fr.File = filepath.Base(sy.File)
			}
			out = append(out, fr)
		}
	}
	return out
}

// compareBT fails unless both backtraces name the same functions (and,
// when withLines, the same file:line) in the same order.
func compareBT(t *testing.T, gdb, ours []frame, withLines bool) {
	t.Helper()
	same := len(gdb) == len(ours)
	for i := 0; same && i < len(gdb); i++ {
		g, o := gdb[i], ours[i]
		if g.Func != o.Func || (withLines && (g.File != o.File || g.Line != o.Line)) {
			same = false
		}
	}
	if !same {
		var b strings.Builder
		for i := 0; i < max(len(gdb), len(ours)); i++ {
			var g, o frame
			if i < len(gdb) {
				g = gdb[i]
			}
			if i < len(ours) {
				o = ours[i]
			}
			fmt.Fprintf(&b, "#%-2d gdb: %-60s ours: %s\n", i, g, o)
		}
		t.Fatalf("backtraces differ:\n%s", b.String())
	}
}

func hasFunc(fs []frame, name string) bool {
	for _, f := range fs {
		if f.Func == name {
			return true
		}
	}
	return false
}

func requireFuncs(t *testing.T, fs []frame, names ...string) {
	t.Helper()
	for _, n := range names {
		if !hasFunc(fs, n) {
			t.Errorf("no frame %s in %v", n, fs)
		}
	}
}
