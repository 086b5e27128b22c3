// Package model is the snapshot pyscope takes of a target: the one data
// structure that readers fill and that text, JSON and the session present.
// JSON field names are a stable interface (docs/json-schema.md).
package model

// Snapshot is everything pyscope saw at one moment.
type Snapshot struct {
	PID     int      `json:"pid"`
	PPID    int      `json:"ppid,omitempty"` // the parent's PID (live processes)
	Source  string   `json:"source"`         // "live" or "core"
	Python  Python   `json:"python"`
	Threads []Thread `json:"threads"`
	// Pause is how long the target was stopped, in microseconds (live only).
	PauseMicros int64 `json:"pause_us,omitempty"`
	// Stop says which threads were stopped (live only).
	Stop *Stop `json:"stop,omitempty"`
	// Warnings are problems that did not stop the dump.
	Warnings []string `json:"warnings,omitempty"`
	// Core describes the core file (cores only).
	Core *Core `json:"core,omitempty"`
	// Crash is the signal that killed the process (crash cores only).
	Crash *Crash `json:"crash,omitempty"`
	// Tasks are the asyncio tasks of every event loop (dump --tasks);
	// TaskCycles are tasks that await each other: a deadlock.
	Tasks      []Task     `json:"tasks,omitzero"`
	TaskCycles [][]uint64 `json:"task_cycles,omitzero"`
	// Greenlets are the greenlets of every thread (dump --greenlets).
	Greenlets []Greenlet `json:"greenlets,omitzero"`
	// Deadlocks are the cycles of the waits-for graph (the lock
	// analysis): threads that wait for each other, and threads waiting
	// for something held by a thread that no longer exists.
	Deadlocks []Deadlock `json:"deadlocks,omitempty"`
}

// Deadlock is one cycle of threads and the objects they wait for, in
// order: Threads[i] waits for Objects[i], held by Threads[i+1] (the last
// by the first). A thread id not among the snapshot's threads is a holder
// that no longer exists.
type Deadlock struct {
	Threads []uint64 `json:"threads"`
	Objects []uint64 `json:"objects"`
}

// Stop says which threads of a live process a snapshot stopped.
type Stop struct {
	// Policy is what was done: "gil" (only what can change Python state:
	// the GIL's holder when it ran), "all" or "none" (--no-block).
	Policy string `json:"policy"`
	// Stopped are the TIDs of the threads stopped, main thread first.
	Stopped []int `json:"stopped"`
	// Threads is how many threads the process had.
	Threads int `json:"threads"`
	// Attempts is how many reads "gil" made; a read that threads running
	// meanwhile could have torn is made again.
	Attempts int `json:"attempts,omitempty"`
	// Reason says why every thread was stopped although the default
	// stops only what must stop.
	Reason string `json:"reason,omitempty"`
	// Late says the GIL's holder ran while the other threads were read
	// and was stopped afterwards for its own stack alone: the pause did
	// not grow with the number of threads.
	Late bool `json:"late,omitempty"`
}

// Core describes the core file a snapshot was read from.
type Core struct {
	File    string   `json:"file"`              // path given to pyscope
	Cmdline string   `json:"cmdline,omitempty"` // from NT_PRPSINFO (at most 79 bytes)
	Missing []string `json:"missing_files,omitempty"`
}

// Crash is the signal that caused a core dump (NT_SIGINFO).
type Crash struct {
	Signal  int    `json:"signal"`
	Name    string `json:"name"`    // "SIGSEGV"
	Code    int    `json:"code"`    // si_code
	Address uint64 `json:"address"` // faulting address; 0 when none
	TID     int    `json:"tid"`     // thread that received it
}

// Python describes the interpreter found in the target.
type Python struct {
	Version    string  `json:"version"`
	Executable string  `json:"executable"`
	Library    *string `json:"library"`
	// LayoutSource says where the structure offsets came from.
	LayoutSource string `json:"layout_source,omitempty"`
	// FreeThreaded is a free-threaded (PEP 703, "3.13t") build.
	FreeThreaded bool `json:"free_threaded"`
	// Finalizing: the interpreter is shutting down (Py_Finalize runs, or
	// the main thread waits for the other threads to end).
	Finalizing bool `json:"finalizing,omitempty"`
}

