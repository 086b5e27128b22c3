package report

import (
	"bytes"
	"encoding/json"
	"strconv"

	"pyscope/internal/model"
)

// frameWriter appends threads and their frames as encoding/json writes
// them (compact, HTML left unescaped), without its reflection: a JSON dump
// of 100 threads × 50 frames spent a fifth of its CPU encoding them. Frames
// with variables, and strings that need escaping, go through encoding/json
// itself.
type frameWriter struct {
	b   []byte
	tmp bytes.Buffer
	enc *json.Encoder
	// The last plain file and function names: a thread's frames mostly
	// repeat them, and comparing a string with itself costs nothing.
	file, function string
}

func newFrameWriter() *frameWriter {
	w := &frameWriter{}
	w.enc = json.NewEncoder(&w.tmp)
	w.enc.SetEscapeHTML(false)
	return w
}

// plainFrame reports whether f has only the fields appendFrame writes.
func plainFrame(f *model.Frame) bool {
	return len(f.Locals) == 0 && f.LocalsError == "" && len(f.Globals) == 0
}

// appendThread appends th, its fields in model.Thread's order.
func (w *frameWriter) appendThread(th *model.Thread) error {
	w.b = append(w.b, `{"thread_id":`...)
	w.b = strconv.AppendUint(w.b, th.ThreadID, 10)
	w.b = append(w.b, `,"native_id":`...)
	w.b = strconv.AppendInt(w.b, int64(th.NativeID), 10)
	w.b = append(w.b, `,"name":`...)
	w.appendStringPtr(th.Name)
	w.b = append(w.b, `,"os_name":`...)
	w.appendStringPtr(th.OSName)
	w.b = append(w.b, `,"is_main":`...)
	w.b = strconv.AppendBool(w.b, th.IsMain)
	if th.Crashed {
		w.b = append(w.b, `,"crashed":true`...)
	}
	w.b = append(w.b, `,"holds_gil":`...)
	w.b = strconv.AppendBool(w.b, th.HoldsGIL)
	if th.State != "" {
		w.b = append(w.b, `,"state":`...)
		w.appendString(th.State)
	}
	w.b = append(w.b, `,"interpreter":`...)
	w.b = strconv.AppendInt(w.b, th.Interpreter, 10)
	w.b = append(w.b, `,"frames":`...)
	if th.Frames == nil {
		w.b = append(w.b, "null"...)
	} else if err := w.appendFrames(th.Frames); err != nil {
		return err
	}
	if th.Truncated {
		w.b = append(w.b, `,"truncated":true`...)
	}
	if th.Error != "" {
		w.b = append(w.b, `,"error":`...)
		w.appendString(th.Error)
	}
	if th.Python != nil {
		w.b = append(w.b, `,"python":`...)
		w.b = strconv.AppendBool(w.b, *th.Python)
	}
	if th.Activity != "" {
		w.b = append(w.b, `,"activity":`...)
		w.appendString(th.Activity)
	}
	if th.Syscall != "" {
		w.b = append(w.b, `,"syscall":`...)
		w.appendString(th.Syscall)
	}
	if len(th.NativeFrames) > 0 {
		w.b = append(w.b, `,"native_frames":`...)
		if err := w.appendFrames(th.NativeFrames); err != nil {
			return err
		}
	}
	if len(th.Warnings) > 0 {
		w.b = append(w.b, `,"warnings":[`...)
		for i, s := range th.Warnings {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.appendString(s)
		}
		w.b = append(w.b, ']')
	}
	if wf := th.WaitingFor; wf != nil {
		w.b = append(w.b, `,"waiting_for":`...)
		w.appendObject(wf.Kind, wf.Address, wf.Repr)
		w.b = w.b[:len(w.b)-1] // reopened for held_by
		w.b = append(w.b, `,"held_by":`...)
		if wf.HeldBy == nil {
			w.b = append(w.b, "null"...)
		} else {
			w.b = append(w.b, '[')
			for i, id := range wf.HeldBy {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = strconv.AppendUint(w.b, id, 10)
			}
			w.b = append(w.b, ']')
		}
		if wf.Pending {
			w.b = append(w.b, `,"pending":true`...)
		}
		if len(wf.Futures) > 0 {
			w.b = append(w.b, `,"futures":[`...)
			for i, id := range wf.Futures {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = strconv.AppendUint(w.b, id, 10)
			}
			w.b = append(w.b, ']')
		}
		if wf.Any {
			w.b = append(w.b, `,"any":true`...)
		}
		w.b = append(w.b, '}')
	}
	if len(th.Holds) > 0 {
		w.b = append(w.b, `,"holds":[`...)
		for i, h := range th.Holds {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.appendObject(h.Kind, h.Address, h.Repr)
		}
		w.b = append(w.b, ']')
	}
	if th.GC {
		w.b = append(w.b, `,"gc":true`...)
	}
	if th.Stopped != nil {
		w.b = append(w.b, `,"stopped":`...)
		w.b = strconv.AppendBool(w.b, *th.Stopped)
	}
	w.b = append(w.b, '}')
	return nil
}

