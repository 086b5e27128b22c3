# Run by gen/main.go under each reference interpreter: prints the
# interpreter's own opcode facts as one JSON object.
import dis
import json
import opcode
import sys

names = {}
for name, op in opcode.opmap.items():
    names[op] = name
# Specialized (3.11+) instructions, numbered as the interpreter numbers them.
spec_map = dict(getattr(opcode, "_specialized_opmap", {}) or {})
if not spec_map and hasattr(dis, "_all_opmap"):
    spec_map = {n: o for n, o in dis._all_opmap.items() if n not in opcode.opmap}
for name, op in spec_map.items():
    if op < 256:
        names[op] = name
families = dict(getattr(opcode, "_specializations", {}) or {})
deopt = {}
for base, family in families.items():
    for s in family:
        deopt[s] = base
caches = getattr(opcode, "_inline_cache_entries", None)
cache_of = {}
if isinstance(caches, dict):
    cache_of = {n: c for n, c in caches.items()}
elif caches is not None:
    cache_of = {opcode.opname[i]: c for i, c in enumerate(caches) if c}
jrel = {opcode.opname[o] for o in getattr(dis, "hasjrel", [])}
jabs = {opcode.opname[o] for o in getattr(dis, "hasjabs", [])}
out = []
for op in range(256):
    name = names.get(op)
    if name is None:
        continue
    base = deopt.get(name, name)
    jump = ""
    if base in jabs:
        jump = "abs"
    elif base in jrel:
        back = getattr(dis, "_is_backward_jump", None)
        if back is not None and base in opcode.opmap:
            backward = back(opcode.opmap[base])
        else:
            backward = "BACKWARD" in base
        jump = "back" if backward else "fwd"
    out.append({"op": op, "name": name, "base": base, "caches": cache_of.get(base, 0), "jump": jump})
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "have_argument": opcode.HAVE_ARGUMENT, "ops": out}))
