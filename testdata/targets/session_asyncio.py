"""A small asyncio order API that hangs: each request gathers two queries,
and every query waits for the one database connection, which a report
task took and never gives back (docs/guide.md investigates it with pyscope
dump --tasks and pyscope debug)."""

import asyncio

pool = asyncio.Queue()  # the database connections
report_ready = asyncio.Event()


class Connection:
    def __init__(self, host):
        self.host = host


async def query(sql):
    conn = await pool.get()
    try:
        await asyncio.sleep(0.01)
        return [sql, conn.host]
    finally:
        pool.put_nowait(conn)


async def fetch_user(user_id):
    return await query(f"SELECT * FROM users WHERE id = {user_id}")


async def fetch_orders(user_id):
    return await query(f"SELECT * FROM orders WHERE user_id = {user_id}")


async def handle(user_id):
    user, orders = await asyncio.gather(fetch_user(user_id), fetch_orders(user_id))
    return user, orders


async def nightly_report():
    conn = await pool.get()
    await report_ready.wait()  # nothing sets it: conn never goes back
    pool.put_nowait(conn)


async def main():
    pool.put_nowait(Connection("db.internal"))
    asyncio.create_task(nightly_report(), name="nightly-report")
    await asyncio.sleep(0.01)
    requests = [asyncio.create_task(handle(uid), name=f"request-{uid}") for uid in (7, 8)]
    await asyncio.sleep(0.1)
    print("serving", flush=True)
    await asyncio.gather(*requests)


asyncio.run(main())
