package engine

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// backends may be imported, above internal/target, by the engine alone.
var backends = []string{"pyscope/internal/target/live", "pyscope/internal/target/core"}

// allowedImporters may import a backend besides the engine, each for a
// reason.
var allowedImporters = map[string]string{
	"pyscope/internal/engine": "the engine opens targets for every command",
	// A test helper, built only into tests: it runs the real targets of
	// the core and gcore tests and writes their cores.
	"pyscope/internal/target/core/coretest": "test helper",
}

// TestOnlyEngineImportsBackends lists every package of the module and its
// whole dependency graph (go list -deps) and fails when a package other
// than the engine, target's own packages or a listed test helper imports
// target/live or target/core. Tests may import them: they need real
// targets.
func TestOnlyEngineImportsBackends(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: a go list that waits on a lock or the network must fail
	// the test, not hang the package.
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...")
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("go list -deps ./... did not finish within %v: %v", callTimeout, err)
	}
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	importers := map[string][]string{}
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, "|")
		pkgs++
		for _, imp := range strings.Split(imports, ",") {
			for _, b := range backends {
				if imp == b {
					importers[b] = append(importers[b], path)
				}
			}
		}
	}
	if pkgs < 20 {
		t.Fatalf("go list saw %d packages: not the whole module", pkgs)
	}
	for _, b := range backends {
		found := false
		for _, p := range importers[b] {
			switch {
			case p == "pyscope/internal/engine":
				found = true
				continue
			case allowedImporters[p] != "":
				continue
			case strings.HasPrefix(p, "pyscope/internal/target/"):
				continue // target's own packages
			}
			t.Errorf("%s imports %s: only internal/engine may open targets (go through engine.Open, engine.OpenProcess or engine.OpenCore)", p, b)
		}
		// The check must see the imports it guards against.
		if !found {
			sort.Strings(importers[b])
			t.Errorf("go list does not show the engine importing %s (importers: %v): the check sees nothing", b, importers[b])
		}
	}
}
