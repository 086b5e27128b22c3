# Run by bytecode_test.go under each reference interpreter: dis's own view
# of real code (the threading, queue and concurrent.futures modules), as
# one JSON object: code bytes, exception table and instructions.
import concurrent.futures._base
import dis
import json
import queue
import threading
import types


def codes(mod):
    seen = set()
    work = []
    for v in vars(mod).values():
        if isinstance(v, types.FunctionType):
            work.append(v.__code__)
        elif isinstance(v, type):
            for m in vars(v).values():
                f = getattr(m, "__func__", m)
                f = getattr(f, "fget", f)
                if isinstance(f, types.FunctionType):
                    work.append(f.__code__)
    while work:
        c = work.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        yield c
        work.extend(k for k in c.co_consts if isinstance(k, types.CodeType))


def jump_target(ins):
    t = getattr(ins, "jump_target", None)
    if t is not None:
        return t
    if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:
        return ins.argval
    return -1


out = []
for mod in (threading, queue, concurrent.futures._base):
    for c in codes(mod):
        ins = [[i.offset, i.opname, i.arg if i.arg is not None else -1, jump_target(i)]
               for i in dis.get_instructions(c) if i.opname not in ("CACHE", "EXTENDED_ARG")]
        parse = getattr(dis, "_parse_exception_table", None)
        exc = [[e.start, e.end, e.target, e.depth, e.lasti] for e in parse(c)] if parse else []
        out.append({"name": c.co_qualname if hasattr(c, "co_qualname") else c.co_name,
                    "code": c.co_code.hex(), "table": getattr(c, "co_exceptiontable", b"").hex(),
                    "ins": ins, "exc": exc})
print(json.dumps(out))
