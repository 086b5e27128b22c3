package profile

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"pyscope/internal/report"
	"pyscope/internal/version"
)

var (
	//go:embed assets/d3.min.js
	d3JS string
	//go:embed assets/d3-flamegraph.min.js
	flameGraphJS string
	//go:embed flamegraph.js
	mainJS string
	//go:embed flamegraph.html
	flamegraphHTML string

	// Built on first use: hashing the scripts at start-up cost every
	// pyscope command, a dump too, half a millisecond.
	flamegraphPage = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("flamegraph").Parse(flamegraphHTML))
	})
	// Only the page's own three scripts may run, whatever the data holds;
	// nothing may be fetched.
	flamegraphCSP = sync.OnceValue(func() string {
		return fmt.Sprintf("default-src 'none'; script-src %s %s %s; style-src 'unsafe-inline'",
			scriptHash(d3JS), scriptHash(flameGraphJS), scriptHash(mainJS))
	})
)

func scriptHash(js string) string {
	sum := sha256.Sum256([]byte(js))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// fgNode is d3-flame-graph's compact input: name, total value, children,
// and a "libtype" that only picks the colour.
type fgNode struct {
	N string    `json:"n"`
	V int64     `json:"v"`
	L string    `json:"l,omitempty"`
	C []*fgNode `json:"c,omitempty"`
	U string    `json:"u,omitempty"` // the root's: "ns" when values are CPU time
}

// WriteFlamegraph writes one self-contained HTML page: the call tree of
// the kept samples drawn by d3-flame-graph (inlined with d3), with search,
// click to zoom and a tooltip per frame. It fetches nothing. Names from the
// target are escaped as for a terminal (so bidi overrides cannot disguise
// them) and reach the page only as JSON data inserted by html/template and
// then as text; a Content-Security-Policy lets only the page's own scripts
// run.
func (p *Profile) WriteFlamegraph(w io.Writer) error {
	tot := p.weightTotals()
	title := p.opts.Name
	if title == "" {
		title = "pyscope profile"
	}
	fg := make([]*fgNode, len(p.nodes))
	fg[0] = &fgNode{N: report.Safe(title), V: tot[0]}
	if p.opts.Weight == WeightCPU {
		fg[0].U = "ns"
	}
	for i := 1; i < len(p.nodes); i++ {
		fi := &p.frames[p.nodes[i].frame]
		n := &fgNode{N: report.Safe(textLabel(fi.key)), V: tot[i]}
		switch {
		case fi.pseudo():
			n.L = "jit"
		case fi.key.kind == kindNative:
			n.L = "native"
		}
		fg[i] = n
		parent := fg[p.nodes[i].parent]
		parent.C = append(parent.C, n)
	}
	s := p.Stats()
	return flamegraphPage().Execute(w, map[string]any{
		"CSP":        flamegraphCSP(),
		"Generator":  "pyscope " + version.Version,
		"Title":      title,
		"Summary":    p.summary(s),
		"Warnings":   p.warnings(s),
		"D3":         template.JS(d3JS),
		"FlameGraph": template.JS(flameGraphJS),
		"Main":       template.JS(mainJS),
		"Data":       fg[0],
	})
}

func (p *Profile) summary(s Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples", s.Kept)
	if s.Kept != s.Samples {
		fmt.Fprintf(&b, " of %d", s.Samples)
	}
	if !s.Start.IsZero() {
		fmt.Fprintf(&b, " over %v", s.End.Sub(s.Start).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, ", every %v", p.opts.Interval)
	var notes []string
	if p.opts.Weight == WeightCPU {
		notes = append(notes, fmt.Sprintf("weighted by CPU time, %v", s.CPU.Round(time.Millisecond)))
	}
	if p.opts.ByFunction {
		notes = append(notes, "by function")
	} else {
		notes = append(notes, "by line")
	}
	if p.opts.Idle {
		notes = append(notes, fmt.Sprintf("idle included (%d)", s.Idle))
	} else if s.Idle > 0 {
		notes = append(notes, fmt.Sprintf("%d idle left out", s.Idle))
	}
	if p.opts.GILOnly {
		notes = append(notes, "only holding the GIL")
	}
	if s.Samples > 0 {
		notes = append(notes, fmt.Sprintf("GIL held in %.1f%%", 100*float64(s.GIL)/float64(s.Samples)))
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	return b.String()
}

func (p *Profile) warnings(s Stats) []string {
	var out []string
	reasons := make([]string, 0, len(s.Failed))
	for r := range s.Failed {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		out = append(out, fmt.Sprintf("%d samples failed: %s", s.Failed[r], r))
	}
	if s.Empty > 0 {
		out = append(out, fmt.Sprintf("%d samples had no frames", s.Empty))
	}
	return out
}
