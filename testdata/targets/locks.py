"""Threads that hold, wait for and deadlock on threading's primitives.

usage: python locks.py ORACLE_PATH SCENARIO

SCENARIO is "all" (every situation below at once, each with its own
objects), "busy" (all, and a thread spinning in Python inside a lock
another waits for), "gil" (threads
contending for the GIL), or one situation:
cycle2, cycle3, acquire2, acquire3, rlock, gone, waiters, condlock,
handoff, signal, loops, futures, reprs.

Besides the oracle, the target writes locks.json next to it: for each
thread it started, its ident and what it holds (object id, and the line of
the with statement or acquire() call, found by the target's own ast of
this file) and what it waits for (object id, kind, and the names of the
threads it waits on), and the objects it must not be said to hold; the
ids and repr() of the objects; the cycles of threads it made. Every line number and repr comes from the target itself.
"""

import ast
import concurrent.futures
import json
import mmap
import os
import queue
import sys
import threading
import time

import pyscope_oracle as po

facts = {"scenario": sys.argv[2], "threads": {}, "objects": {}, "cycles": [], "gone": []}
_facts_lock = threading.Lock()
SOURCE = ast.parse(open(__file__).read())


def line_of(fn, what, expr):
    """The line of `with EXPR` (what="with") or EXPR.acquire() in fn."""
    for node in ast.walk(SOURCE):
        if isinstance(node, ast.FunctionDef) and node.name == fn.__code__.co_name:
            for n in ast.walk(node):
                if what == "with" and isinstance(n, ast.With):
                    if ast.unparse(n.items[0].context_expr) == expr:
                        return n.lineno
                if what == "acquire" and isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                    if n.func.attr == "acquire" and ast.unparse(n.func.value) == expr:
                        return n.lineno
    raise AssertionError((fn.__code__.co_name, what, expr))


def obj(name, o):
    facts["objects"][name] = {"id": id(o), "repr": repr(o)}


def me(holds=(), waits=None, kind=None, held_by=(), not_holds=(), pending=False, futures=(), any_=False):
    """Record what the calling thread holds ([(object, line)]), the object
    and kind it is about to wait for, the names (or idents) of the threads
    that hold it, and objects its frames may suggest it holds but it does
    not; pending: the future it waits for is one no worker has started;
    futures: all the futures a wait(fs) or as_completed(fs) waits on, any_:
    one of them may end it."""
    with _facts_lock:
        facts["threads"][str(threading.get_ident())] = {
            "name": threading.current_thread().name,
            "holds": [{"id": id(o), "line": line} for o, line in holds],
            "not_holds": [id(o) for o in not_holds],
            "waits": {"id": id(waits), "kind": kind, "held_by": list(held_by), "pending": pending,
                      "futures": [id(f) for f in futures], "any": any_}
            if waits is not None else None,
        }


def run(*targets, names=None):
    ts = []
    for i, t in enumerate(targets):
        ts.append(threading.Thread(target=t, name=names[i] if names else t.__name__, daemon=True))
    for t in ts:
        t.start()
    return ts


# Lock-order cycles: n threads, thread i holds lock i and waits for lock i+1.

def cycle(tag, n, how, factory=threading.Lock):
    locks = [factory() for _ in range(n)]
    names = ["%s-%d" % (tag, i) for i in range(n)]
    gate = threading.Barrier(n)

    def make(i):
        a, b = locks[i], locks[(i + 1) % n]
        nxt = names[(i + 1) % n]
        kind = "rlock" if factory is threading.RLock else "lock"
        if how == "with":
            def worker():
                with a:
                    me([(a, line_of(worker, "with", "a"))], b, kind, [nxt])
                    gate.wait()
                    with b:
                        pass
        else:
            def worker():
                a.acquire()
                me([(a, line_of(worker, "acquire", "a"))], b, kind, [nxt])
                gate.wait()
                b.acquire()
        return worker
    threads = run(*[make(i) for i in range(n)], names=names)
    facts["cycles"].append(names)
    # The reprs once every thread holds its first lock (a loaded machine
    # may not have run them yet).
    while not all(repr(lk).startswith("<locked") for lk in locks):
        time.sleep(0.01)
    for i, lk in enumerate(locks):
        obj("%s-lock-%d" % (tag, i), lk)
    return threads


