package tasks

import (
	"slices"

	"pyscope/internal/model"
)

// Cycles finds tasks that await each other, directly or through other
// tasks: none of them can ever finish, a deadlock. Each strongly
// connected set of tasks is reported once, as one cycle in await order
// starting from its lowest id; cycles are sorted by that id.
func Cycles(ts []model.Task) [][]uint64 {
	edges := map[uint64][]uint64{}
	for _, t := range ts {
		edges[t.ID] = nil
	}
	for _, t := range ts {
		for _, a := range t.Awaits {
			if _, ok := edges[a]; ok {
				edges[t.ID] = append(edges[t.ID], a)
			}
		}
	}
	out := [][]uint64{}
	for _, scc := range components(ts, edges) {
		if len(scc) == 1 && !slices.Contains(edges[scc[0]], scc[0]) {
			continue
		}
		out = append(out, cycleIn(scc, edges))
	}
	slices.SortFunc(out, func(a, b []uint64) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return out
}

// components are the strongly connected components of the graph
// (Tarjan's algorithm, iterative: a task graph may be deep).
func components(ts []model.Task, edges map[uint64][]uint64) [][]uint64 {
	index := map[uint64]int{}
	low := map[uint64]int{}
	on := map[uint64]bool{}
	var stack []uint64
	var out [][]uint64
	next := 0
	type frame struct {
		v uint64
		i int
	}
	for _, t := range ts {
		if _, ok := index[t.ID]; ok {
			continue
		}
		call := []frame{{v: t.ID}}
		index[t.ID], low[t.ID] = next, next
		next++
		stack = append(stack, t.ID)
		on[t.ID] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.i < len(edges[f.v]) {
				w := edges[f.v][f.i]
				f.i++
				if _, ok := index[w]; !ok {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					on[w] = true
					call = append(call, frame{v: w})
				} else if on[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				var scc []uint64
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					on[w] = false
					scc = append(scc, w)
					if w == v {
						break
					}
				}
				out = append(out, scc)
			}
		}
	}
	return out
}

// cycleIn walks from the lowest id of a strongly connected set along its
// edges (lowest first) until it comes back: one simple cycle.
func cycleIn(scc []uint64, edges map[uint64][]uint64) []uint64 {
	in := map[uint64]bool{}
	for _, v := range scc {
		in[v] = true
	}
	start := slices.Min(scc)
	// Breadth-first search for the shortest way back to start.
	prev := map[uint64]uint64{}
	queue := []uint64{start}
	seen := map[uint64]bool{start: true}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		succ := slices.Clone(edges[v])
		slices.Sort(succ)
		for _, w := range succ {
			if !in[w] {
				continue
			}
			if w == start {
				path := []uint64{v}
				for path[len(path)-1] != start {
					path = append(path, prev[path[len(path)-1]])
				}
				slices.Reverse(path)
				return path
			}
			if !seen[w] {
				seen[w] = true
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []uint64{start}
}
