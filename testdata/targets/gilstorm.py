"""GIL hand-offs as often as the interpreter makes them, with invariants a
torn snapshot breaks: in each group, one lock; its holder alone has
`descend` frames, and their `owner` local shows it. `descend` recurses
with `n` counting down, so each chain of frames must read 4, 3, 2, ...
outwards in. Free spinners compete for the GIL without a lock.

usage: python gilstorm.py [GILSTATE_SO]
With GILSTATE_SO (testdata/targets/gilstate.c, built), native threads also
enter the "c" group through PyGILState_Ensure, making and freeing a thread
state each turn. Prints "ready" once every thread runs, and "pong" for
each "ping" line on stdin (EOF ends the process).
"""

import ctypes
import os
import sys
import threading

sys.setswitchinterval(1e-6)
DEPTH = 4


def descend(me, owner, n):
    if n:
        return descend(me, owner, n - 1)
    x = 0
    for _ in range(100):
        x += 1
    return x


def enter(me, lock, owner):
    with lock:
        owner[0] = me
        descend(me, owner, DEPTH)
        owner[0] = None


def worker(me, lock, owner):
    while True:
        enter(me, lock, owner)


def spinner(me):
    while True:
        descend(me, None, DEPTH)


def main():
    started = []
    for g in "ab":
        lock, owner = threading.Lock(), [None]
        for w in range(3):
            me = "%s%d" % (g, w)
            t = threading.Thread(target=worker, args=(me, lock, owner), name=me, daemon=True)
            t.start()
            started.append(t)
    for s in range(2):
        me = "s%d" % s
        threading.Thread(target=spinner, args=(me,), name=me, daemon=True).start()
    if len(sys.argv) > 1:
        lock, owner = threading.Lock(), [None]

        def turn():
            enter("c%d" % threading.get_native_id(), lock, owner)

        lib = ctypes.PyDLL(sys.argv[1])
        lib.start.argtypes = [ctypes.py_object, ctypes.c_int]
        if lib.start(turn, 3) != 0:
            sys.exit("pthread_create failed")
    print("ready", flush=True)
    while True:
        data = os.read(0, 256)
        if not data:
            os._exit(0)
        os.write(1, b"pong\n" * data.count(b"\n"))


if __name__ == "__main__":
    main()
