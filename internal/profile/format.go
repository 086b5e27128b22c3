package profile

import (
	"fmt"
	"io"
	"strings"
)

// Format is an output format of a profile.
type Format string

// The formats, by the name `--format` takes.
const (
	Flamegraph Format = "flamegraph" // self-contained interactive HTML
	Speedscope Format = "speedscope" // speedscope's JSON file format
	Pprof      Format = "pprof"      // gzipped profile.proto
	Collapsed  Format = "collapsed"  // Brendan Gregg's folded stacks
	Chrome     Format = "chrome"     // Trace Event Format JSON (Perfetto, chrome://tracing)
)

// Formats lists every format, the default first.
func Formats() []Format { return []Format{Flamegraph, Speedscope, Pprof, Collapsed, Chrome} }

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, 5)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown profile format %q (use one of %s)", s, strings.Join(names, ", "))
}

// Weight is what a stack weighs in the formats that have one value per
// stack (flame graph, collapsed stacks).
type Weight string

const (
	WeightSamples Weight = "samples" // samples taken (default)
	WeightCPU     Weight = "cpu"     // CPU time the threads used, in nanoseconds
)

// ParseWeight returns the weight named s ("" is samples).
func ParseWeight(s string) (Weight, error) {
	switch Weight(s) {
	case "", WeightSamples:
		return WeightSamples, nil
	case WeightCPU:
		return WeightCPU, nil
	}
	return "", fmt.Errorf("unknown weight %q (use samples or cpu)", s)
}

// Ext is the usual file name extension of the format.
func (f Format) Ext() string {
	switch f {
	case Flamegraph:
		return ".html"
	case Speedscope:
		return ".speedscope.json"
	case Pprof:
		return ".pb.gz"
	case Collapsed:
		return ".txt"
	case Chrome:
		return ".trace.json"
	}
	return ""
}

// Write writes the profile in format f.
func (p *Profile) Write(w io.Writer, f Format) error {
	switch f {
	case Flamegraph:
		return p.WriteFlamegraph(w)
	case Speedscope:
		return p.WriteSpeedscope(w)
	case Pprof:
		return p.WritePprof(w)
	case Collapsed:
		return p.WriteCollapsed(w)
	case Chrome:
		return p.WriteChrome(w)
	}
	_, err := ParseFormat(string(f))
	return err
}
