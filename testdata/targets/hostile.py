"""Names that try to drive a terminal: escape sequences and bidi overrides
in a function name, a file name and a thread name (issue 7); and a caller
whose function and file names try to run script in an HTML page (profile
formats). Its markers set data-pwned on <body> only if they ever run.

usage: python hostile.py ORACLE_PATH
"""
import threading

import pyscope_oracle as po

EVIL_FUNC = "evil\x1b[31mred\x1b[0m\rover\bwrite"
EVIL_FILE = "/nonexistent/\x1b]0;pwned\x07\u202eyp.txt"
EVIL_THREAD = "thread\x1b[2J\u202ename"
EVIL_HTML = ("</script><script>document.body.dataset['p'+'wned']='script'</script>"
             "<img src=x onerror=\"document.body.dataset['p'+'wned']='img'\">")
EVIL_HTML_FILE = "/nonexistent/\"><svg onload=\"document.body.dataset['p'+'wned']='svg'\">.py"

never = threading.Event()

waiter = po.renamed("def waiter():\n    never.wait()\n", EVIL_FILE, EVIL_FUNC, {"never": never})
caller = po.renamed("def caller():\n    waiter()\n", EVIL_HTML_FILE, EVIL_HTML, {"waiter": waiter}, "caller")


def main():
    threading.Thread(target=caller, name=EVIL_THREAD, daemon=True).start()
    # main + evil + responder
    po.start(expected=3)
    never.wait()


if __name__ == "__main__":
    main()
