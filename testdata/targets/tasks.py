"""asyncio tasks in every shape pyscope must show, and the target's own view
of them (the tasks oracle).

The main thread's loop runs a tree of named tasks: nested gather, a
TaskGroup (3.11+), wait_for, shield, asyncio.wait, an async generator, a
`yield from` chain of @types.coroutine generators, a task awaiting another
directly, a Task subclass, a pure-Python task, an eager task (3.12+), a
task holding finished futures (result, exception, cancelled), a gather
with one child done, tasks that a gather, shield or wait was given
while their caller no longer waits for them (a gather that failed fast, a
timed-out shield, a wait that returned at the first completed, a gather
awaited by another task or never, a gather's child that then awaits its
caller), a gather of coroutines with a TaskGroup inside, a TaskGroup's
parent in its body, finished tasks (done, failed, cancelled: listed as
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


# Tasks that a gather, shield or wait was given while their caller no
# longer waits for them. 3.14 records the caller as awaiting them until
# they are done: only what each task is suspended on says who waits.
SETTLED = []  # the callers below, once they wait for what they wait for last


async def fails():
    await asyncio.sleep(0)
    raise ValueError("fails fast")


async def gather_failed_fast():
    # The gather fails with its first child: the other runs on, awaited by
    # nobody.
    try:
        await asyncio.gather(fails(), named(leaf_sleep(), "failfast-child"))
    except ValueError:
        pass
    SETTLED.append("failfast")
    await leaf_sleep()


async def shield_timed_out():
    # The shield's caller timed out; the shielded task runs on.
    try:
        await asyncio.wait_for(asyncio.shield(named(leaf_sleep(), "shielded-on")), 0.01)
    except asyncio.TimeoutError:
        pass
    SETTLED.append("shield-timeout")
    await leaf_sleep()


async def wait_first():
    # asyncio.wait returned at the first completed; the other runs on.
    quick = asyncio.create_task(fails())
    FINISHED.append(quick)
    await asyncio.wait([quick, named(leaf_sleep(), "wait-first-pending")], return_when=asyncio.FIRST_COMPLETED)
    quick.exception()  # retrieved: no "never retrieved" log
    SETTLED.append("wait-first")
    await leaf_sleep()


async def await_gather(fut):
    await fut


async def gather_elsewhere():
    # A gather called here and awaited by another task, which this awaits.
    fut = asyncio.gather(named(leaf_sleep(), "elsewhere-a"), named(leaf_sleep(), "elsewhere-b"))
    await named(await_gather(fut), "elsewhere-awaiter", ["elsewhere-a", "elsewhere-b"])


async def gather_unawaited():
    # A gather called and held, never awaited.
    KEEP.append(asyncio.gather(named(leaf_sleep(), "unawaited-child")))
    SETTLED.append("unawaited")
    await leaf_sleep()


async def awaits_parent(parent):
    await asyncio.sleep(0.01)
    SETTLED.append("parent-awaiter")
    await parent


async def gather_then_awaited():
    # The gather fails fast; its other child then awaits this task, which
    # sleeps: no cycle.
    try:
        await asyncio.gather(fails(), named(awaits_parent(asyncio.current_task()), "parent-awaiter", ["gather-failer"]))
    except ValueError:
        pass
    SETTLED.append("gather-failer")
    await leaf_sleep()


async def gather_coros():
    # A gather of coroutines (tasks it creates), one of which runs a
    # TaskGroup.
    more = [group_in_gather()] if sys.version_info >= (3, 11) else []
    fut = asyncio.gather(leaf_sleep(), *more)
    AWAITS[asyncio.current_task().get_name()] = [c.get_name() for c in fut._children]
    await fut


async def group_in_gather():
    async with asyncio.TaskGroup() as tg:
        AWAITS[asyncio.current_task().get_name()] = ["gathered-tg-a", "gathered-tg-b"]
        named_in(tg, leaf_sleep(), "gathered-tg-a")
        named_in(tg, leaf_sleep(), "gathered-tg-b")


async def group_body():
    # A TaskGroup's parent awaits its tasks in its body too: here it also
    # awaits its sleep (asyncio's _fut_waiter).
    async with asyncio.TaskGroup() as tg:
        named_in(tg, leaf_sleep(), "body-child")
        SETTLED.append("group-body")
        await leaf_sleep()


def named_in(tg, coro, name):
    AWAITS[name] = []
    return tg.create_task(coro, name=name)


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
    stale = []
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
                entry["futures"] = [id(waiter)] if waiter is not None and (not AWAITS.get(name) or name == "group-body") else []
                # 3.14's own record of who awaits it, when it names a
                # task that does not: the case pyscope must not trust.
                for by in getattr(t, "_asyncio_awaited_by", None) or ():
                    if name not in (AWAITS.get(by.get_name()) or ()):
                        stale.append(f"{name} awaited by {by.get_name()}")
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
        json.dump({"tasks": tasks, "cycle": cycle, "finished": finished, "stale": stale,
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
    named(gather_failed_fast(), "failfast")
    named(shield_timed_out(), "shield-timeout")
    named(wait_first(), "wait-first")
    named(gather_elsewhere(), "gather-elsewhere", ["elsewhere-awaiter"])
    named(gather_unawaited(), "unawaited")
    named(gather_then_awaited(), "gather-failer")
    named(gather_coros(), "gather-coros")  # AWAITS: its gather's children
    settle = ["failfast", "shield-timeout", "wait-first", "unawaited", "parent-awaiter", "gather-failer"]
    if sys.version_info >= (3, 11):
        named(group_body(), "group-body", ["body-child"])
        settle.append("group-body")
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
    while not set(settle) <= set(SETTLED):
        await asyncio.sleep(0.01)
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
