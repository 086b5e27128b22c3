"""Names and stacks that make long text: a thread, a function and a file
named with hundreds of thousands of characters, names at the text
output's cut (MAX_NAME characters, and one more), names holding lone
surrogates, and a deep recursion with runs of identical frames of several
lengths.

Once its threads are parked, it writes what Python makes of them to
bounds.json beside the oracle:
each long name's length and first MAX_NAME characters, repr() of the
names with surrogates and their JSON form (surrogates as U+FFFD), and
how the traceback module folds the deep thread's stack
(StackSummary.format of walk_stack: innermost first, as pyscope prints
it; with locals too), and as pyscope folds it with its variables (a run
of identical frames folds only where their variables are identical too).

usage: python bounds.py ORACLE_PATH MAX_NAME
"""
import json
import os
import sys
import threading
import time
import traceback

import pyscope_oracle as po

MAX_NAME = int(sys.argv[2])
DEPTH = 2000 if sys.version_info < (3, 11) else 5000
FLAT = 7

LONG_THREAD = "ñ" * 600_000 + "end"
LONG_FUNC = "ƒ" * 300_000 + "_tail"
LONG_FILE = "/nonexistent/" + "d" * 400_000 + ".py"
EXACT_THREAD = "e" * MAX_NAME
PLUS_ONE_THREAD = "p" * (MAX_NAME + 1)
SURR_THREAD = "sur\udc80rogate\ud800"
SURR_FUNC = "fn\udcff"
SURR_FILE = os.fsdecode(b"/nonexistent/caf\xe9.py")  # surrogateescape

never = threading.Event()


def named(src, file, name):
    """The function src defines, compiled as file and renamed name."""
    return po.renamed(src, file, name, {"never": never})


def three(n):
    if n > 1:
        return three(n - 1)
    return flat([FLAT])


def flat(box):
    box[0] -= 1
    if box[0]:
        return flat(box)  # identical frames, variables too: folded even with them
    never.wait()


def four(n):
    if n > 1:
        return four(n - 1)
    return three(4)  # three identical frames: none folded


def rec(n):
    if n:
        return rec(n - 1)
    return four(5)  # four identical frames: one folded


def folded(frame, locals_):
    """How traceback prints the stack from frame, innermost first."""
    ss = traceback.StackSummary.extract(traceback.walk_stack(frame), capture_locals=locals_)
    return ss.format()


def folded_vars(frame):
    """How pyscope prints the stack from frame with its variables: as
    traceback with capture_locals, except that a run of identical frames
    folds only where their variables (repr()) are identical too."""
    ss = traceback.StackSummary.extract(traceback.walk_stack(frame), capture_locals=True)
    out, prev, run = [], None, 0

    def note():
        if run > 3:
            more = run - 3
            out.append("  [Previous line repeated %d more time%s]\n" % (more, "" if more == 1 else "s"))

    for fs in ss:
        key = (fs.filename, fs.lineno, fs.name, sorted((fs.locals or {}).items()))
        if key == prev:
            run += 1
        else:
            note()
            run = 1
        prev = key
        if run <= 3:
            out.append('  File "%s", line %d, in %s\n' % (fs.filename, fs.lineno, fs.name))
            for name, value in (fs.locals or {}).items():
                out.append("    %s = %s\n" % (name, value))
    note()
    return out


def utf8(s):
    """s as JSON carries it: each lone surrogate U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def main():
    long_waiter = named("def waiter():\n    never.wait()\n", LONG_FILE, LONG_FUNC)
    surr_waiter = named("def waiter():\n    x = 1\n    never.wait()\n", SURR_FILE, SURR_FUNC)
    threads = {
        "long": threading.Thread(target=long_waiter, name=LONG_THREAD),
        "exact": threading.Thread(target=never.wait, name=EXACT_THREAD),
        "plus_one": threading.Thread(target=never.wait, name=PLUS_ONE_THREAD),
        "surrogates": threading.Thread(target=surr_waiter, name=SURR_THREAD),
    }
    sys.setrecursionlimit(DEPTH + 1000)
    old = threading.stack_size(256 << 20)  # room for 3.10's C recursion
    threads["deep"] = threading.Thread(target=rec, args=(DEPTH,), name="deep")
    threading.stack_size(old)
    for t in threads.values():
        t.daemon = True
        t.start()
    frames = settled([t.ident for t in threads.values()])
    deep = frames[threads["deep"].ident]
    facts = {
        "idents": {k: t.ident for k, t in threads.items()},
        "long": {
            "thread": {"len": len(LONG_THREAD), "head": LONG_THREAD[:MAX_NAME]},
            "function": {"len": len(LONG_FUNC), "head": LONG_FUNC[:MAX_NAME]},
            "file": {"len": len(LONG_FILE), "head": LONG_FILE[:MAX_NAME]},
            "exact": {"len": len(EXACT_THREAD), "head": EXACT_THREAD[:MAX_NAME]},
            "plus_one": {"len": len(PLUS_ONE_THREAD), "head": PLUS_ONE_THREAD[:MAX_NAME]},
        },
        "surrogates": {
            name: {"repr": repr(v)[1:-1], "json": utf8(v)}
            for name, v in (("thread", SURR_THREAD), ("function", SURR_FUNC), ("file", SURR_FILE))
        },
        "folded": folded(deep, False),
        "folded_locals": folded(deep, True),
        "folded_vars": folded_vars(deep),
    }
    del frames, deep
    with open(os.path.join(po.workdir(), "bounds.json"), "w") as f:
        json.dump(facts, f)
    # main + 5 threads + responder
    po.start(expected=1 + len(threads) + 1)
    never.wait()


def settled(idents):
    """sys._current_frames() once the threads' stacks stopped moving."""
    prev = None
    while True:
        time.sleep(0.1)
        frames = sys._current_frames()
        now = [[(f.f_code, n) for f, n in traceback.walk_stack(frames[i])] if i in frames else []
               for i in idents]
        if now == prev and all(now):
            return frames
        prev = now


if __name__ == "__main__":
    main()
