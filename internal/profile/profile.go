// Package profile aggregates stack samples of Python processes and writes
// them in the formats profilers' viewers read: flame graph (HTML),
// speedscope, pprof, collapsed stacks and Chrome trace events.
//
// A Profile holds a call tree of the samples it kept (bounded by the number
// of distinct stacks, not of samples) and, per thread, a run-length timeline
// of stacks for the formats that keep time order (speedscope, chrome).
package profile

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"pyscope/internal/report"
)

// Frame is one stack frame of a sample.
type Frame struct {
	Function string // co_name; a native frame's symbol, "" when unknown
	Qualname string // co_qualname (3.11+); Function when absent
	File     string // source file; "" when unknown (native frames)
	Line     int    // current line; <= 0 when unknown
	Native   bool   // a C frame (dump --native)
	Module   string // native frames: the mapped file holding the PC
	Offset   uint64 // native frames: link-time address in Module, naming a frame without a symbol
	// Ref, when not 0, is the caller's identity for the frame: frames
	// with the same Ref are the same frame, which spares comparing their
	// strings at every sample (a profiler's code object and line).
	Ref uint64
}

// Sample is one thread's stack at one moment.
type Sample struct {
	Time        time.Time
	PID         int
	ProcessName string // e.g. the command line; shown with Options.SplitProcesses
	ThreadID    uint64 // threading.get_ident()
	NativeID    int    // kernel TID; 0 when unknown
	ThreadName  string
	Frames      []Frame // innermost first
	HoldsGIL    bool
	Idle        bool // not running: the kernel has the thread asleep
	// StackKey, when not 0, identifies Frames: samples of a thread with
	// the same StackKey have the same frames (the caller's promise),
	// which spares walking them again.
	StackKey uint64
	// CPU is the CPU time the thread used since its previous sample (a
	// live target's scheduler clock), when CPUKnown. Without it a sample
	// is taken to weigh one Interval of CPU when running, none when idle.
	CPU      time.Duration
	CPUKnown bool
}

// Options shape what a Profile keeps and how it names things.
type Options struct {
	// Name titles the profile in every format ("pyscope record 1234").
	Name string
	// Interval is the sampling period: what one sample weighs (default 10 ms).
	Interval time.Duration
	// ByFunction aggregates frames by function instead of by line.
	ByFunction bool
	// SplitThreads roots each stack at its thread.
	SplitThreads bool
	// SplitProcesses roots each stack at its process (several targets).
	SplitProcesses bool
	// Idle keeps samples of idle threads (dropped by default).
	Idle bool
	// GILOnly keeps only samples of threads holding the GIL.
	GILOnly bool
	// MaxRuns bounds the timeline (default 2^21 runs, about 64 MiB); past
	// it, time-ordered formats stop early while the others stay complete.
	MaxRuns int
	// Weight is what a stack weighs in the flame graph and the collapsed
	// stacks: its samples (default) or its CPU time. pprof has both.
	Weight Weight
}

// Stats counts what a Profile was given and what it kept.
type Stats struct {
	Samples int64 // samples given to Add
	Kept    int64 // samples in the profile, after the filters
	Idle    int64 // samples of idle threads (kept only with Options.Idle)
	GIL     int64 // samples of threads holding the GIL
	Empty   int64 // samples without frames (not kept)
	// CPU is the CPU time of the kept samples (Sample.CPU, or its
	// estimate), Measured how many of them had theirs measured.
	CPU      time.Duration
	Measured int64
	Failed   map[string]int64 // samples that could not be taken, by reason
	Start    time.Time        // first sample
	End      time.Time        // last sample
	// TimelineFull is set when Options.MaxRuns was reached.
	TimelineFull bool
}

const (
	kindPython = iota
	kindNative
	kindThread
	kindProcess
)

// frameKey identifies a frame for aggregation; Line is 0 by function.
type frameKey struct {
	kind     uint8
	function string
	qualname string
	file     string
	line     int
	module   string
	offset   uint64
}

type frameInfo struct {
	key   frameKey
	label string // one line naming the frame, exact (formats escape it)
}

