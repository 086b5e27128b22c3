"""Threads that hold, wait for and deadlock on threading's primitives.

usage: python locks.py ORACLE_PATH SCENARIO

Besides the oracle, the target writes locks.json next to it: for each
thread it started, its ident and what it holds (object id, line of the with
statement or acquire call, as the target's own ast finds it) and what it
waits for (object id, kind); the ids and repr() of the objects, and the
cycles it made. Every line number and repr comes from the target itself.
"""

import ast
import concurrent.futures
import inspect
import json
import os
import queue
import sys
import threading
import time

import pyscope_oracle as po

facts = {"scenario": sys.argv[2], "threads": {}, "objects": {}, "cycles": []}
_facts_lock = threading.Lock()
SOURCE = ast.parse(open(__file__).read())
FILE = os.path.abspath(__file__)


def lines_of(fn, what, expr):
    """Lines in fn's source of `with EXPR` (what="with") or EXPR.acquire()."""
    out = []
    for node in ast.walk(SOURCE):
        if isinstance(node, ast.FunctionDef) and node.name == fn.__code__.co_name:
            for n in ast.walk(node):
                if what == "with" and isinstance(n, ast.With):
                    if ast.unparse(n.items[0].context_expr) == expr:
                        out.append(n.lineno)
                if what == "acquire" and isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                    if n.func.attr == "acquire" and ast.unparse(n.func.value) == expr:
                        out.append(n.lineno)
    assert out, (fn.__name__, what, expr)
    return out[0]


def obj(name, o):
    facts["objects"][name] = {"id": id(o), "repr": repr(o)}


def me(holds=(), waits=None, kind=None):
    """Record what the calling thread holds ([(object, line)]) and the
    object and kind it is about to wait for."""
    with _facts_lock:
        facts["threads"][str(threading.get_ident())] = {
            "name": threading.current_thread().name,
            "holds": [{"id": id(o), "line": line} for o, line in holds],
            "waits": {"id": id(waits), "kind": kind} if waits is not None else None,
        }


def run(*targets, daemon=True):
    ts = [threading.Thread(target=t, name=t.__name__, daemon=daemon) for t in targets]
    for t in ts:
        t.start()
    return ts


# Lock-order cycles -------------------------------------------------------

A, B, C = threading.Lock(), threading.Lock(), threading.Lock()
RA, RB = threading.RLock(), threading.RLock()


def cycle_with(first, second, n, names):
    """Threads that each hold one lock (with) and wait for the next."""
    gate = threading.Barrier(n)

    def make(i):
        a, b = first[i], second[i]

        def worker():
            with a:
                me([(a, lines_of(worker, "with", "a"))], b, kind_of(b))
                gate.wait()
                with b:
                    pass
        worker.__name__ = names[i]
        return worker
    return [make(i) for i in range(n)]


def cycle_acquire(first, second, n, names):
    """The same with acquire()."""
    gate = threading.Barrier(n)

    def make(i):
        a, b = first[i], second[i]

        def worker():
            a.acquire()
            me([(a, lines_of(worker, "acquire", "a"))], b, kind_of(b))
            gate.wait()
            b.acquire()
        worker.__name__ = names[i]
        return worker
    return [make(i) for i in range(n)]


def kind_of(o):
    return "rlock" if isinstance(o, type(RA)) else "lock"


def scenario_cycle2():
    ws = cycle_with([A, B], [B, A], 2, ["ab", "ba"])
    threads = run(*ws)
    facts["cycles"].append([t.ident for t in threads])
    return threads


def scenario_cycle3():
    ws = cycle_with([A, B, C], [B, C, A], 3, ["ab", "bc", "ca"])
    threads = run(*ws)
    facts["cycles"].append([t.ident for t in threads])
    return threads


def scenario_acquire2():
    ws = cycle_acquire([A, B], [B, A], 2, ["ab", "ba"])
    threads = run(*ws)
    facts["cycles"].append([t.ident for t in threads])
    return threads


def scenario_acquire3():
    ws = cycle_acquire([A, B, C], [B, C, A], 3, ["ab", "bc", "ca"])
    threads = run(*ws)
    facts["cycles"].append([t.ident for t in threads])
    return threads


def scenario_rlock():
    # RLocks taken twice (the owner and count show in their reprs).
    gate = threading.Barrier(2)

    def r1():
        with RA:
            RA.acquire()
            me([(RA, lines_of(r1, "with", "RA"))], RB, "rlock")
            gate.wait()
            with RB:
                pass

    def r2():
        RB.acquire()
        me([(RB, lines_of(r2, "acquire", "RB"))], RA, "rlock")
        gate.wait()
        RA.acquire()
    threads = run(r1, r2)
    facts["cycles"].append([t.ident for t in threads])
    return threads


# Waiters that are not deadlocked ------------------------------------------

HELD = threading.Lock()
COND = threading.Condition()
EVENT = threading.Event()
SEM = threading.Semaphore(1)
QUEUE = queue.Queue()
BARRIER = threading.Barrier(2)
FUTURE = concurrent.futures.Future()


def sleeper():
    with HELD:
        me([(HELD, lines_of(sleeper, "with", "HELD"))])
        time.sleep(3600)


