package gcore

import (
	"strings"

	"pyscope/internal/target"
)

// span is [start, end) of target memory.
type span struct{ start, end uint64 }

func (s span) len() uint64 { return s.end - s.start }

type seg struct {
	m      target.Mapping
	filesz uint64
	off    uint64
	flags  uint32
	// known says data lists every page that may hold something other
	// than zeros (pages of private anonymous memory never touched, or
	// discarded, read as zeros and are left out). Otherwise the whole
	// [Start, Start+filesz) is read.
	known bool
	data  []span
}

// spans is what must be read of s.
func (s *seg) spans() []span {
	if s.known {
		return s.data
	}
	if s.filesz == 0 {
		return nil
	}
	return []span{{s.m.Start, s.m.Start + s.filesz}}
}

func (s *seg) dataBytes() uint64 {
	var n uint64
	for _, sp := range s.spans() {
		n += sp.len()
	}
	return n
}

// plan decides what of each mapping goes into the core (see the package
// comment).
func plan(p target.Target, maps []target.Mapping, opts Options) []seg {
	pm, _ := p.(target.PageMapReader)
	var anon map[uint64]bool
	if pm == nil {
		anon = anonymousMappings(p)
	}
	segs := make([]seg, 0, len(maps))
	for _, m := range maps {
		segs = append(segs, seg{m: m, flags: permFlags(m.Perms), filesz: dumpSize(p, m, pm, anon, opts)})
	}
	return segs
}

// zeroFill reports mappings whose unpopulated pages read as zeros: private
// anonymous memory. Shared memory may hold pages this process never
// touched; [vdso] and the like are special mappings.
func zeroFill(m target.Mapping) bool {
	if len(m.Perms) < 4 || m.Perms[3] != 'p' || strings.HasPrefix(m.Path, "/") {
		return false
	}
	switch m.Path {
	case "", "[heap]", "[stack]":
		return true
	}
	return strings.HasPrefix(m.Path, "[anon:") || strings.HasPrefix(m.Path, "[stack:")
}

// fillSpans finds, for the zero-filled segments, the pages that hold data,
// from the page map of r (the process itself, or a fork of it).
func fillSpans(r any, segs []seg) {
	pm, ok := r.(target.PageMapReader)
	if !ok {
		return
	}
	for i := range segs {
		s := &segs[i]
		if s.filesz == 0 || !zeroFill(s.m) {
			continue
		}
		if data, err := pm.DataSpans(s.m.Start, s.m.Start+s.filesz); err == nil {
			s.data, s.known = toSpans(data), true
		}
	}
}

func toSpans(rs [][2]uint64) []span {
	out := make([]span, len(rs))
	for i, r := range rs {
		out[i] = span{r[0], r[1]}
	}
	return out
}

// mergeGap: data runs at most this many bytes apart are copied as one.
const mergeGap = 16 * pageSize

// fillSpansFrom is fillSpans for a stopped process planned before the stop
// (pre): pages that held data then are taken as they are (one discarded
// since reads as zeros, which is right), and only the rest is looked up in
// the page map. The pause then grows with the memory that changed, not
// with the size of the heap.
func fillSpansFrom(r any, segs []seg, pre []seg) {
	pm, ok := r.(target.PageMapReader)
	if !ok {
		return
	}
	before := map[uint64][]span{}
	for _, s := range pre {
		if s.known {
			before[s.m.Start] = s.data
		}
	}
	for i := range segs {
		s := &segs[i]
		if s.filesz == 0 || !zeroFill(s.m) {
			continue
		}
		old, ok := before[s.m.Start]
		if !ok {
			fillSpans(r, segs[i:i+1])
			continue
		}
		start, end := s.m.Start, s.m.Start+s.filesz
		var data []span
		add := func(sp span) {
			if k := len(data) - 1; k >= 0 && sp.start-data[k].end <= mergeGap {
				data[k].end = max(data[k].end, sp.end)
			} else {
				data = append(data, sp)
			}
		}
		holes := func(a, b uint64) bool {
			if a >= b {
				return true
			}
			found, err := pm.DataSpans(a, b)
			for _, sp := range found {
				add(span{sp[0], sp[1]})
			}
			return err == nil
		}
		ok = true
		at := start
		for _, sp := range old {
			sp.start, sp.end = max(sp.start, start), min(sp.end, end)
			if sp.start >= sp.end {
				continue
			}
			ok = ok && holes(at, sp.start)
			add(sp)
			at = sp.end
		}
		ok = ok && holes(at, end)
		if ok {
			s.data, s.known = data, true
		}
	}
}

// dumpSize decides how much of a mapping goes into the core (see the
// package comment).
func dumpSize(p target.Target, m target.Mapping, pm target.PageMapReader, anon map[uint64]bool, opts Options) uint64 {
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
	var written, known bool
	if pm != nil {
		w, err := pm.HasAnonymous(m.Start, m.End)
		written, known = w, err == nil
	} else {
		written, known = anon[m.Start]
	}
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

// shared reports mappings other processes may change, which a fork does
// not freeze.
func shared(m target.Mapping) bool {
	return len(m.Perms) >= 4 && m.Perms[3] == 's'
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
