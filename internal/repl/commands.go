package repl

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/redact"
	"pyscope/internal/report"
	"pyscope/internal/target"
)

type command struct {
	name    string
	aliases []string
	usage   string
	summary string
	help    string
	run     func(s *Session, args string) error
	// complete lists candidates for the argument word being typed.
	complete func(s *Session, word string) []string
}

var commands []*command

func init() {
	commands = []*command{
		{name: "help", aliases: []string{"h"}, usage: "help [COMMAND]", summary: "list the commands, or explain one",
			run: cmdHelp, complete: func(s *Session, w string) []string { return commandNames(w) }},
		{name: "info", aliases: []string{"i"}, usage: "info threads|frame|args|locals|tasks|greenlets|sharedlibrary|signal|locks|inferiors",
			summary: "threads, the selected frame, its arguments or locals, asyncio tasks, greenlets, mapped libraries, a core's fatal signal, locks and deadlocks, or the processes debugged",
			help: `info threads        list the threads; * marks the current one. Threads
                    created by C code show without Python state. With
                    several inferiors, every inferior's, numbered
                    INFERIOR.N.
info tasks          list the asyncio tasks of every event loop: state, the
                    thread running its loop, its innermost coroutine frame;
                    * marks the selected one (see "help task").
info greenlets      list the greenlets (greenlet, gevent, eventlet): state,
                    thread, parent, innermost frame; * marks the selected
                    one (see "help greenlet").
info sharedlibrary  each mapped file with its address range, build-id, and
                    whether symbols and debug info were found (alias: info shared).
info signal         for a core: the signal that killed the process and the
                    faulting address.
info locks          deadlocks, then what each thread waits for (a lock, a
                    condition, a queue, another thread, the GIL), who holds
                    it, and what each thread holds.
info frame          the selected Python frame: its level, function,
                    file:line, the interpreter frame's and code object's
                    addresses, the frames it calls and is called by, its
                    arguments; on a thread without Python state, its
                    innermost native frame, as gdb's.
info args           the selected frame's arguments (co_argcount, keyword-
                    only, *args, **kwargs), as gdb's.
info locals         the current frame's variables, as py-locals.
info inferiors      the processes this session debugs (debug --subprocesses
                    holds a process and its Python descendants); * marks
                    the current one.
A subcommand may be abbreviated (info thr); one that fits several, such as
info lo (locals, locks), is refused with their names, as in gdb.`,
			run: cmdInfo, complete: func(s *Session, w string) []string {
				return prefixed(infoNames(), w)
			}},
		{name: "greenlet", usage: "greenlet [N]", summary: "select greenlet N (see info greenlets): py-bt, py-up, py-locals, py-print then work on its frames",
			help: `Without N, shows the selected greenlet. "thread N" goes back to a thread's frames.`,
			run:  cmdGreenlet, complete: completeGreenlets},
		{name: "inferior", usage: "inferior [N]", summary: "switch to inferior N (see info inferiors): its threads, frames and values",
			help: `Without N, shows the current inferior. Each inferior keeps its thread
numbers and the thread and frame selected in it; "thread N.M" switches to
thread M of inferior N. continue, interrupt and detach act on the current
inferior; quit detaches from all.`,
			run: cmdInferior, complete: completeInferiors},
		{name: "task", usage: "task [N]", summary: "select asyncio task N (see info tasks): py-bt, py-up, py-locals, py-print then work on its coroutine frames",
			help: `Without N, shows the selected task. "thread N" goes back to a thread's frames.`,
			run:  cmdTask, complete: completeTasks},
		{name: "thread", aliases: []string{"t"}, usage: "thread [N]", summary: "switch to thread N; thread apply all|N... CMD runs CMD in each",
			help: `thread           show the current thread
thread N         switch to thread N and select its innermost Python frame
thread apply all [-ascending] [-q] [-s | -c] COMMAND
thread apply LIST [-q] [-s | -c] COMMAND
                 run COMMAND in each thread, e.g. thread apply all py-bt.
                 all goes from the highest thread number down (-ascending
                 reverses); LIST is thread numbers and ranges: 1 3 5-7.
                 -q leaves out the thread headings; -s skips threads where
                 COMMAND fails or prints nothing; -c prints errors and goes
                 on (by default the first error stops). The current thread
                 and frame stay selected.`,
			run: cmdThread, complete: completeThreads},
		{name: "taas", usage: "taas COMMAND", summary: "thread apply all -s COMMAND: run COMMAND in every thread where it works",
			run: cmdTaas, complete: func(s *Session, w string) []string { return commandNames(w) }},
		{name: "bt", aliases: []string{"backtrace", "where"}, usage: "bt [full] [N | -N]", summary: "native backtrace of the current thread, with its Python frames",
			help: `Unwinds the native stack (CFI from the binaries; symbols and DWARF where
found) and shows the Python frames each interpreter loop frame runs. Without
native frames (no registers, or the target is running), shows the Python ones.
bt N shows the innermost N frames, bt -N the outermost N, as gdb's. #0 is the
innermost frame. Where the unwind stopped early (no unwind info), a line says
so after its last frame, and the Python frames follow in call order; stacks
that cannot be paired show the native frames, then the Python ones apart.
bt full adds each Python frame's locals under it, as py-locals prints them
(gdb's bt full shows C frames' locals; pyscope reads no C variables, so
native frames have none).`,
			run: cmdBt},
		{name: "py-bt", aliases: []string{"pbt"}, usage: "py-bt", summary: "Python backtrace of the current thread", run: cmdPyBt},
		{name: "py-bt-full", aliases: []string{"pbtf"}, usage: "py-bt-full", summary: "Python backtrace with each frame's locals",
			help: `Each frame is numbered #N (py-frame N selects it) and followed by its
locals. Unlike py-bt, a deep recursion is folded only where the frames'
locals are identical too: frames that differ in an argument are all shown.`,
			run: cmdPyBtFull},
		{name: "py-list", aliases: []string{"l", "list"}, usage: "py-list [N | A,B | -]",
			summary: "source around the current line (marked with >)",
			help: `py-list      lines around the current line of the current frame
py-list N    ten lines centred on line N (N-5 to N+4), as gdb's list N
py-list A,B  lines A to B
py-list -    the ten lines before those last listed
At the terminal, Enter after py-list (with or without N or A,B) lists the
next ten lines, as gdb's list; Enter after py-list - the ten before;
Enter repeats most other commands too (py-up climbs on).
Source is read as the target sees it: through /proc/PID/root for a live
process, through --sysroot for a core.`,
			run: cmdPyList},
		{name: "py-up", aliases: []string{"up", "u"}, usage: "py-up [N]", summary: "select an older (calling) Python frame", run: cmdPyUp},
		{name: "py-down", aliases: []string{"down", "d"}, usage: "py-down [N]", summary: "select a newer (called) Python frame", run: cmdPyDown},
		{name: "py-frame", aliases: []string{"frame", "f"}, usage: "py-frame [N | level N | function NAME]", summary: "select Python frame N (0 is the innermost)",
			help: `py-frame N               select frame N (0 is the innermost), as py-bt-full numbers them
py-frame level N         the same, as gdb's frame level N
py-frame function NAME   the innermost frame running NAME, a qualified name
                         (Worker.run) or a plain one (run), as gdb's frame function`,
			run: cmdPyFrame, complete: completeFrames},
		{name: "py-locals", aliases: []string{"locals"}, usage: "py-locals", summary: "locals of the current frame",
			help: `The frame's variables as frame.f_locals shows them (a module-level frame's
are its globals), plus unbound ones, printed as dump --locals prints them.
A frame without variables prints "No locals.", as gdb's info locals (info
args: "No arguments."); so do py-bt-full and bt full under such a frame.`,
			run: cmdPyLocals},
		{name: "py-print", aliases: []string{"p", "print"}, usage: "py-print EXPR", summary: "print a value: name, attribute, index and key accesses",
			help: `EXPR is a name, looked up in the frame's locals, then globals, then
builtins, followed by accesses: .attr, [index] (negative counts from the
end) and [key] with a str, bytes, int, None, True or False key, of a list,
tuple, dict, bytes or bytearray (an item of which is an int, as in Python);
obj.__dict__ is an instance's (or a module's) attribute dict, however the
target keeps it:
    py-print self.queue[0].priority
    py-print d["key"]
    py-print items[-1]
    py-print self.__dict__
Nothing runs in the target: properties and __getattr__ are not called.
Output is bounded as in dump --locals: see "help set".`,
			run: cmdPyPrint, complete: completeNames},
		{name: "set", usage: "set print SETTING N",
			summary: "limits of printed values",
			help: `set print elements N    items of a container shown
set print characters N  characters of a str (bytes, digits of an int) shown
set print depth N       nesting of containers shown
set print repr N        characters of one value, "…(+M chars)" included
0 means unlimited. The defaults are those of dump --locals: 20, 120, 4, 400.`,
			run:      cmdSet,
			complete: func(s *Session, w string) []string { return prefixed([]string{"print"}, w) }},
		{name: "continue", aliases: []string{"c", "cont"}, usage: "continue", summary: "resume the process (live only)",
			help: "The session keeps the last snapshot on view; `interrupt` stops the process again.", run: cmdContinue},
		{name: "refresh", aliases: []string{"interrupt"}, usage: "refresh", summary: "stop the process (again) and take a new snapshot", run: cmdRefresh},
		{name: "echo", usage: "echo TEXT", summary: "print TEXT (for scripts), as gdb does: C escapes such as \\n, no newline unless written",
			run: func(s *Session, args string) error { s.printf("%s", unescapeEcho(args)); return nil }},
		{name: "detach", usage: "detach", summary: "resume the process and leave it (the session, when it was the last one); on a core, close it as gdb does", run: cmdDetach},
		{name: "quit", aliases: []string{"q", "exit"}, usage: "quit", summary: "leave the session (a live process is resumed)", run: cmdQuit},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
		for _, a := range c.aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

func commandNames(prefix string) []string {
	var out []string
	for _, c := range commands {
		for _, n := range append([]string{c.name}, c.aliases...) {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

func prefixed(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

func cmdHelp(s *Session, args string) error {
	if args == "" {
		s.printf("Commands (aliases in brackets):\n")
		var left []string
		width := 0
		for _, c := range commands {
			l := c.usage
			if len(c.aliases) > 0 {
				l += " [" + strings.Join(c.aliases, ", ") + "]"
			}
			left = append(left, l)
			width = max(width, len(l))
		}
		for i, c := range commands {
			s.printf("  %-*s  %s\n", width, left[i], c.summary)
		}
		s.printf("Type \"help COMMAND\" for more.\n")
		return nil
	}
	c := lookup(strings.Fields(args)[0])
	if c == nil {
		return fmt.Errorf("undefined command: %q. Try \"help\".", args)
	}
	s.printf("%s — %s\n", c.usage, c.summary)
	if len(c.aliases) > 0 {
		s.printf("Aliases: %s\n", strings.Join(c.aliases, ", "))
	}
	if c.help != "" {
		s.printf("%s\n", c.help)
	}
	return nil
}

// infoSub is one info subcommand; aliases are other full names for it.
type infoSub struct {
	name    string
	aliases []string
	run     func(s *Session) error
}

// infoSubs in the order help and completion list them.
var infoSubs = []infoSub{
	{name: "threads", run: infoThreads},
	{name: "frame", run: infoFrame},
	{name: "args", run: infoArgs},
	// gdb's info locals: what gdb users type first.
	{name: "locals", run: func(s *Session) error { return cmdPyLocals(s, "") }},
	{name: "tasks", run: infoTasks},
	{name: "greenlets", run: infoGreenlets},
	{name: "sharedlibrary", aliases: []string{"shared"}, run: infoShared},
	{name: "signal", aliases: []string{"signals"}, run: infoSignal},
	{name: "locks", run: infoLocks},
	{name: "inferiors", run: infoInferiors},
}

func infoNames() []string {
	var out []string
	for _, c := range infoSubs {
		out = append(out, c.name)
	}
	return out
}

// infoLookup finds the info subcommand sub names or abbreviates. As in gdb,
// an abbreviation that fits several is refused with their names rather
// than taken as one of them.
func infoLookup(sub string) (*infoSub, error) {
	var fits []string
	var fit *infoSub
	for i := range infoSubs {
		c := &infoSubs[i]
		for _, n := range append([]string{c.name}, c.aliases...) {
			if n == sub {
				return c, nil
			}
		}
		if strings.HasPrefix(c.name, sub) {
			fits = append(fits, c.name)
			fit = c
		}
	}
	switch len(fits) {
	case 0:
		return nil, fmt.Errorf("undefined info command: %q. Try \"help info\".", sub)
	case 1:
		return fit, nil
	}
	sort.Strings(fits)
	return nil, fmt.Errorf("ambiguous info command %q: %s. Try \"help info\".", sub, strings.Join(fits, ", "))
}

func cmdInfo(s *Session, args string) error {
	sub, _, _ := strings.Cut(args, " ")
	if sub == "" {
		names := infoNames()
		return fmt.Errorf(`"info" needs a subcommand: %s or %s`, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	}
	c, err := infoLookup(sub)
	if err != nil {
		return err
	}
	return c.run(s)
}

func threadLabel(r threadRow) string {
	switch {
	case r.py != nil && r.py.Name != nil:
		return report.Name(*r.py.Name)
	case r.os != "":
		return "[os: " + report.Safe(r.os) + "]"
	}
	return "?"
}

func frameShort(f model.Frame) string {
	return fmt.Sprintf("%s (%s:%d)", report.Name(qualname(f)), report.Name(f.File), f.Line)
}

func qualname(f model.Frame) string {
	if f.Qualname != "" {
		return f.Qualname
	}
	return f.Function
}

// maxNameWidth bounds the Name column of info threads: a longer name is
// cut (with …) rather than pushing the frames out of line.
const maxNameWidth = 32

// nameColumn fits a thread label to the column's display width.
func nameColumn(label string, width int) string {
	if runewidth.StringWidth(label) > width {
		label = runewidth.Truncate(label, width, "…")
	}
	return label + strings.Repeat(" ", width-runewidth.StringWidth(label))
}

func infoThreads(s *Session) error {
	rows := s.threadList()
	if len(s.infs) > 1 {
		rows = s.allThreads()
	}
	width, idWidth := len("Name"), len("Id")
	for _, r := range rows {
		width = max(width, min(runewidth.StringWidth(threadLabel(r)), maxNameWidth))
		idWidth = max(idWidth, len(r.id(s)))
	}
	idWidth = max(idWidth, 4)
	s.printf("  %-*s %-8s %s %s\n", idWidth, "Id", "TID", nameColumn("Name", width), "Python frame")
	running := map[*inferior]bool{}
	for _, r := range rows {
		mark := " "
		if r.inf == s.inf && r.num == s.thread {
			mark = "*"
		}
		where := "(no Python state)"
		var tags []string
		if r.py != nil {
			where = "(no Python frames)"
			if len(r.py.Frames) > 0 {
				where = frameShort(r.py.Frames[0])
			}
			if r.py.IsMain {
				tags = append(tags, "main")
			}
			if r.py.HoldsGIL {
				tags = append(tags, "holds GIL")
			}
			if r.py.State != "" {
				tags = append(tags, r.py.State)
			}
			if r.py.Interpreter != 0 {
				tags = append(tags, fmt.Sprintf("interpreter %d", r.py.Interpreter))
			}
		}
		if c := crashOf(r.inf.prog); c != nil && c.TID == r.tid && r.tid != 0 {
			tags = append(tags, "received "+c.SignalName)
		}
		tag := ""
		if len(tags) > 0 {
			tag = " [" + strings.Join(tags, ", ") + "]"
		}
		tid := "?"
		if r.tid != 0 {
			tid = strconv.Itoa(r.tid)
		}
		s.printf("%s %-*s %-8s %s %s%s\n", mark, idWidth, r.id(s), tid, nameColumn(threadLabel(r), width), where, tag)
		running[r.inf] = true
	}
	for _, inf := range s.infs {
		if st := stateOf(inf.prog); !running[inf] || (st != "running" && st != "exited") {
			continue
		} else if st == "exited" {
			s.printf("(process %d has exited: this is the snapshot of its last stop)\n", inf.prog.PID())
		} else if len(s.infs) > 1 {
			s.printf("(process %d is running: this is the snapshot of its last stop)\n", inf.prog.PID())
		} else {
			s.printf("(the process is running: this is the snapshot of the last stop)\n")
		}
	}
	return nil
}

func infoShared(s *Session) error {
	n := s.prog.Native()
	if n == nil {
		if stateOf(s.prog) == "exited" {
			return fmt.Errorf("process %d has exited: its libraries are unmapped", s.prog.PID())
		}
		return errors.New("the process is running: `interrupt` first")
	}
	mods := n.Modules()
	s.printf("%-18s %-18s %-4s %-5s %-40s %s\n", "From", "To", "Syms", "Debug", "Build-id", "Library")
	for _, m := range mods {
		yn := func(b bool) string {
			if b {
				return "Yes"
			}
			return "No"
		}
		bid := m.BuildID
		if bid == "" {
			bid = "-"
		}
		s.printf("0x%016x 0x%016x %-4s %-5s %-40s %s", m.Start, m.End, yn(m.HasSymbols), yn(m.HasDebugInfo), bid, report.Safe(m.Path))
		if m.DebugFile != "" && m.DebugFile != m.Path {
			s.printf(" (debug: %s)", report.Safe(m.DebugFile))
		}
		s.printf("\n")
	}
	return nil
}

func infoSignal(s *Session) error {
	pm, ok := s.prog.(target.CrashReader)
	if !ok {
		return errors.New("info signal is for cores: a live process has not received a fatal signal")
	}
	c := pm.Crash()
	if c == nil {
		s.printf("The core was not written because of a signal (it was taken from a running process).\n")
		return nil
	}
	s.printf("Program terminated with signal %s, %s.\n", c.SignalName, syscall.Signal(c.Signal).String())
	s.printf("si_code %d", c.Code)
	if c.Addr != 0 || c.SignalName == "SIGSEGV" || c.SignalName == "SIGBUS" {
		s.printf(", faulting address %#x", c.Addr)
	}
	s.printf(", in TID %d", c.TID)
	for _, r := range s.threadList() {
		if r.tid == c.TID {
			s.printf(" (thread %d, %s)", r.num, threadLabel(r))
		}
	}
	s.printf(".\n")
	return nil
}

func completeThreads(s *Session, w string) []string {
	var out []string
	rows := s.threadList()
	if len(s.infs) > 1 {
		rows = s.allThreads()
	}
	for _, r := range rows {
		out = append(out, r.id(s))
	}
	return prefixed(append(out, "apply"), w)
}

func completeInferiors(s *Session, w string) []string {
	var out []string
	for _, inf := range s.infs {
		if !inf.gone {
			out = append(out, strconv.Itoa(inf.num))
		}
	}
	return prefixed(out, w)
}

func completeFrames(s *Session, w string) []string {
	r, ok := s.current()
	if !ok || r.py == nil {
		return nil
	}
	var out []string
	for i := range r.py.Frames {
		out = append(out, strconv.Itoa(i))
	}
	return prefixed(append(out, "function", "level"), w)
}

func cmdThread(s *Session, args string) error {
	if w, rest := nextWord(args); w == "apply" {
		return cmdThreadApply(s, rest)
	}
	if args == "" {
		r, ok := s.current()
		if !ok {
			return errors.New("no thread selected")
		}
		s.printf("[Current thread is %s (TID %d) %s]\n", r.id(s), r.tid, threadLabel(r))
		return nil
	}
	inf, n, err := s.threadID(args)
	if err != nil {
		return err
	}
	prev := s.inf
	s.use(inf)
	for _, r := range s.threadList() {
		if r.num == n {
			s.use(prev)
			s.switchTo(inf)
			s.thread, s.frame, s.task, s.glet = n, 0, 0, 0
			s.printf("[Switching to thread %s (TID %d) %s]\n", r.id(s), r.tid, threadLabel(r))
			if r.py != nil && len(r.py.Frames) > 0 {
				s.printFrame(0, r.py.Frames[0])
			} else if r.py == nil {
				s.printf("(no Python state: use `bt` for its native stack)\n")
			}
			return nil
		}
	}
	s.use(prev)
	return fmt.Errorf("unknown thread %s: see `info threads`", args)
}

// printFrame shows a selected frame like py-up does: location and line.
func (s *Session) printFrame(i int, f model.Frame) {
	s.printf("#%d File \"%s\", line %d, in %s\n", i, report.Name(f.File), f.Line, report.Name(qualname(f)))
	s.printSourceLine(f)
}

// printSourceLine shows the frame's current line, when its source is
// there, with markers under the running expression as tracebacks show it.
func (s *Session) printSourceLine(f model.Frame) {
	if lines, err := s.sourceLines(f.File); err == nil && f.Line >= 1 && f.Line <= len(lines) {
		line := func(n int) (string, bool) {
			if n < 1 || n > len(lines) {
				return "", false
			}
			return lines[n-1], true
		}
		text, marks := report.SourceLine(lines[f.Line-1], report.FocusOf(f), report.FocusEndOf(f),
			report.Carets(s.prog.Snapshot().Python.Version, f, line))
		s.printf("    %s\n", text)
		if marks != "" {
			s.printf("    %s\n", marks)
		}
	}
}

func (s *Session) pyThread() (threadRow, error) {
	r, ok := s.current()
	if !ok {
		return r, errors.New("no thread selected")
	}
	if r.py == nil {
		return r, fmt.Errorf("thread %d (TID %d) has no Python state: it was created by C code, or is not running Python (see `bt`)", r.num, r.tid)
	}
	return r, nil
}

func (s *Session) traceback(full bool) error {
	if r, ok := s.current(); ok && s.task == 0 && s.glet == 0 && r.py == nil {
		// As gdb's py-bt ("Unable to locate python frame"): a message, so
		// that thread apply all py-bt goes through C threads.
		s.printf("(no Python state: thread %d was created by C code, or is not running Python; see `bt`)\n", r.num)
		return nil
	}
	r, err := s.pyFrames()
	if err != nil {
		return err
	}
	if len(r.py.Frames) == 0 {
		s.printf("(no Python frames)\n")
		return nil
	}
	var v *cpython.Values
	if full {
		if v, err = s.values(); err != nil {
			return err
		}
	}
	// Warnings that a file changed after the process started come first,
	// once per file, rather than inside the traceback.
	for _, f := range r.py.Frames {
		s.sourceLines(f.File)
	}
	s.printf("Traceback (most recent call first):\n")
	// With full, each frame's variables, read once: a frame is folded only
	// when its variables are those of the frame before it too.
	var vars [][]string
	var same func(a, b int) bool
	if full {
		vars = make([][]string, len(r.py.Frames))
		for i, f := range r.py.Frames {
			if s.interrupt.Load() {
				return errors.New("Quit")
			}
			locals, err := v.Locals(f)
			vars[i] = s.varLines(v, locals, err, noLocals)
		}
		same = func(a, b int) bool { return slices.Equal(vars[a], vars[b]) }
	}
	// Deep recursion folded as a traceback and dump fold it (the numbers
	// of py-bt full stay each frame's own, for py-frame N).
	quit := false
	report.FoldBy(r.py.Frames, same, func(i int) {
		if quit = quit || s.interrupt.Load(); quit {
			return
		}
		f := r.py.Frames[i]
		if full {
			s.printf("#%d ", i)
		}
		s.printf("  File \"%s\", line %d, in %s\n", report.Name(f.File), f.Line, report.Name(qualname(f)))
		s.printSourceLine(f)
		if full {
			for _, l := range vars[i] {
				s.printf("        %s\n", l)
			}
		}
	}, func(period, n int) {
		if !quit {
			s.printf("  %s\n", report.Repeated(period, n))
		}
	})
	if quit {
		return errors.New("Quit")
	}
	if r.py.Error != "" {
		s.printf("  <the walk stopped early: %s>\n", report.Safe(r.py.Error))
	}
	return nil
}

// What a frame without variables prints, in gdb's words: py-locals, info
// locals, py-bt-full and bt full say noLocals (gdb's info locals and bt
// full), info args noArgs (gdb's info args).
const (
	noLocals = "No locals."
	noArgs   = "No arguments."
)

// varLines is how every command prints a frame's variables, one
// "name = repr" a line, without indentation: a value held under a secret
// name is redacted, a walk that failed says so on a line of its own, and
// none (when not "") stands for no variable at all.
func (s *Session) varLines(v *cpython.Values, vars []cpython.Var, err error, none string) []string {
	var out []string
	for _, x := range vars {
		out = append(out, fmt.Sprintf("%s = %s", report.Name(x.Name), s.reprNamed(v, x.Ref, x.Name)))
	}
	switch {
	case err != nil:
		out = append(out, fmt.Sprintf("<locals unreadable: %s>", report.Safe(err.Error())))
	case len(out) == 0:
		if none != "" {
			out = append(out, none)
		}
	}
	return out
}

// noneUnless is none, or "" when err says the variables could not be
// read: then there is no saying that the frame has none.
func noneUnless(err error, none string) string {
	if err != nil {
		return ""
	}
	return none
}

// reprNamed is repr(ref) within the session's limits, which are those of
// dump --locals unless changed with "set print"; a value held under a
// secret name is redacted, as in dumps.
func (s *Session) reprNamed(v *cpython.Values, ref uint64, name string) string {
	if ref == 0 {
		return "<unbound>"
	}
	return report.Safe(v.ReprNamed(ref, name, s.lim.Budgeted()))
}

func cmdPyBt(s *Session, _ string) error     { return s.traceback(false) }
func cmdPyBtFull(s *Session, _ string) error { return s.traceback(true) }

// btArgs reads bt's arguments, as gdb's: an optional count (N shows the
// innermost N frames, -N the outermost N; 0 is no limit) and the
// qualifier full (or -full), which adds the Python frames' locals.
func btArgs(arg string) (limit int, full bool, err error) {
	for _, w := range strings.Fields(arg) {
		if w == "full" || w == "-full" {
			full = true
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n == 0 || limit != 0 {
			return 0, false, fmt.Errorf("bt takes a frame count and full: bt [full] [N | -N] (innermost N frames, or outermost N), not %q", arg)
		}
		limit = n
	}
	return limit, full, nil
}

func cmdBt(s *Session, arg string) error {
	limit, full, err := btArgs(arg)
	if err != nil {
		return err
	}
	r, ok := s.current()
	if !ok {
		return errors.New("no thread selected")
	}
	n := s.prog.Native()
	if n == nil {
		if stateOf(s.prog) == "exited" {
			s.printf("(no native frames: process %d has exited; Python frames of its last snapshot:)\n", s.prog.PID())
		} else {
			s.printf("(no native frames while the process runs; Python frames of the last snapshot:)\n")
		}
		return s.traceback(full)
	}
	th, err := n.Thread(r.tid)
	if err != nil {
		s.printf("(%s)\n", report.Safe(err.Error()))
		if r.py == nil {
			return nil
		}
		return s.traceback(full)
	}
	// bt full: each Python frame's locals under it, as gdb's bt full
	// shows a C frame's; native frames' C variables are not read.
	var v *cpython.Values
	if full && len(th.Frames)+len(th.NativeFrames) > 0 {
		if v, err = s.values(); err != nil {
			return err
		}
	}
	locals := func(f model.Frame) {
		if v == nil || f.Kind == "native" || s.interrupt.Load() {
			return
		}
		vars, err := v.Locals(f)
		for _, l := range s.varLines(v, vars, err, noLocals) {
			s.printf("        %s\n", l)
		}
	}
	// The frames dump --native shows, merged in call order. When the stacks
	// do not pair up, the native stack is the thread's real one: it is
	// numbered, innermost first as in gdb, and the Python frames follow
	// apart, unnumbered, since nothing places them among the native ones.
	numbered, apart := th.Frames, []model.Frame(nil)
	if len(th.NativeFrames) > 0 {
		numbered, apart = th.NativeFrames, th.Frames
	}
	total := len(numbered)
	first, last := 0, total // the frames shown: [first, last)
	switch {
	case limit > 0:
		last = min(limit, total)
	case limit < 0:
		first = max(0, total+limit)
	}
	for num := first; num < last; num++ {
		f := numbered[num]
		if f.Kind == "native" {
			s.printf("#%-3d %s\n", num, nativeLine(f))
			if f.UnwindStopped {
				s.printf("     %s\n", report.UnwindStoppedNote)
			}
		} else {
			s.printf("#%-3d [Python] %s\n", num, frameShort(f))
			locals(f)
		}
	}
	if total == 0 && len(apart) == 0 {
		s.printf("(no frames)\n")
	}
	if last < total {
		s.printf("(More stack frames follow...)\n")
	}
	for _, w := range th.Warnings {
		s.printf("warning: %s\n", report.Safe(w))
	}
	if len(apart) > 0 {
		s.printf("Python frames, not placed among the native ones (innermost first):\n")
		for _, f := range apart {
			s.printf("     [Python] %s\n", frameShort(f))
			locals(f)
		}
	}
	return nil
}

// nativeLine is a native frame as gdb's bt shows it, with what dump
// --native adds: `0x7f… in take_gil+0x1c (libpython3.11.so.1.0) at
// Python/ceval_gil.c:260`.
func nativeLine(f model.Frame) string {
	if f.Signal {
		return "<signal handler called>"
	}
	name := "??"
	if f.Function != "" {
		name = report.Safe(f.Function)
		if f.Offset != nil && *f.Offset != 0 {
			name += fmt.Sprintf("+%#x", *f.Offset)
		}
	}
	mod := "?"
	if f.Module != "" {
		mod = report.Safe(filepath.Base(f.Module))
	}
	if f.Function == "" && f.Offset != nil {
		mod += fmt.Sprintf("+%#x", *f.Offset)
	}
	var b strings.Builder
	if f.Inlined {
		fmt.Fprintf(&b, "%-18s in %s (%s)", "(inlined)", name, mod)
	} else {
		fmt.Fprintf(&b, "%#016x in %s (%s)", f.Address, name, mod)
	}
	if f.File != "" {
		fmt.Fprintf(&b, " at %s", report.Safe(f.File))
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Line)
		}
	}
	return b.String()
}

func cmdPyList(s *Session, args string) error {
	_, f, err := s.curFrame()
	if err != nil {
		return err
	}
	lineno := f.Line
	start, end := lineno-5, lineno+5
	here := listing{inf: s.inf, file: f.File, thread: s.thread, frame: s.frame, glet: s.glet, task: s.task}
	prev := s.listed
	same := prev.inf == here.inf && prev.file == here.file && prev.thread == here.thread && prev.frame == here.frame && prev.glet == here.glet && prev.task == here.task
	switch {
	case s.repeating && same && args != "-":
		// Enter after py-list, py-list N or py-list A,B: the next ten
		// lines, as gdb's list (not the same ones again).
		start, end = prev.last+1, prev.last+10
		args = ""
	case args == "-":
		// The ten lines before the last listing (or before the lines
		// around the current line), as gdb's list -.
		first := start
		if same {
			first = prev.first
		}
		if first <= 1 {
			return fmt.Errorf("Already at the start of %s.", report.Name(f.File))
		}
		start, end = first-10, first-1
		args = ""
	}
	if args != "" {
		a, b, comma := strings.Cut(args, ",")
		x, err1 := strconv.Atoi(strings.TrimSpace(a))
		if err1 != nil {
			return fmt.Errorf("usage: py-list [N | A,B | -]")
		}
		// gdb's list N: ten lines centred on N (N-5 to N+4), moved on
		// to start at line 1 near the top of the file.
		start = max(x-5, 1)
		end = start + 9
		if comma {
			start = x
			y, err2 := strconv.Atoi(strings.TrimSpace(b))
			if err2 != nil || y < x {
				return fmt.Errorf("usage: py-list [N | A,B] with A <= B")
			}
			end = y
		}
	}
	start = max(start, 1)
	lines, err := s.sourceLines(f.File)
	if err != nil {
		return err
	}
	if start > len(lines) {
		return fmt.Errorf("line %d is past the end of %s (%s)", start, report.Name(f.File), plural(len(lines), "line"))
	}
	end = min(end, len(lines))
	for i := start; i <= end; i++ {
		n := strconv.Itoa(i)
		if i == lineno {
			n = ">" + n
		}
		s.printf("%4s    %s\n", n, report.ListLine(lines[i-1]))
	}
	here.first, here.last = start, end
	s.listed = here
	return nil
}

func countArg(args string) (int, error) {
	if args == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(args)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected a count, got %q", args)
	}
	return n, nil
}

func (s *Session) moveFrame(delta int) error {
	r, _, err := s.curFrame()
	if err != nil {
		return err
	}
	to := s.frame + delta
	switch {
	case to >= len(r.py.Frames):
		if s.frame == len(r.py.Frames)-1 {
			return errors.New("Unable to find an older python frame")
		}
		to = len(r.py.Frames) - 1
	case to < 0:
		if s.frame == 0 {
			return errors.New("Unable to find a newer python frame")
		}
		to = 0
	}
	s.frame = to
	s.printFrame(to, r.py.Frames[to])
	return nil
}

func cmdPyUp(s *Session, args string) error {
	n, err := countArg(args)
	if err != nil {
		return err
	}
	return s.moveFrame(n)
}

func cmdPyDown(s *Session, args string) error {
	n, err := countArg(args)
	if err != nil {
		return err
	}
	return s.moveFrame(-n)
}

func cmdPyFrame(s *Session, args string) error {
	r, f, err := s.curFrame()
	if err != nil {
		return err
	}
	if args == "" {
		s.printFrame(s.frame, *f)
		return nil
	}
	switch w, rest := nextWord(args); w {
	case "function":
		// gdb's frame function NAME: the innermost frame running NAME,
		// by qualified name (Worker.run) or plain name (run).
		if rest == "" {
			return errors.New("usage: frame function NAME")
		}
		for i, fr := range r.py.Frames {
			if fr.Qualname == rest || fr.Function == rest {
				s.frame = i
				s.printFrame(i, fr)
				return nil
			}
		}
		return fmt.Errorf("No frame for function %q.", rest)
	case "level":
		args = rest // gdb's frame level N
	}
	n, err := strconv.Atoi(args)
	if err != nil || n < 0 || n >= len(r.py.Frames) {
		return fmt.Errorf("no frame %q: this thread has frames 0 to %d", args, len(r.py.Frames)-1)
	}
	s.frame = n
	s.printFrame(n, r.py.Frames[n])
	return nil
}

func cmdPyLocals(s *Session, _ string) error {
	_, f, err := s.curFrame()
	if err != nil {
		return err
	}
	v, err := s.values()
	if err != nil {
		return err
	}
	vars, err := v.Locals(*f)
	// A walk that failed is the command's error, not a line of output.
	for _, l := range s.varLines(v, vars, nil, noneUnless(err, noLocals)) {
		s.printf("%s\n", l)
	}
	return err
}

// infoArgs is gdb's info args for the selected Python frame: the
// variables the locals algorithm says are arguments (co_argcount,
// co_kwonlyargcount, *args and **kwargs), in their order.
func infoArgs(s *Session) error {
	_, f, err := s.curFrame()
	if err != nil {
		return err
	}
	v, err := s.values()
	if err != nil {
		return err
	}
	args, err := frameArgs(v, *f)
	for _, l := range s.varLines(v, args, nil, noneUnless(err, noArgs)) {
		s.printf("%s\n", l)
	}
	return err
}

func frameArgs(v *cpython.Values, f model.Frame) ([]cpython.Var, error) {
	vars, err := v.Locals(f)
	var args []cpython.Var
	for _, x := range vars {
		if x.Kind == "arg" {
			args = append(args, x)
		}
	}
	return args, err
}

// infoFrame is gdb's info frame, for the selected Python frame: its
// level, function and line, the addresses of its interpreter frame and
// code object, its neighbours and its arguments. A thread without Python
// state gets its innermost native frame, as briefly as gdb's.
func infoFrame(s *Session) error {
	if r, ok := s.current(); ok && s.task == 0 && s.glet == 0 && r.py == nil {
		return infoNativeFrame(s, r)
	}
	r, f, err := s.curFrame()
	if err != nil {
		return err
	}
	frames := r.py.Frames
	n := s.frame
	at := func(a uint64) string {
		if a == 0 {
			return "an unknown address"
		}
		return fmt.Sprintf("%#x", a)
	}
	s.printf("Stack level %d, Python frame at %s:\n", n, at(f.Addr))
	s.printf(" %s (%s:%d); code object at %s\n", report.Name(qualname(*f)), report.Name(f.File), f.Line, at(f.Code))
	var rel []string
	if n+1 < len(frames) {
		rel = append(rel, fmt.Sprintf("called by frame at %s (#%d %s)", at(frames[n+1].Addr), n+1, report.Name(qualname(frames[n+1]))))
	}
	if n > 0 {
		rel = append(rel, fmt.Sprintf("caller of frame at %s (#%d %s)", at(frames[n-1].Addr), n-1, report.Name(qualname(frames[n-1]))))
	}
	if len(rel) > 0 {
		s.printf(" %s\n", strings.Join(rel, ", "))
	}
	s.printf(" source language python.\n")
	v, err := s.values()
	if err != nil {
		return err
	}
	args, err := frameArgs(v, *f)
	if err != nil {
		s.printf(" args: <unreadable: %s>\n", report.Safe(err.Error()))
		return nil
	}
	var list []string
	for _, x := range args {
		list = append(list, report.Name(x.Name)+"="+s.reprNamed(v, x.Ref, x.Name))
	}
	s.printf(" args: %s\n", strings.Join(list, ", "))
	return nil
}

// infoNativeFrame: a thread created by C code has no Python frame; its
// innermost native frame is shown as gdb's info frame begins.
func infoNativeFrame(s *Session, r threadRow) error {
	n := s.prog.Native()
	if n == nil {
		return fmt.Errorf("thread %d has no Python state, and its native stack is read only while the process is stopped", r.num)
	}
	th, err := n.Thread(r.tid)
	if err != nil {
		return err
	}
	if len(th.Frames) == 0 {
		return errors.New("No stack.")
	}
	f := th.Frames[0]
	s.printf("Stack level 0, native frame (thread %d has no Python state):\n", r.num)
	s.printf(" rip = %s", nativeLine(f))
	switch {
	case f.Inlined:
		s.printf("; inlined into frame 1")
	case len(th.Frames) > 1 && th.Frames[1].Kind == "native":
		s.printf("; saved rip = %#x", th.Frames[1].Address) // a caller's PC is its return address
	}
	s.printf("\n")
	if len(th.Frames) > 1 {
		s.printf(" called by frame #1: %s\n", nativeLine(th.Frames[1]))
	}
	s.printf(" source language c.\n")
	return nil
}

// resolveName finds a name in locals, then globals, then builtins.
func (s *Session) resolveName(v *cpython.Values, f model.Frame, name string) (uint64, string, error) {
	var errs []string
	for _, scope := range []struct {
		kind string
		get  func(model.Frame) ([]cpython.Var, error)
	}{{"local", v.Locals}, {"global", v.Globals}, {"builtin", v.Builtins}} {
		vars, err := scope.get(f)
		for _, x := range vars {
			if x.Name == name {
				if x.Ref == 0 {
					return 0, scope.kind, fmt.Errorf("%s %q is unbound (not assigned yet, or deleted)", scope.kind, name)
				}
				return x.Ref, scope.kind, nil
			}
		}
		if err != nil {
			errs = append(errs, scope.kind+"s: "+err.Error())
		}
	}
	msg := fmt.Sprintf("no symbol %q in current context", name)
	if len(errs) > 0 {
		msg += " (" + strings.Join(errs, "; ") + ")"
	}
	return 0, "", errors.New(msg)
}

// eval evaluates e; steps are its path, for redaction.
func (s *Session) eval(e Expr) (ref uint64, scope string, steps []cpython.PathStep, err error) {
	_, f, err := s.curFrame()
	if err != nil {
		return 0, "", nil, err
	}
	v, err := s.values()
	if err != nil {
		return 0, "", nil, err
	}
	ref, scope, err = s.resolveName(v, *f, e.Name)
	if err != nil {
		return 0, "", nil, err
	}
	steps = []cpython.PathStep{{Name: e.Name}}
	path := e.Name
	for _, op := range e.Ops {
		from := ref
		if op.Kind == OpAttr {
			ref, err = v.Attr(ref, op.Attr)
			path += "." + op.Attr
			steps = append(steps, cpython.PathStep{Name: op.Attr, From: from})
		} else {
			ref, err = v.Item(ref, op.Key)
			path += "[" + op.Key.String() + "]"
			key := op.Key
			steps = append(steps, cpython.PathStep{Key: &key, From: from})
		}
		if err != nil {
			return 0, "", nil, fmt.Errorf("%s: %v", report.Safe(path), err)
		}
		if ref == 0 {
			return 0, "", nil, fmt.Errorf("%s: NULL", report.Safe(path))
		}
	}
	return ref, scope, steps, nil
}

func cmdPyPrint(s *Session, args string) error {
	if args == "" {
		return errors.New("usage: py-print EXPR (see help py-print)")
	}
	e, err := ParseExpr(args)
	if err != nil {
		return fmt.Errorf("cannot parse %q: %v", args, err)
	}
	ref, scope, steps, err := s.eval(e)
	if err != nil {
		return err
	}
	v, _ := s.values()
	shown := redact.Marker
	if !v.PathRedacted(steps) {
		last := steps[len(steps)-1]
		name := last.Name
		if last.Key != nil && (last.Key.Kind == cpython.KeyStr || last.Key.Kind == cpython.KeyBytes) {
			name = last.Key.Str
		}
		shown = s.reprNamed(v, ref, name)
	}
	if len(e.Ops) == 0 {
		s.printf("%s '%s' = %s\n", scope, report.Safe(e.Name), shown)
	} else {
		s.printf("%s %s = %s\n", scope, report.Safe(e.String()), shown)
	}
	return nil
}

func cmdSet(s *Session, args string) error {
	f := strings.Fields(args)
	if len(f) != 3 || f[0] != "print" {
		return errors.New("usage: set print elements|characters|depth|repr N")
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n < 0 {
		return fmt.Errorf("expected a number, got %q", f[2])
	}
	if n == 0 {
		n = math.MaxInt32 // as in gdb: unlimited (within pyscope's own bounds)
	}
	switch f[1] {
	case "elements":
		s.lim.MaxItems = n
	case "characters":
		s.lim.MaxString = n
	case "depth":
		s.lim.MaxDepth = n
	case "repr":
		s.lim.MaxRepr = n
	default:
		return fmt.Errorf("unknown print setting %q: elements, characters, depth or repr", f[1])
	}
	return nil
}

func cmdContinue(s *Session, _ string) error {
	r, live := s.prog.(Runner)
	if !live {
		return errors.New("a core cannot run: it is a picture of a dead process")
	}
	jobStopped, err := r.Continue()
	if err != nil {
		return err
	}
	if jobStopped {
		s.printf("Continuing: process %d stays stopped, as it was before the session: a signal (SIGSTOP, ^Z) stopped it, and `kill -CONT %d` resumes it. `interrupt` takes a new snapshot.\n", s.prog.PID(), s.prog.PID())
		return nil
	}
	s.printf("Continuing: process %d runs. `interrupt` stops it and takes a new snapshot; until then the last one stays on view.\n", s.prog.PID())
	return nil
}

func cmdRefresh(s *Session, _ string) error {
	r, live := s.prog.(Runner)
	if !live {
		return errors.New("a core does not change: nothing to refresh")
	}
	prev := s.thread
	prevTask, hadTask := tasks.current(s)
	prevGlet, hadGlet := greenlets.current(s)
	if err := r.Refresh(); err != nil {
		if r.Exited(false) {
			return err
		}
		return fmt.Errorf("cannot stop process %d: %v", s.prog.PID(), err)
	}
	s.frame = 0
	_, ok := s.current()
	if !ok || prev == 0 {
		s.selectInitial()
	}
	s.printf("Process %d stopped: new snapshot of %s.\n", s.prog.PID(), plural(len(s.prog.OSThreads()), "thread"))
	if r, now := s.current(); !ok && prev != 0 && now {
		// As gdb does: the thread selected before exited meanwhile; the
		// commands that follow work on another one.
		s.printf("[Thread %d exited; switching to thread %s (TID %d) %s]\n", prev, r.id(s), r.tid, threadLabel(r))
	}
	// Likewise for the selected task (finished) or greenlet (freed): the
	// frame commands go back to the thread's frames.
	tasks.left(s, prevTask, hadTask, "finished")
	greenlets.left(s, prevGlet, hadGlet, "was freed")
	return nil
}

func cmdQuit(s *Session, _ string) error {
	s.quit = true
	for _, inf := range s.infs {
		r, live := inf.prog.(Runner)
		if !live || inf.gone {
			continue
		}
		if err := inf.prog.Close(); err != nil {
			return err
		}
		if !r.Exited(false) {
			s.printf("Detached from process %d: it runs on.\n", inf.prog.PID())
		}
	}
	return nil
}

// cmdDetach leaves the current inferior; with others left, the session
// goes on with them, as gdb's detach.
//
// On a core it does what gdb's does: the core file is closed ("No core
// file now.") and, when it was the last program, the session goes on
// without one, so that the commands after it run (and say there is no
// stack) rather than being dropped without a word; quit leaves.
func cmdDetach(s *Session, args string) error {
	if s.noProgram() {
		return errors.New("The program is not being run.")
	}
	if _, live := s.inf.prog.(Runner); !live {
		if err := s.inf.prog.Close(); err != nil {
			return err
		}
		s.inf.gone = true
		s.printf("No core file now.\n")
		for _, next := range s.infs {
			if !next.gone {
				s.switchTo(next)
				break
			}
		}
		return nil
	}
	left := 0
	for _, inf := range s.infs {
		if !inf.gone {
			left++
		}
	}
	if left > 1 {
		return s.detachCurrent()
	}
	return cmdQuit(s, args)
}

// complete is the line editor's completer: command names first, then the
// arguments the command takes.
func (s *Session) complete(line string, pos int) (string, []string, string) {
	defer func() { recover() }() // a completion bug must not end the session
	if pos > len(line) {
		pos = len(line)
	}
	head, tail := line[:pos], line[pos:]
	sp := strings.LastIndexAny(head, " \t")
	if sp < 0 || strings.TrimSpace(head[:sp]) == "" {
		lead := head[:len(head)-len(strings.TrimLeft(head, " \t"))]
		var out []string
		for _, n := range commandNames(strings.TrimSpace(head)) {
			out = append(out, n+" ")
		}
		return lead, out, tail
	}
	first := strings.Fields(head)[0]
	c := lookup(first)
	if c == nil || c.complete == nil {
		return head, nil, tail
	}
	word := head[sp+1:]
	return head[:sp+1], c.complete(s, word), tail
}

// completeNames completes a name in scope, or an attribute after a dot.
func completeNames(s *Session, word string) []string {
	_, f, err := s.curFrame()
	if err != nil {
		return nil
	}
	v, err := s.values()
	if err != nil {
		return nil
	}
	if i := strings.LastIndexByte(word, '.'); i > 0 {
		e, err := ParseExpr(word[:i])
		if err != nil {
			return nil
		}
		ref, _, _, err := s.eval(e)
		if err != nil {
			return nil
		}
		var out []string
		for _, n := range prefixed(v.AttrNames(ref), word[i+1:]) {
			out = append(out, word[:i+1]+n)
		}
		return out
	}
	seen := map[string]bool{}
	var out []string
	for _, get := range []func(model.Frame) ([]cpython.Var, error){v.Locals, v.Globals, v.Builtins} {
		vars, _ := get(*f)
		for _, x := range vars {
			if strings.HasPrefix(x.Name, word) && !seen[x.Name] {
				seen[x.Name] = true
				out = append(out, x.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// plural is "1 thread", "2 threads".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// unescapeEcho reads echo's C escapes as gdb does: Go's (\n, \t, \\,
// \x41...), \e, and octal of up to three digits; any other escaped
// character stands for itself.
func unescapeEcho(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		if s[0] != '\\' || len(s) == 1 {
			if s[0] != '\\' {
				b.WriteByte(s[0])
			}
			s = s[1:]
			continue
		}
		if c := s[1]; c == 'e' || c >= '0' && c <= '7' {
			v, n := 0x1b, 2
			if c != 'e' {
				for v, n = 0, 1; n < 4 && n < len(s) && s[n] >= '0' && s[n] <= '7'; n++ {
					v = v*8 + int(s[n]-'0')
				}
			}
			b.WriteByte(byte(v))
			s = s[n:]
			continue
		}
		r, multibyte, tail, err := strconv.UnquoteChar(s, 0)
		switch {
		case err != nil:
			b.WriteByte(s[1])
			s = s[2:]
			continue
		case multibyte:
			b.WriteRune(r)
		default:
			b.WriteByte(byte(r))
		}
		s = tail
	}
	return b.String()
}
