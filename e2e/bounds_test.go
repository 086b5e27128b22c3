package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"pyscope/internal/report"
	"pyscope/internal/testenv"
)

// boundsFacts is what testdata/targets/bounds.py wrote about itself.
type boundsFacts struct {
	Idents map[string]uint64 `json:"idents"`
	// Long names: their length in characters and first MaxName ones.
	Long map[string]struct {
		Len  int    `json:"len"`
		Head string `json:"head"`
	} `json:"long"`
	// Names with lone surrogates: repr() without its quotes, and the
	// name with each surrogate U+FFFD.
	Surrogates map[string]struct {
		Repr string `json:"repr"`
		JSON string `json:"json"`
	} `json:"surrogates"`
	// How traceback formats the deep thread's stack, innermost first,
	// without and with its variables.
	Folded       []string `json:"folded"`
	FoldedLocals []string `json:"folded_locals"`
	// FoldedVars: as traceback with capture_locals formats it, but runs
	// fold only where the frames' variables are identical too.
	FoldedVars []string `json:"folded_vars"`
}

// TestTextBounds: what the text outputs (dump, the session's py-bt, the
// profiler's folded stacks) make of names and stacks the target makes
// long. A name is cut after report.MaxName characters with the note reprs
// use; runs of identical frames are folded as the target's own traceback
// module folds them; a lone surrogate in a name is shown as repr() shows
// it. JSON keeps every frame and every character, and stays valid UTF-8.
func TestTextBounds(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range pick(t, "debian-3.11", "pbs-3.10", "pbs-3.13", "src-3.13", "pbs-3.14") {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "bounds.py", strconv.Itoa(report.MaxName))
			var facts boundsFacts
			targetJSON(t, tg, "bounds.json", &facts)
			pid := strconv.Itoa(tg.PID)
			// Everything that reads the target on its own, before the
			// session holds it.
			run := func(args ...string) string {
				r := runPyscope(t, bin, nil, append(args, pid)...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
				}
				return r.stdout
			}
			text := run("dump", "--color", "never")
			sections := textSections(text)
			textLocals := run("dump", "--locals", "--color", "never")
			rawJSON := run("dump", "--json")
			rawLocals := run("dump", "--json", "--locals")
			prof := filepath.Join(t.TempDir(), "profile.txt")
			run("record", "-d", "1", "-r", "20", "-i", "-t", "-f", "collapsed", "-o", prof)
			folded, err := os.ReadFile(prof)
			if err != nil {
				t.Fatal(err)
			}
			d := decodeDump(t, rawJSON)
			compareDump(t, tg, d) // every frame, every character
			byID := map[uint64]*DumpThread{}
			for i := range d.Threads {
				byID[d.Threads[i].ThreadID] = &d.Threads[i]
			}
			tid := func(thread string) int {
				ot := tg.Oracle.Thread(facts.Idents[thread])
				if ot == nil {
					t.Fatalf("the oracle has no thread %s", thread)
				}
				return ot.NativeID
			}
			dbg := startDriver(t, bin, pid)
			nums, _ := threadIDs(t, dbg.run("info threads"))

			t.Run("long names", func(t *testing.T) {
				cut := func(what string) string {
					l := facts.Long[what]
					if l.Len <= report.MaxName {
						return l.Head
					}
					unit := "chars"
					if l.Len-report.MaxName == 1 {
						unit = "char"
					}
					return fmt.Sprintf("%s…(+%d %s)", l.Head, l.Len-report.MaxName, unit)
				}
				for _, what := range []string{"thread", "exact", "plus_one"} {
					who := what
					if what == "thread" {
						who = "long"
					}
					want := `"` + cut(what) + `"`
					if h := sections[facts.Idents[who]]; len(h) == 0 || !strings.Contains(h[0], want) {
						t.Errorf("dump: the header of thread %s does not name it %.400q:\n%.1000q", who, want, h)
					}
					// JSON: the whole name.
					if th := byID[facts.Idents[who]]; th == nil || th.Name == nil || utf8.RuneCountInString(*th.Name) != facts.Long[what].Len ||
						!strings.HasPrefix(*th.Name, facts.Long[what].Head) {
						t.Errorf("dump --json: thread %s's name is not whole", who)
					}
				}
				frame := fmt.Sprintf(`  File "%s", line `, cut("file"))
				if !containsLine(sections[facts.Idents["long"]], frame, ", in "+cut("function")) {
					t.Errorf("dump: no frame %.400q…, in %.400q in the long thread:\n%.2000q", frame, cut("function"), sections[facts.Idents["long"]])
				}
				for i, l := range strings.Split(text, "\n") {
					if len(l) > 2000 {
						t.Errorf("dump: line %d is %d bytes long: %.300q…", i+1, len(l), l)
					}
				}

				// The session: the thread it switches to, and py-bt.
				out := dbg.run(fmt.Sprintf("thread %d", nums[tid("long")]))
				if !strings.Contains(out, ") "+cut("thread")+"]") {
					t.Errorf("thread: the long thread's name is not cut:\n%.2000q", out)
				}
				out = dbg.run("py-bt")
				if !containsLine(strings.Split(out, "\n"), frame, ", in "+cut("function")) {
					t.Errorf("py-bt: no frame %.400q…, in %.400q:\n%.2000q", frame, cut("function"), out)
				}

				// The profiler's folded stacks.
				for _, want := range []string{
					fmt.Sprintf("%q", cut("thread")),
					fmt.Sprintf(";%s (%s:", cut("function"), cut("file")),
				} {
					if !strings.Contains(string(folded), want) {
						t.Errorf("record -f collapsed: %.400q missing", want)
					}
				}
				for _, l := range strings.Split(string(folded), "\n") {
					if strings.Contains(l, cut("thread")) && len(l) > 4000 {
						t.Errorf("record -f collapsed: the long thread's line is %d bytes long: %.300q…", len(l), l)
					}
				}
			})

			t.Run("recursion", func(t *testing.T) {
				deep := facts.Idents["deep"]
				want := foldTokens(strings.Split(strings.Join(facts.Folded, ""), "\n"))
				if !slices.Contains(want, "[Previous line repeated 1 more time]") {
					t.Fatalf("the target's traceback folded no run of 4 frames: %q", want)
				}
				checkFold(t, "dump", foldTokens(sections[deep]), want)
				if th := byID[deep]; th == nil || len(th.Frames) != len(tg.Oracle.Thread(deep).Frames) {
					t.Errorf("dump --json: the deep thread lost frames")
				}
				// With variables: every frame whose variables differ from
				// the frame before it, as the target lists them (the
				// recursion on n is not folded, the run of flat(box) with
				// the same box is), unlike traceback's capture_locals.
				wantVars := foldTokens(strings.Split(strings.Join(facts.FoldedVars, ""), "\n"))
				if slices.Equal(wantVars, foldTokens(strings.Split(strings.Join(facts.FoldedLocals, ""), "\n"))) ||
					!slices.Contains(wantVars, "[Previous line repeated 3 more times]") {
					t.Fatalf("the target's stack does not tell folding by location from folding by variables: %q", wantVars)
				}
				checkFold(t, "dump --locals", foldTokens(textSections(textLocals)[deep]), wantVars)

				dbg.run(fmt.Sprintf("thread %d", nums[tid("deep")]))
				checkFold(t, "py-bt", foldTokens(strings.Split(dbg.run("py-bt"), "\n")), want)
				full := dbg.run("py-bt-full")
				checkFold(t, "py-bt-full", foldTokens(strings.Split(full, "\n")), wantVars)
				// Its frame numbers stay each frame's own.
				if n := len(tg.Oracle.Thread(deep).Frames); !strings.Contains(full, fmt.Sprintf("\n#%d ", n-1)) {
					t.Errorf("py-bt-full: no frame #%d (the outermost)", n-1)
				}
			})

			t.Run("surrogates", func(t *testing.T) {
				sur := facts.Idents["surrogates"]
				name, fn, file := facts.Surrogates["thread"], facts.Surrogates["function"], facts.Surrogates["file"]
				if h := sections[sur]; len(h) == 0 || !strings.Contains(h[0], `"`+name.Repr+`"`) {
					t.Errorf("dump: the header does not name the thread %q:\n%q", name.Repr, h)
				}
				frame := fmt.Sprintf(`  File "%s", line `, file.Repr)
				if !containsLine(sections[sur], frame, ", in "+fn.Repr) {
					t.Errorf("dump: no frame %q…, in %q:\n%q", frame, fn.Repr, sections[sur])
				}
				out := dbg.run(fmt.Sprintf("thread %d", nums[tid("surrogates")]))
				if !strings.Contains(out, ") "+name.Repr+"]") {
					t.Errorf("thread: the name is not %q:\n%q", name.Repr, out)
				}
				if out := dbg.run("py-bt"); !containsLine(strings.Split(out, "\n"), frame, ", in "+fn.Repr) {
					t.Errorf("py-bt: no frame %q…, in %q:\n%q", frame, fn.Repr, out)
				}
				// JSON: valid UTF-8, each surrogate one U+FFFD; also where a
				// frame with variables goes through encoding/json.
				for args, raw := range map[string]string{"dump --json": rawJSON, "dump --json --locals": rawLocals} {
					if !utf8.ValidString(raw) || surrogateEscapeRe.MatchString(raw) {
						t.Errorf("%v: not valid UTF-8, or a surrogate escaped", args)
					}
					d := decodeDump(t, raw)
					found := false
					for _, th := range d.Threads {
						if th.ThreadID != sur {
							continue
						}
						if th.Name == nil || *th.Name != name.JSON {
							t.Errorf("%v: thread name %q, want %q", args, str(th.Name), name.JSON)
						}
						for _, f := range th.Frames {
							found = found || f.Function == fn.JSON && f.File == file.JSON
						}
					}
					if !found {
						t.Errorf("%v: no frame %q in %q", args, fn.JSON, file.JSON)
					}
				}
			})
			dbg.wait()
			tg.CheckRunning(t)
		})
	}
}

