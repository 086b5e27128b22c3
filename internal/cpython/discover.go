package cpython

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"pyscope/internal/cpython/layout"
	"pyscope/internal/elfx"
	"pyscope/internal/target"
)

// ErrNotPython means no CPython runtime was found in the target.
var ErrNotPython = errors.New("not a Python process")

// UnsupportedVersionError names a version pyscope cannot read.
type UnsupportedVersionError struct {
	Version string
	Reason  string
}

func (e *UnsupportedVersionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("Python %s is not supported: %s", e.Version, e.Reason)
	}
	return fmt.Sprintf("Python %s is not supported (pyscope reads CPython 3.10 to %s, and newer versions through their _Py_DebugOffsets)", e.Version, layout.NewestTested)
}

// Interpreter is a CPython runtime found in a target: where _PyRuntime is,
// which version it is, and the layout to read it with.
type Interpreter struct {
	Runtime    uint64 // address of _PyRuntime in the target
	Version    string // "3.12.3"
	Major      int
	Minor      int
	Executable string  // main executable as the target sees it
	Library    *string // libpython path when the runtime lives there
	Layout     *layout.Layout

	// Image is the file that holds _PyRuntime and its load bias.
	Image string
	Bias  uint64

	// Debug: a debug build (Py_DEBUG: reference counts are checked);
	// FreeThreaded: one without the GIL, as its _Py_DebugOffsets say.
	Debug, FreeThreaded bool
}

// Warnings says what the reader of a snapshot must know about the
// interpreter itself: that no interpreter of this version and build was
// ever read by pyscope's tests.
func (in *Interpreter) Warnings() []string {
	if in.Layout == nil {
		return nil
	}
	if w := layout.Untested(in.Version, in.Layout.FreeThreaded); w != "" {
		return []string{w}
	}
	return nil
}

var libpythonRe = regexp.MustCompile(`(?:^|/)libpython(\d+)\.(\d+)[a-z]*\.so`)
var pythonRe = regexp.MustCompile(`(?:^|/)python(\d+)\.(\d+)[a-z]*$`)

