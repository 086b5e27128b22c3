package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// Pinned greenlet releases from PyPI: greenlet 2 where it has wheels (and
// Debian's 2.0.2 on Debian's 3.11), greenlet 3 on the others.
const (
	greenlet2 = "greenlet==2.0.2"
	greenlet3 = "greenlet==3.2.4"
	// greenlet 3.2.2 is the last release with free-threaded (cp313t)
	// wheels; importing it turns the GIL back on in that process.
	greenlet3t = "greenlet==3.2.2"
	gevent     = "gevent==25.9.1"
)

// greenletSite is where interpreter in finds greenlet ("" for Debian's
// own python3-greenlet) and which release it is.
func greenletSite(t *testing.T, in testenv.Interp, more ...string) string {
	t.Helper()
	switch {
	case in.Name == "debian-3.11":
		testenv.NeedPackages(t, "python3-greenlet", "python3-gevent")
		return ""
	case in.Minor == "3.10":
		return testenv.PySite(t, in, append([]string{greenlet2}, more...)...)
	case in.FreeThreaded:
		return testenv.PySite(t, in, append([]string{greenlet3t}, more...)...)
	}
	return testenv.PySite(t, in, append([]string{greenlet3}, more...)...)
}

// checkGreenletsRefused checks that a free-threaded target's greenlets
// are refused with the reason, by dump and by the session, rather than
// listed as none: such a build links no object into the collector's lists.
func checkGreenletsRefused(t *testing.T, bin string, tg *testenv.Target) {
	t.Helper()
	const why = "a free-threaded build keeps its objects in mimalloc heaps"
	pid := strconv.Itoa(tg.PID)
	r := runPyscope(t, bin, nil, "dump", "--greenlets", pid)
	if r.code != 0 || !strings.Contains(r.stderr+r.stdout, why) || !strings.Contains(r.stdout, "Greenlets: not read") {
		t.Errorf("dump --greenlets: exit %d, no %q or \"Greenlets: not read\":\n%s%s", r.code, why, r.stdout, r.stderr)
	}
	r = runPyscope(t, bin, nil, "debug", "-ex", "info greenlets", pid)
	if !strings.Contains(r.stderr+r.stdout, why) {
		t.Errorf("info greenlets: no %q:\n%s%s", why, r.stdout, r.stderr)
	}
	tg.CheckRunning(t)
}

// greenletEntry is one greenlet, as the target or pyscope sees it.
type greenletEntry struct {
	ID         uint64      `json:"id"`
	State      string      `json:"state"`
	ThreadID   *uint64     `json:"thread_id"`
	Parent     *uint64     `json:"parent"`
	Main       bool        `json:"main"`
	NotStarted bool        `json:"not_started"`
	Type       string      `json:"type"`
	Frames     []taskFrame `json:"frames"`
	Error      string      `json:"error"`
}

type greenletsOracle struct {
	Greenlets []greenletEntry `json:"greenlets"`
	Version   string          `json:"version"`
}

type greenletsDump struct {
	Greenlets []greenletEntry `json:"greenlets"`
	Warnings  []string        `json:"warnings"`
	Stop      *struct {
		Policy  string `json:"policy"`
		Stopped []int  `json:"stopped"`
		Threads int    `json:"threads"`
	} `json:"stop"`
}

func dumpGreenlets(t *testing.T, bin, arg string, more ...string) *greenletsDump {
	t.Helper()
	r := runPyscope(t, bin, nil, append(append([]string{"dump", "--greenlets", "--json"}, more...), arg)...)
	if r.code != 0 {
		t.Fatalf("pyscope dump --greenlets --json %s: exit %d\n%s", arg, r.code, r.stderr)
	}
	var d greenletsDump
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dump is not JSON: %v", err)
	}
	if d.Greenlets == nil {
		t.Errorf("--greenlets JSON lacks \"greenlets\": %.300s", r.stdout)
	}
	return &d
}

func framesOf(fs []taskFrame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fhLine(f.DumpFrame)+" "+f.Qualname)
	}
	return out
}

func oracleFrames(fs []testenv.OracleFrame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fhLine(DumpFrame{Function: f.Function, File: f.File, Line: f.Line})+" "+f.Qualname)
	}
	return out
}

