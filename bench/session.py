"""Session latency: time to the first prompt of `pyscope debug PID`, and of
`py-print big_dict` (a dict of 1e6 items, limited output) on a real pty.

usage: python3 bench/session.py PYSCOPE PID   (PID runs testdata/targets/session.py ORACLE big)
"""
import os, pty, select, statistics, sys, time

PYSCOPE, pid = sys.argv[1], sys.argv[2]
def read_until(fd, s, buf):
    while s not in buf:
        r, _, _ = select.select([fd], [], [], 10)
        if not r: raise SystemExit("timeout waiting for %r: %r" % (s, buf[-300:]))
        try:
            buf += os.read(fd, 65536)
        except OSError:  # EIO: the session ended
            raise SystemExit("session ended while waiting for %r: %r" % (s, buf[-300:]))
    i = buf.index(s) + len(s)
    return buf[i:]
prompts, prints, threads = [], [], []
for _ in range(15):
    t0 = time.perf_counter()
    child, fd = pty.fork()
    if child == 0:
        os.execv(PYSCOPE, ["pyscope", "debug", "--no-history", pid])
    buf = read_until(fd, b"stopped) ", b"")
    prompts.append((time.perf_counter() - t0) * 1000)
    os.write(fd, b"py-frame 2\r")
    buf = read_until(fd, b"stopped) ", buf)
    for cmd, acc, want in ((b"py-print big_dict\r", prints, b"items)"), (b"info threads\r", threads, b"MainThread")):
        t1 = time.perf_counter()
        os.write(fd, cmd)
        buf = read_until(fd, want, buf)
        buf = read_until(fd, b"stopped) ", buf)
        acc.append((time.perf_counter() - t1) * 1000)
    os.write(fd, b"quit\r")
    os.waitpid(child, 0)
    os.close(fd)
for name, xs in (("first prompt", prompts), ("py-print big_dict (1e6 items)", prints), ("info threads", threads)):
    print("%-32s median %.1f ms  min %.1f  max %.1f  (n=%d)" % (name, statistics.median(xs), min(xs), max(xs), len(xs)))
