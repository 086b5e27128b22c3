package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

// StopPolicy says which threads of a live process a capture stops. The
// policies are the engine's, since stopping is the backend's business.
type StopPolicy interface {
	String() string
	// capture stops what the policy says, reads, and resumes; p.mu is
	// held.
	capture(p *Process) (*Capture, error)
}

var (
	// StopGIL stops only the threads that can change what a Python
	// capture reads, and proves the snapshot consistent afterwards: on a
	// GIL build, the GIL's holder when it runs, often no thread at all.
	// Threads blocked in system calls without the GIL are not
	// interrupted. It stops every thread when it cannot prove the read
	// consistent in a few attempts, and for what needs every thread
	// (native stacks, a free-threaded build, several interpreters,
	// stages that read more than Python objects). docs/reliability.md
	// has the argument.
	StopGIL StopPolicy = stopGIL{}
	// StopAll stops every thread, as gdb does: blocking system calls of
	// every thread see EINTR when resumed.
	StopAll StopPolicy = stopAll{}
	// StopNone never stops the process: reads may be torn, and threads
	// have no registers (so no native stacks).
	StopNone StopPolicy = stopNone{}
)

type stopGIL struct{}
type stopAll struct{}
type stopNone struct{}

func (stopGIL) String() string  { return "the GIL holder" }
func (stopAll) String() string  { return "all threads" }
func (stopNone) String() string { return "no thread" }

func (stopAll) capture(p *Process) (*Capture, error) {
	c, err := p.captureKept(StopAll, live.Options{Cache: true})
	if c != nil {
		c.stop.Policy = "all"
	}
	return c, err
}

func (stopNone) capture(p *Process) (*Capture, error) {
	c, err := p.captureKept(StopNone, live.Options{NoBlock: true, Cache: true})
	if c != nil {
		c.stop.Policy = "none"
	}
	return c, err
}

// gilAttempts bounds the reads StopGIL tries before it stops every thread.
const gilAttempts = 6

func (stopGIL) capture(p *Process) (*Capture, error) {
	if why := p.needsAll(); why != "" {
		return p.captureAll(why, 0, 0)
	}
	var pause time.Duration
	why := ""
	for attempt := 1; attempt <= gilAttempts; attempt++ {
		p.probe.Forget()
		tids := map[int]bool{}
		if p.in.Minor <= 10 { // no native id in the thread state: find it through glibc
			ids, _ := live.TaskIDs(p.pid)
			for _, id := range ids {
				tids[id] = true
			}
		}
		plan := p.r.PlanStop(p.probe, tids)
		if plan.All != "" {
			return p.captureAll(plan.All, attempt-1, pause)
		}
		// The last holder runs: stop it. Asleep, it is left alone, and
		// must stay asleep, never switched in, throughout the read. From
		// the second attempt on, every running thread is stopped too: the
		// GIL went to one of them during the first read, or would have.
		// Stopping a running thread interrupts no blocking system call.
		var stop []int
		holderAsleep := false
		if plan.HolderTID != 0 {
			a, err := live.TaskActivity(p.pid, plan.HolderTID)
			if err == nil && a.Asleep() {
				holderAsleep = true
			} else {
				stop = []int{plan.HolderTID}
			}
		}
		// A running holder is first left to run while the other threads
		// are read (none of them can change its own stack without taking
		// the GIL), then stopped to read its stack alone: the pause does
		// not grow with the number of threads. Variables are objects the
		// holder may change, so a capture of values stops it first, as
		// does a stage that cannot complete its capture afterwards.
		late := len(stop) == 1 && attempt == 1 && p.opts.Values == nil && p.holderStages()
		// A Python capture reads no mapping: the probe's map serves.
		opts := live.Options{Subset: true, Stop: stop, StopRunning: attempt > 1, Cache: true, Maps: p.probe.Mappings()}
		if late {
			opts.Stop = nil
		}
		c, s, err := p.captureOnce(opts, func(s *live.Process, read func() (*Capture, error)) error {
			var asleep live.Activity
			if holderAsleep && !stoppedThread(s, plan.HolderTID) {
				// Sampled now, after the threads were listed: the window the
				// holder must sleep through is the read alone.
				a, err := live.TaskActivity(p.pid, plan.HolderTID)
				if err != nil || !a.Asleep() {
					return &inconsistent{errors.New("the GIL's last holder woke up")}
				}
				asleep = a
			}
			// The holder may have changed since the plan: Verify vouches for
			// whoever holds it now (stopped, or the planned holder asleep).
			start, err := p.r.GILAt(s, s)
			if err != nil {
				return &inconsistent{err}
			}
			c, err := read()
			if err != nil {
				return err
			}
			if late {
				if err := s.Stop(stop); err != nil {
					return err
				}
				// Its pages as read while it ran are stale.
				s.Forget()
				p.r.Retarget(s)
				if err := p.r.Recapture(c.py, plan.HolderTID); err != nil {
					return &inconsistent{err}
				}
				// The holder alone changed: the thread list is not copied
				// again inside the pause (0.8 MB for 10,000 threads).
				for _, th := range s.Stopped() {
					if i := slices.IndexFunc(c.threads, func(o target.Thread) bool { return o.TID == th.TID }); i >= 0 {
						c.threads[i] = th
					}
					if th.TID != plan.HolderTID {
						continue
					}
					for i, st := range p.stages {
						st.(HolderStage).Recapture(c.stages[i], s, th)
					}
				}
			}
			if err := p.verify(s, c.py, start, plan.HolderTID, asleep); err != nil {
				return &inconsistent{err}
			}
			if len(s.Stopped()) == 0 && slices.ContainsFunc(c.stages, func(a Captured) bool { _, ok := a.(StillCaptured); return ok }) {
				c.still = p.still(c.py, start, plan.HolderTID, asleep)
			}
			return nil
		})
		if s != nil {
			pause += s.PauseDuration()
		}
		if c != nil {
			// The links of every thread state are checked once the
			// process runs again: the pause does not grow with them.
			if err := p.r.VerifyLinks(p.probe, c.py); err != nil {
				why = err.Error()
				continue
			}
			c.stop.Policy = "gil"
			c.stop.Attempts = attempt
			c.stop.Late = late
			c.pause = pause
			return c, nil
		}
		if _, retry := err.(*inconsistent); !retry {
			return nil, err
		}
		why = err.Error()
	}
	return p.captureAll(fmt.Sprintf("no consistent read in %d attempts without stopping every thread (%s)", gilAttempts, why), gilAttempts, pause)
}

