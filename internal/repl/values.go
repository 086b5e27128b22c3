package repl

import "errors"

// ErrRunning is returned for reads that need the target stopped.
var ErrRunning = errors.New("the target is running: use `interrupt` to stop it and take a new snapshot")
