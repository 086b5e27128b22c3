package cpython

import (
	"strings"
)

// stdlib is how the target itself tells standard-library modules from the
// user's: the names in sys.stdlib_module_names (3.10+), and the directory
// the standard library was loaded from (that of os.__file__).
type stdlib struct {
	names map[string]bool
	dir   string // "" when os has no __file__
}

// maxStdlibNames bounds sys.stdlib_module_names (about 300 names).
const maxStdlibNames = 4096

// stdlibInfo reads the target's own view of its standard library once: it
// does not change while the process runs.
func (r *Reader) stdlibInfo() *stdlib {
	if r.std != nil {
		return r.std
	}
	r.std = &stdlib{names: map[string]bool{}}
	o := r.Obj
	interps, _ := r.Interpreters()
	if len(interps) == 0 {
		return r.std
	}
	main := interps[len(interps)-1]
	sysdict, err := o.u64(main + uint64(r.In.Layout.Interp.Sysdict))
	if err != nil || !validPtr(sysdict) {
		return r.std
	}
	if names, ok, err := o.DictGetStr(sysdict, "stdlib_module_names"); err == nil && ok {
		o.setEach(names, o.isDummyKey, func(k uint64) bool {
			if s, err := o.Str(k); err == nil {
				r.std.names[s] = true
			}
			return len(r.std.names) < maxStdlibNames
		})
	}
	mods, err := o.u64(main + uint64(r.In.Layout.Interp.Modules))
	if err != nil || !validPtr(mods) {
		return r.std
	}
	if osmod, ok, err := o.DictGetStr(mods, "os"); err == nil && ok {
		if d, err := o.u64(osmod + uint64(r.In.Layout.Module.Dict)); err == nil && validPtr(d) {
			if f := r.dictStr(d, "__file__"); f != "" {
				if i := strings.LastIndexByte(f, '/'); i > 0 {
					r.std.dir = f[:i+1]
				}
			}
		}
	}
	return r.std
}

// dictStr returns the str value of key in dict, or "".
func (r *Reader) dictStr(dict uint64, key string) string {
	v, ok, err := r.Obj.DictGetStr(dict, key)
	if err != nil || !ok || !r.Obj.IsStr(v) {
		return ""
	}
	s, err := r.Obj.Str(v)
	if err != nil {
		return ""
	}
	return s
}

// isStdlibModule reports whether the module whose dict is globals belongs
// to the standard library: its top-level package is one of
// sys.stdlib_module_names, and it was not loaded from outside the standard
// library's directory (a user's own queue.py is not the stdlib's).
func (r *Reader) isStdlibModule(globals uint64) bool {
	if s, ok := r.stdlibCache[globals]; ok {
		return s
	}
	std := r.stdlibInfo()
	name := r.dictStr(globals, "__name__")
	top, _, _ := strings.Cut(name, ".")
	is := std.names[top]
	if is && std.dir != "" {
		if file := r.dictStr(globals, "__file__"); file != "" {
			rest, under := strings.CutPrefix(file, std.dir)
			is = under && !strings.Contains(rest, "site-packages/") && !strings.Contains(rest, "dist-packages/")
		}
	}
	if r.stdlibCache == nil {
		r.stdlibCache = map[uint64]bool{}
	}
	r.stdlibCache[globals] = is
	return is
}
