"""Target for `pyscope dump --locals --globals` (runs unchanged on 3.10-3.14).

The main thread builds variables of every kind pyscope decodes in a chain of
frames, called from a list comprehension in a class body (inlined by PEP 709
on 3.12+), then report() writes what the interpreter itself says about them
to the oracle (argv[1]), prints "ready" and answers "ping" lines on stdin
with "pong" until stdin closes. For each frame (caller of report() first)
its variables as frame.f_locals shows them:

    {"name", "kind": arg|local|cell|free, "type", "repr", "unbound"}

(a function's in definition order, unbound ones too; a module or class
body's in f_locals order), and the module's user globals (not modules, not
__dunder__ names). For the thread "parked", blocked in threading's code,
each frame's function, whether its module is in the standard library
(sysconfig's stdlib directory) and the names of its module's user globals.

"repr" is repr() itself for builtins. Where pyscope follows gdb's libpython
instead (instances of user classes, other objects), expect() builds the text
from the same parts; every builtin container is checked against repr()
before it is written, so the convention provably matches Python's.
Ints are written in full (as with sys.set_int_max_str_digits(0)), and
subclasses of builtins with the builtin's own repr.
"""

import collections
import enum
import json
import os
import sys
import sysconfig
import threading
import types

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

HEAPTYPE = 1 << 9
CO_OPTIMIZED = 0x1
IMMUTABLETYPE = 1 << 8

SCALAR_BASES = (bool, int, float, complex, str, bytes, bytearray)
CONTAINERS = (tuple, list, set, frozenset, dict)


def tp_name(t):
    """type(o).tp_name as pyscope reads it: the class name for classes made
    by a class statement, "module.qualname" for C types (static, or heap
    types made from a spec, which are immutable)."""
    if t.__flags__ & HEAPTYPE and not t.__flags__ & IMMUTABLETYPE:
        return t.__name__
    if t.__module__ == "builtins":
        return t.__qualname__
    return t.__module__ + "." + t.__qualname__


def builtin_base(t):
    """The first static type up the tp_base chain (what pyscope decodes)."""
    while t.__flags__ & HEAPTYPE:
        t = t.__base__
    return t


def slot_attrs(o):
    out = []
    for cls in reversed(type(o).__mro__):
        if not cls.__flags__ & HEAPTYPE or "__slots__" not in vars(cls):
            continue  # members of C types are not __slots__
        names = sorted(k for k, v in vars(cls).items()
                       if type(v) is types.MemberDescriptorType)
        for n in names:
            try:
                out.append((n, getattr(o, n)))
            except AttributeError:
                pass
    return out


def user_class(t):
    """Instances carry attributes: a __dict__ or __slots__ somewhere."""
    return "__dict__" in dir(t) or any("__slots__" in vars(c) for c in t.__mro__)


# The synchronisation primitives whose own __repr__ pyscope computes from
# their state: their repr() is expected as it is.
SYNC_CLASSES = {"threading.Condition", "threading.Semaphore", "threading.BoundedSemaphore",
                "threading.Event", "threading.Barrier", "threading.Thread", "queue.Queue",
                "concurrent.futures._base.Future"}


def sync_repr(o):
    t = type(o)
    if t in (type(threading.Lock()), type(threading.RLock())):
        return repr(o)
    names = [c.__module__ + "." + c.__qualname__ for c in t.__mro__]
    if not SYNC_CLASSES.intersection(names):
        return None
    for c, n in zip(t.__mro__, names):
        if "__repr__" in vars(c):
            return repr(o) if n in SYNC_CLASSES or c is object else None
    return None


