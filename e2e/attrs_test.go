package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// attrsTarget handles an exception inside a function that holds a closure,
// a generator, a bound method and a lazy proxy (whose attributes only its
// __getattr__ knows, as Django's settings), then writes what Python says
// of each attribute the test prints: its repr, or that it has none.
const attrsTarget = `
import json, sys, time

class Lazy:
    def __init__(self):
        self._wrapped = {"SECRET_KEY": "k"}
    def __getattr__(self, name):
        return self._wrapped[name]

class Service:
    def handle(self):
        pass

def make():
    captured = [1, 2]
    def inner():
        return captured
    return inner

def gen_items():
    yield 1

class Text(str):
    def shout(self):
        return self.upper()

def raise_from():
    raise ZeroDivisionError("outer") from OSError(2, "cause")

def handler():
    fn = make()
    gen = gen_items()
    bound = Service().handle
    bound_text = Text("it's").shout
    appender = [1, 2].append
    lazy = Lazy()
    count = 7
    items = [10, 20]
    s = "text"
    try:
        try:
            {}["missing"]
        except KeyError:
            raise_from()
    except ZeroDivisionError as err:
        exprs = ["err.args", "err.__traceback__", "fn.__name__", "fn.__qualname__", "fn.__module__",
                 "fn.__closure__", "gen.__name__", "gen.__qualname__", "bound.__func__", "lazy.SECRET_KEY",
                 "bound_text", "appender", "err.__context__", "err.__cause__", "err.__suppress_context__",
                 "err.__context__.__context__", "err.__context__.__cause__", "err.__context__.__suppress_context__",
                 "err.__cause__.args", "err.__traceback__.tb_lineno", "err.__traceback__.tb_lasti",
                 "err.__traceback__.tb_next", "err.__traceback__.tb_next.tb_lineno",
                 "err.__traceback__.tb_next.tb_next", "err.__traceback__.tb_next.tb_frame",
                 "count.real", "items.append", "s.upper", "count.nope"]
        if hasattr(err, "add_note"):
            err.add_note("a note")
            exprs.append("err.__notes__")
        out, errors = {}, {}
        for e in exprs:
            try:
                v = eval(e)
            except AttributeError as x:
                out[e], errors[e] = None, str(x)
            else:
                out[e] = repr(v)
        json.dump({"values": out, "errors": errors, "lazy_getattr": "__getattr__" in vars(Lazy)}, open(sys.argv[1], "w"))
        print("ready", flush=True)
        time.sleep(3600)

handler()
`

