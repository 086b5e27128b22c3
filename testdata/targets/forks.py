"""A process with Python children: one forked, one spawned (a new
interpreter), each spinning in a function of its own, as the parent does.

usage: python forks.py

It prints "child forked PID" and "child spawned PID", then "ready"; the
children end with it (EOF on stdin ends the parent, the test kills the
process group).
"""

import os
import subprocess
import sys
import threading

SPAWNED = """
import sys
def spawned_spin():
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701
print("up", flush=True)
spawned_spin()
"""


def parent_spin():
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def forked_spin():
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def main():
    pid = os.fork()
    if pid == 0:
        forked_spin()
        os._exit(0)
    print("child forked %d" % pid, flush=True)
    child = subprocess.Popen([sys.executable, "-c", SPAWNED], stdout=subprocess.PIPE)
    child.stdout.readline()
    print("child spawned %d" % child.pid, flush=True)

    def quit_on_eof():
        sys.stdin.read()
        os.kill(pid, 9)
        child.kill()
        os._exit(0)

    threading.Thread(target=quit_on_eof, daemon=True).start()
    print("ready", flush=True)
    parent_spin()


if __name__ == "__main__":
    main()
