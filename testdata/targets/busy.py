"""One thread spinning in pure Python (it holds the GIL), others blocked.

usage: python busy.py ORACLE_PATH
"""

import threading

import pyscope_oracle as po

never = threading.Event()


def spin():
    po.mark_busy()
    n = 0
    # The whole loop is one line, so the frame's line is stable while it runs.
    while True: n = (n + 1) & 0xFFFF  # noqa: E701


def idle():
    never.wait()


def main():
    spinner = threading.Thread(target=spin, name="spinner", daemon=True)
    spinner.start()
    threading.Thread(target=idle, name="idle", daemon=True).start()
    # main + spinner + idle + responder
    po.start(expected=4)
    spinner.join()


if __name__ == "__main__":
    main()
