package repl

import (
	"errors"
	"strconv"
	"strings"

	"pyscope/internal/model"
	"pyscope/internal/report"
)

// gletRow is one greenlet of `info greenlets`, numbered for the session.
type gletRow struct {
	num int
	g   *model.Greenlet
}

// greenletList numbers the snapshot's greenlets: once seen, a greenlet
// keeps its number for the session (as threads and tasks do).
func (s *Session) greenletList() []gletRow {
	snap := s.prog.Snapshot()
	var rows []gletRow
	for i := range snap.Greenlets {
		g := &snap.Greenlets[i]
		rows = append(rows, gletRow{num: sessionNumber(s.gletNums, g.ID), g: g})
	}
	return rows
}

func gletState(g *model.Greenlet) string {
	if g.NotStarted {
		return "not started"
	}
	return g.State
}

func infoGreenlets(s *Session) error {
	snap := s.prog.Snapshot()
	if snap.Greenlets == nil {
		return errors.New("no greenlets were read for this snapshot")
	}
	rows := s.greenletList()
	if len(rows) == 0 {
		for _, w := range snap.Warnings {
			if strings.HasPrefix(w, "greenlets") {
				return errors.New(w)
			}
		}
		s.printf("No greenlets (greenlet is not imported).\n")
		return nil
	}
	tids := nativeIDs(snap)
	parents := map[uint64]int{}
	for _, r := range rows {
		parents[r.g.ID] = r.num
	}
	s.printf("  %-4s %-11s %-10s %-7s %-28s %s\n", "Id", "State", "Thread", "Parent", "Type", "Frame")
	for _, r := range rows {
		mark := " "
		if r.num == s.glet {
			mark = "*"
		}
		th := threadColumn(tids, r.g.ThreadID)
		parent := "-"
		if r.g.Main {
			parent = "main"
		} else if r.g.Parent != nil {
			parent = "?"
			if n, ok := parents[*r.g.Parent]; ok {
				parent = strconv.Itoa(n)
			}
		}
		where := "(no Python frames)"
		if len(r.g.Frames) > 0 {
			where = frameShort(r.g.Frames[0])
		}
		s.printf("%s %-4d %-11s %-10s %-7s %-28s %s\n", mark, r.num, gletState(r.g), th, parent, safeCol(r.g.Type), where)
	}
	return nil
}

func safeCol(s string) string {
	if s == "" {
		return "greenlet"
	}
	return report.Safe(s)
}
