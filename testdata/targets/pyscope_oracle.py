"""Oracle writer shared by the test targets (runs unchanged on 3.10-3.14).

A target starts its threads, lets them park (blocked, or busy in one stable
line), and calls start(). A reporter thread then waits until every thread is
parked, samples sys._current_frames() until consecutive samples agree, writes
the interpreter's own view of every thread except itself to the oracle path
(argv[1]), prints "ready" on stdout, and exits. A responder thread answers
each "ping" line on stdin with "pong" so tests can check the target still
runs; EOF on stdin (the test went away) ends the process.
"""

import json
import os
import sys
import sysconfig
import threading
import time
import traceback
import types

_lock = threading.Lock()
_native = {}  # ident -> native id, for threads not made by threading
_busy = set()  # idents of threads that spin on purpose


def checkin():
    """Record the calling thread's native id (needed for _thread threads)."""
    with _lock:
        _native[threading.get_ident()] = threading.get_native_id()


def mark_busy():
    """Declare the calling thread busy: it will spin in Python, attached to
    its interpreter (and holding the GIL where there is one)."""
    checkin()
    with _lock:
        _busy.add(threading.get_ident())


def workdir():
    """Directory the target may write to (the oracle's directory)."""
    return os.path.dirname(os.path.abspath(sys.argv[1]))


def renamed(src, file, name, namespace, defined="waiter"):
    """The function `defined` that src defines, compiled as file with the
    globals namespace, and renamed name (co_name, and co_qualname from
    3.11): for targets that need unusual or hostile names and files."""
    exec(compile(src, file, "exec"), namespace)
    fn = namespace[defined]
    code = fn.__code__
    if hasattr(code, "co_qualname"):
        fn.__code__ = code.replace(co_name=name, co_qualname=name)
    else:
        fn.__code__ = code.replace(co_name=name)
    return fn


def _state(native_id):
    try:
        # Bytes: the name in it is the thread's, cut to 15 bytes (3.14 sets
        # it from Thread.name), maybe inside a character.
        with open("/proc/self/task/%d/stat" % native_id, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return "?"


def _frames(frame):
    out = []
    while frame is not None and len(out) < 100000:
        code = frame.f_code
        out.append({
            "function": code.co_name,
            "qualname": getattr(code, "co_qualname", code.co_name),
            "file": code.co_filename,
            "line": frame.f_lineno,
        })
        frame = frame.f_back
    return out


def _locations(frame):
    """Each frame's location (PEP 657) and how a traceback prints it,
    from a traceback entry made for the frame: traceback.extract_stack()
    leaves the columns out, extract_tb() does not."""
    out = []
    while frame is not None and len(out) < 100000:
        tb = types.TracebackType(None, frame, frame.f_lasti, frame.f_lineno)
        fs = traceback.extract_tb(tb)[0]
        loc = {"formatted": traceback.format_list([fs])[0]}
        if getattr(fs, "colno", None) is not None:  # 3.11+
            loc.update(end_line=fs.end_lineno, column=fs.colno, end_column=fs.end_colno)
        elif getattr(fs, "end_lineno", None) is not None:
            loc.update(end_line=fs.end_lineno)
        out.append(loc)
        frame = frame.f_back
    return out


def _with_locations(me, snap):
    """snap with every frame's location, read now; None if a thread moved
    since snap was taken."""
    frames = sys._current_frames()
    frame = None
    out = {}
    for ident, stack in snap.items():
        frame = frames.get(ident)
        if frame is None or _frames(frame) != stack:
            return None
        out[ident] = [dict(f, **loc) for f, loc in zip(stack, _locations(frame))]
    del frames, frame
    return out


def _sample(me):
    frames = sys._current_frames()
    snap = {}
    for ident, frame in frames.items():
        if ident != me:
            snap[ident] = _frames(frame)
    del frames, frame
    return snap


def _native_ids():
    ids = {}
    for t in threading.enumerate():
        if t.ident is not None and getattr(t, "native_id", None) is not None:
            ids[t.ident] = t.native_id
    with _lock:
        ids.update(_native)
    return ids


def _parked(snap, natives):
    """True when every sampled thread is known and, unless busy, asleep."""
    for ident in snap:
        nid = natives.get(ident)
        if nid is None:
            return False
        if ident not in _busy and _state(nid) not in ("S", "D"):
            return False
    return True


def _report(path, expected):
    me = threading.get_ident()
    deadline = time.monotonic() + 45
    prev, same = None, 0
    while True:
        if time.monotonic() > deadline:
            sys.stderr.write("pyscope_oracle: threads never settled\n")
            sys.stderr.flush()
            os._exit(3)
        time.sleep(0.05)
        snap = _sample(me)
        natives = _native_ids()
        ok = len(snap) >= expected and _parked(snap, natives)
        if ok and snap == prev:
            same += 1
        else:
            same = 0
        prev = snap
        # Three identical samples 50 ms apart, every thread asleep or busy.
        if same >= 2:
            located = _with_locations(me, snap)
            if located is not None:
                snap = located
                break
            same = 0
    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    # Free-threaded builds run without a GIL unless it was re-enabled.
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    threads = []
    for ident, frames in snap.items():
        busy = ident in _busy
        t = {
            "thread_id": ident,
            "native_id": natives[ident],
            "name": names.get(ident),
            "is_main": ident == main,
            "holds_gil": gil if busy else None,
            # A spinning thread is attached to its interpreter; a parked one
            # blocks in a call that detached it (released the GIL).
            "state": "attached" if busy else "detached",
            "frames": frames,
        }
        if busy:
            t["busy"] = True
        threads.append(t)
    oracle = {
        "pid": os.getpid(),
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "free_threaded": sysconfig.get_config_var("Py_GIL_DISABLED") == 1,
        "threads": threads,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(oracle, f, indent=1)
    os.replace(tmp, path)
    recheck = os.environ.get("PYSCOPE_ORACLE_RECHECK")
    if recheck:  # harness self-test: does the picture still hold later?
        time.sleep(float(recheck))
        frames = sys._current_frames()
        later = [{"thread_id": i, "frames": [dict(f, **loc) for f, loc in zip(_frames(fr), _locations(fr))]}
                 for i, fr in frames.items() if i != me]
        del frames
        with open(path + ".recheck", "w") as f:
            json.dump(later, f)
    os.write(1, b"ready\n")


def _respond():
    while True:
        data = os.read(0, 256)
        if not data:
            os._exit(0)
        os.write(1, b"pong\n" * data.count(b"\n"))


def start(expected=0):
    """Start the responder and the reporter; expected is the least number of
    threads (besides the reporter) the oracle must hold."""
    path = os.path.abspath(sys.argv[1])
    r = threading.Thread(target=_respond, name="pyscope-responder", daemon=True)
    r.start()
    rep = threading.Thread(target=_report, args=(path, expected),
                           name="pyscope-reporter", daemon=True)
    rep.start()
