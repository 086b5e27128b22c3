package repl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// applyFlags are gdb's flags of `thread apply`.
type applyFlags struct {
	quiet     bool // -q: no thread header
	silent    bool // -s: skip threads whose command fails or prints nothing
	cont      bool // -c: print errors and go on (default: stop at the first)
	ascending bool // -ascending: `all` in ascending order (default descending, as gdb)
}

// processCommands act on the whole process or session, not on a thread.
var processCommands = []string{"continue", "refresh", "detach", "quit"}

// cmdThreadApply runs `thread apply all|LIST [FLAG]... CMD`: CMD in each
// thread, gdb's way. The selected thread and frame are restored after.
func cmdThreadApply(s *Session, args string) error {
	rows, rest, all, err := s.applyTargets(args)
	if err != nil {
		return err
	}
	fl, line, err := parseApplyFlags(rest, all)
	if err != nil {
		return err
	}
	if line == "" {
		if all {
			return errors.New("Please specify a command at the end of 'thread apply all'")
		}
		return errors.New("Please specify a command following the thread ID list")
	}
	name, _, _ := strings.Cut(line, " ")
	if c := lookup(name); c != nil && slices.Contains(processCommands, c.name) {
		return fmt.Errorf("%s acts on the whole process, not on a thread: run it without thread apply", c.name)
	}
	if all && !fl.ascending {
		slices.Reverse(rows)
	}
	// Every inferior's selection is as it was after, not only the
	// current one's.
	inf, out := s.inf, s.out
	type sel struct{ thread, frame, task, glet int }
	saved := map[*inferior]sel{}
	for _, i := range s.infs {
		saved[i] = sel{i.sel.thread, i.sel.frame, i.sel.task, i.sel.glet}
	}
	saved[inf] = sel{s.thread, s.frame, s.task, s.glet}
	defer func() {
		for i, v := range saved {
			s.use(i)
			s.thread, s.frame, s.task, s.glet = v.thread, v.frame, v.task, v.glet
		}
		s.use(inf)
		s.out = out
	}()
	for _, r := range rows {
		if s.interrupt.Load() {
			return errors.New("Quit")
		}
		var buf bytes.Buffer
		s.use(r.inf)
		s.thread, s.frame, s.task, s.glet, s.out = r.num, 0, 0, 0, &buf // the thread's frames, not a task's or greenlet's
		err := s.run(line)
		s.out = out
		if fl.silent && (err != nil || buf.Len() == 0) {
			continue
		}
		if !fl.quiet {
			s.printf("\n%s:\n", threadHeading(s, r))
		}
		io.Copy(out, &buf)
		if err == nil {
			continue
		}
		if !fl.cont {
			return err
		}
		s.printf("%s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// threadHeading is `Thread 2 (TID 7844) worker` (`Thread 1.2 …` with
// several inferiors).
func threadHeading(s *Session, r threadRow) string {
	tid := "?"
	if r.tid != 0 {
		tid = strconv.Itoa(r.tid)
	}
	return fmt.Sprintf("Thread %s (TID %s) %s", r.id(s), tid, threadLabel(r))
}

// nextWord splits the first word off line; rest keeps its spacing.
func nextWord(line string) (word, rest string) {
	line = strings.TrimLeft(line, " \t")
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		return line[:i], strings.TrimLeft(line[i:], " \t")
	}
	return line, ""
}

// applyTargets reads `all` or a list of thread numbers and ranges (1 3-5)
// and returns the threads and the rest of the line.
func (s *Session) applyTargets(args string) (rows []threadRow, rest string, all bool, err error) {
	w, rest := nextWord(args)
	if w == "" {
		return nil, "", false, errors.New("Please specify a thread ID list: thread apply all|N|N-M... COMMAND")
	}
	list := s.threadList()
	if w == "all" {
		if len(s.infs) > 1 {
			list = s.allThreads() // every inferior's, as gdb
		}
		return list, rest, true, nil
	}
	byNum := map[int]threadRow{}
	for _, r := range list {
		byNum[r.num] = r
	}
	rest = args
	for n := 0; ; n++ {
		w, after := nextWord(rest)
		lo, hi, ok, err := threadRange(w)
		if err != nil {
			return nil, "", false, err
		}
		if !ok {
			if n == 0 {
				return nil, "", false, fmt.Errorf("invalid thread ID %q: thread apply all|N|N-M... COMMAND", w)
			}
			return rows, rest, false, nil
		}
		for i := lo; i <= hi; i++ {
			if r, ok := byNum[i]; ok {
				rows = append(rows, r)
			} else {
				s.printf("warning: no thread %d (see `info threads`)\n", i)
			}
		}
		rest = after
	}
}

// threadRange parses N or N-M; ok is false when w is not one (the command
// starts there).
func threadRange(w string) (lo, hi int, ok bool, err error) {
	a, b, isRange := strings.Cut(w, "-")
	lo, err1 := strconv.Atoi(a)
	if err1 != nil || lo < 1 {
		return 0, 0, false, nil
	}
	if !isRange {
		return lo, lo, true, nil
	}
	hi, err2 := strconv.Atoi(b)
	switch {
	case err2 != nil:
		return 0, 0, false, fmt.Errorf("invalid thread range %q", w)
	case hi < lo:
		return 0, 0, false, fmt.Errorf("inverted range %q", w)
	case hi-lo > 1<<16:
		return 0, 0, false, fmt.Errorf("thread range %q is too large", w)
	}
	return lo, hi, true, nil
}

// parseApplyFlags reads the flags before the command; `--` ends them.
func parseApplyFlags(rest string, all bool) (applyFlags, string, error) {
	var fl applyFlags
	for {
		w, after := nextWord(rest)
		if !strings.HasPrefix(w, "-") {
			break
		}
		switch {
		case w == "--":
			return fl, after, nil
		case w == "-ascending" && all:
			fl.ascending = true
		case w == "-q":
			fl.quiet = true
		case w == "-s":
			fl.silent = true
		case w == "-c":
			fl.cont = true
		default:
			known := "-q (no header), -s (skip errors and empty output), -c (print errors and go on)"
			if all {
				known += ", -ascending"
			}
			return fl, "", fmt.Errorf("unknown thread apply flag %q: %s", w, known)
		}
		rest = after
	}
	if fl.silent && fl.cont {
		return fl, "", errors.New("thread apply: -c and -s are mutually exclusive")
	}
	return fl, strings.TrimSpace(rest), nil
}

// cmdTaas is gdb's taas: thread apply all -s CMD.
func cmdTaas(s *Session, args string) error {
	if args == "" {
		return errors.New("Please specify a command to apply on all threads")
	}
	return cmdThreadApply(s, "all -s "+args)
}
