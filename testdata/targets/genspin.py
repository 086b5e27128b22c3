"""A generator resumed from C, over and over: sum() drives a generator
expression, so each item re-enters the eval loop through an entry frame
(3.12+: a shim on the C stack) that is innermost for a moment after each
yield.

It prints "stack " and the qualified names of its stack as seen from
inside the generator, outermost first and ;-separated (the oracle), then
"ready", and spins until killed.
"""

import sys
import traceback


reported = False


def spin():
    while True:
        sum(i * i if reported else report(i) for i in range(1000))


def report(i):
    global reported
    reported = True
    # The frames above this one: the generator expression, spin, <module>.
    names = [f.f_code.co_qualname if hasattr(f.f_code, "co_qualname") else f.f_code.co_name
             for f, _ in traceback.walk_stack(sys._getframe(1))]
    print("stack " + ";".join(reversed(names)), flush=True)
    print("ready", flush=True)
    return i


spin()
