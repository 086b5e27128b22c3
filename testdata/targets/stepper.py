"""Test target for a profiler's captures of a process that moves between
them: after "ready", each line read parks the main thread in a read at
another depth, and it first says where: "stack <native id> <frames>", the
frames innermost first as traceback sees them from the line it blocks on.
A daemon thread sleeps throughout.

usage: stepper.py
"""
import sys
import threading
import time
import traceback


def report():
    st = traceback.extract_stack(sys._getframe(1))
    sys.stdout.write("stack %d %s\n" % (threading.get_native_id(),
                     ";".join("%s:%d" % (f.name, f.lineno) for f in reversed(st))))
    sys.stdout.flush()
    return -1


def level(n):
    if n == 0:
        return sys.stdin.readline(report())
    return level(n - 1)


threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
k = 0
while level(k % 4):
    k += 1
