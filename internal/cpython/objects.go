package cpython

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/wtf8"
)

// Type flags (Include/object.h), stable across 3.10–3.14.
const (
	tpflagsInlineValues = 1 << 2 // 3.13+
	tpflagsManagedDict  = 1 << 4 // 3.11+
	tpflagsHeapType     = 1 << 9
	tpflagsLongSub      = 1 << 24
	tpflagsListSub      = 1 << 25
	tpflagsTupleSub     = 1 << 26
	tpflagsBytesSub     = 1 << 27
	tpflagsUnicodeSub   = 1 << 28
	tpflagsDictSub      = 1 << 29
	tpflagsBaseExcSub   = 1 << 30
	tpflagsTypeSub      = 1 << 31
)

// Dict key kinds (3.11+).
const (
	dictKeysGeneral = 0
	dictKeysUnicode = 1
	dictKeysSplit   = 2
)

// Objects reads Python objects out of target memory. It caches what does
// not change while the target is stopped (type names, interned strings).
type Objects struct {
	mem
	L     *layout.Layout
	Minor int // 10 for 3.10

	typeNames map[uint64]string
	strCache  map[uint64]string
	cellType  uint64 // the cell type, once seen
}

// NewObjects returns an object reader over m with layout l.
func NewObjects(m mem, l *layout.Layout, minor int) *Objects {
	return &Objects{mem: m, L: l, Minor: minor,
		typeNames: map[uint64]string{}, strCache: map[uint64]string{}}
}

// TypeOf returns the address of obj's type.
func (o *Objects) TypeOf(obj uint64) (uint64, error) {
	a, err := field(obj, int64(o.L.Object.Type), "ob_type")
	if err != nil {
		return 0, err
	}
	t, err := o.u64(a)
	if err != nil {
		return 0, err
	}
	if !validPtr(t) {
		return 0, fmt.Errorf("object at %#x has no valid type", obj)
	}
	return t, nil
}

// TypeName returns tp_name of the type at addr.
func (o *Objects) TypeName(typ uint64) (string, error) {
	if n, ok := o.typeNames[typ]; ok {
		return n, nil
	}
	p, err := o.u64(typ + uint64(o.L.Type.Name))
	if err != nil {
		return "", err
	}
	n, err := o.cstring(p, maxTypeNameLen)
	if err != nil {
		return "", err
	}
	o.typeNames[typ] = n
	return n, nil
}

// ObjTypeName returns the type name of obj.
func (o *Objects) ObjTypeName(obj uint64) (string, error) {
	t, err := o.TypeOf(obj)
	if err != nil {
		return "", err
	}
	return o.TypeName(t)
}

// TypeFlags returns tp_flags of a type.
func (o *Objects) TypeFlags(typ uint64) (uint64, error) {
	return o.u64(typ + uint64(o.L.Type.Flags))
}

func (o *Objects) hasFlag(obj uint64, flag uint64) bool {
	t, err := o.TypeOf(obj)
	if err != nil {
		return false
	}
	f, err := o.TypeFlags(t)
	return err == nil && f&flag != 0
}

// IsStr reports whether obj is a str (or subclass).
func (o *Objects) IsStr(obj uint64) bool { return o.hasFlag(obj, tpflagsUnicodeSub) }

// Str reads a str object as Go text; a lone surrogate keeps its
// generalized UTF-8 form (package wtf8), not valid UTF-8.
func (o *Objects) Str(obj uint64) (string, error) {
	if s, ok := o.strCache[obj]; ok {
		return s, nil
	}
	r, truncated, err := o.StrRunes(obj, maxStrBytes)
	if err != nil {
		return "", err
	}
	if truncated {
		return "", fmt.Errorf("string at %#x is longer than %d characters", obj, maxStrBytes)
	}
	s := wtf8.FromRunes(r)
	if len(o.strCache) < 1<<16 {
		o.strCache[obj] = s
	}
	return s, nil
}

// StrRunes reads at most max code points of a str object. Code points are
// returned as-is, including lone surrogates.
func (o *Objects) StrRunes(obj uint64, max int) (runes []rune, truncated bool, err error) {
	runes, length, err := o.StrData(obj, max)
	return runes, length > len(runes), err
}

