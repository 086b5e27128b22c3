"""N pending asyncio tasks (default 10,000), each awaiting an Event in a
coroutine two frames deep; a parent task gathers them all.

usage: python many_tasks.py ORACLE_PATH [N]
"""

import asyncio
import json
import os
import sys

import pyscope_oracle as po

N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000


async def wait_on(ev):
    await ev.wait()


async def worker(ev):
    await wait_on(ev)


async def parent(ev):
    tasks = [asyncio.create_task(worker(ev), name="worker-%d" % i) for i in range(N)]
    await asyncio.gather(*tasks)


async def main():
    ev = asyncio.Event()
    p = asyncio.create_task(parent(ev), name="parent")
    while len(asyncio.all_tasks()) < N + 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    with open(os.path.abspath(sys.argv[1]) + ".tasks.json", "w") as f:
        json.dump({"n": N, "parent": id(p)}, f)
    po.start(expected=1)
    await ev.wait()


asyncio.run(main())
