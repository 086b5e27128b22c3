package symbolize

import (
	"debug/dwarf"
	"sort"

	"pyscope/internal/elfx"
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
	// sec and v: the sections are read, and the units loaded, on demand
	// (lazy.go); nil when everything was read up front.
	sec *elfx.DWARFSections
	v   *view
}

type cuRange struct {
	lo, hi uint64
	off    dwarf.Offset
}

type unit struct {
	entry *dwarf.Entry
	d     *dwarf.Data
	files []*dwarf.LineFile
	// top lists the subprograms not nested in another one, in DIE order;
	// the tree under each (inlined calls) is read when a PC falls in it.
	top []*topFn
	// The line table is indexed by sequence and a sequence decoded when a
	// PC falls in it: a unit of a link-time optimised build has hundreds
	// of thousands of rows.
	lr   *dwarf.LineReader
	seqs []lineSeq
}

// lineSeq is one sequence of a line table: rows from lo, ending at hi.
type lineSeq struct {
	lo, hi uint64
	pos    dwarf.LineReaderPos
	// The row kept before it (the previous sequence's end), for the
	// filter in keepRow.
	prev    lineRow
	hasPrev bool
}

type topFn struct {
	off    dwarf.Offset
	ranges [][2]uint64
	f      *fn
	read   bool
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
		if out := dw.lookupUnit(u, pc); len(out) > 0 {
			return out
		}
	}
	return nil
}

func (dw *dwarfInfo) lookupUnit(u *unit, pc uint64) []Symbol {
	var chain []*fn
	var level []*fn
	for _, t := range u.top {
		if inRanges(t.ranges, pc) {
			if f := dw.fnTree(u, t); f != nil {
				level = append(level, f)
			}
		}
	}
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

// line finds the row for pc as if every row were sorted by address (end of
// sequence rows first at equal addresses) and the last one at or before pc
// taken; an end of sequence there means no line.
func (u *unit) line(pc uint64) (string, int) {
	var best lineRow
	have := false
	better := func(r lineRow) bool {
		return !have || r.addr > best.addr || (r.addr == best.addr && !(r.endSeq && !best.endSeq))
	}
	for i := range u.seqs {
		sq := &u.seqs[i]
		if sq.lo > pc {
			continue
		}
		if sq.hi <= pc {
			if end := (lineRow{addr: sq.hi, endSeq: true}); better(end) {
				best, have = end, true
			}
			continue
		}
		u.lr.Seek(sq.pos)
		last, hasLast := sq.prev, sq.hasPrev
		var le dwarf.LineEntry
		for n := 0; n < maxLineRows; n++ {
			if u.lr.Next(&le) != nil {
				break
			}
			row := rowOf(&le)
			if row.addr > pc {
				break
			}
			if !keepRow(row, &le, last, hasLast) {
				continue
			}
			last, hasLast = row, true
			if better(row) {
				best, have = row, true
			}
			if row.endSeq {
				break
			}
		}
	}
	if !have || best.endSeq {
		return "", 0
	}
	return best.file, best.line
}

func rowOf(le *dwarf.LineEntry) lineRow {
	name := ""
	if le.File != nil {
		name = le.File.Name
	}
	return lineRow{addr: le.Address, file: name, line: le.Line, endSeq: le.EndSequence}
}

// keepRow: like gdb, a non-statement row switching file at the same
// address as the row before is an inlining artefact, and line 0 is no
// line.
func keepRow(row lineRow, le *dwarf.LineEntry, last lineRow, hasLast bool) bool {
	return row.endSeq || (row.line != 0 &&
		(le.IsStmt || !hasLast || row.addr != last.addr || row.file == last.file))
}

// unit parses a compilation unit's functions and line table once.
func (dw *dwarfInfo) unit(off dwarf.Offset) *unit {
	if u, ok := dw.units[off]; ok {
		return u
	}
	dw.units[off] = nil
	d := dw.data(off)
	if d == nil {
		return nil
	}
	r := d.Reader()
	r.Seek(dw.firstEntry(off))
	cu, err := r.Next()
	if err != nil || cu == nil {
		return nil
	}
	u := &unit{entry: cu}
	var files []*dwarf.LineFile
	if lr, err := dw.lineReader(cu); err == nil && lr != nil {
		files = lr.Files()
		u.lr = lr
		var le dwarf.LineEntry
		var last lineRow
		hasLast := false
		open := -1
		for n := 0; n < maxLineRows; n++ {
			pos := lr.Tell()
			if err := lr.Next(&le); err != nil {
				break
			}
			row := rowOf(&le)
			if open < 0 {
				u.seqs = append(u.seqs, lineSeq{lo: row.addr, pos: pos, prev: last, hasPrev: hasLast})
				open = len(u.seqs) - 1
			}
			if keepRow(row, &le, last, hasLast) {
				last, hasLast = row, true
			}
			if row.endSeq {
				u.seqs[open].hi = row.addr
				open = -1
			}
		}
		if open >= 0 {
			u.seqs = u.seqs[:open] // no end: not a sequence
		}
	}
	u.d, u.files = d, files
	if !cu.Children {
		dw.units[off] = u
		return u
	}
	// Index the subprograms; other scopes (namespaces, classes) are
	// entered, subprograms' own trees skipped.
	depth := 1
	for n := 0; n < maxDIEsPerCU && depth > 0; n++ {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		if e.Tag == dwarf.TagSubprogram {
			if rs, _ := d.Ranges(e); len(rs) > 0 {
				u.top = append(u.top, &topFn{off: e.Offset, ranges: rs})
			}
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if e.Children {
			if depth >= 1024 {
				r.SkipChildren()
				continue
			}
			depth++
		}
	}
	dw.units[off] = u
	return u
}

// fnTree reads the tree of a subprogram: its inlined calls (and nested
// subprograms), through lexical blocks and other scopes, which are
// transparent.
func (dw *dwarfInfo) fnTree(u *unit, t *topFn) *fn {
	if t.read {
		return t.f
	}
	t.read = true
	r := u.d.Reader()
	r.Seek(t.off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil
	}
	root := &fn{ranges: t.ranges, name: dw.name(e, 0)}
	t.f = root
	if !e.Children {
		return root
	}
	type level struct {
		f    *fn // nil for a non-function scope
		list *[]*fn
	}
	stack := []level{{f: root, list: &root.children}}
	for n := 0; n < maxDIEsPerCU && len(stack) > 0; n++ {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		parent := stack[len(stack)-1]
		var f *fn
		if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			rs, _ := u.d.Ranges(e)
			if len(rs) > 0 {
				f = &fn{ranges: rs, name: dw.name(e, 0), inlined: e.Tag == dwarf.TagInlinedSubroutine}
				if f.inlined {
					if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
						f.callLine = int(v)
					}
					if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok && v >= 0 && int(v) < len(u.files) && u.files[v] != nil {
						f.callFile = u.files[v].Name
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
	return root
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
		d := dw.data(ref)
		if d == nil {
			continue
		}
		r := d.Reader()
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
	if !ok || !dw.lineUpto(off) {
		return nil, errBadLineHeader
	}
	// Without the raw section (old .zdebug_ compression) there is nothing
	// to check against: debug/dwarf is trusted as before.
	if dw.line != nil && !lineHeaderOK(dw.line, off) {
		return nil, errBadLineHeader
	}
	d := dw.data(cu.Offset)
	if d == nil {
		return nil, errBadLineHeader
	}
	return d.LineReader(cu)
}
