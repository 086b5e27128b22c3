"""A Celery worker whose prefork pool children are each blocked in a task.

usage: python -m celery -A celery_app worker --pool=prefork --concurrency=3 -O fair
(with this directory and Celery on PYTHONPATH; PYSCOPE_ORACLE_DIR names
where oracles go)

The broker is in the master's memory (memory://): once the worker is ready
the master sends itself three tasks, which its pool hands to its three
children. Each child writes oracle-PID.json once blocked in its task. The
master's threads wake up now and then (the pool's supervisor, timeout and
result handlers, the consumer's polling), so the master writes to
oracle-master.json, per thread, only the outer frames that stayed the
same over many samples, and the PIDs of its pool's children.
"""

import json
import os
import sys
import threading
import time

import billiard
from celery import Celery
from celery.signals import worker_ready

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyscope_oracle as po  # noqa: E402

app = Celery("celery_app", broker="memory://")
app.conf.worker_prefetch_multiplier = 1

never = threading.Event()
oracle_dir = os.environ.get("PYSCOPE_ORACLE_DIR", ".")
tasks = 3


@app.task
def hang(i):
    po.checkin()  # a forked child's threading may keep the master's native id
    path = os.path.join(oracle_dir, "oracle-%d.json" % os.getpid())
    threading.Thread(target=po._report, args=(path, 1), name="pyscope-reporter", daemon=True).start()
    never.wait()


def _stable(a, b):
    """The outer frames a and b (innermost first) have in common."""
    n = 0
    while n < len(a) and n < len(b) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return a[len(a) - n:]


def report_master():
    me = threading.get_ident()
    # Wait until every task reached a child, then sample for 2 s.
    deadline = time.monotonic() + 45
    while len([f for f in os.listdir(oracle_dir) if f.startswith("oracle-") and f[7:-5].isdigit()]) < tasks:
        if time.monotonic() > deadline:
            sys.stderr.write("celery_app: the tasks never reached the children\n")
            os._exit(3)
        time.sleep(0.05)
    stable = None
    for _ in range(1000):
        snap = po._sample(me)
        if stable is None:
            stable = snap
        elif set(snap) != set(stable):
            sys.stderr.write("celery_app: the master's threads changed while sampled\n")
            os._exit(3)
        else:
            stable = {i: _stable(stable[i], snap[i]) for i in snap}
        time.sleep(0.002)
    names = {t.ident: t.name for t in threading.enumerate()}
    natives = po._native_ids()
    main = threading.main_thread().ident
    oracle = {
        "pid": os.getpid(),
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "children": sorted(p.pid for p in billiard.active_children()),
        "threads": [{"thread_id": i, "native_id": natives.get(i), "name": names.get(i), "is_main": i == main,
                     "frames": f} for i, f in stable.items()],
    }
    path = os.path.join(oracle_dir, "oracle-master.json")
    with open(path + ".tmp", "w") as f:
        json.dump(oracle, f, indent=1)
    os.replace(path + ".tmp", path)


@worker_ready.connect
def send_tasks(sender, **kwargs):
    for i in range(tasks):
        hang.delay(i)
    threading.Thread(target=report_master, name="pyscope-reporter", daemon=True).start()
