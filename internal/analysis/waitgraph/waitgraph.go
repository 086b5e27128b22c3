// Package waitgraph finds the cycles of a waits-for graph. Its nodes are
// whatever waits or is waited for (threads, locks, tasks, futures), its
// edges say "a waits for b": a thread for the lock it blocks on, a lock for
// the thread that holds it, a task for the task it awaits. A cycle is a
// deadlock: each of its nodes waits for the next, forever.
//
// The graph knows nothing of what its nodes are; the lock analysis and the
// asyncio analysis both build one.
package waitgraph

import (
	"slices"
)

// Graph is a directed graph over comparable keys, kept in the order nodes
// were first added, so that its answers are stable from run to run.
type Graph[K comparable] struct {
	index map[K]int
	nodes []K
	out   [][]int
	edges map[[2]int]bool // a gather of 10,000 tasks adds 10,000 edges to one node
}

// New returns an empty graph.
func New[K comparable]() *Graph[K] {
	return &Graph[K]{index: map[K]int{}, edges: map[[2]int]bool{}}
}

func (g *Graph[K]) id(k K) int {
	if i, ok := g.index[k]; ok {
		return i
	}
	i := len(g.nodes)
	g.index[k] = i
	g.nodes = append(g.nodes, k)
	g.out = append(g.out, nil)
	return i
}

// Node adds k with no edges (a no-op when it is there).
func (g *Graph[K]) Node(k K) { g.id(k) }

// Add says from waits for to; a repeated edge is ignored.
func (g *Graph[K]) Add(from, to K) {
	f, t := g.id(from), g.id(to)
	if !g.edges[[2]int{f, t}] {
		g.edges[[2]int{f, t}] = true
		g.out[f] = append(g.out[f], t)
	}
}

// Len is the number of nodes.
func (g *Graph[K]) Len() int { return len(g.nodes) }

// Waits lists what k waits for, in the order the edges were added.
func (g *Graph[K]) Waits(k K) []K {
	i, ok := g.index[k]
	if !ok {
		return nil
	}
	out := make([]K, len(g.out[i]))
	for j, t := range g.out[i] {
		out[j] = g.nodes[t]
	}
	return out
}

// DefaultBudget bounds the steps Cycles takes: a graph built from target
// memory may be hostile, and the number of cycles of a dense graph grows
// exponentially.
const DefaultBudget = 1 << 20

// Cycles returns the elementary cycles of the graph (no node twice), at
// most max of them and within budget steps (DefaultBudget when budget <=
// 0). Each cycle starts at its earliest-added node and follows the edges;
// cycles are ordered by that node, then by the order of the edges taken.
// A self-loop (a thread waiting for a lock it holds) is a cycle of one.
// complete is false when max or the budget cut the search short.
func (g *Graph[K]) Cycles(max, budget int) (cycles [][]K, complete bool) {
	if budget <= 0 {
		budget = DefaultBudget
	}
	j := johnson{g: g.out, budget: budget, max: max}
	j.run()
	slices.SortStableFunc(j.found, func(a, b []int) int { return a[0] - b[0] })
	for _, c := range j.found {
		ks := make([]K, len(c))
		for i, n := range c {
			ks[i] = g.nodes[n]
		}
		cycles = append(cycles, ks)
	}
	return cycles, !j.cut
}

// Components returns the strongly connected components that hold a cycle
// (two or more nodes, or one with a self-loop), each in the order its nodes
// were added, ordered by their earliest node. Every node of such a
// component waits, through the others, for itself.
func (g *Graph[K]) Components() [][]K {
	comps := tarjan(g.out, func(int) bool { return true })
	var out [][]K
	for _, c := range comps {
		if len(c) == 1 && !slices.Contains(g.out[c[0]], c[0]) {
			continue
		}
		slices.Sort(c)
		ks := make([]K, len(c))
		for i, n := range c {
			ks[i] = g.nodes[n]
		}
		out = append(out, ks)
	}
	slices.SortFunc(out, func(a, b []K) int { return g.index[a[0]] - g.index[b[0]] })
	return out
}

// ShortestCycles returns one cycle per component that holds one (see
// Components): the shortest way from the component's earliest-added node
// back to itself, trying earlier-added nodes first; ordered by that node.
// Unlike Cycles it takes time linear in the graph, however dense.
func (g *Graph[K]) ShortestCycles() [][]K {
	var out [][]K
	for _, c := range g.Components() {
		in := map[int]bool{}
		for _, k := range c {
			in[g.index[k]] = true
		}
		start := g.index[c[0]]
		// Breadth-first from start, successors in the order they were added
		// as nodes, until an edge leads back to it.
		prev := map[int]int{start: -1}
		queue := []int{start}
		var cyc []int
		for len(queue) > 0 && cyc == nil {
			v := queue[0]
			queue = queue[1:]
			succ := slices.Clone(g.out[v])
			slices.Sort(succ)
			for _, w := range succ {
				if !in[w] {
					continue
				}
				if w == start {
					for u := v; u >= 0; u = prev[u] {
						cyc = append(cyc, u)
					}
					slices.Reverse(cyc)
					break
				}
				if _, seen := prev[w]; !seen {
					prev[w] = v
					queue = append(queue, w)
				}
			}
		}
		ks := make([]K, len(cyc))
		for i, n := range cyc {
			ks[i] = g.nodes[n]
		}
		out = append(out, ks)
	}
	return out
}

