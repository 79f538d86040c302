"""The asyncio design choice, measured: the worker-thread bridge against its alternatives.

    python benchmarks/bench_async_designs.py [--ops N] [--repeat R]
    .ci/with-postgres.sh python benchmarks/bench_async_designs.py   # adds PostgreSQL

tpstore's `a`-methods run the synchronous operation, whole, on a worker thread (the
bridge, `tpstore/_bridge.py`). The alternatives DESIGN §11 names are prototyped here by
their per-call cost, the part that decides between them:

- *Split each operation into a pure part and an I/O part*: the pure part (validate,
  encode, choose statements, decode) runs on the loop and each statement goes to the
  thread that owns the connection, one round trip per statement. sqlite3 has no
  asynchronous API, so statements must still go to a thread. Prototype: the
  statements of an autocommitted `increment` (`BEGIN IMMEDIATE`, an UPSERT ...
  RETURNING, `COMMIT`), hand-written on a plain `sqlite3` connection owned by one
  worker thread, sent one round trip each, beside the same three in one round trip
  (what the bridge does) and beside tpstore's own `increment` and `aincrement`.
- *psycopg's async connections* (PostgreSQL): the statements awaited on an
  `AsyncConnection`, no thread. Prototype: the point read and the UPSERT ...
  RETURNING increment hand-written on `psycopg.AsyncConnection`, beside the same on a
  synchronous connection, and beside tpstore's `get`/`aget` and
  `increment`/`aincrement`. The alternative would add tpstore's own work (validation,
  encoding, the lock row and the count rows) to the async figure; the column
  "estimated" adds the difference between tpstore's sync call and the hand-written
  sync statement. Then 50 tasks doing point reads: on 8 async connections (the
  bridge's pool has 8 threads) beside tpstore's `aget`.

The bridge's bare round trip (a call that does nothing, sent to a worker thread and
awaited) is printed too: no design that keeps the loop free of sqlite3 calls costs less
per statement. Each figure is the best of `--repeat` runs of `--ops` calls, in one task
(`durability="normal"` and, on PostgreSQL, the server's `synchronous_commit`).

The round trip itself, taken apart (part "hops", no storage: a call of `int()`):
`loop.run_in_executor` with the default executor; one `queue.SimpleQueue` shared by
1 or 8 threads, each answer a `call_soon_threadsafe` (the shape of the bridge's pool
before its threads got locks of their own); the same with a thread that polls the
queue for 50 µs (`time.sleep(0)` between looks, which lets the loop run) before it
sleeps; and the bridge. Then 50 tasks doing point reads through `aget` with 1, 2, 4
and 8 pool threads woken at once (`EAGER_THREADS`), beside 50 threads calling `get`,
in turns: the choice of two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

from _common import (
    FreshFiles,
    FreshSchemas,
    machine_line,
    postgres_server_url,
    released_together,
)

import tpstore
from tpstore import _bridge
from tpstore._bridge import bridge_of

TASKS = 50
ASYNC_CONNECTIONS = 8


class Bench(tpstore.Store):
    hits: tpstore.Mapping[str, int]


def best(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def per_call_sync(n: int, call: Callable[[int], object]) -> float:
    call(0)
    start = time.perf_counter()
    for i in range(n):
        call(i)
    return (time.perf_counter() - start) / n * 1e6


async def per_call_async(n: int, call: Callable[[int], Awaitable[object]]) -> float:
    await call(0)  # a first call may start threads or connect: not timed
    start = time.perf_counter()
    for i in range(n):
        await call(i)
    return (time.perf_counter() - start) / n * 1e6


def tpstore_sync(location: Path | str, n: int, op: str) -> float:
    """µs per `get` or `increment` through tpstore's synchronous API."""
    with Bench(location, durability="normal") as store:
        store.hits.update({f"k{i}": i for i in range(200)})
        if op == "get":
            return per_call_sync(n, lambda i: store.hits.get(f"k{i % 200}"))
        return per_call_sync(n, lambda i: store.hits.increment(f"k{i % 200}"))


def tpstore_async(location: Path | str, n: int, op: str) -> float:
    """µs per `aget` or `aincrement` (or, for "noop", per bare bridge round trip)."""

    async def run() -> float:
        async with Bench(location, durability="normal") as store:
            await store.hits.aupdate({f"k{i}": i for i in range(200)})
            if op == "get":
                return await per_call_async(n, lambda i: store.hits.aget(f"k{i % 200}"))
            if op == "noop":
                bridge = bridge_of(store._engine)
                return await per_call_async(n, lambda i: bridge.run(int))
            return await per_call_async(n, lambda i: store.hits.aincrement(f"k{i % 200}"))

    return asyncio.run(run())


