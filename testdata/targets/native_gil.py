"""A thread waiting for the GIL while another holds it, spinning in Python.

usage: python native_gil.py ORACLE_PATH

The switch interval is made huge, so a thread that wants the GIL waits in
take_gil for as long as the spinner runs. The oracle (JSON at argv[1])
holds the native ids of the spinner and the waiter; "ready" is printed
before the spinner starts (afterwards no other thread can run Python).
"""

import json
import os
import sys
import threading
import time

go = threading.Event()
never = threading.Event()
ids = {}


def spin():
    ids["spinner"] = threading.get_native_id()
    go.wait()
    sys.setswitchinterval(10000.0)
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def wait_for_gil():
    ids["waiter"] = threading.get_native_id()
    while True:
        time.sleep(0.001)


def main():
    threading.Thread(target=spin, name="spinner", daemon=True).start()
    threading.Thread(target=wait_for_gil, name="waiter", daemon=True).start()
    while len(ids) < 2:
        time.sleep(0.001)
    ids["pid"] = os.getpid()
    with open(sys.argv[1], "w") as f:
        json.dump(ids, f)
    os.write(1, b"ready\n")
    go.set()
    never.wait()


if __name__ == "__main__":
    main()
