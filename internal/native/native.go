// Package native adds native (C) stacks to a snapshot: it unwinds every OS
// thread while the target is stopped, symbolizes the frames afterwards,
// merges them with the Python frames, lists threads without Python state,
// and works out what each thread is doing (GIL, GC, system call).
package native

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"pyscope/internal/model"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/unwind"
)

// Options control native stacks in a dump.
type Options struct {
	// All keeps interpreter-internal C frames (dump --native-all).
	All bool
	// Symbols say where debug files are looked for.
	Symbols symbolize.Options
	// MaxFrames bounds each unwind; <= 0 means unwind.DefaultMax.
	MaxFrames int
	// Budget bounds the frames of a capture, all threads together; <= 0
	// means captureBudget.
	Budget int
}

// Session holds what is shared by captures of one process: opened module
// files, parsed CFI and symbol tables.
type Session struct {
	opts Options
	sym  *symbolize.Symbolizer
	res  *unwind.Modules
}

// New opens a session on t, any handle on the process (a running probe
// will do: only its files and memory map are used).
func New(t target.Target, opts Options) *Session {
	sym := symbolize.New(t, opts.Symbols)
	return &Session{opts: opts, sym: sym, res: unwind.NewResolverFrom(sym.ModuleMap())}
}

// Symbolizer names the process's native addresses (symbols, DWARF lines,
// inlined frames); it lives as long as the session.
func (s *Session) Symbolizer() *symbolize.Symbolizer { return s.sym }

// Close releases the opened files.
func (s *Session) Close() {
	s.res.Close()
	s.sym.Close()
}

// Prepare opens every mapped module and parses its CFI, so that the
// stopped phase only walks stacks.
func (s *Session) Prepare() {
	for _, m := range s.sym.ModuleMap().Modules() {
		if um := s.res.Module(m.Start); um != nil && um.CFI != nil {
			// A miss builds the FDE indexes of files without a search
			// table (e.g. BOLT-processed binaries).
			um.CFI.FindFDE(0)
		}
	}
}

// Capture holds the raw native stacks of every OS thread.
type Capture struct {
	arch    target.Arch
	threads []rawThread
}

type rawThread struct {
	tid    int
	comm   string
	kstate string // kernel state letter before the stop ("" when unknown, as in cores)
	hasReg bool
	// tp is the thread pointer (pthread_self()), 0 when unknown.
	tp uint64
	// sysNr is the system call the thread is in, -1 when none or unknown.
	sysNr  int
	frames []unwind.Frame
	err    error
}

// captureBudget bounds the native frames of one capture, all threads
// together: each may go unwind.DefaultMax deep, but a process of many
// deep (or corrupt) stacks must not make the pause, and the memory, grow
// with threads × that depth. A thread past the budget shows its stack
// cut, as an unwind that stopped.
const captureBudget = 1 << 19

// Capture unwinds every thread of t. Call it while t is stopped: registers
// exist only then, and stacks change as soon as threads run.
func (s *Session) Capture(t target.Target) *Capture {
	c := &Capture{arch: t.Arch()}
	sr, _ := t.(target.SyscallReader)
	perThread := s.opts.MaxFrames
	if perThread <= 0 {
		perThread = unwind.DefaultMax
	}
	budget := s.opts.Budget
	if budget <= 0 {
		budget = captureBudget
	}
	left := budget
	for _, th := range t.Threads() {
		rt := rawThread{tid: th.TID, comm: th.Comm, kstate: th.State, sysNr: -1}
		known := false
		if th.Regs != nil {
			rt.hasReg = true
			rt.tp, _ = th.Regs.ThreadPointer()
			rt.sysNr, known = th.Regs.Syscall()
			if left > 0 {
				rt.frames, rt.err = unwind.Unwind(t, th.Regs, s.res, min(perThread, left))
				left -= len(rt.frames)
			} else {
				rt.err = fmt.Errorf("not unwound: this capture's budget of %d native frames was spent on the threads before it", budget)
			}
		}
		if !known && sr != nil {
			// Not stopped (e.g. uninterruptible sleep), or registers that
			// do not say: the kernel still knows the system call.
			if nr, ok := sr.Syscall(th.TID); ok {
				rt.sysNr = nr
			}
		}
		c.threads = append(c.threads, rt)
	}
	return c
}

//go:generate go run ./gen

// SyscallName names a system call of arch ("syscall_N" when unknown): a
// core from another machine numbers its calls its own way.
func SyscallName(arch target.Arch, nr int) string {
	if s, ok := syscallNames[arch][nr]; ok {
		return s
	}
	return "syscall_" + strconv.Itoa(nr)
}

