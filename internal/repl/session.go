// Package repl is pyscope's interactive session: gdb-style commands
// (thread, bt, py-bt, py-list, py-up, py-print, ...) over a snapshot of a
// live process, held stopped, or of a core.
package repl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/peterh/liner"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/report"
	"pyscope/internal/source"
	"pyscope/internal/target"
)

// Config controls a session.
type Config struct {
	// Ex are commands run first, in order (gdb's -ex).
	Ex []string
	// Batch quits after the Ex commands instead of reading more.
	Batch bool
	// In is where commands are read from after Ex; Interactive makes it a
	// line editor on the terminal (history and completion).
	In          io.Reader
	Interactive bool
	Out         io.Writer
	// Err receives the banner and warnings when not interactive.
	Err io.Writer
	// HistoryFile is where the line editor keeps its history ("" for none).
	HistoryFile string
	// Limits bound printed values; zero means cpython.TerminalLimits,
	// those of dump --locals.
	Limits cpython.Limits
	// Notes are said after the banner (processes of a tree left out).
	Notes []string
}

// Session is one debugging session over one program, or several (a
// process tree, as gdb's inferiors).
type Session struct {
	// prog is the current inferior's program, and selection what the
	// session selected there; the other inferiors keep theirs.
	prog Program
	selection
	infs []*inferior // by number; one unless debug --subprocesses
	inf  *inferior   // the current one
	cfg  Config
	out  io.Writer
	lim  cpython.Limits

	failed bool

	line      *liner.State
	interrupt atomic.Bool
	quit      bool
	exitOnce  sync.Once

	// lastLine is the command an empty line repeats at the terminal, as
	// in gdb ("" for none); repeating is set while it runs again.
	lastLine  string
	repeating bool
	// listed is what py-list printed last, for the next lines (Enter
	// after py-list, as gdb's list) and `py-list -`.
	listed listing
}

// listing is a range of lines py-list printed from one frame of one
// inferior: thread numbers are per inferior, and processes of a tree often
// run the same file, so only the inferior tells their listings apart.
type listing struct {
	inf         *inferior
	file        string
	thread      int
	frame, glet int
	task        int
	first, last int
}

// selection is what the session selected in one program and how it
// numbers that program's threads and tasks (gdb numbers threads per
// inferior).
type selection struct {
	thread int // current thread number
	frame  int // current Python frame (0 is the innermost)
	// task is the selected asyncio task's number (0: none, the thread's
	// frames are current); taskNums numbers tasks by id for the session.
	task     int
	taskNums map[uint64]int
	// glet is the selected greenlet's number (0: none); gletNums numbers
	// greenlets by id for the session.
	glet     int
	gletNums map[uint64]int
	nums     map[threadKey]int
	next     int
	warned   map[string]bool // source files already warned about
}

func newSelection() selection {
	return selection{nums: map[threadKey]int{}, next: 1, warned: map[string]bool{}, taskNums: map[uint64]int{}, gletNums: map[uint64]int{}}
}

// inferior is one program of a session, as gdb calls a program it
// debugs: its number, and its selection while another one is current.
type inferior struct {
	num  int
	prog Program
	sel  selection
	gone bool // detached: listed, no longer debugged
}

type threadKey struct {
	tid int
	id  uint64
}

// DefaultHistoryFile is $XDG_STATE_HOME/pyscope/history, or
// ~/.local/state/pyscope/history.
func DefaultHistoryFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "pyscope", "history")
}

// Signals the session takes from the live package's default (which
// detaches and exits): SIGINT must not end a session.
var sessionSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Claim makes ch the only receiver of SIGINT, SIGTERM and SIGHUP. Call it
// after each stop of a live target (live.Open installs its own handler).
func Claim(ch chan os.Signal) {
	signal.Ignore(sessionSignals...)
	signal.Notify(ch, sessionSignals...)
}

