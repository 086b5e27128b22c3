"""A request handler that crashes the interpreter through ctypes (a NULL
pointer read), for the post-mortem part of docs/guide.md."""

import ctypes
import threading


def parse_header(buf_addr, length):
    return ctypes.string_at(buf_addr, length)  # a bad address: SIGSEGV


def handle(request):
    header_addr = request.get("header_addr", 0) + 8  # offset past a missing buffer
    return parse_header(header_addr, 16)


def serve():
    handle({"path": "/orders", "header_addr": 0})


def request_thread():
    # Crash only once the main thread waits in join() (3.13 joins in C), so
    # that the core shows it there whatever the machine's load.
    import sys, time

    main = threading.main_thread().ident
    for _ in range(10000):
        if sys._current_frames()[main].f_code.co_name in ("_wait_for_tstate_lock", "join"):
            break
        time.sleep(0.001)
    serve()


t = threading.Thread(target=request_thread, name="request-1")
t.start()
t.join()