// Thread is one thread and its stack.
type Thread struct {
	ThreadID uint64  `json:"thread_id"` // threading.get_ident()
	NativeID int     `json:"native_id"` // kernel TID; 0 when unknown
	Name     *string `json:"name"`      // threading.Thread.name
	OSName   *string `json:"os_name"`   // comm
	IsMain   bool    `json:"is_main"`
	Crashed  bool    `json:"crashed,omitempty"` // received the signal that killed the process
	HoldsGIL bool    `json:"holds_gil"`
	// State is the thread state's attach state (tstate->state, 3.13+;
	// derived from the GIL on 3.10-3.12): attached (may run Python),
	// detached (blocked or in C code that let go of the interpreter),
	// suspended (stopped by a stop-the-world pause); "" when unknown.
	State       string  `json:"state,omitempty"`
	Interpreter int64   `json:"interpreter"` // interpreter id; 0 is the main one
	Frames      []Frame `json:"frames"`
	// Truncated is set when the frame walk stopped early (cycle, limit,
	// unreadable memory); the reason is in Error.
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
	// With --native (internal/native): whether the thread has Python
	// state, what it is doing, the native stack when it could not be
	// merged with the Python one, and why.
	Python       *bool    `json:"python,omitempty"`
	Activity     string   `json:"activity,omitempty"` // running, syscall, waiting_for_gil, dropping_gil, gc, unknown
	Syscall      string   `json:"syscall,omitempty"`  // system call the thread is in
	NativeFrames []Frame  `json:"native_frames,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	// The lock analysis (internal/analysis/locks): what the thread is
	// blocked on, what it holds, and whether it runs the collector.
	WaitingFor *Wait  `json:"waiting_for,omitempty"`
	Holds      []Held `json:"holds,omitempty"`
	GC         bool   `json:"gc,omitempty"`
	// EmptyRuns (3.12+) are the shims (see Frame.Shim) of eval-loop calls
	// that have no Python frame left, innermost first: the merge pairs
	// them with their native frames too.
	EmptyRuns []uint64 `json:"-"`

	// Stopped says whether the thread was stopped for the snapshot (live
	// only).
	Stopped *bool `json:"stopped,omitempty"`
}

// Wait is what a blocked thread waits for: the highest-level object a
// user would recognise (a Queue, not the lock inside its Condition).
type Wait struct {
	// Kind: lock, rlock, condition, semaphore, event, barrier, queue,
	// join, future, gil or other.
	Kind    string `json:"kind"`
	Address uint64 `json:"address"`
	Repr    string `json:"repr"`
	// HeldBy are the threads it waits on: the holders of the lock it is
	// blocked on, the thread it joins, the GIL's holder; empty when
	// unknown or when nobody holds it (an unset event).
	HeldBy []uint64 `json:"held_by"`
	// Pending: a concurrent future no worker has started (its work item
	// queued, or never submitted to an executor).
	Pending bool `json:"pending,omitempty"`
	// Futures: a wait in concurrent.futures.wait(fs) or as_completed(fs)
	// is on every future of fs not done, Address the first of them; Any
	// is set when one of them may end it (FIRST_COMPLETED,
	// FIRST_EXCEPTION, as_completed), unset for ALL_COMPLETED.
	Futures []uint64 `json:"futures,omitempty"`
	Any     bool     `json:"any,omitempty"`
	// Where it waits: its innermost Python frame.
	File string `json:"-"`
	Line int    `json:"-"`
}

// Held is a lock (or a semaphore, or a condition's lock) a thread holds.
type Held struct {
	Kind    string `json:"kind"`
	Address uint64 `json:"address"`
	Repr    string `json:"repr"`
	// Where the thread took it, and how ("with", "acquire", "owner": an
	// RLock that names it); Line is 0 when unknown.
	File string `json:"-"`
	Line int    `json:"-"`
	Via  string `json:"-"`
}

// Frame is one stack frame, most recent call first.
type Frame struct {
	Kind     string `json:"kind"` // "python" or "native"
	Function string `json:"function"`
	Qualname string `json:"qualname"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	// The location of the running instruction (PEP 657, 3.11+, when the
	// code object has one): its last line, and its start and end columns
	// (0-based UTF-8 byte offsets into the first and last lines).
	EndLine   *int `json:"end_line,omitempty"`
	Column    *int `json:"column,omitempty"`
	EndColumn *int `json:"end_column,omitempty"`
	// Addr is the address of the interpreter frame (for the session).
	Addr uint64 `json:"-"`
	// Code is the address of the code object.
	Code uint64 `json:"-"`
	// Instr is the byte offset of the instruction the frame executes in
	// its code (for the lock analysis).
	Instr int `json:"-"`
	// Entry marks the outermost Python frame run by one C-level call of the
	// eval loop (_PyEval_EvalFrameDefault): native/Python merging pairs each
	// such call with the run of frames ending at an Entry frame.
	Entry bool `json:"-"`
	// Shim, on an Entry frame, is an address on the C stack of the
	// eval-loop call that runs it, which identifies that native frame
	// without symbols or counting: the interpreter's entry frame (3.12+),
	// or the call's _PyCFrame (3.10, 3.11; read only where thread states
	// of several interpreters share a kernel thread). 0 when unknown.
	Shim uint64 `json:"-"`
	// Locals: the variables frame.f_locals shows, plus unbound ones
	// (dump --locals; docs/json-schema.md).
	Locals []Local `json:"locals,omitempty"`
	// LocalsAddr is the f_locals dict Locals came from (module, class and
	// exec bodies); 0 for a function's own variables.
	LocalsAddr uint64 `json:"-"`
	// LocalsError says why the variables could not be read.
	LocalsError string `json:"locals_error,omitempty"`
	// Globals: the user globals of the frame's module (dump --globals).
	Globals []Local `json:"globals,omitempty"`
	// GlobalsAddr is the module dict Globals came from.
	GlobalsAddr uint64 `json:"-"`
	// Native frames (internal/native): the mapped file, the PC, its offset
	// from the function's start (from the module's start when Function is
	// empty; nil for inlined frames), its link-time address in the module.
	Module       string  `json:"module,omitempty"`
	Address      uint64  `json:"address,omitempty"`
	Offset       *uint64 `json:"offset,omitempty"`
	ModuleOffset uint64  `json:"module_offset,omitempty"`
	Inlined      bool    `json:"inlined,omitempty"` // inlined into the next frame
	Signal       bool    `json:"signal,omitempty"`  // a signal handler was called here
	// UnwindStopped marks the last native frame the unwind reached when
	// Python frames follow it: what called it, down to the next frame, is
	// unknown (a function without CFI or frame pointer).
	UnwindStopped bool `json:"unwind_stopped,omitempty"`
}

