package symbolize

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"pyscope/internal/cache"
	"pyscope/internal/elfx"
)

// Decompressing and parsing a module's DWARF takes a tenth of a second or
// more, for the same few addresses dump after dump (the eval loop, libc's
// waits). Results are kept on disk per module and debug file, keyed by
// their build identity, so a later run reads no DWARF at all.

const maxCachedPCs = 1 << 16

// symCache is one module's remembered lookups, by link-time address.
type symCache struct {
	path  string
	pcs   map[uint64][]Symbol
	dirty bool
}

// identity names a file by build-id, else by path, size and mtime.
func identity(f *elfx.File) string {
	if f == nil {
		return "none"
	}
	if id := f.BuildID(); id != "" {
		return "id:" + id
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return "" // cannot tell it from another file: no cache
	}
	return fmt.Sprintf("file:%s:%d:%d", f.Path, st.Size(), st.ModTime().UnixNano())
}

func openSymCache(file, debug *elfx.File) *symCache {
	fi, di := identity(file), identity(debug)
	if fi == "" || di == "" || fi == "none" {
		return nil
	}
	// The version drops what older symbolizers stored: before v3 the
	// standalone builds' libpython was remembered without lines or
	// inlined frames.
	h := sha256.Sum256([]byte("v3\x00" + fi + "\x00" + di))
	c := &symCache{path: filepath.Join(cache.Dir("symbols"), hex.EncodeToString(h[:16])+".json"), pcs: map[uint64][]Symbol{}}
	if b, err := os.ReadFile(c.path); err == nil && len(b) < 64<<20 {
		var stored map[uint64][]Symbol
		if json.Unmarshal(b, &stored) == nil && len(stored) <= maxCachedPCs {
			c.pcs = stored
		}
	}
	return c
}

func (c *symCache) get(vaddr uint64) ([]Symbol, bool) {
	if c == nil {
		return nil, false
	}
	s, ok := c.pcs[vaddr]
	return s, ok
}

func (c *symCache) put(vaddr uint64, syms []Symbol) {
	if c == nil || len(c.pcs) >= maxCachedPCs {
		return
	}
	stored := make([]Symbol, len(syms))
	copy(stored, syms)
	for i := range stored {
		stored[i].Module = "" // set again from the mapping on use
	}
	c.pcs[vaddr] = stored
	c.dirty = true
}

func (c *symCache) save() {
	if c == nil || !c.dirty {
		return
	}
	if b, err := json.Marshal(c.pcs); err == nil {
		_ = cache.Write(c.path, b)
	}
	c.dirty = false
}
