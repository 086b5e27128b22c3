"""A WSGI application whose request handlers deadlock on its own locks.

Run under a threaded WSGI server (gunicorn's gthread worker). A request
/transfer?src=X&dst=Y takes account X's lock, then account Y's: two
requests in opposite directions deadlock once both hold their first lock.
Each handler appends to $LOCKS_FACTS one JSON line the tests read: its
process, thread ident, native id and name, the locks' ids, and the lines
(from the application's own ast) of its two with statements.
"""
import ast
import json
import os
import threading

accounts = {"a": threading.Lock(), "b": threading.Lock()}
both = threading.Barrier(2)
_out = threading.Lock()


def with_lines(fn):
    """The lines of fn's with statements on an account's lock."""
    tree = ast.parse(open(__file__).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == fn.__name__:
            return sorted(n.lineno for n in ast.walk(node) if isinstance(n, ast.With)
                          and ast.unparse(n.items[0].context_expr).startswith("accounts["))


def transfer(src, dst):
    with accounts[src]:
        first, second = with_lines(transfer)[:2]
        record = {"pid": os.getpid(), "ident": threading.get_ident(), "native_id": threading.get_native_id(),
                  "name": threading.current_thread().name, "holds": id(accounts[src]), "hold_line": first,
                  "waits": id(accounts[dst]), "wait_line": second}
        with _out, open(os.environ["LOCKS_FACTS"], "a") as f:
            f.write(json.dumps(record) + "\n")
        both.wait()
        with accounts[dst]:
            pass


def app(environ, start_response):
    query = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    transfer(query["src"], query["dst"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done\n"]
