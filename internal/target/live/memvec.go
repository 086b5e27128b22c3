package live

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

var _ target.VectorReader = (*Process)(nil)

// ReadVector reads every range in as few process_vm_readv calls as the
// kernel allows, past the page cache; see target.VectorReader. A range
// that cannot be read whole is skipped and the call resumed after it.
func (p *Process) ReadVector(addrs []uint64, bufs [][]byte, ok []bool) {
	p.mem.readVector(addrs, bufs, ok)
}

func (m *memReader) readVector(addrs []uint64, bufs [][]byte, ok []bool) {
	for i := range ok {
		ok[i] = false
	}
	m.mu.Lock()
	useFile := m.useFile
	m.mu.Unlock()
	if useFile {
		m.readEach(addrs, bufs, ok)
		return
	}
	m.vecMu.Lock()
	defer m.vecMu.Unlock()
	local, remote := m.local[:0], m.remote[:0]
	defer func() { m.local, m.remote = local[:0], remote[:0] }()
	for i := 0; i < len(bufs); {
		local, remote = local[:0], remote[:0]
		for j := i; j < len(bufs) && len(local) < iovMax; j++ {
			b := bufs[j]
			if len(b) == 0 {
				// An empty iovec would stand for nothing: never count it.
				b = nil
			}
			var base *byte
			if len(b) > 0 {
				base = &b[0]
			}
			local = append(local, unix.Iovec{Base: base, Len: uint64(len(b))})
			remote = append(remote, unix.RemoteIovec{Base: uintptr(addrs[j]), Len: len(b)})
		}
		n, _, e := unix.Syscall6(unix.SYS_PROCESS_VM_READV, uintptr(m.pid),
			uintptr(unsafe.Pointer(&local[0])), uintptr(len(local)),
			uintptr(unsafe.Pointer(&remote[0])), uintptr(len(remote)), 0)
		if e == unix.EINTR {
			continue
		}
		if e == unix.EPERM || e == unix.ENOSYS {
			// Filtered or not built in: range by range, which falls back
			// to /proc/PID/mem.
			m.readEach(addrs[i:], bufs[i:], ok[i:])
			return
		}
		if e == unix.ESRCH {
			return
		}
		if e != 0 {
			// The first range failed (EFAULT): skip it and go on.
			i++
			continue
		}
		// Ranges read whole count; the one the read stopped in failed.
		done := uintptr(0)
		j := i
		for ; j < i+len(local); j++ {
			l := uintptr(len(bufs[j]))
			if done+l > n {
				break
			}
			done += l
			ok[j] = len(bufs[j]) > 0
		}
		if j == i+len(local) {
			i = j
			continue
		}
		i = j + 1
	}
}

// readEach reads range by range, past the page cache as readVector does.
func (m *memReader) readEach(addrs []uint64, bufs [][]byte, ok []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range bufs {
		if len(b) == 0 {
			ok[i] = false // as readVector: an empty range never counts
			continue
		}
		n, err := m.readRaw(b, addrs[i])
		ok[i] = err == nil && n == len(b)
	}
}
