package repl

import (
	"fmt"
	"strconv"
	"strings"

	"pyscope/internal/model"
)

// To the session, an asyncio task and a greenlet are the same thing:
// Python frames no thread is running at the moment, numbered for the
// session, listed by `info tasks` / `info greenlets` and selected by
// `task N` / `greenlet N`, after which py-bt and the other frame commands
// work on their frames.
type suspended struct {
	num    int
	frames []model.Frame
	thread *uint64 // the thread it belongs to, when known
	title  string  // how messages name it: a task's 'name', a greenlet's type
	state  string
}

type suspendedKind struct {
	noun   string // "task"
	frames string // what its frames are called: "coroutine frames"
	list   func(*Session) []suspended
	sel    func(*Session) *int // the selected one's number (0: none)
}

var tasks = &suspendedKind{noun: "task", frames: "coroutine frames",
	list: func(s *Session) []suspended {
		var out []suspended
		for _, r := range s.taskList() {
			out = append(out, suspended{num: r.num, frames: r.task.Coroutine, thread: r.task.ThreadID,
				title: taskTitle(r.task), state: r.task.State})
		}
		return out
	},
	sel: func(s *Session) *int { return &s.task }}

var greenlets = &suspendedKind{noun: "greenlet", frames: "Python frames",
	list: func(s *Session) []suspended {
		var out []suspended
		for _, r := range s.greenletList() {
			out = append(out, suspended{num: r.num, frames: r.g.Frames, thread: r.g.ThreadID,
				title: safeCol(r.g.Type), state: gletState(r.g)})
		}
		return out
	},
	sel: func(s *Session) *int { return &s.glet }}

// current is the selected one, if any.
func (k *suspendedKind) current(s *Session) (suspended, bool) {
	if n := *k.sel(s); n != 0 {
		for _, r := range k.list(s) {
			if r.num == n {
				return r, true
			}
		}
	}
	return suspended{}, false
}

// left says, after a new stop, that the one selected before (prev, when
// had) is no longer there, and which thread the frame commands now work
// on.
func (k *suspendedKind) left(s *Session, prev suspended, had bool, what string) {
	if !had {
		return
	}
	if _, ok := k.current(s); ok {
		return
	}
	*k.sel(s) = 0
	msg := fmt.Sprintf("[%s%s %d %s %s", strings.ToUpper(k.noun[:1]), k.noun[1:], prev.num, prev.title, what)
	if r, ok := s.current(); ok {
		msg += fmt.Sprintf("; the frame commands work on thread %s (TID %d) %s", r.id(s), r.tid, threadLabel(r))
	}
	s.printf("%s]\n", msg)
}

// framesRow is the selected one's frames as a thread row, for py-bt and
// the other frame commands.
func (k *suspendedKind) framesRow(s *Session) (threadRow, error) {
	r, ok := k.current(s)
	if !ok {
		*k.sel(s) = 0
		return threadRow{}, fmt.Errorf("the selected %s is gone (since the last stop); see `info %ss`", k.noun, k.noun)
	}
	if len(r.frames) == 0 {
		return threadRow{}, fmt.Errorf("%s %d %s is %s: it has no %s", k.noun, r.num, r.title, r.state, k.frames)
	}
	th := &model.Thread{Frames: r.frames}
	if r.thread != nil {
		th.ThreadID = *r.thread
	}
	return threadRow{num: s.thread, py: th}, nil
}

// command is `task [N]` and `greenlet [N]`: say which is selected, or
// select one and show its innermost frame.
func (k *suspendedKind) command(s *Session, args string) error {
	if args == "" {
		r, ok := k.current(s)
		if !ok && *k.sel(s) != 0 {
			*k.sel(s) = 0
			return fmt.Errorf("the selected %s is gone (since the last stop); see `info %ss`", k.noun, k.noun)
		}
		if !ok {
			return fmt.Errorf("no %s selected: `info %ss` lists them, `%s N` selects one", k.noun, k.noun, k.noun)
		}
		s.printf("[Current %s is %d %s (%s)]\n", k.noun, r.num, r.title, r.state)
		return nil
	}
	n, err := strconv.Atoi(args)
	if err != nil {
		return fmt.Errorf("invalid %s number %q: see `info %ss`", k.noun, args, k.noun)
	}
	for _, r := range k.list(s) {
		if r.num != n {
			continue
		}
		s.task, s.glet, s.frame = 0, 0, 0
		*k.sel(s) = n
		s.printf("[Switching to %s %d %s (%s)]\n", k.noun, r.num, r.title, r.state)
		if len(r.frames) > 0 {
			s.printFrame(0, r.frames[0])
		} else {
			s.printf("(no %s: the %s is %s)\n", k.frames, k.noun, r.state)
		}
		return nil
	}
	return fmt.Errorf("unknown %s %d: see `info %ss`", k.noun, n, k.noun)
}

func (k *suspendedKind) complete(s *Session, w string) []string {
	var out []string
	for _, r := range k.list(s) {
		out = append(out, strconv.Itoa(r.num))
	}
	return prefixed(out, w)
}

func cmdTask(s *Session, args string) error           { return tasks.command(s, args) }
func cmdGreenlet(s *Session, args string) error       { return greenlets.command(s, args) }
func completeTasks(s *Session, w string) []string     { return tasks.complete(s, w) }
func completeGreenlets(s *Session, w string) []string { return greenlets.complete(s, w) }

// pyFrames is what py-bt, py-up, py-locals and py-print work on: the
// selected greenlet's or task's frames, else the current thread's.
func (s *Session) pyFrames() (threadRow, error) {
	switch {
	case s.glet != 0:
		return greenlets.framesRow(s)
	case s.task != 0:
		return tasks.framesRow(s)
	}
	return s.pyThread()
}

// threadColumn names the thread a task or greenlet belongs to, for the
// info tables: by its TID when the snapshot has it.
func threadColumn(tids map[uint64]int, id *uint64) string {
	if id == nil {
		return "-"
	}
	if tid := tids[*id]; tid != 0 {
		return "TID " + strconv.Itoa(tid)
	}
	return "?"
}

// nativeIDs maps the snapshot's thread idents to their TIDs.
func nativeIDs(snap *model.Snapshot) map[uint64]int {
	tids := map[uint64]int{}
	for _, t := range snap.Threads {
		tids[t.ThreadID] = t.NativeID
	}
	return tids
}
