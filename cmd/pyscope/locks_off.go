//go:build nolocks

package main

import "pyscope/internal/engine"

// lockStages: without the lock analysis (bench/locks.sh's baseline).
func lockStages(bool) []engine.Stage { return nil }
