// Package top shows where processes spend their time, live, as py-spy top
// does and with top's conventions: a summary at the top (samples, threads,
// GIL and idle shares), a reverse-video column header, functions sorted by
// own or total time, keys to sort, pause and quit, a refresh every second,
// and plain blocks of lines (top -b) when the output is not a terminal.
package top

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/profile"
	"pyscope/internal/report"
)

// Columns, in the order shown; the sort column is one of them.
const (
	colOwn = iota
	colTotal
	colOwnTime
	colTotalTime
	numCols
)

var colNames = [numCols]string{"%Own", "%Total", "OwnTime", "TotalTime"}

// window is what one refresh interval saw.
type window struct {
	stats    profile.Stats
	funcs    [numFilters][]profile.FunctionStat // by function, under each filter
	lines    [numFilters][]profile.FunctionStat // by line
	ticks    int64                              // sampling instants in the interval
	procs    int                                // processes sampled
	threads  int                                // threads sampled
	running  int                                // of which running in the last tick
	duration time.Duration
	pause    time.Duration // mean pause per capture
	// noGIL: every process captured is a free-threaded build.
	noGIL bool
}

// The filters the keys i and g pick: every window is kept under each, so
// that a key shows its rows at once.
const numFilters = 4

func filterOf(i int) profile.Filter { return profile.Filter{Idle: i&1 != 0, GILOnly: i&2 != 0} }

// filter is the index of the filter the view shows.
func (v *view) filter() int {
	i := 0
	if v.idle {
		i |= 1
	}
	if v.gilOnly {
		i |= 2
	}
	return i
}

// cumulative is own and total samples since the start (or the last reset).
type cumulative map[funcKey][2]int64

type funcKey struct {
	name, file string
	line       int
	native     bool
}

func keyOf(f profile.FunctionStat) funcKey {
	return funcKey{name: f.Name, file: f.File, line: f.Line, native: f.Native}
}

// view is the state of the screen: what was sampled and how it is shown.
type view struct {
	title    string
	period   time.Duration // one sample's weight
	mode     string        // "blocking" or "nonblocking"
	sortCol  int
	reverse  bool
	lines    bool
	idle     bool
	gilOnly  bool
	paused   bool
	help     bool
	status   string // a message under the summary ("process 12 exited")
	last     window
	cum      [numFilters][2]cumulative // by filter: by function, by line
	pause    time.Duration             // mean pause per capture in the interval
	now      time.Time
	nonblock bool
}

// rows renders the view as lines at most width columns wide (0: no
// limit) and at most height lines (0: no limit).
func (v *view) rows(width, height int) []string {
	var out []string
	add := func(s string) { out = append(out, fit(s, width)) }
	w := &v.last
	add(fmt.Sprintf("pyscope top - %s  %s", v.now.Format("15:04:05"), v.title))
	taken := ""
	if w.ticks > 0 {
		taken = fmt.Sprintf(" in %d ticks over %.1f s", w.ticks, w.duration.Seconds())
	}
	failed := int64(0)
	for _, n := range w.stats.Failed {
		failed += n
	}
	add(fmt.Sprintf("Samples: %d%s, failed: %d   Threads: %d, %d running   Processes: %d",
		w.stats.Samples, taken, failed, w.threads, w.running, w.procs))
	gil, idle := "-", "-"
	if d := w.ticks * int64(max(w.procs, 1)); d > 0 {
		gil = fmt.Sprintf("%.1f%%", 100*float64(w.stats.GIL)/float64(d))
	}
	gil += " held"
	if w.noGIL && w.stats.GIL == 0 {
		// As dump says it; a free-threaded build whose GIL was
		// re-enabled (PYTHON_GIL=1) has holders, and its share shows.
		gil = "none (a free-threaded build has no GIL)"
	}
	if w.stats.Samples > 0 {
		idle = fmt.Sprintf("%.1f%%", 100*float64(w.stats.Idle)/float64(w.stats.Samples))
	}
	sampling := "stops the process"
	if v.nonblock {
		sampling = "never stops the process"
	} else if v.pause > 0 {
		sampling += fmt.Sprintf(" %s per sample", roundDur(v.pause))
	}
	add(fmt.Sprintf("GIL: %s   Idle: %s of thread samples   Sampling: %s", gil, idle, sampling))
	var flags []string
	flags = append(flags, "sort "+colNames[v.sortCol])
	if v.reverse {
		flags = append(flags, "reversed")
	}
	if v.lines {
		flags = append(flags, "by line")
	} else {
		flags = append(flags, "by function")
	}
	if v.idle {
		flags = append(flags, "idle shown")
	}
	if v.gilOnly {
		flags = append(flags, "GIL holders only")
	}
	if v.paused {
		flags = append(flags, "PAUSED")
	}
	status := "[" + strings.Join(flags, ", ") + "]"
	if v.status != "" {
		status += "  " + v.status
	}
	add(status)
	if v.help {
		for _, l := range helpText {
			add(l)
		}
		return out
	}
	add("")
	header := fmt.Sprintf("%7s %7s %9s %9s  %s", "%Own", "%Total", "OwnTime", "TotalTime", "Function (file)")
	if v.lines {
		header = fmt.Sprintf("%7s %7s %9s %9s  %s", "%Own", "%Total", "OwnTime", "TotalTime", "Function (file:line)")
	}
	out = append(out, "\x00"+fit(header, width)) // \x00: shown in reverse video
	for _, f := range v.sorted() {
		if height > 0 && len(out) >= height {
			break
		}
		c := v.cumOf(f)
		add(fmt.Sprintf("%7s %7s %9s %9s  %s", v.pct(f.Own), v.pct(f.Total),
			v.secs(c[0]), v.secs(c[1]), v.name(f)))
	}
	return out
}

