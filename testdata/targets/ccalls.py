"""The main thread calls Python functions from C in a tight loop (map,
sorted's key): each call enters a new eval loop, so a stop often lands in
an eval loop's prologue or epilogue. Writes functions.json in its working
directory (each function's qualname, file and the lines its code spans),
then prints "ready" and spins until stdin closes; another thread answers
each "ping" line with "pong".

usage: python ccalls.py
"""
import _thread
import json
import os
import sys


def g(x):
    return x


def h(x):
    return x + 1


def loop():
    while True:
        for _ in map(g, range(1000)):
            pass
        sorted(range(100), key=h)


def spans():
    out = []
    for f in (g, h, loop, main, respond):
        code = f.__code__
        lines = [ln for _, _, ln in code.co_lines() if ln is not None]
        out.append({"qualname": f.__qualname__, "file": code.co_filename,
                    "first": min(lines + [code.co_firstlineno]), "last": max(lines)})
    out.append({"qualname": "<module>", "file": __file__, "first": 1, "last": 10**6})
    return out


def main():
    with open("functions.json", "w") as f:
        json.dump(spans(), f)
    _thread.start_new_thread(respond, ())
    print("ready", flush=True)
    loop()


def respond():
    for line in sys.stdin:
        if line.strip() == "ping":
            print("pong", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
