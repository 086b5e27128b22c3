package engine

import (
	"errors"
	"runtime"
	"sync"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

// ErrNotPython means a process runs no CPython: a tree's shells and
// helpers are skipped for it, not failed.
var ErrNotPython = cpython.ErrNotPython

// Opened is one program of a capture of several: what it gave, or why not.
type Opened struct {
	Arg      string // as given: a process ID or a core
	Program  Program
	Snapshot *model.Snapshot
	Err      error
}

// Close releases the program, if it was opened.
func (o *Opened) Close() {
	if o.Program != nil {
		o.Program.Close()
	}
}

// SnapshotAll opens and captures every program concurrently, in a bounded
// number of workers. Each live process is stopped only for its own
// capture, never while another one is read. The results are in the order
// of args; the caller closes each one.
func SnapshotAll(args []string, opts Options) []Opened {
	out := make([]Opened, len(args))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(len(args), max(2, runtime.GOMAXPROCS(0))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				o := &out[i]
				o.Arg = args[i]
				prog, err := Open(args[i], opts)
				if err != nil {
					o.Err = err // prog may be a typed nil
					continue
				}
				o.Program = prog
				o.Snapshot, o.Err = prog.Snapshot()
			}
		}()
	}
	for i := range args {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// Skippable says whether a process of a tree may be left out of a dump
// without failing it: it runs no Python, or it exited before it was read.
func Skippable(err error) bool {
	return errors.Is(err, ErrNotPython) || errors.Is(err, target.ErrNoProcess) || errors.Is(err, target.ErrExited)
}

// About is a live process's parent and executable, from /proc alone: what
// a dump of several says of a process it did not read.
func About(pid int) (ppid int, exe string) {
	exe, _ = live.ExecutablePath(pid)
	return live.ParentPID(pid), exe
}