// Apply symbolizes the captured stacks and adds them to snap: Python
// threads get merged stacks, threads without Python state are appended,
// and every thread gets a state. It may run after the target resumed.
func (s *Session) Apply(snap *model.Snapshot, c *Capture) {
	byTID := map[int]*rawThread{}
	for i := range c.threads {
		byTID[c.threads[i].tid] = &c.threads[i]
	}
	// A kernel thread carries one thread state per interpreter that runs
	// on it (subinterpreters run nested on the thread that calls them).
	var tids []int
	states := map[int][]*model.Thread{}
	yes, no := true, false
	for i := range snap.Threads {
		th := &snap.Threads[i]
		th.Python = &yes
		if th.NativeID == 0 || byTID[th.NativeID] == nil {
			th.Activity = StateUnknown
			th.Warnings = append(th.Warnings, "no native stack: the thread's kernel TID is unknown")
			continue
		}
		if states[th.NativeID] == nil {
			tids = append(tids, th.NativeID)
		}
		states[th.NativeID] = append(states[th.NativeID], th)
	}
	for _, tid := range tids {
		states[tid] = s.applyPython(states[tid], byTID[tid], c.arch)
	}
	// Thread states that share a kernel thread follow one another,
	// innermost interpreter first: read in order, they are its stack.
	threads := make([]model.Thread, 0, len(snap.Threads))
	done := map[int]bool{}
	for _, th := range snap.Threads {
		group := states[th.NativeID]
		if len(group) < 2 {
			threads = append(threads, th)
			continue
		}
		if !done[th.NativeID] {
			done[th.NativeID] = true
			for _, g := range group {
				threads = append(threads, *g)
			}
		}
	}
	snap.Threads = threads
	for i := range c.threads {
		rt := &c.threads[i]
		if states[rt.tid] != nil {
			continue
		}
		th := model.Thread{ThreadID: rt.tp, NativeID: rt.tid, Python: &no,
			IsMain: rt.tid == snap.PID, Interpreter: -1, Frames: []model.Frame{}}
		if rt.comm != "" {
			comm := rt.comm
			th.OSName = &comm
		}
		s.applyNative(&th, rt, c.arch)
		snap.Threads = append(snap.Threads, th)
	}
}

// applyPython merges the native stack of one kernel thread with the
// Python stacks of the thread states that run on it, and returns them
// innermost interpreter first when that is known.
func (s *Session) applyPython(ths []*model.Thread, rt *rawThread, arch target.Arch) []*model.Thread {
	nf, ok := s.prepare(ths, rt, arch)
	if !ok {
		return ths
	}
	return s.mergeThread(ths, nf, rt)
}

// mergeThread is applyPython once the native frames are symbolized.
func (s *Session) mergeThread(ths []*model.Thread, nf []nframe, rt *rawThread) []*model.Thread {
	if len(nf) == 0 {
		// No native frame to place Python frames among (an architecture
		// the unwinder does not walk): the Python stacks stand as they
		// are, and prepare already said why there is no native stack.
		activity := classify(nf, rt)
		for _, th := range ths {
			th.Activity = activity
		}
		return ths
	}
	stacks := make([]stack, len(ths))
	var shims []uint64
	for k, th := range ths {
		stacks[k] = stack{frames: th.Frames, empty: th.EmptyRuns}
		shims = append(append(shims, shimsOf(th.Frames)...), th.EmptyRuns...)
	}
	markEval(nf, shims)
	activity := classify(nf, rt)
	// Only an unwind that walked and then stopped holds the stack's
	// innermost part; any other error is no cut.
	cut := errors.Is(rt.err, unwind.ErrStopped)
	merged, order, err := merge(nf, stacks, s.opts.All, cut)
	for k, th := range ths {
		th.Activity = activity
		if err != nil {
			th.Warnings = append(th.Warnings, err.Error())
			th.NativeFrames = toModel(nf)
			continue
		}
		th.Frames = merged[k]
	}
	if err != nil {
		return ths
	}
	nested := make([]*model.Thread, 0, len(ths))
	for _, k := range order {
		nested = append(nested, ths[k])
	}
	return nested
}

// applyNative gives a thread without Python state its native stack.
func (s *Session) applyNative(th *model.Thread, rt *rawThread, arch target.Arch) {
	nf, ok := s.prepare([]*model.Thread{th}, rt, arch)
	if !ok {
		return
	}
	markEval(nf, nil)
	th.Activity = classify(nf, rt)
	th.Frames = toModel(nf)
}

