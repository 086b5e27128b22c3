"""A multiprocessing pool whose three workers are each blocked in a task,
and a child that runs no Python.

usage: python pool.py ORACLE_PATH [START_METHOD]

The parent writes its oracle to ORACLE_PATH; each worker writes its own to
oracle-PID.json next to it, once it is blocked in its task.
"""

import multiprocessing
import os
import subprocess
import sys
import threading

import pyscope_oracle as po

never = threading.Event()


def hold(oracle_dir):
    # The worker's stdout is the parent's: only the parent says "ready".
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    po.checkin()  # a forked worker's threading may keep the parent's native id
    path = os.path.join(oracle_dir, "oracle-%d.json" % os.getpid())
    threading.Thread(target=po._report, args=(path, 1), name="pyscope-reporter", daemon=True).start()
    never.wait()


def main():
    if len(sys.argv) > 2:
        multiprocessing.set_start_method(sys.argv[2])
    helper = subprocess.Popen(["sleep", "100000"])
    pool = multiprocessing.Pool(3)
    pool.map_async(hold, [po.workdir()] * 3, chunksize=1)
    # main + the pool's three threads + responder
    po.start(expected=5)
    never.wait()
    helper.kill()


if __name__ == "__main__":
    main()