def expect(o, path=()):
    t = type(o)
    base = builtin_base(t)
    if isinstance(o, type):
        return type.__repr__(o)  # metaclass __repr__ (EnumType) ignored
    r = sync_repr(o)
    if r is not None:
        return r
    if isinstance(o, BaseException):
        args = o.args
        if len(args) == 1:
            return "%s(%s)" % (t.__name__, expect(args[0], path))
        return t.__name__ + expect(args, path)
    if id(o) in path:
        if base is list:
            return "[...]"
        if base is dict:
            return "{...}"
        if base is tuple:
            return "(...)"
        return "<%s(...) at %#x>" % (tp_name(t), id(o))
    path = path + (id(o),)
    if o is None or base in (bool, float, complex, str, bytes, bytearray):
        return base.__repr__(o)
    if base is int:
        return int.__repr__(o)
    if base is tuple:
        items = [expect(x, path) for x in o]
        if len(items) == 1:
            return "(%s,)" % items[0]
        return "(%s)" % ", ".join(items)
    if base is list:
        return "[%s]" % ", ".join(expect(x, path) for x in o)
    if base in (set, frozenset):
        if not o:
            return base.__name__ + "()"
        inner = "{%s}" % ", ".join(expect(x, path) for x in o)
        return inner if base is set else "frozenset(%s)" % inner
    if base is dict:
        return "{%s}" % ", ".join(
            "%s: %s" % (expect(k, path), expect(v, path)) for k, v in o.items())
    if base is types.FunctionType:
        return "<function %s at %#x>" % (o.__qualname__, id(o))
    if base is types.BuiltinFunctionType:
        return repr(o)
    if base is types.MethodType and isinstance(o.__func__, types.FunctionType):
        return "<bound method %s of %s>" % (o.__func__.__qualname__, expect(o.__self__, path))
    if base is types.ModuleType:
        return repr(o)
    if base is object and t.__flags__ & HEAPTYPE and user_class(t):
        attrs = slot_attrs(o)
        d = getattr(o, "__dict__", None)
        if isinstance(d, dict):
            attrs += list(d.items())
        return "<%s(%s) at %#x>" % (tp_name(t), ", ".join(
            "%s=%s" % (k, expect(v, path)) for k, v in attrs), id(o))
    return "<%s object at %#x>" % (tp_name(t), id(o))


def plain(o, seen=()):
    """True when repr(o) involves builtins only (so expect must equal it)."""
    if id(o) in seen:
        return True
    t = type(o)
    if t in (tuple, list, set, frozenset):
        return all(plain(x, seen + (id(o),)) for x in o)
    if t is dict:
        return all(plain(k, seen + (id(o),)) and plain(v, seen + (id(o),)) for k, v in o.items())
    if isinstance(o, BaseException) and t.__module__ == "builtins":
        return plain(o.args, seen)
    if isinstance(o, int) and t is not bool and t is not int:
        return False
    if t is types.MethodType:
        # method_repr is "<bound method qualname of repr(__self__)>"; a str
        # subclass's repr is str's.
        s = o.__self__
        return isinstance(o.__func__, types.FunctionType) and (
            plain(s, seen + (id(o),)) or (isinstance(s, str) and "__repr__" not in vars(type(s))))
    return t in SCALAR_BASES or o is None or t in (types.FunctionType, types.ModuleType, type,
                                                   types.BuiltinFunctionType)


def entry(name, kind, present, value):
    if not present:
        return {"name": name, "kind": kind, "type": "", "repr": "<unbound>", "unbound": True}
    e = expect(value)
    if plain(value):
        r = repr(value)
        if r != e:
            raise AssertionError("expect(%s) = %r, repr = %r" % (name, e, r))
    return {"name": name, "kind": kind, "type": tp_name(type(value)), "repr": e}


def frame_vars(frame):
    code = frame.f_code
    if not code.co_flags & CO_OPTIMIZED:
        # A module or class body: f_locals is its namespace (with, on
        # 3.12+, the variables of a comprehension it runs inlined).
        cells = set(code.co_cellvars)
        return [entry(n, "cell" if n in cells else "local", True, v)
                for n, v in list(frame.f_locals.items())]
    nargs = code.co_argcount + code.co_kwonlyargcount
    nargs += bool(code.co_flags & 0x4) + bool(code.co_flags & 0x8)
    names = []
    for i, n in enumerate(code.co_varnames):
        names.append((n, "arg" if i < nargs else "local"))
    names += [(n, "cell") for n in code.co_cellvars if n not in code.co_varnames]
    names += [(n, "free") for n in code.co_freevars]
    loc = frame.f_locals
    return [entry(n, k, n in loc, loc[n] if n in loc else None) for n, k in names]


