// Package source reads the Python source files a target runs, as the target
// sees them (through /proc/PID/root for a live process, or a sysroot for a
// core), including modules imported from zip archives, and decodes them as
// Python does: a UTF-8 byte order mark, or the encoding a PEP 263
// declaration names.
package source

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"strings"
	"time"
)

const maxFileSize = 16 << 20

// Opener opens a file by the target's path.
type Opener func(path string) (*os.File, error)

// Files caches source files. Not safe for concurrent use.
type Files struct {
	open  Opener
	cache map[string]*file
}

type file struct {
	lines []string
	mtime time.Time
	err   error
}

// New returns a reader that opens files with open.
func New(open Opener) *Files { return &Files{open: open, cache: map[string]*file{}} }

// Line returns line n (1-based) of path.
func (f *Files) Line(path string, n int) (string, bool) {
	lines, err := f.Lines(path)
	if err != nil || n < 1 || n > len(lines) {
		return "", false
	}
	return lines[n-1], true
}

// Lines returns all lines of path, decoded as Python decodes the file
// (Decode), without their line ends.
func (f *Files) Lines(path string) ([]string, error) {
	if c, ok := f.cache[path]; ok {
		return c.lines, c.err
	}
	c := &file{}
	var data []byte
	data, c.mtime, c.err = f.read(path)
	if c.err == nil {
		c.lines = splitLines(Decode(data))
	}
	f.cache[path] = c
	return c.lines, c.err
}

// splitLines splits text as linecache does (readlines with universal
// newlines): "\r\n", "\r" and "\n" end a line, and a newline at the end
// starts none. The compiler counts lines the same way.
func splitLines(text string) []string {
	var lines []string
	for len(text) > 0 {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			lines = append(lines, text)
			break
		}
		lines = append(lines, text[:i])
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
	return lines
}

// ModTime returns the modification time of path, if it was read.
func (f *Files) ModTime(path string) (time.Time, bool) {
	if c, ok := f.cache[path]; ok && c.err == nil {
		return c.mtime, true
	}
	return time.Time{}, false
}

// ChangedAfter reports whether path, once read, was modified after t (a
// process's start, a core's writing), and when. The start of a process is
// known to about a second (the boot time in /proc is in whole seconds), so
// a file written within that second is not reported.
func (f *Files) ChangedAfter(path string, t time.Time) (time.Time, bool) {
	mt, ok := f.ModTime(path)
	if !ok || t.IsZero() || !mt.After(t.Add(time.Second)) {
		return time.Time{}, false
	}
	return mt, true
}

// ErrNoSource is returned for code that has no file: "<string>", frozen
// modules and the like.
type ErrNoSource struct{ Path string }

func (e *ErrNoSource) Error() string { return "no source file for " + e.Path }

func (f *Files) read(path string) ([]byte, time.Time, error) {
	if path == "" || strings.HasPrefix(path, "<") {
		return nil, time.Time{}, &ErrNoSource{path}
	}
	b, mt, err := f.readPlain(path)
	if err == nil {
		return b, mt, nil
	}
	// A module imported from a zip: /a/b.zip/pkg/mod.py.
	if i := strings.Index(path, ".zip/"); i >= 0 {
		if b, mt, zerr := f.readZip(path[:i+4], path[i+5:]); zerr == nil {
			return b, mt, nil
		}
	}
	return nil, time.Time{}, err
}

func (f *Files) readPlain(path string) ([]byte, time.Time, error) {
	h, err := f.open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !st.Mode().IsRegular() {
		return nil, time.Time{}, &ErrNoSource{path}
	}
	b, err := io.ReadAll(io.LimitReader(h, maxFileSize))
	return b, st.ModTime(), err
}

func (f *Files) readZip(archive, member string) ([]byte, time.Time, error) {
	h, err := f.open(archive)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	zr, err := zip.NewReader(h, st.Size())
	if err != nil {
		return nil, time.Time{}, err
	}
	for _, zf := range zr.File {
		if zf.Name != member {
			continue
		}
		if zf.UncompressedSize64 > maxFileSize {
			return nil, time.Time{}, &ErrNoSource{archive + "/" + member}
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, time.Time{}, err
		}
		defer rc.Close()
		var buf bytes.Buffer
		_, err = io.Copy(&buf, io.LimitReader(rc, maxFileSize))
		return buf.Bytes(), st.ModTime(), err
	}
	return nil, time.Time{}, &ErrNoSource{archive + "/" + member}
}
