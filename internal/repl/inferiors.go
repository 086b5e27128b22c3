package repl

import (
	"fmt"
	"strconv"
	"strings"

	"pyscope/internal/report"
	"pyscope/internal/target"
)

// Several programs in one session are gdb's inferiors: `debug
// --subprocesses` holds a process and every Python descendant. Each keeps
// its own thread numbers and selection; `inferior N` switches, as do
// `thread N.M` and `thread apply all` (every inferior's threads).
// continue, interrupt and detach act on the current inferior, as gdb's do
// by default; quit detaches from all.

// describe is gdb's inferior description: "process 4242" or "core 4242".
func describe(p Program) string {
	if _, live := p.(Runner); live {
		return fmt.Sprintf("process %d", p.PID())
	}
	return fmt.Sprintf("core %d", p.PID())
}

// stateOf is "stopped", "running", "exited" or "core".
func stateOf(p Program) string {
	r, live := p.(Runner)
	switch {
	case !live:
		return "core"
	case r.Exited(false):
		return "exited"
	case r.Stopped():
		return "stopped"
	}
	return "running"
}

// crashOf is the signal a core was written for; nil for a live process.
func crashOf(p Program) *target.CrashInfo {
	if pm, ok := p.(target.CrashReader); ok {
		return pm.Crash()
	}
	return nil
}

func infoInferiors(s *Session) error {
	type row struct{ mark, num, desc, ppid, state, exe string }
	rows := []row{{" ", "Num", "Description", "PPID", "State", "Executable"}}
	for _, inf := range s.infs {
		r := row{mark: " ", num: strconv.Itoa(inf.num), desc: describe(inf.prog), ppid: "-", state: stateOf(inf.prog)}
		if inf == s.inf {
			r.mark = "*"
		}
		// A closed core keeps no snapshot.
		if snap := inf.prog.Snapshot(); snap != nil {
			if snap.PPID != 0 {
				r.ppid = strconv.Itoa(snap.PPID)
			}
			r.exe = report.Safe(snap.Python.Executable)
		}
		if inf.gone {
			r.desc, r.state, r.ppid = "<null>", "detached", "-"
		}
		rows = append(rows, r)
	}
	var w [4]int
	for _, r := range rows {
		for i, c := range []string{r.num, r.desc, r.ppid, r.state} {
			w[i] = max(w[i], len(c))
		}
	}
	for _, r := range rows {
		s.printf("%s %-*s %-*s %-*s %-*s %s\n", r.mark, w[0], r.num, w[1], r.desc, w[2], r.ppid, w[3], r.state, r.exe)
	}
	return nil
}

func cmdInferior(s *Session, args string) error {
	if args == "" {
		s.printf("[Current inferior is %d [%s] (%s)]\n", s.inf.num, describe(s.prog), report.Safe(s.prog.Snapshot().Python.Executable))
		return nil
	}
	n, err := strconv.Atoi(args)
	if err != nil {
		return fmt.Errorf("invalid inferior number %q: see `info inferiors`", args)
	}
	inf, err := s.inferior(n)
	if err != nil {
		return err
	}
	s.switchTo(inf)
	r, ok := s.current()
	if !ok {
		return nil
	}
	s.printf("[Switching to thread %s (TID %d) %s]\n", r.id(s), r.tid, threadLabel(r))
	if r.py != nil && len(r.py.Frames) > 0 && s.frame < len(r.py.Frames) {
		s.printFrame(s.frame, r.py.Frames[s.frame])
	}
	return nil
}

// inferior finds inferior n among those still debugged.
func (s *Session) inferior(n int) (*inferior, error) {
	for _, inf := range s.infs {
		if inf.num == n {
			if inf.gone {
				return nil, fmt.Errorf("inferior %d was detached", n)
			}
			return inf, nil
		}
	}
	return nil, fmt.Errorf("no inferior number %d: see `info inferiors`", n)
}

// switchTo makes inf current and says so, as gdb does.
func (s *Session) switchTo(inf *inferior) {
	if inf == s.inf {
		return
	}
	s.use(inf)
	s.printf("[Switching to inferior %d [%s] (%s)]\n", inf.num, describe(inf.prog), report.Safe(inf.prog.Snapshot().Python.Executable))
}

// threadID splits gdb's INFERIOR.THREAD (or THREAD, in the current
// inferior).
func (s *Session) threadID(arg string) (*inferior, int, error) {
	infPart, thrPart, dotted := strings.Cut(arg, ".")
	inf := s.inf
	if !dotted {
		thrPart = infPart
	} else {
		n, err := strconv.Atoi(infPart)
		if err != nil {
			return nil, 0, fmt.Errorf("invalid thread ID %q: N or INFERIOR.N (see `info threads`)", arg)
		}
		if inf, err = s.inferior(n); err != nil {
			return nil, 0, err
		}
	}
	t, err := strconv.Atoi(thrPart)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid thread number %q: see `info threads`", arg)
	}
	return inf, t, nil
}

// detachCurrent resumes and releases the current inferior of several and
// switches to the next one still debugged; with none left, the session
// ends.
func (s *Session) detachCurrent() error {
	inf := s.inf
	if err := inf.prog.Close(); err != nil {
		return err
	}
	inf.gone = true
	if r, ok := inf.prog.(Runner); ok && r.Exited(false) {
		s.printf("Left %s, which had exited.\n", describe(inf.prog))
	} else {
		s.printf("Detached from %s: it runs on.\n", describe(inf.prog))
	}
	for _, next := range s.infs {
		if !next.gone {
			s.switchTo(next)
			return nil
		}
	}
	s.quit = true
	return nil
}
