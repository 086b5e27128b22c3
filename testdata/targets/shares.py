"""Known shares of CPU time in known functions, measured by the target.

usage: python shares.py [--workers N] [--idle N] [--exit-after SECONDS]

Worker threads spend their CPU time in known functions in known
proportions, picked at random call by call and for random short durations
(so the work has no period a sampler could alias with). Each call's CPU
time is measured with time.thread_time() and added to its function's
account; what the loop itself costs is the account of "work". Other
threads sleep on an event (idle). The main thread answers lines on stdin:

  report  ->  "report {json}": CPU seconds so far by function name
  ping    ->  "pong"

It prints "ready" once the workers run; EOF on stdin ends it. With
--exit-after it ignores stdin and exits that many seconds after "ready".
"""

import argparse
import json
import os
import random
import sys
import threading
import time

cpu = {}  # function name -> CPU seconds spent in it
clocks = []  # CPU-time clocks of the workers
never = threading.Event()


# Each function spins on its own line until its CPU time is spent, so it
# is the innermost Python frame of every sample taken while it runs.
def alpha(s):
    end = time.thread_time() + s
    while time.thread_time() < end: pass  # noqa: E701


def beta(s):
    end = time.thread_time() + s
    while time.thread_time() < end: pass  # noqa: E701


def gamma(s):
    end = time.thread_time() + s
    while time.thread_time() < end: pass  # noqa: E701


def delta(s):
    end = time.thread_time() + s
    while time.thread_time() < end: pass  # noqa: E701


def epsilon(s):
    end = time.thread_time() + s
    while time.thread_time() < end: pass  # noqa: E701


# Each worker's functions and their weights.
PLANS = [
    [(alpha, 5), (beta, 3), (gamma, 2)],
    [(delta, 7), (epsilon, 3)],
]


def work(plan, seed, started):
    clocks.append(time.pthread_getcpuclockid(threading.get_ident()))
    started.release()
    rng = random.Random(seed)
    funcs = [f for f, _ in plan]
    weights = [w for _, w in plan]
    for f in funcs:
        cpu.setdefault(f.__name__, 0.0)
    while True:
        f = rng.choices(funcs, weights)[0]
        t0 = time.thread_time()
        f(rng.uniform(0.00005, 0.0005))
        cpu[f.__name__] += time.thread_time() - t0


def report():
    out = dict(cpu)
    total = sum(time.clock_gettime(c) for c in list(clocks))
    # The loop's own cost: the workers' CPU time not spent in a function.
    out["work"] = total - sum(out.values())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=len(PLANS))
    ap.add_argument("--idle", type=int, default=1)
    ap.add_argument("--exit-after", type=float, default=0)
    args = ap.parse_args()
    started = threading.Semaphore(0)
    for i in range(args.workers):
        threading.Thread(target=work, args=(PLANS[i % len(PLANS)], i, started),
                         name="worker-%d" % i, daemon=True).start()
    for i in range(args.idle):
        threading.Thread(target=never.wait, name="idle-%d" % i, daemon=True).start()
    for _ in range(args.workers):
        started.acquire()
    print("ready", flush=True)
    if args.exit_after > 0:
        time.sleep(args.exit_after)
        os._exit(0)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "report":
            print("report " + json.dumps(report()), flush=True)
        elif cmd == "ping":
            print("pong", flush=True)


if __name__ == "__main__":
    main()
