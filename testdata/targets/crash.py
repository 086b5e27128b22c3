"""Crashes on purpose, for the core dump tests.

usage: python crash.py abort|segv

Starts threads that park in known places (nested functions, a deep
recursion, a non-ASCII name, a _thread thread outside threading's
registry), waits until they are parked, prints one JSON line about itself
on stdout, then crashes: `abort` calls os.abort() in the main thread,
`segv` reads address 0 with ctypes.string_at(0) in a thread named
"crasher". Run it with PYTHONFAULTHANDLER=1 to have the interpreter print
every thread's stack on stderr, and with `ulimit -c unlimited` in a
directory where the kernel may write the core.
"""

import _thread
import ctypes
import json
import os
import sys
import threading
import time

never = threading.Event()
go = threading.Event()
ids = {}  # ident -> native id, for every thread that will be parked
lock = threading.Lock()


def checkin():
    with lock:
        ids[threading.get_ident()] = threading.get_native_id()


def outer():
    def middle():
        def inner():
            checkin()
            never.wait()
        inner()
    middle()


def recurse(n):
    if n == 0:
        checkin()
        never.wait()
    else:
        recurse(n - 1)


def wärme_ünter():
    checkin()
    never.wait()


def raw_thread():
    checkin()
    never.wait()


def crasher():
    checkin()
    go.wait()
    # Crash only once the main thread is parked too: faulthandler and the
    # core must see the same stacks.
    main = threading.main_thread()
    stable = 0
    while stable < 3:
        f = sys._current_frames().get(main.ident)
        ok = f is not None and f.f_code.co_name in ("wait", "acquire")
        stable = stable + 1 if ok and state(main.native_id) == "S" else 0
        time.sleep(0.02)
    ctypes.string_at(0)


def state(tid):
    try:
        with open("/proc/self/task/%d/stat" % tid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def parked(want):
    """Every thread is blocked in a wait: sleeping, in a lock acquire."""
    frames = sys._current_frames()
    with lock:
        if len(ids) < want:
            return False
        for ident, tid in ids.items():
            f = frames.get(ident)
            if f is None or state(tid) != "S":
                return False
            if f.f_code.co_name not in ("wait", "acquire"):
                return False
    return True


def main():
    mode = sys.argv[1]
    threads = [
        threading.Thread(target=outer, name="nested"),
        threading.Thread(target=recurse, args=(40,), name="deep"),
        threading.Thread(target=wärme_ünter, name="wörker-ß"),
    ]
    if mode == "segv":
        threads.append(threading.Thread(target=crasher, name="crasher"))
    for t in threads:
        t.start()
    _thread.start_new_thread(raw_thread, ())
    want = len(threads) + 1
    stable = 0
    deadline = time.time() + 30
    while stable < 3:
        if time.time() > deadline:
            sys.exit("threads did not park")
        stable = stable + 1 if parked(want) else 0
        time.sleep(0.02)
    names = {str(t.ident): t.name for t in threading.enumerate()}
    crash = threading.main_thread() if mode == "abort" else threads[-1]
    with lock:
        info = {
            "pid": os.getpid(),
            "native_ids": {str(k): v for k, v in ids.items()},
            "names": names,
            "main": threading.main_thread().ident,
            "main_native_id": threading.get_native_id(),
            "crasher": crash.ident,
            # Free-threaded builds have no GIL unless it was re-enabled.
            "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
        }
    print(json.dumps(info), flush=True)
    if mode == "abort":
        os.abort()
    go.set()
    never.wait()


main()
