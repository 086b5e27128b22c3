"""pyscope's demo target: a tiny "service" whose threads are all waiting.

`pyscope demo` starts this with the machine's python3, dumps it, and stops it.
"""
import queue
import sys
import threading
import time

jobs = queue.Queue()
db_lock = threading.Lock()


class Worker:
    def __init__(self, n):
        self.n = n

    def serve_forever(self):
        while True:
            self.handle(jobs.get())

    def handle(self, job):
        pass


def refresh_cache():
    with db_lock:
        pass


def flush_metrics():
    while True:
        time.sleep(3600)


def main():
    db_lock.acquire()  # held forever: the cache refresher will hang on it
    threading.Thread(target=Worker(0).serve_forever, name="worker-0", daemon=True).start()
    threading.Thread(target=refresh_cache, name="cache-refresh", daemon=True).start()
    threading.Thread(target=flush_metrics, name="metrics", daemon=True).start()
    time.sleep(0.2)
    print("ready", flush=True)
    sys.stdin.read()  # until pyscope closes our stdin


if __name__ == "__main__":
    main()