// diffGreenlets compares pyscope's greenlets with the target's own view;
// a running greenlet's frames are its thread's stack in the oracle.
func diffGreenlets(tg *testenv.Target, o *greenletsOracle, d *greenletsDump) []string {
	var out []string
	for _, w := range d.Warnings {
		if strings.Contains(w, "greenlet") {
			out = append(out, "warning: "+w)
		}
	}
	got := map[uint64]greenletEntry{}
	for _, g := range d.Greenlets {
		got[g.ID] = g
	}
	if len(d.Greenlets) != len(o.Greenlets) {
		out = append(out, fmt.Sprintf("%d greenlets, the target has %d", len(d.Greenlets), len(o.Greenlets)))
	}
	for _, w := range o.Greenlets {
		g, ok := got[w.ID]
		who := fmt.Sprintf("greenlet %#x (%s)", w.ID, w.State)
		if !ok {
			out = append(out, who+" missing")
			continue
		}
		if g.State != w.State || g.NotStarted != w.NotStarted || g.Main != w.Main || g.Type != w.Type {
			out = append(out, fmt.Sprintf("%s: state %s not_started %v main %v type %s, want %s %v %v %s",
				who, g.State, g.NotStarted, g.Main, g.Type, w.State, w.NotStarted, w.Main, w.Type))
		}
		if ptrStr(g.ThreadID) != ptrStr(w.ThreadID) || ptrStr(g.Parent) != ptrStr(w.Parent) {
			out = append(out, fmt.Sprintf("%s: thread %s parent %s, want %s %s", who,
				ptrStr(g.ThreadID), ptrStr(g.Parent), ptrStr(w.ThreadID), ptrStr(w.Parent)))
		}
		if g.Error != "" {
			out = append(out, fmt.Sprintf("%s: error %s", who, g.Error))
		}
		want := framesOf(w.Frames)
		if w.State == "running" && w.ThreadID != nil {
			if th := tg.Oracle.Thread(*w.ThreadID); th != nil {
				want = oracleFrames(th.Frames)
			}
		}
		if have := framesOf(g.Frames); !slices.Equal(have, want) {
			out = append(out, fmt.Sprintf("%s: frames\n  got  %s\n  want %s", who, strings.Join(have, "\n       "), strings.Join(want, "\n       ")))
		}
	}
	return out
}

func readGreenletsOracle(t *testing.T, tg *testenv.Target) *greenletsOracle {
	t.Helper()
	var o greenletsOracle
	targetJSON(t, tg, "oracle.json.greenlets.json", &o)
	return &o
}

