package cpython

import (
	"os"
	"path/filepath"
	"regexp"

	"pyscope/internal/elfx"
)

// pythonExeRe matches the names interpreters run under: python, python3,
// python3.12, python3.11d, python3.13t.
var pythonExeRe = regexp.MustCompile(`^python(\d+(\.\d+)?)?[a-z]*$`)

// NamedLikePython says, from names alone, whether a process whose
// executable is exe and which maps files may run CPython: its executable
// is named like an interpreter, or it maps a libpython.
func NamedLikePython(exe string, files []string) bool {
	if pythonExeRe.MatchString(filepath.Base(exe)) {
		return true
	}
	for _, f := range files {
		if libpythonRe.MatchString(f) {
			return true
		}
	}
	return false
}

// EmbedsPython says whether an executable carries a CPython runtime of its
// own whatever its name (a renamed static interpreter, a program that
// links CPython in): it defines _PyRuntime, or for CPython older than
// that, Py_GetVersion. Only the section headers and dynamic symbols are
// read. It takes ownership of f.
func EmbedsPython(f *os.File, path string) bool {
	ef, err := elfx.FromFile(f, path)
	if err != nil {
		return false
	}
	defer ef.Close()
	if ef.Section(".PyRuntime") != nil {
		return true
	}
	_, rt := ef.DynSymbol("_PyRuntime")
	_, old := ef.DynSymbol("Py_GetVersion")
	return rt || old
}
