package waitgraph

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestLockCycle(t *testing.T) {
	// Two threads, two locks: each holds one and waits for the other; a
	// third thread waits behind the cycle, a fourth on a free-standing one.
	g := New[string]()
	g.Add("T1", "A")
	g.Add("A", "T2")
	g.Add("T2", "B")
	g.Add("B", "T1")
	g.Add("T3", "A")
	g.Add("T4", "C")
	cycles, complete := g.Cycles(0, 0)
	if !complete {
		t.Fatal("incomplete")
	}
	if got := fmt.Sprint(cycles); got != "[[T1 A T2 B]]" {
		t.Errorf("cycles = %s", got)
	}
	if got := fmt.Sprint(g.Components()); got != "[[T1 A T2 B]]" {
		t.Errorf("components = %s", got)
	}
	if got := fmt.Sprint(g.Waits("T3")); got != "[A]" {
		t.Errorf("waits = %s", got)
	}
}

func TestSelfLoopAndOrder(t *testing.T) {
	g := New[int]()
	g.Node(9) // added first: cycles through it start with it
	g.Add(5, 5)
	g.Add(9, 1)
	g.Add(1, 9)
	g.Add(1, 9) // repeated
	cycles, _ := g.Cycles(0, 0)
	if got := fmt.Sprint(cycles); got != "[[9 1] [5]]" {
		t.Errorf("cycles = %s", got)
	}
	if got := fmt.Sprint(g.Components()); got != "[[9 1] [5]]" {
		t.Errorf("components = %s", got)
	}
}

// TestCyclesMatchBruteForce compares Johnson's algorithm with a plain
// enumeration of every simple path on small random graphs.
func TestCyclesMatchBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		n := 1 + r.IntN(7)
		g := New[int]()
		adj := make([][]int, n)
		for v := 0; v < n; v++ {
			g.Node(v)
		}
		for e := r.IntN(n * n); e > 0; e-- {
			a, b := r.IntN(n), r.IntN(n)
			if !slices.Contains(adj[a], b) {
				adj[a] = append(adj[a], b)
			}
			g.Add(a, b)
		}
		got, complete := g.Cycles(0, 0)
		if !complete {
			t.Fatal("incomplete on a small graph")
		}
		want := brute(adj)
		if key(got) != key(want) {
			t.Fatalf("graph %v:\n got  %v\n want %v", adj, got, want)
		}
		// Cycles start at their smallest node (added in order 0..n-1).
		for _, c := range got {
			if slices.Min(c) != c[0] {
				t.Fatalf("cycle %v does not start at its earliest node", c)
			}
		}
	}
}

func brute(adj [][]int) [][]int {
	var out [][]int
	for s := range adj {
		var walk func(path []int)
		walk = func(path []int) {
			v := path[len(path)-1]
			for _, w := range adj[v] {
				switch {
				case w == s:
					out = append(out, slices.Clone(path))
				case w > s && !slices.Contains(path, w):
					walk(append(path, w))
				}
			}
		}
		walk([]int{s})
	}
	return out
}

func key(cs [][]int) string {
	var ss []string
	for _, c := range cs {
		ss = append(ss, fmt.Sprint(c))
	}
	slices.Sort(ss)
	return strings.Join(ss, ";")
}

// TestBounded: a complete graph has more cycles than anyone wants; the
// search stops at max or at the budget and says so.
func TestBounded(t *testing.T) {
	g := New[int]()
	const n = 12
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			if a != b {
				g.Add(a, b)
			}
		}
	}
	cycles, complete := g.Cycles(50, 0)
	if complete || len(cycles) != 50 {
		t.Errorf("max: %d cycles, complete %v", len(cycles), complete)
	}
	cycles, complete = g.Cycles(0, 1000)
	if complete || len(cycles) == 0 {
		t.Errorf("budget: %d cycles, complete %v", len(cycles), complete)
	}
	if len(g.Components()) != 1 {
		t.Error("one component expected")
	}
}

// TestDeepChain: a long chain closing on itself is walked without
// recursion.
func TestDeepChain(t *testing.T) {
	g := New[int]()
	const n = 200_000
	for i := 0; i < n; i++ {
		g.Add(i, (i+1)%n)
	}
	cycles, complete := g.Cycles(0, 0)
	if !complete || len(cycles) != 1 || len(cycles[0]) != n {
		t.Fatalf("got %d cycles, complete %v", len(cycles), complete)
	}
}

// TestShortestCycles: one cycle per component, the shortest from its
// earliest node, earlier nodes tried first; a self-loop is one.
func TestShortestCycles(t *testing.T) {
	g := New[int]()
	for i := 1; i <= 7; i++ {
		g.Node(i)
	}
	// 1 → 2 → 3 → 1 and the shortcut 1 → 4 → 1 (added after): 1 4 wins.
	g.Add(1, 2)
	g.Add(2, 3)
	g.Add(3, 1)
	g.Add(1, 4)
	g.Add(4, 1)
	// 5 → 6 and 5 → 7 both lead back in two steps: 6, added first, wins.
	g.Add(5, 7)
	g.Add(7, 5)
	g.Add(5, 6)
	g.Add(6, 5)
	g.Add(7, 7)
	g.Add(8, 8)
	g.Add(9, 1) // waits behind a cycle: not in one
	if got := fmt.Sprint(g.ShortestCycles()); got != "[[1 4] [5 6] [8]]" {
		t.Errorf("shortest cycles = %s", got)
	}
	// Every cycle's consecutive nodes are edges of the graph.
	for _, c := range g.ShortestCycles() {
		for i, v := range c {
			if !slices.Contains(g.Waits(v), c[(i+1)%len(c)]) {
				t.Errorf("%v: %d does not wait for the next", c, v)
			}
		}
	}
}

// TestWideNode: 100,000 edges out of one node (a gather of as many tasks)
// are added and searched in linear time.
func TestWideNode(t *testing.T) {
	g := New[int]()
	const n = 100_000
	for i := 1; i <= n; i++ {
		g.Add(0, i)
		g.Add(0, i) // repeated
		g.Add(i, 0)
	}
	if got := len(g.Waits(0)); got != n {
		t.Fatalf("%d edges, want %d", got, n)
	}
	if got := fmt.Sprint(g.ShortestCycles()); got != "[[0 1]]" {
		t.Errorf("shortest cycles = %s", got)
	}
}
