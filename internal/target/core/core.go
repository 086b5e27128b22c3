// Package core is the target.Target of an ELF core file (from the kernel,
// gdb's gcore or pyscope's own writer). The core is mmapped read-only and
// only the pages that are read get touched, so opening and reading a core
// costs the same whatever its size. Memory the core did not capture
// (read-only file mappings) is read from the mapped files on disk, each
// verified by its GNU build-id.
package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

// Options control how a core's files are found.
type Options struct {
	// Sysroot is tried first for every absolute path the core names
	// (a copy of the machine or container that produced the core).
	Sysroot string
	// LibPaths are directories searched by file name.
	LibPaths []string
	// Executable is the program the core came from, as gdb's first
	// argument names it (coredumpctl passes it, under its --root when
	// given): tried first for the executable. When its path ends with the
	// one the core records, the other files are looked for under the
	// same root, as under Sysroot.
	Executable string
	// Warn receives one-line warnings (missing or mismatched files,
	// truncation). They are also kept in Warnings().
	Warn func(string)
}

// File is one file mapped by the process and where pyscope found it.
type File struct {
	Path    string // as the process saw it
	BuildID string // from the core; "" when not captured or not an ELF file
	Found   string // local file used; "" when missing or mismatched
	// Check is how Found was matched: "build-id"; "header" when the file
	// has no build-id and its first page equals the one in the core; ""
	// when the core holds nothing to compare.
	Check string
	// Mismatched lists local candidates rejected for a different build-id.
	Mismatched []string
}

// Core is an opened core file.
type Core struct {
	path string
	opts Options
	f    *os.File
	data []byte // the whole core, mmapped
	size uint64
	arch target.Arch

	segs     []segment // PT_LOAD, sorted by vaddr
	notes    *notes
	threads  []target.Thread
	maps     []target.Mapping
	fileMaps []fileEntry // file-backed ranges, sorted by start
	files    map[string]*File
	openMu   sync.Mutex // guards open: ReadAt may run concurrently
	open     map[string]*os.File
	exe      string
	root     string // Sysroot, or the root Executable's path implies
	pid      int
	warnings []string
	locals   map[string]localFile // local ELF files parsed so far
}

type segment struct {
	vaddr, memsz, filesz, off uint64
	avail                     uint64 // bytes of filesz present before EOF
	flags                     uint32
}

var _ target.Target = (*Core)(nil)

const (
	etCore = 4
	ptLoad = 1
	ptNote = 4
	pnXnum = 0xffff
	// Bounds on untrusted header fields.
	maxPhnum    = 1 << 22
	maxNoteSize = 64 << 20
)

