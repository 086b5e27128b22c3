"""An aiohttp server with slow requests in flight, and the target's own view
of their tasks (the tasks oracle).

The server listens on an ephemeral port of 127.0.0.1, writes it to
ORACLE.port and prints "listening". Each request's handler records the task
it runs in (asyncio.current_task()) and waits on an Event that is never
set. Once N requests wait, ORACLE.tasks.json gets, per request, its task's
id and name and its coroutine chain walked with cr_await and f_lineno
(innermost first, the handler's frame among them); then pyscope_oracle
reports the threads.

usage: python aiohttp_server.py ORACLE_PATH N [SITE_DIR] [uvloop]
"""

import asyncio
import gc
import inspect
import json
import os
import sys

if len(sys.argv) > 3 and sys.argv[3]:
    sys.path.insert(0, sys.argv[3])

from aiohttp import web

import pyscope_oracle as po

N = int(sys.argv[2])
USE_UVLOOP = len(sys.argv) > 4 and sys.argv[4] == "uvloop"
REQUESTS = []  # (task, path) of each request in flight
never = None


def chain(task):
    """The task's coroutine chain, innermost first: cr_await (gi_yieldfrom,
    ag_await) from its coroutine on, each frame with its f_lineno."""
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
            nxt = next(r for r in gc.get_referents(nxt) if inspect.isasyncgen(r))
        obj = nxt
    out.reverse()
    return out


async def slow(request):
    REQUESTS.append((asyncio.current_task(), request.path))
    if len(REQUESTS) == N:
        asyncio.get_running_loop().call_later(0.2, report)
    await never.wait()
    return web.Response(text="done")


def report():
    loop = asyncio.get_running_loop()
    entries = []
    for task, path in REQUESTS:
        entries.append({"id": id(task), "name": task.get_name(), "path": path, "coroutine": chain(task)})
    path = os.path.abspath(sys.argv[1]) + ".tasks.json"
    with open(path + ".tmp", "w") as f:
        json.dump({"requests": entries, "loop": type(loop).__module__ + "." + type(loop).__qualname__,
                   "handler": slow.__code__.co_name}, f, indent=1)
    os.replace(path + ".tmp", path)
    po.start(expected=1)


async def main():
    global never
    never = asyncio.Event()
    app = web.Application()
    app.router.add_get("/slow/{n}", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    with open(os.path.abspath(sys.argv[1]) + ".port", "w") as f:
        f.write(str(port))
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if USE_UVLOOP:
        import uvloop
        if hasattr(uvloop, "run"):
            uvloop.run(main())
        else:
            uvloop.install()
            asyncio.run(main())
    else:
        asyncio.run(main())
