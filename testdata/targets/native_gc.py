"""A thread stuck inside the garbage collector: a finalizer that blocks runs
from gc.collect() (issue 5: thread states).

usage: python native_gc.py ORACLE_PATH
"""
import gc
import threading

import pyscope_oracle as po

never = threading.Event()


class Blocker:
    def __del__(self):
        never.wait()


def collect_forever():
    po.checkin()
    a = Blocker()
    b = [a]
    a.cycle = b
    del a, b
    gc.collect()  # calls Blocker.__del__ from inside the collector


def main():
    gc.disable()  # only our explicit collection runs
    threading.Thread(target=collect_forever, name="collector", daemon=True).start()
    # main + collector + responder
    po.start(expected=3)
    never.wait()


if __name__ == "__main__":
    main()
