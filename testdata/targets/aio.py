"""Coroutines: an asyncio loop blocked in select on the main thread, and a
coroutine chain (with an async generator) blocked synchronously in a worker.

usage: python aio.py ORACLE_PATH
"""

import asyncio
import threading

import pyscope_oracle as po

never = threading.Event()


# Worker: coroutines that block the whole loop, so they stay on the stack.
def blocking_call():
    never.wait()


async def ticks():
    yield 1
    blocking_call()
    yield 2


async def consumer():
    async for _ in ticks():
        pass


async def handler():
    await asyncio.sleep(0)
    await consumer()


def worker():
    asyncio.run(handler())


# Main thread: suspended tasks; the loop itself waits in select.
async def idle(n):
    await asyncio.Event().wait()


async def sleeper():
    await asyncio.sleep(3600)


async def main():
    worker_thread = threading.Thread(target=worker, name="loop-worker", daemon=True)
    worker_thread.start()
    tasks = [asyncio.create_task(idle(i)) for i in range(2)]
    tasks.append(asyncio.create_task(sleeper()))
    # main + worker + responder
    po.start(expected=3)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main())
