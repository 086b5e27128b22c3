package repl

import (
	"errors"
	"fmt"
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
	if s.gletNums == nil {
		s.gletNums = map[uint64]int{}
	}
	snap := s.prog.Snapshot()
	var rows []gletRow
	for i := range snap.Greenlets {
		g := &snap.Greenlets[i]
		rows = append(rows, gletRow{num: sessionNumber(s.gletNums, g.ID), g: g})
	}
	return rows
}

func (s *Session) curGreenlet() (gletRow, bool) {
	for _, r := range s.greenletList() {
		if r.num == s.glet {
			return r, true
		}
	}
	return gletRow{}, false
}

// greenletFrames are the selected greenlet's frames, for py-bt and the
// other frame commands.
func (s *Session) greenletFrames() (threadRow, error) {
	r, ok := s.curGreenlet()
	if !ok {
		s.glet = 0
		return threadRow{}, fmt.Errorf("the selected greenlet is gone (since the last stop); see `info greenlets`")
	}
	th := &model.Thread{Frames: r.g.Frames}
	if r.g.ThreadID != nil {
		th.ThreadID = *r.g.ThreadID
	}
	if len(th.Frames) == 0 {
		return threadRow{}, fmt.Errorf("greenlet %d is %s: it has no Python frames", r.num, gletState(r.g))
	}
	return threadRow{num: s.thread, py: th}, nil
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
	tids := map[uint64]int{}
	for _, t := range snap.Threads {
		tids[t.ThreadID] = t.NativeID
	}
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
		th := "-"
		if r.g.ThreadID != nil {
			th = "?"
			if tid := tids[*r.g.ThreadID]; tid != 0 {
				th = "TID " + strconv.Itoa(tid)
			}
		}
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

func cmdGreenlet(s *Session, args string) error {
	if args == "" {
		r, ok := s.curGreenlet()
		if !ok || s.glet == 0 {
			return errors.New("no greenlet selected: `info greenlets` lists them, `greenlet N` selects one")
		}
		s.printf("[Current greenlet is %d %s (%s)]\n", r.num, safeCol(r.g.Type), gletState(r.g))
		return nil
	}
	n, err := strconv.Atoi(args)
	if err != nil {
		return fmt.Errorf("invalid greenlet number %q: see `info greenlets`", args)
	}
	for _, r := range s.greenletList() {
		if r.num != n {
			continue
		}
		s.glet, s.task, s.frame = n, 0, 0
		s.printf("[Switching to greenlet %d %s (%s)]\n", r.num, safeCol(r.g.Type), gletState(r.g))
		if len(r.g.Frames) > 0 {
			s.printFrame(0, r.g.Frames[0])
		} else {
			s.printf("(no Python frames: the greenlet is %s)\n", gletState(r.g))
		}
		return nil
	}
	return fmt.Errorf("unknown greenlet %d: see `info greenlets`", n)
}

func completeGreenlets(s *Session, w string) []string {
	var out []string
	for _, r := range s.greenletList() {
		out = append(out, strconv.Itoa(r.num))
	}
	return prefixed(out, w)
}