def row(name: str, micros: float, note: str = "") -> None:
    print(f"{name:<52}{micros:>10.1f}  {note}")


# -- SQLite ---------------------------------------------------------------------------------


class OneThread:
    """A plain sqlite3 connection owned by one worker thread; statements sent to it."""

    def __init__(self, path: Path) -> None:
        self._jobs: list[Any] = []
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._serve, args=(path,), daemon=True)
        self._thread.start()

    def _serve(self, path: Path) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, value INTEGER)")
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                job = self._jobs.pop(0)
            if job is None:
                db.close()
                return
            loop, future, statements = job
            try:
                result: Any = None
                for sql, parameters in statements:
                    result = db.execute(sql, parameters).fetchall()
                loop.call_soon_threadsafe(_settle, future, result, None)
            except Exception as exc:
                loop.call_soon_threadsafe(_settle, future, None, exc)

    def send(self, *statements: tuple[str, tuple[Any, ...]]) -> asyncio.Future[Any]:
        """Run `statements` in one round trip; the last one's rows."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._ready:
            self._jobs.append((loop, future, statements))
            self._ready.notify()
        return future

    def close(self) -> None:
        with self._ready:
            self._jobs.append(None)
            self._ready.notify()
        self._thread.join()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


BEGIN = ("BEGIN IMMEDIATE", ())
COMMIT = ("COMMIT", ())
UPSERT = (
    "INSERT INTO hits (key, value) VALUES (?, 1) "
    "ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value"
)


def sqlite_part(n: int, repeat: int) -> None:
    files = FreshFiles()
    print(f"SQLite {sqlite3.sqlite_version} (a WAL file), µs per call, best of {repeat} x {n}")

    def split(together: bool) -> float:
        async def run() -> float:
            worker = OneThread(files())
            try:

                async def increment(i: int) -> object:
                    key = (f"k{i % 200}",)
                    if together:
                        return await worker.send(BEGIN, (UPSERT, key), COMMIT)
                    await worker.send(BEGIN)
                    rows = await worker.send((UPSERT, key))
                    await worker.send(COMMIT)
                    return rows

                return await per_call_async(n, increment)
            finally:
                worker.close()

        return asyncio.run(run())

    row("get (tpstore, sync)", best(repeat, lambda: tpstore_sync(files(), n, "get")))
    row(
        "aget (tpstore, the bridge: one round trip)",
        best(repeat, lambda: tpstore_async(files(), n, "get")),
    )
    row("the bridge's bare round trip", best(repeat, lambda: tpstore_async(files(), n, "noop")))
    row("increment (tpstore, sync)", best(repeat, lambda: tpstore_sync(files(), n, "increment")))
    row(
        "aincrement (tpstore, the bridge)",
        best(repeat, lambda: tpstore_async(files(), n, "increment")),
    )
    row(
        "hand-written increment, 3 statements in 1 round trip",
        best(repeat, lambda: split(together=True)),
        "(the bridge's shape)",
    )
    row(
        "hand-written increment, 3 round trips",
        best(repeat, lambda: split(together=False)),
        "(the split design's shape)",
    )


# -- PostgreSQL -----------------------------------------------------------------------------

SELECT = "SELECT value FROM hits WHERE key = %s"
PG_UPSERT = (
    "INSERT INTO hits AS t (key, value) VALUES (%s, 1) "
    "ON CONFLICT (key) DO UPDATE SET value = t.value + 1 RETURNING value"
)
PG_TABLE = 'CREATE TABLE IF NOT EXISTS hits (key text COLLATE "C" PRIMARY KEY, value bigint)'


class Postgres:
    """The PostgreSQL measurements, each in a fresh schema."""

    def __init__(self, url: str, n: int) -> None:
        self.schemas = FreshSchemas(url)
        self.n = n

    def filled(self) -> str:
        """A fresh schema with the hand-written table of 200 rows."""
        import psycopg

        schema_url = self.schemas()
        with psycopg.connect(schema_url, autocommit=True) as conn:
            conn.execute(PG_TABLE)
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO hits VALUES (%s, %s)", [(f"k{i}", i) for i in range(200)]
                )
        return schema_url

    def hand_sync(self, sql: str) -> float:
        import psycopg

        with psycopg.connect(self.filled(), autocommit=True) as conn:
            return per_call_sync(self.n, lambda i: conn.execute(sql, (f"k{i % 200}",)).fetchone())

    def hand_async(self, sql: str) -> float:
        import psycopg

        schema_url = self.filled()

        async def run() -> float:
            conn = await psycopg.AsyncConnection.connect(schema_url, autocommit=True)
            try:

                async def call(i: int) -> object:
                    cursor = await conn.execute(sql, (f"k{i % 200}",))
                    return await cursor.fetchone()

                return await per_call_async(self.n, call)
            finally:
                await conn.close()

        return asyncio.run(run())

    def tpstore_sync(self, op: str) -> float:
        return tpstore_sync(self.schemas(), self.n, op)

    def tpstore_async(self, op: str) -> float:
        return tpstore_async(self.schemas(), self.n, op)

    def tasks_tpstore(self) -> float:
        return tasks_aget(self.schemas(), self.n)

    def tasks_async_connections(self) -> float:
        import psycopg

        schema_url = self.filled()
        share = self.n // TASKS

        async def run() -> float:
            pool: asyncio.Queue[Any] = asyncio.Queue()
            for _ in range(ASYNC_CONNECTIONS):
                pool.put_nowait(await psycopg.AsyncConnection.connect(schema_url, autocommit=True))

            async def caller() -> None:
                for i in range(share):
                    conn = await pool.get()
                    try:
                        cursor = await conn.execute(SELECT, (f"k{i % 200}",))
                        await cursor.fetchone()
                    finally:
                        pool.put_nowait(conn)

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(TASKS)))
            rate = share * TASKS / (time.perf_counter() - start)
            while not pool.empty():
                await pool.get_nowait().close()
            return rate

        return asyncio.run(run())


def postgres_part(url: str, n: int, repeat: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print()
    print(
        f"PostgreSQL {version[0] if version else '?'} on this machine (unix socket), "
        f"psycopg {psycopg.__version__}, µs per call, best of {repeat} x {n}"
    )
    pg = Postgres(url, n)
    try:
        for op, sql in (("get", SELECT), ("increment", PG_UPSERT)):
            ours_sync = best(repeat, lambda op=op: pg.tpstore_sync(op))  # type: ignore[misc]
            ours_async = best(repeat, lambda op=op: pg.tpstore_async(op))  # type: ignore[misc]
            raw_sync = best(repeat, lambda sql=sql: pg.hand_sync(sql))  # type: ignore[misc]
            raw_async = best(repeat, lambda sql=sql: pg.hand_async(sql))  # type: ignore[misc]
            row(f"{op} (tpstore, sync)", ours_sync)
            row(f"a{op} (tpstore, the bridge)", ours_async)
            row(f"hand-written {op}, sync psycopg", raw_sync)
            row(f"hand-written {op}, psycopg AsyncConnection", raw_async)
            row(
                f"a{op} on AsyncConnection, estimated",
                raw_async + ours_sync - raw_sync,
                "(the async figure + tpstore's own work)",
            )
        row("the bridge's bare round trip", best(repeat, lambda: pg.tpstore_async("noop")))
        print(f"{TASKS} tasks, point reads, operations/s:")
        row(
            "  aget (tpstore, the bridge: reads gathered)",
            max(pg.tasks_tpstore() for _ in range(repeat)),
        )
        row(
            f"  hand-written, {ASYNC_CONNECTIONS} AsyncConnections",
            max(pg.tasks_async_connections() for _ in range(repeat)),
        )
    finally:
        pg.schemas.drop()


# -- The thread hop ---------------------------------------------------------------------------


class SharedQueue:
    """Threads taking calls from one `SimpleQueue`, each answer its own loop wake-up.

    With `poll`, a thread that finished a call looks at the queue for `poll` seconds,
    yielding the interpreter between looks, before it sleeps.
    """

    def __init__(self, threads: int, poll: float = 0.0) -> None:
        self._calls: SimpleQueue[Any] = SimpleQueue()
        self._poll = poll
        for _ in range(threads):
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        calls = self._calls
        call = calls.get()
        while call is not None:
            loop, future, fn = call
            loop.call_soon_threadsafe(_settle, future, fn(), None)
            call = None
            deadline = time.perf_counter() + self._poll
            while call is None and time.perf_counter() < deadline:
                try:
                    call = calls.get_nowait()
                except Empty:
                    time.sleep(0)
            if call is None:
                call = calls.get()

    def run(self, fn: Callable[[], object]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, fn))
        return future

    def close(self, threads: int) -> None:
        for _ in range(threads):
            self._calls.put(None)


def hops_part(n: int, repeat: int) -> None:
    print(f"\nThe thread hop alone (a call of int()), µs per awaited call, best of {repeat} x {n}")

    async def run() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        shared = {1: SharedQueue(1), 8: SharedQueue(8)}
        polling = SharedQueue(1, poll=50e-6)
        with tempfile.TemporaryDirectory() as folder:
            async with Bench(Path(folder) / "hop.db") as store:
                bridge = bridge_of(store._engine)
                designs: dict[str, Callable[[int], Awaitable[object]]] = {
                    "loop.run_in_executor(None, ...)": lambda i: loop.run_in_executor(None, int),
                    "a SimpleQueue, 8 threads": lambda i: shared[8].run(int),
                    "a SimpleQueue, 1 thread": lambda i: shared[1].run(int),
                    "a SimpleQueue, 1 thread polling 50 µs": lambda i: polling.run(int),
                    "the bridge (tpstore)": lambda i: bridge.run(int),
                }
                times: dict[str, list[float]] = {name: [] for name in designs}
                for _ in range(repeat):  # in turns: a passing load weighs on all
                    for name, call in designs.items():
                        times[name].append(await per_call_async(n, call))
        for threads, queue in shared.items():
            queue.close(threads)
        polling.close(1)
        return {name: min(each) for name, each in times.items()}

    for name, micros in asyncio.run(run()).items():
        row(name, micros)


@contextlib.contextmanager
def eager_threads(eager: int) -> Iterator[None]:
    """The bridge's pool wakes `eager` threads at once for queued jobs, meanwhile."""
    saved, _bridge.EAGER_THREADS = _bridge.EAGER_THREADS, eager
    try:
        yield
    finally:
        _bridge.EAGER_THREADS = saved


