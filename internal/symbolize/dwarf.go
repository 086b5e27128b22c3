package symbolize

import (
	"debug/dwarf"
	"sort"
)

// Bounds on untrusted DWARF.
const (
	maxCUs        = 1 << 20
	maxDIEsPerCU  = 1 << 23
	maxInlineNest = 64
	maxRefChain   = 16
	maxLineRows   = 1 << 24
)

// dwarfInfo indexes a file's DWARF: compilation unit ranges up front,
// functions and line rows per unit on first use.
type dwarfInfo struct {
	d     *dwarf.Data
	line  []byte    // .debug_line, to check line headers before debug/dwarf reads them
	cus   []cuRange // sorted by lo
	units map[dwarf.Offset]*unit
	names map[dwarf.Offset]string
}

type cuRange struct {
	lo, hi uint64
	off    dwarf.Offset
}

type unit struct {
	entry *dwarf.Entry
	funcs []*fn // top-level subprograms, in DIE order
	lines []lineRow
}

type fn struct {
	ranges   [][2]uint64
	name     string
	callFile string
	callLine int
	inlined  bool
	children []*fn
}

type lineRow struct {
	addr   uint64
	file   string
	line   int
	endSeq bool
}

func newDWARFInfo(d *dwarf.Data) (dw *dwarfInfo) {
	defer func() {
		if recover() != nil {
			dw = nil
		}
	}()
	dw = &dwarfInfo{d: d, units: map[dwarf.Offset]*unit{}, names: map[dwarf.Offset]string{}}
	r := d.Reader()
	for n := 0; n < maxCUs; n++ {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			rs, _ := d.Ranges(e)
			for _, rg := range rs {
				if rg[0] < rg[1] {
					dw.cus = append(dw.cus, cuRange{rg[0], rg[1], e.Offset})
				}
			}
		}
		r.SkipChildren()
	}
	if len(dw.cus) == 0 {
		return nil
	}
	sort.Slice(dw.cus, func(i, j int) bool { return dw.cus[i].lo < dw.cus[j].lo })
	return dw
}

func (dw *dwarfInfo) lookup(pc uint64) (out []Symbol) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	// CU ranges may overlap (rare); try each candidate covering pc.
	i := sort.Search(len(dw.cus), func(i int) bool { return dw.cus[i].lo > pc })
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		c := dw.cus[j]
		if pc < c.lo || pc >= c.hi {
			continue
		}
		u := dw.unit(c.off)
		if u == nil {
			continue
		}
		if out := u.lookup(pc); len(out) > 0 {
			return out
		}
	}
	return nil
}

func (u *unit) lookup(pc uint64) []Symbol {
	var chain []*fn
	level := u.funcs
	for depth := 0; depth < maxInlineNest; depth++ {
		var hit *fn
		for _, f := range level {
			if inRanges(f.ranges, pc) {
				hit = f
				break
			}
		}
		if hit == nil {
			break
		}
		chain = append(chain, hit)
		level = hit.children
	}
	if len(chain) == 0 {
		return nil
	}
	file, line := u.line(pc)
	out := make([]Symbol, len(chain))
	// Innermost first: its position is the line table's; each outer
	// function is at the call site of the function it inlined.
	for k := len(chain) - 1; k >= 0; k-- {
		f := chain[k]
		s := Symbol{Function: f.name, File: file, Line: line, Inlined: f.inlined}
		s.Offset = pc - rangeStart(f.ranges, pc)
		out[len(chain)-1-k] = s
		file, line = f.callFile, f.callLine
	}
	return out
}

// rangeStart is the start of the range holding pc: the function's entry,
// or the start of its split-off (.cold) part.
func rangeStart(rs [][2]uint64, pc uint64) uint64 {
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return r[0]
		}
	}
	return pc
}

