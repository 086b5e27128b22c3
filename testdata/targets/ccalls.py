"""The main thread calls Python functions from C in a tight loop (map,
sorted's key, a generator run by sum, __hash__ run by set, asyncio's
callbacks): each call enters a new eval loop, so a stop often lands in an
eval loop's prologue or epilogue. Writes functions.json in its working
directory (each function's qualname, file and the lines its code spans;
for the standard library, whose functions asyncio runs, its directory),
then prints "ready" and spins until stdin closes; another thread answers
each "ping" line with "pong".

usage: python ccalls.py
"""
import _thread
import asyncio
import json
import os
import sys


def g(x):
    return x


def h(x):
    return x + 1


def gen(n):
    for i in range(n):
        yield i


class Key:
    def __init__(self, v):
        self.v = v

    def __hash__(self):
        return self.v

    def __eq__(self, other):
        return self.v == other.v


async def step(i):
    await asyncio.sleep(0)
    return i


async def steps():
    for _ in range(20):
        await asyncio.gather(*[step(i) for i in range(20)])


def loop():
    keys = [Key(i) for i in range(100)]
    while True:
        for _ in map(g, range(1000)):
            pass
        sorted(range(100), key=h)
        sum(gen(100))
        set(keys)
        asyncio.run(steps())


def spans():
    out = []
    todo = [f.__code__ for f in (g, h, gen, Key.__init__, Key.__hash__, Key.__eq__, step, steps, loop, main, respond)]
    while todo:  # with the code objects nested in them (comprehensions)
        code = todo.pop()
        todo += [c for c in code.co_consts if hasattr(c, "co_lines")]
        lines = [ln for _, _, ln in code.co_lines() if ln is not None]
        out.append({"qualname": getattr(code, "co_qualname", code.co_name), "file": code.co_filename,
                    "first": min(lines + [code.co_firstlineno]), "last": max(lines)})
    out.append({"qualname": "<module>", "file": __file__, "first": 1, "last": 10**6})
    # The standard library's functions (what asyncio.run calls), any line:
    # its directory, its frozen modules and the functions it makes by exec.
    for prefix in (os.path.dirname(os.__file__) + os.sep, "<frozen ", "<string>"):
        out.append({"qualname": "", "file": prefix, "first": 0, "last": 0})
    return out


def main():
    with open("functions.json", "w") as f:
        json.dump(spans(), f)
    _thread.start_new_thread(respond, ())
    print("ready", flush=True)
    loop()


def respond():
    for line in sys.stdin:
        if line.strip() == "ping":
            print("pong", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