def eager_part(n: int, repeat: int) -> None:
    print(f"\n{TASKS} tasks doing point reads (aget), operations/s, best of {repeat} x {n}")
    files = FreshFiles()
    choices = (1, 2, 4, 8)
    rates: dict[str, list[float]] = {"50 threads, get": []}
    rates.update({f"aget, EAGER_THREADS = {eager}": [] for eager in choices})
    for _ in range(repeat):
        rates["50 threads, get"].append(threads_get(files(), n))
        for eager in choices:
            with eager_threads(eager):
                rates[f"aget, EAGER_THREADS = {eager}"].append(tasks_aget(files(), n))
    for name, each in rates.items():
        row(name, max(each))


def threads_get(location: Path, n: int) -> float:
    with Bench(location, durability="normal") as store:
        store.hits.update({f"k{i}": i for i in range(200)})
        share = n // TASKS

        def caller() -> None:
            for i in range(share):
                store.hits.get(f"k{i % 200}")

        return share * TASKS / released_together(TASKS, caller)


def tasks_aget(location: Path | str, n: int) -> float:
    """Operations/s of 50 tasks doing point reads through `aget` on one store."""
    share = n // TASKS

    async def run() -> float:
        async with Bench(location, durability="normal") as store:
            await store.hits.aupdate({f"k{i}": i for i in range(200)})
            await asyncio.gather(*(store.hits.aget("k0") for _ in range(TASKS)))

            async def caller() -> None:
                for i in range(share):
                    await store.hits.aget(f"k{i % 200}")

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(TASKS)))
            return share * TASKS / (time.perf_counter() - start)

    return asyncio.run(run())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--part", choices=["all", "hops", "eager", "designs"], default="all", help="one part only"
    )
    args = parser.parse_args(argv)
    print(machine_line())
    if args.part in ("all", "hops"):
        hops_part(args.ops, args.repeat)
    if args.part in ("all", "eager"):
        eager_part(args.ops * 3, args.repeat)
    if args.part not in ("all", "designs"):
        return
    sqlite_part(args.ops, args.repeat)
    url = postgres_server_url()
    if url:
        postgres_part(url, args.ops, args.repeat)
    else:
        print("\n(PostgreSQL: set TPSTORE_BENCH_POSTGRES or run under .ci/with-postgres.sh)")


if __name__ == "__main__":
    main(sys.argv[1:])