// tarjan returns the strongly connected components of the subgraph of the
// nodes keep accepts, iteratively (a hostile graph may be deep).
func tarjan(out [][]int, keep func(int) bool) [][]int {
	n := len(out)
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	type frame struct{ v, e int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 || !keep(root) {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		on[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.e < len(out[v]) {
				w := out[v][f.e]
				f.e++
				if !keep(w) {
					continue
				}
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					on[w] = true
					call = append(call, frame{w, 0})
				} else if on[w] {
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				var c []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					on[w] = false
					c = append(c, w)
					if w == v {
						break
					}
				}
				comps = append(comps, c)
			}
		}
	}
	return comps
}

// johnson enumerates elementary cycles (D. B. Johnson, "Finding all the
// elementary circuits of a directed graph", 1975): for each start node s,
// the circuits through s among the nodes not before s.
type johnson struct {
	g       [][]int
	budget  int
	max     int
	cut     bool
	found   [][]int
	blocked []bool
	bset    []map[int]bool
	path    []int
}

func (j *johnson) run() {
	n := len(j.g)
	j.blocked = make([]bool, n)
	j.bset = make([]map[int]bool, n)
	comps := tarjan(j.g, func(int) bool { return true })
	slices.SortFunc(comps, func(a, b []int) int { return slices.Min(a) - slices.Min(b) })
	for _, c := range comps {
		if j.cut {
			return
		}
		if len(c) == 1 && !slices.Contains(j.g[c[0]], c[0]) {
			continue
		}
		in := map[int]bool{}
		for _, v := range c {
			in[v] = true
		}
		if j.ring(c, in) {
			continue
		}
		slices.Sort(c)
		for _, s := range c {
			if j.cut {
				return
			}
			// The component of s among this component's nodes from s on.
			var comp map[int]bool
			j.budget -= len(c)
			for _, sc := range tarjan(j.g, func(v int) bool { return v >= s && in[v] }) {
				if slices.Contains(sc, s) {
					comp = map[int]bool{}
					for _, v := range sc {
						comp[v] = true
					}
					break
				}
			}
			if len(comp) == 1 && !slices.Contains(j.g[s], s) {
				continue
			}
			for v := range comp {
				j.blocked[v] = false
				j.bset[v] = nil
			}
			j.circuits(s, comp)
		}
	}
}

// ring handles the usual deadlock in linear time: a component where each
// node waits for exactly one other of it is a single cycle.
func (j *johnson) ring(c []int, in map[int]bool) bool {
	next := map[int]int{}
	for _, v := range c {
		k := 0
		for _, w := range j.g[v] {
			if in[w] {
				next[v] = w
				k++
			}
		}
		if k != 1 {
			return false
		}
	}
	if j.max > 0 && len(j.found) >= j.max {
		j.cut = true
		return true
	}
	start := slices.Min(c)
	cyc := []int{start}
	for v := next[start]; v != start && len(cyc) <= len(c); v = next[v] {
		cyc = append(cyc, v)
	}
	j.found = append(j.found, cyc)
	return true
}

// circuits searches from s, iteratively: the explicit stack holds each
// node of the current path and the next edge to try.
func (j *johnson) circuits(s int, comp map[int]bool) {
	type frame struct {
		v, e  int
		found bool
	}
	unblock := func(u int) {
		work := []int{u}
		for len(work) > 0 {
			x := work[len(work)-1]
			work = work[:len(work)-1]
			if !j.blocked[x] {
				continue
			}
			j.blocked[x] = false
			for w := range j.bset[x] {
				delete(j.bset[x], w)
				work = append(work, w)
			}
		}
	}
	j.path = append(j.path[:0], s)
	j.blocked[s] = true
	call := []frame{{v: s}}
	for len(call) > 0 {
		if j.budget--; j.budget < 0 {
			j.cut = true
			return
		}
		f := &call[len(call)-1]
		if f.e < len(j.g[f.v]) {
			w := j.g[f.v][f.e]
			f.e++
			if !comp[w] {
				continue
			}
			if w == s {
				if j.max > 0 && len(j.found) >= j.max {
					j.cut = true
					return
				}
				j.found = append(j.found, slices.Clone(j.path))
				f.found = true
				continue
			}
			if !j.blocked[w] {
				j.path = append(j.path, w)
				j.blocked[w] = true
				call = append(call, frame{v: w})
			}
			continue
		}
		// All edges of v tried.
		v, found := f.v, f.found
		call = call[:len(call)-1]
		j.path = j.path[:len(j.path)-1]
		if found {
			unblock(v)
		} else {
			for _, w := range j.g[v] {
				if comp[w] {
					if j.bset[w] == nil {
						j.bset[w] = map[int]bool{}
					}
					j.bset[w][v] = true
				}
			}
		}
		if len(call) > 0 && found {
			call[len(call)-1].found = true
		}
	}
}
