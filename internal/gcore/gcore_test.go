package gcore_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"pyscope/internal/engine"
	"pyscope/internal/gcore"
	"pyscope/internal/target"
	"pyscope/internal/target/core"
	"pyscope/internal/target/core/coretest"
	"pyscope/internal/target/live"
)

// dump writes the child's core with mode and records what the kernel says
// about it: while it is stopped (direct), else just before (the child
// sleeps: its threads and maps do not change).
func dump(t *testing.T, pid int, path string, mode engine.CoreMode) (gcore.Stats, []int, []string, map[int]string) {
	t.Helper()
	var p *live.Process
	if mode == engine.CoreDirect {
		var err error
		if p, err = live.Open(pid, live.Options{}); err != nil {
			t.Fatalf("live.Open: %v", err)
		}
	}
	tasks := coretest.Tasks(t, pid)
	maps := coretest.ReadMaps(t, pid)
	var mapLines []string
	for _, m := range maps {
		mapLines = append(mapLines, fmt.Sprintf("%x-%x %s %x %d %s", m.Start, m.End, m.Perms, m.Offset, m.Inode, m.Path))
	}
	comms := map[int]string{}
	for _, tid := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", pid, tid))
		comms[tid] = strings.TrimSpace(string(b))
	}
	if p == nil {
		cf, err := engine.WriteCore(pid, path, engine.CoreFileOptions{Mode: mode, Warn: func(s string) { t.Error("gcore:", s) }})
		if err != nil {
			t.Fatalf("engine.WriteCore: %v", err)
		}
		if cf.Mode != mode {
			t.Errorf("the core was taken by mode %d, want %d", cf.Mode, mode)
		}
		if mode == engine.CoreFork && (cf.Fork.Borrowed == 0 || cf.Fork.ReapErr != nil) {
			t.Errorf("fork: %+v", cf.Fork)
		}
		return gcore.Stats{Pause: cf.Pause, Bytes: cf.Bytes, Threads: cf.Threads, Segments: 1}, tasks, mapLines, comms
	}
	st, err := gcore.WriteFile(p, path, gcore.Options{Warn: func(s string) { t.Log("gcore:", s) }})
	if cerr := p.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if err != nil {
		t.Fatalf("gcore.WriteFile: %v", err)
	}
	return st, tasks, mapLines, comms
}

// TestWriteAndReadBack takes cores by each method (written while stopped,
// copied while stopped, from a fork) and checks them against the kernel's
// and the target's own view.
func TestWriteAndReadBack(t *testing.T) {
	type tcase struct {
		name, python string
		mode         engine.CoreMode
	}
	var cases []tcase
	for _, m := range []struct {
		name string
		mode engine.CoreMode
	}{{"direct", engine.CoreDirect}, {"copy", engine.CoreCopy}, {"fork", engine.CoreFork}} {
		cases = append(cases, tcase{"pbs-3.12-" + m.name, coretest.Python312(t), m.mode},
			tcase{"debian-3.11-" + m.name, coretest.DebianPython, m.mode})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := coretest.Start(t, tc.python)
			f := ch.Facts
			path := filepath.Join(t.TempDir(), "core")
			st, tasks, mapLines, comms := dump(t, f.PID, path, tc.mode)
			t.Logf("stats %+v", st)
			if st.Pause <= 0 || st.Pause > 10*time.Second || st.Segments == 0 || st.Threads != len(tasks) {
				t.Errorf("implausible stats %+v (tasks %v)", st, tasks)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != st.Bytes {
				t.Errorf("core size %v (err %v), stats say %d", fi.Size(), err, st.Bytes)
			}
			// The target must be running again.
			waitRunning(t, f.PID)

			var warns []string
			c, err := core.Open(path, core.Options{Warn: func(s string) { warns = append(warns, s) }})
			if err != nil {
				t.Fatalf("core.Open: %v", err)
			}
			defer c.Close()
			if len(warns) > 0 {
				t.Errorf("unexpected warnings: %q", warns)
			}
			if c.Arch() != target.HostArch() || c.PID() != f.PID {
				t.Errorf("Arch %v PID %d, want %v %d", c.Arch(), c.PID(), target.HostArch(), f.PID)
			}
			if c.Executable() != f.Exe {
				t.Errorf("Executable %q, want %q", c.Executable(), f.Exe)
			}
			if c.Crash() != nil {
				t.Errorf("Crash() = %+v for a core of a live process", c.Crash())
			}
			if !strings.HasPrefix(c.Cmdline(), tc.python+" ") {
				t.Errorf("Cmdline %q does not start with %q", c.Cmdline(), tc.python)
			}
			threads := c.Threads()
			if got := coretest.SortedTIDs(threads); !reflect.DeepEqual(got, tasks) {
				t.Errorf("core TIDs %v, task list at dump time %v", got, tasks)
			}
			if threads[0].TID != f.PID {
				t.Errorf("first thread %d, want the main thread %d", threads[0].TID, f.PID)
			}
			for _, th := range threads {
				if th.Comm != comms[th.TID] {
					t.Errorf("thread %d comm %q, want %q", th.TID, th.Comm, comms[th.TID])
				}
			}
			maps := c.Mappings()
			var gotLines []string
			for _, m := range maps {
				gotLines = append(gotLines, fmt.Sprintf("%x-%x %s %x %d %s", m.Start, m.End, m.Perms, m.Offset, m.Inode, m.Path))
			}
			if !reflect.DeepEqual(gotLines, mapLines) {
				t.Errorf("core mappings differ from /proc/PID/maps:\n got %q\nwant %q", gotLines, mapLines)
			}
			coretest.CheckRegs(t, threads, maps)
			coretest.CheckFPRegs(t, threads, c.FPRegs)
			coretest.CheckMemory(t, c, f)
			for _, fi := range c.Files() {
				if fi.Found == "" {
					t.Errorf("mapped file %s not found", fi.Path)
				}
			}
			checkGDB(t, tc.python, path)
			if tc.mode == engine.CoreDirect {
				checkCompressed(t, path, f)
			}
		})
	}
}

