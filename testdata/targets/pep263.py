"""Modules in the encodings their PEP 263 declarations name (Latin-1,
cp1252 declared on line 2, Shift_JIS), a UTF-8 one with a byte order mark
and one whose lines end in carriage returns, each with a thread blocked in
a C call on a line whose non-ASCII characters come before the call, so
that the markers under it depend on the decoding (and on counting lines as
Python does). Also writes what linecache reads of each module
(sources.json in the oracle's directory).

usage: python pep263.py ORACLE_PATH
"""

import importlib
import json
import linecache
import os
import sys
import threading

import pyscope_oracle as po

held = threading.Lock()
held.acquire()

TAIL = '\n\ndef after():\n    """Lines after the call, for py-list."""\n    return 1\n\n\nDONE = True\n'

# module -> (encoding written in, source, function the thread runs)
MODULES = {
    "mod_latin1": ("latin-1",
                   '# -*- coding: latin-1 -*-\n"""Déjà vu."""\n\n\ndef attendre(verrou):\n'
                   '    déjà = "àéîõü ÿ"; ça = verrou.acquire(bool(déjà))\n' + TAIL,
                   "attendre"),
    "mod_cp1252": ("cp1252",
                   '#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n\n\ndef warten(verrou):\n'
                   '    preis = "€ 5 – „Zitat“"; ergebnis = verrou.acquire(bool(preis))\n' + TAIL,
                   "warten"),
    # Half-width katakana (one byte, one column) before the call: 3.11
    # before 3.11.7 counts characters where later versions count columns.
    "mod_sjis": ("shift_jis",
                 '# coding: shift_jis\n# 日本語のモジュール\n\n\ndef 待つ(lock):\n'
                 '    ﾅﾏｴ = "ﾃｷｽﾄ"; ｹｯｶ = lock.acquire(bool(ﾅﾏｴ))  # 錠を待つ\n' + TAIL,
                 "待つ"),
    "mod_bom": ("utf-8-sig",
                'def mit_bom(verrou): straße = "ß"; return verrou.acquire(bool(straße))\n' + TAIL,
                "mit_bom"),
    # Lines that end in a carriage return (classic Mac OS; written so:
    # see NEWLINES), which Python counts as line ends too. ASCII: before
    # 3.14, linecache reads such a file's first "line" (all of it) as UTF-8.
    "mod_cr": ("ascii",
               '"""Carriage returns."""\n\n\ndef wait_cr(lock):\n'
               '    size = len("abc"); done = lock.acquire(bool(size))\n' + TAIL,
               "wait_cr"),
}
NEWLINES = {"mod_cr": "\r"}


def main():
    src_dir = os.path.join(po.workdir(), "src")
    os.mkdir(src_dir)
    for name, (encoding, text, _) in MODULES.items():
        with open(os.path.join(src_dir, name + ".py"), "w", encoding=encoding,
                  newline=NEWLINES.get(name)) as f:
            f.write(text)
    sys.path.insert(0, src_dir)
    sources = {}
    for name, (_, _, func) in MODULES.items():
        mod = importlib.import_module(name)
        sources[mod.__file__] = linecache.getlines(mod.__file__)
        t = threading.Thread(target=getattr(mod, func), args=(held,), name=name, daemon=True)
        t.start()
    with open(os.path.join(po.workdir(), "sources.json"), "w") as f:
        json.dump(sources, f)
    # main + the module threads + responder
    po.start(expected=1 + len(MODULES) + 1)
    held.acquire()


if __name__ == "__main__":
    main()
