"""A small order service that hangs: two workers take the same two locks
in opposite orders (docs/guide.md investigates it with pyscope debug)."""

import queue
import threading
import time

inventory_lock = threading.Lock()
ledger_lock = threading.Lock()
orders = queue.Queue()


class Order:
    def __init__(self, order_id, sku, quantity):
        self.order_id = order_id
        self.sku = sku
        self.quantity = quantity


class Worker(threading.Thread):
    def __init__(self, name, first, second):
        super().__init__(name=name, daemon=True)
        self.first, self.second = first, second
        self.done = []

    def run(self):
        while True:
            order = orders.get()
            self.process(order)
            orders.task_done()

    def process(self, order):
        with self.first:
            time.sleep(0.1)  # long enough for the other worker to take its first lock
            with self.second:
                self.done.append(order.order_id)


def main():
    for i, sku in enumerate(["apple", "pear", "plum", "fig"]):
        orders.put(Order(i, sku, quantity=i + 1))
    Worker("inventory", inventory_lock, ledger_lock).start()
    Worker("billing", ledger_lock, inventory_lock).start()
    print("serving", flush=True)
    orders.join()  # never returns: the workers deadlock


main()
