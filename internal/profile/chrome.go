package profile

import (
	"bufio"
	"encoding/json"
	"io"

	"pyscope/internal/version"
	"pyscope/internal/wtf8"
)

// Trace Event Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
type traceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   int64          `json:"ts"` // µs
	Dur  *int64         `json:"dur,omitempty"`
	PID  int            `json:"pid"`
	TID  int64          `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// WriteChrome writes Trace Event Format JSON as nested complete ("X")
// events: for each thread, a frame is one slice for as long as consecutive
// samples have it at the same place on the stack. Perfetto's JSON importer
// shows B/E/X slices and metadata but not the format's sampling events
// (stackFrames/samples), so slices are what it draws: a flame chart per
// thread on the real time axis. Times are whole microseconds from the first
// sample, so children nest exactly inside their parents. Idle (or filtered)
// samples end every slice of their thread.
func (p *Profile) WriteChrome(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	first := true
	emit := func(e *traceEvent) error {
		if first {
			first = false
		} else {
			bw.WriteString(",\n")
		}
		return enc.Encode(e)
	}
	bw.WriteString(`{"displayTimeUnit":"ms","otherData":`)
	other := map[string]any{"exporter": "pyscope " + version.Version, "comments": p.comments()}
	if err := enc.Encode(other); err != nil {
		return err
	}
	bw.WriteString(`,"traceEvents":[` + "\n")

	period := p.opts.Interval.Nanoseconds()
	pids := map[int]bool{}
	var buf []int32
	for _, th := range p.threads {
		if len(th.runs) == 0 {
			continue
		}
		pid, tid := th.key.pid, int64(th.nativeID)
		if tid == 0 {
			tid = int64(th.key.tid)
		}
		if !pids[pid] {
			pids[pid] = true
			name := th.process
			if name == "" {
				name = p.opts.Name
			}
			if name != "" {
				if err := emit(&traceEvent{Name: "process_name", Ph: "M", PID: pid, TID: tid, Args: map[string]any{"name": name}}); err != nil {
					return err
				}
			}
		}
		if err := emit(&traceEvent{Name: "thread_name", Ph: "M", PID: pid, TID: tid, Args: map[string]any{"name": p.threadTitle(th)}}); err != nil {
			return err
		}
		// open holds the frames of the current slices, root first, and
		// when each began.
		type slice struct {
			frame int32
			start int64
		}
		var open []slice
		closeFrom := func(depth int, at int64) error {
			for i := len(open) - 1; i >= depth; i-- {
				s := open[i]
				start, end := s.start/1000, at/1000
				dur := end - start
				k := p.frames[s.frame].key
				cat := "python"
				if k.kind == kindNative {
					cat = "native"
				}
				args := map[string]any{}
				if k.file != "" {
					args["file"] = wtf8.ToUTF8(k.file)
				}
				if k.line > 0 {
					args["line"] = k.line
				}
				if k.module != "" {
					args["module"] = k.module
				}
				if err := emit(&traceEvent{Name: wtf8.ToUTF8(p.frames[s.frame].label), Cat: cat, Ph: "X", Ts: start, Dur: &dur, PID: pid, TID: tid, Args: args}); err != nil {
					return err
				}
			}
			open = open[:depth]
			return nil
		}
		prevEnd := int64(-1)
		for _, r := range th.runs {
			end := r.end
			if end < 0 {
				end = r.last + period
			}
			buf = p.stack(r.node, buf)
			frames := buf[:0:0]
			for _, f := range buf {
				if !p.frames[f].pseudo() {
					frames = append(frames, f)
				}
			}
			common := 0
			if r.start == prevEnd { // contiguous: frames still on the stack continue
				for common < len(open) && common < len(frames) && open[common].frame == frames[common] {
					common++
				}
			}
			at := r.start
			if prevEnd >= 0 && r.start != prevEnd {
				at = prevEnd
			}
			if err := closeFrom(common, at); err != nil {
				return err
			}
			for _, f := range frames[common:] {
				open = append(open, slice{frame: f, start: r.start})
			}
			prevEnd = end
		}
		if err := closeFrom(0, prevEnd); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
