package live

import (
	"errors"
	"math"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

const (
	pageSize = 4096
	// Reads larger than this bypass the page cache.
	cacheMaxRead = 16 * pageSize
	// The cache is dropped when it grows past this many pages (64 MiB).
	cacheMaxPages = 16384
	// blockSize is what one cache miss reads. One page: the objects a
	// dump visits are scattered (a thread's name, its Thread, its ident),
	// and each page read costs the kernel a pin, a copy and a fresh page of
	// ours; frames, which sit together, are prefetched in batches instead.
	blockSize = 4 << 10
)

// memReader reads target memory with process_vm_readv, or pread on
// /proc/PID/mem where that syscall is unavailable or filtered. While the
// target is stopped its memory cannot change, so whole pages are cached;
// the cache is dropped on resume.
type memReader struct {
	pid int
	// captures: the handle stops threads and reads what they change, so
	// its page cache may fault the arena's huge pages (pageBuffer).
	captures bool

	mu       sync.Mutex
	useFile  bool
	file     *os.File
	fileErr  error
	caching  bool
	pages    map[uint64]*[pageSize]byte // nil value: page known unreadable
	exitedFn func() error

	// The iovecs of readVector, kept from call to call.
	vecMu  sync.Mutex
	local  []unix.Iovec
	remote []unix.RemoteIovec
}

func (m *memReader) ReadAt(p []byte, addr uint64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if addr > math.MaxInt64-uint64(len(p)) {
		return 0, &target.FaultError{Addr: addr, Len: len(p), Err: unix.EFAULT}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.caching && len(p) <= cacheMaxRead {
		return m.readCached(p, addr)
	}
	n, err := m.readRaw(p, addr)
	if err != nil || n < len(p) {
		return n, m.fault(addr, len(p), err)
	}
	return n, nil
}

func (m *memReader) fault(addr uint64, n int, err error) error {
	if err == nil {
		err = unix.EFAULT
	}
	if errors.Is(err, unix.ESRCH) && m.exitedFn != nil {
		err = m.exitedFn()
	}
	return &target.FaultError{Addr: addr, Len: n, Err: err}
}

// readRaw reads as much as possible, returning a short count at the first
// unreadable page.
func (m *memReader) readRaw(p []byte, addr uint64) (int, error) {
	if !m.useFile {
		n, err := processVMReadv(m.pid, p, addr)
		if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS)) {
			if errors.Is(err, unix.EFAULT) {
				err = nil // unmapped: reported as a short read
			}
			return n, err
		}
		// Filtered (seccomp) or not built in: use /proc/PID/mem from now on.
		m.useFile = true
	}
	if m.file == nil && m.fileErr == nil {
		m.file, m.fileErr = os.Open(procPath(m.pid, "mem"))
	}
	if m.fileErr != nil {
		if errors.Is(m.fileErr, os.ErrNotExist) {
			return 0, unix.ESRCH
		}
		return 0, m.fileErr
	}
	total := 0
	for total < len(p) {
		n, err := unix.Pread(int(m.file.Fd()), p[total:], int64(addr)+int64(total))
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			total += n
			continue
		}
		if err == nil || errors.Is(err, unix.EIO) || errors.Is(err, unix.EFAULT) {
			return total, nil // unmapped or end of address space
		}
		return total, err
	}
	return total, nil
}

