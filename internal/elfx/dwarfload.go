package elfx

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	kflate "github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// debug/elf's File.DWARF decompresses every debug section, the location
// lists pyscope never reads included, through a reader that grows its
// buffer in 10 MiB steps: for a distribution's debug file of CPython that
// is tens of megabytes of garbage per load, and the layout and the native
// symbolizer each load it. Here only the sections pyscope uses are read,
// once per file (by build-id), each into a buffer of its exact size; the
// two big ones (.debug_info, .debug_line) only as far as a reader needs,
// since a compressed section can only be decompressed front to back.
//
// The buffers are mapped memory outside the Go heap and kept for the life
// of the process: megabytes of long-lived section data on the heap would
// raise every later collection's target by a multiple of their size.

// maxSection bounds one decompressed section (untrusted headers).
const maxSection = 1 << 30

// DWARFSections are the debug sections of one file.
type DWARFSections struct {
	Abbrev, Str, LineStr, Ranges, Rnglists, Addr, StrOffsets, Aranges []byte
	// Info and Line are filled on demand (Upto).
	Info, Line *Lazy
	types      [][]byte
}

// Lazy is a section filled front to back on demand. Bytes past what Upto
// asked for read as zeros.
type Lazy struct {
	mu   sync.Mutex
	buf  []byte
	have int
	r    io.Reader // positioned at have; nil when complete
	err  error
}

// rebind reads what is left from open, the caller's file.
func (l *Lazy) rebind(open func() (io.Reader, error)) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.have == len(l.buf) {
		return
	}
	r, err := open()
	if err == nil {
		_, err = io.CopyN(io.Discard, r, int64(l.have))
	}
	if err != nil {
		l.err = fmt.Errorf("reading DWARF: %v", err)
		return
	}
	l.r, l.err = r, nil
}

// Bytes is the whole section; only what Upto filled is valid.
func (l *Lazy) Bytes() []byte {
	if l == nil {
		return nil
	}
	return l.buf
}

// Len is the section's size.
func (l *Lazy) Len() int {
	if l == nil {
		return 0
	}
	return len(l.buf)
}

// Upto makes the first n bytes valid.
func (l *Lazy) Upto(n int) error {
	if l == nil {
		return errors.New("no such section")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.buf))
	if n <= l.have {
		return nil
	}
	if l.err != nil {
		return l.err
	}
	got, err := io.ReadFull(l.r, l.buf[l.have:n])
	l.have += got
	if err != nil {
		l.err = fmt.Errorf("reading DWARF: %v", err)
		return l.err
	}
	if l.have == len(l.buf) {
		l.r = nil
	}
	return nil
}

var (
	sectionsMu sync.Mutex
	sections   = map[string]*DWARFSections{}
)

// Sections returns the debug sections of f. raw, if not nil, reads the
// file f was made from (compressed sections are then inflated faster, and
// without checksumming them: DWARF is checked as it is parsed). id names
// the file's contents (its build-id); "" shares nothing. It fails without
// .debug_info.
func Sections(f *elf.File, raw io.ReaderAt, id string) (s *DWARFSections, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed ELF sections: %v", r)
		}
	}()
	if id != "" {
		sectionsMu.Lock()
		s := sections[id]
		sectionsMu.Unlock()
		if s != nil {
			s.Info.rebind(func() (io.Reader, error) { return reopen(f, raw, "info") })
			s.Line.rebind(func() (io.Reader, error) { return reopen(f, raw, "line") })
			return s, nil
		}
	}
	s = &DWARFSections{}
	for _, x := range []struct {
		name string
		dst  *[]byte
	}{
		{"abbrev", &s.Abbrev}, {"str", &s.Str}, {"line_str", &s.LineStr}, {"ranges", &s.Ranges},
		{"rnglists", &s.Rnglists}, {"addr", &s.Addr}, {"str_offsets", &s.StrOffsets}, {"aranges", &s.Aranges},
	} {
		l, err := lazySection(f, raw, x.name)
		if err != nil {
			return nil, err
		}
		if l != nil {
			if err := l.Upto(l.Len()); err != nil {
				return nil, err
			}
			*x.dst = l.buf
		}
	}
	if s.Info, err = lazySection(f, raw, "info"); err != nil {
		return nil, err
	}
	if s.Info == nil {
		return nil, errors.New("no .debug_info section")
	}
	if s.Line, err = lazySection(f, raw, "line"); err != nil {
		return nil, err
	}
	for _, sec := range f.Sections {
		if sec.Name != ".debug_types" {
			continue
		}
		l, err := newLazy(sec, raw)
		if err != nil {
			return nil, err
		}
		if l != nil {
			if err := l.Upto(l.Len()); err != nil {
				return nil, err
			}
			s.types = append(s.types, l.buf)
		}
	}
	if id != "" {
		sectionsMu.Lock()
		if old := sections[id]; old != nil {
			s = old // loaded meanwhile
		} else {
			sections[id] = s
		}
		sectionsMu.Unlock()
	}
	return s, nil
}

