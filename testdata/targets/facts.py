"""Parks two threads besides the main one and writes what `pyscope ps`
should say of this process, as the interpreter itself knows it.

usage: python facts.py FACTS_PATH
"""

import ctypes
import json
import os
import platform
import pwd
import sys
import sysconfig
import threading


class DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def runtime_file():
    """The file the dynamic linker loaded the C API from: the executable
    (a static build) or libpython (a shared one)."""
    libdl = ctypes.CDLL(None)
    info = DlInfo()
    addr = ctypes.cast(ctypes.pythonapi.Py_GetVersion, ctypes.c_void_p)
    if not libdl.dladdr(addr, ctypes.byref(info)):
        raise SystemExit("dladdr failed")
    return os.path.realpath(info.dli_fname.decode())


def main():
    never = threading.Event()
    for _ in range(2):
        threading.Thread(target=never.wait, daemon=True).start()
    exe = os.path.realpath(sys.executable)
    lib = runtime_file()
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "version": platform.python_version(),
        "executable": exe,
        "shared": lib != exe,
        "library": lib if lib != exe else None,
        "debug": hasattr(sys, "gettotalrefcount"),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "threads": threading.active_count(),
        "cmdline": sys.orig_argv,
    }
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump(facts, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    print("ready", flush=True)
    never.wait()


main()
