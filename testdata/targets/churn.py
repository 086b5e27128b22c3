"""Creates and ends threads as fast as it can (hundreds per second) while
a few threads stay parked (issue 7: dumps during thread churn).

usage: python churn.py
Prints "ready N" once the churn runs (N threads started so far) and answers
"ping" on stdin with "pong".
"""
import sys
import threading

never = threading.Event()
started = 0


def short():
    sum(range(100))


def spawner():
    global started
    while True:
        ts = [threading.Thread(target=short) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        started += 8


def parked():
    never.wait()


for i in range(3):
    threading.Thread(target=parked, name="parked-%d" % i, daemon=True).start()
threading.Thread(target=spawner, name="spawner", daemon=True).start()
while started < 200:
    threading.Event().wait(0.01)
print("ready", started, flush=True)
for line in sys.stdin:
    print("pong", flush=True)
