// Package report renders a snapshot as text or JSON.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"pyscope/internal/model"
)

// Sources returns a source line (1-based) of a file, if it can be read,
// and whether a file read was modified after a time.
type Sources interface {
	Line(file string, line int) (string, bool)
	ChangedAfter(file string, t time.Time) (time.Time, bool)
}

// TextOptions control the text rendering.
type TextOptions struct {
	Color   bool
	Sources Sources // nil: no source lines
	// SourceEpoch is when the code that runs was loaded at the latest (the
	// process's start, the core's writing): a source file modified after
	// it may not show that code, and gets a warning. SourceEpochWhat names
	// it ("the process started").
	SourceEpoch     time.Time
	SourceEpochWhat string
	// Parent names the parent process in the header (a dump of several).
	Parent bool
}

// SourceChanged is the warning for a source file modified after epoch.
func SourceChanged(file, what string, mtime, epoch time.Time) string {
	return fmt.Sprintf("%s was modified after %s (%s > %s): the lines shown may not be the code that runs",
		Name(file), what, mtime.Format(time.DateTime), epoch.Format(time.DateTime))
}

// changedSources warns once per source file that changed after the epoch,
// in the order the files first appear.
func changedSources(s *model.Snapshot, opt TextOptions) []string {
	if opt.Sources == nil || opt.SourceEpoch.IsZero() {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range s.Threads {
		for i := range t.Frames {
			f := &t.Frames[i]
			if f.Kind == "native" || f.Line <= 0 || seen[f.File] {
				continue
			}
			seen[f.File] = true
			if _, ok := opt.Sources.Line(f.File, f.Line); !ok {
				continue
			}
			if mt, changed := opt.Sources.ChangedAfter(f.File, opt.SourceEpoch); changed {
				out = append(out, SourceChanged(f.File, opt.SourceEpochWhat, mt, opt.SourceEpoch))
			}
		}
	}
	return out
}

type palette struct{ bold, dim, yellow, green, cyan, red, reset string }

func colors(on bool) palette {
	if !on {
		return palette{}
	}
	return palette{bold: "\x1b[1m", dim: "\x1b[2m", yellow: "\x1b[33m", green: "\x1b[32m",
		cyan: "\x1b[36m", red: "\x1b[31m", reset: "\x1b[0m"}
}

// Text writes the snapshot the way a Python traceback reads: one header per
// thread, then `File "…", line N, in qualname` per frame, innermost first.
func Text(w io.Writer, s *model.Snapshot, opt TextOptions) error {
	c := colors(opt.Color)
	// Streamed: a large dump's text is megabytes.
	b := bufio.NewWriterSize(w, 64<<10)
	lib := ""
	if s.Python.Library != nil {
		lib = " with " + Safe(*s.Python.Library)
	}
	build := ""
	if s.Python.FreeThreaded {
		build = " free-threaded"
	}
	parent := ""
	if opt.Parent && s.PPID != 0 {
		parent = fmt.Sprintf(" (parent %d)", s.PPID)
	}
	fmt.Fprintf(b, "%sProcess %d%s%s: Python %s%s (%s%s)\n", c.bold, s.PID, c.reset, parent,
		Safe(s.Python.Version), build, Safe(s.Python.Executable), lib)
	if line := stopLine(s); line != "" {
		fmt.Fprintf(b, "%s%s%s\n", c.dim, line, c.reset)
	}
	if s.Core != nil {
		fmt.Fprintf(b, "%sCore file %s%s\n", c.dim, Safe(s.Core.File), c.reset)
	}
	if s.Crash != nil {
		fmt.Fprintf(b, "%sCrashed: %s%s\n", c.red, crashString(s.Crash), c.reset)
	}
	for _, wmsg := range s.Warnings {
		fmt.Fprintf(b, "%swarning: %s%s\n", c.yellow, Safe(wmsg), c.reset)
	}
	for _, wmsg := range changedSources(s, opt) {
		fmt.Fprintf(b, "%swarning: %s%s\n", c.yellow, wmsg, c.reset)
	}
	for _, cyc := range s.TaskCycles {
		fmt.Fprintf(b, "%sDeadlock: %d asyncio tasks await each other (see the tasks below)%s\n", c.red, len(cyc), c.reset)
	}
	writeDeadlocks(b, s, c)
	// Deep stacks of many threads repeat the same frames: each distinct
	// frame line (and its source line) is rendered once.
	lines := map[frameKey]string{}
	// Built once: per thread, the index of every thread made the text of
	// many threads quadratic.
	names := namesOf(s, nil)
	for _, t := range s.Threads {
		seenGlobals := map[uint64]bool{}
		b.WriteString("\n")
		b.WriteString(threadHeader(t, c, s.Stop != nil && s.Stop.Policy == "gil"))
		if w := names.wait(&t); w != "" {
			fmt.Fprintf(b, " %s%s%s", c.red, w, c.reset)
		}
		b.WriteString("\n")
		names.holds(b, t, "  ", c)
		// Deep recursion is folded as a traceback folds it; the variables
		// of the frames left out are left out with them.
		Fold(t.Frames, func(i int) {
			f := t.Frames[i]
			if f.Kind == "native" {
				writeNativeFrame(b, f, c)
				return
			}
			k := frameKey{f.File, frameName(f), f.Line, deref(f.EndLine), deref(f.Column), deref(f.EndColumn)}
			line, ok := lines[k]
			if !ok {
				line = frameLine(s.Python.Version, f, c, opt.Sources)
				lines[k] = line
			}
			b.WriteString(line)
			writeVars(b, f, c, seenGlobals)
		}, func(period, n int) {
			fmt.Fprintf(b, "  %s%s%s\n", c.dim, Repeated(period, n), c.reset)
		})
		if len(t.Frames) == 0 && t.Error == "" {
			fmt.Fprintf(b, "  %s(no Python frames)%s\n", c.dim, c.reset)
		}
		if t.Error != "" {
			fmt.Fprintf(b, "  %s<unreadable: %s>%s\n", c.red, Safe(t.Error), c.reset)
		}
		writeNativeExtras(b, t, c)
	}
	writeTasks(b, s, c)
	writeGreenlets(b, s, c)
	return b.Flush()
}

type frameKey struct {
	file, name                string
	line, end, column, endCol int
}

func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// frameLine is `  File "…", line N, in name`, the source line under it,
// and carets under the running expression (PEP 657).
func frameLine(version string, f model.Frame, c palette, src Sources) string {
	var b strings.Builder
	b.WriteString("  File ")
	b.WriteString(c.cyan)
	b.WriteByte('"')
	b.WriteString(Name(f.File))
	b.WriteByte('"')
	b.WriteString(c.reset)
	b.WriteString(", line ")
	b.WriteString(c.yellow)
	b.WriteString(strconv.Itoa(f.Line))
	b.WriteString(c.reset)
	b.WriteString(", in ")
	b.WriteString(c.green)
	b.WriteString(Name(frameName(f)))
	b.WriteString(c.reset)
	b.WriteByte('\n')
	if src != nil && f.Line > 0 {
		if raw, ok := src.Line(f.File, f.Line); ok {
			if strings.TrimSpace(raw) != "" {
				line := func(n int) (string, bool) { return src.Line(f.File, n) }
				text, marks := SourceLine(raw, FocusOf(f), FocusEndOf(f), Carets(version, f, line))
				b.WriteString("    ")
				b.WriteString(text)
				b.WriteByte('\n')
				if marks != "" {
					b.WriteString("    ")
					b.WriteString(c.red)
					b.WriteString(marks)
					b.WriteString(c.reset)
					b.WriteByte('\n')
				}
			}
		}
	}
	return b.String()
}

// Skipped writes the line a dump of several gives a process it did not
// read: `Process 4250 (parent 4242, /usr/bin/sleep): not Python, skipped`.
func Skipped(w io.Writer, p model.Skipped, color bool) error {
	c := colors(color)
	var about []string
	if p.PPID != 0 {
		about = append(about, fmt.Sprintf("parent %d", p.PPID))
	}
	if p.Executable != "" {
		about = append(about, Safe(p.Executable))
	}
	head := fmt.Sprintf("Process %d", p.PID)
	if len(about) > 0 {
		head += " (" + strings.Join(about, ", ") + ")"
	}
	var why string
	switch p.Reason {
	case "not_python":
		why = c.dim + "runs no Python, skipped" + c.reset
	case "exited":
		why = c.dim + "exited before it was read, skipped" + c.reset
	default:
		why = c.red + "error: " + Safe(p.Error) + c.reset
	}
	_, err := fmt.Fprintf(w, "%s%s%s: %s\n", c.bold, head, c.reset, why)
	return err
}

func frameName(f model.Frame) string {
	if f.Qualname != "" {
		return f.Qualname
	}
	return f.Function
}

// threadHeader is `Thread 0x7f… (TID 1234) "worker-0" [holds GIL, attached]`.
// partial marks the threads stopped when not all were.
func threadHeader(t model.Thread, c palette, partial bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sThread %#x%s", c.bold, t.ThreadID, c.reset)
	if t.NativeID != 0 {
		fmt.Fprintf(&b, " (TID %d)", t.NativeID)
	}
	if t.Name != nil {
		fmt.Fprintf(&b, " %s\"%s\"%s", c.bold, Name(*t.Name), c.reset)
	} else if t.OSName != nil {
		fmt.Fprintf(&b, " [os: %s]", Safe(*t.OSName))
	}
	var tags []string
	if t.IsMain {
		tags = append(tags, "main")
	}
	if t.HoldsGIL {
		tags = append(tags, "holds GIL")
	}
	if t.State != "" {
		tags = append(tags, Safe(t.State))
	}
	if t.Stopped != nil && *t.Stopped && partial {
		tags = append(tags, "stopped")
	}
	if t.Crashed {
		tags = append(tags, "crashed")
	}
	if t.Interpreter > 0 {
		tags = append(tags, fmt.Sprintf("interpreter %d", t.Interpreter))
	}
	if t.GC && t.Activity != "gc" {
		tags = append(tags, "in garbage collection")
	}
	tags = append(tags, activityTags(t)...)
	if len(tags) > 0 {
		fmt.Fprintf(&b, " %s[%s]%s", c.yellow, strings.Join(tags, ", "), c.reset)
	}
	return b.String()
}

// crashString is `SIGSEGV (address 0x0) in thread TID 1234`; the address
// only for faults that carry one (si_code > 0: raised by the kernel).
func crashString(cr *model.Crash) string {
	s := Safe(cr.Name)
	switch cr.Name {
	case "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP":
		if cr.Code > 0 {
			s += fmt.Sprintf(" (address %#x)", cr.Address)
		}
	}
	return s + fmt.Sprintf(" in thread TID %d", cr.TID)
}

// stopLine says how long the target was paused and which threads were
// stopped for it.
func stopLine(s *model.Snapshot) string {
	st := s.Stop
	if st == nil {
		if s.PauseMicros > 0 {
			return "Target paused for " + pauseString(s.PauseMicros)
		}
		return ""
	}
	switch {
	case st.Policy == "none":
		return "Target not stopped (--no-block): the snapshot may be torn"
	case len(st.Stopped) == 0:
		return "No thread stopped: none could change what was read (checked after the read)"
	case st.Policy == "all" || len(st.Stopped) == st.Threads:
		line := fmt.Sprintf("Target paused for %s: stopped all %d threads", pauseString(s.PauseMicros), len(st.Stopped))
		if st.Reason != "" {
			line += " (" + Safe(st.Reason) + ")"
		}
		return line
	}
	tids := make([]string, len(st.Stopped))
	for i, tid := range st.Stopped {
		tids[i] = fmt.Sprint(tid)
	}
	return fmt.Sprintf("Target paused for %s: stopped %d of %d threads (TID %s, the GIL's holder)",
		pauseString(s.PauseMicros), len(st.Stopped), st.Threads, strings.Join(tids, ", "))
}

func pauseString(us int64) string {
	if us < 1000 {
		return fmt.Sprintf("%d µs", us)
	}
	return fmt.Sprintf("%.2f ms", float64(us)/1000)
}

// JSON writes the snapshot as indented JSON (docs/json-schema.md). Text is
// exact: escaping for terminals does not apply.
//
// It is indented for a terminal and compact (one line) otherwise:
// indenting costs several times the encoding itself on large dumps.
func JSON(w io.Writer, s *model.Snapshot) error {
	if len(s.Threads) == 0 || isTerminal(w) {
		return JSONValue(w, s)
	}
	// Compact, the threads one by one: encoding/json builds a whole
	// document in memory before writing it, a megabyte for 100 threads ×
	// 50 frames, every page of it fresh, and compiles an encoder for every
	// type the snapshot can hold. The bytes are the same: snapshotWriter
	// writes what encoding/json would, the rare parts through it.
	bw := bufio.NewWriterSize(w, 64<<10)
	fw := newFrameWriter()
	fw.b = append(fw.b, `{"pid":`...)
	fw.b = strconv.AppendInt(fw.b, int64(s.PID), 10)
	if s.PPID != 0 {
		fw.b = append(fw.b, `,"ppid":`...)
		fw.b = strconv.AppendInt(fw.b, int64(s.PPID), 10)
	}
	fw.b = append(fw.b, `,"source":`...)
	fw.appendString(s.Source)
	fw.b = append(fw.b, `,"python":`...)
	if err := fw.appendValue(&s.Python); err != nil {
		return err
	}
	fw.b = append(fw.b, `,"threads":[`...)
	for i := range s.Threads {
		if i > 0 {
			fw.b = append(fw.b, ',')
		}
		if err := fw.appendThread(&s.Threads[i]); err != nil {
			return err
		}
		bw.Write(fw.b)
		fw.b = fw.b[:0]
	}
	fw.b = append(fw.b, ']')
	if s.PauseMicros != 0 {
		fw.b = append(fw.b, `,"pause_us":`...)
		fw.b = strconv.AppendInt(fw.b, s.PauseMicros, 10)
	}
	for _, part := range []struct {
		key  string
		omit bool
		v    any
	}{
		{"stop", s.Stop == nil, s.Stop},
		{"warnings", len(s.Warnings) == 0, s.Warnings},
		{"core", s.Core == nil, s.Core},
		{"crash", s.Crash == nil, s.Crash},
		{"tasks", s.Tasks == nil, s.Tasks},
		{"task_cycles", s.TaskCycles == nil, s.TaskCycles},
		{"greenlets", s.Greenlets == nil, s.Greenlets},
		{"deadlocks", len(s.Deadlocks) == 0, s.Deadlocks},
	} {
		if part.omit {
			continue
		}
		fw.b = append(fw.b, `,"`...)
		fw.b = append(fw.b, part.key...)
		fw.b = append(fw.b, `":`...)
		if err := fw.appendValue(part.v); err != nil {
			return err
		}
	}
	fw.b = append(fw.b, "}\n"...)
	bw.Write(fw.b)
	return bw.Flush()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// JSONValue writes any of the model's documents (a snapshot, several,
// ps's list) as JSON does.
func JSONValue(w io.Writer, s any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if isTerminal(w) {
		enc.SetIndent("", "  ")
	}
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	if invalidUTF8(buf.Bytes()) {
		buf.Reset()
		if err := enc.Encode(validUTF8Copy(s)); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
