"""Target for the interactive session tests: a small "service" whose
threads park with locals of many kinds.

usage: python session.py ORACLE_PATH [big]

Besides the frame oracle, it writes session.json next to it: for each
py-print expression the tests use, repr() of its value as the interpreter
itself computes it, the locals of Service.handle as frame.f_locals
lists them, and for some missing attributes the AttributeError message
the interpreter gives. With "big", a global dict of 1e6 items exists (for timing).
"""

import json
import os
import sys
import threading
import time

import pyscope_oracle as po

LIMIT = 7
stop = threading.Event()
out = {}
if "big" in sys.argv[2:]:
    big_dict = {i: i for i in range(10**6)}


class Job:
    def __init__(self, name, priority):
        self.name = name
        self.priority = priority


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = "two"


class Service:
    def __init__(self):
        self.queue = [Job("first", 3), Job("second", 1)]
        self.name = "svc"

    def handle(self, request):
        d = {"key": "value", 2: [1, 2.5, None], "nested": {"a": (1,)}, b"raw": -1}
        items = [10, "ten", b"\x00by'tes", 1.5, True, None, 1e22, -0.0]
        ratio = 0.1
        huge = 2**100
        text = "tab\there 'quoted' \u00e9\u20ac\U0001f600"
        slotted = Slotted()
        count = LIMIT
        buf = bytearray(b"ab\xff")

        def inner():
            return request  # makes request a cell variable

        record(sys._getframe(), {
            "self.queue[0].priority": self.queue[0].priority,
            "self.queue[-1].name": self.queue[-1].name,
            "self.name": self.name,
            'd["key"]': d["key"],
            "d[2]": d[2],
            "d[2][1]": d[2][1],
            'd["nested"]': d["nested"],
            'd[b"raw"]': d[b"raw"],
            "items[-1]": items[-1],
            "items[2]": items[2],
            "items[6]": items[6],
            "items": items,
            "ratio": ratio,
            "huge": huge,
            "text": text,
            "slotted.b": slotted.b,
            "count": count,
            "request": request,
            "LIMIT": LIMIT,
            "self.queue[0].__dict__": self.queue[0].__dict__,
            "self.queue[1].__dict__['name']": self.queue[1].__dict__['name'],
            "items[2][0]": items[2][0],
            "items[2][-1]": items[2][-1],
            "buf[2]": buf[2],
            "buf[-3]": buf[-3],
        })
        errors = {}
        for expr, obj, name in [("self.nope", self, "nope"), ("slotted.nope", slotted, "nope"),
                                ("Job.nope", Job, "nope"), ("json.nope", json, "nope"),
                                ("count.nope", count, "nope")]:
            try:
                getattr(obj, name)
            except AttributeError as e:
                errors[expr] = str(e)
        record(sys._getframe(), {}, errors)
        stop.wait()
        return inner


def record(frame, exprs, errors=None):
    if errors is not None:
        out["attr_errors"] = errors
    else:
        out["exprs"] = {k: repr(v) for k, v in exprs.items()}
    out["locals"] = [[k, type(v).__name__, repr(v)] for k, v in frame.f_locals.items()]
    tmp = os.path.join(po.workdir(), "session.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, os.path.join(po.workdir(), "session.json"))


def process(job):
    ns = {"stop": stop, "job": job}
    exec("def waiter(job):\n    stop.wait()\nwaiter(job)\n", ns)


def worker():
    process(Job("work", 5))


def sleeper():
    while True:
        time.sleep(3600)


threading.Thread(target=worker, name="worker-1", daemon=True).start()
threading.Thread(target=sleeper, name="sleeper", daemon=True).start()
po.start(expected=3)
Service().handle("main-request")