func processVMReadv(pid int, p []byte, addr uint64) (int, error) {
	local := unix.Iovec{Base: &p[0], Len: uint64(len(p))}
	remote := unix.RemoteIovec{Base: uintptr(addr), Len: len(p)}
	for {
		n, _, e := unix.Syscall6(unix.SYS_PROCESS_VM_READV, uintptr(pid),
			uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

func (m *memReader) readCached(p []byte, addr uint64) (int, error) {
	done := 0
	for done < len(p) {
		a := addr + uint64(done)
		base := a &^ (pageSize - 1)
		pg, ok := m.pages[base]
		if !ok {
			var err error
			pg, err = m.fill(base, addr+uint64(len(p)))
			if err != nil {
				return done, m.fault(addr, len(p), err)
			}
		}
		if pg == nil {
			return done, m.fault(addr, len(p), nil)
		}
		done += copy(p[done:], pg[a-base:])
	}
	return done, nil
}

// fill reads the page at base (and up to end) and returns it; nil means it
// is unreadable. A miss reads the whole aligned block around base in one
// syscall: objects allocated together sit in the same allocator pool, so
// the neighbours are usually wanted next, and one large read costs far less
// than many small ones.
func (m *memReader) fill(base, end uint64) (*[pageSize]byte, error) {
	if len(m.pages) >= cacheMaxPages {
		clear(m.pages)
	}
	if end <= base+blockSize {
		start := base &^ (blockSize - 1)
		if pg, ok, err := m.fillRange(start, start+blockSize, base); ok || err != nil {
			return pg, err
		}
		// The block starts in unmapped memory: read from base instead.
	}
	n := 1
	for next := base + pageSize; next < end; next += pageSize {
		if _, ok := m.pages[next]; ok {
			break
		}
		n++
	}
	pg, _, err := m.fillRange(base, base+uint64(n*pageSize), base)
	return pg, err
}

// fillRange reads [start, end) and caches every page it got. ok reports
// whether want was read or is known unreadable.
func (m *memReader) fillRange(start, end, want uint64) (*[pageSize]byte, bool, error) {
	buf := pageBuffer(int(end-start), m.captures)
	got, err := m.readRaw(buf, start)
	if err != nil {
		return nil, false, err
	}
	for a := start; a < end; a += pageSize {
		off := int(a - start)
		if got >= off+pageSize {
			m.pages[a] = (*[pageSize]byte)(buf[off:])
			continue
		}
		if a == want || a > want {
			// The read stopped here: this page faults.
			m.pages[a] = nil
		}
		break
	}
	pg, ok := m.pages[want]
	return pg, ok, nil
}

// page lends the cached page at base (page-aligned), filling it on a miss.
// It fails when the cache is off (the target runs) or the page faults.
func (m *memReader) page(base uint64) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.caching || base&(pageSize-1) != 0 {
		return nil, false
	}
	pg, ok := m.pages[base]
	if !ok {
		var err error
		if pg, err = m.fill(base, base+pageSize); err != nil {
			return nil, false
		}
	}
	if pg == nil {
		return nil, false
	}
	return pg[:], true
}

// setCaching turns the page cache on (target stopped) or off and drops it.
func (m *memReader) setCaching(on bool) {
	m.mu.Lock()
	m.caching = on
	if on {
		m.pages = make(map[uint64]*[pageSize]byte)
	} else {
		m.pages = nil
	}
	m.mu.Unlock()
}

func (m *memReader) close() {
	m.mu.Lock()
	if m.file != nil {
		m.file.Close()
		m.file = nil
	}
	m.fileErr = os.ErrClosed
	m.caching = false
	m.pages = nil
	m.mu.Unlock()
}

// forget drops the cached pages, keeping the cache on if it was.
func (m *memReader) forget() {
	m.mu.Lock()
	if m.caching {
		if m.pages == nil {
			m.pages = make(map[uint64]*[pageSize]byte)
		}
		clear(m.pages) // lent pages stay valid: they are never reused
	}
	m.mu.Unlock()
}

// Prefetch makes the pages of [addr, addr+n) for each address cached,
// reading the missing ones in one process_vm_readv per iovMax pages:
// scattered objects are fetched together. Pages that
// cannot be read are left out; a later read reports them.
func (p *Process) Prefetch(addrs []uint64, n int) {
	p.mem.prefetch(addrs, n)
}

func (m *memReader) prefetch(addrs []uint64, n int) {
	if n <= 0 || n > cacheMaxRead {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.caching {
		return
	}
	var want []uint64
	seen := map[uint64]bool{}
	for _, a := range addrs {
		if a > math.MaxInt64-uint64(n) {
			continue
		}
		for pg := a &^ (pageSize - 1); pg < a+uint64(n); pg += pageSize {
			if _, ok := m.pages[pg]; !ok && !seen[pg] {
				seen[pg] = true
				want = append(want, pg)
			}
		}
	}
	if len(want) == 0 {
		return
	}
	if len(m.pages)+len(want) >= cacheMaxPages {
		clear(m.pages)
	}
	buf := pageBuffer(len(want)*pageSize, m.captures)
	bufs := make([][]byte, len(want))
	for i := range want {
		bufs[i] = buf[i*pageSize : (i+1)*pageSize]
	}
	ok := make([]bool, len(want))
	m.mu.Unlock()
	m.readVector(want, bufs, ok)
	m.mu.Lock()
	for i, pg := range want {
		if ok[i] {
			m.pages[pg] = (*[pageSize]byte)(bufs[i])
		}
	}
}