// TestGreenlets dumps the greenlets of greenlets.py, live and from a core,
// on every interpreter (greenlet 2.0.2 on Debian's 3.11 and PBS 3.10,
// greenlet 3 on the others), and compares them with the target's own
// view: 100 greenlets parked in known functions, nested parents, a
// subclass, one not started, one dead, a second thread's greenlets, one
// running greenlet per thread whose frames are its thread's stack, and the
// greenlets of two threads that exited (dead, no thread), one's looked at
// by the program since (their stack state cleared).
func TestGreenlets(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			var args []string
			if site := greenletSite(t, in); site != "" {
				args = append(args, site)
			}
			tg := testenv.StartTarget(t, in, "greenlets.py", args...)
			o := readGreenletsOracle(t, tg)
			if in.FreeThreaded {
				checkGreenletsRefused(t, bin, tg)
				return
			}
			if len(o.Greenlets) < 120 {
				t.Fatalf("the target recorded %d greenlets", len(o.Greenlets))
			}
			t.Logf("greenlet %s: %d greenlets", o.Version, len(o.Greenlets))
			pid := strconv.Itoa(tg.PID)
			// The default stops at most the GIL's holder: the threads left
			// running have no registers, and their greenlets are placed by
			// the stack glibc gave them. --stop-all places them by their
			// stack pointers.
			d := dumpGreenlets(t, bin, pid)
			if !in.FreeThreaded && (d.Stop == nil || d.Stop.Policy != "gil" || len(d.Stop.Stopped) >= d.Stop.Threads) {
				t.Errorf("the default dump --greenlets did not stop only the GIL's holder: %+v", d.Stop)
			}
			for _, m := range diffGreenlets(tg, o, d) {
				t.Error("live: " + m)
			}
			for _, m := range diffGreenlets(tg, o, dumpGreenlets(t, bin, pid, "--stop-all")) {
				t.Error("live, --stop-all: " + m)
			}
			tg.CheckRunning(t)

			r := runPyscope(t, bin, nil, "dump", "--greenlets", pid)
			if r.code != 0 {
				t.Fatalf("dump --greenlets: exit %d\n%s", r.code, r.stderr)
			}
			if want := fmt.Sprintf("Greenlets: %d (", len(o.Greenlets)); !strings.Contains(r.stdout, want) {
				t.Errorf("text: no %q:\n%.2000s", want, r.stdout)
			}
			if !strings.Contains(r.stdout, "below it, its parent:") {
				t.Errorf("text: the running greenlet's parent is not shown below it:\n%.3000s", r.stdout)
			}
			// With --locals, a suspended greenlet's frames show their
			// variables under them, as the JSON has them (the target's own
			// frames: they do not move while parked).
			dl := dumpGreenlets(t, bin, pid, "--locals", "--max-repr", "100000")
			r = runPyscope(t, bin, nil, "dump", "--greenlets", "--locals", "--max-repr", "100000", pid)
			if r.code != 0 {
				t.Fatalf("dump --greenlets --locals: exit %d\n%s", r.code, r.stderr)
			}
			shown := 0
			for _, g := range dl.Greenlets {
				for _, f := range g.Frames {
					if g.State != "suspended" || g.Main || filepath.Base(f.File) != "greenlets.py" {
						continue
					}
					for _, l := range f.Locals {
						if len(l.Repr) > 100 {
							continue // cut at other limits in the text
						}
						if line := " " + l.Name + " = " + l.Repr + "\n"; !strings.Contains(r.stdout, line) {
							t.Errorf("text --locals: greenlet %#x, %s: no line %q", g.ID, f.Qualname, line)
						}
						shown++
					}
				}
			}
			if shown == 0 {
				t.Error("--locals: no suspended greenlet's variables to look for")
			}
			checkGreenletSession(t, bin, pid, o)
			tg.CheckRunning(t)

			core := filepath.Join(t.TempDir(), "greenlets.core")
			pyscopeGcore(t, bin, tg, core)
			for _, m := range diffGreenlets(tg, o, dumpGreenlets(t, bin, core)) {
				t.Error("core: " + m)
			}
			checkGreenletSession(t, bin, core, o)
		})
	}
}

