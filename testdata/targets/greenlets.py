"""Greenlets in every state pyscope must show, and the target's own view of
them (the greenlets oracle).

The main thread parks 100 greenlets in known functions (at three depths),
5 more whose parent is another greenlet, a greenlet subclass, one that
never started and one that finished; a worker thread parks 10 of its own.
Each thread then runs a greenlet that blocks the thread. Before blocking,
each running greenlet records its thread's greenlets: id, state, parent,
and the frames greenlet.gr_frame walks (f_back, f_lineno), innermost first;
then ORACLE.greenlets.json is written and pyscope_oracle reports the
threads (whose stacks are the running greenlets' frames).

Two threads park greenlets and exit before the worker starts (which then
likely runs on a stack glibc kept from one of them): greenlet calls those
greenlets dead. The program looks at the first thread's greenlets (g.dead,
as repr() and gevent's run info do), which clears their stack state; the
second thread's are left as the thread left them, and their view is taken
in a forked child (gr_frame before g.dead), so that the parent's stay
untouched.

usage: python greenlets.py ORACLE_PATH [SITE_DIR]
"""

import json
import os
import sys
import threading
import time

if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])

import greenlet

import pyscope_oracle as po

never = threading.Event()
recorded = threading.Event()
lock = threading.Lock()
ENTRIES = []


class MyGreenlet(greenlet.greenlet):
    pass


def park(i):
    greenlet.getcurrent().parent.switch(i)


def middle(i):
    park(i)


def deep(i, n):
    if n > 0:
        deep(i, n - 1)
    else:
        middle(i)


def nest():
    """Starts greenlets whose parent is this greenlet, then parks."""
    kids = []
    for i in range(5):
        g = greenlet.greenlet(park)
        g.switch(i)
        kids.append(g)
    greenlet.getcurrent().parent.switch(kids)


def state(g):
    if g.dead:
        return "dead"
    if g is greenlet.getcurrent():
        return "running"
    return "suspended"


def record(glets):
    """The thread's own view of its greenlets (called in the thread)."""
    me = threading.get_ident()
    out = []
    for g in glets:
        out.append({
            "id": id(g),
            "state": state(g),
            "not_started": not g and not g.dead,
            "thread_id": me,
            "parent": id(g.parent) if g.parent is not None else None,
            "main": g.parent is None,
            "type": type(g).__module__ + "." + type(g).__qualname__,
            "frames": po._frames(g.gr_frame) if g.gr_frame is not None else [],
        })
    with lock:
        ENTRIES.extend(out)


def exited_thread():
    """Parks two greenlets and leaves one unstarted, then exits; returns
    them with the thread's main greenlet."""
    glets = []

    def run():
        glets.append(greenlet.getcurrent())
        for i in range(2):
            g = greenlet.greenlet(deep)
            g.switch(i, 1)
            glets.append(g)
        glets.append(greenlet.greenlet(park))  # never started

    t = threading.Thread(target=run, name="exited")
    t.start()
    t.join()
    # join() returns before the thread's C++ thread_local destructors run,
    # where greenlet marks the thread's greenlets dead: wait until the
    # kernel has the thread no more.
    for _ in range(1000):
        if not os.path.exists("/proc/self/task/%d" % t.native_id):
            break
        time.sleep(0.01)
    return glets


def record_exited(glets):
    """The view of greenlets of an exited thread: frames first, as g.dead
    frees them."""
    out = []
    for g in glets:
        frames = po._frames(g.gr_frame) if g.gr_frame is not None else []
        dead = g.dead
        out.append({
            "id": id(g),
            "state": "dead" if dead else "suspended",
            "not_started": not dead and not g,
            "thread_id": None,
            "parent": id(g.parent) if g.parent is not None else None,
            "main": g.parent is None,
            "type": type(g).__module__ + "." + type(g).__qualname__,
            "frames": frames,
        })
    return out


def record_untouched(glets):
    """record_exited in a forked child: the parent's greenlets stay as
    their thread left them."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, json.dumps(record_exited(glets)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    with lock:
        ENTRIES.extend(json.loads(data))


def spawn(n):
    glets = [greenlet.getcurrent()]
    for i in range(n):
        g = greenlet.greenlet(deep)
        g.switch(i, i % 3)
        glets.append(g)
    return glets


def worker():
    po.checkin()
    glets = spawn(10)

    def run():
        record(glets + [greenlet.getcurrent()])
        recorded.set()
        never.wait()

    runner = greenlet.greenlet(run)
    runner.switch()


def main():
    glets = spawn(100)
    nester = greenlet.greenlet(nest)
    glets.append(nester)
    glets.extend(nester.switch())
    sub = MyGreenlet(park)
    sub.switch(0)
    glets.append(sub)
    glets.append(greenlet.greenlet(park))  # never started
    done = greenlet.greenlet(lambda: None)
    done.switch()
    glets.append(done)
    touched = exited_thread()
    for g in touched:
        g.dead  # frees a greenlet of a dead thread
    with lock:
        ENTRIES.extend(record_exited(touched))
    untouched = exited_thread()
    record_untouched(untouched)
    wt = threading.Thread(target=worker, name="greenlet-worker", daemon=True)
    wt.start()

    def run():
        recorded.wait()
        record(glets + [greenlet.getcurrent()])
        path = os.path.abspath(sys.argv[1]) + ".greenlets.json"
        with open(path + ".tmp", "w") as f:
            json.dump({"greenlets": ENTRIES, "version": greenlet.__version__}, f, indent=1)
        os.replace(path + ".tmp", path)
        po.start(expected=2)
        never.wait()

    runner = greenlet.greenlet(run)
    runner.switch()


if __name__ == "__main__":
    main()