// textSections splits dump's text by thread: its header line first.
func textSections(out string) map[uint64][]string {
	res := map[uint64][]string{}
	var id uint64
	for _, l := range strings.Split(out, "\n") {
		if m := textThreadRe.FindStringSubmatch(l); m != nil {
			id, _ = strconv.ParseUint(m[1], 0, 64)
		}
		if id != 0 {
			res[id] = append(res[id], l)
		}
	}
	return res
}

// containsLine reports whether a line starts with prefix and ends with
// suffix.
func containsLine(lines []string, prefix, suffix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

// surrogateEscapeRe finds a JSON escape of a surrogate (not a repr's
// text "\\udc80", whose backslash JSON escapes).
var surrogateEscapeRe = regexp.MustCompile(`[^\\]\\ud[89a-f]`)

var (
	foldFileRe = regexp.MustCompile(`^(?:#\d+ )?  File "(.*)", line (-?\d+), in `)
	foldNoteRe = regexp.MustCompile(`^ *(\[Previous line repeated \d+ more times?\])$`)
	// The deep thread's variable n: traceback's `    n = 5`, dump's
	// `      arg   n = 5`, py-bt full's `        n = 5`.
	foldVarRe = regexp.MustCompile(`^ +(?:arg +)?(n = -?\d+)$`)
)

// foldTokens is what a traceback-style text says of a stack, one token a
// line: each frame's file:line (traceback names co_name, pyscope the
// qualname), each "[Previous line repeated …]" and each value of n.
func foldTokens(lines []string) []string {
	var out []string
	for _, l := range lines {
		switch {
		case foldFileRe.MatchString(l):
			m := foldFileRe.FindStringSubmatch(l)
			out = append(out, m[1]+":"+m[2])
		case foldNoteRe.MatchString(l):
			out = append(out, foldNoteRe.FindStringSubmatch(l)[1])
		case foldVarRe.MatchString(l):
			out = append(out, foldVarRe.FindStringSubmatch(l)[1])
		}
	}
	return out
}

func checkFold(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "(end)", "(end)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("%s folds the deep thread otherwise than the target's traceback: line %d is %q, want %q (%d lines, want %d)",
				what, i+1, g, w, len(got), len(want))
			return
		}
	}
}