// Data makes a dwarf.Data over info (Info.Bytes(), or a view of it) and
// the line tables; the caller makes sure what it reads is filled.
func (s *DWARFSections) Data(info []byte) (*dwarf.Data, error) {
	d, err := dwarf.New(s.Abbrev, nil, nil, info, s.Line.Bytes(), nil, s.Ranges, s.Str)
	if err != nil {
		return nil, err
	}
	for _, x := range []struct {
		name string
		b    []byte
	}{{".debug_addr", s.Addr}, {".debug_line_str", s.LineStr}, {".debug_str_offsets", s.StrOffsets}, {".debug_rnglists", s.Rnglists}} {
		if x.b != nil {
			if err := d.AddSection(x.name, x.b); err != nil {
				return nil, err
			}
		}
	}
	for i, b := range s.types {
		if err := d.AddTypes(fmt.Sprintf("types-%d", i), b); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// LoadDWARF returns the whole DWARF of f (see Sections for raw and id);
// lines loads the line tables too.
func LoadDWARF(f *elf.File, raw io.ReaderAt, id string, lines bool) (d *dwarf.Data, err error) {
	d, _, err = LoadDWARFSections(f, raw, id, lines)
	return d, err
}

// LoadDWARFSections is LoadDWARF that also returns the sections d reads,
// for TopLevel; nil for a relocatable object, whose relocations debug/elf
// applies to copies of its own.
func LoadDWARFSections(f *elf.File, raw io.ReaderAt, id string, lines bool) (d *dwarf.Data, s *DWARFSections, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, s, err = nil, nil, fmt.Errorf("malformed DWARF: %v", r)
		}
	}()
	if f.Type == elf.ET_REL {
		d, err = f.DWARF()
		return d, nil, err
	}
	if s, err = Sections(f, raw, id); err != nil {
		return nil, nil, err
	}
	if err := s.Info.Upto(s.Info.Len()); err != nil {
		return nil, nil, err
	}
	if lines && s.Line != nil {
		if err := s.Line.Upto(s.Line.Len()); err != nil {
			return nil, nil, err
		}
	}
	if d, err = s.Data(s.Info.Bytes()); err != nil {
		return nil, nil, err
	}
	return d, s, nil
}

// lazySection opens .debug_<name>, or the older compressed .zdebug_<name>;
// nil when there is none.
func lazySection(f *elf.File, raw io.ReaderAt, name string) (*Lazy, error) {
	if s := f.Section(".debug_" + name); s != nil {
		return newLazy(s, raw)
	}
	if s := f.Section(".zdebug_" + name); s != nil {
		return newZdebug(s)
	}
	return nil, nil
}

// reopen reads .debug_<name> of f from the start.
func reopen(f *elf.File, raw io.ReaderAt, name string) (io.Reader, error) {
	l, err := lazySection(f, raw, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errors.New("section gone")
	}
	unix.Munmap(l.buf)
	return l.r, nil
}

// newLazy prepares a section (decompressed if SHF_COMPRESSED) for reading
// into a buffer of its exact size.
func newLazy(s *elf.Section, raw io.ReaderAt) (*Lazy, error) {
	if s.Type == elf.SHT_NOBITS || s.Size == 0 {
		return nil, nil
	}
	// zlib and zstd expand at most about a thousandfold.
	if s.Size > maxSection || (s.Flags&elf.SHF_COMPRESSED != 0 && s.Size > 1100*s.FileSize+4096) {
		return nil, fmt.Errorf("section %s: implausible size %d", s.Name, s.Size)
	}
	buf, err := offHeap(s.Size)
	if err != nil {
		return nil, err
	}
	if raw != nil && s.Flags&elf.SHF_COMPRESSED != 0 {
		if r := inflater(s, raw); r != nil {
			return &Lazy{buf: buf, r: r}, nil
		}
	}
	return &Lazy{buf: buf, r: s.Open()}, nil
}

