# Run by live_test.go under a reference interpreter. It prints one JSON line
# of ground truth about objects it keeps alive, then serves reads of its own
# memory (ctypes) from inside probe(), so probe's frame is the current one:
#   "r ADDR N"  -> hex of N bytes at ADDR
#   "bump"      -> adds 100 references to REFOBJ
#   "quit"
import builtins, ctypes, dis, gc, json, sys, threading, types

api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
api.PyInterpreterState_Get.restype = ctypes.c_void_p
read = ctypes._string_at  # a C call: pushes no Python frame


class C:
    pass


class S(str):
    pass


class P:
    pass


def target(p, /, a, b, *args, c, d=1, **kw):
    x = a + b
    return x


def gen_with_cell():
    x = 1
    yield (lambda: x)


def gen_plain():
    yield 1


def gen_stack(a, b):
    x = a + b
    yield x
    return x


def outer():
    v = [1, 2]
    def inner():
        return v
    return inner


worker = {}
ready = threading.Event()
stop = threading.Event()


def work():
    worker["tstate"] = api.PyThreadState_Get()
    worker["ident"] = threading.get_ident()
    worker["native"] = getattr(threading, "get_native_id", lambda: 0)()
    ready.set()
    stop.wait()


REFOBJ = object()
HOLD = []
SPLIT = P()
SPLIT.x = "xval"
SPLIT.y = 12345678
MANAGED = P()
MANAGED.z = 1
MANAGED_DICT = MANAGED.__dict__  # materialised: the managed dict pointer holds it
MOD = types.ModuleType("modx")
BA = bytearray(b"bytearray-data")
BA_BUF = (ctypes.c_char * len(BA)).from_buffer(BA)
FUNC = outer()
GEN = gen_plain()
SGEN = gen_stack(1, 2)
next(SGEN)  # suspended: its frame's stack pointer is saved
EXC = ValueError("x", 2)


def chained():
    """An exception raised from another while handling a third, and its
    traceback (tb_next is the frame that raised)."""
    try:
        try:
            raise KeyError("context")
        except KeyError:
            raise_from()
    except ValueError as e:
        return e


def raise_from():
    raise ValueError("outer") from OSError("cause")


CHAINED = chained()
CHAINED_TB = CHAINED.__traceback__
STRS = ["hello world", "h\xe9llo", "\u20acuro", "\U0001d11e!", S("subclass")]
DICT_U = {"alpha": 1, "beta": 2}
DICT_G = {1: "a", 2: "b"}
SET = {"a", "b", "c"}
LIST = [REFOBJ, 7, 8]
TUPLE = (REFOBJ, 9)
BOUND = LIST.append  # a builtin method: m_self is LIST
# Locks as the lock analysis reads them: one held, one free, an RLock
# taken twice, all by the main thread.
LOCKED, UNLOCKED, RLOCK = threading.Lock(), threading.Lock(), threading.RLock()
LOCKED.acquire()
RLOCK.acquire()
RLOCK.acquire()


class CM:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


CM_OBJ = CM()
BOUND_EXIT = CM_OBJ.__exit__
DONE = threading.Thread(target=lambda: None)
DONE.start()
DONE.join()


def handle(t):
    return id(getattr(t, "_os_thread_handle", None) or getattr(t, "_handle", None))


def gen_with():
    x = 1
    with CM_OBJ:
        yield x


SWITH = gen_with()
next(SWITH)  # suspended inside its with block
# The interpreter struct as a collection sees it (gc.collecting is 1).
IN_GC = {}


def gc_seen(phase, info):
    if phase == "start" and "blob" not in IN_GC:
        IN_GC["blob"] = read(api.PyInterpreterState_Get(), 16384).hex()


gc.callbacks.append(gc_seen)
gc.collect()
gc.callbacks.remove(gc_seen)


def heapmod():
    try:
        import _csv
        t = type(_csv.reader([]))
        api.PyType_GetModule.restype = ctypes.c_void_p
        api.PyType_GetModule.argtypes = [ctypes.py_object]
        return id(t), api.PyType_GetModule(t)
    except Exception:
        return 0, 0