// node is a call-tree node: a frame under its parent's stack.
type node struct {
	frame  int32
	parent int32
	self   int64
	cpu    int64 // the CPU time of self's samples, ns
}

type edge struct{ parent, frame int32 }

type threadKey struct {
	pid int
	tid uint64
}

type threadInfo struct {
	key      threadKey
	nativeID int
	name     string
	process  string
	kept     int64
	runs     []run
	open     bool // the last run continues until the next sample
}

// run is consecutive samples of one thread with the same stack; times are
// nanoseconds since the profile's first sample.
type run struct {
	node  int32
	n     int32
	start int64
	last  int64 // time of the run's last sample
	end   int64 // time of the next sample of the thread; -1 while open
}

type countKey struct {
	node   int32
	thread int32
	gil    bool
	idle   bool
}

// tally is the samples of a countKey and their CPU time (ns).
type tally struct{ n, cpu int64 }

// Profile aggregates samples. It is not safe for concurrent use.
type Profile struct {
	opts     Options
	frames   []frameInfo
	frameIdx map[frameKey]int32
	refIdx   map[uint64]int32  // Frame.Ref → frame
	leaves   map[leafKey]int32 // Sample.StackKey of a thread → its stack's node
	nodes    []node
	children map[edge]int32
	threads  []*threadInfo
	thrIdx   map[threadKey]int32
	counts   map[countKey]tally
	runs     int
	stats    Stats
	t0, last time.Time
}

const (
	defaultInterval = 10 * time.Millisecond
	defaultMaxRuns  = 1 << 21
	maxFailReasons  = 64
)

// New makes an empty profile.
func New(opts Options) *Profile {
	if opts.Interval <= 0 {
		opts.Interval = defaultInterval
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = defaultMaxRuns
	}
	return &Profile{
		opts:     opts,
		frameIdx: map[frameKey]int32{},
		refIdx:   map[uint64]int32{},
		leaves:   map[leafKey]int32{},
		nodes:    []node{{frame: -1, parent: -1}},
		children: map[edge]int32{},
		thrIdx:   map[threadKey]int32{},
		counts:   map[countKey]tally{},
		stats:    Stats{Failed: map[string]int64{}},
	}
}

// Options returns the options the profile was made with, defaults filled in.
func (p *Profile) Options() Options { return p.opts }

// Stats returns the counts so far.
func (p *Profile) Stats() Stats {
	s := p.stats
	s.Failed = make(map[string]int64, len(p.stats.Failed))
	for k, v := range p.stats.Failed {
		s.Failed[k] = v
	}
	s.Start, s.End = p.t0, p.last
	return s
}

// AddFailed counts a sample that could not be taken (a torn or unreadable
// stack), so that formats report it instead of dropping it silently.
func (p *Profile) AddFailed(reason string) {
	if _, ok := p.stats.Failed[reason]; !ok && len(p.stats.Failed) >= maxFailReasons {
		reason = "other"
	}
	p.stats.Failed[reason]++
}

// Add records one sample. A zero Time is taken as one Interval after the
// previous sample.
func (p *Profile) Add(s Sample) {
	at := s.Time
	switch {
	case at.IsZero() && p.last.IsZero():
		at = time.Unix(0, 0)
	case at.IsZero():
		at = p.last.Add(p.opts.Interval)
	}
	if p.t0.IsZero() {
		p.t0 = at
	}
	if at.After(p.last) {
		p.last = at
	}
	now := at.Sub(p.t0).Nanoseconds()
	p.stats.Samples++
	if s.Idle {
		p.stats.Idle++
	}
	if s.HoldsGIL {
		p.stats.GIL++
	}
	th := p.thread(s)
	drop := s.Idle && !p.opts.Idle || p.opts.GILOnly && !s.HoldsGIL
	if len(s.Frames) == 0 {
		p.stats.Empty++
		drop = true
	}
	if drop {
		p.closeRun(th, now)
		return
	}
	var leaf int32
	if s.StackKey == 0 {
		leaf = p.leafOf(s, th)
	} else {
		lk := leafKey{stack: s.StackKey, pid: s.PID, tid: s.ThreadID}
		var known bool
		if leaf, known = p.leaves[lk]; !known {
			leaf = p.leafOf(s, th)
			if len(p.leaves) >= maxRefs {
				clear(p.leaves)
			}
			p.leaves[lk] = leaf
		}
	}
	cpu := p.cpuOf(&s)
	p.nodes[leaf].self++
	p.nodes[leaf].cpu += cpu
	ck := countKey{node: leaf, thread: p.thrIdx[th.key], gil: s.HoldsGIL, idle: s.Idle}
	t := p.counts[ck]
	p.counts[ck] = tally{n: t.n + 1, cpu: t.cpu + cpu}
	p.stats.Kept++
	p.stats.CPU += time.Duration(cpu)
	if s.CPUKnown {
		p.stats.Measured++
	}
	th.kept++
	p.extendRun(th, leaf, now)
}

