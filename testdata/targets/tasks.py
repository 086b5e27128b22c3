"""asyncio tasks in every shape pyscope must show, and the target's own view
of them (the tasks oracle).

The main thread's loop runs a tree of named tasks: nested gather, a
TaskGroup (3.11+), wait_for, shield, asyncio.wait, an async generator, a
`yield from` chain of @types.coroutine generators, a task awaiting another
directly, a Task subclass, a pure-Python task, an eager task (3.12+), a
task holding finished futures (result, exception, cancelled), a gather
with one child done, finished tasks (done, failed, cancelled: listed as
such in the oracle, not as tasks), and two tasks that await each other. A second loop that is not running holds one
task; a worker thread's loop runs a task that blocks the thread, and a
task awaiting a future that is done but whose wakeup never runs. Once everything is parked, a thread writes ORACLE.tasks.json:
per task its name, state, thread, its coroutine chain walked with cr_await
(gi_yieldfrom, ag_await) and each frame's f_lineno, innermost first,
which tasks it awaits by construction, and the future it is suspended on
(_fut_waiter) when it awaits no task; then pyscope_oracle reports the
threads.

usage: python tasks.py ORACLE_PATH
"""

import asyncio
import gc
import inspect
import json
import os
import sys
import threading
import types

import pyscope_oracle as po

HOUR = 3600
AWAITS = {}  # task name -> names of the tasks it awaits, by construction
CYCLE = []
KEEP = []
FINISHED = []  # finished tasks, held so that no registry loses them


async def leaf_sleep():
    await asyncio.sleep(HOUR)


async def leaf_event(ev):
    await ev.wait()


async def child(ev):
    await leaf_event(ev)


async def ticker():
    while True:
        await asyncio.sleep(HOUR)
        yield 1


async def consume():
    async for _ in ticker():
        pass


def named(coro, name, awaits=()):
    AWAITS[name] = list(awaits)
    return asyncio.create_task(coro, name=name)


async def inner_gather():
    x = named(leaf_sleep(), "nested-x")
    y = named(consume(), "asyncgen-consumer")
    await asyncio.gather(x, y)


async def gatherer(ev):
    a = named(child(ev), "gather-a")
    b = named(leaf_sleep(), "gather-b")
    inner = named(inner_gather(), "gather-inner", ["nested-x", "asyncgen-consumer"])
    await asyncio.gather(a, b, inner)


async def group():
    async with asyncio.TaskGroup() as tg:
        AWAITS["tg-a"] = AWAITS["tg-b"] = []
        tg.create_task(leaf_sleep(), name="tg-a")
        tg.create_task(leaf_sleep(), name="tg-b")


async def waiting_for():
    t = named(leaf_sleep(), "waitfor-inner")
    await asyncio.wait_for(t, timeout=HOUR)


async def shielding():
    t = named(leaf_sleep(), "shield-inner")
    await asyncio.shield(t)


async def direct():
    t = named(leaf_sleep(), "direct-inner")
    await t


async def waiting():
    a = named(leaf_sleep(), "wait-a")
    b = named(leaf_sleep(), "wait-b")
    await asyncio.wait([a, b])


@types.coroutine
def legacy_inner():
    fut = asyncio.get_running_loop().create_future()
    KEEP.append(fut)  # nothing else holds it (and so its task)
    yield from fut


@types.coroutine
def legacy_outer():
    yield from legacy_inner()


async def legacy():
    await legacy_outer()


async def holding():
    # Finished futures held by a frame: a result, an exception, cancelled.
    loop = asyncio.get_running_loop()
    ok = loop.create_future()
    ok.set_result(42)
    bad = loop.create_future()
    bad.set_exception(KeyError("k"))
    bad.exception()  # retrieved: no "never retrieved" log
    gone = loop.create_future()
    gone.cancel()
    await leaf_sleep()


async def await_finished(fut):
    await fut


async def returns():
    return 7


async def raises():
    raise ValueError("kaboom")


async def gather_partly():
    d = asyncio.create_task(returns(), name="gather-done-child")
    FINISHED.append(d)
    p = named(leaf_sleep(), "gather-pending-child")
    await asyncio.gather(d, p)


async def cyclic(other):
    await asyncio.sleep(0)
    await other()


class MyTask(asyncio.Task):
    pass


never = threading.Event()


def block_thread():
    never.wait()


worker_loop = []


async def blocker():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    named(await_finished(fut), "finished-future-waiter")
    await asyncio.sleep(0)
    # Its future is done, but the wakeup this schedules never runs: the
    # loop's thread blocks below. The task still awaits the future.
    fut.set_result(42)
    worker_loop.append(loop)
    block_thread()


def worker():
    asyncio.run(blocker())


def chain(task):
    """The task's coroutine chain as the interpreter shows it, innermost
    first: cr_await (gi_yieldfrom, ag_await) from its coroutine on."""
    out = []
    obj = task.get_coro()
    while obj is not None and len(out) < 1000:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if frame is None:
            break
        code = frame.f_code
        out.append({"function": code.co_name, "qualname": getattr(code, "co_qualname", code.co_name),
                    "file": code.co_filename, "line": frame.f_lineno})
        nxt = None
        for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
            if hasattr(obj, attr):
                nxt = getattr(obj, attr)
                break
        if nxt is not None and type(nxt).__name__ in ("async_generator_asend", "async_generator_athrow"):
            # The object `async for` awaits: its async generator.
            nxt = next(r for r in gc.get_referents(nxt) if inspect.isasyncgen(r))
        obj = nxt
    out.reverse()
    return out


