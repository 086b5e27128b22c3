#!/usr/bin/env python3
"""pyscope's profiler side by side with CPython 3.14's RemoteUnwinder,
py-spy and austin, on the same targets in one run; prints Markdown.

usage: bench/profiler.py   (run by bench/profiler.sh, which sets the
environment: PYSCOPE, PY314, PY312, PEERS (a venv's bin), WORK, REPO)

1. Per-sample cost: RemoteUnwinder(pid, all_threads=True).get_stack_trace()
   in a loop against pyscope's sampling step in a loop (BenchmarkTick),
   on threads.py 3x5, 4x50, 100x50 (3.14); wall and CPU time per sample.
2. Sustained rate: each profiler records 10 s at 1,000 Hz on 4 threads x 50
   frames: samples per second taken, share of intended, CPU used.
3. Slowdown: the target's own throughput (throughput.py) at 100 Hz, in
   windows alternating with unprofiled ones.
4. Accuracy: known shares of CPU time in known functions (shares.py,
   measured by the target with time.thread_time()) against each profile.
"""
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

E = os.environ
PYSCOPE, PY314, PY312 = E["PYSCOPE"], E["PY314"], E["PY312"]
PEERS, WORK, REPO = E["PEERS"], E["WORK"], E["REPO"]
PYSPY, AUSTIN = os.path.join(PEERS, "py-spy"), os.path.join(PEERS, "austin")
procs = []


def start_threads(py, n, depth, busy=False):
    ready = os.path.join(WORK, "ready-%s-%d-%d%s" % (os.path.basename(py), n, depth, "busy" if busy else ""))
    p = subprocess.Popen([py, os.path.join(REPO, "bench/targets/threads.py"), str(n), str(depth), ready] + (["busy"] if busy else []))
    procs.append(p)
    for _ in range(600):
        if os.path.exists(ready):
            return p.pid
        time.sleep(0.05)
    sys.exit("threads.py %d %d did not start" % (n, depth))


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, timeout=120):
    """Runs cmd; returns (stdout+stderr, wall s, CPU s of the command)."""
    c0, t0 = cpu_children(), time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return r.stdout, time.monotonic() - t0, cpu_children() - c0


# ---- 1. per-sample cost ------------------------------------------------

UNWIND = """
import _remote_debugging as rd, sys, time
pid, n = int(sys.argv[1]), int(sys.argv[2])
u = rd.RemoteUnwinder(pid, all_threads=True)
u.get_stack_trace()
t, c = time.perf_counter(), time.process_time()
for _ in range(n):
    u.get_stack_trace()
print((time.perf_counter() - t) / n * 1e6, (time.process_time() - c) / n * 1e6)
"""


