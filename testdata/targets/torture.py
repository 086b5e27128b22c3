"""Eight threads that change their stacks as fast as they can: each one
recurses to a varying depth and returns, rebinding locals on the way, for
ever. Used to prove that a dump never shows a torn frame.

usage: python torture.py ORACLE_PATH

Before it prints "ready", the target writes ORACLE_PATH: its own account of
the stacks its workers can have, taken from the interpreter itself:
- "outer": each worker's frames outside worker(), from traceback;
- "calls": the call sites, from dis: function -> line -> callee, for the
  calls between worker, descend and leaf;
- "lines": every line each of those functions has code on (co_lines);
- "workers": thread ident -> the worker's tag.
"""

import dis
import json
import os
import sys
import threading
import traceback

THREADS = 8
MAXDEPTH = 12
started = threading.Barrier(THREADS + 1)
running = threading.Semaphore(0)  # released by each worker once in its loop
outer = {}


def leaf(tag, n):
    x = [tag, n]
    x.append(len(x))
    return x[-1]


def descend(n, tag):
    marker = n * 7 + tag
    if n == 0:
        return leaf(tag, n) + marker
    r = descend(n - 1, tag)
    return r + marker


def worker(tag):
    outer[threading.get_ident()] = [[f.name, f.filename, f.lineno] for f in traceback.extract_stack()[:-1]]
    started.wait()
    i = 0
    while True:
        i += 1
        descend((i * 5 + tag) % MAXDEPTH, tag)
        if i == 1:
            running.release()


FUNCS = {"worker": worker, "descend": descend, "leaf": leaf}


def call_sites(fn):
    """line -> name of the function called there, for calls to FUNCS. The
    callee is the first global loaded since the previous call."""
    sites = {}
    callee, line = None, None
    for ins in dis.get_instructions(fn):
        if hasattr(ins, "line_number"):  # 3.13+
            line = ins.line_number
        elif ins.starts_line is not None:
            line = ins.starts_line
        if ins.opname == "LOAD_GLOBAL" and callee is None:
            callee = ins.argval
        elif ins.opname.startswith("CALL"):
            if callee in FUNCS:
                sites[line] = callee
            callee = None
    return sites


def code_lines(fn):
    co = fn.__code__
    if hasattr(co, "co_lines"):
        return sorted({l for _, _, l in co.co_lines() if l is not None})
    return sorted({l for _, l in dis.findlinestarts(co)})


def main():
    # The workers keep every core busy: let the dumping tool run first.
    os.nice(19)
    threads = [threading.Thread(target=worker, args=(tag,), name="worker-%d" % tag, daemon=True)
               for tag in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    for _ in threads:
        running.acquire()
    oracle = {
        "outer": {str(k): v for k, v in outer.items()},
        "calls": {name: {str(l): c for l, c in call_sites(fn).items()} for name, fn in FUNCS.items()},
        "lines": {name: code_lines(fn) for name, fn in FUNCS.items()},
        "workers": {str(t.ident): tag for tag, t in enumerate(threads)},
        "file": os.path.abspath(__file__),
    }
    path = sys.argv[1]
    with open(path + ".tmp", "w") as f:
        json.dump(oracle, f)
    os.replace(path + ".tmp", path)
    print("ready", flush=True)
    # Answer each "ping" line; end when the test closes our stdin.
    while True:
        data = os.read(0, 256)
        if not data:
            os._exit(0)
        os.write(1, b"pong\n" * data.count(b"\n"))


main()