def scenario_cycle2():
    cycle("with2", 2, "with")


def scenario_cycle3():
    cycle("with3", 3, "with")


def scenario_acquire2():
    cycle("acquire2", 2, "acquire")


def scenario_acquire3():
    cycle("acquire3", 3, "acquire")


def scenario_rlock():
    # RLocks, each taken twice: once by a with, once by acquire().
    ra, rb = threading.RLock(), threading.RLock()
    gate = threading.Barrier(2)

    def r1():
        with ra:
            ra.acquire()
            me([(ra, line_of(r1, "with", "ra"))], rb, "rlock", ["rlock-2"])
            gate.wait()
            with rb:
                pass

    def r2():
        rb.acquire()
        rb.acquire()
        me([(rb, line_of(r2, "acquire", "rb"))], ra, "rlock", ["rlock-1"])
        gate.wait()
        ra.acquire()
    run(r1, r2, names=["rlock-1", "rlock-2"])
    facts["cycles"].append(["rlock-1", "rlock-2"])


KEEP = []


def scenario_gone():
    # An RLock whose owner ended without releasing it: its waiter waits
    # for a thread that no longer exists.
    rl = threading.RLock()
    # glibc would give the owner's ident (its descriptor, at the top of
    # its stack) to a later thread: the stack is too big to be cached, and
    # a mapping of our own takes the top of the hole it leaves.
    size = threading.stack_size(1 << 30)
    t = threading.Thread(target=rl.acquire, name="gone-owner")
    t.start()
    t.join()
    threading.stack_size(size)
    KEEP.append(mmap.mmap(-1, 512 << 20))
    facts["gone"].append(t.ident)

    def orphaned():
        me([], rl, "rlock", [t.ident])
        rl.acquire()
    run(orphaned)
    facts["cycles"].append(["orphaned", t.ident])
    obj("gone-rlock", rl)


# Waiters that are not deadlocked -------------------------------------------

def scenario_waiters():
    held = threading.Lock()
    hidden = threading.Lock()
    cond = threading.Condition()
    event = threading.Event()
    sem = threading.Semaphore(1)
    q = queue.Queue()
    barrier = threading.Barrier(2)
    future = concurrent.futures.Future()
    started = threading.Event()

    def sleeper():
        with held:
            me([(held, line_of(sleeper, "with", "held"))])
            started.set()
            time.sleep(3600)

    def sem_holder():
        with sem:
            me([(sem, line_of(sem_holder, "with", "sem"))])
            started.set()
            time.sleep(3600)

    def lock_waiter():
        me([], held, "lock", ["sleeper"])
        with held:
            pass

    def take_hidden():
        hidden.acquire()

    def hidden_holder():
        # Taken in a call that returned: no frame keeps the evidence, so
        # its waiter's holder is unknown.
        take_hidden()
        me()
        started.set()
        time.sleep(3600)

    def hidden_waiter():
        me([], hidden, "lock")
        hidden.acquire()

    def cond_waiter():
        with cond:
            me([], cond, "condition")
            cond.wait()

    def event_waiter():
        me([], event, "event")
        event.wait()

    def sem_waiter():
        me([], sem, "semaphore", ["sem_holder"])
        sem.acquire()

    def queue_waiter():
        me([], q, "queue")
        q.get()

    def barrier_waiter():
        me([], barrier, "barrier")
        barrier.wait()

    def future_waiter():
        me([], future, "future", pending=True)
        future.result()

    for holder in (sleeper, sem_holder, hidden_holder):
        started.clear()
        run(holder)
        started.wait()
    lw = run(lock_waiter)[0]
    run(cond_waiter, event_waiter, sem_waiter, queue_waiter, barrier_waiter, future_waiter, hidden_waiter)

    def joiner():
        # A join on a thread that is itself blocked (on the sleeper's lock).
        me([], lw, "join", ["lock_waiter"])
        lw.join()
    run(joiner)
    while len(cond._waiters) < 1 or barrier.n_waiting < 1:
        time.sleep(0.01)
    for name, o in (("held", held), ("hidden", hidden), ("cond", cond), ("event", event), ("sem", sem),
                    ("queue", q), ("barrier", barrier), ("future", future), ("lock_waiter", lw)):
        obj(name, o)