// exactRepr: reprs of objects that pyscope shows exactly as Python does
// (other "<...>" reprs, instances above all, it shows in its own style).
func exactRepr(r string) bool {
	for _, p := range []string{"<function ", "<traceback object at ", "<bound method ", "<built-in method ", "<frame at "} {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}

// TestSessionPrintCAttributes prints attributes that C code serves (a
// function's __name__, an exception's args, __traceback__, __context__ and
// __cause__, a traceback's tb_lineno and the frame it holds, whose repr
// is fixed once that frame has returned), bound methods, and an attribute
// that __getattr__ computes, live and in a core. pyscope must show those
// it can read as Python's repr() does, and must never claim
// AttributeError for an attribute Python has.
func TestSessionPrintCAttributes(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			oraclePath := filepath.Join(t.TempDir(), "oracle.json")
			script := filepath.Join(t.TempDir(), "attrs.py")
			if err := os.WriteFile(script, []byte(attrsTarget), 0o644); err != nil {
				t.Fatal(err)
			}
			pid := testenv.StartScript(t, in.Path, fmt.Sprintf("import sys; sys.argv = [%q, %q]; exec(open(%q).read())", script, oraclePath, script))
			raw, err := os.ReadFile(oraclePath)
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				Values      map[string]*string `json:"values"`
				Errors      map[string]string  `json:"errors"`
				LazyGetattr bool               `json:"lazy_getattr"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			if !o.LazyGetattr || o.Values["lazy.SECRET_KEY"] == nil {
				t.Fatalf("oracle: Lazy resolves SECRET_KEY through __getattr__: %s", raw)
			}
			if o.Errors["count.nope"] == "" {
				t.Fatalf("oracle: count.nope raises AttributeError: %s", raw)
			}
			var exprs []string
			for e := range o.Values {
				exprs = append(exprs, e)
			}
			core := filepath.Join(t.TempDir(), "attrs.core")
			r := runPyscope(t, bin, nil, "gcore", strconv.Itoa(pid), "-o", core)
			if r.code != 0 {
				t.Fatalf("pyscope gcore: exit %d\n%s", r.code, r.stderr)
			}
			for _, src := range []string{strconv.Itoa(pid), core} {
				checkCAttrs(t, bin, src, in, exprs, o.Values, o.Errors)
			}
			if err := testenv.NotStopped(pid); err != nil {
				t.Error(err)
			}
		})
	}
}

// onStaticBuiltin are the expressions whose lookup needs the dict of a
// static builtin type (int, list, str).
var onStaticBuiltin = map[string]bool{"count.real": true, "items.append": true, "s.upper": true, "count.nope": true}

// builtinDictsUnread: Python 3.12+ keeps the dicts of static builtin types
// in the interpreter's state; pyscope finds them where the layout says
// where (3.12 and 3.13 from DWARF), not on 3.14, whose _Py_DebugOffsets
// does not describe that state.
func builtinDictsUnread(in testenv.Interp) bool {
	var minor int
	fmt.Sscanf(in.Minor, "3.%d", &minor)
	return minor >= 14
}

// checkCAttrs prints each expression in a session on src (a PID or a
// core) and compares it with Python's repr, or with Python's
// AttributeError message for one Python says is missing. Where pyscope
// cannot read the dict of a static builtin type, it must say so, for a
// missing name too, rather than guess.
func checkCAttrs(t *testing.T, bin, src string, in testenv.Interp, exprs []string, values map[string]*string, errors map[string]string) {
	t.Helper()
	args := []string{"debug", src, "-batch"}
	for _, e := range exprs {
		args = append(args, "-ex", "py-print "+e, "-ex", "echo @@\\n")
	}
	r := runPyscope(t, bin, nil, args...)
	if crashed(r.stdout + r.stderr) {
		t.Fatalf("crash:\n%s%s", r.stdout, r.stderr)
	}
	outs := strings.Split(r.stdout+r.stderr, "@@\n")
	if len(outs) < len(exprs) {
		t.Fatalf("output:\n%s\n%s", r.stdout, r.stderr)
	}
	for i, e := range exprs {
		got := strings.TrimSpace(outs[i])
		want := values[e]
		switch {
		case onStaticBuiltin[e] && builtinDictsUnread(in):
			if name := e[strings.Index(e, ".")+1:]; !strings.Contains(got, "keeps its attributes in the interpreter's state") ||
				!strings.Contains(got, "cannot read '"+name+"'") || strings.Count(got, "\n") != 0 {
				t.Errorf("%s: %s: want one line saying pyscope cannot read the builtin type's dict, got %q", src, e, got)
			}
		case want == nil && errors[e] != "":
			if w := e + ": AttributeError: " + errors[e]; got != w {
				t.Errorf("%s: %s: pyscope printed %q, Python says %q", src, e, got, w)
			}
		case want == nil:
			t.Errorf("oracle: Python has no %s", e)
		case strings.Contains(got, "AttributeError") || strings.Contains(got, "has no attribute"):
			t.Errorf("%s: %s: Python's repr is %s, pyscope says it does not exist: %s", src, e, *want, got)
		case e == "lazy.SECRET_KEY":
			if !strings.Contains(got, "__getattr__") {
				t.Errorf("%s: %s: want a message that __getattr__ computes it, got %s", src, e, got)
			}
		case strings.HasPrefix(*want, "<") && !exactRepr(*want):
			// An object pyscope shows in its own style.
		case strings.HasPrefix(*want, "("+"<cell"):
			// Cells: pyscope shows the cell, not its contents.
		case !strings.HasSuffix(got, " = "+*want):
			t.Errorf("%s: %s: pyscope printed %q, Python's repr is %s", src, e, got, *want)
		}
	}
}
