package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// gdbFacts is what session_gdb.py wrote about its frames, from
// Handler.handle outwards.
type gdbFacts struct {
	Frames []struct {
		Code   uint64      `json:"code"`
		Args   [][2]string `json:"args"`
		Locals [][2]string `json:"locals"`
	} `json:"frames"`
}

var infoFrameAtRe = regexp.MustCompile(`(?m)^Stack level (\d+), Python frame at (0x[0-9a-f]+):$`)

// TestSessionGDBCommands: the gdb commands a gdb user types first, on the
// selected Python frame, checked against the target's own frames: frame
// function NAME selects the innermost frame running NAME, info args lists
// the arguments the code object defines, info frame names the frame, its
// code object (id()), its neighbours and arguments, and bt full puts each
// Python frame's locals (f_locals) under it. A frame without variables
// prints gdb's "No locals." and "No arguments." in every command.
func TestSessionGDBCommands(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "debian-3.11", "pbs-3.12", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			tg := testenv.StartTarget(t, in, "session_gdb.py")
			var facts gdbFacts
			targetJSON(t, tg, "session_gdb.json", &facts)
			th := threadByName(t, &tg.Oracle, "gdbcmds")
			// Oracle frame i is facts frame i-off: facts start at handle.
			off := len(th.Frames) - len(facts.Frames)
			if off < 0 || th.Frames[off].Function != "handle" {
				t.Fatalf("the oracle's frames do not end with session_gdb.json's: %+v", th.Frames)
			}
			innermost := func(name string) int {
				for i, f := range th.Frames {
					if f.Function == name || f.Qualname == name {
						return i
					}
				}
				t.Fatalf("no frame %s", name)
				return -1
			}
			args := func(i int, sep string) []string {
				var out []string
				for _, a := range facts.Frames[i-off].Args {
					out = append(out, a[0]+sep+a[1])
				}
				return out
			}

			d := startDriver(t, bin, strconv.Itoa(tg.PID))
			ids, _ := threadIDs(t, d.run("info threads"))
			d.run(fmt.Sprintf("thread %d", ids[th.NativeID]))

			// frame function: by plain name and by qualified name (3.10
			// has no qualnames: its frames are named handle).
			rec := innermost("recurse")
			if rec == len(th.Frames)-1 || th.Frames[rec+1].Function != "recurse" {
				t.Fatalf("the oracle has no recursion above frame %d", rec)
			}
			out := d.run("frame function recurse")
			if want := fmt.Sprintf("#%d %s\n", rec, frameLine(th.Frames[rec])); !strings.HasPrefix(out, want) {
				t.Errorf("frame function recurse:\n%s\nwant it to start with\n%s", out, want)
			}
			out = d.run("info args")
			if want := strings.Join(args(rec, " = "), "\n") + "\n"; out != want {
				t.Errorf("info args in recurse:\n%s\nwant (the target's co_argcount, co_kwonlyargcount, *args, **kwargs)\n%s", out, want)
			}
			out = d.run("info frame")
			f := th.Frames[rec]
			wantContains(t, "info frame", out,
				fmt.Sprintf("Stack level %d, Python frame at 0x", rec),
				fmt.Sprintf(" %s (%s:%d); code object at %#x\n", f.Qualname, f.File, f.Line, facts.Frames[rec-off].Code),
				fmt.Sprintf("(#%d %s), caller of frame at 0x", rec+1, th.Frames[rec+1].Qualname),
				fmt.Sprintf("(#%d %s)\n", rec-1, th.Frames[rec-1].Qualname),
				" source language python.\n",
				" args: "+strings.Join(args(rec, "="), ", ")+"\n")
			// Its neighbours' addresses are theirs.
			m := regexp.MustCompile(`called by frame at (0x[0-9a-f]+) .*caller of frame at (0x[0-9a-f]+) `).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("info frame: no caller and callee:\n%s", out)
			}
			for n, want := range map[int]string{rec + 1: m[1], rec - 1: m[2]} {
				d.run(fmt.Sprintf("frame level %d", n))
				at := infoFrameAtRe.FindStringSubmatch(d.run("info frame"))
				if at == nil || at[1] != strconv.Itoa(n) || at[2] != want {
					t.Errorf("info frame at level %d says %q; frame %d said it is at %s", n, at, rec, want)
				}
			}

			h := innermost("handle")
			out = d.run("frame function " + th.Frames[h].Qualname)
			if want := fmt.Sprintf("#%d %s\n", h, frameLine(th.Frames[h])); !strings.HasPrefix(out, want) {
				t.Errorf("frame function %s:\n%s\nwant it to start with\n%s", th.Frames[h].Qualname, out, want)
			}
			if out, want := d.run("info args"), strings.Join(args(h, " = "), "\n")+"\n"; out != want {
				t.Errorf("info args in handle:\n%s\nwant\n%s", out, want)
			}
			wantContains(t, "frame function nosuch", d.run("frame function nosuch"), `No frame for function "nosuch".`)
			d.run("frame 0")
			wantContains(t, "info args in threading", d.run("frame function "+th.Frames[len(th.Frames)-1].Qualname+"\ninfo args"), "self = ")

			// bt full: every Python frame in order, and under each recurse
			// frame its f_locals, as the target lists them.
			out = d.run("bt full")
			var want []string
			for i, f := range th.Frames {
				w := fmt.Sprintf("] %s (%s:%d)\n", f.Qualname, f.File, f.Line)
				if f.Function == "recurse" {
					for _, l := range facts.Frames[i-off].Locals {
						w += fmt.Sprintf("        %s = %s\n", l[0], l[1])
					}
				}
				if f.Function == "start" {
					w += "        No locals.\n"
				}
				want = append(want, w)
			}
			wantInOrder(t, "bt full", out, want)
			if !regexp.MustCompile(`(?m)^#0 +(0x[0-9a-f]+|\(inlined\)) +in `).MatchString(out) {
				t.Errorf("bt full does not start with the native frames:\n%s", out)
			}
			// A frame without variables says so in gdb's words: "No
			// locals." for py-locals, info locals and py-bt-full (as
			// gdb's info locals and bt full), "No arguments." for info
			// args.
			st := innermost("start")
			if len(facts.Frames[st-off].Locals) != 0 || len(facts.Frames[st-off].Args) != 0 {
				t.Fatalf("the target's start frame has variables: %+v", facts.Frames[st-off])
			}
			d.run(fmt.Sprintf("frame level %d", st))
			for cmd, want := range map[string]string{"py-locals": "No locals.\n", "info locals": "No locals.\n", "info args": "No arguments.\n"} {
				if out := d.run(cmd); out != want {
					t.Errorf("%s in start:\n%q\nwant %q", cmd, out, want)
				}
			}
			full := d.run("py-bt-full")
			_, atStart, _ := strings.Cut(full, fmt.Sprintf("#%d   File \"%s\", line %d, in start\n", st, th.Frames[st].File, th.Frames[st].Line))
			if next, _, _ := strings.Cut(atStart, "#"); !strings.HasSuffix(next, "\n        No locals.\n") {
				t.Errorf("py-bt-full: frame #%d (start) not followed by its source line and No locals.:\n%s", st, full)
			}

			// Every command debug --help names is one the session runs,
			// gdb's frame commands among them.
			help := runPyscope(t, bin, nil, "debug", "--help")
			_, list, _ := strings.Cut(strings.Join(strings.Fields(help.stdout), " "), "with gdb's commands: ")
			list, _, _ = strings.Cut(list, ". ")
			named := strings.Split(list, ", ")
			for _, c := range []string{"info frame", "info args", "info locals", "bt full", "frame function NAME"} {
				if !slices.Contains(named, c) {
					t.Errorf("debug --help does not name %q among %q", c, named)
				}
			}
			for _, c := range named {
				if out := d.run(c); strings.Contains(out, "undefined") || strings.Contains(out, "ambiguous") {
					t.Errorf("debug --help names %q, which the session does not know: %s", c, out)
				}
			}

			// An abbreviation that fits several info subcommands names
			// them, as gdb's "Ambiguous info command"; one that fits one
			// runs it.
			wantContains(t, "info lo", d.run("info lo"), `ambiguous info command "lo": locals, locks.`)
			if a, b := d.run("info loca"), d.run("info locals"); a != b {
				t.Errorf("info loca:\n%s\ndiffers from info locals:\n%s", a, b)
			}
			d.last("quit")
		})
	}
}
