package tasks

import (
	"slices"

	"pyscope/internal/analysis/waitgraph"
	"pyscope/internal/model"
)

// Cycles finds tasks that await each other, directly or through other
// tasks: none of them can ever finish, a deadlock. Each strongly
// connected set of tasks is reported once, as one cycle in await order
// starting from its lowest id; cycles are sorted by that id.
func Cycles(ts []model.Task) [][]uint64 {
	ids := make([]uint64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	slices.Sort(ids)
	// Nodes added by id: the graph's earliest node is the lowest id.
	g := waitgraph.New[uint64]()
	for _, id := range ids {
		g.Node(id)
	}
	for _, t := range ts {
		for _, a := range t.Awaits {
			if _, ok := slices.BinarySearch(ids, a); ok {
				g.Add(t.ID, a)
			}
		}
	}
	out := g.ShortestCycles()
	if out == nil {
		out = [][]uint64{}
	}
	return out
}
