package live

import (
	"encoding/binary"
	"errors"
	"os"

	"pyscope/internal/target"
)

var (
	_ target.PageMapReader = (*Process)(nil)
	_ target.PageMapReader = (*Snapshot)(nil)
)

// The page map (/proc/PID/pagemap) has one 64-bit entry per page.
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // file page or shared anonymous
	// pmChunk entries are read at once (4 MiB of entries: 2 GiB of memory).
	pmChunk = 1 << 19
	// mergeGap: runs of data at most this many empty pages apart are one
	// (fewer, larger reads).
	mergeGap = 16
)

// DataSpans lists the pages of [start, end) that are present or swapped.
func (p *Process) DataSpans(start, end uint64) ([][2]uint64, error) {
	return dataSpans(p.ioPid, start, end)
}

// HasAnonymous says whether [start, end) holds an anonymous page.
func (p *Process) HasAnonymous(start, end uint64) (bool, error) {
	return hasAnonymous(p.ioPid, start, end)
}

// DataSpans is Process.DataSpans of the snapshot (the parent's as of the
// fork: the page tables of its anonymous memory were copied).
func (s *Snapshot) DataSpans(start, end uint64) ([][2]uint64, error) {
	return dataSpans(s.pid, start, end)
}

// HasAnonymous is Process.HasAnonymous of the snapshot.
func (s *Snapshot) HasAnonymous(start, end uint64) (bool, error) {
	return hasAnonymous(s.pid, start, end)
}

// eachPage calls fn with the page map entry of every page of [start, end)
// until it returns false.
func eachPage(pid int, start, end uint64, fn func(addr, e uint64) bool) error {
	if end <= start {
		return nil
	}
	f, err := os.Open(procPath(pid, "pagemap"))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, min((end-start)/pageSize, pmChunk)*8)
	for a := start; a < end; {
		n := min((end-a)/pageSize, pmChunk)
		if n == 0 {
			break
		}
		b := buf[:n*8]
		got, err := f.ReadAt(b, int64(a/pageSize*8))
		if got < len(b) {
			if err == nil {
				err = errors.New("short read of the page map")
			}
			return err
		}
		for i := uint64(0); i < n; i++ {
			if !fn(a+i*pageSize, binary.LittleEndian.Uint64(b[i*8:])) {
				return nil
			}
		}
		a += n * pageSize
	}
	return nil
}

func dataSpans(pid int, start, end uint64) ([][2]uint64, error) {
	var out [][2]uint64
	err := eachPage(pid, start, end, func(a, e uint64) bool {
		if e&(pmPresent|pmSwapped) == 0 {
			return true
		}
		if k := len(out) - 1; k >= 0 && a-out[k][1] <= mergeGap*pageSize {
			out[k][1] = a + pageSize
		} else {
			out = append(out, [2]uint64{a, a + pageSize})
		}
		return true
	})
	return out, err
}

func hasAnonymous(pid int, start, end uint64) (bool, error) {
	found := false
	err := eachPage(pid, start, end, func(_, e uint64) bool {
		if (e&pmPresent != 0 && e&pmFile == 0) || e&pmSwapped != 0 {
			found = true
			return false
		}
		return true
	})
	return found, err
}