// StrData reads at most max code points of a str object and returns them
// with the string's full length.
func (o *Objects) StrData(obj uint64, max int) (runes []rune, length int, err error) {
	U := o.L.Unicode
	if !U.State.Valid() || !U.Length.Valid() || !U.ASCIISize.Valid() {
		return nil, 0, errors.New("str layout unknown")
	}
	state, err := o.u32(obj + uint64(U.State))
	if err != nil {
		return nil, 0, err
	}
	ulen, err := o.u64(obj + uint64(U.Length))
	if err != nil {
		return nil, 0, err
	}
	if int64(ulen) < 0 || ulen > 1<<40 {
		return nil, 0, fmt.Errorf("str at %#x has impossible length %d", obj, int64(ulen))
	}
	length = int(ulen)
	kind := int((state >> 2) & 7)
	compact := state&(1<<5) != 0
	ascii := state&(1<<6) != 0
	if kind != 1 && kind != 2 && kind != 4 {
		return nil, 0, fmt.Errorf("str at %#x has bad kind %d", obj, kind)
	}
	var data uint64
	switch {
	case compact && ascii:
		data = obj + uint64(U.ASCIISize)
	case compact:
		if !U.CompactSize.Valid() {
			return nil, 0, errors.New("compact str layout unknown")
		}
		data = obj + uint64(U.CompactSize)
	default:
		if !U.DataAny.Valid() {
			return nil, 0, errors.New("str layout unknown")
		}
		if data, err = o.u64(obj + uint64(U.DataAny)); err != nil {
			return nil, 0, err
		}
	}
	n := length
	if n > max {
		n = max
	}
	b, err := o.read(data, n*kind)
	if err != nil {
		return nil, length, err
	}
	runes = make([]rune, n)
	for i := range runes {
		switch kind {
		case 1:
			runes[i] = rune(b[i])
		case 2:
			runes[i] = rune(binary.LittleEndian.Uint16(b[2*i:]))
		case 4:
			runes[i] = rune(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return runes, length, nil
}

// Bytes reads a bytes object's contents, at most max bytes.
func (o *Objects) Bytes(obj uint64, max int) ([]byte, bool, error) {
	size, err := o.u64(obj + uint64(o.L.Object.Size))
	if err != nil {
		return nil, false, err
	}
	if int64(size) < 0 || size > 1<<40 {
		return nil, false, fmt.Errorf("bytes at %#x has impossible size", obj)
	}
	n, trunc := int(size), false
	if n > max {
		n, trunc = max, true
	}
	b, err := o.read(obj+uint64(o.L.Bytes.Sval), n)
	return b, trunc, err
}

// Int reads an int object of any size.
func (o *Objects) Int(obj uint64) (*big.Int, error) {
	L := o.L
	var neg bool
	var ndigits uint64
	if L.Long.LvTag.Valid() && o.Minor >= 12 {
		tag, err := o.u64(obj + uint64(L.Long.LvTag))
		if err != nil {
			return nil, err
		}
		switch tag & 3 {
		case 1:
			return new(big.Int), nil
		case 2:
			neg = true
		}
		ndigits = tag >> 3
	} else {
		sz, err := o.u64(obj + uint64(L.Object.Size))
		if err != nil {
			return nil, err
		}
		s := int64(sz)
		if s < 0 {
			neg, s = true, -s
		}
		ndigits = uint64(s)
	}
	if ndigits > 1<<20 {
		return nil, fmt.Errorf("int at %#x has impossible size", obj)
	}
	b, err := o.read(obj+uint64(L.Long.Digit), int(ndigits)*4)
	if err != nil {
		return nil, err
	}
	// Pack the 30-bit digits into bytes (linear time, unlike shifting a
	// big.Int once per digit).
	packed := make([]byte, (int(ndigits)*30+7)/8)
	var acc uint64
	nbits, pos := 0, len(packed)
	for i := 0; i < int(ndigits); i++ {
		acc |= uint64(binary.LittleEndian.Uint32(b[4*i:])&(1<<30-1)) << nbits
		nbits += 30
		for nbits >= 8 {
			pos--
			packed[pos] = byte(acc)
			acc >>= 8
			nbits -= 8
		}
	}
	if nbits > 0 && pos > 0 {
		pos--
		packed[pos] = byte(acc)
	}
	v := new(big.Int).SetBytes(packed)
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// TupleItems returns the item pointers of a tuple.
func (o *Objects) TupleItems(obj uint64) ([]uint64, error) {
	sz, err := o.u64(obj + uint64(o.L.Object.Size))
	if err != nil {
		return nil, err
	}
	if sz > maxTupleItems {
		return nil, fmt.Errorf("tuple at %#x has impossible size %d", obj, int64(sz))
	}
	b, err := o.read(obj+uint64(o.L.Tuple.Item), int(sz)*8)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, sz)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out, nil
}

// DictEntry is one live key/value pair.
type DictEntry struct{ Key, Value uint64 }

// DictItems returns a dict's items in iteration order, at most max.
func (o *Objects) DictItems(dict uint64, max int) ([]DictEntry, error) {
	keys, values, err := o.dictTables(dict)
	if err != nil {
		return nil, err
	}
	return o.keysItems(keys, values, max, dict)
}

// dictTables reads ma_keys and ma_values of a dict.
func (o *Objects) dictTables(dict uint64) (keys, values uint64, err error) {
	if keys, err = o.u64(dict + uint64(o.L.Dict.Keys)); err != nil {
		return 0, 0, err
	}
	values, err = o.u64(dict + uint64(o.L.Dict.Values))
	return keys, values, err
}

// keysItems collects at most max live items of a keys object (see
// keysEach).
func (o *Objects) keysItems(keys, values uint64, max int, dict uint64) ([]DictEntry, error) {
	var out []DictEntry
	err := o.keysEach(keys, values, dict, max*4+1024, func(k, v uint64) bool {
		out = append(out, DictEntry{k, v})
		return len(out) < max
	})
	return out, err
}

// DictEach calls fn for each live item of a dict in iteration order until
// fn returns false. Entries are read in chunks, so the first items of a
// huge dict cost little.
func (o *Objects) DictEach(dict uint64, fn func(k, v uint64) bool) error {
	keys, values, err := o.dictTables(dict)
	if err != nil {
		return err
	}
	return o.keysEach(keys, values, dict, -1, fn)
}

// keysEach walks a keys object in iteration order, taking values from a
// split values array when values != 0 (dict is used only for 3.11+ split
// insertion order). It looks at no more than scan entries (deleted ones
// included; scan < 0: all), so a dict that is mostly holes costs bounded
// time.
func (o *Objects) keysEach(keys, values, dict uint64, scan int, fn func(k, v uint64) bool) error {
	D := o.L.Dict
	if !validPtr(keys) {
		return fmt.Errorf("dict keys at %#x invalid", keys)
	}
	var size, nentries uint64
	var indexBytes uint64
	entrySize := uint64(D.EntrySize)
	keyOff, valOff := D.EntryKey, D.EntryValue
	var err error
	if o.Minor <= 10 {
		if size, err = o.u64(keys + uint64(D.KeysSize)); err != nil {
			return err
		}
		if size == 0 || size > 1<<30 || size&(size-1) != 0 {
			return fmt.Errorf("dict keys at %#x: bad size %d", keys, size)
		}
		w := uint64(8)
		switch {
		case size <= 0xff:
			w = 1
		case size <= 0xffff:
			w = 2
		case size <= 0xffffffff:
			w = 4
		}
		indexBytes = size * w
	} else {
		log2Size, err1 := o.u8(keys + uint64(D.KeysLog2Size))
		log2IndexBytes, err2 := o.u8(keys + uint64(D.KeysLog2IndexBytes))
		kind, err3 := o.u8(keys + uint64(D.KeysKind))
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		if log2Size > 30 || log2IndexBytes > 33 {
			return fmt.Errorf("dict keys at %#x: bad size", keys)
		}
		size = 1 << log2Size
		indexBytes = 1 << log2IndexBytes
		if kind != dictKeysGeneral {
			entrySize, keyOff, valOff = uint64(D.UnicodeEntrySize), D.UnicodeEntryKey, D.UnicodeEntryValue
		}
	}
	if nentries, err = o.u64(keys + uint64(D.KeysNentries)); err != nil {
		return err
	}
	if nentries > size || nentries > maxDictEntries {
		return fmt.Errorf("dict keys at %#x: bad entry count %d", keys, nentries)
	}
	if entrySize == 0 || entrySize > 64 || !keyOff.Valid() || !valOff.Valid() ||
		uint64(keyOff)+8 > entrySize || uint64(valOff)+8 > entrySize {
		return errors.New("dict entry layout unknown")
	}
	entries := keys + uint64(D.KeysIndices) + indexBytes
	// Entries are read in chunks, so a big dict costs only what is used.
	const chunk = 512
	var buf []byte
	bufStart := -1
	entry := func(i int) ([]byte, error) {
		if bufStart < 0 || i < bufStart || i >= bufStart+chunk {
			bufStart = i - i%chunk
			n := min(chunk, int(nentries)-bufStart)
			if buf, err = o.read(entries+uint64(bufStart)*entrySize, n*int(entrySize)); err != nil {
				bufStart = -1
				return nil, err
			}
		}
		return buf[uint64(i-bufStart)*entrySize:], nil
	}
	var vals []byte
	if values != 0 {
		vbase := values
		if D.ValuesValues.Valid() {
			vbase += uint64(D.ValuesValues)
		}
		if vals, err = o.read(vbase, int(nentries*8)); err != nil {
			return err
		}
	}
	var order []int // nil: entry order
	if values != 0 && o.Minor >= 11 {
		order = o.splitOrder(values, dict, int(nentries))
	}
	n := int(nentries)
	if order != nil {
		n = len(order)
	}
	if scan >= 0 && n > scan {
		n = scan
	}
	for k := 0; k < n; k++ {
		i := k
		if order != nil {
			i = order[k]
		}
		e, err := entry(i)
		if err != nil {
			return err
		}
		k := binary.LittleEndian.Uint64(e[keyOff:])
		var v uint64
		if vals != nil {
			v = binary.LittleEndian.Uint64(vals[8*i:])
		} else {
			v = binary.LittleEndian.Uint64(e[valOff:])
		}
		if k == 0 || v == 0 {
			continue // deleted or unused
		}
		if !fn(k, v) {
			break
		}
	}
	return nil
}

// splitOrder returns the insertion order of a split dict's values (3.11+);
// nil when it cannot be read, in which case entry order is used.
func (o *Objects) splitOrder(values, dict uint64, n int) []int {
	var arr []byte
	switch {
	case o.Minor >= 13 && o.L.Dict.ValuesCapacity.Valid() && o.L.Dict.ValuesSize.Valid():
		c, err1 := o.u8(values + uint64(o.L.Dict.ValuesCapacity))
		sz, err2 := o.u8(values + uint64(o.L.Dict.ValuesSize))
		if err1 != nil || err2 != nil {
			return nil
		}
		capacity, size := int(c), int(sz)
		if size > capacity {
			return nil
		}
		var err error
		if arr, err = o.read(values+uint64(o.L.Dict.ValuesValues)+uint64(capacity)*8, size); err != nil {
			return nil
		}
	default:
		// 3.11/3.12: a prefix before values: [-1] prefix size, [-2] count,
		// then the order bytes going down from [-3].
		ps, err := o.u8(values - 1)
		if err != nil || ps < 2 {
			return nil
		}
		pre, err := o.read(values-uint64(ps), int(ps))
		if err != nil {
			return nil
		}
		used := int(pre[len(pre)-2])
		if used > len(pre)-2 {
			return nil
		}
		for i := 0; i < used; i++ {
			arr = append(arr, pre[len(pre)-3-i])
		}
	}
	out := make([]int, 0, len(arr))
	for _, b := range arr {
		if int(b) >= n {
			return nil
		}
		out = append(out, int(b))
	}
	return out
}

// DictLen returns ma_used, the number of live items of a dict.
func (o *Objects) DictLen(dict uint64) (int, error) {
	if !o.L.Dict.Used.Valid() {
		return 0, errors.New("dict layout unknown")
	}
	n, err := o.u64(dict + uint64(o.L.Dict.Used))
	if err != nil {
		return 0, err
	}
	if int64(n) < 0 || n > 1<<40 {
		return 0, fmt.Errorf("dict at %#x has impossible size", dict)
	}
	return int(n), nil
}

// DictGetStr looks up a str key in a dict, reading entries only up to it.
func (o *Objects) DictGetStr(dict uint64, key string) (uint64, bool, error) {
	var val uint64
	found := false
	err := o.DictEach(dict, func(k, v uint64) bool {
		if o.strEq(k, key) {
			val, found = v, true
		}
		return !found
	})
	if found {
		return val, true, nil
	}
	return 0, false, err
}

// strEq reports whether obj is a str equal to s, reading no more of it
// than s needs.
func (o *Objects) strEq(obj uint64, s string) bool {
	if !o.IsStr(obj) {
		return false
	}
	want := utf8.RuneCountInString(s)
	r, n, err := o.StrData(obj, want+1)
	return err == nil && n == want && wtf8.FromRunes(r) == s
}

// InstanceAttrs returns the attribute dict items of an instance, from
// __dict__, a managed dict, or inline values, whichever the object uses.
func (o *Objects) InstanceAttrs(obj uint64, max int) ([]DictEntry, error) {
	t, err := o.TypeOf(obj)
	if err != nil {
		return nil, err
	}
	flags, err := o.TypeFlags(t)
	if err != nil {
		return nil, err
	}
	L := o.L
	cachedKeys := func() (uint64, error) {
		if !L.Type.HeapCachedKeys.Valid() {
			return 0, errors.New("shared keys layout unknown")
		}
		return o.u64(t + uint64(L.Type.HeapCachedKeys))
	}
	switch {
	case o.Minor >= 13 && flags&(tpflagsInlineValues|tpflagsManagedDict) != 0:
		d, err := o.u64(obj - L.ManagedDictBefore())
		if err != nil {
			return nil, err
		}
		if d != 0 {
			return o.DictItems(d, max)
		}
		if flags&tpflagsInlineValues == 0 {
			return nil, nil
		}
		basic, err := o.u64(t + uint64(L.Type.Basicsize))
		if err != nil {
			return nil, err
		}
		values := obj + basic
		if !L.Dict.ValuesValid.Valid() {
			return nil, errors.New("inline values layout unknown")
		}
		valid, err := o.u8(values + uint64(L.Dict.ValuesValid))
		if err != nil {
			return nil, err
		}
		if valid == 0 { // the values moved to a dict since
			return nil, nil
		}
		keys, err := cachedKeys()
		if err != nil {
			return nil, err
		}
		return o.keysItems(keys, values, max, 0)
	case o.Minor == 12 && flags&tpflagsManagedDict != 0:
		dv, err := o.u64(obj - 3*pointerSize)
		if err != nil {
			return nil, err
		}
		if dv == 0 {
			return nil, nil
		}
		if dv&1 == 0 {
			return o.DictItems(dv, max)
		}
		keys, err := cachedKeys()
		if err != nil {
			return nil, err
		}
		return o.keysItems(keys, dv+1, max, 0) // stored as values-1
	case o.Minor == 11 && flags&tpflagsManagedDict != 0:
		d, err := o.u64(obj - 3*pointerSize)
		if err != nil {
			return nil, err
		}
		if d != 0 {
			return o.DictItems(d, max)
		}
		v, err := o.u64(obj - 4*pointerSize)
		if err != nil || v == 0 {
			return nil, err
		}
		keys, err := cachedKeys()
		if err != nil {
			return nil, err
		}
		return o.keysItems(keys, v, max, 0)
	}
	off, err := o.u64(t + uint64(L.Type.Dictoffset))
	if err != nil {
		return nil, err
	}
	if int64(off) <= 0 || off > 1<<20 {
		return nil, nil
	}
	d, err := o.u64(obj + off)
	if err != nil || d == 0 {
		return nil, err
	}
	return o.DictItems(d, max)
}

// Attr looks up an instance attribute by name in the instance's dict.
func (o *Objects) Attr(obj uint64, name string) (uint64, bool, error) {
	items, err := o.InstanceAttrs(obj, 4096)
	if err != nil {
		return 0, false, err
	}
	for _, it := range items {
		if s, err := o.Str(it.Key); err == nil && s == name {
			return it.Value, true, nil
		}
	}
	return 0, false, nil
}

// isCell reports whether obj is a cell object (the static type "cell").
func (o *Objects) isCell(obj uint64) bool {
	t, err := o.TypeOf(obj)
	if err != nil {
		return false
	}
	if o.cellType != 0 {
		return t == o.cellType
	}
	n, err := o.TypeName(t)
	if err != nil || n != "cell" {
		return false
	}
	if f, err := o.TypeFlags(t); err != nil || f&tpflagsHeapType != 0 {
		return false
	}
	o.cellType = t
	return true
}

// isDummyKey reports a deleted set entry.
func (o *Objects) isDummyKey(k uint64) bool {
	t, err := o.TypeOf(k)
	if err != nil {
		return false
	}
	n, err := o.TypeName(t)
	return err == nil && n == "<dummy key> type"
}

// setEach calls fn for each key of a set or frozenset in table order until
// fn returns false. dummy reports deleted entries.
func (o *Objects) setEach(set uint64, dummy func(key uint64) bool, fn func(key uint64) bool) error {
	S := o.L.Set
	if !S.Table.Valid() || !S.Mask.Valid() || !S.Used.Valid() || !S.EntrySize.Valid() || S.EntrySize < 8 {
		return errors.New("set layout unknown")
	}
	used, err := o.u64(set + uint64(S.Used))
	if err != nil {
		return err
	}
	mask, err := o.u64(set + uint64(S.Mask))
	if err != nil {
		return err
	}
	table, err := o.u64(set + uint64(S.Table))
	if err != nil {
		return err
	}
	if mask >= 1<<30 || (mask+1)&mask != 0 || used > mask+1 {
		return fmt.Errorf("set at %#x has a bad table", set)
	}
	es := uint64(S.EntrySize)
	ko := uint64(S.EntryKey)
	if !S.EntryKey.Valid() || ko+8 > es {
		return errors.New("set entry layout unknown")
	}
	found := uint64(0)
	const chunk = 256
	for i := uint64(0); i <= mask && found < used; i += chunk {
		n := min(chunk, mask+1-i)
		b, err := o.read(table+i*es, int(n*es))
		if err != nil {
			return err
		}
		for j := uint64(0); j < n && found < used; j++ {
			k := binary.LittleEndian.Uint64(b[j*es+ko:])
			if k == 0 || dummy(k) {
				continue
			}
			found++
			if !fn(k) {
				return nil
			}
		}
	}
	return nil
}

// slotClass is one class's __slots__ in an instance: names (ht_slots,
// sorted and mangled as the members are laid out) from offset base on.
type slotClass struct {
	names []uint64
	base  uint64 // tp_basicsize of the class's tp_base
}

// slotClasses lists the __slots__ of heap type t and its heap bases, t
// first.
func (o *Objects) slotClasses(t uint64) []slotClass {
	L := o.L
	if !L.Type.HeapSlots.Valid() || !L.Type.Base.Valid() || !L.Type.Basicsize.Valid() {
		return nil
	}
	var chain []slotClass
	c := t
	for i := 0; i < 64 && validPtr(c); i++ {
		f, err := o.TypeFlags(c)
		if err != nil || f&tpflagsHeapType == 0 {
			break
		}
		base, err := o.u64(c + uint64(L.Type.Base))
		if err != nil || !validPtr(base) {
			break
		}
		slots, err := o.u64(c + uint64(L.Type.HeapSlots))
		if err == nil && validPtr(slots) && o.hasFlag(slots, tpflagsTupleSub) {
			names, err := o.TupleItems(slots)
			bs, err2 := o.u64(base + uint64(L.Type.Basicsize))
			if err == nil && err2 == nil && bs < 1<<20 && len(names) > 0 {
				chain = append(chain, slotClass{names, bs})
			}
		}
		c = base
	}
	return chain
}

// slotValue reads the __slots__ member name of obj: found says a class
// declares it, and value is 0 while the slot is unset.
func (o *Objects) slotValue(obj uint64, name string) (value uint64, found bool, err error) {
	t, err := o.TypeOf(obj)
	if err != nil {
		return 0, false, err
	}
	for _, sc := range o.slotClasses(t) {
		for j, n := range sc.names {
			if o.strEq(n, name) {
				v, err := o.u64(obj + sc.base + uint64(j)*pointerSize)
				return v, true, err
			}
		}
	}
	return 0, false, nil
}
