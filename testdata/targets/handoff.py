"""Test target for the proof that no thread ran Python since a capture:
a thread holds a lock and sleeps, another waits for the lock, and the main
thread reads requests, all three blocked without the GIL. "release" hands
the lock over (the holder releases it, the waiter takes it and says
"acquired"); "noop" has the main thread run a little Python code and block
again ("done"), with no other thread woken.

usage: handoff.py
"""
import sys
import threading

lock, go, held = threading.Lock(), threading.Event(), threading.Event()


def holder():
    with lock:
        held.set()
        go.wait()
    threading.Event().wait()


def waiter():
    held.wait()
    with lock:
        print("acquired", flush=True)
        threading.Event().wait()


threading.Thread(target=holder, daemon=True).start()
held.wait()
threading.Thread(target=waiter, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "release":
        go.set()
    elif line.strip() == "noop":
        print("done", sum(range(100)), flush=True)
