"""A gevent program with a hub, and the target's own view of its greenlets
(the greenlets oracle).

The main greenlet spawns 20 handlers that sleep in gevent (parked in the
hub), then a blocker that, once they all sleep, records every greenlet the
collector tracks (gc.get_objects(): the target's own list) with its state,
parent and the frames gr_frame walks, then blocks the thread without
yielding to the hub: the blocker runs, the hub and the main greenlet wait
below it. No monkey-patching: pyscope_oracle's threads stay threads.

usage: python gevent_hub.py ORACLE_PATH [SITE_DIR]
"""

import gc
import json
import os
import sys
import threading

if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])

import gevent
import greenlet

import pyscope_oracle as po

HOUR = 3600
never = threading.Event()


def fetch(i):
    gevent.sleep(HOUR)


def handler(i):
    fetch(i)


def state(g):
    if g.dead:
        return "dead"
    if g is greenlet.getcurrent():
        return "running"
    return "suspended"


def blocker():
    me = threading.get_ident()
    entries = []
    for g in gc.get_objects():
        if not isinstance(g, greenlet.greenlet):
            continue
        entries.append({
            "id": id(g),
            "state": state(g),
            "not_started": not g and not g.dead,
            "thread_id": me,
            "parent": id(g.parent) if g.parent is not None else None,
            "main": g.parent is None,
            "type": type(g).__module__ + "." + type(g).__qualname__,
            "frames": po._frames(g.gr_frame) if g.gr_frame is not None else [],
        })
    path = os.path.abspath(sys.argv[1]) + ".greenlets.json"
    with open(path + ".tmp", "w") as f:
        json.dump({"greenlets": entries, "version": greenlet.__version__,
                   "gevent": gevent.__version__, "hub": id(gevent.get_hub())}, f, indent=1)
    os.replace(path + ".tmp", path)
    po.start(expected=1)
    never.wait()  # blocks the thread: the hub never runs again


def main():
    handlers = [gevent.spawn(handler, i) for i in range(20)]
    gevent.sleep(0.05)  # every handler is asleep in the hub
    gevent.joinall([gevent.spawn(blocker)] + handlers)


if __name__ == "__main__":
    main()