// Discover finds the CPython runtime in t. It reads ELF files through the
// target's view of the filesystem and the target's memory.
func Discover(t target.Target) (*Interpreter, error) {
	maps := t.Mappings()
	exe := t.Executable()
	cands := candidates(maps, exe)
	var firstErr error
	for _, c := range cands {
		in, err := probe(t, c, maps, exe)
		if err == nil {
			return in, nil
		}
		var uv *UnsupportedVersionError
		if errors.As(err, &uv) {
			return nil, err
		}
		if firstErr == nil && !errors.Is(err, errNoRuntime) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := oldPython(t, cands); err != nil {
		return nil, err
	}
	return nil, ErrNotPython
}

var errNoRuntime = errors.New("no _PyRuntime")

// candidates lists the mapped files that may hold _PyRuntime: libpython
// first (shared builds), then the executable (static builds).
func candidates(maps []target.Mapping, exe string) []string {
	seen := map[string]bool{}
	var libs []string
	for _, m := range maps {
		if m.Path == "" || seen[m.Path] || strings.HasPrefix(m.Path, "[") {
			continue
		}
		seen[m.Path] = true
		if libpythonRe.MatchString(m.Path) {
			libs = append(libs, m.Path)
		}
	}
	sort.Strings(libs)
	out := libs
	if exe != "" {
		out = append(out, exe)
	}
	return out
}

func probe(t target.Target, path string, maps []target.Mapping, exe string) (*Interpreter, error) {
	f, err := t.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	ef, err := elfx.FromFile(f, path)
	if err != nil {
		return nil, err
	}
	defer ef.Close()

	// The .PyRuntime section holds _PyRuntime alone, and costs no symbol
	// table: a static interpreter exports tens of thousands of symbols.
	var rtVaddr uint64
	if sec := ef.Section(".PyRuntime"); sec != nil {
		rtVaddr = sec.Addr
	} else if s, ok := ef.DynSymbol("_PyRuntime"); ok {
		rtVaddr = s.Value
	} else if s, ok := ef.Symbol("_PyRuntime"); ok {
		rtVaddr = s.Value
	} else {
		return nil, errNoRuntime
	}
	bias, ok := loadBias(ef, path, maps)
	if !ok {
		return nil, fmt.Errorf("%s: cannot find where it is mapped", path)
	}
	in := &Interpreter{Runtime: rtVaddr + bias, Executable: exe, Image: path, Bias: bias}
	if path != exe {
		p := path
		in.Library = &p
	}
	_, in.Debug = ef.DynSymbol("_Py_NegativeRefcount") // defined by Py_REF_DEBUG, which Py_DEBUG sets

	// The version: the debug offsets (3.13+), else Py_Version (3.11+),
	// else the file name.
	var hexVersion uint64
	pyVersion := func() uint64 {
		if s, ok := ef.DynSymbol("Py_Version"); ok {
			var b [4]byte
			if n, err := ef.ReadVaddr(b[:], s.Value); err == nil && n == 4 {
				return uint64(le32(b[:]))
			}
		}
		return 0
	}
	// _Py_DebugOffsets is the first field of _PyRuntime (3.13+) and is
	// statically initialised, so the file holds it.
	var dbg *layout.DebugOffsets
	blob := make([]byte, layout.DebugOffsetsMaxLen)
	if n, err := ef.ReadVaddr(blob, rtVaddr); err == nil && n >= 24 && string(blob[:8]) == "xdebugpy" {
		d, err := layout.ParseDebugOffsets(blob[:n])
		if err != nil {
			hexVersion = pyVersion()
			if hexVersion>>24 == 3 && (hexVersion>>16)&0xff > 14 {
				// A newer Python whose struct pyscope cannot read.
				return nil, &UnsupportedVersionError{Version: versionString(hexVersion), Reason: err.Error()}
			}
			return nil, fmt.Errorf("%s: bad _Py_DebugOffsets: %w", path, err)
		}
		dbg = d
		in.FreeThreaded = d.FreeThreaded
		hexVersion = d.Version
	}
	if hexVersion == 0 {
		hexVersion = pyVersion()
	}
	if hexVersion != 0 {
		in.Version = versionString(hexVersion)
		in.Major, in.Minor = int(hexVersion>>24), int((hexVersion>>16)&0xff)
	} else if m := libpythonRe.FindStringSubmatch(path); m != nil {
		in.Major, _ = strconv.Atoi(m[1])
		in.Minor, _ = strconv.Atoi(m[2])
	} else if m := pythonRe.FindStringSubmatch(exe); m != nil {
		in.Major, _ = strconv.Atoi(m[1])
		in.Minor, _ = strconv.Atoi(m[2])
	} else {
		return nil, &UnsupportedVersionError{Version: "unknown", Reason: "found _PyRuntime in " + path + " but could not tell the version"}
	}
	short := in.ShortVersion()
	if in.Version == "" {
		in.Version = short
	}
	if in.Major != 3 || in.Minor < 10 {
		return nil, &UnsupportedVersionError{Version: in.Version}
	}
	if in.Minor > 14 && dbg == nil {
		return nil, &UnsupportedVersionError{Version: in.Version, Reason: fmt.Sprintf("it is newer than the newest version pyscope is tested on (%s) and has no _Py_DebugOffsets to read it with", layout.NewestTested)}
	}
	l, err := layout.For(in.Version, dbg)
	if err != nil {
		return nil, &UnsupportedVersionError{Version: in.Version, Reason: err.Error()}
	}
	in.Layout = l
	if in.Version == short {
		// 3.10 has no Py_Version: ask the target's sys.version.
		if v, err := NewReader(t, in).SysVersion(); err == nil && strings.HasPrefix(v, short+".") {
			in.Version = v
		}
	}
	// The target's own DWARF, where it has some, beats a table made from
	// another build.
	if dl, err := dwarfLayout(t, ef, in); err == nil && dl != nil {
		in.Layout = dl
	}
	return in, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// versionString turns PY_VERSION_HEX into "3.12.3" or "3.14.0rc1".
func versionString(v uint64) string {
	s := fmt.Sprintf("%d.%d.%d", v>>24, (v>>16)&0xff, (v>>8)&0xff)
	level, serial := (v>>4)&0xf, v&0xf
	switch level {
	case 0xa:
		s += fmt.Sprintf("a%d", serial)
	case 0xb:
		s += fmt.Sprintf("b%d", serial)
	case 0xc:
		s += fmt.Sprintf("rc%d", serial)
	}
	return s
}

// loadBias finds where path is mapped: the lowest mapping of the file
// corresponds to its first PT_LOAD.
func loadBias(ef *elfx.File, path string, maps []target.Mapping) (uint64, bool) {
	base := ^uint64(0)
	for _, m := range maps {
		if m.Path == path && m.Offset == 0 && m.Start < base {
			base = m.Start
		}
	}
	if base == ^uint64(0) {
		return 0, false
	}
	v, ok := ef.FirstLoadVaddr()
	if !ok {
		return 0, false
	}
	return base - v, true
}

// ShortVersion is "3.12".
func (in *Interpreter) ShortVersion() string { return fmt.Sprintf("%d.%d", in.Major, in.Minor) }
