package cpython

import (
	"strconv"

	"pyscope/internal/elfx"
	"pyscope/internal/target"
)

// oldPython recognises a CPython too old to have _PyRuntime (2.x, 3.0 to
// 3.6), so that its user reads "Python 2.7 is not supported" rather than
// "not a Python process". It returns nil for anything else.
func oldPython(t target.Target, cands []string) error {
	for _, path := range cands {
		f, err := t.Open(path)
		if err != nil {
			continue
		}
		ef, err := elfx.FromFile(f, path)
		if err != nil {
			continue
		}
		_, cpython := ef.DynSymbol("Py_GetVersion")
		_, py2 := ef.DynSymbol("PyString_FromString")
		ef.Close()
		if !cpython {
			continue
		}
		m := libpythonRe.FindStringSubmatch(path)
		if m == nil {
			m = pythonRe.FindStringSubmatch(path)
		}
		if m != nil {
			major, _ := strconv.Atoi(m[1])
			minor, _ := strconv.Atoi(m[2])
			if major < 3 || major == 3 && minor < 7 {
				return &UnsupportedVersionError{Version: m[1] + "." + m[2]}
			}
			continue // a newer one whose _PyRuntime was not found
		}
		if py2 {
			return &UnsupportedVersionError{Version: "2"}
		}
		return &UnsupportedVersionError{Version: "3 (older than 3.7)"}
	}
	return nil
}
