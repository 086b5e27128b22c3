package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"

	"pyscope/internal/target"
)

// On a GIL build only the thread that holds the GIL changes Python state;
// the others may change it only after they take the GIL, which changes the
// GIL's word (last holder, hand-off count). The few writes made without
// the GIL (a thread state linked, unlinked or bound to its thread) touch
// only the lists Capture walked. So a capture that leaves threads running
// is consistent when, re-read afterwards past any cache, the GIL's word
// and those lists are unchanged, and the last holder either was stopped
// or provably did not run (its kernel state and switch count).
// docs/reliability.md ("Stopping only what must stop") has the argument.

// GILWord is the part of the GIL a hand-off changes.
type GILWord struct {
	Locked   uint32 // 1 taken, 0 free (-1: not created, or destroyed)
	Holder   uint64 // the thread state that took it last
	Switches uint64 // hand-offs between thread states so far
}

// StopPlan says which thread a capture must stop, from a read of the
// running process.
type StopPlan struct {
	GIL GILWord
	// HolderTID is the OS thread of GIL.Holder; 0 when no live thread
	// state is the holder.
	HolderTID int
	// All, when set, says why the GIL cannot vouch for a capture: every
	// thread must be stopped.
	All string
}

// gilFields are the GIL's fields a plan reads: where they are relative to
// the GIL, and the span that covers them.
func (r *Reader) gilFields() (lo, hi int64, ok bool) {
	G := r.In.Layout.GIL
	if !G.Locked.Valid() || !G.LastHolder.Valid() || !G.SwitchNumber.Valid() {
		return 0, 0, false
	}
	lo = min(int64(G.Locked), int64(G.LastHolder), int64(G.SwitchNumber))
	hi = max(int64(G.Locked)+4, int64(G.LastHolder)+8, int64(G.SwitchNumber)+8)
	return lo, hi, hi-lo <= 256
}

func (r *Reader) decodeGIL(b []byte, lo int64) GILWord {
	G := r.In.Layout.GIL
	return GILWord{
		Locked:   binary.LittleEndian.Uint32(b[int64(G.Locked)-lo:]),
		Holder:   binary.LittleEndian.Uint64(b[int64(G.LastHolder)-lo:]),
		Switches: binary.LittleEndian.Uint64(b[int64(G.SwitchNumber)-lo:]),
	}
}

// PlanStop reads, from m (the running process; reads may be torn), whom a
// capture must stop: the GIL's last holder. tids are the process's
// threads, needed on 3.10 only (its thread states keep no native id).
func (r *Reader) PlanStop(m target.Memory, tids map[int]bool) StopPlan {
	o := NewObjects(mem{m}, r.In.Layout, r.In.Minor)
	L := r.In.Layout
	if r.In.Layout.FreeThreaded {
		return StopPlan{All: r.FreeThreadedStopReason(m)}
	}
	lo, hi, ok := r.gilFields()
	if !ok {
		return StopPlan{All: "the GIL's layout is unknown for this build"}
	}
	head, err := o.u64(r.In.Runtime + uint64(L.Runtime.InterpretersHead))
	if err != nil || head == 0 {
		return StopPlan{All: "the interpreter list is unreadable"}
	}
	if next, err := o.u64(head + uint64(L.Interp.Next)); err != nil || next != 0 {
		return StopPlan{All: "the process runs several interpreters"}
	}
	g := r.gilAddr(o, head)
	if g == 0 {
		return StopPlan{All: "the GIL is unreadable"}
	}
	b, err := o.read(g+uint64(lo), int(hi-lo))
	if err != nil {
		return StopPlan{All: "the GIL is unreadable"}
	}
	plan := StopPlan{GIL: r.decodeGIL(b, lo)}
	if plan.GIL.Locked > 1 {
		return StopPlan{All: "the GIL does not exist (the interpreter is starting or finalizing)"}
	}
	plan.HolderTID = r.holderTID(o, head, plan.GIL.Holder, tids)
	return plan
}

// FreeThreadedStopReason says why a capture of a free-threaded build
// stops every thread, as true of m (the running process) as a racy read
// can make it: its GIL, even when enabled at run time (PYTHON_GIL=1, or an
// extension that needs it), is not used to vouch for a snapshot.
func (r *Reader) FreeThreadedStopReason(m target.Memory) string {
	switch r.GILEnabled(m) {
	case 0:
		return "a free-threaded build has no GIL to vouch for the snapshot"
	case 1:
		return "a free-threaded build: its GIL, enabled at run time, is not used to vouch for the snapshot"
	}
	return "a free-threaded build: its GIL, even if enabled at run time, is not used to vouch for the snapshot"
}