def lock_waiter():
    me([], HELD, "lock")
    with HELD:
        pass


def cond_waiter():
    with COND:
        me([], COND, "condition")
        COND.wait()


def event_waiter():
    me([], EVENT, "event")
    EVENT.wait()


def sem_holder():
    with SEM:
        me([(SEM, lines_of(sem_holder, "with", "SEM"))])
        time.sleep(3600)


def sem_waiter():
    me([], SEM, "semaphore")
    SEM.acquire()


def queue_waiter():
    me([], QUEUE, "queue")
    QUEUE.get()


def barrier_waiter():
    me([], BARRIER, "barrier")
    BARRIER.wait()


def future_waiter():
    me([], FUTURE, "future")
    FUTURE.result()


def scenario_waiters():
    sl = run(sleeper)[0]
    while not HELD.locked():
        time.sleep(0.01)
    sh = run(sem_holder)[0]
    while SEM._value:
        time.sleep(0.01)
    lw = run(lock_waiter)[0]
    threads = [sl, sh, lw] + run(cond_waiter, event_waiter, sem_waiter, queue_waiter, barrier_waiter, future_waiter)

    # A join on a thread that is itself blocked (on the sleeper's lock).
    def joiner():
        me([], lw, "join")
        lw.join()
    threads += run(joiner)
    while len(COND._waiters) < 1 or BARRIER.n_waiting < 1:
        time.sleep(0.01)
    for name in ("HELD", "COND", "EVENT", "SEM", "QUEUE", "BARRIER", "FUTURE"):
        obj(name, globals()[name])
    obj("lock_waiter", lw)
    return threads


# GIL contention ------------------------------------------------------------

def spinner():
    po.mark_busy()
    me()
    x = 0
    while True:
        x += 1


def scenario_gil():
    return run(spinner, spinner, spinner)


# Reprs -----------------------------------------------------------------------

class MyEvent(threading.Event):
    pass


class OwnRepr(threading.Event):
    def __repr__(self):
        return "mine"


def other_holds(lock, box):
    lock.acquire()
    box.append(threading.get_ident())
    time.sleep(3600)


def scenario_reprs():
    rl_other = threading.RLock()
    box = []
    run(lambda: other_holds(rl_other, box))
    while not box:
        time.sleep(0.01)
    rl_released = threading.RLock()
    with rl_released:
        with rl_released:
            pass
    cond_waited = threading.Condition(threading.Lock())
    waiting = []

    def waits():
        with cond_waited:
            waiting.append(1)
            cond_waited.wait()
    waiter = run(waits)[0]
    while not waiting or len(cond_waited._waiters) < 1:
        time.sleep(0.01)
    barrier_waited = threading.Barrier(3)
    run(barrier_waited.wait)
    while barrier_waited.n_waiting < 1:
        time.sleep(0.01)
    broken = threading.Barrier(2)
    broken.abort()
    done = threading.Thread(target=lambda: None, name="done")
    done.start()
    done.join()
    values = {
        "lock_free": threading.Lock(),
        "lock_held": threading.Lock(),
        "rlock_free": threading.RLock(),
        "rlock_once": threading.RLock(),
        "rlock_twice": threading.RLock(),
        "rlock_other": rl_other,
        "rlock_released": rl_released,
        "cond": threading.Condition(),
        "cond_lock": threading.Condition(threading.Lock()),
        "cond_waited": cond_waited,
        "sem": threading.Semaphore(2),
        "bsem": threading.BoundedSemaphore(3),
        "event_set": threading.Event(),
        "event_unset": threading.Event(),
        "my_event": MyEvent(),
        "barrier": threading.Barrier(2),
        "barrier_waited": barrier_waited,
        "barrier_broken": broken,
        "queue": queue.Queue(),
        "lifo": queue.LifoQueue(),
        "thread_started": waiter,
        "thread_done": done,
        "thread_new": threading.Thread(target=print, name="new"),
        "future_pending": concurrent.futures.Future(),
        "future_running": concurrent.futures.Future(),
        "future_done": concurrent.futures.Future(),
        "future_raised": concurrent.futures.Future(),
    }
    values["lock_held"].acquire()
    values["rlock_once"].acquire()
    values["rlock_twice"].acquire()
    values["rlock_twice"].acquire()
    values["sem"].acquire()
    values["bsem"].acquire()
    values["event_set"].set()
    values["future_running"].set_running_or_notify_cancel()
    values["future_done"].set_result(42)
    values["future_raised"].set_exception(ValueError("x"))
    values["own_repr"] = OwnRepr()
    for k, v in values.items():
        obj(k, v)
        globals()["v_" + k] = v  # shown as the module's variables
    return [waiter]


def main():
    globals()["scenario_" + sys.argv[2]]()
    facts["main"] = threading.get_ident()
    for t in threading.enumerate():
        facts.setdefault("idents", {})[t.name] = t.ident
    tmp = os.path.join(po.workdir(), "locks.json.tmp")
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=1)
    os.replace(tmp, os.path.join(po.workdir(), "locks.json"))
    # Every thread started, the responder, not the reporter.
    po.start(expected=len(threading.enumerate()) + 1)
    threading.Event().wait()


if __name__ == "__main__":
    main()
