package report

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"pyscope/internal/model"
)

// The lock analysis in text: deadlocks first, then on each thread's header
// what it waits for and who holds it, and under it what it holds.

// threadNames names the snapshot's threads for the lock lines.
type threadNames struct {
	byID map[uint64]*model.Thread
	name func(t *model.Thread) string // nil: `Thread 0x7f… "name"`
}

func namesOf(s *model.Snapshot, name func(t *model.Thread) string) threadNames {
	n := threadNames{byID: map[uint64]*model.Thread{}, name: name}
	for i := range s.Threads {
		n.byID[s.Threads[i].ThreadID] = &s.Threads[i]
	}
	return n
}

// thread is `Thread 0x7f… "name"`, or says the thread no longer exists.
func (n threadNames) thread(id uint64) string {
	t, ok := n.byID[id]
	switch {
	case !ok:
		return fmt.Sprintf("thread %#x, which no longer exists", id)
	case n.name != nil:
		return n.name(t)
	case t.Name != nil:
		return fmt.Sprintf("Thread %#x \"%s\"", id, Name(*t.Name))
	}
	return fmt.Sprintf("Thread %#x", id)
}

var ownerRe = regexp.MustCompile(`owner=(\d+)`)

// repr is an object's repr for a lock line: escaped, and an RLock's owner
// named when it is a thread of the process: owner=140… ("worker-3").
func (n threadNames) repr(r string) string {
	r = Safe(r)
	if !strings.Contains(r, "owner=") {
		return r // most reprs: no regular expression to run
	}
	return ownerRe.ReplaceAllStringFunc(r, func(m string) string {
		id, err := strconv.ParseUint(m[len("owner="):], 10, 64)
		if err != nil || id == 0 {
			return m
		}
		if t, ok := n.byID[id]; ok && t.Name != nil {
			return fmt.Sprintf("%s (\"%s\")", m, Name(*t.Name))
		}
		return m
	})
}

// place is ` (file.py:12)`, or "" when unknown.
func place(file string, line int) string {
	if file == "" || line <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%s:%d)", Name(filepath.Base(file)), line)
}

// WaitLine is what a thread waits for and who holds it:
// `waiting for <locked _thread.lock object at 0x…> held by Thread 0x… "ab"`.
func WaitLine(s *model.Snapshot, t *model.Thread) string {
	return namesOf(s, nil).wait(t)
}

func (n threadNames) wait(t *model.Thread) string {
	w := t.WaitingFor
	if w == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("waiting for ")
	if w.Kind == "join" {
		b.WriteString("the end of ")
	}
	b.WriteString(n.repr(w.Repr))
	b.WriteString(futuresTail(w))
	if w.Kind != "join" {
		b.WriteString(n.waitTail(w))
	}
	return b.String()
}

// futuresTail follows the first future of a wait(fs) or as_completed(fs)
// on several: ` and 2 other futures` (ALL_COMPLETED), ` or 2 other
// futures` (one may end the wait).
func futuresTail(w *model.Wait) string {
	n := len(w.Futures) - 1
	if n < 1 {
		return ""
	}
	conj, noun := "and", "futures"
	if w.Any {
		conj = "or"
	}
	if n == 1 {
		noun = "future"
	}
	return fmt.Sprintf(" %s %d other %s", conj, n, noun)
}

// waitTail follows the repr of what a thread (or a task's chained future)
// waits for: who holds it, ` held by Thread 0x… "ab"`, or why no one is
// named.
func (n threadNames) waitTail(w *model.Wait) string {
	switch {
	case len(w.HeldBy) > 0:
		var hs []string
		for _, h := range w.HeldBy {
			hs = append(hs, n.thread(h))
		}
		return " held by " + strings.Join(hs, ", ")
	case w.Kind == "lock" || w.Kind == "rlock":
		return ", holder unknown"
	case w.Pending:
		return ", queued or not submitted: no worker has started it"
	}
	return ""
}

// textWriter is what the text is written to: the dump's buffered output
// or the session's string.
type textWriter interface {
	io.Writer
	io.StringWriter
}

