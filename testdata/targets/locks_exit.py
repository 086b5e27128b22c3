"""An interpreter stuck while it shuts down.

usage: python locks_exit.py MODE

  shutdown  the main thread returns while a non-daemon thread is blocked:
            the interpreter's finalization waits for it (threading._shutdown)
  del       a finalizer that the interpreter runs while it finalizes blocks
            on a lock a daemon thread holds

It writes the ids a test checks to locks_exit.json in the current
directory, then prints "ready" once it is stuck (from the finalizer, or
after the main thread ended).
"""
import gc
import json
import os
import sys
import threading
import time

mode = sys.argv[1]
held = threading.Lock()
taken = threading.Event()


def holder():
    held.acquire()
    taken.set()
    time.sleep(3600)


def blocked():
    with held:
        pass


class Stuck:
    def __init__(self):
        # Module globals may be gone by the time the finalizer runs.
        self.lock, self.write = held, os.write

    def __del__(self):
        self.write(1, b"ready\n")
        self.lock.acquire()


def save(facts):
    with open("locks_exit.json.tmp", "w") as f:
        json.dump(facts, f)
    os.replace("locks_exit.json.tmp", "locks_exit.json")


h = threading.Thread(target=holder, name="holder", daemon=True)
h.start()
taken.wait()
facts = {"lock": id(held), "holder": h.ident, "main": threading.get_ident()}
if mode == "shutdown":
    b = threading.Thread(target=blocked, name="blocked")
    b.start()
    facts["blocked"] = b.ident
    facts["blocked_obj"] = id(b)
    save(facts)

    def announce():
        # Once the main thread is gone, the interpreter waits in _shutdown.
        while threading.main_thread().is_alive():
            time.sleep(0.01)
        time.sleep(0.2)
        os.write(1, b"ready\n")
    threading.Thread(target=announce, daemon=True).start()
else:
    # In a reference cycle, so that the interpreter's last collection
    # finalizes it, once it has said it is finalizing (and no collection
    # before).
    gc.disable()
    stuck = Stuck()
    stuck.cycle = stuck
    del stuck
    save(facts)
