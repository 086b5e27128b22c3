"""Benchmark target for a profiler's cost to the process: one thread does
units of pure-Python work DEPTH frames deep and counts them; PARKED more
threads wait DEPTH frames deep. The target measures its own throughput.

usage: throughput.py PARKED DEPTH READY_FILE
Answers each line on stdin with "<time.monotonic()> <units done>";
EOF on stdin ends it.
"""
import sys
import threading
import time

PARKED, DEPTH, READY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
units = 0
never = threading.Event()
parked = threading.Barrier(PARKED + 1)


def unit():
    # A few microseconds of interpretation.
    s = 0
    for i in range(200):
        s += i * i
    return s


def work(depth):
    global units
    if depth > 1:
        return work(depth - 1)
    while True:
        unit()
        units += 1


def park(depth):
    if depth > 1:
        return park(depth - 1)
    parked.wait()
    never.wait()


for _ in range(PARKED):
    threading.Thread(target=park, args=(DEPTH,), daemon=True).start()
parked.wait()
threading.Thread(target=work, args=(DEPTH,), daemon=True).start()
with open(READY, "w") as f:
    f.write("ready")
for line in sys.stdin:
    print(time.monotonic(), units, flush=True)