// holderStages reports whether every stage can complete its capture once
// the GIL's holder is stopped (see HolderStage).
func (p *Process) holderStages() bool {
	for _, st := range p.stages {
		if _, ok := st.(HolderStage); !ok {
			return false
		}
	}
	return true
}

// inconsistent is a read that threads running meanwhile may have torn.
type inconsistent struct{ err error }

func (e *inconsistent) Error() string { return e.err.Error() }

// stoppedThread reports whether s stopped thread tid.
func stoppedThread(s *live.Process, tid int) bool {
	return slices.ContainsFunc(s.Stopped(), func(th target.Thread) bool { return th.TID == tid })
}

// verify runs after a read with some threads running: see cpython.Verify.
func (p *Process) verify(s *live.Process, py *cpython.Capture, start cpython.GILWord, holder int, asleep live.Activity) error {
	stopped := map[int]bool{}
	for _, th := range s.Stopped() {
		stopped[th.TID] = true
	}
	vouched := func(tid int) bool {
		if stopped[tid] {
			return true
		}
		if tid != holder || !asleep.Asleep() {
			return false
		}
		now, err := live.TaskActivity(p.pid, tid)
		return err == nil && now == asleep
	}
	return p.r.Verify(s, py, start, vouched)
}

// still is the proof a capture that stopped no thread hands its stages
// (StillCaptured): Verify again, once the process ran on, with the
// capture's own GIL word. Only the holder asleep then, and asleep with
// the same switch count now, is vouched for: no thread was stopped, so
// none was resumed.
func (p *Process) still(py *cpython.Capture, start cpython.GILWord, holder int, asleep live.Activity) func() bool {
	return func() bool {
		return p.r.Verify(p.probe, py, start, func(tid int) bool {
			if tid != holder || !asleep.Asleep() {
				return false
			}
			now, err := live.TaskActivity(p.pid, tid)
			return err == nil && now == asleep
		}) == nil
	}
}

// needsAll says why every thread must be stopped whatever the GIL says.
func (p *Process) needsAll() string {
	switch {
	case p.opts.Native:
		return "native stacks need every thread's registers"
	case p.in.Layout.FreeThreaded:
		return p.r.FreeThreadedStopReason(p.probe)
	case p.probe.OtherPIDNamespace():
		// The GIL's holder is known by the thread ID its container gave it.
		return "the process is in another PID namespace"
	}
	for _, st := range p.opts.Stages {
		if _, ok := st.(PythonOnlyStage); !ok {
			return fmt.Sprintf("the %T analysis needs every thread stopped", st)
		}
	}
	return ""
}

// captureAll stops every thread, saying why the default could not do
// with less.
func (p *Process) captureAll(why string, attempts int, pause time.Duration) (*Capture, error) {
	c, err := p.captureKept(StopAll, live.Options{Cache: true})
	if err != nil {
		return nil, err
	}
	c.pause += pause
	c.stop.Policy = "all"
	c.stop.Reason = why
	if attempts > 0 {
		c.stop.Attempts = attempts + 1
	}
	return c, nil
}

// stopReport fills what the snapshot says of the stop.
func stopReport(c *Capture) model.Stop {
	st := c.stop
	st.Threads = len(c.threads)
	st.Stopped = []int{}
	for _, th := range c.threads {
		if th.Regs != nil {
			st.Stopped = append(st.Stopped, th.TID)
		}
	}
	return st
}
