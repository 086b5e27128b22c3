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


t = threading.Thread(target=serve, name="request-1")
t.start()
t.join()