// GILEnabled reads, on a free-threaded build, whether the only (or
// newest) interpreter's GIL is enabled: 1 if so, 0 if not, -1 when unknown.
func (r *Reader) GILEnabled(m target.Memory) int {
	L := r.In.Layout
	if !L.FreeThreaded || !L.GIL.Enabled.Valid() {
		return -1
	}
	o := NewObjects(mem{m}, L, r.In.Minor)
	head, err := o.u64(r.In.Runtime + uint64(L.Runtime.InterpretersHead))
	if err != nil || !validPtr(head) {
		return -1
	}
	g := r.gilAddr(o, head)
	if g == 0 {
		return -1
	}
	v, err := o.u32(g + uint64(L.GIL.Enabled))
	switch {
	case err != nil:
		return -1
	case v == 0:
		return 0
	}
	return 1
}

// holderTID finds the OS thread of thread state ts of interp (0 if none).
func (r *Reader) holderTID(o *Objects, interp, ts uint64, tids map[int]bool) int {
	L := r.In.Layout.Thread
	if !validPtr(ts) {
		return 0
	}
	if back, err := o.u64(ts + uint64(L.Interp)); err != nil || back != interp {
		return 0
	}
	if L.NativeThreadID.Valid() {
		v, err := o.u32(ts + uint64(L.NativeThreadID))
		if tid := int(int32(v)); err == nil && tid > 0 {
			return tid // the live backend stops only threads of the process
		}
		return 0
	}
	pt, err := o.u64(ts + uint64(L.ThreadID))
	if err != nil {
		return 0
	}
	return r.nativeIDFromPthread(o, pt, nil, tids)
}

// GILAt reads the GIL's word of the only interpreter past any cache,
// before a capture.
func (r *Reader) GILAt(f target.VectorReader, m target.Memory) (GILWord, error) {
	lo, hi, ok := r.gilFields()
	if !ok {
		return GILWord{}, errors.New("the GIL's layout is unknown for this build")
	}
	o := NewObjects(mem{m}, r.In.Layout, r.In.Minor)
	head, err := o.u64(r.In.Runtime + uint64(r.In.Layout.Runtime.InterpretersHead))
	if err != nil {
		return GILWord{}, err
	}
	g := r.gilAddr(o, head)
	if g == 0 {
		return GILWord{}, errors.New("the GIL is unreadable")
	}
	b := make([]byte, hi-lo)
	if err := readAll(f, [][]byte{b}, []uint64{g + uint64(lo)}); err != nil {
		return GILWord{}, err
	}
	return r.decodeGIL(b, lo), nil
}

// Verify proves a capture consistent although threads ran while it read,
// as far as it must be checked before the stopped threads resume: the
// GIL's word is still start (read after the stop and before the capture),
// the interpreter and thread lists have the heads they had, and the GIL's
// last holder could not have run meanwhile (vouched says whether a thread
// was stopped, or asleep throughout; it is asked after the re-read).
// VerifyLinks completes it. It returns why the capture cannot be trusted,
// or nil.
func (r *Reader) Verify(f target.VectorReader, cp *Capture, start GILWord, vouched func(tid int) bool) error {
	L := r.In.Layout
	lo, hi, ok := r.gilFields()
	if !ok || len(cp.lists) != 1 {
		return errors.New("no single GIL")
	}
	list := cp.lists[0]
	if len(list.tids) != len(list.states) {
		return errors.New("the capture kept no thread list")
	}
	g := r.gilAddr(r.Obj, list.interp)
	if g == 0 {
		return errors.New("the GIL is unreadable")
	}
	bufs := [][]byte{make([]byte, hi-lo), make([]byte, 8), make([]byte, 8)}
	addrs := []uint64{g + uint64(lo), r.In.Runtime + uint64(L.Runtime.InterpretersHead), list.interp + uint64(L.Interp.ThreadsHead)}
	if err := readAll(f, bufs, addrs); err != nil {
		return fmt.Errorf("the GIL or a list head is unreadable (%v)", err)
	}
	now := r.decodeGIL(bufs[0], lo)
	if now != start {
		return fmt.Errorf("the GIL changed hands while the process was read (holder %#x → %#x, %d → %d hand-offs)",
			start.Holder, now.Holder, start.Switches, now.Switches)
	}
	if h := binary.LittleEndian.Uint64(bufs[1]); h != cp.interpHead {
		return errors.New("the interpreter list changed while it was read")
	}
	head := uint64(0)
	if len(list.states) > 0 {
		head = list.states[0].Addr
	}
	if h := binary.LittleEndian.Uint64(bufs[2]); h != head {
		return errors.New("a thread state was created or deleted while the thread list was read")
	}
	// A holder that is no listed thread state cannot run without changing
	// the word (a thread state at its address would be new, and change the
	// list head). A listed one could take the GIL back unseen: it must not
	// have run.
	for i, ts := range list.states {
		if ts.Addr == start.Holder {
			if tid := list.tids[i]; tid == 0 || !vouched(tid) {
				return fmt.Errorf("the GIL's last holder (thread %d) may have run while the process was read", tid)
			}
		}
	}
	return nil
}

