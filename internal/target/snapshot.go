package target

import (
	"errors"
	"time"
)

// ErrForkRefused marks the cases where forking a process for a snapshot
// is unsafe (gcore --fork).
var ErrForkRefused = errors.New("--fork refused")

// Capabilities gcore uses to take a core without a long pause (a live
// process has them; see docs/reliability.md §9).
type (
	// PageMapReader reads which pages of a process hold data (its page
	// map).
	PageMapReader interface {
		// DataSpans lists, as [start, end) runs, the pages of [start, end)
		// that are present or swapped out: the other pages of private
		// anonymous memory read as zeros. Runs a few pages apart are
		// merged.
		DataSpans(start, end uint64) ([][2]uint64, error)
		// HasAnonymous says whether [start, end) holds an anonymous page:
		// in a private file mapping, a page the process wrote to.
		HasAnonymous(start, end uint64) (bool, error)
	}
	// VMFlagsReader reads the kernel's VmFlags of every mapping, by start
	// address ("dc": not inherited by a fork, "wf": wiped in one).
	VMFlagsReader interface {
		VMFlags() (map[uint64]string, error)
	}
	// BulkReader reads many ranges of memory at once, in parallel and
	// bypassing any cache. Unreadable pages are zeroed and counted; the
	// error is for a process that is gone.
	BulkReader interface {
		ReadRanges(addrs []uint64, bufs [][]byte) (unreadable int64, err error)
	}
	// PrivateMemoryReader says how much private memory (resident
	// anonymous and swapped) a process holds, and how much is left below
	// its cgroup's memory limits (limited false: none).
	PrivateMemoryReader interface {
		PrivateMemory() (private, room uint64, limited bool, err error)
	}
	// Forker is a stopped process that can fork a copy-on-write snapshot
	// of itself: its memory as of the stop, while it runs on.
	Forker interface {
		Fork() (Snapshot, error)
	}
)

// Snapshot is a stopped copy-on-write child of a process. Close kills it
// and reaps it.
type Snapshot interface {
	Memory
	PageMapReader
	VMFlagsReader
	BulkReader
	Info() ForkInfo
	Close() error
}

// ForkInfo says how a snapshot was made and released.
type ForkInfo struct {
	PID      int           // the snapshot
	Borrowed int           // the thread that forked
	ForkTime time.Duration // the fork system call
	// ReapThread and ReapTime: the thread of the parent stopped to reap
	// the snapshot, and for how long (after Close); ReapErr why it could
	// not be (it is then a zombie until the parent exits).
	ReapThread int
	ReapTime   time.Duration
	ReapErr    error
}
