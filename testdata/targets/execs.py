"""Children that run another program, forked or spawned, while pyscope
samples the family (record --subprocesses).

usage: python execs.py OUT.json

Two threads spin in parent_spin all along. The main thread, twice:
  - forks a child that spins in forked_spin for 0.4 s (a Python of its
    own, as a forked worker is), then execs a new Python that spins in
    execed_spin for 0.5 s;
  - spawns with posix_spawn a child that waits 0.5 s in its file actions
    (opening a FIFO no one writes to yet), sharing the parent's memory as
    glibc's posix_spawn and subprocess's vfork do until the exec, then
    runs a new Python that spins in spawned_spin for 0.5 s.
It writes {"forked": [PIDs], "spawned": [PIDs]} to OUT.json and exits.
"""

import json
import warnings
import os
import subprocess
import sys
import tempfile
import threading
import time

CHILD = """
import sys, time
def {0}():
    end = time.time() + 0.5
    while time.time() < end: pass  # noqa: E701
{0}()
"""


def parent_spin():
    while True: pass  # noqa: E701


def forked_spin():
    end = time.time() + 0.4
    while time.time() < end: pass  # noqa: E701


def main():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
    for _ in range(2):
        threading.Thread(target=parent_spin, daemon=True).start()
    forked, spawned = [], []
    fifo = os.path.join(tempfile.mkdtemp(), "fifo")
    os.mkfifo(fifo)
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            forked_spin()
            os.execv(sys.executable, [sys.executable, "-c", CHILD.format("execed_spin")])
        forked.append(pid)
        os.waitpid(pid, 0)

        # The child blocks opening the FIFO until this writer opens it.
        writer = subprocess.Popen(["sh", "-c", 'sleep 0.5; : >"$0"', fifo])
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", CHILD.format("spawned_spin")],
                             os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 3, fifo, os.O_RDONLY, 0)])
        spawned.append(pid)
        os.waitpid(pid, 0)
        writer.wait()
    with open(sys.argv[1], "w") as f:
        json.dump({"forked": forked, "spawned": spawned}, f)


if __name__ == "__main__":
    main()
