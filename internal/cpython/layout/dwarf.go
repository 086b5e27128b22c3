package layout

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// field is one Off of a Layout, found by reflection.
type field struct {
	Name  string   // "Code.FirstTraceable"
	DWARF []string // alternatives, tried in order
	Dbg   string   // _Py_DebugOffsets name, "" if none
	Adbg  string   // _asyncio's .AsyncioDebug name (3.14+), "" if none
	index []int    // reflect index path from Layout
}

var layoutFields = func() []field {
	var out []field
	lt := reflect.TypeFor[Layout]()
	offT := reflect.TypeFor[Off]()
	for i := 0; i < lt.NumField(); i++ {
		g := lt.Field(i)
		if g.Type.Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < g.Type.NumField(); j++ {
			f := g.Type.Field(j)
			if f.Type != offT {
				continue
			}
			fd := field{Name: g.Name + "." + f.Name, Dbg: f.Tag.Get("dbg"), Adbg: f.Tag.Get("adbg"), index: []int{i, j}}
			if t := f.Tag.Get("dwarf"); t != "" {
				fd.DWARF = strings.Split(t, "|")
			}
			out = append(out, fd)
		}
	}
	return out
}()

// Fields lists every offset of a Layout by name ("Thread.CurrentFrame").
func Fields() []string {
	out := make([]string, len(layoutFields))
	for i, f := range layoutFields {
		out[i] = f.Name
	}
	return out
}

func (l *Layout) ptr(f *field) *Off {
	return reflect.ValueOf(l).Elem().FieldByIndex(f.index).Addr().Interface().(*Off)
}

// Get returns the named offset ("Code.Filename").
func (l *Layout) Get(name string) (Off, bool) {
	for i := range layoutFields {
		if layoutFields[i].Name == name {
			return *l.ptr(&layoutFields[i]), true
		}
	}
	return -1, false
}

func (l *Layout) set(name string, v Off) {
	for i := range layoutFields {
		if layoutFields[i].Name == name {
			*l.ptr(&layoutFields[i]) = v
			return
		}
	}
	panic("layout: no field " + name) // programming error: names are constants
}

// clear sets every offset to -1.
func (l *Layout) clear() {
	for i := range layoutFields {
		*l.ptr(&layoutFields[i]) = -1
	}
}

// OpenDWARF opens the DWARF of an ELF file (a libpython, an executable or a
// separate .debug file). debug/elf applies .rela.debug_* relocations itself
// for ET_DYN and ET_REL files, as 3.12's libpython needs.
func OpenDWARF(path string) (*dwarf.Data, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return nil, fmt.Errorf("%s has no DWARF (.debug_info); use its separate debug file", path)
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: reading DWARF: %w", path, err)
	}
	return d, nil
}

// FromDWARF resolves every dwarf-tagged field of a Layout from debug info.
// minor ("3.12") is recorded as Layout.Version. Fields whose path does not
// exist are -1. It scans the unit-level DIEs once, indexing only the type
// names the tags start from, and resolves members through the cached types
// of debug/dwarf. scan, if not nil, reads those DIEs faster than d's Reader.
func FromDWARF(d *dwarf.Data, scan TopLevelScan, minor string) (*Layout, error) {
	need := map[string]bool{}
	for _, f := range layoutFields {
		for _, p := range f.DWARF {
			need[rootName(p)] = true
		}
	}
	ix, scan, err := indexTypes(d, scan, need)
	if err != nil {
		return nil, err
	}
	r := &resolver{d: d, ix: ix, types: map[string]*dwarf.StructType{}}
	// A typedef may name a struct that this unit only declares; find the
	// tags of such structs with one more scan.
	var tags map[string]bool
	for name := range need {
		if _, ok := ix.structs[name]; ok {
			continue
		}
		if off, ok := ix.typedefs[name]; ok {
			t, err := d.Type(off)
			if err != nil {
				continue
			}
			if st, ok := strip(t).(*dwarf.StructType); ok && st.Incomplete && st.StructName != "" {
				if _, ok := ix.structs[st.StructName]; !ok {
					if tags == nil {
						tags = map[string]bool{}
					}
					tags[st.StructName] = true
				}
			}
		}
	}
	if len(tags) > 0 {
		more, _, err := indexTypes(d, scan, tags)
		if err != nil {
			return nil, err
		}
		for k, v := range more.structs {
			ix.structs[k] = v
		}
	}

	l := &Layout{Version: minor, Source: "DWARF"}
	for i := range layoutFields {
		f := &layoutFields[i]
		v := Off(-1)
		for _, p := range f.DWARF {
			if o, ok := r.resolve(p); ok {
				v = o
				break
			}
		}
		*l.ptr(f) = v
	}
	if !l.Interp.Next.Valid() || !l.Thread.Interp.Valid() || !l.Object.Type.Valid() {
		return nil, errors.New("the DWARF does not describe CPython's interpreter structures (no struct _is/_ts/_object)")
	}
	l.FreeThreaded = l.Object.Tid.Valid()
	if l.FreeThreaded {
		// Free-threaded builds link no object into the generations: no
		// PyGC_Head precedes objects (the collector walks mimalloc's heaps),
		// though the structs are still declared.
		l.GC.Generations, l.GC.GenerationSize, l.GC.Permanent, l.GC.HeadSize = -1, -1, -1, -1
	}
	return l, nil
}

