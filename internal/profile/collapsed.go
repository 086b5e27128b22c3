package profile

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"

	"pyscope/internal/report"
)

// WriteCollapsed writes Brendan Gregg's folded stacks: one line per
// distinct stack, frames from the root, `;`-separated, then a space and
// the number of samples (with Options.Weight cpu: their CPU time in
// nanoseconds, stacks of none left out). Lines are sorted, so equal profiles give equal
// files. Frame names are escaped as for a terminal, and `;` as \x3b, so a
// name from the target can neither split a frame nor drive a terminal or
// break flamegraph.pl's SVG.
func (p *Profile) WriteCollapsed(w io.Writer) error {
	labels := make([]string, len(p.frames))
	for i := range p.frames {
		labels[i] = strings.ReplaceAll(report.Safe(textLabel(p.frames[i].key)), ";", `\x3b`)
	}
	var lines []string
	var buf []int32
	var b strings.Builder
	weights := p.weights()
	for n := range p.nodes {
		self := weights[n]
		if self == 0 {
			continue
		}
		b.Reset()
		buf = p.stack(int32(n), buf)
		for i, f := range buf {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(labels[f])
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(self, 10))
		lines = append(lines, b.String())
	}
	sort.Strings(lines)
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
