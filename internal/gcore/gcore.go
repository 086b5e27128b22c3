// Package gcore writes an ELF core file of a live process, in the layout
// the kernel uses, so that gdb and pyscope's core backend can open it.
//
// What is dumped follows the kernel's default coredump_filter (0x33):
// anonymous memory (heap, stacks, [vdso]) and every private file mapping
// that the process wrote to (copy-on-write pages, as its page map or smaps
// tells) are dumped whole. A private file mapping that is still identical
// to its file is represented only by its first page when it maps offset 0
// of an ELF file (the ELF headers and build-id note, so readers can verify
// the file on disk) and otherwise not at all: readers take those bytes from
// the file. Shared file mappings are skipped unless the file is deleted
// (memfd, SysV shm). [vvar], [vsyscall], unreadable and device mappings get
// a segment with no data. Options.FullFileMappings dumps file mappings
// whole instead. Pages of private anonymous memory that were never touched
// read as zeros and are left as holes.
//
// Three ways to take it, equally consistent (registers, notes and memory
// of one stop), the caller choosing (the engine):
//   - Write: while the process stays stopped, as gdb does.
//   - Capture: copy the memory into pyscope's own while it is stopped; the
//     Image is written after it is resumed.
//   - CaptureFork: copy only what a fork does not freeze, fork a
//     copy-on-write snapshot (target.Forker), resume; the Image is written
//     from the snapshot (UseSnapshot).
package gcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"pyscope/internal/target"
)

// Options control what is written.
type Options struct {
	// FullFileMappings dumps file-backed mappings whole (a larger core
	// that does not need the files to be read).
	FullFileMappings bool
	// Warn receives one-line warnings (unreadable pages, missing registers).
	Warn func(string)
	// Budget is how much memory a copy may take (Capture, CaptureFork).
	Budget uint64
}

// Stats describes a written core.
type Stats struct {
	// Pause is how long the target had been stopped when the core was
	// complete (Write). Zero when the target cannot tell.
	Pause      time.Duration
	Bytes      int64 // size of the core file
	Segments   int   // PT_LOAD segments
	Threads    int
	Unreadable int64 // bytes of dumped mappings that could not be read (zero-filled)
	// Copied is how much memory was copied while the target was stopped
	// (Capture, CaptureFork).
	Copied uint64
}

const (
	pageSize  = 4096
	chunkSize = 1 << 20
	ehdrSize  = 64
	phdrSize  = 56
	shdrSize  = 64
	pnXnum    = 0xffff
)

type pauser interface{ PauseDuration() time.Duration }
type fpRegser interface {
	FPRegs(tid int) ([]byte, error)
}

// Image is a core taken from a stopped process, to be written (possibly
// after the process runs again): header and notes of the stop, and where
// each segment's bytes are.
type Image struct {
	pid      int
	header   []byte
	segs     []seg
	total    uint64
	threads  int
	pieces   []piece // copies, in address order
	fromCopy []bool  // per segment: its bytes are in pieces
	mem      target.Memory
	copied   uint64
	bad      int64
	warnings []string
	arena    *Arena
}

// newImage lays the core out: header, notes, then the segments.
func newImage(p target.Target, segs []seg, warn func(string)) (*Image, error) {
	pid := p.PID()
	threads := p.Threads()
	if len(threads) == 0 {
		return nil, fmt.Errorf("process %d has no threads to dump", pid)
	}
	withRegs := 0
	for _, t := range threads {
		if t.Regs != nil {
			withRegs++
		}
	}
	if withRegs == 0 {
		return nil, fmt.Errorf("process %d is not stopped (no registers); a core needs a stopped process (do not use --no-block)", pid)
	}
	maps := make([]target.Mapping, len(segs))
	for i, s := range segs {
		maps[i] = s.m
	}
	notes := buildNotes(p, threads, maps, warn)

	nph := uint64(len(segs) + 1)
	hdrEnd := ehdrSize + nph*phdrSize
	xnum := nph >= pnXnum
	if xnum {
		hdrEnd += shdrSize
	}
	notesOff := hdrEnd
	off := alignUp(notesOff+uint64(len(notes)), pageSize)
	for i := range segs {
		segs[i].off = off
		off += segs[i].filesz
	}
	var hdr bytes.Buffer
	writeEhdr(&hdr, p.Arch(), nph, xnum)
	// PT_NOTE, then one PT_LOAD per mapping.
	writePhdr(&hdr, 4, 0, notesOff, 0, uint64(len(notes)), 0, 4)
	for _, s := range segs {
		writePhdr(&hdr, 1, s.flags, s.off, s.m.Start, s.filesz, s.m.End-s.m.Start, pageSize)
	}
	if xnum {
		// Section header 0 carries the real program header count.
		var sh [shdrSize]byte
		binary.LittleEndian.PutUint32(sh[40:], 0)
		binary.LittleEndian.PutUint32(sh[44:], uint32(nph))
		hdr.Write(sh[:])
	}
	hdr.Write(notes)
	return &Image{pid: pid, header: hdr.Bytes(), segs: segs, total: off, threads: len(threads),
		fromCopy: make([]bool, len(segs))}, nil
}

