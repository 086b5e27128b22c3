# Prints, for many real code objects, the line table and the line of every
# instruction as the interpreter itself reports it (co_lines()), and on
# 3.11+ its full location (co_positions(), PEP 657).
import json, sys, types, dis, inspect, os, importlib

def walk(co, out, depth=0):
    if depth > 20:
        return
    lines = {}
    for start, end, line in co.co_lines():
        for off in range(start, end, 2):
            lines[off] = -1 if line is None else line
    table = co.co_linetable if sys.version_info >= (3, 10) else b""
    positions = {}
    if hasattr(co, "co_positions"):
        for i, pos in enumerate(co.co_positions()):
            positions[i * 2] = [-1 if v is None else v for v in pos]
    out.append({"name": co.co_name, "first": co.co_firstlineno,
                "table": table.hex(), "lines": lines, "positions": positions})
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            walk(c, out, depth + 1)

out = []
for mod in ["json.decoder", "threading", "asyncio.base_events", "dataclasses", "argparse"]:
    m = importlib.import_module(mod)
    src = open(m.__file__, encoding="utf-8").read()
    walk(compile(src, m.__file__, "exec"), out)
json.dump(out, sys.stdout)
