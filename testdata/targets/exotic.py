"""Unusual code locations: a module imported from a zip file, non-ASCII
function, class, module, directory and thread names, and a 3000-frame deep
recursion.

usage: python exotic.py ORACLE_PATH
"""

import importlib
import os
import sys
import threading
import zipfile

import pyscope_oracle as po

never = threading.Event()

ZIPPED = '''\
def wait_in_zip(ev):
    ev.wait()
'''

UNICODE = '''\
class Ünïcode:
    class Вложенный:
        def ждать(self, ev):
            ev.wait()


def attendre_données(ev):
    Ünïcode.Вложенный().ждать(ev)


def 等待(ev):
    attendre_données(ev)
'''

DEPTH = 3000


def dive(n):
    if n <= 1:
        never.wait()
    else:
        dive(n - 1)


def main():
    work = po.workdir()
    archive = os.path.join(work, "mods.zip")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_mod.py", ZIPPED)
    src_dir = os.path.join(work, "répertoire_ß")
    os.mkdir(src_dir)
    with open(os.path.join(src_dir, "données_ünïcode.py"), "w", encoding="utf-8") as f:
        f.write(UNICODE)
    sys.path[:0] = [archive, src_dir]
    zipped = importlib.import_module("zipped_mod")
    uni = importlib.import_module("données_ünïcode")

    threads = [
        threading.Thread(target=zipped.wait_in_zip, args=(never,), name="zipped"),
        threading.Thread(target=getattr(uni, "等待"), args=(never,), name="travailleur-ü-等"),
    ]
    sys.setrecursionlimit(DEPTH + 1000)
    old = threading.stack_size(256 << 20)  # room for 3.10's C recursion
    deep = threading.Thread(target=dive, args=(DEPTH,), name="deep")
    deep.daemon = True
    deep.start()
    threading.stack_size(old)
    for t in threads:
        t.daemon = True
        t.start()
    # main + 3 workers + responder
    po.start(expected=1 + 3 + 1)
    never.wait()


if __name__ == "__main__":
    main()