func inRanges(rs [][2]uint64, pc uint64) bool {
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

func (u *unit) line(pc uint64) (string, int) {
	i := sort.Search(len(u.lines), func(i int) bool { return u.lines[i].addr > pc }) - 1
	if i < 0 || u.lines[i].endSeq {
		return "", 0
	}
	return u.lines[i].file, u.lines[i].line
}

// unit parses a compilation unit's functions and line table once.
func (dw *dwarfInfo) unit(off dwarf.Offset) *unit {
	if u, ok := dw.units[off]; ok {
		return u
	}
	dw.units[off] = nil
	r := dw.d.Reader()
	r.Seek(off)
	cu, err := r.Next()
	if err != nil || cu == nil {
		return nil
	}
	u := &unit{entry: cu}
	var files []*dwarf.LineFile
	if lr, err := dw.lineReader(cu); err == nil && lr != nil {
		files = lr.Files()
		var le dwarf.LineEntry
		var last lineRow
		for len(u.lines) < maxLineRows {
			if err := lr.Next(&le); err != nil {
				break
			}
			name := ""
			if le.File != nil {
				name = le.File.Name
			}
			row := lineRow{addr: le.Address, file: name, line: le.Line, endSeq: le.EndSequence}
			// Like gdb: a non-statement row switching file at the same
			// address is an inlining artefact, and line 0 is no line.
			if !row.endSeq && (row.line == 0 ||
				(!le.IsStmt && len(u.lines) > 0 && row.addr == last.addr && row.file != last.file)) {
				continue
			}
			u.lines = append(u.lines, row)
			last = row
		}
		// End-of-sequence rows first at equal addresses, so a sequence
		// starting where another ends wins.
		sort.SliceStable(u.lines, func(i, j int) bool {
			a, b := u.lines[i], u.lines[j]
			if a.addr != b.addr {
				return a.addr < b.addr
			}
			return a.endSeq && !b.endSeq
		})
	}
	if !cu.Children {
		dw.units[off] = u
		return u
	}
	// Walk the DIE tree; lexical blocks and other scopes are transparent.
	type level struct {
		f    *fn // nil for a non-function scope
		list *[]*fn
	}
	stack := []level{{list: &u.funcs}}
	for n := 0; n < maxDIEsPerCU; n++ {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			if len(stack) == 1 {
				break
			}
			stack = stack[:len(stack)-1]
			continue
		}
		parent := stack[len(stack)-1]
		var f *fn
		if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			rs, _ := dw.d.Ranges(e)
			if len(rs) > 0 {
				f = &fn{ranges: rs, name: dw.name(e, 0), inlined: e.Tag == dwarf.TagInlinedSubroutine}
				if f.inlined {
					if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
						f.callLine = int(v)
					}
					if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok && v >= 0 && int(v) < len(files) && files[v] != nil {
						f.callFile = files[v].Name
					}
				}
				*parent.list = append(*parent.list, f)
			}
		}
		if e.Children {
			if len(stack) > 1024 {
				r.SkipChildren()
				continue
			}
			if f != nil {
				stack = append(stack, level{f: f, list: &f.children})
			} else {
				stack = append(stack, level{list: parent.list})
			}
		}
	}
	dw.units[off] = u
	return u
}

// name resolves a function's name, following abstract_origin and
// specification; the linkage name (demangled) is preferred, as gdb does.
func (dw *dwarfInfo) name(e *dwarf.Entry, depth int) string {
	if s, ok := e.Val(dwarf.AttrLinkageName).(string); ok && s != "" {
		return demangleName(s)
	}
	if s, ok := e.Val(dwarf.AttrName).(string); ok && s != "" {
		return s
	}
	if depth >= maxRefChain {
		return ""
	}
	for _, a := range []dwarf.Attr{dwarf.AttrAbstractOrigin, dwarf.AttrSpecification} {
		ref, ok := e.Val(a).(dwarf.Offset)
		if !ok {
			continue
		}
		if s, ok := dw.names[ref]; ok {
			return s
		}
		r := dw.d.Reader()
		r.Seek(ref)
		t, err := r.Next()
		if err != nil || t == nil {
			continue
		}
		s := dw.name(t, depth+1)
		if len(dw.names) < 1<<20 {
			dw.names[ref] = s
		}
		return s
	}
	return ""
}

// lineReader opens a unit's line table once its header has passed
// lineHeaderOK.
func (dw *dwarfInfo) lineReader(cu *dwarf.Entry) (*dwarf.LineReader, error) {
	off, ok := cu.Val(dwarf.AttrStmtList).(int64)
	if !ok {
		return nil, errBadLineHeader
	}
	// Without the raw section (old .zdebug_ compression) there is nothing
	// to check against: debug/dwarf is trusted as before.
	if dw.line != nil && !lineHeaderOK(dw.line, off) {
		return nil, errBadLineHeader
	}
	return dw.d.LineReader(cu)
}
