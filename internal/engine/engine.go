// Package engine opens what pyscope reads — a live process, a core, a
// compressed core or a bundle — and runs the capture every command uses:
// prepare while the target runs, stop, capture, resume, resolve. Above
// internal/target it alone imports the live and core backends, so dump,
// debug, gcore and the commands after them read targets one way.
package engine

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/redact"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

// Options say what every capture of a target reads and where a target's
// files are.
type Options struct {
	// Values reads frame variables; nil reads none.
	Values *cpython.ValueOptions
	// Redact says which values dumps, sessions and analyses leave out:
	// nil is redact.Default() (secret names, environments); redact.None()
	// shows everything (--no-redact).
	Redact *redact.Policy
	// Native merges native stacks into every snapshot; NativeAll keeps
	// the interpreter's own C frames too.
	Native, NativeAll bool
	// Symbols says where native debug files are looked for (--debug-dir,
	// --debuginfod): for Native and for a session's native stacks.
	Symbols symbolize.Options
	// Sysroot and LibPaths say where a core's files are (--sysroot,
	// --lib-path). A bundle brings its own sysroot.
	Sysroot  string
	LibPaths []string
	// Executable is the program a core came from, as gdb takes it
	// (`pyscope EXE -c CORE`, which coredumpctl runs): where the
	// executable is, and under which root the other files are when its
	// path ends with the one the core records.
	Executable string
	// Stop says which threads of a live process Snapshot stops; nil is
	// StopGIL.
	Stop StopPolicy
	// Stages add to every capture, after the Python and native ones.
	Stages []Stage
	// AfterStop runs after each time a live process is stopped (a session
	// takes back its signals there: the live backend installs its own).
	AfterStop func()
	// OwnSignals says the caller takes SIGINT, SIGTERM and SIGHUP and
	// closes the program on them (a session, a profiler): an unpacked
	// bundle is then not removed by a handler of the engine's, nor is a
	// stopped process resumed by one (the caller's Close does it).
	OwnSignals bool
	// Sampling says captures come many times a second (a profiler): thread
	// names are read again only once a second or when a thread appears,
	// and a process that is not stopped is read exactly where needed
	// rather than by whole pages.
	Sampling bool
}

func (o Options) native() native.Options {
	return native.Options{All: o.NativeAll, Symbols: o.Symbols}
}

// A Stage adds to every capture of a target: Prepare runs once while the
// target runs (parse files, find addresses), Capture while it is stopped
// (read only what changes), and what Capture returns completes the
// snapshot after the target resumed. Lock and task analyses plug in here.
//
// Options.Stages are shared by every program a command opens, and
// several are read at once (SnapshotAll): Prepare returns the stage that
// serves this program, a new one when the stage keeps anything of it.
type Stage interface {
	Prepare(t target.Target, r *cpython.Reader) Stage
	Capture(t target.Target, r *cpython.Reader) Captured
	Close()
}

// PythonOnlyStage is a Stage whose Capture reads only Python objects
// (no registers, no native memory): the GIL protects what it reads, so
// StopGIL need not stop every thread for it. Any other Stage makes StopGIL
// stop every thread.
type PythonOnlyStage interface {
	Stage
	PythonOnly()
}

// HolderStage is a PythonOnlyStage whose capture may be taken while the
// GIL's holder still runs and completed once it is stopped: StopGIL then
// reads the other threads first and stops the holder for its own stack
// alone, so the pause does not grow with the stage's work either.
type HolderStage interface {
	PythonOnlyStage
	// Recapture brings c, captured from t while the holder ran, up to
	// date now that t has it stopped.
	Recapture(c Captured, t target.Target, holder target.Thread)
}

// Captured is one stage's part of one capture.
type Captured interface {
	Apply(snap *model.Snapshot)
}

// StillCaptured is a Captured that reads objects after the process ran
// again and must then make sure the threads it reports did not move. The
// engine may hand it, before Apply, a proof that spares looking at each
// thread.
type StillCaptured interface {
	Captured
	// Still gives still, which reports whether no thread can have run
	// Python code since the capture: the GIL's word and the thread list
	// are as the capture proved them, no thread was stopped (so none was
	// resumed), and the GIL's last holder is still asleep. Not called
	// when the capture has no such proof.
	Still(still func() bool)
}

// Program is an opened process or core, as dump reads it.
type Program interface {
	PID() int
	// Snapshot captures the program: a live process is stopped as
	// Options.Stop says and resumed before Snapshot returns.
	Snapshot() (*model.Snapshot, error)
	// Open opens a file as the program sees it (its sources, its
	// libraries).
	Open(path string) (*os.File, error)
	// Close releases the program; a live process runs on.
	Close() error
}

var (
	_ Program = (*Process)(nil)
	_ Program = (*Core)(nil)
)

// Open opens arg: a process ID, or a core file (possibly compressed) or a
// bundle.
func Open(arg string, opts Options) (Program, error) {
	if pid, err := strconv.Atoi(arg); err == nil && pid > 0 {
		return OpenProcess(pid, opts)
	}
	if err := checkFile(arg); err != nil {
		return nil, err
	}
	return OpenCore(arg, opts)
}

// checkFile explains why arg, which is not a process ID, cannot be a core.
func checkFile(arg string) error {
	st, err := os.Stat(arg)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: no such file; give a process ID, or a core file (possibly compressed) or a bundle", arg)
	case err != nil:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot open %s: %v", arg, err)
	case st.IsDir():
		return fmt.Errorf("%s is a directory; give a process ID, or a core file (possibly compressed) or a bundle", arg)
	case !st.Mode().IsRegular():
		// Before any open: opening a FIFO without a writer blocks.
		return fmt.Errorf("%s is not a core file (not a regular file); give a process ID, or a core file (possibly compressed) or a bundle", arg)
	}
	return nil
}

// Subprocesses lists the live descendants of process pid (children
// first), for commands that read a process tree.
func Subprocesses(pid int) ([]int, error) {
	return live.Descendants(pid)
}

// ThreadSyscall names the system call thread tid of process pid is
// blocked in, without stopping it ("" when none or unknown).
func ThreadSyscall(pid, tid int) string {
	p, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: true})
	if err != nil {
		return ""
	}
	defer p.Close()
	if nr, ok := p.Syscall(tid); ok && nr >= 0 {
		return native.SyscallName(p.Arch(), nr)
	}
	return ""
}
