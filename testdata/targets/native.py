"""C frames between Python frames, and a thread that Python does not know.

usage: python native.py ORACLE_PATH

The main thread sorts with libc's qsort through a ctypes callback; the first
call of the callback records its own stack (traceback.extract_stack) and
blocks, so the stack reads: Python (callback) / C (libffi, qsort) / Python.
A thread created by pthread_create runs libc's pause() and never touches
Python. A Python thread waits on an Event. The oracle (JSON at argv[1])
holds the callback's stack, outermost first, and the thread ids; then
"ready" is printed. Each "ping" line on stdin is answered with "pong".
"""

import ctypes
import json
import os
import sys
import threading
import time
import traceback

libc = ctypes.CDLL(None, use_errno=True)
never = threading.Event()
oracle = {"pid": os.getpid()}


def tasks():
    return set(int(t) for t in os.listdir("/proc/self/task"))


def state(tid):
    try:
        with open("/proc/self/task/%d/stat" % tid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def start_native_thread():
    before = tasks()
    tid = ctypes.c_ulong()
    start = ctypes.cast(libc.pause, ctypes.c_void_p)
    rc = libc.pthread_create(ctypes.byref(tid), None, start, None)
    if rc != 0:
        raise OSError(rc, "pthread_create")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = tasks() - before
        if new:
            oracle["native_tid"] = new.pop()
            oracle["native_pthread"] = tid.value
            return
        time.sleep(0.001)
    raise RuntimeError("native thread never appeared")


def idle():
    oracle["idle_tid"] = threading.get_native_id()
    oracle["idle_ident"] = threading.get_ident()
    never.wait()


def respond():
    while True:
        data = os.read(0, 256)
        if not data:
            os._exit(0)
        os.write(1, b"pong\n" * data.count(b"\n"))


def report(stack):
    oracle["callback_stack"] = [
        {"function": fs.name, "file": fs.filename, "line": fs.lineno} for fs in stack
    ]
    oracle["main_tid"] = threading.get_native_id()
    oracle["main_ident"] = threading.get_ident()
    # Everything else must be asleep before the oracle is written.
    others = [oracle["native_tid"], oracle["idle_tid"]]
    deadline = time.monotonic() + 20
    while any(state(t) != "S" for t in others):
        if time.monotonic() > deadline:
            sys.exit("threads never settled")
        time.sleep(0.01)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(oracle, f)
    os.replace(tmp, sys.argv[1])
    threading.Thread(target=report_ready, daemon=True).start()


def report_ready():
    # Printed once the main thread is parked in the callback.
    deadline = time.monotonic() + 20
    while state(oracle["main_tid"]) != "S":
        if time.monotonic() > deadline:
            os._exit(3)
        time.sleep(0.01)
    time.sleep(0.05)
    os.write(1, b"ready\n")
    respond()


blocked = []


def compare(a, b):
    if not blocked:
        blocked.append(True)
        stack = traceback.extract_stack(); report(stack); never.wait()  # noqa: E702
    return a[0] - b[0]


CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def sort_with_qsort():
    arr = (ctypes.c_int * 8)(5, 3, 7, 1, 2, 8, 6, 4)
    libc.qsort(arr, len(arr), ctypes.sizeof(ctypes.c_int), CMP(compare))


def main():
    start_native_thread()
    threading.Thread(target=idle, name="idle", daemon=True).start()
    while "idle_tid" not in oracle:
        time.sleep(0.001)
    sort_with_qsort()


if __name__ == "__main__":
    main()