// cpuOf is a sample's CPU time in nanoseconds: measured, else one
// Interval when running and none when idle, as a sampler would estimate.
func (p *Profile) cpuOf(s *Sample) int64 {
	switch {
	case s.CPUKnown:
		return max(s.CPU.Nanoseconds(), 0)
	case s.Idle:
		return 0
	}
	return p.opts.Interval.Nanoseconds()
}

type leafKey struct {
	stack uint64
	pid   int
	tid   uint64
}

// leafOf adds a sample's stack to the call tree and returns its node.
func (p *Profile) leafOf(s Sample, th *threadInfo) int32 {
	leaf := int32(0)
	if p.opts.SplitProcesses {
		leaf = p.child(leaf, p.frame(frameKey{kind: kindProcess, function: s.ProcessName, offset: uint64(s.PID)}))
	}
	if p.opts.SplitThreads {
		leaf = p.child(leaf, p.threadFrame(s, th))
	}
	for i := len(s.Frames) - 1; i >= 0; i-- {
		leaf = p.child(leaf, p.frameOf(&s.Frames[i]))
	}
	return leaf
}

func (p *Profile) thread(s Sample) *threadInfo {
	k := threadKey{pid: s.PID, tid: s.ThreadID}
	i, ok := p.thrIdx[k]
	if !ok {
		i = int32(len(p.threads))
		p.thrIdx[k] = i
		p.threads = append(p.threads, &threadInfo{key: k})
	}
	th := p.threads[i]
	renamed := false
	if s.NativeID != 0 && s.NativeID != th.nativeID {
		th.nativeID, renamed = s.NativeID, true
	}
	if s.ThreadName != "" && s.ThreadName != th.name {
		th.name, renamed = s.ThreadName, true
	}
	if s.ProcessName != "" && s.ProcessName != th.process {
		th.process, renamed = s.ProcessName, true
	}
	if renamed {
		// Thread and process roots carry names: known stacks no longer
		// lead to the right nodes.
		clear(p.leaves)
	}
	return th
}

func (p *Profile) closeRun(th *threadInfo, now int64) {
	if th.open {
		th.runs[len(th.runs)-1].end = now
		th.open = false
	}
}

func (p *Profile) extendRun(th *threadInfo, leaf int32, now int64) {
	if th.open {
		r := &th.runs[len(th.runs)-1]
		if r.node == leaf && r.n < 1<<30 {
			r.n++
			r.last = now
			return
		}
		r.end = now
		th.open = false
	}
	if p.runs >= p.opts.MaxRuns {
		p.stats.TimelineFull = true
		return
	}
	p.runs++
	th.runs = append(th.runs, run{node: leaf, n: 1, start: now, last: now, end: -1})
	th.open = true
}

func (p *Profile) key(f Frame) frameKey {
	k := frameKey{function: f.Function, qualname: f.Qualname, file: f.File}
	if k.qualname == "" {
		k.qualname = k.function
	}
	if !p.opts.ByFunction && f.Line > 0 {
		k.line = f.Line
	}
	if f.Native {
		k.kind = kindNative
		k.module = f.Module
		if f.Function == "" {
			k.offset = f.Offset
		}
	}
	return k
}