// Run runs a session on progs (the first is current; more are gdb's
// inferiors, a process tree) until quit, EOF or --batch, then closes them
// all (a live target is resumed and detached on every path). It returns
// the exit status: 1 when a scripted command failed.
func Run(progs []Program, cfg Config, sigs chan os.Signal) (code int) {
	s := &Session{cfg: cfg, out: cfg.Out, lim: cfg.Limits}
	for i, p := range progs {
		s.infs = append(s.infs, &inferior{num: i + 1, prog: p, sel: newSelection()})
	}
	s.inf, s.prog, s.selection = s.infs[0], progs[0], s.infs[0].sel
	if s.lim == (cpython.Limits{}) {
		s.lim = cpython.TerminalLimits()
	}
	if s.cfg.Err == nil {
		s.cfg.Err = cfg.Out
	}
	done := make(chan struct{})
	defer close(done)
	go s.watchSignals(sigs, done)
	defer func() {
		if r := recover(); r != nil {
			s.closeAll()
			s.closeLine()
			fmt.Fprintf(os.Stderr, "pyscope: internal error: %v; the target was resumed and detached\n%s", r, debug.Stack())
			code = 2
		}
	}()
	for _, inf := range s.infs {
		s.use(inf)
		s.selectInitial()
	}
	s.use(s.infs[0])
	s.banner()
	for _, c := range cfg.Ex {
		if s.quit {
			break
		}
		s.Exec(c)
	}
	if !s.quit && !cfg.Batch {
		if cfg.Interactive {
			s.interactive()
		} else if cfg.In != nil {
			s.script(cfg.In)
		}
	}
	s.closeLine()
	if err := s.closeAll(); err != nil {
		fmt.Fprintf(s.cfg.Err, "pyscope: %v\n", err)
		return 1
	}
	if s.failed && !cfg.Interactive {
		return 1
	}
	return 0
}

// watchSignals: SIGINT interrupts the command (never the session), SIGTERM
// and SIGHUP detach and exit 128+signal.
func (s *Session) watchSignals(sigs chan os.Signal, done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if sig == syscall.SIGINT {
				s.interrupt.Store(true)
				continue
			}
			s.closeAll()
			s.closeLine()
			n := 1
			if ss, ok := sig.(syscall.Signal); ok {
				n = int(ss)
			}
			os.Exit(128 + n)
		}
	}
}

