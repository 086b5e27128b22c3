package cpython

// Stack is one thread's Python stack as a profiler keeps it: frames as
// code objects and lines, without values, frame addresses or native
// frames.
type Stack struct {
	ThreadID    uint64 // threading.get_ident()
	NativeID    int    // kernel TID; 0 when unknown
	Name        string // threading's name, else the OS's; "" when none
	HoldsGIL    bool
	IsMain      bool
	Interpreter int64
	Frames      []StackFrame // innermost first
	// Err says why the walk stopped early: Frames are then incomplete.
	Err error
	// Key, when not 0, identifies the frames: stacks of any reader with
	// the same Key have the same frames (a thread whose stack did not
	// change keeps its Key).
	Key uint64
}

// StackFrame is one frame of a Stack: its code object, as the reader cached
// it, and its line. Equal StackFrames are the same line of the same code
// object, so a profiler can key its own tables on them.
type StackFrame struct {
	code *codeInfo
	Line int
}

// Function is the code object's co_name.
func (f StackFrame) Function() string { return f.code.name }

// Qualname is co_qualname (co_name before 3.11).
func (f StackFrame) Qualname() string { return f.code.qualname }

// File is co_filename.
func (f StackFrame) File() string { return f.code.file }

// Stacks resolves a capture into stacks, reading code objects (cached
// across captures) as Resolve does. It consumes the capture, whose buffers
// serve the next captures, and reuses buf's storage: the stacks are valid
// until the next call.
func (r *Reader) Stacks(cp *Capture, buf []Stack) []Stack {
	out := buf[:0]
	for i := range cp.threads {
		ct := &cp.threads[i]
		var st *Stack
		if len(out) < cap(out) {
			out = out[:len(out)+1]
			st = &out[len(out)-1]
			*st = Stack{Frames: st.Frames[:0]}
		} else {
			out = append(out, Stack{})
			st = &out[len(out)-1]
		}
		th := &ct.Thread
		st.ThreadID, st.NativeID, st.HoldsGIL, st.IsMain, st.Interpreter = th.ThreadID, th.NativeID, th.HoldsGIL, th.IsMain, th.Interpreter
		switch {
		case th.Name != nil:
			st.Name = *th.Name
		case th.OSName != nil:
			st.Name = *th.OSName
		}
		if w := ct.walk; w != nil && w.resolved {
			st.Frames = append(st.Frames, w.frames...)
			st.Err, st.Key = w.resolveErr, w.key
		} else {
			for j := range ct.raw {
				if ct.raw[j].frameless() {
					continue // an eval loop's shim alone: no code, as in Resolve
				}
				c, loc, _, skip, err := r.locate(&ct.raw[j])
				if err != nil {
					st.Err = err
					break
				}
				if !skip {
					st.Frames = append(st.Frames, StackFrame{code: c, Line: loc.Line})
				}
			}
			if w != nil {
				w.frames = append(w.frames[:0], st.Frames...)
				w.resolveErr, w.resolved = st.Err, true
				st.Key = w.key
			}
		}
		if st.Err == nil {
			st.Err = ct.walkErr
		}
		if !ct.shared {
			r.giveRaw(ct.raw)
		}
		ct.raw = nil
	}
	r.spare = cp
	return out
}

// maxPooled bounds the frame buffers kept for reuse (one per thread).
const maxPooled = 1 << 14

// rawSlice is an empty frame buffer, reused when one was given back.
func (r *Reader) rawSlice() []rawFrame {
	if n := len(r.rawPool); n > 0 {
		s := r.rawPool[n-1]
		r.rawPool = r.rawPool[:n-1]
		return s
	}
	// As deep as the last thread walked: threads of one pool are alike,
	// and growing from a small buffer copied and faulted twice the bytes.
	return make([]rawFrame, 0, min(max(16, r.rawHint), 1024))
}

func (r *Reader) giveRaw(s []rawFrame) {
	if cap(s) > 0 && cap(s) <= maxFrames && len(r.rawPool) < maxPooled {
		clear(s) // drop references to values
		r.rawPool = append(r.rawPool, s[:0])
	}
}