def user_globals(g):
    return [entry(k, "global", True, v) for k, v in g.items()
            if not (k.startswith("__") and k.endswith("__"))
            and not isinstance(v, types.ModuleType)]


def parked_frames():
    """The frames of the thread parked in threading's code."""
    stdlib = sysconfig.get_paths()["stdlib"] + os.sep
    while True:
        f = sys._current_frames()[parked.ident]
        if f.f_code.co_name == "wait" and f.f_back.f_code.co_name == "wait":
            break
    out = []
    while f is not None:
        out.append({"function": f.f_code.co_name,
                    "stdlib": f.f_code.co_filename.startswith(stdlib),
                    "globals": [g["name"] for g in user_globals(f.f_globals)]})
        f = f.f_back
    return out


def report():
    frames = []
    f = sys._getframe(1)
    while f is not None:
        frames.append({"function": f.f_code.co_name, "locals": frame_vars(f),
                       "globals": user_globals(f.f_globals)})
        f = f.f_back
    del f
    with open(sys.argv[1], "w") as out:
        json.dump({"pid": os.getpid(), "version": sys.version.split()[0], "frames": frames,
                   "parked": parked_frames()}, out)
    print("ready", flush=True)
    # Answer pings (tests check the target still runs); EOF ends us.
    for line in sys.stdin:
        if line.strip() == "ping":
            print("pong", flush=True)
    os._exit(0)


# --- the values ------------------------------------------------------------

G_INT = 42
G_STR = "global \x1b[1mbold"
G_LIST = [1, "two", 3.0]


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):  # ignored: pyscope cannot run code in the target
        return "Point!"

    def norm(self):
        return self.x

    @classmethod
    def origin(cls):
        return cls(0, 0)


class Slotted:
    __slots__ = ("zeta", "alpha", "mid")

    def __init__(self):
        self.zeta = 1
        self.alpha = "a"  # mid stays unset


class SlottedChild(Slotted):
    __slots__ = ("extra", "__dict__")

    def __init__(self):
        super().__init__()
        self.extra = [1]
        self.dyn = "d"


class MyStr(str):
    def shout(self):
        return self.upper()


class MyInt(int):
    pass


class Color(enum.IntEnum):
    RED = 1


class MyError(Exception):
    pass


class Outer:
    class Inner:
        pass


Evil = type("Evil\x1b[2J\x07\u202e", (), {})


def scalars(a, b=2, *args, kw_only="k", **kwargs):
    none_ = None
    yes, no = True, False
    zero, neg, big = 0, -12345678901234567890, 2 ** 100
    huge = 7 ** 12000  # > 4300 digits: repr() would raise on 3.11+
    my_int, color = MyInt(7), Color.RED
    floats = [0.0, -0.0, 1.0, 100.0, 1e16, 1e15, 123456789012345678.0, 1e22, 1e-4,
              1e-5, 0.1, 1 / 3, 2.5e-300, 5e-324, 1.7976931348623157e308,
              float("inf"), float("-inf"), float("nan"), 9007199254740993.0, 1.5e-7]
    complexes = [1 + 2j, 2j, -2j, complex(-0.0, -1), complex(0.0, -0.0), complex(-0.0, 0.0),
                 complex(1e22, 1e-5), complex(float("inf"), float("nan")),
                 complex(0, float("inf")), 1e16j, complex(1.5, -0.0), complex(-1, 100.0)]
    empty, ascii_ = "", "hello"
    squote, dquote, both = "it's", 'say "hi"', "it's \"both\""
    backslash = "back\\slash"
    controls = "\x00\x07\t\n\r\x1b[31m\x7f"
    latin1 = "caf\xe9 \xa0\xad\xff"
    ucs2 = "\u2603 \u2028 \u200b \ufeff \u0378 \ud800 \u4e2d"
    ucs4 = "\U0001F600 \U000e0001 \U0010ffff a"
    hostile = "\x1b[2J\x1b[H\rowned\x08\u202e"
    long_str = "abcdefghij" * 1000
    sub = MyStr("sub'class")
    bytes_ = [b"", b"it's", b'\x00\xff"\'\\', b"\t\n\r"]
    barr, barr_empty, barr_q = bytearray(b"ab\n"), bytearray(), bytearray(b"it's")
    return containers(a, (b, args, kw_only, kwargs))


