# Target for the core tests. Prints one JSON line of facts taken from the
# interpreter itself, then sleeps ("sleep") or calls os.abort() ("abort").
# An optional extension module path is loaded first (file lookup tests).
import ctypes, importlib.machinery, importlib.util, json, os, sys, threading, time

mode = sys.argv[1]
if len(sys.argv) > 2:
    path = sys.argv[2]
    name = os.path.basename(path).split(".")[0]
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    ext = importlib.util.module_from_spec(spec)

libc = ctypes.CDLL(None, use_errno=True)
started = threading.Barrier(3)
stop = threading.Event()
tids = []


def worker(i):
    libc.prctl(15, ("pyscope-w%d" % i).encode(), 0, 0, 0)  # PR_SET_NAME
    tids.append(threading.get_native_id())
    started.wait()
    stop.wait()


for i in range(2):
    threading.Thread(target=worker, args=(i,), daemon=True).start()
started.wait()

obj = b"pyscope-core-test:" + os.urandom(16).hex().encode()
off = bytes.__basicsize__ - 1  # offset of ob_sval
func = ctypes.cast(ctypes.pythonapi.Py_GetVersion, ctypes.c_void_p).value
facts = {
    "pid": os.getpid(),
    "main_tid": threading.get_native_id(),
    "worker_tids": tids,
    "exe": os.readlink("/proc/self/exe"),
    "obj_addr": id(obj),
    "obj_data_addr": id(obj) + off,
    "obj_data": ctypes.string_at(id(obj) + off, len(obj)).hex(),
    "bytes_type": id(bytes),
    "text_addr": func,
    "text_bytes": ctypes.string_at(func, 16).hex(),
}
print(json.dumps(facts), flush=True)
if mode == "abort":
    os.abort()
time.sleep(600)
