package repl

import (
	"errors"
	"fmt"
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

// taskTitle is how the session names a task: its name, quoted.
func taskTitle(t *model.Task) string { return "'" + report.Name(t.Name) + "'" }

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
	tids := nativeIDs(s.prog.Snapshot())
	s.printf("  %-4s %-9s %-10s %-24s %s\n", "Id", "State", "Thread", "Name", "Coroutine frame")
	for _, r := range rows {
		mark := " "
		if r.num == s.task {
			mark = "*"
		}
		th := threadColumn(tids, r.task.ThreadID)
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
		s.printf("%s %-4d %-9s %-10s %-24s %s%s\n", mark, r.num, r.task.State, th, taskTitle(r.task), taskWhere(r.task), tag)
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
