package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pyscope/internal/cache"
)

// A bundle is unpacked once into the cache ($PYSCOPE_CACHE/bundles, else
// ~/.cache/pyscope/bundles), in a directory named by its content, and
// later opens use that directory: a 475 MB bundle took 20 s to unpack on
// every open.
//
// The content is named by the SHA-256 of the archive, which Write appends
// as a zstd skippable frame (decoders ignore it), so naming it costs one
// small read; the digest is checked against the bytes while they are
// unpacked. A bundle without it (older, or cut short) is named by its path,
// size, modification time and inode.
//
// Cores hold secrets: the cache directory is private (0700). The last
// maxCached bundles are kept; the others are removed when a new one is
// unpacked, unless in use (a shared lock is held while one is open).

const (
	// A skippable frame: magic, size, then our tag and the digest.
	skippableMagic = 0x184D2A5E
	trailerTag     = "pyscope-bundle-sha256\x00"
	trailerLen     = 8 + len(trailerTag) + sha256.Size
	maxCached      = 4
	stateName      = "pyscope-cache.json"
	lockName       = ".lock"
)

var errNoCache = errors.New("no bundle cache")

func trailer(digest []byte) []byte {
	b := make([]byte, 8, trailerLen)
	binary.LittleEndian.PutUint32(b[0:], skippableMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(trailerTag)+len(digest)))
	b = append(b, trailerTag...)
	return append(b, digest...)
}

// readTrailer returns the digest Write appended and the size of the
// archive before it.
func readTrailer(f io.ReaderAt, size int64) ([]byte, int64, bool) {
	if size < int64(trailerLen) {
		return nil, 0, false
	}
	b := make([]byte, trailerLen)
	if _, err := f.ReadAt(b, size-int64(trailerLen)); err != nil {
		return nil, 0, false
	}
	if binary.LittleEndian.Uint32(b[0:]) != skippableMagic ||
		binary.LittleEndian.Uint32(b[4:]) != uint32(trailerLen-8) ||
		!bytes.Equal(b[8:8+len(trailerTag)], []byte(trailerTag)) {
		return nil, 0, false
	}
	return b[8+len(trailerTag):], size - int64(trailerLen), true
}

// state is what the cache keeps next to an unpacked bundle.
type state struct {
	Manifest  Manifest `json:"manifest"`
	Truncated string   `json:"truncated,omitempty"`
}

// openCached opens a bundle from the cache, unpacking it there first if
// needed. errNoCache means the cache cannot be used.
func openCached(p string) (*Bundle, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cannot open bundle: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot open bundle: %v", err)
	}
	digest, size, hasDigest := readTrailer(f, st.Size())
	var key string
	if hasDigest {
		key = "sha256-" + hex.EncodeToString(digest)
	} else {
		abs, _ := filepath.Abs(p)
		size = st.Size()
		var dev, ino uint64
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			dev, ino = s.Dev, s.Ino
		}
		h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%d\x00%d", abs, size, st.ModTime().UnixNano(), dev, ino)))
		key = "file-" + hex.EncodeToString(h[:16])
	}
	root := cache.Dir("bundles")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, errNoCache
	}
	os.Chmod(root, 0o700)
	dir := filepath.Join(root, key)
	if b := useCached(dir); b != nil {
		return b, nil
	}
	tmp, err := os.MkdirTemp(root, ".unpack-")
	if err != nil {
		return nil, errNoCache
	}
	b, got, err := unpack(p, io.NewSectionReader(f, 0, size), tmp)
	if err != nil {
		return nil, err
	}
	if hasDigest && !bytes.Equal(got, digest) {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s: corrupt bundle: its content does not match the checksum it carries", p)
	}
	sj, _ := json.Marshal(state{Manifest: b.Manifest, Truncated: b.Truncated})
	if err := os.WriteFile(filepath.Join(tmp, stateName), sj, 0o600); err != nil {
		os.RemoveAll(tmp)
		return nil, errNoCache
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Unpacked meanwhile by another pyscope.
		os.RemoveAll(tmp)
	}
	cb := useCached(dir)
	if cb == nil {
		return nil, errNoCache
	}
	evict(root, dir)
	return cb, nil
}

// useCached opens an unpacked bundle under a shared lock, or returns nil.
func useCached(dir string) *Bundle {
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	if err := flock(lock, unix.LOCK_SH); err != nil {
		lock.Close()
		return nil
	}
	// Evicted while we waited for the lock: the state is gone.
	sj, err := os.ReadFile(filepath.Join(dir, stateName))
	var s state
	if err != nil || json.Unmarshal(sj, &s) != nil {
		lock.Close()
		return nil
	}
	now := time.Now()
	os.Chtimes(filepath.Join(dir, stateName), now, now) // most recently used
	return &Bundle{Dir: dir, Core: filepath.Join(dir, coreName), Root: filepath.Join(dir, rootDir),
		Manifest: s.Manifest, Truncated: s.Truncated, lock: lock}
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// evict keeps the maxCached most recently used bundles (keep among them)
// and removes the others that no one has open, and unpacks abandoned for
// a day.
func evict(root, keep string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type entry struct {
		dir  string
		used time.Time
	}
	var all []entry
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		if strings.HasPrefix(e.Name(), ".unpack-") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				os.RemoveAll(dir)
			}
			continue
		}
		if !e.IsDir() || dir == keep {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, stateName))
		if err != nil {
			continue
		}
		all = append(all, entry{dir, fi.ModTime()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.After(all[j].used) })
	for i := maxCached - 1; i < len(all); i++ {
		lock, err := os.OpenFile(filepath.Join(all[i].dir, lockName), os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		if flock(lock, unix.LOCK_EX|unix.LOCK_NB) == nil {
			// The state goes first: an opener waiting on the lock sees
			// no bundle and unpacks it again.
			os.Remove(filepath.Join(all[i].dir, stateName))
			os.RemoveAll(all[i].dir)
		}
		lock.Close()
	}
}