// Write writes the core of p (a stopped live process) to w while it stays
// stopped. If w is an *os.File, zero blocks are left as holes and the file
// is truncated to the core's size; any other WriterAt receives every byte.
func Write(p target.Target, w io.WriterAt, opts Options) (Stats, error) {
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	segs := plan(p, p.Mappings(), opts)
	fillSpans(p, segs)
	im, err := newImage(p, segs, warn)
	if err != nil {
		return Stats{}, err
	}
	im.mem = p
	im.warnings = warnings
	st, err := im.Write(w, opts)
	if pp, ok := p.(pauser); ok {
		st.Pause = pp.PauseDuration()
	}
	return st, err
}

// WriteFile is Write to a new file at path (sparse: holes for zero pages).
// On error the partial file is removed.
func WriteFile(p target.Target, path string, opts Options) (Stats, error) {
	return writeFile(path, func(f *os.File) (Stats, error) { return Write(p, f, opts) })
}

func writeFile(path string, write func(*os.File) (Stats, error)) (Stats, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Stats{}, fmt.Errorf("cannot create core file: %v", err)
	}
	st, err := write(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %v", path, cerr)
	}
	if err != nil {
		os.Remove(path)
	}
	return st, err
}

// Write writes the image to w (see Write for the sparse handling).
func (im *Image) Write(w io.WriterAt, opts Options) (_ Stats, err error) {
	st := Stats{Threads: im.threads, Segments: len(im.segs), Copied: im.copied}
	// Warnings are held back until the core is complete: when the write
	// fails (e.g. the process exited) they only obscure the error.
	warnings := im.warnings
	defer func() {
		if opts.Warn != nil && err == nil {
			for _, w := range warnings {
				opts.Warn(w)
			}
		}
	}()
	if _, err := w.WriteAt(im.header, 0); err != nil {
		return st, fmt.Errorf("writing core: %v", err)
	}
	file, sparse := w.(*os.File)
	zero := make([]byte, chunkSize)
	bad := im.bad
	pi := 0
	var buf []byte
	for i := range im.segs {
		s := &im.segs[i]
		if !sparse {
			// Holes are written as zeros.
			for done := uint64(0); done < s.filesz; {
				n := min(uint64(chunkSize), s.filesz-done)
				if _, err := w.WriteAt(zero[:n], int64(s.off+done)); err != nil {
					return st, fmt.Errorf("writing core: %v", err)
				}
				done += n
			}
		}
		if im.fromCopy[i] {
			for ; pi < len(im.pieces) && im.pieces[pi].seg == i; pi++ {
				pc := im.pieces[pi]
				if err := writeData(w, pc.buf, zero, int64(s.off+pc.addr-s.m.Start), sparse); err != nil {
					return st, fmt.Errorf("writing core: %v", err)
				}
			}
			continue
		}
		if buf == nil {
			buf = make([]byte, chunkSize)
		}
		for _, sp := range s.spans() {
			for a := sp.start; a < sp.end; {
				n := min(uint64(chunkSize), sp.end-a)
				b := buf[:n]
				nbad, err := readFill(im.mem, b, a)
				if err != nil {
					return st, fmt.Errorf("process %d: %w while its core was being written; no core was saved", im.pid, target.ErrExited)
				}
				bad += nbad
				if err := writeData(w, b, zero, int64(s.off+a-s.m.Start), sparse); err != nil {
					return st, fmt.Errorf("writing core: %v", err)
				}
				a += n
			}
		}
	}
	if sparse {
		if err := file.Truncate(int64(im.total)); err != nil {
			return st, fmt.Errorf("writing core: %v", err)
		}
	}
	if bad > 0 {
		warnings = append(warnings, fmt.Sprintf("process %d: %d bytes of memory could not be read and were written as zeros", im.pid, bad))
	}
	st.Unreadable = bad
	st.Bytes = int64(im.total)
	return st, nil
}