def cost():
    # "busy": one more thread spins, so every sample reads the process
    # (one of a process none of whose threads ran since the last reads
    # nothing).
    shapes = [(3, 5, 5000, ""), (3, 5, 5000, "busy"), (4, 50, 3000, ""), (100, 50, 300, "")]
    pids = {"%dx%d%s" % (n, d, b): start_threads(PY314, n, d, b == "busy") for n, d, _, b in shapes}
    ru, ps = {}, {}
    env = dict(E, BENCH_TARGETS=",".join("%s=%d" % kv for kv in pids.items()))
    for _round in range(2):
        for n, d, calls, b in shapes:
            k = "%dx%d%s" % (n, d, b)
            out = subprocess.run([PY314, "-c", UNWIND, str(pids[k]), str(calls)], capture_output=True, text=True, check=True).stdout
            w, c = map(float, out.split())
            old = ru.get(k, (1e18, 1e18))
            ru[k] = (min(w, old[0]), min(c, old[1]))
        out = subprocess.run(["go", "test", "-run", "^$", "-bench", "^BenchmarkTick$", "-benchtime", "2s", "./internal/sampler"],
                             cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        for m in re.finditer(r"BenchmarkTick/(\S+)/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) cpu-µs/op", out):
            key = (m.group(1), m.group(2))
            w, c = float(m.group(3)) / 1000, float(m.group(4))
            old = ps.get(key, (1e18, 1e18))
            ps[key] = (min(w, old[0]), min(c, old[1]))
    print("\n### Per-sample cost against RemoteUnwinder (3.14.6; best of 2 rounds)\n")
    print("| target | RemoteUnwinder wall / CPU | pyscope `--nonblocking` wall / CPU | RemoteUnwinder ÷ pyscope (CPU) | pyscope blocking wall / CPU |")
    print("|---|---|---|---|---|")
    for n, d, _, b in shapes:
        k = "%dx%d%s" % (n, d, b)
        rw, rc = ru[k]
        nw, nc = ps[(k, "nonblocking")]
        bw, bc = ps[(k, "blocking")]
        print("| %d threads × %d frames%s | %s / %s | %s / %s | **%.2f×** | %s / %s |" % (
            n, d, ", one more spinning" if b else "", us(rw), us(rc), us(nw), us(nc), rc / nc, us(bw), us(bc)))


def us(v):
    return "%.0f µs" % v if v >= 100 else "%.1f µs" % v


# ---- 2. sustained rate ---------------------------------------------------

def rate():
    pid = start_threads(PY312, 4, 50)
    dur, hz = 10, 1000
    rows = []
    for name, cmd in [
        ("pyscope record", [PYSCOPE, "record", "-r", str(hz), "-d", str(dur), "-f", "collapsed", "--idle", "-o", os.path.join(WORK, "r1"), str(pid)]),
        ("pyscope record --nonblocking", [PYSCOPE, "record", "--nonblocking", "-r", str(hz), "-d", str(dur), "-f", "collapsed", "--idle", "-o", os.path.join(WORK, "r2"), str(pid)]),
        ("py-spy record", [PYSPY, "record", "-r", str(hz), "-d", str(dur), "-f", "raw", "--idle", "-o", os.path.join(WORK, "r3"), "-p", str(pid)]),
        ("py-spy record --nonblocking", [PYSPY, "record", "--nonblocking", "-r", str(hz), "-d", str(dur), "-f", "raw", "--idle", "-o", os.path.join(WORK, "r4"), "-p", str(pid)]),
        ("austin -i 1ms", [AUSTIN, "-i", "1ms", "-x", str(dur), "-o", os.path.join(WORK, "r5"), "-p", str(pid)]),
    ]:
        out, wall, cpu = run(cmd)
        taken = None
        if name.startswith("pyscope"):
            m = re.search(r"in ([\d.]+) s: (\d+) ticks", out)
            taken, secs = int(m.group(2)), float(m.group(1))
        elif name.startswith("py-spy"):
            # py-spy counts a sample per thread: 5 here (main + 4).
            m = re.search(r"Samples: (\d+)", out)
            taken, secs = int(m.group(1)) / 5, dur
        else:
            # So does austin.
            m = re.search(r"Error rate : \D*\d+/(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", out))
            taken, secs = (int(m.group(1)) / 5 if m else 0), dur
        rows.append((name, taken / secs, 100 * taken / (hz * secs), 100 * cpu / wall))
    print("\n### Sustained rate: 4 threads × 50 frames (3.12.3), 10 s at 1,000 Hz\n")
    print("| profiler | samples/s | of intended | CPU (one core = 100%) |")
    print("|---|---|---|---|")
    for name, sps, pct, cpu in rows:
        print("| %s | %.0f | %.1f%% | %.0f%% |" % (name, sps, pct, cpu))


# ---- 3. slowdown -----------------------------------------------------------

