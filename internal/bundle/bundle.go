// Package bundle writes and reads a post-mortem bundle: one zstd-compressed
// tar holding a core file and every file the process mapped (plus the
// Python sources of its frames), under a sysroot-like layout, so that the
// core can be analysed on a machine without the original files.
//
// Layout of the archive, in order:
//
//	pyscope-bundle.json   manifest (always the first entry)
//	core                  the ELF core
//	root/<absolute path>  the process's files, as the process saw them
package bundle

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

const (
	manifestName = "pyscope-bundle.json"
	coreName     = "core"
	rootDir      = "root"
	// Bounds on untrusted archives.
	maxManifest = 16 << 20
	maxEntries  = 100000
)

// Manifest describes a bundle.
type Manifest struct {
	Version    int       `json:"version"`
	PID        int       `json:"pid"`
	Executable string    `json:"executable"`
	Created    time.Time `json:"created"`
	Files      []string  `json:"files"` // absolute paths as the process saw them
}

// File is one file to put in a bundle.
type File struct {
	Path  string // absolute path as the process saw it
	Local string // where to read it now
}

// Write creates the archive out from the core at corePath and files. A file
// that cannot be read is skipped and reported through warn. The archive is
// written to a temporary name and renamed, so out is never half-written.
func Write(out, corePath string, files []File, m Manifest, warn func(string)) (n int64, err error) {
	if warn == nil {
		warn = func(string) {}
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".pyscope-bundle-*")
	if err != nil {
		return 0, fmt.Errorf("cannot create bundle: %v", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, sum), 1<<20)
	zw, err := zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return 0, err
	}
	tw := tar.NewWriter(zw)
	var kept []File
	for _, f := range files {
		if !filepath.IsAbs(f.Path) || cleanRel(f.Path) == "" {
			continue
		}
		st, err := os.Stat(f.Local)
		if err != nil || !st.Mode().IsRegular() {
			warn(fmt.Sprintf("%s: not bundled: cannot read %s", f.Path, f.Local))
			continue
		}
		kept = append(kept, f)
	}
	m.Version = 1
	m.Created = time.Now().UTC().Truncate(time.Second)
	m.Files = m.Files[:0]
	for _, f := range kept {
		m.Files = append(m.Files, f.Path)
	}
	mj, _ := json.MarshalIndent(m, "", "  ")
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(mj)), ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
		return 0, err
	}
	if _, err := tw.Write(mj); err != nil {
		return 0, err
	}
	if err := addFile(tw, coreName, corePath, 0o600); err != nil {
		return 0, fmt.Errorf("bundling the core: %v", err)
	}
	for _, f := range kept {
		if err := addFile(tw, path.Join(rootDir, cleanRel(f.Path)), f.Local, 0o644); err != nil {
			if errors.Is(err, errWrite) {
				return 0, err
			}
			warn(fmt.Sprintf("%s: not bundled: %v", f.Path, err))
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("writing %s: %v", out, err)
	}
	if _, err := tmp.Write(trailer(sum.Sum(nil))); err != nil {
		return 0, fmt.Errorf("writing %s: %v", out, err)
	}
	st, _ := tmp.Stat()
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("writing %s: %v", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("cannot create %s: %v", out, err)
	}
	if st != nil {
		n = st.Size()
	}
	return n, nil
}

var errWrite = errors.New("writing the bundle failed")

// addFile copies a local file into the archive. The size is taken from the
// open file, so a file that changes meanwhile is cut or padded rather than
// corrupting the archive.
func addFile(tw *tar.Writer, name, local string, mode int64) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: mode, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%w: %v", errWrite, err)
	}
	// A read error only shortens the copy (padded below, so the archive
	// stays well-formed); a write error ends the bundle.
	n, err := io.Copy(tw, &readErrs{r: io.LimitReader(f, st.Size())})
	if err != nil && !errors.Is(err, errRead) {
		return fmt.Errorf("%w: %v", errWrite, err)
	}
	if n < st.Size() {
		if _, err := io.Copy(tw, io.LimitReader(zeros{}, st.Size()-n)); err != nil {
			return fmt.Errorf("%w: %v", errWrite, err)
		}
	}
	return nil
}

var errRead = errors.New("read error")

type readErrs struct{ r io.Reader }

func (r *readErrs) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", errRead, err)
	}
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// cleanRel turns an absolute path from the target into a relative path
// that cannot leave the archive's root ("" when nothing is left).
func cleanRel(p string) string {
	c := path.Clean("/" + p)
	c = strings.TrimPrefix(c, "/")
	if c == "." || c == "" {
		return ""
	}
	return c
}

// Is reports whether path is a bundle: a zstd stream whose first entry is
// the manifest. A zstd-compressed plain core is not a bundle.
func Is(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "\x28\xb5\x2f\xfd" {
		return false
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false
	}
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
	if err != nil {
		return false
	}
	defer zr.Close()
	h, err := tar.NewReader(zr).Next()
	return err == nil && h.Name == manifestName
}

