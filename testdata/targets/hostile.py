"""Names that try to drive a terminal: escape sequences and bidi overrides
in a function name, a file name and a thread name (issue 7).

usage: python hostile.py ORACLE_PATH
"""
import threading

import pyscope_oracle as po

EVIL_FUNC = "evil\x1b[31mred\x1b[0m\rover\bwrite"
EVIL_FILE = "/nonexistent/\x1b]0;pwned\x07\u202eyp.txt"
EVIL_THREAD = "thread\x1b[2J\u202ename"

never = threading.Event()

src = "def waiter():\n    never.wait()\n"
ns = {"never": never}
exec(compile(src, EVIL_FILE, "exec"), ns)
waiter = ns["waiter"]
code = waiter.__code__
if hasattr(code, "co_qualname"):
    waiter.__code__ = code.replace(co_name=EVIL_FUNC, co_qualname=EVIL_FUNC)
else:
    waiter.__code__ = code.replace(co_name=EVIL_FUNC)


def main():
    threading.Thread(target=waiter, name=EVIL_THREAD, daemon=True).start()
    # main + evil + responder
    po.start(expected=3)
    never.wait()


if __name__ == "__main__":
    main()