// maxRefs bounds the Frame.Ref table; past it the table starts afresh.
const maxRefs = 1 << 20

func (p *Profile) frameOf(f *Frame) int32 {
	if f.Ref == 0 {
		return p.frame(p.key(*f))
	}
	if i, ok := p.refIdx[f.Ref]; ok {
		return i
	}
	if len(p.refIdx) >= maxRefs {
		clear(p.refIdx)
	}
	i := p.frame(p.key(*f))
	p.refIdx[f.Ref] = i
	return i
}

func (p *Profile) frame(k frameKey) int32 {
	if i, ok := p.frameIdx[k]; ok {
		return i
	}
	i := int32(len(p.frames))
	p.frameIdx[k] = i
	p.frames = append(p.frames, frameInfo{key: k, label: label(k)})
	return i
}

// threadFrame is a thread's root frame: one per thread, labelled with its
// latest name (a new thread's first samples may carry the OS's name, until
// threading registers the thread).
func (p *Profile) threadFrame(s Sample, th *threadInfo) int32 {
	i := p.frame(frameKey{kind: kindThread, offset: s.ThreadID, line: s.NativeID})
	if fi := &p.frames[i]; fi.key.function != th.name {
		fi.key.function = th.name
		fi.label = label(fi.key)
	}
	return i
}

func (p *Profile) child(parent, frame int32) int32 {
	e := edge{parent, frame}
	if i, ok := p.children[e]; ok {
		return i
	}
	i := int32(len(p.nodes))
	p.children[e] = i
	p.nodes = append(p.nodes, node{frame: frame, parent: parent})
	return i
}

// label names a frame on one line: `qualname (file:line)` for Python,
// `symbol (module)` for C, `Thread 0x… (TID n) "name"`, `Process PID "name"`.
func label(k frameKey) string { return labelWith(k, func(s string) string { return s }) }

// textLabel is label with the names of Python code, threads and processes
// cut as the text dump cuts them (report.CutName): a line of folded stacks
// or a flame graph's box names every frame of its stack.
func textLabel(k frameKey) string { return labelWith(k, report.CutName) }

func labelWith(k frameKey, cut func(string) string) string {
	switch k.kind {
	case kindThread:
		s := fmt.Sprintf("Thread %#x", k.offset)
		if k.line != 0 {
			s += fmt.Sprintf(" (TID %d)", k.line)
		}
		if k.function != "" {
			s += fmt.Sprintf(" %q", cut(k.function))
		}
		return s
	case kindProcess:
		s := fmt.Sprintf("Process %d", k.offset)
		if k.function != "" {
			s += fmt.Sprintf(" %q", cut(k.function))
		}
		return s
	case kindNative:
		name := k.function
		if name == "" {
			name = fmt.Sprintf("%#x", k.offset)
		}
		switch {
		case k.file != "" && k.line > 0:
			return fmt.Sprintf("%s (%s:%d)", name, k.file, k.line)
		case k.file != "":
			return fmt.Sprintf("%s (%s)", name, k.file)
		case k.module != "":
			return fmt.Sprintf("%s (%s)", name, filepath.Base(k.module))
		}
		return name
	}
	name := cut(k.qualname)
	if name == "" {
		name = "<unknown>"
	}
	if k.line > 0 {
		return fmt.Sprintf("%s (%s:%d)", name, cut(k.file), k.line)
	}
	return fmt.Sprintf("%s (%s)", name, cut(k.file))
}

// pseudo reports whether a frame is a thread or process root, not code.
func (fi *frameInfo) pseudo() bool { return fi.key.kind >= kindThread }

// totals returns each node's samples including its descendants. Children
// always come after their parent, so one backward pass adds them up.
func (p *Profile) totals() []int64 {
	t := make([]int64, len(p.nodes))
	for i := len(p.nodes) - 1; i >= 0; i-- {
		t[i] += p.nodes[i].self
		if i > 0 {
			t[p.nodes[i].parent] += t[i]
		}
	}
	return t
}

