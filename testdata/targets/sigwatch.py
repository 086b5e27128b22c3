"""A target that records every signal it receives (issue 7: pyscope must
never send one, even when it is killed mid-dump).

usage: python sigwatch.py LOG
Catches the signals a debugger could leak (SIGTRAP, SIGSTOP's partner
SIGCONT, SIGCHLD, SIGINT, SIGTERM, ...) and appends each one's number to
LOG. Threads: the main thread sleeps in short steps (so handlers run at
once), two threads wait on an Event, one spins in Python. Prints "ready"
and answers "ping" on stdin with "pong"; EOF ends the process.
"""
import os
import signal
import sys
import threading
import time

log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
WATCHED = [
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
    "SIGTERM", "SIGCHLD", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU",
    "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
    "SIGIO", "SIGPWR", "SIGSYS",
]


def record(signum, frame):
    os.write(log, b"%d\n" % signum)


for name in WATCHED:
    signal.signal(getattr(signal, name), record)
# Real-time signals too.
for n in range(signal.SIGRTMIN, signal.SIGRTMAX + 1):
    try:
        signal.signal(n, record)
    except (OSError, ValueError):
        pass

never = threading.Event()


def waiter():
    never.wait()


def spinner():
    x = 0
    while True:
        x += 1


def respond():
    for line in sys.stdin:
        os.write(1, b"pong\n")
    os._exit(0)


for i in range(2):
    threading.Thread(target=waiter, name="waiter-%d" % i, daemon=True).start()
threading.Thread(target=spinner, name="spinner", daemon=True).start()
threading.Thread(target=respond, name="responder", daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(0.05)
