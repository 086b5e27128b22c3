package core

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// compression detects a compressed core by its magic bytes.
func compression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	}
	return ""
}

func decompressor(kind string, r io.Reader) (io.Reader, func(), error) {
	switch kind {
	case "zstd":
		// Cores can be large; the window limit is what zstd --long allows.
		d, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	case "xz":
		d, err := xz.NewReader(r)
		return d, func() {}, err
	case "lz4":
		return lz4.NewReader(r), func() {}, nil
	case "gzip":
		d, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return d, func() { d.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", kind)
}

// decompressToTemp streams a compressed core into an unlinked temporary
// file (so nothing is left behind even if pyscope is killed). All-zero
// blocks are skipped, leaving holes: cores are mostly sparse.
// A stream that breaks after some output is kept, with a warning.
func decompressToTemp(src *os.File, kind string) (f *os.File, warning string, err error) {
	r, closeFn, err := decompressor(kind, src)
	if err != nil {
		return nil, "", fmt.Errorf("%s: bad %s data: %v", src.Name(), kind, err)
	}
	defer closeFn()
	tmp, err := os.CreateTemp("", "pyscope-core-*")
	if err != nil {
		return nil, "", fmt.Errorf("cannot create a temporary file to decompress %s: %v (set TMPDIR)", src.Name(), err)
	}
	os.Remove(tmp.Name())
	const block = 64 << 10
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		for i := 0; i < n; i += block {
			j := min(i+block, n)
			if isZero(buf[i:j]) {
				continue
			}
			if _, err := tmp.WriteAt(buf[i:j], off+int64(i)); err != nil {
				tmp.Close()
				return nil, "", fmt.Errorf("decompressing %s: %v (set TMPDIR to a directory with more space)", src.Name(), err)
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			if off == 0 {
				tmp.Close()
				return nil, "", fmt.Errorf("%s: bad %s data: %v", src.Name(), kind, rerr)
			}
			warning = fmt.Sprintf("%s: %s data is corrupt after %d bytes: %v; using what was decompressed", src.Name(), kind, off, rerr)
			break
		}
	}
	if err := tmp.Truncate(off); err != nil {
		tmp.Close()
		return nil, "", fmt.Errorf("decompressing %s: %v", src.Name(), err)
	}
	return tmp, warning, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
