# Run by asyncio_test.go under a reference interpreter, like probe.py: one
# JSON line of ground truth about asyncio objects it keeps alive, then reads
# of its own memory ("r ADDR N" -> hex; "quit").
import asyncio, ctypes, functools, json, os, sys, threading, weakref

api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
api.PyThreadState_GetDict.restype = ctypes.c_void_p
read = ctypes._string_at


async def waiter(fut):
    await fut


async def agen():
    yield 1


def inner_gen():
    yield 1


def outer_gen():
    yield from inner_gen()


def plain_gen():
    for _ in range(3):
        yield 1


class Holder:
    def meth(self):
        pass


def cb1(f):
    pass


def cb2(f):
    pass


worker = {}
ready = threading.Event()
stop = threading.Event()


async def blocking_task():
    # The worker's loop runs this task, which blocks its thread: the thread
    # state then names both the running loop and (3.14) the running task.
    worker["tstate"] = api.PyThreadState_Get()
    worker["dict"] = api.PyThreadState_GetDict()
    worker["loop"] = asyncio.get_running_loop()
    worker["task"] = asyncio.current_task()
    ready.set()
    stop.wait()


def work():
    asyncio.run(blocking_task())


loop = asyncio.new_event_loop()
fut = loop.create_future()
task = loop.create_task(waiter(fut), name="probe-task")
loop.run_until_complete(asyncio.sleep(0))  # task now waits for fut
done = loop.create_future()
done.set_result(12345678)
cancelled = loop.create_future()
cancelled.cancel()
failed = loop.create_future()
failed.set_exception(ValueError("probe"))
multi = loop.create_future()
multi.add_done_callback(cb1)
multi.add_done_callback(cb2)
futiter = fut.__await__()
ref = weakref.ref(task)
holder = Holder()
bound = holder.meth
part = functools.partial(cb1, 1, 2)
ag = agen()
asend = ag.asend(None)
athrow = ag.athrow(ValueError)
coro = waiter(fut)
wrapper = coro.__await__()
outer = outer_gen()
next(outer)  # suspended in yield from
plain = plain_gen()
next(plain)  # suspended at a plain yield, a for-iterator on its stack
created = plain_gen()

th = threading.Thread(target=work, daemon=True)
th.start()
ready.wait()

truth = {
    "version": list(sys.version_info[:3]),
    "pid": os.getpid(),
    "task": id(task), "task_coro": id(task.get_coro()), "task_name": id(task.get_name()),
    "task_waiter": id(fut), "task_loop": id(loop),
    "done": id(done), "done_result": id(done.result()),
    "cancelled": id(cancelled),
    "failed": id(failed), "failed_exc": id(failed.exception()),
    "multi": id(multi), "cb1": id(cb1), "cb2": id(cb2),
    "futiter": id(futiter), "fut": id(fut),
    "ref": id(ref),
    "bound": id(bound), "holder": id(holder), "meth": id(Holder.meth),
    "partial": id(part), "partial_fn": id(cb1), "partial_args": id(part.args),
    "asend": id(asend), "athrow": id(athrow), "agen": id(ag),
    "wrapper": id(wrapper), "coro": id(coro),
    "outer": id(outer), "outer_yf": id(outer.gi_yieldfrom),
    "plain": id(plain), "created": id(created),
    "worker_tstate": worker["tstate"], "worker_dict": worker["dict"],
    "worker_loop": id(worker["loop"]), "worker_task": id(worker["task"]),
    "task_type": id(type(task)), "task_basicsize": type(task).__basicsize__,
    "future_basicsize": type(fut).__basicsize__,
}
print(json.dumps(truth), flush=True)
for line in sys.stdin:
    w = line.split()
    if w[0] == "r":
        print(read(int(w[1]), int(w[2])).hex(), flush=True)
    elif w[0] == "quit":
        break
stop.set()