// appendObject appends a model.Wait's or model.Held's common fields.
func (w *frameWriter) appendObject(kind string, addr uint64, repr string) {
	w.b = append(w.b, `{"kind":`...)
	w.appendString(kind)
	w.b = append(w.b, `,"address":`...)
	w.b = strconv.AppendUint(w.b, addr, 10)
	w.b = append(w.b, `,"repr":`...)
	w.appendString(repr)
	w.b = append(w.b, '}')
}

func (w *frameWriter) appendStringPtr(p *string) {
	if p == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.appendString(*p)
}

// appendFrames appends frames as a JSON array.
func (w *frameWriter) appendFrames(frames []model.Frame) error {
	w.b = append(w.b, '[')
	for i := range frames {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		f := &frames[i]
		if !plainFrame(f) {
			if err := w.appendValue(f); err != nil {
				return err
			}
			continue
		}
		// The fields in model.Frame's order, as its tags name them.
		w.b = append(w.b, `{"kind":`...)
		w.appendString(f.Kind)
		w.b = append(w.b, `,"function":`...)
		w.appendRepeated(f.Function, &w.function)
		w.b = append(w.b, `,"qualname":`...)
		w.appendString(f.Qualname)
		w.b = append(w.b, `,"file":`...)
		w.appendRepeated(f.File, &w.file)
		w.b = append(w.b, `,"line":`...)
		w.b = strconv.AppendInt(w.b, int64(f.Line), 10)
		w.appendIntPtr(`,"end_line":`, f.EndLine)
		w.appendIntPtr(`,"column":`, f.Column)
		w.appendIntPtr(`,"end_column":`, f.EndColumn)
		if f.Module != "" {
			w.b = append(w.b, `,"module":`...)
			w.appendString(f.Module)
		}
		if f.Address != 0 {
			w.b = append(w.b, `,"address":`...)
			w.b = strconv.AppendUint(w.b, f.Address, 10)
		}
		if f.Offset != nil {
			w.b = append(w.b, `,"offset":`...)
			w.b = strconv.AppendUint(w.b, *f.Offset, 10)
		}
		if f.ModuleOffset != 0 {
			w.b = append(w.b, `,"module_offset":`...)
			w.b = strconv.AppendUint(w.b, f.ModuleOffset, 10)
		}
		if f.Inlined {
			w.b = append(w.b, `,"inlined":true`...)
		}
		if f.Signal {
			w.b = append(w.b, `,"signal":true`...)
		}
		if f.UnwindStopped {
			w.b = append(w.b, `,"unwind_stopped":true`...)
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ']')
	return nil
}

func (w *frameWriter) appendIntPtr(key string, p *int) {
	if p != nil {
		w.b = append(w.b, key...)
		w.b = strconv.AppendInt(w.b, int64(*p), 10)
	}
}

// appendRepeated is appendString for a string that is often *last.
func (w *frameWriter) appendRepeated(s string, last *string) {
	if s != *last {
		if !plain(s) {
			w.appendValue(s)
			return
		}
		*last = s
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// plain reports whether s is printable ASCII without quotes or
// backslashes: quoted as it is.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendString quotes s; anything but printable ASCII without quotes or
// backslashes is left to encoding/json, whose escapes are the format's.
func (w *frameWriter) appendString(s string) {
	if !plain(s) {
		w.appendValue(s)
		return
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

func (w *frameWriter) appendValue(v any) error {
	w.tmp.Reset()
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	if invalidUTF8(w.tmp.Bytes()) {
		w.tmp.Reset()
		if err := w.enc.Encode(validUTF8Copy(v)); err != nil {
			return err
		}
	}
	w.b = append(w.b, bytes.TrimSuffix(w.tmp.Bytes(), []byte("\n"))...)
	return nil
}