// weights returns each node's own weight, as Options.Weight says: its
// samples or their CPU time in nanoseconds.
func (p *Profile) weights() []int64 {
	w := make([]int64, len(p.nodes))
	for i := range p.nodes {
		if p.opts.Weight == WeightCPU {
			w[i] = p.nodes[i].cpu
		} else {
			w[i] = p.nodes[i].self
		}
	}
	return w
}

// weightTotals is weights including each node's descendants.
func (p *Profile) weightTotals() []int64 {
	t := p.weights()
	for i := len(p.nodes) - 1; i > 0; i-- {
		t[p.nodes[i].parent] += t[i]
	}
	return t
}

// stack returns the frames from the root to node n.
func (p *Profile) stack(n int32, buf []int32) []int32 {
	buf = buf[:0]
	for ; n > 0; n = p.nodes[n].parent {
		buf = append(buf, p.nodes[n].frame)
	}
	for i, j := 0, len(buf)-1; i < j; i, j = i+1, j-1 {
		buf[i], buf[j] = buf[j], buf[i]
	}
	return buf
}

// FunctionStat is one function's share of the samples, for `top`.
type FunctionStat struct {
	Name   string // qualname, or a C symbol
	File   string // source file; for C frames without one, the module
	Line   int    // with Lines, the line; 0 otherwise or when unknown
	Native bool
	Own    int64 // samples with the function innermost
	Total  int64 // samples with the function anywhere on the stack
}

// Functions returns every function of the kept samples, by own samples
// then total samples, most first. Lines are merged.
func (p *Profile) Functions() []FunctionStat { return p.functions(false) }

// Lines is Functions with each line of a function apart (profiles made
// with ByFunction have no lines to tell apart).
func (p *Profile) Lines() []FunctionStat { return p.functions(true) }

// Filter picks samples by their thread's state when they were taken.
type Filter struct {
	Idle    bool // keep idle threads' samples
	GILOnly bool // keep only GIL holders' samples
}

// FunctionsWhere is Functions (or Lines, with byLine) of the kept samples
// that f keeps too: a profile that kept every sample (Options.Idle, no
// GILOnly) answers for any filter without being made again, as top does
// when its filter keys are pressed.
func (p *Profile) FunctionsWhere(f Filter, byLine bool) []FunctionStat {
	self := make([]int64, len(p.nodes))
	for k, t := range p.counts {
		if k.idle && !f.Idle || f.GILOnly && !k.gil {
			continue
		}
		self[k.node] += t.n
	}
	return p.functionsOf(byLine, self)
}

func (p *Profile) functions(byLine bool) []FunctionStat {
	self := make([]int64, len(p.nodes))
	for n := range p.nodes {
		self[n] = p.nodes[n].self
	}
	return p.functionsOf(byLine, self)
}

// functionsOf is functions with self[n] the samples of node n.
func (p *Profile) functionsOf(byLine bool, selfs []int64) []FunctionStat {
	type fkey struct {
		native     bool
		name, file string
		line       int
	}
	idx := map[fkey]int{}
	var out []FunctionStat
	get := func(fi *frameInfo) int {
		k := fkey{native: fi.key.kind == kindNative, name: fi.key.qualname, file: fi.key.file}
		if byLine {
			k.line = fi.key.line
		}
		if k.native && k.name == "" {
			k.name = fmt.Sprintf("%#x", fi.key.offset)
		}
		if k.native && k.file == "" {
			k.file = fi.key.module
		}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, FunctionStat{Name: k.name, File: k.file, Line: k.line, Native: k.native})
		}
		return i
	}
	seen := map[int]bool{}
	var buf []int32
	for n := range p.nodes {
		self := selfs[n]
		if self == 0 {
			continue
		}
		buf = p.stack(int32(n), buf)
		clear(seen)
		leaf := -1
		for _, f := range buf {
			fi := &p.frames[f]
			if fi.pseudo() {
				continue
			}
			i := get(fi)
			leaf = i
			if !seen[i] {
				seen[i] = true
				out[i].Total += self
			}
		}
		if leaf >= 0 {
			out[leaf].Own += self
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Own != out[j].Own {
			return out[i].Own > out[j].Own
		}
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Name < out[j].Name
	})
	return out
}
