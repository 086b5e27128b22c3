package gcore

import (
	"errors"
	"fmt"
	"strings"

	"pyscope/internal/target"
)

// Plan is what the core of a running process will hold, planned before it
// is stopped.
type Plan struct {
	segs []seg
	// Bytes is how much memory a copy will take, give or take what
	// changes before the stop.
	Bytes uint64
}

// PlanRunning plans the core of p, a running process (not stopped).
func PlanRunning(p target.Target, opts Options) *Plan {
	segs := plan(p, p.Mappings(), opts)
	fillSpans(p, segs)
	pl := &Plan{segs: segs}
	for i := range segs {
		pl.Bytes += segs[i].dataBytes()
	}
	return pl
}

// ArenaSize is the arena to prepare for pl: room for what the process
// allocates before the stop, within opts.Budget.
func ArenaSize(pl *Plan, opts Options) uint64 {
	return min(pl.Bytes+pl.Bytes/32+32<<20, opts.Budget)
}

// Capture copies what the core of p (stopped) needs into ar, growing it
// within opts.Budget; pre is the plan made before the stop (or nil). The
// image can be written after p is resumed. A *NoRoomError means the copy
// does not fit: write while stopped instead.
func Capture(p target.Target, ar *Arena, pre *Plan, opts Options) (*Image, error) {
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	segs := plan(p, p.Mappings(), opts)
	if pre != nil {
		fillSpansFrom(p, segs, pre.segs)
	} else {
		fillSpans(p, segs)
	}
	im, err := newImage(p, segs, warn)
	if err != nil {
		return nil, err
	}
	im.warnings = warnings
	if err := im.copy(p, ar, func(*seg) bool { return true }, opts.Budget); err != nil {
		return nil, err
	}
	return im, nil
}

// copy copies the chosen segments from p into ar.
func (im *Image) copy(p target.Target, ar *Arena, chosen func(*seg) bool, budget uint64) error {
	br, ok := p.(target.BulkReader)
	if !ok {
		return fmt.Errorf("process %d: its memory cannot be copied in bulk", im.pid)
	}
	pieces, err := ar.place(im.segs, chosen, budget)
	if err != nil {
		return err
	}
	addrs := make([]uint64, len(pieces))
	bufs := make([][]byte, len(pieces))
	for i, pc := range pieces {
		addrs[i], bufs[i] = pc.addr, pc.buf
	}
	bad, err := br.ReadRanges(addrs, bufs)
	if err != nil {
		return fmt.Errorf("process %d: %w while its core was being taken; no core was saved", im.pid, target.ErrExited)
	}
	im.pieces, im.bad, im.arena = pieces, bad, ar
	for i := range im.segs {
		if chosen(&im.segs[i]) {
			im.fromCopy[i] = true
			im.copied += im.segs[i].dataBytes()
		}
	}
	return nil
}

// CheckFork refuses a fork of p (running) when copy-on-write could use
// more memory than the machine, or p's cgroup, has to spare: every private
// page p writes while the snapshot lives is copied.
func CheckFork(p target.Target, opts Options) error {
	r, ok := p.(target.PrivateMemoryReader)
	if !ok {
		return fmt.Errorf("%w: process %d cannot fork", target.ErrForkRefused, p.PID())
	}
	private, room, limited, err := r.PrivateMemory()
	if err != nil {
		return err
	}
	if private > opts.Budget {
		return fmt.Errorf("%w: process %d has %s of private memory that copy-on-write may duplicate while the core is written, and only %s is free to spare; run gcore without --fork",
			target.ErrForkRefused, p.PID(), size2(private), size2(opts.Budget))
	}
	if limited && private > room {
		return fmt.Errorf("%w: process %d has %s of private memory that copy-on-write may duplicate, and its cgroup has only %s left below its memory limit (it would be OOM-killed); run gcore without --fork",
			target.ErrForkRefused, p.PID(), size2(private), size2(room))
	}
	return nil
}

// CaptureFork takes the core of p (stopped, a target.Forker) from a
// copy-on-write snapshot: the image's notes and registers are p's; what a
// fork does not freeze is copied now (shared mappings, and by flags — p's
// VmFlags read before the stop — mappings a child does not get or gets
// zeroed: MADV_DONTFORK, MADV_WIPEONFORK); then p forks. Resume p, then
// UseSnapshot and write the image; close the snapshot after.
func CaptureFork(p target.Target, flags map[uint64]string, opts Options) (*Image, target.Snapshot, error) {
	f, ok := p.(target.Forker)
	if !ok {
		return nil, nil, fmt.Errorf("%w: process %d cannot fork", target.ErrForkRefused, p.PID())
	}
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	segs := plan(p, p.Mappings(), opts)
	now := func(s *seg) bool {
		fl := flags[s.m.Start]
		return s.filesz > 0 && (shared(s.m) || hasFlag(fl, "dc") || hasFlag(fl, "wf"))
	}
	im, err := newImage(p, segs, warn)
	if err != nil {
		return nil, nil, err
	}
	im.warnings = warnings
	var early []int
	for i := range im.segs {
		if now(&im.segs[i]) {
			early = append(early, i)
		}
	}
	for _, i := range early {
		fillSpans(p, im.segs[i:i+1])
	}
	ar := &Arena{}
	if err := im.copy(p, ar, now, opts.Budget); err != nil {
		ar.Free()
		var room *NoRoomError
		if errors.As(err, &room) {
			return nil, nil, fmt.Errorf("%w: %v", target.ErrForkRefused, err)
		}
		return nil, nil, err
	}
	snap, err := f.Fork()
	if err != nil {
		im.Close()
		return nil, nil, err
	}
	return im, snap, nil
}

// UseSnapshot makes the image read what it did not copy from snap (once
// the parent runs again): the pages that hold data are found in snap's page
// map, which is the parent's as of the fork. A mapping the snapshot does
// not have, or has wiped, although its flags did not say so before the
// stop, is written as zeros with a warning.
func (im *Image) UseSnapshot(snap target.Snapshot) {
	var rest []int
	for i := range im.segs {
		if !im.fromCopy[i] {
			rest = append(rest, i)
		}
	}
	for _, i := range rest {
		fillSpans(snap, im.segs[i:i+1])
	}
	flags, _ := snap.VMFlags()
	for _, i := range rest {
		s := &im.segs[i]
		if s.filesz == 0 {
			continue
		}
		f, ok := flags[s.m.Start]
		switch {
		case !ok:
			im.warnings = append(im.warnings, fmt.Sprintf("process %d: %x-%x is not inherited by a fork (MADV_DONTFORK since gcore looked): written as zeros", im.pid, s.m.Start, s.m.End))
			s.known, s.data = true, nil
		case hasFlag(f, "wf"):
			im.warnings = append(im.warnings, fmt.Sprintf("process %d: %x-%x is wiped in a fork (MADV_WIPEONFORK since gcore looked): written as zeros", im.pid, s.m.Start, s.m.End))
		}
	}
	im.mem = snap
}

func hasFlag(flags, f string) bool {
	for _, x := range strings.Fields(flags) {
		if x == f {
			return true
		}
	}
	return false
}
