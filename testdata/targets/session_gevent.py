"""A small gevent crawler that stalls: its fetchers wait for a token of a
rate limiter that starts empty and that nothing refills (docs/guide.md
investigates it with pyscope dump --greenlets and pyscope debug)."""

import gevent
from gevent.lock import Semaphore

limiter = Semaphore(0)  # the bug: no tokens, and no greenlet adds any


def fetch(url):
    with limiter:
        gevent.sleep(0.01)
        return url


def crawl(urls):
    # A timer keeps the hub's loop alive, as a server's socket would.
    gevent.get_hub().loop.timer(3600).start(lambda: None)
    jobs = [gevent.spawn(fetch, url) for url in urls]
    gevent.sleep(0.1)
    print("crawling", flush=True)
    gevent.joinall(jobs)


crawl(["https://example.org/a", "https://example.org/b", "https://example.org/c"])