// checkGreenletSession selects the deepest parked greenlet in a session
// and checks py-bt against gr_frame, then py-up and py-locals.
func checkGreenletSession(t *testing.T, bin, arg string, o *greenletsOracle) {
	t.Helper()
	var deepest greenletEntry
	for _, g := range o.Greenlets {
		if g.State == "suspended" && !g.Main && len(g.Frames) > len(deepest.Frames) {
			deepest = g
		}
	}
	r := runPyscope(t, bin, nil, "debug", arg, "-batch", "-ex", "info greenlets")
	if r.code != 0 {
		t.Fatalf("debug: info greenlets: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Greenlets are listed in the order of the JSON, numbered from 1.
	d := dumpGreenlets(t, bin, arg)
	num := 0
	for i, g := range d.Greenlets {
		if g.ID == deepest.ID {
			num = i + 1
		}
	}
	if num == 0 || strings.Count(r.stdout, "\n") < len(o.Greenlets) {
		t.Fatalf("info greenlets does not list the greenlets:\n%.2000s", r.stdout)
	}
	r = runPyscope(t, bin, nil, "debug", arg, "-batch", "-ex", "info greenlets", "-ex", fmt.Sprintf("greenlet %d", num),
		"-ex", "py-bt", "-ex", "py-up", "-ex", "py-locals")
	if r.code != 0 {
		t.Fatalf("debug: greenlet %d: exit %d\n%s%s", num, r.code, r.stdout, r.stderr)
	}
	checkSessionPyBt(t, fmt.Sprintf("greenlet %d", num), r.stdout, deepest.Frames)
	if !strings.Contains(r.stdout, "in middle\n") || !strings.Contains(r.stdout, "\ni = ") {
		t.Errorf("session: py-up to middle and its locals (i) not shown:\n%s", r.stdout)
	}

	// thread apply shows the threads' frames whatever greenlet is
	// selected, and leaves it selected.
	const marker = "=== selected ==="
	r = runPyscope(t, bin, nil, "debug", arg, "-batch", "-ex", "thread apply all py-bt", "-ex", fmt.Sprintf("greenlet %d", num),
		"-ex", "echo "+marker+"\\n", "-ex", "thread apply all py-bt", "-ex", "greenlet")
	if r.code != 0 {
		t.Fatalf("debug: thread apply with greenlet %d selected: exit %d\n%s%s", num, r.code, r.stdout, r.stderr)
	}
	before, after, _ := strings.Cut(r.stdout, marker+"\n")
	before = before[:strings.LastIndex(before, "[Switching to greenlet")]
	after, current, _ := strings.Cut(after, "[Current greenlet is ")
	if before != after || !strings.Contains(before, "Traceback") {
		t.Errorf("thread apply all py-bt with greenlet %d selected differs from without:\n%s\nvs\n%s", num, before, after)
	}
	if !strings.HasPrefix(current, strconv.Itoa(num)+" ") {
		t.Errorf("after thread apply, greenlet %d is no longer selected:\n%s", num, r.stdout)
	}
}

// TestGeventHub dumps a gevent program (Debian's python3-gevent on
// Debian's 3.11, PyPI's gevent on 3.12–3.14) whose running greenlet blocks
// the thread with 20 handlers asleep in the hub: every greenlet the
// target's collector lists (gc.get_objects()) appears with its state,
// parent and gr_frame; the handlers' parent is the hub; below the running
// greenlet the text shows the hub, then the main greenlet.
func TestGeventHub(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		// gevent publishes no free-threaded wheels.
		if in.FreeThreaded || in.Name != "debian-3.11" && !slices.Contains([]string{"3.12", "3.13", "3.14"}, in.Minor) {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			var args []string
			if site := greenletSite(t, in, gevent, "zope.event==6.2", "zope.interface==8.7"); site != "" {
				args = append(args, site)
			}
			tg := testenv.StartTarget(t, in, "gevent_hub.py", args...)
			var o struct {
				greenletsOracle
				Gevent string `json:"gevent"`
				Hub    uint64 `json:"hub"`
			}
			targetJSON(t, tg, "oracle.json.greenlets.json", &o)
			t.Logf("gevent %s, greenlet %s: %d greenlets", o.Gevent, o.Version, len(o.Greenlets))
			handlers := 0
			for _, g := range o.Greenlets {
				if g.Parent != nil && *g.Parent == o.Hub && g.State == "suspended" {
					handlers++
				}
			}
			if handlers < 20 {
				t.Fatalf("the target has %d greenlets parked in its hub, want 20", handlers)
			}
			pid := strconv.Itoa(tg.PID)
			for _, m := range diffGreenlets(tg, &o.greenletsOracle, dumpGreenlets(t, bin, pid)) {
				t.Error("live: " + m)
			}
			tg.CheckRunning(t)
			r := runPyscope(t, bin, nil, "dump", "--greenlets", pid)
			if r.code != 0 {
				t.Fatalf("dump --greenlets: exit %d\n%s", r.code, r.stderr)
			}
			hub := fmt.Sprintf("below it, its parent:\n      (G) gevent.hub.Hub %#x [suspended]", o.Hub)
			if !strings.Contains(r.stdout, hub) {
				t.Errorf("text: the hub is not shown below the running greenlet (%q):\n%.3000s", hub, r.stdout)
			}
			core := filepath.Join(t.TempDir(), "gevent.core")
			pyscopeGcore(t, bin, tg, core)
			for _, m := range diffGreenlets(tg, &o.greenletsOracle, dumpGreenlets(t, bin, core)) {
				t.Error("core: " + m)
			}
		})
	}
}