def containers(x, rest):
    t0, t1, t3 = (), (1,), (1, "a", None)
    l0, nested = [], [[1, [2, [3, [4]]]]]
    s0, s3, fs0, fs1 = set(), {1, 2, 3}, frozenset(), frozenset({1})
    strs = {"pear", "apple", "fig"}
    holes = set(range(40))
    for i in range(0, 40, 3):
        holes.discard(i)
    d0, d1 = {}, {"a": 1}
    resized = {}
    for i in range(100):
        resized["k%d" % i] = i
    for i in range(0, 100, 7):
        del resized["k%d" % i]
    mixed = {1: "x", (1, 2): None, 2.5: b"x", None: [1]}
    rec_list = [1]
    rec_list.append(rec_list)
    rec_dict = {"k": 1}
    rec_dict["self"] = rec_dict
    rec_tuple = (rec_list,)
    deep = [[[[[[[[[[1]]]]]]]]]]
    many = list(range(1500))
    return objects(len(many))


def module_function():
    pass


def objects(n):
    fn, lam = module_function, lambda: None
    cls, builtin_cls, nested_cls = Point, int, Outer.Inner
    mod_json, mod_sys, mod_os, mod_coll = json, sys, os, collections
    mod_fake = types.ModuleType("fake")
    errs = [ValueError("msg"), KeyError("k"), OSError(2, "No such file"), Exception(),
            MyError("x", 1)]
    # An exception as deep as --json's depth allows a container with items:
    # its arguments are its items, their tuple no level of its own.
    err_deep = ValueError("deep")
    for _ in range(15):
        err_deep = [err_deep]
    p = Point(1, "y")
    p_dict = Point([1], {"k": "v"})
    p_dict.__dict__  # materialise the dict
    p_del = Point(1, 2)
    p_del.z = 3
    del p_del.x
    p_many = Point(0, 0)
    for i in range(40):
        setattr(p_many, "a%d" % i, i)
    slotted, child = Slotted(), SlottedChild()
    evil = Evil()
    lock, rng, builtin_fn = threading.Lock(), range(3), len
    od = collections.OrderedDict()
    # Bound methods: <bound method qualname of repr(__self__)>; __self__
    # within the limits, cycles and redaction of any value.
    bound, bound_cls = p.norm, Point.origin
    bound_sub, bound_int = MyStr("it's").shout, types.MethodType(module_function, 7)
    bound_deep = types.MethodType(module_function, [[[[[[[[[["deep"]]]]]]]]]])
    p_rec = Point(0, 0)
    p_rec.m = p_rec.norm
    bound_rec = p_rec.m
    builtin_meth = [1, 2].append
    return closure(n, p)


def closure(arg_cell, unused):
    cell_var = [arg_cell]
    gone = 1
    del gone

    def inner():
        local_in_inner = "in"
        return cell_var, arg_cell, local_in_inner, report()

    inner()
    later = 1
    return later


def park(ev):
    marker = "parked"
    ev.wait()


if __name__ == "__main__":
    parked = threading.Thread(target=park, args=(threading.Event(),), name="parked", daemon=True)
    parked.start()

    class Runner:
        tag = "class body"
        results = [scalars(1, 2, 3, 4, extra=5) for _i in (0,)]
