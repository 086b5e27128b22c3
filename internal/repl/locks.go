package repl

import (
	"fmt"

	"pyscope/internal/model"
	"pyscope/internal/report"
)

// infoLocks prints the lock analysis of the current snapshot, naming
// threads by their session numbers.
func infoLocks(s *Session) error {
	nums := map[uint64]int{}
	for _, r := range s.threadList() {
		if r.py != nil {
			nums[r.py.ThreadID] = r.num
		}
	}
	name := func(t *model.Thread) string {
		out := fmt.Sprintf("Thread %d", nums[t.ThreadID])
		if t.Name != nil {
			out += fmt.Sprintf(" \"%s\"", report.Name(*t.Name))
		}
		return out
	}
	if err := report.Locks(s.out, s.prog.Snapshot(), name); err != nil {
		return err
	}
	switch stateOf(s.prog) {
	case "exited":
		s.printf("(process %d has exited: this is the snapshot of its last stop)\n", s.prog.PID())
	case "running":
		s.printf("(the process is running: this is the snapshot of the last stop)\n")
	}
	return nil
}
