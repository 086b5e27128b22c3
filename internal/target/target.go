// Package target is the one read-only view pyscope has of a process: a live
// process (live/) or a core file (core/). It deliberately has no way to write
// memory or registers.
package target

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory reads the target's address space. Implementations return a
// *FaultError when an address is not mapped or not captured.
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// Pager is implemented by memories that can lend whole 4 KiB pages (a
// stopped process's page cache) so that many small reads cost no syscall
// or copy each. Page returns false when it cannot; ReadAt then decides.
type Pager interface {
	Page(base uint64) ([]byte, bool)
}

// FaultError reports an unreadable address.
type FaultError struct {
	Addr uint64
	Len  int
	Err  error
}

func (e *FaultError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("cannot read %d bytes at %#x: %v", e.Len, e.Addr, e.Err)
	}
	return fmt.Sprintf("cannot read %d bytes at %#x", e.Len, e.Addr)
}

func (e *FaultError) Unwrap() error { return e.Err }

// Thread is one OS thread of the target.
type Thread struct {
	TID  int
	Comm string // OS thread name; empty when unknown
	Regs Regs   // nil when the registers could not be read
	// State is the kernel's one-letter state before pyscope touched the
	// thread (R, S, D, T, t, Z); empty for cores.
	State string
	// NSTID is the thread's ID in the process's own PID namespace (the
	// one CPython records) when that namespace is not pyscope's; else 0.
	NSTID int
	// CPU is the CPU time the thread had used when listed, where the
	// listing read it (HasCPU): a live process's non-blocking listing
	// does, to tell which threads ran since the last one.
	CPU    time.Duration
	HasCPU bool
}

// Mapping is one entry of the target's memory map.
type Mapping struct {
	Start, End uint64
	Offset     uint64 // file offset of Start
	Perms      string // "r-xp"
	Path       string // as the target sees it; "" for anonymous memory
	Inode      uint64
}

// Target is a live process or a core file.
type Target interface {
	Memory
	// PID of the process (for a core, the PID it had).
	PID() int
	// Arch is the target's architecture: a core's own, the host's for a
	// live process.
	Arch() Arch
	// Threads lists the OS threads, in kernel order (main thread first).
	Threads() []Thread
	// Mappings lists the memory map, sorted by address.
	Mappings() []Mapping
	// Open opens a file as the target sees it: through /proc/PID/root for a
	// live process, through the sysroot and search paths for a core.
	Open(path string) (*os.File, error)
	// Executable is the path of the main executable as the target sees it.
	Executable() string
	// Close releases the target; a live target is resumed and detached.
	Close() error
}

// Capabilities a backend has or not, found by a type assertion: callers
// ask for what they need instead of asking which backend they hold.
type (
	// SyscallReader says which system call a thread is blocked in, also
	// when it could not be stopped (a live process: the kernel knows).
	SyscallReader interface {
		Syscall(tid int) (nr int, ok bool)
	}
	// SyscallArgsReader reads the system call a thread is blocked in and
	// its arguments, without stopping it (a live process: the kernel
	// knows); nr is -1 when it is in none.
	SyscallArgsReader interface {
		SyscallArgs(tid int) (nr int, args [6]uint64, ok bool)
	}
	// CPUTimeReader reads the CPU time (user + system) a thread used.
	CPUTimeReader interface {
		CPUTime(tid int) (time.Duration, error)
	}
	// ThreadStateReader reads a thread's kernel state now (R, S, D, T,
	// t, Z), which Thread.State gave as of the stop.
	ThreadStateReader interface {
		ThreadState(tid int) (string, error)
	}
	// StartTimeReader says when the process started.
	StartTimeReader interface {
		StartTime() (time.Time, error)
	}
	// CrashReader tells the signal that ended the process (a core); nil
	// when it did not end by a signal.
	CrashReader interface {
		Crash() *CrashInfo
	}
	// ProcessInfoReader reads what a core's NT_PRPSINFO and NT_AUXV
	// record of a running process.
	ProcessInfoReader interface {
		ProcessInfo() (ProcessInfo, error)
	}
	// VectorReader reads many ranges of memory in one call where the
	// backend can (a live process: process_vm_readv's iovecs), past any
	// cache; ok[i] says whether bufs[i] was read whole from addrs[i]. A
	// capture that leaves threads running re-reads with it what it relied
	// on.
	VectorReader interface {
		ReadVector(addrs []uint64, bufs [][]byte, ok []bool)
	}
	// Unmoving tells a profiler's reader that no thread of a live process
	// has run since the previous listing: what it read of the process's
	// private memory after that listing is still what the memory holds.
	Unmoving interface {
		Unmoved() bool
	}
	// Prefetcher caches the memory of [addr, addr+n) for many addresses
	// at once (a stopped or verified process's page cache), in as few
	// system calls as it can: scattered objects (the threads' names) are
	// fetched together.
	Prefetcher interface {
		Prefetch(addrs []uint64, n int)
	}
	// AnonymousReader says, per mapping start, whether a mapping holds
	// anonymous (copy-on-write) pages; a mapping it omits is unknown.
	AnonymousReader interface {
		AnonymousMappings() (map[uint64]bool, error)
	}
)

// ProcessInfo is a process's state and identity, as NT_PRPSINFO records it.
type ProcessInfo struct {
	State         byte // R, S, D, T, t, Z
	PPID, PGRP    int
	SID, Nice     int
	Flags         uint64 // the kernel's task flags
	UID, GID      uint32
	Comm, Cmdline string
	Auxv          []byte // the auxiliary vector, raw; nil when unreadable
}

// CrashInfo is the signal that killed the process.
type CrashInfo struct {
	Signal     int
	SignalName string // "SIGSEGV"
	Code       int    // si_code
	Addr       uint64 // faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP)
	TID        int    // thread that received it
}

// Common errors, matched with errors.Is by the CLI to pick a remedy.
var (
	ErrNoProcess  = errors.New("no such process")
	ErrPermission = errors.New("permission denied")
	ErrExited     = errors.New("the process exited")
	ErrTraced     = errors.New("already traced")
)

// ParseMapsLine parses a /proc/PID/maps line, "start-end perms offset dev
// inode   path" (also as stored in pyscope's cores). The path starts after
// the whitespace following the inode and may contain spaces.
func ParseMapsLine(s string) (Mapping, error) {
	var m Mapping
	bad := func() (Mapping, error) {
		return Mapping{}, fmt.Errorf("malformed maps line %q", s)
	}
	rest := s
	field := func() (string, bool) {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			f := rest
			rest = ""
			return f, f != ""
		}
		f := rest[:i]
		rest = rest[i+1:]
		return f, true
	}
	rng, ok1 := field()
	perms, ok2 := field()
	off, ok3 := field()
	_, ok4 := field() // dev
	ino, ok5 := field()
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return bad()
	}
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return bad()
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil || m.End < m.Start {
		return bad()
	}
	if m.Offset, err = strconv.ParseUint(off, 16, 64); err != nil {
		return bad()
	}
	if m.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
		return bad()
	}
	m.Perms = perms
	m.Path = strings.TrimLeft(rest, " ")
	return m, nil
}
