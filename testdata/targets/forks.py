"""A process with Python children: one forked, one spawned (a new
interpreter), each spinning in a function of its own, as the parent does.

usage: python forks.py [SECONDS]

It writes the children's PIDs to children.json in its working directory,
then prints "ready". It answers "ping" on stdin with "pong", and EOF ends
it and its children; with SECONDS it ignores stdin and ends them all that
many seconds after "ready".
"""

import json
import os
import subprocess
import sys
import threading
import time

SPAWNED = """
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
    child = subprocess.Popen([sys.executable, "-c", SPAWNED], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    child.stdout.readline()
    with open("children.json.tmp", "w") as f:
        json.dump({"forked": pid, "spawned": child.pid}, f)
    os.rename("children.json.tmp", "children.json")

    def end():
        if len(sys.argv) > 1:
            time.sleep(float(sys.argv[1]))
        else:
            for line in sys.stdin:
                if line.strip() == "ping":
                    print("pong", flush=True)
        os.kill(pid, 9)
        child.kill()
        child.wait()
        os.waitpid(pid, 0)
        os._exit(0)

    threading.Thread(target=end, daemon=True).start()
    print("ready", flush=True)
    parent_spin()


if __name__ == "__main__":
    main()
