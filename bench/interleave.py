"""Times commands side by side, interleaved: run 1 of each, then run 2 of
each, ... so that a machine whose load changes (shared CI, other jobs)
weighs on all of them alike. Prints a Markdown table: median and minimum of
the wall time and of the CPU time (user + system, from wait4) of each
command, and the ratios of the last command's medians to each one's.

usage: python3 interleave.py RUNS LABEL=COMMAND ... (COMMAND split as a shell would)
"""
import os
import shlex
import statistics
import sys
import time

runs = int(sys.argv[1])
specs = [a.split("=", 1) for a in sys.argv[2:]]
cmds = [shlex.split(c) for _, c in specs]
wall = [[] for _ in cmds]
cpu = [[] for _ in cmds]
null = os.open(os.devnull, os.O_WRONLY)
for r in range(runs + 2):  # two warm-up rounds
    for i, c in enumerate(cmds):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.execvp(c[0], c)
        _, status, ru = os.wait4(pid, 0)
        if status != 0:
            sys.exit("%s failed (status %d)" % (specs[i][1], status))
        if r >= 2:
            wall[i].append((time.perf_counter() - t0) * 1e3)
            cpu[i].append((ru.ru_utime + ru.ru_stime) * 1e3)
peer = statistics.median(wall[-1])
peer_cpu = statistics.median(cpu[-1])
print("| command | wall median | wall min | CPU median | CPU min | %s ÷ this (wall median) | (CPU median) |" % specs[-1][0])
print("|---|---|---|---|---|---|---|")
for (label, _), w, c in zip(specs, wall, cpu):
    print("| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2f× | %.2f× |" % (
        label, statistics.median(w), min(w), statistics.median(c), min(c),
        peer / statistics.median(w), peer_cpu / statistics.median(c)))
