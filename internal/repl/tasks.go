package repl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"pyscope/internal/model"
	"pyscope/internal/report"
)

// taskRow is one asyncio task of `info tasks`, numbered for the session.
type taskRow struct {
	num  int
	task *model.Task
}

// taskList numbers the snapshot's tasks: once seen, a task keeps its
// number for the session (as threads do).
func (s *Session) taskList() []taskRow {
	snap := s.prog.Snapshot()
	var rows []taskRow
	for i := range snap.Tasks {
		t := &snap.Tasks[i]
		rows = append(rows, taskRow{num: sessionNumber(s.taskNums, t.ID), task: t})
	}
	return rows
}

// sessionNumber is id's number in nums, the next one when id is new: a
// task or greenlet keeps its number for the session.
func sessionNumber(nums map[uint64]int, id uint64) int {
	n, ok := nums[id]
	if !ok {
		n = len(nums) + 1
		nums[id] = n
	}
	return n
}

// curTask is the selected task, if any.
func (s *Session) curTask() (taskRow, bool) {
	if s.task == 0 {
		return taskRow{}, false
	}
	for _, r := range s.taskList() {
		if r.num == s.task {
			return r, true
		}
	}
	return taskRow{}, false
}

// pyFrames is what py-bt, py-up, py-locals and py-print work on: the
// selected task's coroutine frames, else the current thread's frames.
func (s *Session) pyFrames() (threadRow, error) {
	if s.glet != 0 {
		return s.greenletFrames()
	}
	if s.task == 0 {
		return s.pyThread()
	}
	tr, ok := s.curTask()
	if !ok {
		s.task = 0
		return threadRow{}, fmt.Errorf("the selected task is gone (since the last stop); see `info tasks`")
	}
	th := &model.Thread{Frames: tr.task.Coroutine}
	if tr.task.ThreadID != nil {
		th.ThreadID = *tr.task.ThreadID
	}
	if len(th.Frames) == 0 {
		return threadRow{}, fmt.Errorf("task %d '%s' is %s: it has no coroutine frames", tr.num, report.Safe(tr.task.Name), tr.task.State)
	}
	return threadRow{num: s.thread, py: th}, nil
}

func taskWhere(t *model.Task) string {
	if len(t.Coroutine) == 0 {
		return "(no coroutine frames)"
	}
	return frameShort(t.Coroutine[0])
}

func infoTasks(s *Session) error {
	rows := s.taskList()
	if s.prog.Snapshot().Tasks == nil {
		return errors.New("no asyncio tasks were read for this snapshot")
	}
	if len(rows) == 0 {
		s.printf("No asyncio tasks.\n")
		return nil
	}
	tids := map[uint64]int{}
	for _, t := range s.prog.Snapshot().Threads {
		tids[t.ThreadID] = t.NativeID
	}
	s.printf("  %-4s %-9s %-10s %-24s %s\n", "Id", "State", "Thread", "Name", "Coroutine frame")
	for _, r := range rows {
		mark := " "
		if r.num == s.task {
			mark = "*"
		}
		th := "-"
		if r.task.ThreadID != nil {
			th = "?"
			if tid := tids[*r.task.ThreadID]; tid != 0 {
				th = "TID " + strconv.Itoa(tid)
			}
		}
		var tags []string
		if len(r.task.Awaits) > 0 {
			tags = append(tags, fmt.Sprintf("awaits %d", len(r.task.Awaits)))
		}
		if len(r.task.AwaitedBy) > 0 {
			tags = append(tags, fmt.Sprintf("awaited by %d", len(r.task.AwaitedBy)))
		}
		tag := ""
		if len(tags) > 0 {
			tag = " [" + strings.Join(tags, ", ") + "]"
		}
		s.printf("%s %-4d %-9s %-10s %-24s %s%s\n", mark, r.num, r.task.State, th, "'"+report.Safe(r.task.Name)+"'", taskWhere(r.task), tag)
	}
	for _, cyc := range s.prog.Snapshot().TaskCycles {
		var names []string
		for _, id := range cyc {
			names = append(names, fmt.Sprintf("%d", s.taskNums[id]))
		}
		s.printf("Deadlock: tasks %s await each other.\n", strings.Join(names, " → "))
	}
	return nil
}

func cmdTask(s *Session, args string) error {
	if args == "" {
		r, ok := s.curTask()
		if !ok {
			return errors.New("no task selected: `info tasks` lists them, `task N` selects one")
		}
		s.printf("[Current task is %d '%s' (%s)]\n", r.num, report.Safe(r.task.Name), r.task.State)
		return nil
	}
	n, err := strconv.Atoi(args)
	if err != nil {
		return fmt.Errorf("invalid task number %q: see `info tasks`", args)
	}
	for _, r := range s.taskList() {
		if r.num != n {
			continue
		}
		s.task, s.glet, s.frame = n, 0, 0
		s.printf("[Switching to task %d '%s' (%s)]\n", r.num, report.Safe(r.task.Name), r.task.State)
		if len(r.task.Coroutine) > 0 {
			s.printFrame(0, r.task.Coroutine[0])
		} else {
			s.printf("(no coroutine frames: the task is %s)\n", r.task.State)
		}
		return nil
	}
	return fmt.Errorf("unknown task %d: see `info tasks`", n)
}

func completeTasks(s *Session, w string) []string {
	var out []string
	for _, r := range s.taskList() {
		out = append(out, strconv.Itoa(r.num))
	}
	return prefixed(out, w)
}
