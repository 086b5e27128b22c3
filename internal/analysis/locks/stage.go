// Package locks finds what each thread waits for and who holds it, builds
// the waits-for graph of threads and objects, and reports its cycles
// (deadlocks). It plugs into every capture as an engine stage: while the
// target is stopped it keeps only what a stop alone can tell (the system
// call each thread sleeps in and its arguments, the parking-lot entry a
// 3.13+ waiter names, the collector's flag); everything else is read after
// the target resumed, from threads that were blocked then and are checked
// to be blocked still.
package locks

import (
	"encoding/binary"

	"pyscope/internal/cpython"
	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/target"
)

// Options configure the analysis.
type Options struct {
	// Torn says the process is not stopped (--no-block): what threads
	// wait for is read while they run, and the graph may be torn.
	Torn bool
}

// Stage is the lock analysis as an engine stage.
type Stage struct {
	opts  Options
	probe target.Target // the running process (or the core) between stops
}

var _ engine.Stage = (*Stage)(nil)

// NewStage returns the lock analysis stage.
func NewStage(opts Options) *Stage { return &Stage{opts: opts} }

// Prepare returns the stage of one program, which keeps the target the
// analysis reads after a stop, and has each capture keep the innermost
// frames the analysis reads (the blocking run and its caller), as the
// stop copied them.
func (s *Stage) Prepare(t target.Target, r *cpython.Reader) engine.Stage {
	r.KeepFrames = max(r.KeepFrames, maxRun+1)
	return &Stage{opts: s.opts, probe: t}
}

// PythonOnly lets the default stop spare threads blocked without the GIL:
// what the analysis reads of them (their system call from the kernel, a
// 3.13+ waiter's entry on its own stack, Python objects) does not change
// while they stay blocked, which check confirms after the read.
func (*Stage) PythonOnly() {}

var _ engine.PythonOnlyStage = (*Stage)(nil)

// Close releases nothing: the engine owns the target.
func (s *Stage) Close() {}

// x86-64 system call numbers.
const (
	sysFutex          = 202
	sysRestartSyscall = 219
)

// osThread is what the stop told about one OS thread.
type osThread struct {
	tid     int
	state   string // the kernel's state letter before the stop ("" in cores)
	known   bool   // the system call is known
	syscall int    // -1 when in none
	args    [6]uint64
	// parked is the address a 3.13+ thread parked in the parking lot
	// waits on (its wait_entry.addr), 0 when none or unknown.
	parked uint64
	// stopped: the stop interrupted the thread (its registers say), so it
	// must go back into its call once resumed; one left running never left.
	stopped bool
}

// futex is the address the thread sleeps on in a futex wait. A futex
// call that wakes others is no wait: a thread stopped in the FUTEX_WAKE
// of a lock it releases, or of the GIL it just took, would otherwise wait
// for what it holds.
func (t *osThread) futex() (uint64, bool) {
	if t == nil || !t.known || t.syscall != sysFutex {
		return 0, false
	}
	switch t.args[1] &^ (futexPrivateFlag | futexClockRealtime) {
	case futexWait, futexLockPI, futexWaitBitset, futexWaitRequeuePI, futexLockPI2:
		return t.args[0], true
	}
	return 0, false
}

// The futex operations that sleep (linux/futex.h), and the flags an
// operation carries.
const (
	futexWait          = 0
	futexLockPI        = 6
	futexWaitBitset    = 9
	futexWaitRequeuePI = 11
	futexLockPI2       = 13

	futexPrivateFlag   = 128
	futexClockRealtime = 256
)

// captured is one capture's part of the analysis.
type captured struct {
	s       *Stage
	r       *cpython.Reader
	threads map[int]*osThread // by TID
	// Per interpreter id: a collection runs; the GIL's address.
	collecting map[int64]bool
	gil        map[int64]uint64
	finalizing bool
	arch       target.Arch
	// alive: the pthread idents of the OS threads (from their registers),
	// so that a holder without Python state is not taken for gone.
	alive map[uint64]bool
	// still, when the engine could prove it, reports whether no thread
	// has run Python code since the capture (engine.StillCaptured).
	still func() bool
}

var _ engine.StillCaptured = (*captured)(nil)

// Still keeps the engine's proof for check.
func (c *captured) Still(still func() bool) { c.still = still }