// inflater reads a compressed section straight from the file: its
// Elf64_Chdr, then a zlib stream (read as raw deflate, its checksum left
// alone) or a zstd frame. nil for anything else.
func inflater(s *elf.Section, raw io.ReaderAt) io.Reader {
	const chdrSize = 24
	if s.FileSize < chdrSize+2 {
		return nil
	}
	var ch [chdrSize]byte
	if _, err := raw.ReadAt(ch[:], int64(s.Offset)); err != nil {
		return nil
	}
	body := io.NewSectionReader(raw, int64(s.Offset)+chdrSize, int64(s.FileSize)-chdrSize)
	switch binary.LittleEndian.Uint32(ch[:]) {
	case uint32(elf.COMPRESS_ZLIB):
		var zh [2]byte
		if _, err := body.ReadAt(zh[:], 0); err != nil || zh[0]&0x0f != 8 || zh[1]&0x20 != 0 || (uint16(zh[0])<<8|uint16(zh[1]))%31 != 0 {
			return nil // not deflate, or a preset dictionary
		}
		return kflate.NewReader(bufio.NewReaderSize(io.NewSectionReader(body, 2, body.Size()-2), 64<<10))
	case uint32(elf.COMPRESS_ZSTD):
		zr, err := zstd.NewReader(bufio.NewReaderSize(body, 64<<10), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil
		}
		return zr.IOReadCloser()
	}
	return nil
}

// newZdebug prepares a .zdebug_ section: "ZLIB", the size (big-endian),
// then a zlib stream.
func newZdebug(s *elf.Section) (*Lazy, error) {
	if s.FileSize < 12 || s.FileSize > maxSection {
		return nil, fmt.Errorf("section %s: implausible size", s.Name)
	}
	var hdr [12]byte
	if _, err := s.ReadAt(hdr[:], 0); err != nil {
		return nil, err
	}
	if !bytes.Equal(hdr[:4], []byte("ZLIB")) {
		return nil, fmt.Errorf("section %s: not zlib-compressed", s.Name)
	}
	n := binary.BigEndian.Uint64(hdr[4:])
	if n > maxSection || n > 1100*s.FileSize+4096 {
		return nil, fmt.Errorf("section %s: implausible size %d", s.Name, n)
	}
	if n == 0 {
		return nil, nil
	}
	zr, err := zlib.NewReader(io.NewSectionReader(s, 12, int64(s.FileSize)-12))
	if err != nil {
		return nil, err
	}
	buf, err := offHeap(n)
	if err != nil {
		return nil, err
	}
	return &Lazy{buf: buf, r: zr}, nil
}

// offHeap maps n bytes of anonymous memory (pages cost nothing until
// written).
func offHeap(n uint64) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("cannot map %d bytes for DWARF: %v", n, err)
	}
	return b, nil
}

// Raw is the file f was read from, for Sections and LoadDWARF.
func (f *File) Raw() io.ReaderAt {
	if f.f == nil {
		return nil
	}
	return f.f
}

var (
	parsingMu  sync.Mutex
	parsing    int
	parsingOld int
)

// Parsing paces the collector at GOGC 100 until the returned function is
// called: debug/dwarf allocates an entry for every DIE it reads, tens of
// megabytes of short-lived garbage for a distribution's debug file, which
// the relaxed pace a dump runs at (main's GOGC 400) lets pile up to half
// of a cold --native dump's peak memory. A pace the user set lower (or
// off) stands. Concurrent parsers share one change.
func Parsing() (done func()) {
	parsingMu.Lock()
	defer parsingMu.Unlock()
	if parsing == 0 {
		parsingOld = debug.SetGCPercent(100)
		if parsingOld < 100 {
			debug.SetGCPercent(parsingOld)
		}
	}
	parsing++
	return func() {
		parsingMu.Lock()
		defer parsingMu.Unlock()
		if parsing--; parsing == 0 {
			debug.SetGCPercent(parsingOld)
		}
	}
}
