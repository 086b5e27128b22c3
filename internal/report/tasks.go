package report

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	"pyscope/internal/model"
)

// writeTasks shows the asyncio tasks as a tree, like `python -m asyncio
// pstree`: each event loop's tasks that no task awaits, then under each
// task its coroutine chain (outermost first, file:line) and under its
// innermost frame what it awaits: tasks (with their own chains) and
// futures. Tasks that await each other come first, as a deadlock.
func writeTasks(b *bufio.Writer, s *model.Snapshot, c palette) {
	if s.Tasks == nil {
		return
	}
	byID := map[uint64]*model.Task{}
	counts := map[string]int{}
	for i := range s.Tasks {
		byID[s.Tasks[i].ID] = &s.Tasks[i]
		counts[s.Tasks[i].State]++
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "%sAsyncio tasks: %d%s", c.bold, len(s.Tasks), c.reset)
	var parts []string
	for _, st := range []string{"running", "pending"} { // finished tasks are not listed
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	for _, cyc := range s.TaskCycles {
		var names []string
		for _, id := range append(cyc, cyc[0]) {
			names = append(names, taskLabel(byID[id], id, c))
		}
		fmt.Fprintf(b, "%sDeadlock: tasks await each other: %s%s\n", c.red, strings.Join(names, " → "), c.reset)
	}
	tw := &taskTree{b: b, byID: byID, c: c, shown: map[uint64]bool{}, names: namesOf(s, nil)}
	// Roots grouped by the thread running their loop, in thread order.
	var order []uint64
	groups := map[uint64][]*model.Task{}
	const noThread = 0
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if len(t.AwaitedBy) > 0 {
			continue
		}
		th := uint64(noThread)
		if t.ThreadID != nil {
			th = *t.ThreadID
		}
		if _, ok := groups[th]; !ok {
			order = append(order, th)
		}
		groups[th] = append(groups[th], t)
	}
	header := func(th uint64) {
		b.WriteString("\n")
		if th == noThread {
			fmt.Fprintf(b, "%sTasks of event loops that are not running%s\n", c.bold, c.reset)
			return
		}
		for _, t := range s.Threads {
			if t.ThreadID == th {
				fmt.Fprintf(b, "%s, running an event loop\n", threadHeader(t, c, false))
				return
			}
		}
		fmt.Fprintf(b, "%sThread %#x%s, running an event loop\n", c.bold, th, c.reset)
	}
	for _, th := range order {
		header(th)
		ts := groups[th]
		for i, t := range ts {
			tw.task(t, "", i == len(ts)-1)
		}
	}
	// Tasks only reachable from a cycle.
	var rest []*model.Task
	for i := range s.Tasks {
		if !tw.shown[s.Tasks[i].ID] {
			rest = append(rest, &s.Tasks[i])
		}
	}
	if len(rest) > 0 {
		fmt.Fprintf(b, "\n%sTasks awaited only by each other%s\n", c.bold, c.reset)
		for i, t := range rest {
			if !tw.shown[t.ID] {
				tw.task(t, "", i == len(rest)-1)
			}
		}
	}
}

type taskTree struct {
	b     *bufio.Writer
	byID  map[uint64]*model.Task
	c     palette
	shown map[uint64]bool
	names threadNames
}

func taskLabel(t *model.Task, id uint64, c palette) string {
	if t == nil {
		return fmt.Sprintf("%#x", id)
	}
	return fmt.Sprintf("%s'%s'%s %#x", c.bold, Name(t.Name), c.reset, t.ID)
}

// task writes one task node and its subtree; a task already shown is
// named, not repeated.
func (tw *taskTree) task(t *model.Task, prefix string, last bool) {
	b, c := tw.b, tw.c
	branch, cont := "├── ", "│   "
	if last {
		branch, cont = "└── ", "    "
	}
	fmt.Fprintf(b, "%s%s(T) %s [%s%s%s]", prefix, branch, taskLabel(t, t.ID, c), c.yellow, t.State, c.reset)
	if tw.shown[t.ID] {
		b.WriteString(" (shown above)\n")
		return
	}
	tw.shown[t.ID] = true
	b.WriteString("\n")
	prefix += cont
	if t.Error != "" {
		fmt.Fprintf(b, "%s%s<%s>%s\n", prefix, c.red, Safe(t.Error), c.reset)
	}
	// The chain, outermost first, each frame one level deeper; a deep
	// recursion folded as a traceback folds it.
	chain := slices.Clone(t.Coroutine)
	slices.Reverse(chain)
	Fold(chain, func(i int) {
		f := chain[i]
		fmt.Fprintf(b, "%s└── %s%s%s  %s%s%s:%s%d%s\n", prefix, c.green, Name(frameName(f)), c.reset,
			c.cyan, Name(f.File), c.reset, c.yellow, f.Line, c.reset)
		prefix += "    "
		writeLocals(b, prefix+"  ", f, c) // with --locals
	}, func(period, n int) {
		fmt.Fprintf(b, "%s└── %s%s%s\n", prefix, c.dim, Repeated(period, n), c.reset)
		prefix += "    "
	})
	for i, a := range t.Awaits {
		lastA := i == len(t.Awaits)-1
		if at, ok := tw.byID[a]; ok {
			tw.task(at, prefix, lastA)
			continue
		}
		branch := "├── "
		if lastA {
			branch = "└── "
		}
		what := fmt.Sprintf("future %#x", a)
		if r, ok := t.Futures[a]; ok {
			what = Safe(r)
		}
		fmt.Fprintf(b, "%s%sawaits %s%s%s\n", prefix, branch, c.dim, what, c.reset)
		for _, cf := range t.Concurrent {
			if cf.Future == a {
				sub := prefix + "│   "
				if lastA {
					sub = prefix + "    "
				}
				fmt.Fprintf(b, "%s└── %s\n", sub, tw.chained(cf))
			}
		}
	}
}

// chained says which concurrent future an awaited future waits for and
// who runs its work, as a thread waiting for it would say: `chained to
// <Future at 0x… state=running> held by Thread 0x… "name"`.
func (tw *taskTree) chained(cf model.ChainedFuture) string {
	c := tw.c
	return "chained to " + c.dim + tw.names.repr(cf.WaitingFor.Repr) + c.reset + tw.names.waitTail(&cf.WaitingFor)
}
