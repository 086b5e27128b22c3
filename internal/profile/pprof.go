package profile

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/google/pprof/profile"

	"pyscope/internal/version"
	"pyscope/internal/wtf8"
)

// WritePprof writes a gzipped profile.proto with github.com/google/pprof,
// as `go tool pprof`, Pyroscope and Parca read it. Sample types are
// samples/count and cpu/nanoseconds, the CPU time the threads used
// (Sample.CPU; count × period where it was not measured), the default;
// with idle samples kept, wall/nanoseconds (count × period) comes second
// and is the default, cpu third. Each sample carries its thread as labels
// (thread, thread_id, pid, gil), so pprof's -tagfocus and -tagroot split
// by thread. Thread and process roots are left to those labels rather
// than made frames.
func (p *Profile) WritePprof(w io.Writer) error {
	kind := "cpu"
	types := []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}
	if p.opts.Idle {
		kind = "wall"
		types = []*profile.ValueType{types[0], {Type: "wall", Unit: "nanoseconds"}, types[1]}
	}
	period := p.opts.Interval.Nanoseconds()
	out := &profile.Profile{
		SampleType:        types,
		DefaultSampleType: kind,
		PeriodType:        &profile.ValueType{Type: kind, Unit: "nanoseconds"},
		Period:            period,
		Comments:          p.comments(),
		// Frames come named: no viewer should try to symbolize them.
		Mapping: []*profile.Mapping{{ID: 1, File: "python", HasFunctions: true, HasFilenames: true, HasLineNumbers: true}},
	}
	if !p.t0.IsZero() {
		out.TimeNanos = p.t0.UnixNano()
		out.DurationNanos = p.last.Sub(p.t0).Nanoseconds() + period
	}

	type fnKey struct{ name, system, file string }
	fns := map[fnKey]*profile.Function{}
	locs := make([]*profile.Location, len(p.frames))
	location := func(f int32) *profile.Location {
		if locs[f] != nil {
			return locs[f]
		}
		k := p.frames[f].key
		fk := fnKey{name: k.qualname, system: k.function, file: k.file}
		if k.kind == kindPython && fk.system == fk.name {
			// A Python name has no mangled form. pprof takes a system
			// name equal to the name for C++ it may simplify, and cuts
			// <...> out of it: <module> and <lambda> came out empty.
			fk.system = ""
		}
		if k.kind == kindNative {
			if fk.name == "" {
				fk.name = fmt.Sprintf("%#x", k.offset)
				fk.system = fk.name
			}
			if fk.file == "" && k.module != "" {
				fk.file = k.module
			}
		}
		fn := fns[fk]
		if fn == nil {
			// Protocol buffers' strings are UTF-8: a lone surrogate is U+FFFD.
			fn = &profile.Function{ID: uint64(len(out.Function) + 1), Name: wtf8.ToUTF8(fk.name),
				SystemName: wtf8.ToUTF8(fk.system), Filename: wtf8.ToUTF8(fk.file)}
			fns[fk] = fn
			out.Function = append(out.Function, fn)
		}
		loc := &profile.Location{ID: uint64(len(out.Location) + 1), Mapping: out.Mapping[0], Line: []profile.Line{{Function: fn, Line: int64(k.line)}}}
		out.Location = append(out.Location, loc)
		locs[f] = loc
		return loc
	}

	keys := make([]countKey, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.node != b.node {
			return a.node < b.node
		}
		if a.thread != b.thread {
			return a.thread < b.thread
		}
		if a.gil != b.gil {
			return !a.gil
		}
		return !a.idle && b.idle
	})
	for _, k := range keys {
		t := p.counts[k]
		var stack []*profile.Location
		for id := k.node; id > 0; id = p.nodes[id].parent { // innermost first
			if f := p.nodes[id].frame; !p.frames[f].pseudo() {
				stack = append(stack, location(f))
			}
		}
		th := p.threads[k.thread]
		s := &profile.Sample{
			Location: stack,
			Value:    []int64{t.n, t.cpu},
			Label:    map[string][]string{"gil": {fmt.Sprint(k.gil)}},
			NumLabel: map[string][]int64{"thread_id": {int64(th.key.tid)}, "pid": {int64(th.key.pid)}},
		}
		if th.name != "" {
			s.Label["thread"] = []string{wtf8.ToUTF8(th.name)}
		}
		if th.nativeID != 0 {
			s.NumLabel["tid"] = []int64{int64(th.nativeID)}
		}
		if p.opts.Idle {
			s.Label["idle"] = []string{fmt.Sprint(k.idle)}
			s.Value = []int64{t.n, t.n * period, t.cpu}
		}
		out.Sample = append(out.Sample, s)
	}
	if err := out.CheckValid(); err != nil {
		return fmt.Errorf("pprof profile: %v", err)
	}
	return out.Write(w)
}

// comments describe the recording in every format that has a place for it.
func (p *Profile) comments() []string {
	s := p.Stats()
	c := []string{}
	if p.opts.Name != "" {
		c = append(c, p.opts.Name)
	}
	c = append(c, "pyscope "+version.Version)
	c = append(c, fmt.Sprintf("%d samples kept of %d, interval %v", s.Kept, s.Samples, p.opts.Interval))
	if s.Measured > 0 {
		c = append(c, fmt.Sprintf("CPU time %v, measured for %d of them", s.CPU.Round(time.Microsecond), s.Measured))
	}
	if !p.opts.Idle && s.Idle > 0 {
		c = append(c, fmt.Sprintf("%d idle samples left out", s.Idle))
	}
	if p.opts.GILOnly {
		c = append(c, "only samples holding the GIL")
	}
	reasons := make([]string, 0, len(s.Failed))
	for r := range s.Failed {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		c = append(c, fmt.Sprintf("%d samples failed: %s", s.Failed[r], r))
	}
	if s.TimelineFull {
		c = append(c, "timeline full: time-ordered formats end early")
	}
	return c
}