// prepare sets what the kernel says about the thread on each of ths and
// symbolizes its stack; false when there is no stack.
func (s *Session) prepare(ths []*model.Thread, rt *rawThread, arch target.Arch) ([]nframe, bool) {
	for _, th := range ths {
		if rt.sysNr >= 0 {
			th.Syscall = SyscallName(arch, rt.sysNr)
		}
		if !rt.hasReg {
			th.Activity = StateUnknown
			if (rt.kstate == "D" || rt.kstate == "S") && th.Syscall != "" {
				th.Activity = StateSyscall
			}
			th.Warnings = append(th.Warnings, "no native stack: the thread's registers could not be read")
		} else if rt.err != nil {
			th.Warnings = append(th.Warnings, "native "+rt.err.Error())
		}
	}
	if !rt.hasReg {
		return nil, false
	}
	return s.symbolizeFrames(rt.frames), true
}

// Thread activities (model.Thread.Activity).
const (
	StateRunning     = "running"
	StateSyscall     = "syscall"
	StateGILWait     = "waiting_for_gil"
	StateGILDrop     = "dropping_gil"
	StateGC          = "gc"
	StateUnknown     = "unknown"
	interpreterNames = "python"
)

// nframe is one symbolized native frame (an inlined function is a frame of
// its own, as in gdb).
type nframe struct {
	pc      uint64
	sym     symbolize.Symbol
	module  string
	modOff  uint64
	signal  bool
	inlined bool
	sp, cfa uint64
	eval    bool // a C-level call of the eval loop
}

func (s *Session) symbolizeFrames(frames []unwind.Frame) []nframe {
	var out []nframe
	for _, f := range frames {
		syms := s.sym.Lookup(f.LookupPC())
		if len(syms) == 0 {
			out = append(out, nframe{pc: f.PC, module: f.Module, modOff: f.ModuleOffset, signal: f.Signal,
				sym: symbolize.Symbol{Module: f.Module, Offset: f.ModuleOffset}, sp: f.SP, cfa: f.CFA})
			continue
		}
		for _, sy := range syms {
			if sy.Module == "" {
				sy.Module = f.Module
			}
			out = append(out, nframe{pc: f.PC, sym: sy, module: sy.Module, modOff: f.ModuleOffset,
				signal: f.Signal, inlined: sy.Inlined, sp: f.SP, cfa: f.CFA})
		}
	}
	return out
}

// baseName strips compiler suffixes: foo.cold, foo.part.0, foo.lto_priv.0,
// foo.isra.0, foo.constprop.0.
func baseName(fn string) string {
	if i := strings.IndexByte(fn, '.'); i > 0 {
		return fn[:i]
	}
	return fn
}

// isEval says a frame is one C-level call of the bytecode eval loop.
func isEval(f nframe) bool { return f.eval }

// markEval finds the eval-loop frames: by name, and (3.12+) without
// symbols as the frames whose stack holds an interpreter entry frame
// (shims: the eval loop keeps its entry frame in a local variable).
func markEval(nf []nframe, shims []uint64) {
	for i := range nf {
		f := &nf[i]
		f.eval = baseName(f.sym.Function) == "_PyEval_EvalFrameDefault"
		if f.eval || f.inlined || f.cfa <= f.sp {
			continue
		}
		for _, a := range shims {
			if a >= f.sp && a < f.cfa {
				f.eval = true
				break
			}
		}
	}
}

func shimsOf(py []model.Frame) []uint64 {
	var out []uint64
	for _, f := range py {
		if f.Shim != 0 {
			out = append(out, f.Shim)
		}
	}
	return out
}

// isInterpreter says a module is the interpreter itself: libpython or a
// python executable (static builds carry the interpreter in the
// executable).
func isInterpreter(module string) bool {
	b := module
	if i := strings.LastIndexByte(b, '/'); i >= 0 {
		b = b[i+1:]
	}
	return strings.HasPrefix(b, interpreterNames) || strings.HasPrefix(b, "lib"+interpreterNames)
}

func toModel(nf []nframe) []model.Frame {
	out := make([]model.Frame, 0, len(nf))
	for _, f := range nf {
		out = append(out, modelFrame(f))
	}
	return out
}

func modelFrame(f nframe) model.Frame {
	off := f.sym.Offset
	mf := model.Frame{Kind: "native", Function: f.sym.Function, Qualname: f.sym.Function,
		File: f.sym.File, Line: f.sym.Line, Module: f.module, Address: f.pc,
		Offset: &off, ModuleOffset: f.modOff, Inlined: f.inlined, Signal: f.signal}
	if f.inlined {
		// An inlined function has no entry address of its own.
		mf.Offset = nil
	}
	return mf
}

// Modules lists the mapped modules with their build-ids and whether
// symbols and debug info were found.
func (s *Session) Modules() []symbolize.ModuleInfo { return s.sym.Modules() }
