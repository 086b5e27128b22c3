package testenv

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// buildCached makes dir with build unless a finished copy is there: under a
// lock (concurrent test processes wait for each other), from scratch
// after an interrupted attempt, marked finished only once build succeeds.
func buildCached(dir string, build func() error) error {
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	if err := build(); err != nil {
		return err
	}
	return os.WriteFile(done, nil, 0o644)
}