// Capture keeps what only the stop can tell: the registers' system call
// and arguments, the parking-lot entries of 3.13+ waiters (on their own
// stacks), whether a collection runs, whether the runtime finalizes.
func (s *Stage) Capture(t target.Target, r *cpython.Reader) engine.Captured {
	c := &captured{s: s, r: r, threads: map[int]*osThread{}, collecting: map[int64]bool{},
		gil: map[int64]uint64{}, arch: t.Arch(), alive: map[uint64]bool{}}
	// Through the probe, which keeps the files open for check's second
	// read of the same threads.
	ar, ok := s.probe.(target.SyscallArgsReader)
	if !ok {
		ar, _ = t.(target.SyscallArgsReader)
	}
	for _, th := range t.Threads() {
		c.thread(t, th, ar)
	}
	c.runtime(t)
	return c
}

// Recapture completes a capture taken while the GIL's holder ran, now
// that t has it stopped: its registers, and what only it could change
// meanwhile (a collection, finalization).
func (s *Stage) Recapture(cc engine.Captured, t target.Target, holder target.Thread) {
	c, ok := cc.(*captured)
	if !ok {
		return
	}
	c.thread(t, holder, nil)
	c.runtime(t)
}

var _ engine.HolderStage = (*Stage)(nil)

// u64 reads a word of t; false when it cannot.
func u64(t target.Target, a uint64) (uint64, bool) {
	var b [8]byte
	if n, err := t.ReadAt(b[:], a); err != nil || n != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// thread keeps what the stop tells of th: from its registers when it is
// stopped, else from the kernel through ar (nil: nothing).
func (c *captured) thread(t target.Target, th target.Thread, ar target.SyscallArgsReader) {
	L := c.r.In.Layout
	ot := &osThread{tid: th.TID, state: th.State, syscall: -1}
	if th.Regs != nil {
		ot.stopped = true
		if tp, ok := th.Regs.ThreadPointer(); ok {
			c.alive[tp] = true
		}
		if nr, ok := th.Regs.Syscall(); ok {
			ot.syscall, ot.known = nr, true
			if args, ok := th.Regs.SyscallArgs(); ok {
				ot.args = args
			} else if nr >= 0 {
				ot.known = false // the number without its arguments says too little
			}
		}
	} else if ar != nil {
		// A thread left running (--no-block, or the default stop that
		// spares threads blocked without the GIL): the kernel says;
		// check confirms afterwards that it stayed in that call.
		ot.syscall, ot.args, ot.known = ar.SyscallArgs(th.TID)
	}
	if t.Arch() != target.AMD64 {
		ot.known = false // the numbers above are x86-64's
	}
	if uaddr, ok := ot.futex(); ok && L.Sync.WaitEntryAddr.Valid() && L.Sync.WaitEntrySema.Valid() {
		// A 3.13+ parked thread sleeps on the semaphore inside its
		// wait_entry, which names the address it waits on.
		entry := uaddr - uint64(L.Sync.WaitEntrySema)
		if a, ok := u64(t, entry+uint64(L.Sync.WaitEntryAddr)); ok {
			ot.parked = a
		}
	}
	c.threads[th.TID] = ot
}

// runtime keeps the interpreters' GILs and collections, and whether the
// runtime finalizes.
func (c *captured) runtime(t target.Target) {
	L, r := c.r.In.Layout, c.r
	clear(c.collecting)
	c.finalizing = false
	interps, _ := r.Interpreters()
	for _, ip := range interps {
		id, _ := u64(t, ip+uint64(L.Interp.ID))
		c.gil[int64(id)] = r.GILAddress(ip)
		if L.Interp.GC.Valid() && L.GC.Collecting.Valid() {
			if v, ok := u64(t, ip+uint64(L.Interp.GC+L.GC.Collecting)); ok && uint32(v) != 0 {
				c.collecting[int64(id)] = true
			}
		}
	}
	if L.Runtime.Finalizing.Valid() {
		if v, ok := u64(t, r.In.Runtime+uint64(L.Runtime.Finalizing)); ok && v != 0 {
			c.finalizing = true
		}
	}
}

// Apply runs the analysis: after the target resumed for a live process.
func (c *captured) Apply(snap *model.Snapshot) {
	newAnalysis(c, snap).run()
}
