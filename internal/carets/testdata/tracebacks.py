# For every instruction location (co_positions()) of the code in real
# modules and in cases.py, prints how this interpreter's traceback module
# formats a frame at that location: what the Go tests compare pyscope's
# carets with.
import importlib, json, os, sys, traceback, types

seen = set()
out = []


def walk(co, path):
    for pos in co.co_positions():
        if None in pos or pos[0] == 0:
            continue
        key = (path,) + pos
        if key in seen:
            continue
        seen.add(key)
        line, end_line, col, end_col = pos
        fs = traceback.FrameSummary(path, line, co.co_name, end_lineno=end_line,
                                    colno=col, end_colno=end_col)
        text = traceback.StackSummary.from_list([fs]).format()[0]
        out.append({"file": path, "pos": pos, "formatted": text})
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            walk(c, path)


paths = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.py")]
for mod in ["json.decoder", "threading", "dataclasses", "argparse", "fractions",
            "statistics", "string", "colorsys", "calendar"]:
    paths.append(importlib.import_module(mod).__file__)
for path in paths:
    with open(path, "rb") as f:
        src = f.read()
    walk(compile(src, path, "exec"), path)
json.dump(out, sys.stdout)