// WriteFile writes the image to a new file at path.
func (im *Image) WriteFile(path string, opts Options) (Stats, error) {
	return writeFile(path, func(f *os.File) (Stats, error) { return im.Write(f, opts) })
}

// Close releases the copy.
func (im *Image) Close() {
	if im.arena != nil {
		im.arena.Free()
		im.arena = nil
	}
	im.pieces = nil
}

// readFill reads b from the target; unreadable pages are zeroed. It
// returns how many bytes could not be read, and an error only when the
// process has exited (its memory is gone: the core would be mostly zeros).
func readFill(p target.Memory, b []byte, addr uint64) (int64, error) {
	n, err := p.ReadAt(b, addr)
	if err == nil && n == len(b) {
		return 0, nil
	}
	if errors.Is(err, target.ErrExited) {
		return 0, err
	}
	var bad int64
	for i := 0; i < len(b); i += pageSize {
		j := min(i+pageSize, len(b))
		if i+pageSize <= n {
			continue
		}
		if k, err := p.ReadAt(b[i:j], addr+uint64(i)); err != nil || k < j-i {
			if errors.Is(err, target.ErrExited) {
				return bad, err
			}
			clear(b[i:j])
			bad += int64(j - i)
		}
	}
	return bad, nil
}

func writeData(w io.WriterAt, b, zero []byte, off int64, sparse bool) error {
	if !sparse {
		_, err := w.WriteAt(b, off)
		return err
	}
	const block = 64 << 10
	for i := 0; i < len(b); i += block {
		j := min(i+block, len(b))
		if bytes.Equal(b[i:j], zero[:j-i]) {
			continue
		}
		if _, err := w.WriteAt(b[i:j], off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

func permFlags(perms string) uint32 {
	var fl uint32
	if len(perms) >= 3 {
		if perms[0] == 'r' {
			fl |= 4
		}
		if perms[1] == 'w' {
			fl |= 2
		}
		if perms[2] == 'x' {
			fl |= 1
		}
	}
	return fl
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

func writeEhdr(b *bytes.Buffer, arch target.Arch, nph uint64, xnum bool) {
	var h [ehdrSize]byte
	copy(h[:], "\x7fELF")
	h[4] = 2 // ELFCLASS64
	h[5] = 1 // little-endian
	h[6] = 1 // EV_CURRENT
	le := binary.LittleEndian
	le.PutUint16(h[16:], 4) // ET_CORE
	le.PutUint16(h[18:], uint16(arch))
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], ehdrSize) // e_phoff
	le.PutUint16(h[52:], ehdrSize)
	le.PutUint16(h[54:], phdrSize)
	if xnum {
		le.PutUint16(h[56:], pnXnum)
		le.PutUint64(h[40:], ehdrSize+nph*phdrSize) // e_shoff
		le.PutUint16(h[58:], shdrSize)
		le.PutUint16(h[60:], 1)
	} else {
		le.PutUint16(h[56:], uint16(nph))
	}
	b.Write(h[:])
}

func writePhdr(b *bytes.Buffer, typ, flags uint32, off, vaddr, filesz, memsz, align uint64) {
	var h [phdrSize]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], typ)
	le.PutUint32(h[4:], flags)
	le.PutUint64(h[8:], off)
	le.PutUint64(h[16:], vaddr)
	le.PutUint64(h[32:], filesz)
	le.PutUint64(h[40:], memsz)
	le.PutUint64(h[48:], align)
	b.Write(h[:])
}
