"""A WSGI application and the gunicorn configuration that serves it.

usage: python -m gunicorn -c gunicorn_service.py gunicorn_service:app
(PYSCOPE_ORACLE_DIR names where oracles go)

Each request blocks its worker for good, as a hung request does. The
master writes its oracle to oracle-master.json once it waits in its loop;
each worker writes oracle-PID.json once blocked in a request. The master
writes its listening address to address.
"""

import os
import sys
import threading
import time

# gunicorn reads this file as its configuration before it changes directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyscope_oracle as po  # noqa: E402

never = threading.Event()
oracle_dir = os.environ.get("PYSCOPE_ORACLE_DIR", ".")

workers = 3
bind = "127.0.0.1:0"
timeout = 0  # a blocked worker is never killed


def when_ready(server):
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    with open(os.path.join(oracle_dir, "address.tmp"), "w") as f:
        f.write("%s:%d" % (host, port))
    os.replace(os.path.join(oracle_dir, "address.tmp"), os.path.join(oracle_dir, "address"))
    path = os.path.join(oracle_dir, "oracle-master.json")

    def report():
        # Once every worker is spawned, the master only waits in its loop.
        # (spawn_workers sleeps up to 0.1 s after each spawn.)
        while len(server.WORKERS) < workers:
            time.sleep(0.05)
        time.sleep(0.3)
        po._report(path, 1)

    threading.Thread(target=report, name="pyscope-reporter", daemon=True).start()


def app(environ, start_response):
    po.checkin()  # a forked worker's threading keeps the master's native id
    path = os.path.join(oracle_dir, "oracle-%d.json" % os.getpid())
    threading.Thread(target=po._report, args=(path, 1), name="pyscope-reporter", daemon=True).start()
    never.wait()
