// Package cache is where pyscope keeps what is costly to work out and does
// not change for a given build: layouts read from DWARF, native symbols.
// Entries are keyed by build identity, so a stale entry is never used.
package cache

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir returns the cache directory for sub: $PYSCOPE_CACHE/sub, else the
// user cache directory's pyscope/sub.
func Dir(sub string) string {
	if d := os.Getenv("PYSCOPE_CACHE"); d != "" {
		return filepath.Join(d, sub)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "pyscope", sub)
}

// Write stores data at path atomically (readers see the old or the new
// file, never a part). Errors are ignored by callers: a cache is optional.
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
