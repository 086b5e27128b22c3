"""A thread multiplying matrices in OpenBLAS, whose kernels have no unwind
info: a native unwind stops inside them, below the Python frames.

usage: python native_blas.py ORACLE   (numpy on PYTHONPATH)

"blas" loops on one line, a @ a: numpy releases the GIL and calls
OpenBLAS's dgemm, where the thread spends nearly all its time.
OPENBLAS_NUM_THREADS=1 keeps the kernel on the calling thread, and
OPENBLAS_CORETYPE=Haswell picks the hand-written assembly kernel (no CFI,
%rbp a general register) over the SKYLAKEX one, which is compiled C with
CFI and would unwind.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OPENBLAS_CORETYPE"] = "Haswell"

import threading  # noqa: E402

import numpy as np  # noqa: E402

import pyscope_oracle  # noqa: E402


def multiply(a):
    pyscope_oracle.mark_busy()
    while True:
        a @ a


def main():
    a = np.random.rand(400, 400)
    threading.Thread(target=multiply, args=(a,), name="blas", daemon=True).start()
    pyscope_oracle.start(expected=2)
    threading.Event().wait()


if __name__ == "__main__":
    main()
