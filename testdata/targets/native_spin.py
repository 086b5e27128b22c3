"""One thread spinning in Python, one spinning in C with the GIL released.

usage: python native_spin.py

"py_spin" runs a Python loop (it holds the GIL whenever it runs). "c_spin"
sorts strings with libc's qsort and strcmp as the comparator through
ctypes, which releases the GIL for the call: its CPU time goes to C
functions, with no Python frame above c_spin. "ready" is printed once
both spin; the main thread answers each "ping" line on stdin with "pong",
and EOF on stdin ends it.
"""

import ctypes
import sys
import threading

libc = ctypes.CDLL(None)
WIDTH = 16
COUNT = 200_000


def py_spin(started):
    started.release()
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def c_spin(started):
    # Strings in reverse order, so that every call has sorting to do.
    words = b"".join(b"%015d\0" % (COUNT - i) for i in range(COUNT))
    buf = ctypes.create_string_buffer(len(words))
    started.release()
    while True:
        ctypes.memmove(buf, words, len(words))
        libc.qsort(buf, COUNT, WIDTH, libc.strcmp)


def main():
    started = threading.Semaphore(0)
    for f in (py_spin, c_spin):
        threading.Thread(target=f, args=(started,), name=f.__name__, daemon=True).start()
    for _ in range(2):
        started.acquire()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "ping":
            print("pong", flush=True)


if __name__ == "__main__":
    main()
