"""A small multi-threaded "web service" to try pyscope on.

Every thread waits somewhere: a web worker for requests, a database client
for a lock the main thread holds, a cache refresher in sleep.
"""

import os
import queue
import sys
import threading
import time

requests = queue.Queue()
db_lock = threading.Lock()


class WebWorker:
    def serve_forever(self):
        while True:
            request = requests.get()  # waits for a request
            self.handle(request)

    def handle(self, request):
        print("handled", request)


def query_orders():
    with db_lock:  # held by run_migration
        return []


def refresh_cache(interval=3600):
    while True:
        time.sleep(interval)


def run_migration(workers):
    with db_lock:  # db-client blocks until the migration is done
        for t in workers:
            t.start()
        print("demo running, pid", os.getpid(), flush=True)
        if len(sys.argv) > 1:  # pyscope's tests: record what Python sees
            import pyscope_oracle
            pyscope_oracle.start(expected=len(workers) + 2)
        for t in workers:
            t.join()


def main():
    workers = [
        threading.Thread(target=WebWorker().serve_forever, name="web-worker-1", daemon=True),
        threading.Thread(target=query_orders, name="db-client", daemon=True),
        threading.Thread(target=refresh_cache, name="cache-refresher", daemon=True),
    ]
    run_migration(workers)


if __name__ == "__main__":
    main()
