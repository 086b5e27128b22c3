"""Threads blocked in native system calls that a stop interrupts (EINTR,
see signal(7)), each counting the EINTRs it gets, next to a thread
spinning in pure Python (it holds the GIL) and a ticker that takes the GIL
every millisecond or so.

usage: python eintr.py ORACLE_PATH
Writes its semaphore's id to semid in the oracle's directory (the test
removes the semaphore when it is done). Each
EINTR rewrites eintr.json ({call: count}) in the oracle's directory; ctypes
releases the GIL around every foreign call, as C extensions do.
"""

import ctypes
import errno
import json
import os
import signal
import sys
import threading
import time

import pyscope_oracle as po

libc = ctypes.CDLL(None, use_errno=True)
counts = {"epoll_wait": 0, "semop": 0, "sigtimedwait": 0}
counts_lock = threading.Lock()


def record(call):
    with counts_lock:
        counts[call] += 1
        path = os.path.join(po.workdir(), "eintr.json")
        with open(path + ".tmp", "w") as f:
            json.dump(counts, f)
        os.replace(path + ".tmp", path)


def block(call, fn):
    """Calls fn until it fails with something else than EINTR."""
    while True:
        if fn() != -1:
            continue  # a spurious wake-up: block again
        err = ctypes.get_errno()
        if err != errno.EINTR:
            sys.stderr.write("%s: errno %d\n" % (call, err))
            os._exit(4)
        record(call)


def epoll():
    epfd = libc.epoll_create1(0)
    events = (ctypes.c_char * (12 * 4))()  # four struct epoll_event
    block("epoll_wait", lambda: libc.epoll_wait(epfd, events, 4, -1))


class sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


def semop(semid):
    op = sembuf(0, -1, 0)  # the semaphore stays at 0: wait for ever
    block("semop", lambda: libc.semop(semid, ctypes.byref(op), 1))


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def sigwait():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    sigset = (ctypes.c_ulong * 16)()  # sigset_t
    libc.sigemptyset(sigset)
    libc.sigaddset(sigset, signal.SIGUSR2)
    day = timespec(86400, 0)
    block("sigtimedwait", lambda: libc.sigtimedwait(sigset, None, ctypes.byref(day)))


def spin():
    po.mark_busy()
    n = 0
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def tick():
    # Takes the GIL from the spinner about every millisecond: hand-offs.
    n = 0
    while True:
        time.sleep(0.001)
        n += 1


def main():
    semid = libc.semget(0, 1, 0o600)  # IPC_PRIVATE
    if semid < 0:
        sys.stderr.write("semget: errno %d\n" % ctypes.get_errno())
        sys.exit(4)
    with open(os.path.join(po.workdir(), "semid"), "w") as f:
        f.write(str(semid))
    threading.Thread(target=epoll, name="epoll", daemon=True).start()
    threading.Thread(target=semop, args=(semid,), name="semop", daemon=True).start()
    threading.Thread(target=sigwait, name="sigtimedwait", daemon=True).start()
    threading.Thread(target=spin, name="spinner", daemon=True).start()
    threading.Thread(target=tick, name="ticker", daemon=True).start()
    # main + 3 blocked + spinner + ticker + responder
    po.start(expected=7)
    threading.Event().wait()


if __name__ == "__main__":
    main()
