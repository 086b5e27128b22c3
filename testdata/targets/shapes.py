"""Threads parked in many shapes of ordinary code.

usage: python shapes.py ORACLE_PATH
"""

import _thread
import queue
import os
import select
import threading
import time

import pyscope_oracle as po

never = threading.Event()  # never set: waiting on it blocks for good
held = threading.Lock()
held.acquire()
jobs = queue.Queue()
pipe_r, pipe_w = os.pipe()  # nothing is ever written


# Plain nested functions.
def outer():
    def middle():
        def inner():
            never.wait()
        inner()
    middle()


# Methods, nested classes, a classmethod and a staticmethod.
class Service:
    class Handler:
        def handle(self):
            Service.Handler.helper()

        @staticmethod
        def helper():
            held.acquire()

    @classmethod
    def run(cls):
        cls.Handler().handle()


# A class body executing (its frame is the class's own code).
def build_class():
    class Config:
        time.sleep(3600)
    return Config


# A generator iterated by a for loop, through yield from.
def numbers():
    yield 1
    jobs.get()
    yield 2


def relay():
    yield from numbers()


def consume():
    for _ in relay():
        pass


# A generator expression and a list comprehension (inlined on 3.12+).
def wait_in_genexpr():
    return sum(never.wait() or 1 for _ in range(1))


def wait_in_listcomp():
    return [select.select([pipe_r], [], []) for _ in range(1)]


def wait_in_dictcomp():
    return {k: held.acquire() for k in "a"}


# A function defined by exec of a string: its file is "<string>".
namespace = {"never": never}
exec("def from_exec():\n    never.wait()\n", namespace)


# A finalizer run as a function called from C returns: 3.12+ unlink the
# returning frame first, so the eval loop's entry shim, with no Python frame
# of its own, sits between __del__ and the caller of map().
class Finalized:
    def __del__(self):
        never.wait()


def returns_finalized(x):
    f = Finalized()
    return x


def finalize_on_return():
    return list(map(returns_finalized, [1]))


def unnamed():
    po.checkin()
    never.wait()


def main():
    threads = [
        threading.Thread(target=outer, name="worker-0"),
        threading.Thread(target=Service.run, name="service"),
        threading.Thread(target=build_class, name="class-body"),
        threading.Thread(target=consume, name="generator"),
        threading.Thread(target=wait_in_genexpr, name="genexpr"),
        threading.Thread(target=wait_in_listcomp, name="listcomp"),
        threading.Thread(target=wait_in_dictcomp, name="dictcomp"),
        threading.Thread(target=namespace["from_exec"], name="exec"),
        threading.Thread(target=lambda: never.wait(), name="lambda"),
        threading.Thread(target=finalize_on_return, name="finalizer"),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    # A thread made without the threading module has no name.
    _thread.start_new_thread(unnamed, ())
    # main + workers + unnamed + responder
    po.start(expected=1 + len(threads) + 1 + 1)
    never.wait()


if __name__ == "__main__":
    main()