def innermost(t, fn):
    """Wait until thread t runs function fn (its innermost frame)."""
    while True:
        f = sys._current_frames().get(t.ident)
        if f is not None and f.f_code.co_name == fn:
            return
        del f
        time.sleep(0.01)


def scenario_condlock():
    # A Condition over a plain Lock: its waiter, notified, takes the lock
    # back in Condition._acquire_restore (Python code; an RLock's is C)
    # while the notifier keeps it. The waiter's with block does not hold
    # the lock its wait let go of: no thread waits for itself.
    lk = threading.Lock()
    c = threading.Condition(lk)

    def cond_notified():
        with c:
            me([], c, "condition", ["cond_notifier"], not_holds=[c, lk])
            c.wait()

    def cond_notifier():
        with c:
            c.notify()
            me()  # holds c: its repr names its lock, not itself
            time.sleep(3600)
    w = run(cond_notified)[0]
    while len(c._waiters) < 1:
        time.sleep(0.01)
    run(cond_notifier)
    innermost(w, "_acquire_restore")
    obj("condlock", c)


def scenario_handoff():
    # A plain Lock handed over: taken with acquire() by one thread,
    # released by another, which then holds it in a with block. The first
    # thread's acquire() no longer holds it; it waits for a lock the third
    # thread holds, which waits for the one handed over: no cycle.
    lk, m = threading.Lock(), threading.Lock()
    taken, handed, m_taken = threading.Event(), threading.Event(), threading.Event()

    def handoff_a1():
        lk.acquire()
        me([], m, "lock", ["handoff_a3"], not_holds=[lk])
        taken.set()
        handed.wait()
        with m:
            pass

    def handoff_a2():
        taken.wait()
        lk.release()
        with lk:
            me([(lk, line_of(handoff_a2, "with", "lk"))])
            handed.set()
            time.sleep(3600)

    def handoff_a3():
        with m:
            me([(m, line_of(handoff_a3, "with", "m"))], lk, "lock", ["handoff_a2"])
            m_taken.set()
            handed.wait()
            with lk:
                pass
    run(handoff_a3)
    m_taken.wait()
    run(handoff_a1, handoff_a2)
    handed.wait()
    obj("handoff-lock", lk)
    obj("handoff-m", m)


def scenario_signal():
    # A plain Lock used as a signal: taken, then taken again to wait for a
    # worker to release it. The waiter's first acquire() does not make it
    # its own holder: its holder is unknown, and it waits for no one.
    done = threading.Lock()
    ready = threading.Event()

    def signal_worker():
        me()
        ready.set()
        time.sleep(3600)
        done.release()

    def signal_waiter():
        done.acquire()
        run(signal_worker)
        ready.wait()
        me([], done, "lock", [], not_holds=[done])
        done.acquire()
    run(signal_waiter)
    while not done.locked():
        time.sleep(0.01)
    obj("signal-lock", done)



def scenario_loops():
    # Locks taken with acquire() before a loop the thread then stays in:
    # the loop's back edge must not hide the acquire() (it jumps from below
    # the current line to above it, yet only code run after the acquire()
    # runs it). A lock released in the loop, after the current line, is no
    # longer held once the loop went round. One waiter for each lock.
    locks = [threading.Lock() for _ in range(4)]
    went_round = threading.Event()

    def loop_while():
        lk = locks[0]
        lk.acquire()
        me([(lk, line_of(loop_while, "acquire", "lk"))])
        while True:
            time.sleep(3600)

    def loop_for():
        lk = locks[1]
        lk.acquire()
        me([(lk, line_of(loop_for, "acquire", "lk"))])
        for _ in range(1 << 30):
            time.sleep(3600)

    def loop_inside():
        lk = locks[2]
        while True:
            lk.acquire()
            me([(lk, line_of(loop_inside, "acquire", "lk"))])
            time.sleep(3600)
            lk.release()

    def loop_released():
        lk = locks[3]
        lk.acquire()
        released = False
        while True:
            if released:
                me([], not_holds=[lk])
                went_round.set()
            time.sleep(3600 if released else 0.01)
            if not released:
                lk.release()
                released = True

    run(loop_while, loop_for, loop_inside, loop_released)
    went_round.wait()
    # The fourth lock is free now: a helper thread takes it and ends, so
    # that it is locked with no holder pyscope can know.
    taker = threading.Thread(target=locks[3].acquire, name="loop_taker", daemon=True)
    taker.start()
    taker.join()
    while not all(lk.locked() for lk in locks[:3]):
        time.sleep(0.01)
    for i, (lk, holder) in enumerate(zip(locks, ["loop_while", "loop_for", "loop_inside", None])):
        def waiter(lk=lk, holder=holder):
            me([], lk, "lock", [holder] if holder else [])
            lk.acquire()
        run(waiter, names=["loop_waiter-%d" % i])
        obj("loop-lock-%d" % i, lk)