// Open opens a core file, possibly compressed (zstd, xz, lz4, gzip).
func Open(path string, opts Options) (c *Core, err error) {
	if opts.Sysroot != "" {
		st, err := os.Stat(opts.Sysroot)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("sysroot %s is not a directory; pass the root of a copy of the machine that produced the core", opts.Sysroot)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open core: %v", err)
	}
	c = &Core{path: path, opts: opts, f: f, files: map[string]*File{}, open: map[string]*os.File{}}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	var head [8]byte
	n, _ := f.ReadAt(head[:], 0)
	kind := compression(head[:n])
	if kind != "" {
		tmp, warn, err := decompressToTemp(f, kind)
		if err != nil {
			return c, err
		}
		f.Close()
		c.f = tmp
		if warn != "" {
			c.warn(warn)
		}
	}
	st, err := c.f.Stat()
	if err != nil {
		return c, fmt.Errorf("cannot open core: %v", err)
	}
	if !st.Mode().IsRegular() {
		return c, fmt.Errorf("%s is not a core file (not a regular file)", path)
	}
	if st.Size() < 64 && kind != "" {
		return c, fmt.Errorf("%s is not a core file (its %s data holds only %d bytes: a truncated or corrupt file)", path, kind, st.Size())
	}
	if st.Size() < 64 {
		return c, fmt.Errorf("%s is not a core file (only %d bytes)", path, st.Size())
	}
	if st.Size() > 1<<47 {
		return c, fmt.Errorf("%s: core file too large", path)
	}
	c.size = uint64(st.Size())
	c.data, err = unix.Mmap(int(c.f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return c, fmt.Errorf("cannot map core %s: %v", path, err)
	}
	if err := c.parse(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Core) warn(s string) {
	c.warnings = append(c.warnings, s)
	if c.opts.Warn != nil {
		c.opts.Warn(s)
	}
}

func (c *Core) u16(off uint64) uint16 { return binary.LittleEndian.Uint16(c.data[off:]) }
func (c *Core) u32(off uint64) uint32 { return binary.LittleEndian.Uint32(c.data[off:]) }
func (c *Core) u64(off uint64) uint64 { return binary.LittleEndian.Uint64(c.data[off:]) }

func (c *Core) parse() error {
	d := c.data
	if string(d[:4]) != "\x7fELF" {
		return fmt.Errorf("%s is not a core file (not an ELF file); pass a core dump from the kernel, gdb's gcore or pyscope", c.path)
	}
	if d[4] != 2 || d[5] != 1 {
		return fmt.Errorf("%s: only 64-bit little-endian cores are supported", c.path)
	}
	if typ := c.u16(16); typ != etCore {
		return fmt.Errorf("%s is not a core file (ELF type %s); pass a core dump, not a program or library", c.path, elfTypeName(typ))
	}
	switch c.arch = target.Arch(c.u16(18)); c.arch {
	case target.AMD64, target.ARM64:
	default:
		return fmt.Errorf("%s: core of %s; only x86-64 and arm64 cores are supported", c.path, c.arch)
	}
	phoff := c.u64(32)
	phentsize := uint64(c.u16(54))
	phnum := uint64(c.u16(56))
	if phnum == pnXnum {
		// The real count is in section header 0's sh_info.
		shoff := c.u64(40)
		if shoff < c.size && c.size-shoff >= 64 {
			phnum = uint64(c.u32(shoff + 44))
		}
	}
	if phentsize != 56 {
		return fmt.Errorf("%s: corrupt core (program header size %d)", c.path, phentsize)
	}
	if phnum > maxPhnum {
		return fmt.Errorf("%s: corrupt core (%d program headers)", c.path, phnum)
	}
	if phoff > c.size || (c.size-phoff)/56 < phnum {
		have := uint64(0)
		if phoff <= c.size {
			have = (c.size - phoff) / 56
		}
		c.warn(fmt.Sprintf("%s is truncated: only %d of %d program headers present", c.path, have, phnum))
		phnum = have
	}
	var raw []rawNote
	truncated := 0
	for i := uint64(0); i < phnum; i++ {
		h := phoff + i*56
		typ := c.u32(h)
		flags := c.u32(h + 4)
		off, vaddr := c.u64(h+8), c.u64(h+16)
		filesz, memsz := c.u64(h+32), c.u64(h+40)
		avail := uint64(0)
		if off < c.size {
			avail = min(filesz, c.size-off)
		}
		switch typ {
		case ptNote:
			if avail == 0 {
				continue
			}
			if avail < filesz {
				c.warn(fmt.Sprintf("%s is truncated: notes are incomplete", c.path))
			}
			if avail > maxNoteSize {
				avail = maxNoteSize
			}
			ns, err := parseNotes(d[off : off+avail])
			if err != nil {
				c.warn(fmt.Sprintf("%s: malformed notes: %v", c.path, err))
			}
			raw = append(raw, ns...)
		case ptLoad:
			if memsz == 0 || vaddr+memsz < vaddr {
				continue
			}
			if filesz > memsz {
				filesz = memsz
				avail = min(avail, filesz)
			}
			if avail < filesz {
				truncated++
			}
			c.segs = append(c.segs, segment{vaddr: vaddr, memsz: memsz, filesz: filesz, off: off, avail: avail, flags: flags})
		}
	}
	if truncated > 0 {
		c.warn(fmt.Sprintf("%s is truncated (%d bytes): %d memory segments are incomplete; their missing parts are unreadable", c.path, c.size, truncated))
	}
	sort.SliceStable(c.segs, func(i, j int) bool { return c.segs[i].vaddr < c.segs[j].vaddr })
	c.notes = decodeNotes(raw, c.arch)
	for _, p := range c.notes.problems {
		c.warn(fmt.Sprintf("%s: %s", c.path, p))
	}
	if len(c.notes.threads) == 0 {
		if len(raw) == 0 && len(c.segs) == 0 {
			return fmt.Errorf("%s: corrupt or empty core (no notes, no memory)", c.path)
		}
		c.warn(fmt.Sprintf("%s: the core holds no thread (no NT_PRSTATUS note)", c.path))
	}
	c.buildThreads()
	c.pid = c.notes.pid
	if c.pid <= 0 && len(c.threads) > 0 {
		c.pid = c.threads[0].TID
	}
	textMaps := parseMapsText(c.notes.mapsText)
	c.loadFileMaps(textMaps)
	c.exe = c.findExecutable()
	c.root = c.opts.Sysroot
	if r, ok := strings.CutSuffix(c.opts.Executable, c.exe); ok && c.root == "" && c.exe != "" && r != "" && r != "/" {
		c.root = r
	}
	c.resolveFiles()
	c.buildMappings(textMaps)
	c.exe = c.findExecutable()
	return nil
}

func elfTypeName(t uint16) string {
	switch t {
	case 0:
		return "ET_NONE"
	case 1:
		return "ET_REL"
	case 2:
		return "ET_EXEC"
	case 3:
		return "ET_DYN"
	}
	return fmt.Sprintf("%d", t)
}

func (c *Core) buildThreads() {
	n := c.notes
	for _, t := range n.threads {
		if t.TID == n.pid && n.comm != "" {
			t.Comm = n.comm
		}
		if s, ok := n.threadComm[t.TID]; ok {
			t.Comm = s
		}
		c.threads = append(c.threads, t)
	}
}

// buildMappings uses the maps text of a pyscope core when present.
// Otherwise file-backed mappings come from NT_FILE (exact ranges and
// offsets) and anonymous ones from the PT_LOAD segments left over.
func (c *Core) buildMappings(textMaps []target.Mapping) {
	if len(textMaps) > 0 {
		c.maps = textMaps
		return
	}
	for _, e := range c.fileMaps {
		m := target.Mapping{Start: e.Start, End: e.End, Offset: e.Offset, Path: e.Path}
		if s := c.segAt(e.Start); s != nil {
			m.Perms = permString(s.flags)
		} else {
			// gdb leaves read-only file mappings out entirely: take the
			// permissions from the file's own program headers.
			m.Perms = c.filePerms(e.Path, e.Offset)
		}
		c.maps = append(c.maps, m)
	}
	vdso, _ := c.Auxv(33)   // AT_SYSINFO_EHDR
	execfn, _ := c.Auxv(31) // AT_EXECFN lives on the main stack
	for _, s := range c.segs {
		start, end := s.vaddr, s.vaddr+s.memsz
		i := sort.Search(len(c.fileMaps), func(i int) bool { return c.fileMaps[i].End > start })
		for start < end {
			gapEnd := end
			if i < len(c.fileMaps) && c.fileMaps[i].Start < end {
				gapEnd = max(start, c.fileMaps[i].Start)
			}
			if gapEnd > start {
				m := target.Mapping{Start: start, End: gapEnd, Perms: permString(s.flags)}
				switch {
				case vdso != 0 && start == vdso:
					m.Path = "[vdso]"
				case execfn != 0 && execfn >= start && execfn < gapEnd:
					m.Path = "[stack]"
				case start == 0xffffffffff600000:
					m.Path = "[vsyscall]"
				}
				c.maps = append(c.maps, m)
			}
			if i >= len(c.fileMaps) || c.fileMaps[i].Start >= end {
				break
			}
			start = max(start, c.fileMaps[i].End)
			i++
		}
	}
	sort.SliceStable(c.maps, func(i, j int) bool { return c.maps[i].Start < c.maps[j].Start })
}

func permString(flags uint32) string {
	b := []byte("---p")
	if flags&4 != 0 {
		b[0] = 'r'
	}
	if flags&2 != 0 {
		b[1] = 'w'
	}
	if flags&1 != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// loadFileMaps collects the file-backed ranges: NT_FILE, or the maps text
// of a pyscope core without one.
func (c *Core) loadFileMaps(textMaps []target.Mapping) {
	c.fileMaps = append(c.fileMaps, c.notes.files...)
	if len(c.fileMaps) == 0 {
		for _, m := range textMaps {
			if strings.HasPrefix(m.Path, "/") {
				c.fileMaps = append(c.fileMaps, fileEntry{Start: m.Start, End: m.End, Offset: m.Offset, Path: m.Path})
			}
		}
	}
	sort.SliceStable(c.fileMaps, func(i, j int) bool { return c.fileMaps[i].Start < c.fileMaps[j].Start })
}

// fileMapAt returns the index of the file-backed range holding addr, or -1.
func (c *Core) fileMapAt(addr uint64) int {
	i := sort.Search(len(c.fileMaps), func(i int) bool { return c.fileMaps[i].End > addr })
	if i < len(c.fileMaps) && c.fileMaps[i].Start <= addr {
		return i
	}
	return -1
}

// segAt returns the segment holding addr, or nil.
func (c *Core) segAt(addr uint64) *segment {
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].vaddr+c.segs[i].memsz > addr })
	for ; i < len(c.segs) && c.segs[i].vaddr <= addr; i++ {
		if addr < c.segs[i].vaddr+c.segs[i].memsz {
			return &c.segs[i]
		}
	}
	return nil
}

