// Package gcore writes an ELF core file of a stopped live process, in the
// layout the kernel uses, so that gdb and pyscope's core backend can open
// it.
//
// What is dumped follows the kernel's default coredump_filter (0x33):
// anonymous memory (heap, stacks, [vdso]) and every private file mapping
// that the process wrote to (copy-on-write pages, e.g. .data or relocated
// RELRO, as told by /proc/PID/smaps "Anonymous:") are dumped whole. A
// private file mapping that is still identical to its file is represented
// only by its first page when it maps offset 0 of an ELF file (the ELF
// headers and build-id note, so readers can verify the file on disk) and
// otherwise not at all: readers take those bytes from the file. Shared
// file mappings are skipped unless the file is deleted (memfd, SysV shm).
// [vvar], [vsyscall], unreadable and device mappings get a segment with
// no data. Options.FullFileMappings dumps file mappings whole instead.
package gcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
}

// Stats describes a written core.
type Stats struct {
	// Pause is how long the target had been stopped when the core was
	// complete (Write) or until it was resumed (Dump). Zero when the
	// target cannot tell.
	Pause      time.Duration
	Bytes      int64 // size of the core file
	Segments   int   // PT_LOAD segments
	Threads    int
	Unreadable int64 // bytes of dumped mappings that could not be read (zero-filled)
}

const (
	pageSize  = 4096
	chunkSize = 1 << 20
	ehdrSize  = 64
	phdrSize  = 56
	shdrSize  = 64
	pnXnum    = 0xffff
)

type seg struct {
	m      target.Mapping
	filesz uint64
	off    uint64
	flags  uint32
}

type pauser interface{ PauseDuration() time.Duration }
type fpRegser interface {
	FPRegs(tid int) ([]byte, error)
}

// WriteFile writes the core of p to a new file at path (sparse: holes for
// zero pages). On error the partial file is removed.
func WriteFile(p target.Target, path string, opts Options) (Stats, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Stats{}, fmt.Errorf("cannot create core file: %v", err)
	}
	st, err := Write(p, f, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %v", path, cerr)
	}
	if err != nil {
		os.Remove(path)
	}
	return st, err
}

// Write writes the core of p (a stopped live process) to w. If w is an
// *os.File, zero blocks are left as holes and the file is truncated to
// the core's size; any other WriterAt receives every byte.
func Write(p target.Target, w io.WriterAt, opts Options) (_ Stats, err error) {
	var st Stats
	pid := p.PID()
	// Warnings are held back until the core is complete: when the write
	// fails (e.g. the process exited) they only obscure the error.
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	defer func() {
		if opts.Warn != nil && err == nil {
			for _, w := range warnings {
				opts.Warn(w)
			}
		}
	}()
	threads := p.Threads()
	if len(threads) == 0 {
		return st, fmt.Errorf("process %d has no threads to dump", pid)
	}
	withRegs := 0
	for _, t := range threads {
		if t.Regs != nil {
			withRegs++
		}
	}
	if withRegs == 0 {
		return st, fmt.Errorf("process %d is not stopped (no registers); a core needs a stopped process (do not use --no-block)", pid)
	}
	maps := p.Mappings()
	anon := anonymousMappings(p)
	segs := make([]seg, 0, len(maps))
	for _, m := range maps {
		s := seg{m: m, flags: permFlags(m.Perms)}
		s.filesz = dumpSize(p, m, anon, opts)
		segs = append(segs, s)
	}

	notes := buildNotes(p, threads, maps, warn)

	nph := uint64(len(segs) + 1)
	hdrEnd := ehdrSize + nph*phdrSize
	xnum := nph >= pnXnum
	if xnum {
		hdrEnd += shdrSize
	}
	notesOff := hdrEnd
	dataOff := alignUp(notesOff+uint64(len(notes)), pageSize)
	off := dataOff
	for i := range segs {
		segs[i].off = off
		off += segs[i].filesz
	}
	total := off

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
	if _, err := w.WriteAt(hdr.Bytes(), 0); err != nil {
		return st, fmt.Errorf("writing core: %v", err)
	}

	file, sparse := w.(*os.File)
	buf := make([]byte, chunkSize)
	zero := make([]byte, chunkSize)
	for _, s := range segs {
		for done := uint64(0); done < s.filesz; {
			n := min(uint64(chunkSize), s.filesz-done)
			b := buf[:n]
			bad, err := readFill(p, b, s.m.Start+done)
			if err != nil {
				return st, fmt.Errorf("process %d: %w while its core was being written; no core was saved", pid, target.ErrExited)
			}
			st.Unreadable += bad
			if err := writeData(w, b, zero, int64(s.off+done), sparse); err != nil {
				return st, fmt.Errorf("writing core: %v", err)
			}
			done += n
		}
	}
	if sparse {
		if err := file.Truncate(int64(total)); err != nil {
			return st, fmt.Errorf("writing core: %v", err)
		}
	}
	if st.Unreadable > 0 {
		warn(fmt.Sprintf("process %d: %d bytes of memory could not be read and were written as zeros", pid, st.Unreadable))
	}
	st.Bytes = int64(total)
	st.Segments = len(segs)
	st.Threads = len(threads)
	if pp, ok := p.(pauser); ok {
		st.Pause = pp.PauseDuration()
	}
	return st, nil
}

// readFill reads b from the target; unreadable pages are zeroed. It
// returns how many bytes could not be read, and an error only when the
// process has exited (its memory is gone: the core would be mostly zeros).
func readFill(p target.Target, b []byte, addr uint64) (int64, error) {
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

// dumpSize decides how much of a mapping goes into the core (see the
// package comment).
func dumpSize(p target.Target, m target.Mapping, anon map[uint64]bool, opts Options) uint64 {
	size := m.End - m.Start
	path := m.Path
	switch {
	case len(m.Perms) < 4 || m.Perms[0] != 'r':
		return 0
	case path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]":
		return 0
	case deletedShared(path):
		return size
	case strings.HasPrefix(path, "/dev/"):
		return 0 // device memory: reading it can have side effects
	case !strings.HasPrefix(path, "/"):
		return size // anonymous, [heap], [stack], [vdso], [anon:...]
	case m.Perms[3] == 's':
		if strings.HasSuffix(path, " (deleted)") {
			return size
		}
		return 0
	case opts.FullFileMappings:
		return size
	}
	written, known := anon[m.Start]
	if written || (!known && m.Perms[1] == 'w') {
		return size
	}
	if m.Offset == 0 {
		var magic [4]byte
		if n, _ := p.ReadAt(magic[:], m.Start); n == 4 && string(magic[:]) == "\x7fELF" {
			return min(size, pageSize)
		}
	}
	return 0
}

// deletedShared reports mappings whose file exists only in memory.
func deletedShared(path string) bool {
	return strings.HasPrefix(path, "/memfd:") || strings.HasPrefix(path, "/SYSV") ||
		strings.HasPrefix(path, "/dev/zero") || strings.HasPrefix(path, "/dev/shm/")
}

// anonymousMappings says which mappings hold copy-on-write pages, where
// the target can tell.
func anonymousMappings(p target.Target) map[uint64]bool {
	if r, ok := p.(target.AnonymousReader); ok {
		if m, err := r.AnonymousMappings(); err == nil {
			return m
		}
	}
	return map[uint64]bool{}
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