// Task is one asyncio task (docs/json-schema.md).
type Task struct {
	ID    uint64 `json:"id"` // the task object's address
	Name  string `json:"name"`
	State string `json:"state"` // pending or running: finished tasks are not listed
	// ThreadID is the thread whose event loop runs the task (its loop is
	// running there); nil when its loop is not running.
	ThreadID *uint64 `json:"thread_id"`
	// Coroutine is every coroutine or generator frame the task is in,
	// innermost first: the suspended chain, or for the running task the
	// frames of its thread down to its coroutine.
	Coroutine []Frame `json:"coroutine"`
	// Awaits are the tasks it waits for, and the futures no task
	// completes (an asyncio.sleep, an Event, a Queue); AwaitedBy the
	// tasks that wait for it.
	Awaits    []uint64 `json:"awaits"`
	AwaitedBy []uint64 `json:"awaited_by"`
	// Error says why the task could not be read whole.
	Error string `json:"error,omitempty"`
	// Concurrent are the awaited futures chained to a
	// concurrent.futures.Future (asyncio.wrap_future: run_in_executor,
	// to_thread), with the thread running its work.
	Concurrent []ChainedFuture `json:"concurrent_futures,omitempty"`
	// Futures describes the awaited ids that are futures, not tasks:
	// id → their repr (for the text view).
	Futures map[uint64]string `json:"-"`
	// Loop is the address of the task's event loop.
	Loop uint64 `json:"-"`
}

// ChainedFuture is an asyncio future a task awaits that a
// concurrent.futures.Future completes (docs/json-schema.md).
type ChainedFuture struct {
	// Future is the awaited asyncio future (an id in Awaits).
	Future uint64 `json:"future"`
	// WaitingFor is the concurrent future, as a thread's waiting_for
	// names one (kind "future"): HeldBy the thread running its work item,
	// Pending when no worker has started it.
	WaitingFor Wait `json:"waiting_for"`
}

// Greenlet is one greenlet (docs/json-schema.md).
type Greenlet struct {
	ID    uint64 `json:"id"`    // the greenlet object's address
	State string `json:"state"` // running, suspended or dead
	// ThreadID is the thread the greenlet belongs to; nil when unknown.
	ThreadID *uint64 `json:"thread_id"`
	// Parent is the greenlet it returns to when it finishes; nil for a
	// thread's main greenlet.
	Parent *uint64 `json:"parent"`
	// Frames are its Python frames, innermost first: a suspended
	// greenlet's own, a running one's are its thread's stack; none for a
	// dead or not yet started greenlet.
	Frames []Frame `json:"frames"`
	// Type is the greenlet's class (greenlet.greenlet, gevent's Greenlet
	// or Hub, ...).
	Type string `json:"type,omitempty"`
	// Main marks a thread's main greenlet.
	Main bool `json:"main,omitempty"`
	// NotStarted marks a suspended greenlet never switched to yet.
	NotStarted bool `json:"not_started,omitempty"`
	// Error says why the greenlet could not be read whole.
	Error string `json:"error,omitempty"`
}
