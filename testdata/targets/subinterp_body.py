"""Runs inside a subinterpreter (see subinterp.py): records its own stack,
as this interpreter sees it, then blocks on the same line."""
import json
import sys
import threading
import time


def record(path):
    f = sys._getframe(1)
    frames = []
    while f is not None:
        code = f.f_code
        frames.append({"function": code.co_name,
                       "qualname": getattr(code, "co_qualname", code.co_name),
                       "file": code.co_filename, "line": f.f_lineno})
        f = f.f_back
    with open(path + ".tmp", "w") as out:
        json.dump({"native_id": threading.get_native_id(), "frames": frames}, out)
    import os
    os.replace(path + ".tmp", path)


def park_in_subinterpreter(path):
    record(path); time.sleep(100000)  # noqa: E702  one line: the frame's line stays put


park_in_subinterpreter(SUB_ORACLE)  # noqa: F821  set by subinterp.py
