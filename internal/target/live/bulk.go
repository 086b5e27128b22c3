package live

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

var (
	_ target.BulkReader = (*Process)(nil)
	_ target.BulkReader = (*Snapshot)(nil)
)

// gcore copies gigabytes while the target is stopped: with
// process_vm_readv in batches (up to 1024 ranges, 64 MiB) on several
// threads, bypassing the page cache, at a raised priority.
const (
	bulkChunk = 64 << 20
	iovMax    = 1024
	// bulkNice is the nice value of the copying threads (when allowed).
	bulkNice = -15
)

// ReadRanges reads every range addrs[i] into bufs[i].
func (p *Process) ReadRanges(addrs []uint64, bufs [][]byte) (int64, error) {
	bad, err := readRanges(p.ioPid, addrs, bufs)
	if errors.Is(err, errGone) {
		err = exitedError(p.pid)
	}
	return bad, err
}

// ReadRanges reads the snapshot's memory.
func (s *Snapshot) ReadRanges(addrs []uint64, bufs [][]byte) (int64, error) {
	bad, err := readRanges(s.pid, addrs, bufs)
	if errors.Is(err, errGone) {
		err = fmt.Errorf("the snapshot of process %d (process %d) was killed", s.p.pid, s.pid)
	}
	return bad, err
}

var errGone = errors.New("process gone")

type bulkRange struct {
	addr uint64
	buf  []byte
}

func readRanges(pid int, addrs []uint64, bufs [][]byte) (unreadable int64, err error) {
	var jobs [][]bulkRange
	var cur []bulkRange
	var size int
	for i, a := range addrs {
		if len(bufs[i]) == 0 {
			continue
		}
		if len(cur) > 0 && (len(cur) >= iovMax || size+len(bufs[i]) > bulkChunk) {
			jobs, cur, size = append(jobs, cur), nil, 0
		}
		cur = append(cur, bulkRange{a, bufs[i]})
		size += len(bufs[i])
	}
	if len(cur) > 0 {
		jobs = append(jobs, cur)
	}
	workers := min(runtime.NumCPU(), 4, len(jobs))
	ch := make(chan []bulkRange)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The target waits for this copy: run it ahead of other work
			// on a busy machine.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tid := unix.Gettid()
			if old, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil {
				if unix.Setpriority(unix.PRIO_PROCESS, tid, bulkNice) == nil {
					defer unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old)
				}
			}
			for job := range ch {
				bad, err := readBatch(pid, job)
				mu.Lock()
				unreadable += bad
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, job := range jobs {
		ch <- job
	}
	close(ch)
	wg.Wait()
	return unreadable, first
}

// readBatch reads the ranges with one process_vm_readv at a time; at a
// page that cannot be read it zeroes that page and goes on after it.
func readBatch(pid int, rs []bulkRange) (int64, error) {
	var bad int64
	todo := append([]bulkRange(nil), rs...) // a failed page splits a range
	local := make([]unix.Iovec, 0, len(todo))
	remote := make([]unix.RemoteIovec, 0, len(todo))
	for len(todo) > 0 {
		local, remote = local[:0], remote[:0]
		var want uint64
		for _, r := range todo {
			local = append(local, unix.Iovec{Base: &r.buf[0], Len: uint64(len(r.buf))})
			remote = append(remote, unix.RemoteIovec{Base: uintptr(r.addr), Len: len(r.buf)})
			want += uint64(len(r.buf))
		}
		n, _, e := unix.Syscall6(unix.SYS_PROCESS_VM_READV, uintptr(pid),
			uintptr(unsafe.Pointer(&local[0])), uintptr(len(local)),
			uintptr(unsafe.Pointer(&remote[0])), uintptr(len(remote)), 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.ESRCH:
			return bad, errGone
		case e == unix.EPERM || e == unix.ENOSYS:
			b, err := preadBatch(pid, todo)
			return bad + b, err
		case e != 0 && e != unix.EFAULT:
			return bad, fmt.Errorf("process_vm_readv: %v", e)
		}
		if e != 0 {
			n = 0
		}
		if uint64(n) >= want {
			return bad, nil
		}
		// Skip what was read, then the page that stopped the read.
		done := uint64(n)
		k := 0
		for k < len(todo) && done >= uint64(len(todo[k].buf)) {
			done -= uint64(len(todo[k].buf))
			k++
		}
		r := todo[k]
		pg := done &^ (pageSize - 1)
		end := min(pg+pageSize, uint64(len(r.buf)))
		clear(r.buf[pg:end])
		bad += int64(end - pg)
		rest := todo[k+1:]
		if end < uint64(len(r.buf)) {
			rest = append([]bulkRange{{r.addr + end, r.buf[end:]}}, rest...)
		}
		todo = rest
	}
	return bad, nil
}

// preadBatch is readBatch through /proc/PID/mem, where process_vm_readv is
// filtered or missing.
func preadBatch(pid int, rs []bulkRange) (int64, error) {
	f, err := os.Open(procPath(pid, "mem"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, errGone
		}
		return 0, err
	}
	defer f.Close()
	var bad int64
	for _, r := range rs {
		for off := 0; off < len(r.buf); {
			n, err := unix.Pread(int(f.Fd()), r.buf[off:], int64(r.addr)+int64(off))
			if err == unix.EINTR {
				continue
			}
			if n > 0 {
				off += n
				continue
			}
			if err == unix.ESRCH {
				return bad, errGone
			}
			end := min(off+pageSize-(off%pageSize), len(r.buf))
			clear(r.buf[off:end])
			bad += int64(end - off)
			off = end
		}
	}
	return bad, nil
}
