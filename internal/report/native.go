package report

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strings"

	"pyscope/internal/model"
)

// writeNativeFrame renders a native frame the way gdb's bt does:
// `Native 0x7f… in take_gil+0x1c (libpython3.11.so.1.0) at Python/ceval_gil.c:260`.
func writeNativeFrame(b *bufio.Writer, f model.Frame, c palette) {
	if f.Signal {
		fmt.Fprintf(b, "  %s<signal handler called>%s\n", c.yellow, c.reset)
		return
	}
	name := "??"
	if f.Function != "" {
		name = Safe(f.Function)
		if f.Offset != nil && *f.Offset != 0 {
			name += fmt.Sprintf("+%#x", *f.Offset)
		}
	}
	mod := "?"
	if f.Module != "" {
		mod = Safe(filepath.Base(f.Module))
	}
	if f.Function == "" && f.Offset != nil {
		mod += fmt.Sprintf("+%#x", *f.Offset)
	}
	addr := fmt.Sprintf("%#016x", f.Address)
	if f.Inlined {
		addr = "(inlined)         "
	}
	fmt.Fprintf(b, "  %sNative %s%s in %s%s%s (%s)", c.dim, addr, c.reset, c.green, name, c.reset, mod)
	if f.File != "" {
		fmt.Fprintf(b, " at %s%s%s", c.cyan, Safe(f.File), c.reset)
		if f.Line > 0 {
			fmt.Fprintf(b, ":%s%d%s", c.yellow, f.Line, c.reset)
		}
	}
	b.WriteString("\n")
	if f.UnwindStopped {
		fmt.Fprintf(b, "  %s%s%s\n", c.yellow, UnwindStoppedNote, c.reset)
	}
}

// UnwindStoppedNote follows a native frame marked UnwindStopped: the
// Python frames after it are in call order, with a gap before them.
const UnwindStoppedNote = "... the native unwind stopped here: the frames that called it, down to the next one shown, are unknown"

// activityTags are the header tags of --native: what the thread is doing.
func activityTags(t model.Thread) []string {
	var tags []string
	if t.Python != nil && !*t.Python {
		tags = append(tags, "no Python state")
	}
	switch t.Activity {
	case "":
	case "syscall":
		tags = append(tags, "in syscall "+Safe(t.Syscall))
	case "waiting_for_gil":
		if t.WaitingFor == nil || t.WaitingFor.Kind != "gil" { // else the header says who holds it
			tags = append(tags, "waiting for the GIL")
		}
	case "dropping_gil":
		tags = append(tags, "dropping the GIL")
	case "gc":
		tags = append(tags, "in garbage collection")
	default:
		tags = append(tags, Safe(strings.ReplaceAll(t.Activity, "_", " ")))
	}
	return tags
}

// writeNativeExtras writes a thread's warnings and, when its stacks could
// not be merged, its native stack after the Python one.
func writeNativeExtras(b *bufio.Writer, t model.Thread, c palette) {
	for _, w := range t.Warnings {
		fmt.Fprintf(b, "  %swarning: %s%s\n", c.yellow, Safe(w), c.reset)
	}
	if len(t.NativeFrames) > 0 {
		fmt.Fprintf(b, "  %sNative stack:%s\n", c.bold, c.reset)
		// A deep C recursion folds as the merged stacks do.
		Fold(t.NativeFrames, func(i int) {
			writeNativeFrame(b, t.NativeFrames[i], c)
		}, func(period, n int) {
			fmt.Fprintf(b, "  %s%s%s\n", c.dim, Repeated(period, n), c.reset)
		})
	}
}