def running_chain(task, ident):
    """A running task's frames: its thread's, innermost first, down to its
    coroutine."""
    frame = sys._current_frames()[ident]
    coro_frame = task.get_coro().cr_frame
    out = []
    while frame is not None:
        code = frame.f_code
        out.append({"function": code.co_name, "qualname": getattr(code, "co_qualname", code.co_name),
                    "file": code.co_filename, "line": frame.f_lineno})
        if frame is coro_frame:
            return out
        frame = frame.f_back
    raise RuntimeError("the running task's coroutine is not on its thread's stack")


def report(path, loops, running):
    tasks = []
    for loop, ident in loops:
        every = set(asyncio.all_tasks(loop))
        # 3.14's all_tasks() misses pure-Python tasks: they register in
        # asyncio.tasks' own registry, which _py_all_tasks() reads.
        every |= set(getattr(asyncio.tasks, "_py_all_tasks", lambda loop: ())(loop))
        for t in every:
            name = t.get_name()
            entry = {"id": id(t), "name": name, "thread_id": ident, "awaits": AWAITS.get(name)}
            if t is running:
                entry["state"] = "running"
                entry["coroutine"] = running_chain(t, ident)
            else:
                entry["state"] = "pending"
                entry["coroutine"] = chain(t)
                # The future it is suspended on, when it awaits no task
                # by construction (sleep, an Event): asyncio's own record.
                waiter = t._fut_waiter
                entry["futures"] = [id(waiter)] if waiter is not None and not AWAITS.get(name) else []
                # asyncio's own repr of the futures and tasks its
                # coroutine holds (not of the cycle's: asyncio's repr of a
                # task that waits for itself recurses until it fails).
                entry["locals"] = {k: repr(v) for k, v in t.get_coro().cr_frame.f_locals.items()
                                   if isinstance(v, asyncio.Future) and v not in CYCLE and t not in CYCLE}
            tasks.append(entry)
    cycle = sorted(id(t) for t in CYCLE)
    finished = [{"id": id(t), "name": t.get_name(), "state": "cancelled" if t.cancelled() else "done"}
                for t in FINISHED if t.done()]
    with open(path + ".tmp", "w") as f:
        json.dump({"tasks": tasks, "cycle": cycle, "finished": finished,
                   "version": list(sys.version_info[:2])}, f, indent=1)
    os.replace(path + ".tmp", path)


async def main():
    loop = asyncio.get_running_loop()
    ev = asyncio.Event()
    named(gatherer(ev), "gatherer", ["gather-a", "gather-b", "gather-inner"])
    if sys.version_info >= (3, 11):
        named(group(), "group", ["tg-a", "tg-b"])
    named(waiting_for(), "waitfor", ["waitfor-inner"])
    named(shielding(), "shielder", ["shield-inner"])
    named(direct(), "direct", ["direct-inner"])
    named(waiting(), "waiter", ["wait-a", "wait-b"])
    named(legacy(), "yield-from")
    named(holding(), "finished-futures")
    named(gather_partly(), "gather-partly", ["gather-pending-child"])
    # Finished tasks: asyncio.all_tasks() leaves them out, and so must pyscope.
    failed = asyncio.create_task(raises(), name="failed-task")
    cancelled = asyncio.create_task(leaf_sleep(), name="cancelled-task")
    FINISHED.extend([asyncio.create_task(returns(), name="done-task"), failed, cancelled])
    await asyncio.sleep(0)
    cancelled.cancel()
    AWAITS["subclass-task"] = []
    MyTask(leaf_sleep(), name="subclass-task")
    AWAITS["py-task"] = []
    asyncio.tasks._PyTask(leaf_sleep(), name="py-task")
    if sys.version_info >= (3, 12):
        AWAITS["eager-task"] = []
        asyncio.eager_task_factory(loop, leaf_sleep(), name="eager-task")
    a = b = None
    a = named(cyclic(lambda: b), "cycle-a", ["cycle-b"])
    b = named(cyclic(lambda: a), "cycle-b", ["cycle-a"])
    CYCLE.extend([a, b])
    # A loop that is not running, with a task it never started.
    idle = asyncio.new_event_loop()
    AWAITS["idle-loop-task"] = []
    idle.create_task(leaf_sleep(), name="idle-loop-task")
    wt = threading.Thread(target=worker, name="loop-worker", daemon=True)
    wt.start()
    for _ in range(5):
        await asyncio.sleep(0.05)
    failed.exception()  # retrieved: no "never retrieved" log
    me = asyncio.current_task()
    AWAITS[me.get_name()] = []
    done = asyncio.Event()

    def write():
        # The worker's loop and task, once it blocks.
        wloop = worker_loop[0]
        while not any(t.get_coro().cr_running for t in asyncio.all_tasks(wloop)):
            threading.Event().wait(0.01)
        running = next(t for t in asyncio.all_tasks(wloop) if t.get_coro().cr_running)
        AWAITS[running.get_name()] = []
        report(os.path.abspath(sys.argv[1]) + ".tasks.json",
               [(loop, threading.main_thread().ident), (idle, None), (wloop, wt.ident)], running)
        po.start(expected=2)

    while not worker_loop:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    # Written once this task is suspended below (the loop calls soon
    # only after it yields).
    loop.call_soon(threading.Thread(target=write, daemon=True).start)
    await done.wait()


if __name__ == "__main__":
    asyncio.run(main())
