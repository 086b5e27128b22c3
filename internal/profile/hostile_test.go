package profile

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"pyscope/internal/profile/profiletest"
	"pyscope/internal/report"
	"pyscope/internal/testenv"
)

// TestHostileNames: hostile.py names a function and a file with HTML that
// runs script if it is ever parsed as markup, and another with terminal
// escapes and a `;`. The flame graph shows them as text and runs none of
// it, even with its Content-Security-Policy removed (so escaping alone is
// proven); collapsed stacks escape them without splitting a frame; the
// data formats keep them exact.
func TestHostileNames(t *testing.T) {
	tg := testenv.StartTarget(t, interp(t, "3.12"), "hostile.py")
	rec, msg := record(t, tg, 3)
	if msg != "" {
		t.Fatal(msg)
	}
	// The evil thread's frames, from the target's own report.
	var evil *testenv.OracleThread
	for i := range rec.oracle.Threads {
		for _, f := range rec.oracle.Threads[i].Frames {
			if strings.Contains(f.Qualname, "<script>") {
				evil = &rec.oracle.Threads[i]
			}
		}
	}
	if evil == nil {
		t.Fatal("hostile.py's oracle has no frame named with HTML")
	}
	var htmlFrame, termFrame testenv.OracleFrame
	for _, f := range evil.Frames {
		switch {
		case strings.Contains(f.Qualname, "<script>"):
			htmlFrame = f
		case strings.Contains(f.Qualname, "\x1b"):
			termFrame = f
		}
	}
	if termFrame.Qualname == "" || !strings.Contains(termFrame.File, ";") {
		t.Fatalf("hostile.py's oracle lacks the terminal-escape frame with a ';' in its file: %+v", evil.Frames)
	}
	o := Options{Name: "hostile.py <b>bold</b>", SplitThreads: true}
	p := build(rec.samples, o)

	t.Run("flamegraph", func(t *testing.T) {
		var page bytes.Buffer
		if err := p.WriteFlamegraph(&page); err != nil {
			t.Fatal(err)
		}
		noCSP := strings.Replace(page.String(), `<meta http-equiv="Content-Security-Policy"`, `<meta name="csp-removed-by-test"`, 1)
		if noCSP == page.String() {
			t.Fatal("the page has no Content-Security-Policy")
		}
		for _, c := range []struct{ name, doc string }{{"without CSP", noCSP}, {"as written", page.String()}} {
			name, doc := c.name, c.doc
			path := t.TempDir() + "/hostile.html"
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := profiletest.ChromiumDOM(t, path)
			if strings.Contains(dom, "data-pwned") {
				t.Errorf("%s: a name from the target ran script in the page", name)
			}
			titles := profiletest.SVGTitles(dom)
			if len(titles) == 0 {
				t.Fatalf("%s: the flame graph drew nothing, so the check above proves nothing:\n%.3000s", name, dom)
			}
			for _, want := range []string{pyLabel(htmlFrame, false), report.Safe(pyLabel(termFrame, false))} {
				found := false
				for _, ti := range titles {
					found = found || strings.HasPrefix(ti, want+"\n")
				}
				if !found {
					t.Errorf("%s: no frame box shows %q as text; boxes: %q", name, want, titles)
				}
			}
			for _, ti := range titles {
				if strings.ContainsAny(ti, "\x1b\x07\u202e") {
					t.Errorf("%s: raw control text from the target in %q", name, ti)
				}
			}
		}
	})

	t.Run("collapsed", func(t *testing.T) {
		var b bytes.Buffer
		if err := p.WriteCollapsed(&b); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\x07\u202e\r\b") {
			t.Errorf("raw control characters in collapsed output:\n%q", b.String())
		}
		found := false
		evilRoot := strings.TrimPrefix(strings.TrimSuffix(report.Safe(strconv.Quote(*evil.Name)), `"`), `"`)
		for _, l := range parseCollapsed(t, b.Bytes()) {
			if strings.Contains(l.frames[0], evilRoot) {
				found = true
				// The thread root, then every frame, none split by the ';'.
				if len(l.frames) != 1+len(evil.Frames) {
					t.Errorf("evil stack has %d frames, want %d: %q", len(l.frames), 1+len(evil.Frames), l.frames)
				}
			}
		}
		if !found {
			t.Errorf("no line is rooted at the evil thread:\n%s", b.String())
		}
	})

	t.Run("data formats keep names exact", func(t *testing.T) {
		var ss bytes.Buffer
		if err := p.WriteSpeedscope(&ss); err != nil {
			t.Fatal(err)
		}
		var f ssFile
		if err := json.Unmarshal(ss.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, fr := range f.Shared.Frames {
			names[fr.Name] = fr.File
		}
		if names[htmlFrame.Qualname] != htmlFrame.File || names[termFrame.Qualname] != termFrame.File {
			t.Errorf("speedscope frames not exact: %q", names)
		}

		var tr bytes.Buffer
		if err := p.WriteChrome(&tr); err != nil {
			t.Fatal(err)
		}
		var trace struct {
			TraceEvents []struct {
				Name string `json:"name"`
			} `json:"traceEvents"`
		}
		if err := json.Unmarshal(tr.Bytes(), &trace); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range trace.TraceEvents {
			seen[e.Name] = true
		}
		if !seen[pyLabel(htmlFrame, false)] || !seen[pyLabel(termFrame, false)] {
			t.Errorf("chrome trace names not exact")
		}

		var pb bytes.Buffer
		if err := p.WritePprof(&pb); err != nil {
			t.Fatal(err)
		}
		pp, err := profile.Parse(&pb)
		if err != nil {
			t.Fatal(err)
		}
		fn := map[string]string{}
		for _, f := range pp.Function {
			fn[f.Name] = f.Filename
		}
		if fn[htmlFrame.Qualname] != htmlFrame.File || fn[termFrame.Qualname] != termFrame.File {
			t.Errorf("pprof functions not exact: %q", fn)
		}
	})
}
