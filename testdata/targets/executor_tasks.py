"""asyncio tasks that wait for work in threads, and the target's own view
of who runs it (the executor oracle).

The main thread's loop runs three tasks: "in-executor" awaits
loop.run_in_executor on a ThreadPoolExecutor(max_workers=1) whose one
worker blocks on an Event; "queued" awaits run_in_executor on the same
executor, so its work item waits in the queue; "to-thread" awaits
asyncio.to_thread, run by the default executor, blocking on an Event
too. The executors record each concurrent future submit() returns. Two
decoy threads, started after the workers, run the run method of a class
that is no work item whose self.future is a running work's concurrent
future: they run nothing of it and must not be named. Once
both works run, ORACLE.executor.json gets, per task, its id(), the
asyncio future it is suspended on (_fut_waiter), the concurrent future's
id() and the threading.get_ident() of the thread running its work (read
inside the work; null for the queued one); then pyscope_oracle reports
the threads.

usage: python executor_tasks.py ORACLE_PATH
"""

import asyncio
import concurrent.futures
import functools
import json
import os
import sys
import threading

import pyscope_oracle as po

RELEASE = threading.Event()  # never set: the works block for good
SUBMITTED = {}  # work label -> the concurrent future submit() returned
RUNS = {}  # work label -> threading.get_ident() of the thread running it
STARTED = {}  # work label -> threading.Event set once it runs


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor that records the future of each work."""

    def submit(self, fn, /, *args, **kwargs):
        fut = super().submit(fn, *args, **kwargs)
        # run_in_executor submits work(label); to_thread a
        # partial(ctx.run, work, label).
        label = args[-1] if args else fn.args[-1]
        SUBMITTED[label] = fut
        return fut


class Decoy:
    """Not a work item, though its run has the same name and attribute."""

    def __init__(self, future, started):
        self.future = future
        self.started = started

    def run(self):
        self.started.set()
        RELEASE.wait()


def work(label):
    RUNS[label] = threading.get_ident()
    STARTED[label].set()
    RELEASE.wait()
    return label


async def in_executor(loop, pool, label):
    return await loop.run_in_executor(pool, work, label)


async def to_thread(label):
    return await asyncio.to_thread(work, label)


async def main():
    loop = asyncio.get_running_loop()
    loop.set_default_executor(RecordingExecutor(thread_name_prefix="default-pool"))
    pool = RecordingExecutor(max_workers=1, thread_name_prefix="one-worker")
    for label in ("executor", "queued", "to_thread"):
        STARTED[label] = threading.Event()
    tasks = {
        "in-executor": ("executor", asyncio.create_task(in_executor(loop, pool, "executor"), name="in-executor")),
        "to-thread": ("to_thread", asyncio.create_task(to_thread("to_thread"), name="to-thread")),
    }
    while not (STARTED["executor"].is_set() and STARTED["to_thread"].is_set()):
        await asyncio.sleep(0.01)
    for label in ("executor", "to_thread"):
        started = threading.Event()
        threading.Thread(target=Decoy(SUBMITTED[label], started).run, name="decoy-" + label, daemon=True).start()
        started.wait()
    tasks["queued"] = ("queued", asyncio.create_task(in_executor(loop, pool, "queued"), name="queued"))
    while "queued" not in SUBMITTED or any(t._fut_waiter is None for _, t in tasks.values()):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    out = []
    for name, (label, task) in sorted(tasks.items()):
        cf = SUBMITTED[label]
        out.append({
            "name": name,
            "id": id(task),
            "future": id(task._fut_waiter),
            "concurrent": id(cf),
            "state": cf._state,
            "thread": RUNS.get(label),
        })
    with open(os.path.abspath(sys.argv[1]) + ".executor.json", "w") as f:
        json.dump({"tasks": out}, f)
    po.start(expected=3)
    await asyncio.gather(*(t for _, t in tasks.values()))


asyncio.run(main())