// closeAll closes every inferior's program (a live process is resumed
// and detached); safe from the signal watcher.
func (s *Session) closeAll() error {
	var first error
	for _, inf := range s.infs {
		if err := inf.prog.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// use makes inf the current inferior: its program and its selection.
func (s *Session) use(inf *inferior) {
	if s.inf == inf {
		return
	}
	s.inf.sel = s.selection
	s.inf, s.prog, s.selection = inf, inf.prog, inf.sel
}

func (s *Session) closeLine() {
	s.exitOnce.Do(func() {
		if s.line != nil {
			s.saveHistory()
			s.line.Close()
		}
	})
}

func (s *Session) banner() {
	snap := s.prog.Snapshot()
	w := s.cfg.Err
	if s.cfg.Interactive {
		w = s.out
	}
	lib := ""
	if snap.Python.Library != nil {
		lib = " with " + report.Safe(*snap.Python.Library)
	}
	version := report.Safe(snap.Python.Version)
	if snap.Python.FreeThreaded {
		version += " free-threaded" // as dump says it
	}
	if _, live := s.prog.(Runner); live {
		fmt.Fprintf(w, "Process %d: Python %s (%s%s).\n", snap.PID, version, report.Safe(snap.Python.Executable), lib)
		if n := len(s.prog.OSThreads()); n == 1 {
			fmt.Fprintf(w, "Its one thread is stopped while this session holds it: `continue` resumes, `quit` detaches.\n")
		} else {
			fmt.Fprintf(w, "All %d threads are stopped while this session holds them: `continue` resumes, `quit` detaches.\n", n)
		}
	} else {
		fmt.Fprintf(w, "Core of process %d: Python %s (%s%s).\n", snap.PID, version, report.Safe(snap.Python.Executable), lib)
		if c := s.crash(); c != nil {
			fmt.Fprintf(w, "Program terminated with signal %s", c.SignalName)
			if c.Addr != 0 || c.SignalName == "SIGSEGV" || c.SignalName == "SIGBUS" {
				fmt.Fprintf(w, " at address %#x", c.Addr)
			}
			fmt.Fprintf(w, " in thread %d.\n", c.TID)
		}
	}
	for _, m := range append(snap.Warnings, s.prog.Warnings()...) {
		fmt.Fprintf(w, "warning: %s\n", report.Safe(m))
	}
	if len(s.infs) > 1 {
		var others []string
		for _, inf := range s.infs[1:] {
			others = append(others, fmt.Sprintf("%d (%s)", inf.num, describe(inf.prog)))
		}
		fmt.Fprintf(w, "Also held, as inferiors %s: `info inferiors` lists them, `inferior N` switches.\n", strings.Join(others, ", "))
	}
	for _, n := range s.cfg.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if s.cfg.Interactive {
		fmt.Fprintln(w, "Type `help` for the commands.")
	}
}

func (s *Session) prompt() string {
	r, live := s.prog.(Runner)
	switch {
	case !live:
		return fmt.Sprintf("(pyscope core %d) ", s.prog.PID())
	case r.Exited(false):
		return fmt.Sprintf("(pyscope %d exited) ", s.prog.PID())
	case r.Stopped():
		return fmt.Sprintf("(pyscope %d stopped) ", s.prog.PID())
	}
	return fmt.Sprintf("(pyscope %d running) ", s.prog.PID())
}

// stopped is true while the program cannot change: a live process the
// session holds, or a core.
func (s *Session) stopped() bool {
	r, live := s.prog.(Runner)
	return !live || r.Stopped()
}

// crash is the signal a core was written for; nil for a live process.
func (s *Session) crash() *target.CrashInfo {
	if pm, ok := s.prog.(target.CrashReader); ok {
		return pm.Crash()
	}
	return nil
}

func (s *Session) interactive() {
	s.line = liner.NewLiner()
	s.line.SetCtrlCAborts(true)
	s.line.SetTabCompletionStyle(liner.TabPrints)
	s.line.SetWordCompleter(s.complete)
	s.loadHistory()
	for !s.quit {
		l, err := s.line.Prompt(s.prompt())
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			fmt.Fprintln(s.out, "Quit")
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(s.out, "quit")
			return
		case err != nil:
			fmt.Fprintf(s.out, "pyscope: reading the terminal: %v\n", err)
			return
		}
		if strings.TrimSpace(l) == "" {
			// Enter repeats the last command, as in gdb: py-up climbs on,
			// py-list shows the next lines.
			if s.lastLine != "" {
				s.repeating = true
				s.Exec(s.lastLine)
				s.repeating = false
			}
			continue
		}
		s.line.AppendHistory(l)
		s.lastLine = ""
		if repeatable(l) {
			s.lastLine = l
		}
		s.Exec(l)
	}
}

// repeatable says whether an empty line may run line again: not what
// leaves, resumes or changes the session's settings (gdb's dont_repeat).
func repeatable(line string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	if strings.HasPrefix(name, "#") {
		return false
	}
	c := lookup(name)
	if c == nil {
		return false
	}
	switch c.name {
	case "quit", "detach", "continue", "refresh", "set", "echo":
		return false
	}
	return true
}

func (s *Session) script(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for !s.quit && sc.Scan() {
		s.Exec(sc.Text())
	}
}

func (s *Session) loadHistory() {
	if s.cfg.HistoryFile == "" {
		return
	}
	if f, err := os.Open(s.cfg.HistoryFile); err == nil {
		s.line.ReadHistory(f)
		f.Close()
	}
}

func (s *Session) saveHistory() {
	if s.cfg.HistoryFile == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(s.cfg.HistoryFile), 0o700); err != nil {
		return
	}
	tmp := s.cfg.HistoryFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, werr := s.line.WriteHistory(f)
	if cerr := f.Close(); werr == nil && cerr == nil {
		os.Rename(tmp, s.cfg.HistoryFile)
	} else {
		os.Remove(tmp)
	}
}