func rootName(p string) string {
	p = strings.TrimPrefix(strings.TrimPrefix(p, "sizeof:"), "bit:")
	if i := strings.IndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return p
}

type typeIndex struct {
	structs  map[string]dwarf.Offset // complete struct/union definitions by tag
	typedefs map[string]dwarf.Offset
}

// TopLevelScan calls visit for every entry directly under a unit of some
// DWARF, in section order, name nil when it has none (see
// elfx.DWARFSections.TopLevel, which reads only these attributes).
type TopLevelScan func(visit func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool)) error

// readerScan is a TopLevelScan through debug/dwarf's Reader.
func readerScan(d *dwarf.Data) TopLevelScan {
	return func(visit func(dwarf.Offset, dwarf.Tag, []byte, bool, bool)) error {
		r := d.Reader()
		for {
			e, err := r.Next()
			if err != nil {
				return fmt.Errorf("reading DWARF: %w", err)
			}
			if e == nil {
				return nil
			}
			switch e.Tag {
			case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit:
				continue // descend into the unit
			case 0:
				continue // the end of a unit's entries
			}
			var name []byte
			if s, ok := e.Val(dwarf.AttrName).(string); ok {
				name = []byte(s)
			}
			decl, _ := e.Val(dwarf.AttrDeclaration).(bool)
			visit(e.Offset, e.Tag, name, decl, e.Children)
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

// indexTypes scans the DIEs directly under each unit and records the first
// complete struct or union definition and the first typedef of each wanted
// name. It never descends into functions, which hold most DIEs. scan, if
// not nil, is tried first, then the Reader; it returns scan if that
// worked, else nil, for the next index of the same DWARF.
func indexTypes(d *dwarf.Data, scan TopLevelScan, want map[string]bool) (*typeIndex, TopLevelScan, error) {
	if scan != nil {
		if ix, err := indexWith(scan, want); err == nil {
			return ix, scan, nil
		}
	}
	ix, err := indexWith(readerScan(d), want)
	return ix, nil, err
}

func indexWith(scan TopLevelScan, want map[string]bool) (*typeIndex, error) {
	ix := &typeIndex{structs: map[string]dwarf.Offset{}, typedefs: map[string]dwarf.Offset{}}
	err := scan(func(off dwarf.Offset, tag dwarf.Tag, name []byte, decl, children bool) {
		switch tag {
		case dwarf.TagStructType, dwarf.TagUnionType:
			if want[string(name)] && !decl && children {
				if _, seen := ix.structs[string(name)]; !seen {
					ix.structs[string(name)] = off
				}
			}
		case dwarf.TagTypedef:
			if want[string(name)] {
				if _, seen := ix.typedefs[string(name)]; !seen {
					ix.typedefs[string(name)] = off
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

type resolver struct {
	d     *dwarf.Data
	ix    *typeIndex
	types map[string]*dwarf.StructType
}

// lookup returns the complete struct a name denotes, by tag first, then
// by typedef.
func (r *resolver) lookup(name string) *dwarf.StructType {
	if st, ok := r.types[name]; ok {
		return st
	}
	var st *dwarf.StructType
	if off, ok := r.ix.structs[name]; ok {
		if t, err := r.d.Type(off); err == nil {
			st, _ = strip(t).(*dwarf.StructType)
		}
	}
	if st == nil {
		if off, ok := r.ix.typedefs[name]; ok {
			if t, err := r.d.Type(off); err == nil {
				st, _ = strip(t).(*dwarf.StructType)
			}
		}
	}
	if st != nil && st.Incomplete && st.StructName != "" && st.StructName != name {
		st = r.lookup(st.StructName)
	}
	if st != nil && st.Incomplete {
		st = nil
	}
	r.types[name] = st
	return st
}

// resolve evaluates one tag alternative.
func (r *resolver) resolve(p string) (Off, bool) {
	switch {
	case strings.HasPrefix(p, "sizeof:"):
		st := r.lookup(p[len("sizeof:"):])
		if st == nil || st.ByteSize <= 0 {
			return -1, false
		}
		return Off(st.ByteSize), true
	case strings.HasPrefix(p, "bit:"):
		parts := strings.Split(p[len("bit:"):], ".")
		if len(parts) < 3 {
			return -1, false
		}
		st := r.lookup(parts[0])
		if st == nil {
			return -1, false
		}
		_, _, pt, ok := walk(st, parts[1:len(parts)-1])
		if !ok {
			return -1, false
		}
		pst, ok := pt.(*dwarf.StructType)
		if !ok {
			return -1, false
		}
		bit, ok := bitOf(pst, parts[len(parts)-1])
		if !ok {
			return -1, false
		}
		return Off(bit), true
	default:
		parts := strings.Split(p, ".")
		if len(parts) < 2 {
			return -1, false
		}
		st := r.lookup(parts[0])
		if st == nil {
			return -1, false
		}
		off, _, _, ok := walk(st, parts[1:])
		return off, ok
	}
}

// walk follows member names from st, looking through anonymous struct and
// union members. It returns the byte offset (for a bitfield, that of its
// storage unit), the final member and its stripped type.
func walk(st *dwarf.StructType, names []string) (Off, *dwarf.StructField, dwarf.Type, bool) {
	var off int64
	var last *dwarf.StructField
	var t dwarf.Type = st
	for _, n := range names {
		cur, ok := t.(*dwarf.StructType)
		if !ok {
			return -1, nil, nil, false
		}
		f, base, ok := member(cur, n, 0)
		if !ok {
			return -1, nil, nil, false
		}
		storage, _ := position(f)
		off += base + storage
		last = f
		t = strip(f.Type)
	}
	return Off(off), last, t, true
}

// member finds a named field in st or in its anonymous members, returning
// the offset of the anonymous member that holds it; depth bounds the
// recursion.
func member(st *dwarf.StructType, name string, depth int) (*dwarf.StructField, int64, bool) {
	if depth > 8 {
		return nil, 0, false
	}
	for _, f := range st.Field {
		if f.Name == name {
			return f, 0, true
		}
	}
	for _, f := range st.Field {
		if f.Name != "" {
			continue
		}
		if sub, ok := strip(f.Type).(*dwarf.StructType); ok {
			if g, base, ok := member(sub, name, depth+1); ok {
				return g, f.ByteOffset + base, true
			}
		}
	}
	return nil, 0, false
}

// position gives a member's byte offset and, for a bitfield, its
// little-endian bit number inside the storage unit at that offset.
func position(f *dwarf.StructField) (storage, bit int64) {
	if f.BitSize == 0 {
		return f.ByteOffset, 0
	}
	unit := f.ByteSize
	if unit <= 0 {
		unit = f.Type.Size()
	}
	if unit <= 0 || unit > 16 {
		unit = 4
	}
	if f.ByteSize != 0 || f.BitOffset != 0 {
		// DWARF 2/3: DW_AT_bit_offset counts from the storage unit's most
		// significant bit; DW_AT_data_member_location is the unit.
		return f.ByteOffset, unit*8 - f.BitOffset - f.BitSize
	}
	// DWARF 4+: DW_AT_data_bit_offset counts from the struct start.
	abs := f.ByteOffset*8 + f.DataBitOffset
	storage = abs / (unit * 8) * unit
	return storage, abs - storage*8
}

// bitOf gives the bit number of a bitfield member counted from the start
// of st.
func bitOf(st *dwarf.StructType, name string) (int64, bool) {
	f, base, ok := member(st, name, 0)
	if !ok || f.BitSize == 0 {
		return -1, false
	}
	storage, bit := position(f)
	return (base+storage)*8 + bit, true
}

// strip removes typedefs and qualifiers.
func strip(t dwarf.Type) dwarf.Type {
	for i := 0; i < 32 && t != nil; i++ {
		switch x := t.(type) {
		case *dwarf.TypedefType:
			t = x.Type
		case *dwarf.QualType:
			t = x.Type
		default:
			return t
		}
	}
	return t
}
