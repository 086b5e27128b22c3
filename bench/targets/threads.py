"""Benchmark target: N threads, each DEPTH Python frames deep, all parked.

usage: threads.py N DEPTH READY_FILE
Each frame holds about ten locals, so the same target serves `dump --locals`.
"""
import sys
import threading

N, DEPTH, READY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
parked = threading.Barrier(N + 1)
never = threading.Event()


def descend(depth, tag):
    a, b, c = depth, depth * 2, str(depth)
    items = [depth, tag, None]
    mapping = {"depth": depth, "tag": tag}
    pair = (a, c)
    ratio = depth / 3.0
    flag = depth % 2 == 0
    if depth > 1:
        return descend(depth - 1, tag)
    parked.wait()
    never.wait()
    return a, b, c, items, mapping, pair, ratio, flag


for i in range(N):
    threading.Thread(target=descend, args=(DEPTH - 3, f"t{i}"), name=f"bench-{i}", daemon=True).start()
parked.wait()
with open(READY, "w") as f:
    f.write("ready")
never.wait()
