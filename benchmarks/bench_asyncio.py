"""The asyncio twins beside the synchronous API they run.

    python benchmarks/bench_asyncio.py [--ops N] [--repeat R] [--durability D] [--postgres]

Method: one process, one fresh file per measurement in the same temporary folder
(WAL; `--durability`, by default "normal", so that the figures show the API's cost
rather than the disk's fsync; "full" shows how durable commits batch). Each figure
is the best of `--repeat` runs, and the two figures of a ratio are taken in turns
(sync, async, sync, async...), so that a load coming and going on the machine weighs
on both. With `--postgres`, each measurement gets a fresh schema on the server of
`TPSTORE_BENCH_POSTGRES` (or `TPSTORE_TEST_POSTGRES`: `.ci/with-postgres.sh python
benchmarks/bench_asyncio.py --postgres`) instead of a file.

Part 1, per-operation cost in one task: N `get`, `set` (each its own commit) and
`increment` calls through the synchronous API, then the same N through `aget`,
`aset` and `aincrement` awaited one after the other in one task. The ratio is async
time / sync time: the price of the thread round trip that keeps the loop free.

Part 2, throughput with 50 concurrent callers: N operations split over 50 asyncio
tasks sharing one store, beside the same N split over 50 threads on the synchronous
API; first point reads, then autocommitted writes (`set`). The ratio is the tasks'
throughput / the threads' throughput (above 1.0: the tasks are faster).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import (
    FreshFiles,
    FreshSchemas,
    machine_line,
    postgres_server_url,
    released_together,
)

import tpstore

KEYS = 200
CALLERS = 50


class Bench(tpstore.Store):
    hits: tpstore.Mapping[str, int]


# Where each measurement's store goes: a new file, or a new PostgreSQL schema.
Locations = Callable[[], Path | str]


class Fresh:
    """New stores, each in a new location, filled with `KEYS` keys."""

    def __init__(self, files: Locations, durability: str) -> None:
        self.files = files
        self.durability = durability

    def __call__(self) -> Bench:
        store = Bench(self.files(), durability=self.durability)
        store.hits.update({f"k{i}": i for i in range(KEYS)})
        return store


def keys(n: int) -> list[str]:
    return [f"k{i % KEYS}" for i in range(n)]


def in_turns(
    repeat: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[float, float]:
    """The best of `repeat` runs of each measurement, the two run in turns."""
    firsts, seconds = [], []
    for _ in range(repeat):
        firsts.append(first())
        seconds.append(second())
    return min(firsts), min(seconds)


def sync_loop(fresh: Fresh, n: int, op: Callable[[Bench, str], object]) -> float:
    store = fresh()
    try:
        start = time.perf_counter()
        for key in keys(n):
            op(store, key)
        return time.perf_counter() - start
    finally:
        store.close()


def async_loop(fresh: Fresh, n: int, op: Callable[[Bench, str], Awaitable[object]]) -> float:
    async def run() -> float:
        async with fresh() as store:
            await op(store, "k0")  # the first call starts the worker thread: not timed
            start = time.perf_counter()
            for key in keys(n):
                await op(store, key)
            return time.perf_counter() - start

    return asyncio.run(run())


def threads(fresh: Fresh, n: int, op: Callable[[Bench, str], object]) -> float:
    store = fresh()
    share = keys(n // CALLERS)

    def caller() -> None:
        for key in share:
            op(store, key)

    elapsed = released_together(CALLERS, caller)
    store.close()
    return elapsed


def tasks(fresh: Fresh, n: int, op: Callable[[Bench, str], Awaitable[object]]) -> float:
    share = keys(n // CALLERS)

    async def run() -> float:
        async with fresh() as store:
            await asyncio.gather(*(op(store, key) for key in keys(CALLERS)))  # warm the pool

            async def caller() -> None:
                for key in share:
                    await op(store, key)

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(CALLERS)))
            return time.perf_counter() - start

    return asyncio.run(run())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL")
    args = parser.parse_args(argv)
    n, repeat, durability = args.ops, args.repeat, args.durability
    if not args.postgres:
        measure(Fresh(FreshFiles(), durability), n, repeat, "SQLite (a WAL file)")
        return
    url = postgres_server_url()
    if not url:
        sys.exit("--postgres: set TPSTORE_BENCH_POSTGRES (or run under .ci/with-postgres.sh)")
    schemas = FreshSchemas(url)
    try:
        measure(Fresh(schemas, durability), n, repeat, "PostgreSQL (a schema on a local server)")
    finally:
        schemas.drop()


def measure(fresh: Fresh, n: int, repeat: int, where: str) -> None:
    print(
        f"tpstore asyncio twins vs the synchronous API, {n} operations, best of {repeat}, "
        f"on {where}, durability={fresh.durability!r}"
    )
    print(machine_line())
    print(f"{'one task':<22}{'sync µs/op':>12}{'async µs/op':>13}{'async/sync':>12}")
    single: list[tuple[str, Callable[..., object], Callable[..., Awaitable[object]]]] = [
        ("get / aget", lambda s, k: s.hits.get(k), lambda s, k: s.hits.aget(k)),
        ("set / aset", lambda s, k: s.hits.__setitem__(k, 1), lambda s, k: s.hits.aset(k, 1)),
        (
            "increment / aincrement",
            lambda s, k: s.hits.increment(k),
            lambda s, k: s.hits.aincrement(k),
        ),
    ]
    for name, sync_op, async_op in single:
        sync_time, async_time = in_turns(
            repeat,
            lambda op=sync_op: sync_loop(fresh, n, op) / n * 1e6,  # type: ignore[misc]
            lambda op=async_op: async_loop(fresh, n, op) / n * 1e6,  # type: ignore[misc]
        )
        print(f"{name:<22}{sync_time:>12.1f}{async_time:>13.1f}{async_time / sync_time:>11.2f}x")
    print(f"{CALLERS} callers{'':<13}{'threads op/s':>12}{'tasks op/s':>13}{'tasks/thr':>12}")
    concurrent: list[tuple[str, Callable[..., object], Callable[..., Awaitable[object]]]] = [
        ("point reads", lambda s, k: s.hits.get(k), lambda s, k: s.hits.aget(k)),
        (
            "autocommit writes",
            lambda s, k: s.hits.__setitem__(k, 1),
            lambda s, k: s.hits.aset(k, 1),
        ),
    ]
    for name, sync_op, async_op in concurrent:
        thread_time, task_time = in_turns(
            repeat,
            lambda op=sync_op: threads(fresh, n, op),  # type: ignore[misc]
            lambda op=async_op: tasks(fresh, n, op),  # type: ignore[misc]
        )
        thread_rate, task_rate = n / thread_time, n / task_time
        print(f"{name:<22}{thread_rate:>12.0f}{task_rate:>13.0f}{task_rate / thread_rate:>11.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