// writeDeadlocks writes the deadlocks and the interpreter's state, before
// the threads.
func writeDeadlocks(b textWriter, s *model.Snapshot, c palette) {
	if s.Python.Finalizing {
		fmt.Fprintf(b, "%sThe interpreter is finalizing (shutting down).%s\n", c.yellow, c.reset)
	}
	n := namesOf(s, nil)
	for _, d := range s.Deadlocks {
		b.WriteString("\n")
		n.deadlock(b, d, c)
	}
}

// deadlock writes one cycle: a title, then each thread, what it holds of
// the cycle's objects and what it waits for, with the source lines.
func (n threadNames) deadlock(b textWriter, d model.Deadlock, c palette) {
	fmt.Fprintf(b, "%s%s%s\n", c.red+c.bold, deadlockTitle(n, d), c.reset)
	for _, id := range d.Threads {
		t, ok := n.byID[id]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "  %s%s%s", c.bold, n.thread(id), c.reset)
		var held []string
		for _, h := range t.Holds {
			for _, o := range d.Objects {
				if h.Address == o {
					held = append(held, n.repr(h.Repr)+place(h.File, h.Line))
				}
			}
		}
		if len(held) > 0 {
			fmt.Fprintf(b, " holds %s and", strings.Join(held, ", "))
		}
		if w := t.WaitingFor; w != nil {
			fmt.Fprintf(b, " waits%s for %s", place(w.File, w.Line), strings.TrimPrefix(n.wait(t), "waiting for "))
		}
		b.WriteString("\n")
	}
}

func deadlockTitle(n threadNames, d model.Deadlock) string {
	for _, id := range d.Threads {
		if _, ok := n.byID[id]; !ok {
			return "Deadlock: waiting for a thread that no longer exists"
		}
	}
	switch len(d.Threads) {
	case 1:
		return "Deadlock: a thread waits for itself"
	case 2:
		return "Deadlock: 2 threads wait for each other"
	}
	return fmt.Sprintf("Deadlock: %d threads wait in a cycle", len(d.Threads))
}

func (n threadNames) holds(b textWriter, t model.Thread, indent string, c palette) {
	for _, h := range t.Holds {
		via := ""
		switch h.Via {
		case "with":
			via = " with"
		case "acquire":
			via = " acquire()"
		}
		where := place(h.File, h.Line)
		if where != "" && via != "" {
			where = strings.TrimSuffix(where, ")") + "," + via + ")"
		}
		fmt.Fprintf(b, "%s%sholds %s%s%s\n", indent, c.dim, n.repr(h.Repr), where, c.reset)
	}
}

// Locks writes the lock analysis alone (the session's info locks): the
// deadlocks, then each thread that waits or holds something. name names a
// thread (nil: `Thread 0x7f… "name"`).
func Locks(w io.Writer, s *model.Snapshot, name func(t *model.Thread) string) error {
	var b strings.Builder
	c := palette{}
	n := namesOf(s, name)
	if s.Python.Finalizing {
		b.WriteString("The interpreter is finalizing (shutting down).\n")
	}
	for _, d := range s.Deadlocks {
		n.deadlock(&b, d, c)
	}
	any := false
	for i := range s.Threads {
		t := &s.Threads[i]
		if t.WaitingFor == nil && len(t.Holds) == 0 && !t.GC {
			continue
		}
		if !any && len(s.Deadlocks) > 0 {
			b.WriteString("\n")
		}
		any = true
		b.WriteString(n.thread(t.ThreadID))
		if t.GC {
			b.WriteString(" [in garbage collection]")
		}
		if w := t.WaitingFor; w != nil {
			fmt.Fprintf(&b, " waits%s for %s", place(w.File, w.Line), strings.TrimPrefix(n.wait(t), "waiting for "))
		}
		b.WriteString("\n")
		n.holds(&b, *t, "    ", c)
	}
	if !any && len(s.Deadlocks) == 0 {
		b.WriteString("No thread waits for a lock, a condition, a queue, another thread or the GIL, and none is known to hold a lock.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
