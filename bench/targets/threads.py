"""Benchmark target: N threads, each DEPTH Python frames deep, all parked.

usage: threads.py N DEPTH READY_FILE [busy]
Each frame holds about ten locals, so the same target serves `dump --locals`.
With "busy", one more thread spins in Python: it holds the GIL, so a
default dump has a thread to stop.
"""
import sys
import threading

N, DEPTH, READY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
never = threading.Event()
arrived, arrivals, parked = threading.Lock(), [0], threading.Event()


def descend(depth, tag):
    a, b, c = depth, depth * 2, str(depth)
    items = [depth, tag, None]
    mapping = {"depth": depth, "tag": tag}
    pair = (a, c)
    ratio = depth / 3.0
    flag = depth % 2 == 0
    if depth > 1:
        return descend(depth - 1, tag)
    with arrived:
        arrivals[0] += 1
        if arrivals[0] == N:
            parked.set()
    never.wait()
    return a, b, c, items, mapping, pair, ratio, flag


for i in range(N):
    threading.Thread(target=descend, args=(DEPTH - 3, f"t{i}"), name=f"bench-{i}", daemon=True).start()
def spin():
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


# The busy thread starts once every other thread has parked: started
# earlier, it would hold the GIL that each of them needs on its way to
# never.wait() (ten thousand threads take minutes to settle).
parked.wait()
if sys.argv[4:] == ["busy"]:
    threading.Thread(target=spin, name="busy", daemon=True).start()
with open(READY, "w") as f:
    f.write("ready")
never.wait()
