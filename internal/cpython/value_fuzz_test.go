package cpython

import (
	"encoding/binary"
	"testing"
	"time"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/fuzzguard"
	"pyscope/internal/target"
)

// fuzzMem is target memory made of fuzz bytes mapped at fuzzBase; every
// other address faults. Not a Python target: it feeds the decoder garbage.
type fuzzMem struct {
	data  []byte
	reads int
}

const fuzzBase = 0x10000

func (m *fuzzMem) ReadAt(p []byte, addr uint64) (int, error) {
	m.reads++
	if addr < fuzzBase || addr-fuzzBase >= uint64(len(m.data)) {
		return 0, &target.FaultError{Addr: addr, Len: len(p)}
	}
	n := copy(p, m.data[addr-fuzzBase:])
	if n < len(p) {
		return n, &target.FaultError{Addr: addr, Len: len(p)}
	}
	return n, nil
}

// fuzzLayouts are the generated tables; 3.14 needs a target's debug
// offsets, so its fuzzing runs on the 3.13 table with 3.14 rules (minor 14).
func fuzzLayout(t testing.TB, sel byte) (*layout.Layout, int) {
	vs := []string{"3.10.16", "3.11.11", "3.12.3", "3.13.1", "3.13.1"}
	i := int(sel) % len(vs)
	l, err := layout.For(vs[i], nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, 10 + i
}

// FuzzDecodeValue decodes an object out of arbitrary memory and renders
// it: it must never panic, hang, or read or allocate without bound.
func FuzzDecodeValue(f *testing.F) {
	// Seeds: a few well-formed-ish objects (see testdata/fuzz for more).
	for minor := byte(0); minor < 5; minor++ {
		f.Add(minor, uint16(0), seedList())
		f.Add(minor, uint16(0), seedCycle())
		f.Add(minor, uint16(0), seedNamed("method"))
		f.Add(minor, uint16(0), seedNamed("traceback"))
	}
	fuzzguard.Fuzz(f, func(t *testing.T, sel byte, start uint16, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		l, minor := fuzzLayout(t, sel)
		m := &fuzzMem{data: data}
		o := NewObjects(mem{m}, l, minor)
		d := NewDecoder(o)
		lim := Limits{MaxString: 64, MaxItems: 16, MaxDepth: 8, MaxRepr: 4096, MaxRead: 1 << 16, MaxNodes: 512}
		t0 := time.Now()
		v := d.Decode(fuzzBase+uint64(start), lim)
		s := Repr(v, lim)
		if n := len([]rune(s)); n > lim.MaxRepr {
			t.Fatalf("repr of %d chars exceeds the limit", n)
		}
		if m.reads > 200_000 {
			t.Fatalf("%d reads for one value", m.reads)
		}
		if el := time.Since(t0); el > 2*time.Second {
			t.Fatalf("decoding took %v", el)
		}
	})
}

// seedList lays out, at fuzzBase, a type object, then a list object of
// that type whose items point back at the list: a plausible 3.12 shape
// that mutations turn into every kind of corruption.
func seedList() []byte {
	b := make([]byte, 1024)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	// "type" at 0: ob_type -> itself, tp_name at 24 -> "list" at 512
	put(8, fuzzBase)
	put(24, fuzzBase+512)
	copy(b[512:], "list\x00")
	put(168, 1<<25) // tp_flags: list subclass
	// list at 600: ob_type, ob_size, ob_item -> 700
	put(600+8, fuzzBase)
	put(600+16, 3)
	put(600+24, fuzzBase+700)
	for i := 0; i < 3; i++ {
		put(700+8*i, fuzzBase+600)
	}
	return b
}

func seedCycle() []byte { return seedNamed("dict") }

// seedNamed is seedList with its type renamed (a static type then): a
// bound method whose im_func and im_self are itself, or a traceback whose
// tb_next and tb_frame are.
func seedNamed(name string) []byte {
	b := seedList()
	copy(b[512:], name+"\x00")
	binary.LittleEndian.PutUint64(b[168:], 0)
	return b
}

// TestDecodeGarbage runs the fuzz body over deterministic pseudo-random
// memory, so every `go test` exercises it.
func TestDecodeGarbage(t *testing.T) {
	x := uint64(88172645463325252)
	for round := 0; round < 300; round++ {
		data := seedNamed([]string{"list", "traceback", "method"}[round%3])
		for i := 0; i < 64; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			data[int(x%uint64(len(data)-8))] = byte(x >> 32)
		}
		l, minor := fuzzLayout(t, byte(round))
		o := NewObjects(mem{&fuzzMem{data: data}}, l, minor)
		lim := Limits{MaxString: 64, MaxItems: 16, MaxDepth: 8, MaxRepr: 4096, MaxRead: 1 << 16, MaxNodes: 512}
		_ = Repr(NewDecoder(o).Decode(fuzzBase+600, lim), lim)
	}
}