# Futures of a ThreadPoolExecutor -------------------------------------------

def scenario_futures():
    # A future is done by the worker running its work item: a waiter in
    # result() waits on that worker (its ident, recorded by the work
    # itself). Behind it, with one worker, a second item stays queued.
    # And a deadlock through a future: fut_deadlock_a holds L and waits
    # for a future whose worker waits for L.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fut-pool")
    never = threading.Event()
    runner, started = {}, threading.Event()

    def work():
        runner["ident"] = threading.get_ident()
        me([], never, "event")
        started.set()
        never.wait()
    running = pool.submit(work)
    started.wait()
    queued = pool.submit(work)

    def fut_running_waiter():
        me([], running, "future", [runner["ident"]])
        running.result()

    def fut_queued_waiter():
        me([], queued, "future", [], pending=True)
        queued.result()
    run(fut_running_waiter, fut_queued_waiter)

    L = threading.Lock()
    dl_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fut-deadlock-w")
    dl_worker, dl_started, dl_future = {}, threading.Event(), []

    def locked_work():
        dl_worker["ident"] = threading.get_ident()
        me([], L, "lock", ["fut_deadlock_a"])
        dl_started.set()
        with L:
            pass

    def fut_deadlock_a():
        with L:
            f = dl_pool.submit(locked_work)
            dl_future.append(f)
            dl_started.wait()
            me([(L, line_of(fut_deadlock_a, "with", "L"))], f, "future", [dl_worker["ident"]])
            f.result()
    run(fut_deadlock_a)
    dl_started.wait()
    while not dl_future:
        time.sleep(0.01)
    facts["cycles"].append(["fut_deadlock_a", dl_worker["ident"]])

    # concurrent.futures.wait(fs) and as_completed(fs) wait on every
    # future of fs not done: shown as the first (running ones first, then
    # by id), held by the workers of them all (each worker's ident recorded
    # by its work). With ALL_COMPLETED, a thread holding L2 waits for a
    # future whose worker waits for L2: a deadlock, though the other
    # future's worker is only slow.
    w_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="fut-wait-pool")
    w_idents, w_started = {}, [threading.Event(), threading.Event()]

    def wait_work(i):
        w_idents[i] = threading.get_ident()
        me([], never, "event")
        w_started[i].set()
        never.wait()
    w_fs = [w_pool.submit(wait_work, i) for i in range(2)]
    for e in w_started:
        e.wait()
    w_first = min(w_fs, key=id)
    w_held = [w_idents[0], w_idents[1]]

    def fut_wait_all():
        me([], w_first, "future", w_held, futures=w_fs)
        concurrent.futures.wait(w_fs)

    def fut_wait_first():
        me([], w_first, "future", w_held, futures=w_fs, any_=True)
        concurrent.futures.wait(w_fs, return_when=concurrent.futures.FIRST_COMPLETED)

    def fut_as_completed():
        me([], w_first, "future", w_held, futures=w_fs, any_=True)
        for _ in concurrent.futures.as_completed(w_fs):
            pass
    run(fut_wait_all, fut_wait_first, fut_as_completed)

    L2 = threading.Lock()
    w_dl_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fut-wait-deadlock-w")
    w_dl_worker, w_dl_started, w_dl_future = {}, threading.Event(), []

    def wait_locked_work():
        w_dl_worker["ident"] = threading.get_ident()
        me([], L2, "lock", ["fut_wait_deadlock"])
        w_dl_started.set()
        with L2:
            pass

    def fut_wait_deadlock():
        with L2:
            f = w_dl_pool.submit(wait_locked_work)
            w_dl_future.append(f)
            w_dl_started.wait()
            both = [f, w_fs[0]]
            me([(L2, line_of(fut_wait_deadlock, "with", "L2"))], min(both, key=id), "future",
               [w_dl_worker["ident"], w_idents[0]], futures=both)
            concurrent.futures.wait(both)
    run(fut_wait_deadlock)
    w_dl_started.wait()
    while not w_dl_future:
        time.sleep(0.01)
    facts["cycles"].append(["fut_wait_deadlock", w_dl_worker["ident"]])
    KEEP.extend([pool, dl_pool, w_pool, w_dl_pool])
    for i, f in enumerate(w_fs):
        obj("fut-wait-%d" % i, f)
    obj("fut-wait-deadlock", w_dl_future[0])
    obj("fut-wait-deadlock-lock", L2)
    obj("fut-running", running)
    obj("fut-queued", queued)
    obj("fut-deadlock", dl_future[0])
    obj("fut-deadlock-lock", L)


