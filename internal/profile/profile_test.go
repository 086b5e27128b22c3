package profile

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"pyscope/internal/profile/profiletest"
)

// TestFunctions: what `top` shows. On the busy target without idle
// threads, the function it spun in has every sample as its own, and its
// callers have them all in total.
func TestFunctions(t *testing.T) {
	rec := busyRecording(t)
	busy := rec.busyThread(t)
	samples := rec.python()
	_, all := kept(samples, Options{})
	fs := build(samples, Options{SplitThreads: true}).Functions()
	if len(fs) == 0 || fs[0].Name != busy.Frames[0].Qualname || fs[0].File != busy.Frames[0].File || fs[0].Own != all || fs[0].Total != all {
		t.Fatalf("top function %+v, want %s with %d own samples", fs[0], busy.Frames[0].Qualname, all)
	}
	outer := busy.Frames[len(busy.Frames)-1]
	for _, f := range fs {
		if f.Name == outer.Qualname && f.File == outer.File && (f.Total != all || f.Own != 0) {
			t.Errorf("%s: own %d total %d, want 0 and %d", f.Name, f.Own, f.Total, all)
		}
		if strings.HasPrefix(f.Name, "Thread 0x") {
			t.Errorf("a thread root is listed as a function: %+v", f)
		}
	}
}

// TestBounds: failed samples are reported, never silently dropped, and a
// full timeline ends the time-ordered formats early while the aggregate
// ones stay complete.
func TestBounds(t *testing.T) {
	rec := busyRecording(t)
	samples := rec.python()
	o := Options{Name: "bounded", Idle: true, MaxRuns: 2}
	p := New(o)
	p.AddFailed("torn stack")
	p.AddFailed("torn stack")
	for _, s := range samples {
		p.Add(s)
	}
	st := p.Stats()
	if !st.TimelineFull || st.Failed["torn stack"] != 2 || st.Kept != int64(len(samples)) {
		t.Fatalf("stats %+v", st)
	}
	var pb bytes.Buffer
	if err := p.WritePprof(&pb); err != nil {
		t.Fatal(err)
	}
	pp, err := profile.Parse(&pb)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, s := range pp.Sample {
		sum += s.Value[0]
	}
	comments := strings.Join(pp.Comments, "\n")
	if sum != int64(len(samples)) || !strings.Contains(comments, "2 samples failed: torn stack") || !strings.Contains(comments, "timeline full") {
		t.Errorf("pprof: %d samples (want %d), comments %q", sum, len(samples), comments)
	}
	path := write(t, p, Speedscope)
	if msg, ok := profiletest.SpeedscopeValidator(t)(path); !ok {
		t.Errorf("speedscope of a full timeline: %s", msg)
	}
	raw, _ := os.ReadFile(path)
	if c := strings.Count(string(raw), `"weights"`); c > 2 {
		t.Errorf("%d profiles from a timeline of 2 runs", c)
	}
	var page bytes.Buffer
	if err := p.WriteFlamegraph(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "2 samples failed: torn stack") {
		t.Error("the flame graph page does not report the failed samples")
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats() {
		if g, err := ParseFormat(string(f)); err != nil || g != f || f.Ext() == "" {
			t.Errorf("%s: %v %v %q", f, g, err, f.Ext())
		}
	}
	if _, err := ParseFormat("svg"); err == nil || !strings.Contains(err.Error(), "flamegraph, speedscope, pprof, collapsed, chrome") {
		t.Errorf("ParseFormat(svg): %v", err)
	}
}