// VerifyLinks checks what a thread changes in its own thread state, and
// its neighbours' links, without the GIL: a thread state bound to its
// thread, or unlinked from the middle of the list. Every thread state the
// capture walked must read as it did. It may run once the process runs
// again: a change since can only make it refuse a capture that was good.
func (r *Reader) VerifyLinks(f target.VectorReader, cp *Capture) error {
	L := r.In.Layout
	if len(cp.lists) != 1 {
		return errors.New("no single GIL")
	}
	list := cp.lists[0]
	tsLo := min(int64(L.Thread.Next), int64(L.Thread.ThreadID))
	tsHi := max(int64(L.Thread.Next), int64(L.Thread.ThreadID)) + 8
	if L.Thread.NativeThreadID.Valid() {
		tsLo = min(tsLo, int64(L.Thread.NativeThreadID))
		tsHi = max(tsHi, int64(L.Thread.NativeThreadID)+4)
	}
	if tsLo < 0 || tsHi-tsLo > 4096 {
		return errors.New("thread state layout unusable")
	}
	size := tsHi - tsLo
	backing := make([]byte, int64(len(list.states))*size)
	bufs := make([][]byte, len(list.states))
	addrs := make([]uint64, len(list.states))
	for i, ts := range list.states {
		bufs[i] = backing[int64(i)*size : int64(i+1)*size]
		addrs[i] = ts.Addr + uint64(tsLo)
	}
	if err := readAll(f, bufs, addrs); err != nil {
		return fmt.Errorf("a thread state changed while it was read (%v)", err)
	}
	field := func(b []byte, off int64, size int) uint64 {
		if size == 4 {
			return uint64(binary.LittleEndian.Uint32(b[off-tsLo:]))
		}
		return binary.LittleEndian.Uint64(b[off-tsLo:])
	}
	for i, ts := range list.states {
		b := bufs[i]
		if field(b, int64(L.Thread.Next), 8) != ts.Next {
			return errors.New("a thread state was unlinked while the thread list was read")
		}
		if field(b, int64(L.Thread.ThreadID), 8) != ts.ThreadID ||
			(L.Thread.NativeThreadID.Valid() && int(int32(field(b, int64(L.Thread.NativeThreadID), 4))) != ts.NativeID) {
			return errors.New("a thread state was bound to its thread while the thread list was read")
		}
	}
	return nil
}

// readAll reads every range past any cache, or says which one it could
// not.
func readAll(f target.VectorReader, bufs [][]byte, addrs []uint64) error {
	ok := make([]bool, len(bufs))
	f.ReadVector(addrs, bufs, ok)
	for i, good := range ok {
		if !good {
			return &target.FaultError{Addr: addrs[i], Len: len(bufs[i])}
		}
	}
	return nil
}

// Recapture reads again, from the target as it is now, the frames of the
// threads of cp that run on OS thread tid, and whether they hold the GIL.
// A capture that read every thread while the GIL's holder ran stops the
// holder afterwards and reads its stack alone: no other thread could have
// changed its own stack without taking the GIL (Verify checks that none
// did), so the pause covers one stack, whatever the number of threads.
func (r *Reader) Recapture(cp *Capture, tid int) error {
	for i, ct := range cp.threads {
		if ct.NativeID != tid || tid == 0 {
			continue
		}
		head, holds, err := r.frameHead(ct.tstate)
		if err != nil {
			return err
		}
		// Read afresh, not through the walk cache: the frames may have
		// changed while the holder ran. Its innermost frames are kept
		// as of this stop (KeepFrames), as the first read kept them.
		raw, top, werr := r.captureFramesTop(head, 0)
		cp.threads[i].HoldsGIL = holds
		cp.threads[i].raw, cp.threads[i].walkErr = raw, werr
		cp.threads[i].walk, cp.threads[i].shared = nil, false
		cp.threads[i].top = top
	}
	return nil
}

// frameHead reads a thread state's innermost frame and whether it holds
// the GIL, as Threads does.
func (r *Reader) frameHead(ts uint64) (uint64, bool, error) {
	L := r.In.Layout
	o := r.Obj
	var head, cf uint64
	var err error
	switch {
	case L.Thread.CurrentFrame.Valid():
		head, err = o.u64(ts + uint64(L.Thread.CurrentFrame))
	case L.Thread.CFrame.Valid() && L.Thread.CFrameCurrent.Valid():
		if cf, err = o.u64(ts + uint64(L.Thread.CFrame)); err == nil && cf != 0 {
			head, err = o.u64(cf + uint64(L.Thread.CFrameCurrent))
		}
	default:
		head, err = o.u64(ts + uint64(L.Thread.Frame))
	}
	if err != nil {
		return 0, false, fmt.Errorf("read frame of thread state %#x: %w", ts, err)
	}
	var holds bool
	if L.Thread.HoldsGIL.Valid() {
		v, _ := o.u32(ts + uint64(L.Thread.HoldsGIL))
		holds = v != 0
	} else if interp, err := o.u64(ts + uint64(L.Thread.Interp)); err == nil {
		locked, holder, _ := r.gil(interp)
		holds = locked && holder == ts
	}
	_, head = r.enteredCFrame(cf, head, holds)
	return head, holds, nil
}