// Exec runs one command line. A panic in a command is reported and the
// session goes on.
func (s *Session) Exec(line string) {
	s.interrupt.Store(false)
	s.noticeExits()
	if err := s.run(line); err != nil {
		s.errorf("%s", err.Error())
	}
}

// noticeExits looks whether a live process of the session has exited
// since the last command (a held process can be killed too: gunicorn's
// arbiter kills a worker that stops answering), and says so once, as gdb
// does; what follows then works on its last snapshot.
func (s *Session) noticeExits() {
	for _, inf := range s.infs {
		r, live := inf.prog.(Runner)
		if !live || inf.gone || r.Exited(false) || !r.Exited(true) {
			continue
		}
		s.printf("[Process %d has exited; its last snapshot stays on view: py-bt, py-list, info threads]\n", inf.prog.PID())
	}
}

// run runs one command line and returns its error.
func (s *Session) run(line string) (err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	name, args, _ := strings.Cut(line, " ")
	args = strings.TrimSpace(args)
	cmd := lookup(name)
	if cmd == nil {
		return fmt.Errorf("undefined command: %q. Try \"help\".", name)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in %s: %v (the session goes on)", cmd.name, r)
		}
	}()
	if s.noProgram() && !withoutProgram(cmd.name, args) {
		return errors.New("No stack: detach closed the core file (quit leaves the session).")
	}
	return cmd.run(s, args)
}

// noProgram says whether every program of the session was left: after
// detach closed the last one, a core (gdb goes on without a target).
func (s *Session) noProgram() bool {
	for _, inf := range s.infs {
		if !inf.gone {
			return false
		}
	}
	return true
}

// withoutProgram says whether a command works with no program left.
func withoutProgram(name, args string) bool {
	switch name {
	case "help", "echo", "set", "quit", "detach":
		return true
	case "info":
		return strings.HasPrefix(strings.TrimSpace(args), "inf")
	}
	return false
}

func (s *Session) errorf(format string, a ...any) {
	s.failed = true
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(s.out, strings.ReplaceAll(msg, "\n", "; "))
}

func (s *Session) printf(format string, a ...any) { fmt.Fprintf(s.out, format, a...) }

// threadRow is one thread of `info threads`: an OS thread and its Python
// state, either of which may be missing.
type threadRow struct {
	num int
	tid int
	os  string
	py  *model.Thread
	inf *inferior
}

// id is the thread's number as gdb shows it: N, or INFERIOR.N when the
// session has several inferiors.
func (r threadRow) id(s *Session) string {
	if len(s.infs) > 1 {
		return fmt.Sprintf("%d.%d", r.inf.num, r.num)
	}
	return strconv.Itoa(r.num)
}

// threadList numbers threads like gdb: once seen, a thread keeps its
// number for the session.
func (s *Session) threadList() []threadRow {
	snap := s.prog.Snapshot()
	byTID := map[int]*model.Thread{}
	var orphans []*model.Thread
	for i := range snap.Threads {
		t := pythonView(&snap.Threads[i])
		if t == nil {
			continue
		}
		if t.NativeID != 0 {
			byTID[t.NativeID] = t
		} else {
			orphans = append(orphans, t)
		}
	}
	var rows []threadRow
	for _, ot := range s.prog.OSThreads() {
		r := threadRow{tid: ot.TID, os: ot.Comm, py: byTID[ot.TID]}
		delete(byTID, ot.TID)
		rows = append(rows, r)
	}
	var rest []*model.Thread
	for _, t := range byTID {
		rest = append(rest, t)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].NativeID < rest[j].NativeID })
	for _, t := range append(rest, orphans...) {
		rows = append(rows, threadRow{tid: t.NativeID, py: t})
	}
	for i := range rows {
		k := threadKey{tid: rows[i].tid}
		if k.tid == 0 && rows[i].py != nil {
			k.id = rows[i].py.ThreadID
		}
		n, ok := s.nums[k]
		if !ok {
			n = s.next
			s.next++
			s.nums[k] = n
		}
		rows[i].num, rows[i].inf = n, s.inf
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].num < rows[j].num })
	return rows
}

