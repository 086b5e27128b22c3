package layout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// A layout cached on disk (a build read through its DWARF) is text: a
// header line, then one "name value" line per field, strings quoted. Read
// back on every dump of that build, it must cost little: encoding/json's
// first use, reflection over some 300 fields, cost a millisecond.

const cacheHeader = "pyscope-layout 1"

// maxCacheFile bounds a cache file read back (a layout is a few KiB).
const maxCacheFile = 1 << 20

var fieldIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(layoutFields))
	for i, f := range layoutFields {
		m[f.Name] = i
	}
	return m
})

// CacheSchema names the fields a cache file of this pyscope holds, for
// its file name: two pyscope versions with different fields (one
// upgraded, one older beside it) each keep their own file, rather than
// each finding the other's unreadable and reading the DWARF again on
// every run (100 ms for Debian's python3.11-dbg).
var CacheSchema = sync.OnceValue(func() string { return schemaOf(layoutFields) })

func schemaOf(fields []field) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f.Name + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// MarshalCache writes l as a cache file.
func (l *Layout) MarshalCache() []byte {
	var b bytes.Buffer
	b.WriteString(cacheHeader + "\n")
	fmt.Fprintf(&b, "version %s\nsource %s\nfree_threaded %t\n",
		strconv.Quote(l.Version), strconv.Quote(l.Source), l.FreeThreaded)
	for _, u := range l.Unknown {
		fmt.Fprintf(&b, "unknown %s\n", strconv.Quote(u))
	}
	for i := range layoutFields {
		fmt.Fprintf(&b, "%s %d\n", layoutFields[i].Name, *l.ptr(&layoutFields[i]))
	}
	return b.Bytes()
}

// ParseCache reads a cache file MarshalCache wrote. Anything else, a file
// cut short or one of another set of fields included, is an error: the
// caller then reads the DWARF again.
func ParseCache(data []byte) (*Layout, error) {
	if len(data) > maxCacheFile {
		return nil, errors.New("layout cache file too large")
	}
	header, rest, _ := bytes.Cut(data, []byte("\n"))
	if string(header) != cacheHeader {
		return nil, errors.New("not a layout cache file")
	}
	index := fieldIndex()
	seen := make([]bool, len(layoutFields))
	l := &Layout{}
	var version, source, free bool
	for n := 2; len(rest) > 0; n++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			return nil, fmt.Errorf("layout cache line %d: no value", n)
		}
		var err error
		switch string(name) {
		case "version":
			l.Version, err = strconv.Unquote(string(value))
			version = true
		case "source":
			l.Source, err = strconv.Unquote(string(value))
			source = true
		case "free_threaded":
			l.FreeThreaded, err = strconv.ParseBool(string(value))
			free = true
		case "unknown":
			var u string
			if u, err = strconv.Unquote(string(value)); err == nil {
				l.Unknown = append(l.Unknown, u)
			}
		default:
			i, ok := index[string(name)]
			if !ok || seen[i] {
				return nil, fmt.Errorf("layout cache line %d: unexpected field %q", n, name)
			}
			var v int64
			if v, err = strconv.ParseInt(string(value), 10, 64); err == nil {
				*l.ptr(&layoutFields[i]) = Off(v)
				seen[i] = true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("layout cache line %d: %w", n, err)
		}
	}
	if !version || !source || !free {
		return nil, errors.New("layout cache file incomplete")
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("layout cache file lacks %s", layoutFields[i].Name)
		}
	}
	return l, nil
}
