package layout

import (
	"bytes"
	"reflect"
	"testing"

	"pyscope/internal/fuzzguard"
)

// A layout read back from its cache file is the one written: every table,
// and Debian 3.11's from its debug file, the DWARF layout pyscope caches.
func TestCacheRoundTrip(t *testing.T) {
	var layouts []*Layout
	for _, tb := range tables {
		l := tb.Layout
		layouts = append(layouts, &l)
	}
	const exe = "/usr/bin/python3.11"
	id := buildID(t, exe)
	d, err := OpenDWARF("/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug")
	if err != nil {
		t.Fatalf("%v: apt-get install python3.11-dbg", err)
	}
	deb, err := FromDWARF(d, nil, "3.11")
	if err != nil {
		t.Fatal(err)
	}
	deb.Source = "DWARF (buildid-" + id + ")"
	deb.Unknown = []string{"Code.FirstTraceable", `a "quoted" name`}
	layouts = append(layouts, deb)
	for _, l := range layouts {
		got, err := ParseCache(l.MarshalCache())
		if err != nil {
			t.Fatalf("%s: %v", l.Source, err)
		}
		if !reflect.DeepEqual(got, l) {
			t.Errorf("%s: read back as %+v", l.Source, got)
		}
	}
}

// A file with a field missing, one too many, or cut short is refused:
// the DWARF is then read again.
func TestCacheRefusesOtherFields(t *testing.T) {
	l := tables["3.12"].Layout
	good := l.MarshalCache()
	lines := bytes.SplitAfter(good, []byte("\n"))
	for name, data := range map[string][]byte{
		"no header":     bytes.Join(lines[1:], nil),
		"field missing": bytes.Join(lines[:len(lines)-2], nil),
		"extra field":   append(bytes.Clone(good), "Code.NoSuchField 8\n"...),
		"field twice":   append(bytes.Clone(good), lines[5]...),
		"cut":           good[:len(good)/2],
		"bad number":    bytes.Replace(good, []byte("Thread.Next "), []byte("Thread.Next x"), 1),
		"empty":         nil,
	} {
		if _, err := ParseCache(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseCache: a cache file is read back on every dump of its build;
// whatever it holds, ParseCache must not panic, and what it accepts
// writes back the same.
func FuzzParseCache(f *testing.F) {
	l := tables["3.11"].Layout
	f.Add(l.MarshalCache())
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte) {
		got, err := ParseCache(data)
		if err != nil {
			return
		}
		again, err := ParseCache(got.MarshalCache())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("accepted layout does not read back: %v", err)
		}
	})
}

// TestCacheSchema: the cache file's name changes with the fields a
// layout holds, and only with them.
func TestCacheSchema(t *testing.T) {
	s := CacheSchema()
	if s != schemaOf(layoutFields) || len(s) != 12 {
		t.Fatalf("CacheSchema() = %q", s)
	}
	fewer := layoutFields[:len(layoutFields)-1]
	renamed := append([]field(nil), layoutFields...)
	renamed[0].Name += "X"
	for _, other := range [][]field{fewer, renamed} {
		if schemaOf(other) == s {
			t.Errorf("a layout with other fields has the same cache schema %q", s)
		}
	}
}
