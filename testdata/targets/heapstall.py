"""A target with a big heap that keeps changing, for gcore's pause and
consistency (issue 15).

usage: python heapstall.py INFO HEAP_MIB STALLS

The heap is HEAP_MIB blocks of 1 MiB, every page written. A mutator thread
rewrites one block after another; for each it records, in memory next to
the heap, the step it starts (begin), the block's CRC-32 once rewritten,
and the step it finished (end). Whatever instant the process is stopped
at, every block but the one of step `begin` (when begin != end) matches its
recorded CRC: a core taken from one stop must show exactly that, while a
copy made as the process runs cannot.

A ticker thread sleeps 1 ms at a time and appends to STALLS every gap of
more than 10 ms between two ticks, as "start end" in CLOCK_MONOTONIC
seconds: the pause as the target lives it.

INFO gets the addresses (JSON). Prints "ready", answers "ping" on stdin
with "pong"; EOF ends the process.
"""
import ctypes
import json
import os
import sys
import threading
import time
import zlib

info_path, heap_mib, stalls_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BLOCK = 1 << 20
heap = bytearray(heap_mib * BLOCK)
base = ctypes.addressof((ctypes.c_char * len(heap)).from_buffer(heap))
view = memoryview(heap)
crcs = (ctypes.c_uint32 * heap_mib)()
seq = (ctypes.c_uint64 * 2)()  # begin, end


def fill(step):
    b = step % heap_mib
    seq[0] = step
    ctypes.memset(base + b * BLOCK, (step * 131 + 7) % 255 + 1, BLOCK)
    crcs[b] = zlib.crc32(view[b * BLOCK:(b + 1) * BLOCK])
    seq[1] = step


step = 0
for step in range(1, heap_mib + 1):
    fill(step)


def mutate():
    s = step
    while True:
        s += 1
        fill(s)


stalls = os.open(stalls_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def tick():
    last = time.monotonic()
    while True:
        time.sleep(0.001)
        now = time.monotonic()
        if now - last > 0.010:
            os.write(stalls, b"%.6f %.6f\n" % (last, now))
        last = now


def respond():
    for line in sys.stdin:
        os.write(1, b"pong\n")
    os._exit(0)


threading.Thread(target=tick, name="ticker", daemon=True).start()
threading.Thread(target=mutate, name="mutator", daemon=True).start()
threading.Thread(target=respond, name="responder", daemon=True).start()
with open(info_path, "w") as f:
    json.dump({"pid": os.getpid(), "heap": base, "blocks": heap_mib, "block": BLOCK,
               "crcs": ctypes.addressof(crcs), "seq": ctypes.addressof(seq)}, f)
print("ready", flush=True)
while True:
    time.sleep(1)