var (
	errNotCaptured = errors.New("not captured in the core")
	errTruncated   = errors.New("beyond the end of the truncated core")
	errUnmapped    = errors.New("not mapped")
)

// ReadAt reads memory: from the core where it was captured, else from the
// mapped file on disk (only a build-id-verified or unverifiable file).
func (c *Core) ReadAt(p []byte, addr uint64) (int, error) {
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		if a < addr {
			return done, &target.FaultError{Addr: addr, Len: len(p), Err: errUnmapped}
		}
		n, err := c.readOne(p[done:], a, true)
		done += n
		if err != nil {
			return done, &target.FaultError{Addr: addr, Len: len(p), Err: err}
		}
	}
	return done, nil
}

// readOne reads from the single region that holds addr; it returns fewer
// bytes than asked only with an error, or at a region boundary.
func (c *Core) readOne(p []byte, addr uint64, useFiles bool) (int, error) {
	s := c.segAt(addr)
	var limit uint64 = ^uint64(0)
	if s != nil {
		k := addr - s.vaddr
		limit = s.memsz - k
		if k < s.avail {
			return c.copyCore(p[:min(uint64(len(p)), s.avail-k)], s.off+k)
		}
		if k < s.filesz {
			return 0, errTruncated
		}
	}
	if !useFiles {
		if s == nil {
			return 0, errUnmapped
		}
		return 0, errNotCaptured
	}
	i := c.fileMapAt(addr)
	if i < 0 {
		if s == nil {
			return 0, errUnmapped
		}
		return 0, errNotCaptured
	}
	e := c.fileMaps[i]
	limit = min(limit, e.End-addr)
	f, err := c.mappedFile(e.Path)
	if err != nil {
		return 0, fmt.Errorf("%s, and %v", errNotCaptured, err)
	}
	want := p[:min(uint64(len(p)), limit)]
	off := e.Offset + (addr - e.Start)
	if off > 1<<62 {
		return 0, errNotCaptured
	}
	n, err := f.ReadAt(want, int64(off))
	if n < len(want) {
		if err == nil {
			err = errors.New("short read")
		}
		return n, fmt.Errorf("%s, and reading %s failed: %v", errNotCaptured, e.Path, err)
	}
	return n, nil
}

