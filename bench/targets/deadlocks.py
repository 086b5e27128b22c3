"""Benchmark target for the lock analysis: N threads, DEPTH frames deep,
deadlocked in pairs on locks taken with `with` (every thread waits, every
lock has a holder, N/2 cycles).

usage: deadlocks.py N DEPTH READY_FILE
"""
import sys
import threading
import time

N, DEPTH, READY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = threading.Barrier(N + 1)


def descend(depth, first, second, gate):
    a, b, c = depth, depth * 2, str(depth)
    if depth > 1:
        return descend(depth - 1, first, second, gate)
    with first:
        held.wait()
        gate.wait()
        with second:
            return a, b, c


for i in range(N // 2):
    x, y, gate = threading.Lock(), threading.Lock(), threading.Barrier(2)
    for first, second in ((x, y), (y, x)):
        threading.Thread(target=descend, args=(DEPTH - 3, first, second, gate), daemon=True).start()
held.wait()
time.sleep(0.5)  # until every thread blocks on its second lock
with open(READY, "w") as f:
    f.write("ready")
threading.Event().wait()
