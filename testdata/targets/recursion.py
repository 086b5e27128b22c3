"""A Python recursion that goes through C at each level, as a real one
does through a builtin, a decorator or a callback: each call of recurse
goes through functools.partial's C code into a new eval loop, so with
--native each Python frame sits among the same few native frames. The
thread "deep" recurses DEPTH levels and waits.

Once its threads are parked, it writes recursion.json beside the oracle:
the deep thread's ident and the depth it chose, and how many Python frames
its stack holds (sys._current_frames()).

usage: python recursion.py ORACLE_PATH
"""
import functools
import json
import os
import sys
import threading
import time

import pyscope_oracle as po

DEPTH = 1000

never = threading.Event()


def recurse(n):
    if n > 1:
        return step(n - 1)
    never.wait()


step = functools.partial(recurse)


def main():
    sys.setrecursionlimit(DEPTH + 1000)
    old = threading.stack_size(256 << 20)  # room for the C recursion
    deep = threading.Thread(target=recurse, args=(DEPTH,), name="deep", daemon=True)
    threading.stack_size(old)
    deep.start()
    while True:
        frames = sys._current_frames().get(deep.ident)
        n = 0
        while frames is not None:
            n, frames = n + 1, frames.f_back
        if n >= DEPTH:
            break
        time.sleep(0.05)
    with open(os.path.join(po.workdir(), "recursion.json"), "w") as f:
        json.dump({"ident": deep.ident, "depth": DEPTH, "python_frames": n}, f)
    po.start(expected=1 + 1 + 1)  # main, deep, responder
    never.wait()


if __name__ == "__main__":
    main()