// copyCore copies from the mapped core. A core truncated by someone else
// while mapped makes the access fault (SIGBUS): report it as an error.
func (c *Core) copyCore(p []byte, off uint64) (n int, err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if recover() != nil {
			n, err = 0, errors.New("the core file shrank while open")
		}
	}()
	return copy(p, c.data[off:]), nil
}

// readCaptured reads only bytes stored in the core itself.
func (c *Core) readCaptured(p []byte, addr uint64) bool {
	done := 0
	for done < len(p) {
		n, err := c.readOne(p[done:], addr+uint64(done), false)
		if err != nil || n == 0 {
			return false
		}
		done += n
	}
	return true
}

// Close releases the core.
func (c *Core) Close() error {
	if c == nil {
		return nil
	}
	if c.data != nil {
		unix.Munmap(c.data)
		c.data = nil
	}
	c.openMu.Lock()
	for _, f := range c.open {
		if f != nil {
			f.Close()
		}
	}
	c.open = map[string]*os.File{}
	c.openMu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	return nil
}

func (c *Core) PID() int { return c.pid }

// Arch is the architecture the core was written on (its e_machine).
func (c *Core) Arch() target.Arch { return c.arch }

// Threads lists the threads in note order: the first one received the
// signal that caused the dump.
func (c *Core) Threads() []target.Thread {
	return append([]target.Thread(nil), c.threads...)
}

