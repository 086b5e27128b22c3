"""Nested subinterpreters on two threads, and an eval loop with no Python
frame left.

usage: python subinterp_nested.py ORACLE_PATH
Threads chain-0 and chain-1 each run a chain of three nested
subinterpreters (the main interpreter runs level 1, which runs level 2,
which runs level 3, which sleeps). Each level writes its own view of its
stack to ORACLE_PATH + ".chain-C.L" just before it calls the next one (on
the same line, so the frame's line stays put). Thread gen-clear blocks in a
generator's finalization: the generator returned, its frame is being
cleared, and a local's __del__ sleeps in C, so the eval loop that ran the
generator (3.12+) is left with only its entry frame.
"""
import functools
import os
import sys
import threading
import time

import pyscope_oracle as po

DEPTH = 3
CHAINS = 2
LEVEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "subinterp_level.py")
BASE = os.path.abspath(sys.argv[1])


def level_code(chain, level):
    return ("CHAIN, LEVEL, DEPTH, BASE, LEVEL_FILE = %d, %d, %d, %r, %r\n"
            "exec(compile(open(LEVEL_FILE).read(), LEVEL_FILE, 'exec'))\n" % (chain, level, DEPTH, BASE, LEVEL))


def run_chain(chain):
    po.checkin()
    g = {"__name__": "subinterp_level_main", "LEVEL_FILE": LEVEL}
    exec(compile(open(LEVEL).read(), LEVEL, "exec"), g)
    g["run_nested"](level_code(chain, 1))


class SleepOnDel:
    # Not a Python function: the finalizer blocks in C, with no frame.
    __del__ = staticmethod(functools.partial(time.sleep, 100000))


def finished_generator():
    obj = SleepOnDel()  # noqa: F841  freed when the generator's frame is cleared
    yield


def clear_generator():
    po.checkin()
    g = finished_generator()
    next(g)
    next(g, None)


def main():
    for c in range(CHAINS):
        threading.Thread(target=run_chain, args=(c,), name="chain-%d" % c, daemon=True).start()
    threading.Thread(target=clear_generator, name="gen-clear", daemon=True).start()
    want = ["%s.chain-%d.%d" % (BASE, c, lv) for c in range(CHAINS) for lv in range(1, DEPTH + 1)]
    for _ in range(1200):
        if all(os.path.exists(p) for p in want):
            break
        time.sleep(0.05)
    # main + chains + gen-clear + responder
    po.start(expected=CHAINS + 3)
    threading.Event().wait()


if __name__ == "__main__":
    main()