def first_resume(co):
    for ins in dis.get_instructions(co):
        if ins.opname.startswith("RESUME"):
            return ins.offset // 2
    return -1


def probe(anchor):
    global GC_YOUNG
    # Everything tracked so far goes to the permanent generation; a list
    # made afterwards is in the youngest one.
    gc.disable()
    gc.collect(0)
    gc.collect(1)
    gc.freeze()
    GC_YOUNG = [1]
    f = sys._getframe()
    co = target.__code__
    th, hm = heapmod()
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    cells = [c for c in co.co_cellvars if c not in co.co_varnames]
    truth = {
        "version": list(sys.version_info[:3]),
        "runtime": rt,
        "interp": api.PyInterpreterState_Get(),
        "tstate": api.PyThreadState_Get(),
        "ident": threading.get_ident(),
        "native": getattr(threading, "get_native_id", lambda: 0)(),
        "main_ident": threading.main_thread().ident,
        "worker_tstate": worker["tstate"],
        "worker_ident": worker["ident"],
        "worker_native": worker["native"],
        "modules": id(sys.modules),
        "sysdict": id(sys.__dict__),
        "builtins": id(builtins.__dict__),
        "frame": id(f),
        "caller_frame": id(f.f_back),
        "anchor": id(anchor),
        "probe_code": id(probe.__code__),
        "probe_func": id(probe),
        "probe_nlocalsplus": len(probe.__code__.co_varnames) + len(probe.__code__.co_cellvars) + len(probe.__code__.co_freevars),
        "globals": id(globals()),
        "code": id(co),
        "co_filename": id(co.co_filename),
        "co_name": id(co.co_name),
        "co_qualname": id(getattr(co, "co_qualname", None)),
        "co_linetable": id(co.co_linetable),
        "co_firstlineno": co.co_firstlineno,
        "co_argcount": co.co_argcount,
        "co_posonlyargcount": co.co_posonlyargcount,
        "co_kwonlyargcount": co.co_kwonlyargcount,
        "co_flags": co.co_flags,
        "co_nlocals": co.co_nlocals,
        "co_nlocalsplus": len(co.co_varnames) + len(cells) + len(co.co_freevars),
        "co_varnames": [id(n) for n in co.co_varnames],
        "co_varnames_tuple": id(co.co_varnames),
        "co_cellvars_tuple": id(co.co_cellvars),
        "co_freevars_tuple": id(co.co_freevars),
        "co_code_obj": id(co.co_code),
        "co_code": co.co_code.hex(),
        "co_instr": [i.offset for i in dis.get_instructions(co)],
        "gen_code": id(gen_with_cell.__code__),
        "gen_firsttraceable": first_resume(gen_with_cell.__code__),
        "tuple_type": id(tuple),
        "bytes_type": id(bytes),
        "refobj": id(REFOBJ),
        "class": id(C),
        "class_basicsize": C.__basicsize__,
        "class_itemsize": C.__itemsize__,
        "class_flags": C.__flags__,
        "class_dictoffset": C.__dictoffset__,
        "class_base": id(C.__base__),
        "class_mro": id(C.__mro__),
        "class_dict": id(gc.get_referents(C.__dict__)[0]),
        "class_qualname": id(C.__qualname__),
        "int_type": id(int),
        "int_itemsize": int.__itemsize__,
        "heap_type": th,
        "heap_module": hm,
        "split": id(SPLIT),
        "split_basicsize": P.__basicsize__,
        "split_x": id(SPLIT.x),
        "split_y": id(SPLIT.y),
        "managed": id(MANAGED),
        "managed_dict": id(MANAGED_DICT),
        "strs": [[id(s), len(s), s.encode("utf-32-le").hex(), max(map(ord, s)), type(s) is str] for s in STRS],
        "bytes": id(b"bytes-data"),
        "bytearray": id(BA),
        "bytearray_alloc": BA.__alloc__(),
        "bytearray_buf": ctypes.addressof(BA_BUF),
        "bytearray_len": len(BA),
        "tuple": id(TUPLE),
        "tuple_items": [id(x) for x in TUPLE],
        "list": id(LIST),
        "list_items": [id(x) for x in LIST],
        "list_alloc": (LIST.__sizeof__() - [].__sizeof__()) // 8,
        "dict_u": id(DICT_U),
        "dict_u_items": [[id(k), id(v)] for k, v in DICT_U.items()],
        "dict_g": id(DICT_G),
        "dict_g_items": [[hash(k), id(k), id(v)] for k, v in DICT_G.items()],
        "set": id(SET),
        "set_keys": sorted(id(k) for k in SET),
        "long": id(12345), "long_neg": id(-54321),
        "float": id(2.5),
        "complex": id(1.5 + 2.5j),
        "cell": id(FUNC.__closure__[0]),
        "cell_ref": id(FUNC.__closure__[0].cell_contents),
        "func": id(FUNC),
        "func_code": id(FUNC.__code__),
        "func_globals": id(FUNC.__globals__),
        "func_name": id(FUNC.__name__),
        "func_qualname": id(FUNC.__qualname__),
        "func_module": id(FUNC.__module__),
        "func_closure": id(FUNC.__closure__),
        "module": id(MOD),
        "module_dict": id(MOD.__dict__),
        "module_name": id(MOD.__name__),
        "gen": id(GEN),
        "gen_name": id(GEN.__name__),
        "gen_qualname": id(GEN.__qualname__),
        "gen_plain_code": id(GEN.gi_code),
        "sgen": id(SGEN),
        "sgen_nlocalsplus": len(gen_stack.__code__.co_varnames),
        "sgen_stacksize": gen_stack.__code__.co_stacksize,
        "object_type": id(object),
        "exc": id(EXC),
        "exc_args": id(EXC.args),
        "chained": id(CHAINED),
        "chained_tb": id(CHAINED_TB),
        "chained_context": id(CHAINED.__context__),
        "chained_cause": id(CHAINED.__cause__),
        "chained_suppress": int(CHAINED.__suppress_context__),
        "tb_next": id(CHAINED_TB.tb_next),
        "tb_frame": id(CHAINED_TB.tb_frame),
        "tb_lasti": CHAINED_TB.tb_lasti,
        "tb_lineno": CHAINED_TB.tb_lineno,
        "cfunc": id(len),
        "cfunc_self": id(len.__self__),
        "cmethod": id(BOUND),
        "cmethod_self": id(BOUND.__self__),
        "gc_frozen": id(LIST),
        "gc_young": id(GC_YOUNG),
        "gc_collections": [st["collections"] for st in gc.get_stats()],
        "probe_stacksize": probe.__code__.co_stacksize,
        "probe_names": id(probe.__code__.co_names),
        "probe_exceptiontable": id(getattr(probe.__code__, "co_exceptiontable", None)),
        "locked": id(LOCKED),
        "unlocked": id(UNLOCKED),
        "rlock": id(RLOCK),
        "swith": id(SWITH),
        "swith_nlocals": len(gen_with.__code__.co_varnames),
        "setup_finally": dis.opmap.get("SETUP_FINALLY", -1),
        "swith_handler": next((i.argval // 2 for i in dis.get_instructions(gen_with) if i.opname == "SETUP_WITH"), -1),
        "method_type": id(types.MethodType),
        "interp_in_gc": IN_GC["blob"],
        "bound_exit": id(BOUND_EXIT),
        "bound_exit_func": id(CM.__exit__),
        "cm": id(CM_OBJ),
        "done_handle": handle(DONE),
        "worker_handle": handle(WORKER),
    }
    sys.stdout.write(json.dumps(truth) + "\n")
    sys.stdout.flush()
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    while True:
        line = inp.readline().split()
        if not line or line[0] == b"quit":
            break
        if line[0] == b"bump":
            HOLD.extend([REFOBJ] * 100)
            out.write(b"ok\n")
        elif line[0] == b"switch":
            # Another thread takes the GIL and hands it back: two switches.
            t = threading.Thread(target=len, args=((),))
            t.start()
            t.join()
            out.write(b"ok\n")
        else:
            out.write(read(int(line[1]), int(line[2])).hex().encode() + b"\n")
        out.flush()


def run():
    anchor = ["anchor"]
    probe(anchor)


WORKER = threading.Thread(target=work, daemon=True)
WORKER.start()
ready.wait()
run()
stop.set()
