"""Benchmark target for core dumps: a large touched heap, parked threads,
and a ticker that measures how long the process was stopped.

usage: heap.py HEAP_MB THREADS READY_FILE [random]
With "random" the heap is filled with random bytes (as real data is, it
neither compresses nor leaves zero blocks a core could skip); otherwise one
byte of each page is set.
The main thread ticks every millisecond and keeps the longest gap between
ticks; SIGUSR1 writes that gap (ms) to READY_FILE.gap and resets it, so the
pause any tool inflicts is measured from inside the target.
"""
import os
import signal
import sys
import threading
import time

MB, N, READY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
heap = bytearray(MB << 20)
if len(sys.argv) > 4 and sys.argv[4] == "random":
    import random
    for off in range(0, len(heap), 64 << 20):
        heap[off:off + (64 << 20)] = random.randbytes(min(64 << 20, len(heap) - off))
elif MB:
    heap[::4096] = b"\x01" * len(range(0, len(heap), 4096))  # touch every page
never = threading.Event()


def park(depth):
    if depth:
        return park(depth - 1)
    never.wait()


for i in range(N):
    threading.Thread(target=park, args=(20,), name=f"worker-{i}", daemon=True).start()
gap = 0.0


def report(*_):
    global gap
    with open(READY + ".gap.tmp", "w") as f:
        f.write("%.3f\n" % (gap * 1000))
    os.rename(READY + ".gap.tmp", READY + ".gap")
    gap = 0.0


signal.signal(signal.SIGUSR1, report)
open(READY, "w").close()
last = time.monotonic()
while True:
    time.sleep(0.001)
    now = time.monotonic()
    gap = max(gap, now - last)
    last = now
