package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// perfectDump is what a correct pyscope would print for the target.
func perfectDump(t *testing.T, tg *testenv.Target) *Dump {
	o := &tg.Oracle
	d := &Dump{PID: tg.PID, Source: "live", Python: DumpPython{Version: o.Version, Executable: o.Executable, FreeThreaded: o.FreeThreaded}}
	for _, ot := range o.Threads {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", tg.PID, ot.NativeID))
		if err != nil {
			t.Fatal(err)
		}
		osName := string([]rune(strings.TrimSuffix(string(comm), "\n"))) // as JSON carries it
		dt := DumpThread{ThreadID: ot.ThreadID, NativeID: ot.NativeID, Name: ot.Name, OSName: &osName,
			IsMain: ot.IsMain, HoldsGIL: ot.HoldsGIL != nil && *ot.HoldsGIL, State: ot.State}
		for _, f := range ot.Frames {
			dt.Frames = append(dt.Frames, DumpFrame{Kind: "python", Function: f.Function, Qualname: f.Qualname, File: f.File, Line: f.Line,
				EndLine: f.EndLine, Column: f.Column, EndColumn: f.EndColumn})
		}
		d.Threads = append(d.Threads, dt)
	}
	return d
}

// TestCompareCatchesMismatch makes sure the comparison used by TestDump is
// not vacuous: a perfect dump passes, and each single corruption fails.
func TestCompareCatchesMismatch(t *testing.T) {
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Minor == "3.12" {
			in = i // has locations (PEP 657)
		}
	}
	tg := testenv.StartTarget(t, in, "busy.py")
	if errs := diffDump(tg.PID, &tg.Oracle, perfectDump(t, tg)); len(errs) > 0 {
		t.Fatalf("perfect dump rejected:\n%s", strings.Join(errs, "\n"))
	}
	thread := func(d *Dump, busy bool) *DumpThread {
		for i := range d.Threads {
			if tg.Oracle.Thread(d.Threads[i].ThreadID).Busy == busy && !d.Threads[i].IsMain {
				return &d.Threads[i]
			}
		}
		t.Fatal("no such thread")
		return nil
	}
	other := "other"
	cases := map[string]func(d *Dump){
		"line":          func(d *Dump) { thread(d, false).Frames[0].Line++ },
		"qualname":      func(d *Dump) { thread(d, false).Frames[1].Qualname += "x" },
		"file":          func(d *Dump) { f := thread(d, false).Frames; f[len(f)-1].File += "x" },
		"function":      func(d *Dump) { thread(d, false).Frames[0].Function = "x" },
		"missing frame": func(d *Dump) { th := thread(d, false); th.Frames = th.Frames[1:] },
		"column":        func(d *Dump) { f := &thread(d, false).Frames[0]; c := *f.Column + 1; f.Column = &c },
		"end_column":    func(d *Dump) { f := &thread(d, false).Frames[1]; c := *f.EndColumn - 1; f.EndColumn = &c },
		"end_line":      func(d *Dump) { f := &thread(d, false).Frames[0]; l := *f.EndLine + 1; f.EndLine = &l },
		"no column":     func(d *Dump) { thread(d, false).Frames[0].Column = nil },
		"native frames only": func(d *Dump) {
			th := thread(d, false)
			for i := range th.Frames {
				th.Frames[i].Kind = "native"
			}
		},
		"missing thread": func(d *Dump) { d.Threads = d.Threads[1:] },
		"extra thread":   func(d *Dump) { d.Threads = append(d.Threads, DumpThread{ThreadID: 1}) },
		"duplicate":      func(d *Dump) { d.Threads = append(d.Threads, d.Threads[0]) },
		"name":           func(d *Dump) { thread(d, false).Name = &other },
		"null name":      func(d *Dump) { thread(d, false).Name = nil },
		"os_name":        func(d *Dump) { thread(d, false).OSName = &other },
		"native_id":      func(d *Dump) { thread(d, false).NativeID++ },
		"is_main":        func(d *Dump) { thread(d, false).IsMain = true },
		"busy not GIL":   func(d *Dump) { thread(d, true).HoldsGIL = false },
		"two GIL":        func(d *Dump) { thread(d, false).HoldsGIL = true },
		"version":        func(d *Dump) { d.Python.Version = "3.10" },
		"executable":     func(d *Dump) { d.Python.Executable = "/bin/sh" },
		"source":         func(d *Dump) { d.Source = "core" },
		"pid":            func(d *Dump) { d.PID++ },
		"busy detached":  func(d *Dump) { thread(d, true).State = "detached" },
		"idle attached":  func(d *Dump) { thread(d, false).State = "attached" },
		"no state":       func(d *Dump) { thread(d, false).State = "" },
		"free_threaded":  func(d *Dump) { d.Python.FreeThreaded = !d.Python.FreeThreaded },
	}
	for name, corrupt := range cases {
		d := perfectDump(t, tg)
		corrupt(d)
		if errs := diffDump(tg.PID, &tg.Oracle, d); len(errs) == 0 {
			t.Errorf("%s: corrupted dump accepted", name)
		}
	}
}