func waitRunning(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && s[i+2] != 't' && s[i+2] != 'T' {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d left stopped after the dump", pid)
}

// checkGDB opens the core in gdb: it must be recognized and backtrace with
// function names.
func checkGDB(t *testing.T, exe, path string) {
	t.Helper()
	gdb := coretest.Need(t, "gdb", "gdb")
	out, err := exec.Command(gdb, "-nx", "-batch", "-ex", "set debuginfod enabled off", "-ex", "bt", exe, path).CombinedOutput()
	s := string(out)
	if err != nil {
		t.Errorf("gdb failed: %v\n%s", err, s)
	}
	for _, bad := range []string{"not a core dump", "not in executable format", "is truncated", "No stack"} {
		if strings.Contains(s, bad) {
			t.Errorf("gdb says %q:\n%s", bad, s)
		}
	}
	// A sleeping main thread: a libc sleep frame and, further up, main.
	if !regexp.MustCompile(`(?m)^#0 .*\b(\w*sleep\w*|select|\w*poll\w*)\b`).MatchString(s) ||
		!regexp.MustCompile(`(?m)^#\d+ .*\b\w*[mM]ain\w* \(`).MatchString(s) {
		t.Errorf("gdb backtrace lacks a sleep frame or main:\n%s", s)
	}
}

// checkCompressed compresses the core with each supported tool and reads
// the same memory from it.
func checkCompressed(t *testing.T, path string, f coretest.Facts) {
	t.Helper()
	for _, tc := range []struct{ tool, pkg, ext string }{
		{"zstd", "zstd", ".zst"},
		{"gzip", "gzip", ".gz"},
		{"xz", "xz-utils", ".xz"},
		{"lz4", "lz4", ".lz4"},
	} {
		bin := coretest.Need(t, tc.tool, tc.pkg)
		out := path + tc.ext
		args := []string{"-q", "-c", path}
		if tc.tool == "xz" {
			args = append([]string{"-0", "-T0"}, args...)
		}
		cmd := exec.Command(bin, args...)
		w, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = w
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", tc.tool, err)
		}
		w.Close()
		c, err := core.Open(out, core.Options{})
		if err != nil {
			t.Errorf("%s core: %v", tc.tool, err)
			continue
		}
		if c.PID() != f.PID {
			t.Errorf("%s core: PID %d, want %d", tc.tool, c.PID(), f.PID)
		}
		coretest.CheckMemory(t, c, f)
		c.Close()
		os.Remove(out)
	}
}