// allThreads lists the threads of every inferior, by inferior, as gdb's
// info threads and thread apply all do.
func (s *Session) allThreads() []threadRow {
	cur := s.inf
	defer s.use(cur)
	var rows []threadRow
	for _, inf := range s.infs {
		if inf.gone {
			continue
		}
		s.use(inf)
		rows = append(rows, s.threadList()...)
	}
	return rows
}

func (s *Session) current() (threadRow, bool) {
	for _, r := range s.threadList() {
		if r.num == s.thread {
			return r, true
		}
	}
	return threadRow{}, false
}

// selectInitial picks the crashing thread of a core, else the main thread.
func (s *Session) selectInitial() {
	rows := s.threadList()
	if len(rows) == 0 {
		return
	}
	s.thread = rows[0].num
	want := 0
	if c := s.crash(); c != nil {
		want = c.TID
	}
	for _, r := range rows {
		if (want != 0 && r.tid == want) || (want == 0 && r.py != nil && r.py.IsMain) {
			s.thread = r.num
			break
		}
	}
	s.frame = 0
}

// curFrame returns the current thread's current Python frame.
func (s *Session) curFrame() (threadRow, *model.Frame, error) {
	r, err := s.pyFrames()
	if err != nil {
		return r, nil, err
	}
	if len(r.py.Frames) == 0 {
		return r, nil, fmt.Errorf("thread %d has no Python frames", r.num)
	}
	if s.frame >= len(r.py.Frames) {
		s.frame = len(r.py.Frames) - 1
	}
	return r, &r.py.Frames[s.frame], nil
}

func (s *Session) values() (*cpython.Values, error) {
	v := s.prog.Values()
	if v == nil {
		if r, ok := s.prog.(Runner); ok && r.Exited(false) {
			return nil, fmt.Errorf("process %d has exited: its values went with it (py-bt, py-list and info threads show its last snapshot)", s.prog.PID())
		}
		return nil, ErrRunning
	}
	return v, nil
}

// sourceLines returns the lines of file, warning (once per file) when it
// changed after the program started.
func (s *Session) sourceLines(file string) ([]string, error) {
	src := s.prog.Sources()
	lines, err := src.Lines(file)
	if err != nil {
		return nil, s.noSource(file, err)
	}
	if !s.warned[file] {
		epoch, what := s.prog.SourceEpoch()
		if mt, changed := src.ChangedAfter(file, epoch); changed {
			s.warned[file] = true
			s.printf("warning: %s\n", report.SourceChanged(file, what, mt, epoch))
		}
	}
	return lines, nil
}

func (s *Session) noSource(file string, err error) error {
	var ns *source.ErrNoSource
	switch {
	case strings.HasPrefix(file, "<frozen "):
		return fmt.Errorf("no source for %s: a frozen module, compiled into the interpreter", report.Name(file))
	case strings.HasPrefix(file, "<"):
		return fmt.Errorf("no source for %s: the code was not loaded from a file (exec, eval, or input typed at a prompt)", report.Name(file))
	case errors.As(err, &ns):
		return fmt.Errorf("no source for %s: not a regular file", report.Name(file))
	}
	via := fmt.Sprintf("through /proc/%d/root", s.prog.PID())
	if _, live := s.prog.(Runner); !live {
		via = "(give the machine's root with --sysroot)"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read %s %s: %v", report.Name(file), via, err)
}

// pythonView is a thread with its Python frames only (a snapshot with
// native stacks merged holds native frames too); nil for a thread
// without Python state.
func pythonView(t *model.Thread) *model.Thread {
	if t.Python != nil && !*t.Python {
		return nil
	}
	mixed := false
	for _, f := range t.Frames {
		mixed = mixed || (f.Kind != "python" && f.Kind != "")
	}
	if !mixed {
		return t
	}
	c := *t
	c.Frames = nil
	for _, f := range t.Frames {
		if f.Kind == "python" || f.Kind == "" {
			c.Frames = append(c.Frames, f)
		}
	}
	return &c
}
