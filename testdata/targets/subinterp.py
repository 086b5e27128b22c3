"""A thread that runs code in a subinterpreter and blocks there.

usage: python subinterp.py ORACLE_PATH
The subinterpreter writes its own view of its stack to ORACLE_PATH + ".sub".
"""
import os
import sys
import threading
import time

import pyscope_oracle as po

try:
    import _interpreters as interpreters  # 3.13+
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.10-3.12

BODY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "subinterp_body.py")
SUB = os.path.abspath(sys.argv[1]) + ".sub"


def run_in_subinterpreter():
    po.checkin()
    interp = interpreters.create()
    code = "SUB_ORACLE = %r\nexec(compile(open(%r).read(), %r, 'exec'))\n" % (SUB, BODY, BODY)
    interpreters.run_string(interp, code)


def main():
    threading.Thread(target=run_in_subinterpreter, name="sub-runner", daemon=True).start()
    for _ in range(600):
        if os.path.exists(SUB):
            break
        time.sleep(0.05)
    # main + sub-runner + responder
    po.start(expected=3)
    threading.Event().wait()


if __name__ == "__main__":
    main()
