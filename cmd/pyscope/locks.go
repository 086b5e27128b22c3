//go:build !nolocks

package main

import (
	"pyscope/internal/analysis/locks"
	"pyscope/internal/engine"
)

// lockStages adds the lock analysis to every capture. (bench/locks.sh
// builds pyscope with -tags nolocks, without it, to measure its cost.)
func lockStages(noBlock bool) []engine.Stage {
	return []engine.Stage{locks.NewStage(locks.Options{Torn: noBlock})}
}
