"""A target that lets a test overwrite its own memory, to corrupt its frame
chain and thread list (issue 7). Commands come through a FIFO in the oracle's
directory: "poke ADDR HEXBYTES" writes the bytes with ctypes.memmove, then
"done" is written to a second FIFO.

usage: python corrupt.py ORACLE_PATH
"""
import ctypes
import os
import threading

import pyscope_oracle as po

never = threading.Event()


def victim_inner():
    never.wait()


def victim_middle():
    victim_inner()


def victim():
    victim_middle()


def bystander():
    never.wait()


def poker(cmds, acks):
    po.checkin()
    # Opened read-write, the FIFO never reads EOF: reopening it after each
    # writer lost a poke written between the EOF and the close.
    with open(os.open(cmds, os.O_RDWR), "r") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "poke":
                data = bytes.fromhex(parts[2])
                ctypes.memmove(int(parts[1], 16), data, len(data))
            with open(acks, "w") as a:
                a.write("done\n")


def main():
    d = po.workdir()
    cmds, acks = os.path.join(d, "poke"), os.path.join(d, "poked")
    os.mkfifo(cmds)
    os.mkfifo(acks)
    threading.Thread(target=victim, name="victim", daemon=True).start()
    threading.Thread(target=bystander, name="bystander", daemon=True).start()
    threading.Thread(target=poker, args=(cmds, acks), name="poker", daemon=True).start()
    # main + victim + bystander + poker + responder
    po.start(expected=5)
    never.wait()


if __name__ == "__main__":
    main()
