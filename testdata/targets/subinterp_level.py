"""One level of subinterp_nested.py's chains, run inside a subinterpreter
(CHAIN, LEVEL, DEPTH, BASE and LEVEL_FILE are set by the code that runs it); also
loaded in the main interpreter for run_nested."""
import json
import os
import sys
import threading
import time

try:
    import _interpreters as interpreters  # 3.13+
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.12


def run_nested(code, path=None):
    """Runs code in a new subinterpreter on this thread, after recording
    the stack (when path is set)."""
    if path:
        record(path); interpreters.run_string(interpreters.create(), code)  # noqa: E702  one line
    else:
        interpreters.run_string(interpreters.create(), code)


def current_id():
    cur = interpreters.get_current()
    return int(cur[0] if isinstance(cur, tuple) else cur)


def record(path):
    """Writes this interpreter's view of the caller's stack."""
    f = sys._getframe(1)
    frames = []
    while f is not None:
        code = f.f_code
        frames.append({"function": code.co_name,
                       "qualname": getattr(code, "co_qualname", code.co_name),
                       "file": code.co_filename, "line": f.f_lineno})
        f = f.f_back
    with open(path + ".tmp", "w") as out:
        json.dump({"native_id": threading.get_native_id(), "interpreter": current_id(),
                   "frames": frames}, out)
    os.replace(path + ".tmp", path)


def enter(chain, level):
    path = "%s.chain-%d.%d" % (BASE, chain, level)  # noqa: F821  set by the runner
    if level < DEPTH:  # noqa: F821
        code = ("CHAIN, LEVEL, DEPTH, BASE, LEVEL_FILE = %d, %d, %d, %r, %r\n"
                "exec(compile(open(LEVEL_FILE).read(), LEVEL_FILE, 'exec'))\n"
                % (chain, level + 1, DEPTH, BASE, LEVEL_FILE))  # noqa: F821
        run_nested(code, path)
    else:
        record(path); time.sleep(100000)  # noqa: E702  one line: the frame's line stays put


if __name__ != "subinterp_level_main":
    enter(CHAIN, LEVEL)  # noqa: F821