// fuzzValues is a value reader over fuzz memory.
func fuzzValues(t testing.TB, sel byte, data []byte) (*Values, *fuzzMem) {
	l, minor := fuzzLayout(t, sel)
	m := &fuzzMem{data: data}
	o := NewObjects(mem{m}, l, minor)
	r := &Reader{In: &Interpreter{Layout: l, Minor: minor}, Obj: o, codes: map[uint64]*codeInfo{}}
	dec := NewDecoder(o)
	dec.r = r
	return &Values{r: r, o: o, dec: dec}, m
}

// FuzzValues runs the locals algorithm and the session's lookups (attribute,
// item, completion) over arbitrary memory: they must never panic, hang, or
// read without bound.
func FuzzValues(f *testing.F) {
	for minor := byte(0); minor < 5; minor++ {
		f.Add(minor, uint16(600), uint16(0), seedList())
		f.Add(minor, uint16(600), uint16(600), seedCycle())
		f.Add(minor, uint16(600), uint16(600), seedNamed("traceback"))
		f.Add(minor, uint16(600), uint16(600), seedNamed("method"))
		f.Add(minor, uint16(600), uint16(600), seedNamed("frame"))
	}
	fuzzguard.Fuzz(f, func(t *testing.T, sel byte, a, b uint16, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		v, m := fuzzValues(t, sel, data)
		t0 := time.Now()
		v.r.frameVars(fuzzBase+uint64(a), fuzzBase+uint64(b), fuzzBase+uint64(a))
		obj := fuzzBase + uint64(a)
		v.Attr(obj, "name")
		v.Attr(obj, "__class__")
		for _, n := range cAttrNames {
			v.Attr(obj, n)
		}
		v.AttrNames(obj)
		v.Repr(obj, Limits{MaxString: 64, MaxItems: 16, MaxDepth: 8, MaxRepr: 4096, MaxRead: 1 << 16, MaxNodes: 512})
		v.Item(obj, Key{Kind: KeyInt, Int: -1})
		v.Item(obj, Key{Kind: KeyStr, Str: "key"})
		v.r.isStdlibModule(obj)
		if m.reads > 2_000_000 {
			t.Fatalf("%d reads", m.reads)
		}
		if el := time.Since(t0); el > 2*time.Second {
			t.Fatalf("took %v", el)
		}
	})
}

// cAttrNames are attributes that Values.cAttr reads from C fields, and
// names a builtin type's dict serves (3.12+: from the interpreter's state).
var cAttrNames = []string{"__traceback__", "__context__", "__cause__", "__suppress_context__",
	"tb_lineno", "tb_lasti", "tb_next", "tb_frame", "__func__", "__self__",
	"real", "append", "nope"}

// TestValuesGarbage runs FuzzValues' body over deterministic garbage.
func TestValuesGarbage(t *testing.T) {
	x := uint64(88172645463325252)
	for round := 0; round < 300; round++ {
		data := seedNamed([]string{"list", "traceback", "method", "frame"}[round%4])
		for i := 0; i < 64; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			data[int(x%uint64(len(data)-8))] = byte(x >> 32)
		}
		v, _ := fuzzValues(t, byte(round), data)
		v.Repr(fuzzBase+600, Limits{MaxString: 64, MaxItems: 16, MaxDepth: 8, MaxRepr: 4096, MaxRead: 1 << 16, MaxNodes: 512})
		v.r.frameVars(fuzzBase+600, fuzzBase+uint64(x%1024), fuzzBase)
		v.Attr(fuzzBase+600, "x")
		for _, n := range cAttrNames {
			v.Attr(fuzzBase+600, n)
		}
		v.Item(fuzzBase+600, Key{Kind: KeyInt, Int: 2})
		v.AttrNames(fuzzBase + 600)
	}
}
