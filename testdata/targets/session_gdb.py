"""Target for the session's gdb commands (info frame, info args, bt full,
frame function): a thread parked in a static method called from a
recursion whose frames take every kind of argument, under a frame that
has no variable at all.

usage: python session_gdb.py ORACLE_PATH

It writes session_gdb.json next to the oracle: for each frame from
Handler.handle outwards, the id() of its code object, its arguments as
the code object defines them (co_argcount, co_kwonlyargcount, *args,
**kwargs) with repr() of their values, and repr() of its f_locals.
"""

import json
import os
import sys
import threading

import pyscope_oracle as po

CO_VARARGS, CO_VARKEYWORDS = 0x04, 0x08
stop = threading.Event()


def args_of(frame):
    code = frame.f_code
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & CO_VARARGS) + bool(code.co_flags & CO_VARKEYWORDS)
    return [[name, repr(frame.f_locals[name])] for name in code.co_varnames[:n]]


def describe(frame):
    out = []
    while frame is not None:
        out.append({
            "code": id(frame.f_code),
            "args": args_of(frame),
            "locals": [[k, repr(v)] for k, v in frame.f_locals.items()],
        })
        frame = frame.f_back
    return out


class Handler:
    @staticmethod
    def handle(size, /, kind, *, tag):
        label = "%s-%d" % (kind, size)

        def later():
            return size  # size is a cell

        frames = describe(sys._getframe())
        tmp = os.path.join(po.workdir(), "session_gdb.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"frames": frames}, f)
        os.replace(tmp, os.path.join(po.workdir(), "session_gdb.json"))
        del frames
        stop.wait()
        return label, later


def recurse(n, *rest, scale=2, **opts):
    total = n * scale
    if n > 0:
        return recurse(n - 1, *rest, scale=scale, **opts)
    return Handler.handle(total, "job", tag="t")


def start():
    # A frame without arguments or other variables.
    return recurse(3, "extra", verbose=True)


def main():
    threading.Thread(target=start, name="gdbcmds", daemon=True).start()
    po.start(expected=2)
    stop.wait()


if __name__ == "__main__":
    main()