class Throughput:
    def __init__(self, py, tag):
        ready = os.path.join(WORK, "tp-ready-" + tag)
        self.p = subprocess.Popen([py, os.path.join(REPO, "bench/targets/throughput.py"), "3", "50", ready],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(self.p)
        while not os.path.exists(ready):
            time.sleep(0.05)
        self.pid = self.p.pid

    def read(self):
        self.p.stdin.write("?\n")
        self.p.stdin.flush()
        t, n = self.p.stdout.readline().split()
        return float(t), int(n)


def windows(a, b, secs):
    """The throughputs of a and b over the same window."""
    a0, b0 = a.read(), b.read()
    time.sleep(secs)
    a1, b1 = a.read(), b.read()
    return (a1[1] - a0[1]) / (a1[0] - a0[0]), (b1[1] - b0[1]) / (b1[0] - b0[0])


def slowdown():
    # Two identical targets side by side: one profiled, the other the
    # control, so that what the machine's other load does to both cancels
    # out. Each round profiles one of them and compares the ratio of their
    # throughputs with the ratio in the windows around it.
    a, b = Throughput(PY312, "a"), Throughput(PY312, "b")
    win, rounds = 3, 6

    def profilers(pid, i):
        o = lambda n: os.path.join(WORK, "s%d-%d" % (n, i))
        return [
            ("pyscope record", [PYSCOPE, "record", "-r", "100", "-o", o(1), "-f", "collapsed", str(pid)]),
            ("pyscope record --nonblocking", [PYSCOPE, "record", "--nonblocking", "-r", "100", "-o", o(2), "-f", "collapsed", str(pid)]),
            ("py-spy record", [PYSPY, "record", "-r", "100", "-f", "raw", "-o", o(3), "-p", str(pid)]),
            ("py-spy record --nonblocking", [PYSPY, "record", "--nonblocking", "-r", "100", "-f", "raw", "-o", o(4), "-p", str(pid)]),
            ("austin -i 10ms", [AUSTIN, "-i", "10ms", "-o", o(5), "-p", str(pid)]),
        ]

    windows(a, b, 2)  # warm up
    res = {}
    for i in range(rounds):
        profiled, control = (a, b) if i % 2 == 0 else (b, a)
        for name, cmd in profilers(profiled.pid, i):
            p0, c0 = windows(profiled, control, win)
            prof = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # attached and sampling
            p1, c1 = windows(profiled, control, win)
            prof.send_signal(2)
            prof.wait(timeout=60)
            time.sleep(0.5)
            p2, c2 = windows(profiled, control, win)
            before = (p0 / c0 + p2 / c2) / 2
            res.setdefault(name, []).append(1 - (p1 / c1) / before)
    print("\n### Target slowdown at 100 Hz: its own throughput (3.12.3, 1 busy + 3 parked threads, 50 frames deep)\n")
    print("Two identical targets run side by side, one profiled and one as the control, so that the machine's other load, "
          "which slows both, cancels out. Each of %d rounds compares the ratio of their throughputs over a %d s profiled "
          "window with the ratio over the unprofiled windows before and after it; the two targets take turns.\n" % (rounds, win))
    print("| profiler | slowdown (median) | rounds |")
    print("|---|---|---|")
    for name in res:
        v = res[name]
        print("| %s | %.1f%% | %s |" % (name, 100 * statistics.median(v), ", ".join("%.1f%%" % (100 * x) for x in v)))


# ---- 4. accuracy -------------------------------------------------------------

FUNCS = ["alpha", "beta", "gamma", "delta", "epsilon"]


class Shares:
    def __init__(self, py):
        self.p = subprocess.Popen([py, os.path.join(REPO, "testdata/targets/shares.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(self.p)
        assert self.p.stdout.readline().strip() == "ready"
        self.pid = self.p.pid

    def report(self):
        self.p.stdin.write("report\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        return json.loads(line.split(" ", 1)[1])


def bucket(frames):
    """The innermost of the known functions on a stack (names), else work."""
    for f in reversed(frames):
        if f in FUNCS:
            return f
    return "work" if "work" in frames else None


def collapsed(path, name_of):
    got = {}
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            b = bucket([name_of(fr) for fr in stack.split(";")])
            if b:
                got[b] = got.get(b, 0) + float(n)
    return got


def accuracy():
    sh = Shares(PY312)
    time.sleep(0.5)
    dur, hz = 10, 500
    tools = [
        ("pyscope record", lambda o: [PYSCOPE, "record", "-F", "-r", str(hz), "-d", str(dur), "-f", "collapsed", "-o", o, str(sh.pid)],
         lambda o: collapsed(o, lambda fr: fr.split(" (")[0])),
        ("pyscope record --nonblocking", lambda o: [PYSCOPE, "record", "--nonblocking", "-F", "-r", str(hz), "-d", str(dur), "-f", "collapsed", "-o", o, str(sh.pid)],
         lambda o: collapsed(o, lambda fr: fr.split(" (")[0])),
        ("py-spy record", lambda o: [PYSPY, "record", "-F", "-r", str(hz), "-d", str(dur), "-f", "raw", "-o", o, "-p", str(sh.pid)],
         lambda o: collapsed(o, lambda fr: fr.split(" (")[0])),
        ("py-spy record --nonblocking", lambda o: [PYSPY, "record", "--nonblocking", "-F", "-r", str(hz), "-d", str(dur), "-f", "raw", "-o", o, "-p", str(sh.pid)],
         lambda o: collapsed(o, lambda fr: fr.split(" (")[0])),
        ("austin -s -i 2ms", lambda o: [AUSTIN, "-s", "-i", "2ms", "-x", str(dur), "-o", o, "-p", str(sh.pid)],
         lambda o: collapsed(o, lambda fr: fr.split(":")[-2] if fr.count(":") >= 2 else fr)),
    ]
    print("\n### Accuracy: known shares of CPU time (3.12.3, shares.py, 10 s at 500 Hz)\n")
    print("Each function's share of the profile against its share of the CPU time the target measured with `time.thread_time()` over the same run; \"work\" is the workers' loop outside the five functions.\n")
    print("| profiler | " + " | ".join(FUNCS + ["work"]) + " | largest error |")
    print("|---|" + "---|" * (len(FUNCS) + 2))
    target_row = None
    for name, cmd, parse in tools:
        out = os.path.join(WORK, "acc-" + re.sub(r"\W+", "-", name))
        before = sh.report()
        run(cmd(out))
        after = sh.report()
        want = {k: after[k] - before.get(k, 0) for k in after}
        wsum = sum(want.values())
        got = parse(out)
        gsum = sum(got.values()) or 1
        errs = []
        cells = []
        for f in FUNCS + ["work"]:
            w, g = 100 * want[f] / wsum, 100 * got.get(f, 0) / gsum
            errs.append(abs(g - w))
            cells.append("%.1f%% (%+.1f)" % (g, g - w))
        if target_row is None:
            target_row = [100 * want[f] / wsum for f in FUNCS + ["work"]]
            print("| target's own (first run) | " + " | ".join("%.1f%%" % v for v in target_row) + " | |")
        print("| %s | %s | **%.1f points** |" % (name, " | ".join(cells), max(errs)))


def main():
    try:
        for step in sys.argv[1:] or ["cost", "rate", "slowdown", "accuracy"]:
            globals()[step]()
            sys.stdout.flush()
    finally:
        for p in procs:
            p.kill()


if __name__ == "__main__":
    main()