var helpText = []string{
	"",
	"Keys:",
	"  1 2 3 4   sort by %Own, %Total, OwnTime, TotalTime",
	"  < >       sort by the column left or right",
	"  R         reverse the order",
	"  l         functions or lines",
	"  i         show idle threads or not",
	"  g         only threads holding the GIL, or all",
	"  p, space  pause (the process is not sampled meanwhile) or resume",
	"  x         reset OwnTime and TotalTime",
	"  h, ?      this help (any key leaves it)",
	"  q, Ctrl-C quit",
	"",
	"%Own and %Total are shares of the last interval, where 100% is one",
	"thread all the time; OwnTime and TotalTime add up since the start.",
}

// sorted orders the last interval's functions by the sort column.
func (v *view) sorted() []profile.FunctionStat {
	src := v.last.funcs[v.filter()]
	if v.lines {
		src = v.last.lines[v.filter()]
	}
	fs := append([]profile.FunctionStat(nil), src...)
	val := func(f profile.FunctionStat) int64 {
		c := v.cumOf(f)
		switch v.sortCol {
		case colTotal:
			return f.Total
		case colOwnTime:
			return c[0]
		case colTotalTime:
			return c[1]
		}
		return f.Own
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := val(fs[i]), val(fs[j])
		if a == b {
			return false
		}
		return (a > b) != v.reverse
	})
	return fs
}

func (v *view) cumOf(f profile.FunctionStat) [2]int64 {
	i := 0
	if v.lines {
		i = 1
	}
	return v.cum[v.filter()][i][keyOf(f)]
}

// finish makes w the last interval and adds it to the cumulative times.
func (v *view) finish(w window) {
	v.last = w
	v.pause = w.pause
	for f := range numFilters {
		for i, fs := range [][]profile.FunctionStat{w.funcs[f], w.lines[f]} {
			if v.cum[f][i] == nil {
				v.cum[f][i] = cumulative{}
			}
			v.cum[f][i].add(fs)
		}
	}
}

// reset forgets the cumulative times.
func (v *view) reset() { v.cum = [numFilters][2]cumulative{} }

func (v *view) pct(n int64) string {
	if v.last.ticks == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(v.last.ticks))
}

func (v *view) secs(n int64) string {
	return fmt.Sprintf("%.2fs", (time.Duration(n) * v.period).Seconds())
}

// name is `qualname (file[:line])`, made safe for a terminal.
func (v *view) name(f profile.FunctionStat) string {
	file := report.CutName(filepath.Base(f.File))
	if f.File == "" {
		file = "?"
	}
	if f.Line > 0 {
		file += fmt.Sprintf(":%d", f.Line)
	}
	name := report.CutName(f.Name)
	if name == "" {
		name = "<unknown>"
	}
	return report.Safe(fmt.Sprintf("%s (%s)", name, file))
}

// add counts a finished interval into the cumulative times.
func (c cumulative) add(fs []profile.FunctionStat) {
	for _, f := range fs {
		k := keyOf(f)
		v := c[k]
		c[k] = [2]int64{v[0] + f.Own, v[1] + f.Total}
	}
}

func displayWidth(s string) int { return runewidth.StringWidth(s) }

// fit cuts s to width display columns (0: no limit).
func fit(s string, width int) string {
	if width <= 0 || runewidth.StringWidth(s) <= width {
		return s
	}
	return runewidth.Truncate(s, width, "")
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
