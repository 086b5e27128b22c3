package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// Source files in the encodings their PEP 263 declarations name (Latin-1,
// cp1252 on line 2, Shift_JIS), in UTF-8 with a byte order mark, and with
// carriage returns for line ends are shown as the target's own traceback
// and linecache read them: the source line
// and the markers under it (whose columns count UTF-8 bytes of the decoded
// line) in dump and py-bt, the lines of py-list, from the live process,
// from a core and from a bundle that carries the files.
func TestSourceEncodings(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "pbs-3.10", "debian-3.11", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "pep263.py")
			var sources map[string][]string
			targetJSON(t, tg, "sources.json", &sources)
			modules := moduleThreads(t, tg, sources)
			pid := strconv.Itoa(tg.PID)

			check := func(what string, args ...string) {
				t.Helper()
				r := runPyscope(t, bin, nil, append([]string{"dump"}, args...)...)
				if r.code != 0 {
					t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
				}
				text := parseText(r.stdout)
				for _, ot := range modules {
					compareMarks(t, what+" "+*ot.Name, ot, text[ot.ThreadID])
				}
			}
			check("dump", pid)

			// The session: py-bt's lines and markers, py-list's lines.
			r := runPyscope(t, bin, nil, "debug", pid, "-batch", "-ex", "thread apply all py-bt")
			bt := sectionsByTID(r.stdout)
			r = runPyscope(t, bin, nil, "debug", pid, "-batch", "-ex", "thread apply all py-list")
			list := sectionsByTID(r.stdout)
			for _, ot := range modules {
				compareMarks(t, "py-bt of "+*ot.Name, ot, parseFrames(bt[ot.NativeID]))
				f := ot.Frames[0]
				lines := sources[f.File]
				var want strings.Builder
				for n := max(f.Line-5, 1); n <= f.Line+5; n++ {
					num := strconv.Itoa(n)
					if n == f.Line {
						num = ">" + num
					}
					fmt.Fprintf(&want, "%4s    %s\n", num, strings.TrimSuffix(lines[n-1], "\n"))
				}
				wantContains(t, "py-list of "+*ot.Name, list[ot.NativeID], want.String())
			}

			// A core reads the files where the process had them; a bundle
			// carries copies, read when the originals are gone.
			dir := t.TempDir()
			core, bundle := filepath.Join(dir, "pep263.core"), filepath.Join(dir, "pep263.tar.zst")
			pyscopeGcore(t, bin, tg, core)
			check("core", core)
			pyscopeGcore(t, bin, tg, bundle, "--bundle")
			src := filepath.Dir(modules[0].Frames[0].File)
			if err := os.Rename(src, src+".gone"); err != nil {
				t.Fatal(err)
			}
			check("bundle", bundle)
		})
	}
}

// moduleThreads returns the oracle's threads blocked in the encoded
// modules, checking that the target itself could read each line (and on
// 3.11+ marks the call), so that the comparisons compare something.
func moduleThreads(t *testing.T, tg *testenv.Target, sources map[string][]string) []*testenv.OracleThread {
	t.Helper()
	var out []*testenv.OracleThread
	for i := range tg.Oracle.Threads {
		ot := &tg.Oracle.Threads[i]
		if ot.Name == nil || !strings.HasPrefix(*ot.Name, "mod_") {
			continue
		}
		f := ot.Frames[0]
		src, marks := tracebackMarks(f.Formatted)
		if lines := sources[f.File]; len(lines) < f.Line+5 || src == "" || strings.TrimSpace(lines[f.Line-1]) != src {
			t.Fatalf("%s: the target's linecache and traceback disagree on %s:%d: %q", *ot.Name, f.File, f.Line, f.Formatted)
		}
		if tg.Oracle.Version >= "3.11" && marks == "" {
			t.Fatalf("%s: the target's traceback marks nothing:\n%s", *ot.Name, f.Formatted)
		}
		out = append(out, ot)
	}
	if len(out) != len(sources) || len(out) == 0 {
		t.Fatalf("%d threads in the encoded modules, %d modules", len(out), len(sources))
	}
	return out
}

// sectionsByTID splits `thread apply` output at its thread headings, by
// the thread's TID.
func sectionsByTID(out string) map[int]string {
	body := map[int]string{}
	locs := headingRe.FindAllStringSubmatchIndex(out, -1)
	for i, l := range locs {
		tid, _ := strconv.Atoi(out[l[4]:l[5]])
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body[tid] = out[l[1]:end]
	}
	return body
}