// Bundle is an unpacked bundle.
type Bundle struct {
	Dir      string // directory holding everything
	Core     string // the core file
	Root     string // sysroot for the core's files
	Manifest Manifest
	// Truncated names the entry where the archive broke off ("" when
	// complete): it and every later file are missing.
	Truncated string
	// lock is held (shared) on a cached bundle while it is open; nil for
	// a temporary one, which Close removes.
	lock *os.File
}

// Open unpacks a bundle. With tmpDir "" it is unpacked once into the cache
// (see cached.go) and later opens find it there; otherwise into a new
// directory under tmpDir that Close removes. Entry names are confined to
// the directory; only regular files are created.
func Open(p, tmpDir string) (*Bundle, error) {
	if tmpDir == "" {
		b, err := openCached(p)
		if err != errNoCache {
			return b, err
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cannot open bundle: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot open bundle: %v", err)
	}
	dir, err := os.MkdirTemp(tmpDir, "pyscope-bundle-")
	if err != nil {
		return nil, fmt.Errorf("cannot unpack bundle: %v", err)
	}
	n := st.Size()
	if _, size, ok := readTrailer(f, n); ok {
		n = size
	}
	b, _, err := unpack(p, io.NewSectionReader(f, 0, n), dir)
	return b, err
}

// unpack unpacks the archive read from r into dir (which it removes on
// error) and returns the SHA-256 of what it read.
func unpack(p string, r io.Reader, dir string) (b *Bundle, digest []byte, err error) {
	b = &Bundle{Dir: dir, Core: filepath.Join(dir, coreName), Root: filepath.Join(dir, rootDir)}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			b = nil
		}
	}()
	sum := sha256.New()
	zr, err := zstd.NewReader(bufio.NewReaderSize(io.TeeReader(r, sum), 1<<20), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
	if err != nil {
		return b, nil, fmt.Errorf("%s: not a pyscope bundle: %v", p, err)
	}
	defer zr.Close()
	if err := os.Mkdir(b.Root, 0o755); err != nil {
		return b, nil, fmt.Errorf("cannot unpack bundle: %v", err)
	}
	tr := tar.NewReader(zr)
	haveCore := false
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if haveCore {
				// Keep what was unpacked: the core may still be readable.
				if b.Truncated == "" {
					b.Truncated = "(after the last file)"
				}
				break
			}
			return b, nil, fmt.Errorf("%s: corrupt or truncated bundle: %v", p, err)
		}
		if i >= maxEntries {
			return b, nil, fmt.Errorf("%s: corrupt bundle: more than %d entries", p, maxEntries)
		}
		if i == 0 {
			if h.Name != manifestName || h.Size > maxManifest {
				return b, nil, fmt.Errorf("%s is not a pyscope bundle (no manifest); for a compressed core, pass it as is", p)
			}
			mj, err := io.ReadAll(io.LimitReader(tr, maxManifest))
			if err != nil || json.Unmarshal(mj, &b.Manifest) != nil {
				return b, nil, fmt.Errorf("%s: corrupt bundle manifest", p)
			}
			continue
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		var dst string
		switch {
		case h.Name == coreName:
			dst = b.Core
			haveCore = true
		case strings.HasPrefix(h.Name, rootDir+"/"):
			rel := cleanRel(strings.TrimPrefix(h.Name, rootDir+"/"))
			if rel == "" {
				continue
			}
			dst = filepath.Join(b.Root, filepath.FromSlash(rel))
		default:
			continue
		}
		complete, err := extract(dst, tr, h.Size)
		if err != nil {
			return b, nil, fmt.Errorf("cannot unpack bundle: %v", err)
		}
		if !complete {
			b.Truncated = h.Name
			if dst != b.Core {
				// A cut file would fail its build-id check; a cut core
				// is still worth reading.
				os.Remove(dst)
			}
			break
		}
		// The files keep the time they were last modified on the machine
		// the bundle came from: a source newer than the core is reported
		// as such, and nothing else is.
		if !h.ModTime.IsZero() {
			os.Chtimes(dst, h.ModTime, h.ModTime)
		}
	}
	if !haveCore {
		return b, nil, fmt.Errorf("%s: bundle holds no core", p)
	}
	// Read to the end, so the digest covers every byte.
	if _, err := io.Copy(io.Discard, zr); err != nil && b.Truncated == "" {
		b.Truncated = "(after the last file)"
	}
	return b, sum.Sum(nil), nil
}

// extract writes one entry, leaving holes for zero blocks (cores are
// mostly sparse), and reports whether all of its size bytes were there.
func extract(dst string, r io.Reader, size int64) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, 0o644)
	if err != nil {
		return false, err
	}
	buf := make([]byte, 1<<16)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if allZero(buf[:n]) {
				off += int64(n)
			} else {
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					f.Close()
					return false, err
				}
				off += int64(n)
			}
		}
		if rerr != nil {
			// io.EOF and io.ErrUnexpectedEOF end the entry; a broken
			// stream shows as fewer bytes than the header promised.
			break
		}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return false, err
	}
	return off == size, f.Close()
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Close releases the bundle: a cached one stays for the next open, a
// temporary one is removed.
func (b *Bundle) Close() error {
	if b == nil || b.Dir == "" {
		return nil
	}
	if b.lock != nil {
		err := b.lock.Close()
		b.lock = nil
		return err
	}
	return os.RemoveAll(b.Dir)
}