# GIL contention ------------------------------------------------------------

def spin_forever():
    x = 0
    while True:
        x += 1


def spinner():
    po.mark_busy()
    me()
    spin_forever()


def scenario_gil():
    run(spinner, spinner, spinner)


# Reprs: objects in every state, as module globals v_*. ---------------------

class MyEvent(threading.Event):
    pass


class OwnRepr(threading.Event):
    def __repr__(self):
        return "mine"


def scenario_reprs():
    rl_other = threading.RLock()
    taken = threading.Event()

    def other_holds():
        rl_other.acquire()
        taken.set()
        time.sleep(3600)
    run(other_holds)
    taken.wait()
    rl_released = threading.RLock()
    with rl_released:
        with rl_released:
            pass
    cond_waited = threading.Condition(threading.Lock())

    def waits():
        with cond_waited:
            cond_waited.wait()
    waiter = run(waits)[0]
    barrier_waited = threading.Barrier(3)
    run(barrier_waited.wait, names=["barrier-wait"])
    while len(cond_waited._waiters) < 1 or barrier_waited.n_waiting < 1:
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
        "own_repr": OwnRepr(),
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
    for k, v in values.items():
        obj(k, v)
        globals()["v_" + k] = v  # shown as the module's variables


def scenario_all():
    # loops and futures before gone: threads started after gone's owner
    # ended may be given its ident (its stack's place) however gone guards
    # it, and these start many.
    for s in ("cycle2", "cycle3", "acquire2", "acquire3", "loops", "futures", "rlock", "gone", "waiters", "condlock",
              "handoff", "signal", "reprs"):
        globals()["scenario_" + s]()


def scenario_busy():
    """Every situation, while a thread spins in Python holding a lock that
    another thread waits for: the GIL's holder runs at any moment a dump
    comes. It starts first: started last, it could be given the ident of
    the thread scenario_gone ended."""
    lk = threading.Lock()
    taken = threading.Event()

    def busy_holder():
        with lk:
            me([(lk, line_of(busy_holder, "with", "lk"))])
            po.mark_busy()
            taken.set()
            spin_forever()  # a call: the with block's frame stays put

    def busy_waiter():
        me([], lk, "lock", ["busy_holder"])
        lk.acquire()
    run(busy_holder)
    taken.wait()
    run(busy_waiter)
    obj("busy-lock", lk)
    scenario_all()


def main():
    globals()["scenario_" + sys.argv[2]]()
    facts["main"] = threading.get_ident()
    idents = {t.name: t.ident for t in threading.enumerate()}
    reused = set(idents.values()) & set(facts["gone"])
    assert not reused, "a living thread has the ident of one that ended: %s" % reused

    def ident(n):
        return n if isinstance(n, int) else idents[n]
    for t in facts["threads"].values():
        if t["waits"]:
            t["waits"]["held_by"] = [ident(n) for n in t["waits"]["held_by"]]
    facts["cycles"] = [[ident(n) for n in c] for c in facts["cycles"]]
    tmp = os.path.join(po.workdir(), "locks.json.tmp")
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=1)
    os.replace(tmp, os.path.join(po.workdir(), "locks.json"))
    # Every thread started, and the responder; not the reporter.
    po.start(expected=len(threading.enumerate()) + 1)
    threading.Event().wait()


if __name__ == "__main__":
    main()