// Mappings is the memory map, sorted by address. For kernel and gdb cores
// the permissions come from PT_LOAD flags (shared/private is unknown and
// shown as 'p'); pyscope cores store the exact /proc/PID/maps.
func (c *Core) Mappings() []target.Mapping {
	return append([]target.Mapping(nil), c.maps...)
}

// Executable is the main executable's path as the process saw it.
func (c *Core) Executable() string { return c.exe }

// Comm is the process name (NT_PRPSINFO pr_fname).
func (c *Core) Comm() string { return c.notes.comm }

// Cmdline is the command line as the kernel recorded it (pr_psargs: at most
// 79 bytes, arguments separated by spaces).
func (c *Core) Cmdline() string { return c.notes.cmdline }

// Warnings returns every warning reported so far.
func (c *Core) Warnings() []string { return append([]string(nil), c.warnings...) }

// FPRegs returns a thread's NT_FPREGSET (x86-64: struct
// user_fpregs_struct, 512 bytes in FXSAVE layout), or nil.
func (c *Core) FPRegs(tid int) []byte {
	for i, t := range c.notes.threads {
		if t.TID == tid && i < len(c.notes.fpregs) && c.notes.fpregs[i] != nil {
			return append([]byte(nil), c.notes.fpregs[i]...)
		}
	}
	return nil
}

// Auxv returns the value of an auxiliary vector entry.
func (c *Core) Auxv(tag uint64) (uint64, bool) {
	for _, kv := range c.notes.auxv {
		if kv[0] == tag {
			return kv[1], true
		}
	}
	return 0, false
}

// Crash returns the signal that caused the dump, or nil (e.g. a core taken
// from a running process).
func (c *Core) Crash() *target.CrashInfo {
	if len(c.threads) == 0 {
		return nil
	}
	ci := &target.CrashInfo{TID: c.threads[0].TID}
	if si := c.notes.siginfo; len(si) >= 16 {
		ci.Signal = int(int32(binary.LittleEndian.Uint32(si)))
		ci.Code = int(int32(binary.LittleEndian.Uint32(si[8:])))
		switch syscall.Signal(ci.Signal) {
		case unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP:
			// si_code <= 0: sent by a process (kill, tgkill), no address.
			if len(si) >= 24 && ci.Code > 0 {
				ci.Addr = binary.LittleEndian.Uint64(si[16:])
			}
		}
	} else if len(c.notes.cursig) > 0 {
		ci.Signal = c.notes.cursig[0]
	}
	// SIGSTOP is how gdb's gcore stops a live process: not a crash.
	if ci.Signal <= 0 || ci.Signal > 64 || ci.Signal == int(unix.SIGSTOP) {
		return nil
	}
	ci.SignalName = unix.SignalName(syscall.Signal(ci.Signal))
	if ci.SignalName == "" {
		ci.SignalName = fmt.Sprintf("signal %d", ci.Signal)
	}
	return ci
}

// findExecutable prefers the file mapping that holds the program headers
// (AT_PHDR), then AT_EXECFN, then the first mapped file.
func (c *Core) findExecutable() string {
	if phdr, ok := c.Auxv(3); ok {
		if i := c.fileMapAt(phdr); i >= 0 {
			return c.fileMaps[i].Path
		}
	}
	if fn, ok := c.Auxv(31); ok {
		if s := c.readCString(fn, 4096); strings.HasPrefix(s, "/") {
			return s
		}
	}
	if len(c.fileMaps) > 0 {
		return c.fileMaps[0].Path
	}
	return ""
}

func (c *Core) readCString(addr uint64, max int) string {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < max {
		n, _ := c.ReadAt(buf, addr+uint64(len(out)))
		if n == 0 {
			break
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...))
		}
		out = append(out, buf[:n]...)
	}
	return ""
}

// Open opens a file as the process saw it. A mapped ELF file opens the
// local copy whose build-id matched (never a mismatched one); other paths
// are tried under the sysroot, then as is.
func (c *Core) Open(path string) (*os.File, error) {
	if _, ok := c.files[lookupName(path)]; ok {
		f, err := c.mappedFile(path)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.Open(f.Name())
	}
	if c.root != "" && filepath.IsAbs(path) {
		if f, err := os.Open(filepath.Join(c.root, path)); err == nil {
			return f, nil
		}
	}
	return os.Open(path)
}
