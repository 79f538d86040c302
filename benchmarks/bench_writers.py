"""Many writers at once: threads of one process, and processes sharing one file.

    python benchmarks/bench_writers.py [--threads T [T ...]] [--puts P] [--repeat R]
                                       [--durability D [D ...]] [--trials N]
                                       [--writes W] [--skip-processes]

Threads (the normal case of a web application sharing one store): T threads each make
P autocommitted puts of `User` model instances, all started together, at
`durability="full"` (every commit fsynced) and `"normal"` (or the `--durability`
given). With several thread counts (`--threads 1 2 8`), each count makes the same
number of puts in all, P times the largest count, shared out between its threads: how
the figures scale with the number of threads. Contenders: one tpstore
store shared by the threads; the floor of `bench_mapping.py` (sqlite3 + pydantic
re-validation + a trigger-kept count) with a connection per thread; raw sqlite3 with a
connection per thread, writing JSON text prepared beforehand (no validation, no count).
Every contender waits up to 5 s for the lock. Reported: puts per second over the
whole run (wall clock from the start of the threads to the end of the last one, best
of `--repeat`), the 50th and 99th percentile of one put's latency over all puts of all
runs, how many puts gave up after waiting 5 s for the lock, and the process's voluntary
context switches per put (a thread going to sleep: a wait for a lock or a turn; the
median of the runs, where the system counts them), which other work on the machine
changes far less than the throughput. Every put is durable (at the given durability)
when it returns.

Processes (starvation): three processes work a `Deque` in tight loops (one appends,
one pops, one pops inside `transaction()`), with the default `timeout` (5 s). N times,
a fourth process opens the store and makes W writes; reported: how long its opening
and its single writes took (percentiles and the longest), how many trials ended in
`BusyError`, and how many `BusyError`s the three loops met. No transaction in the loops
lasts more than a few milliseconds, so a long wait means a waiter is being passed over,
not a lock being held.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import (
    FreshFiles,
    connect_wal,
    counted_table,
    machine_line,
    percentile,
    validated_json,
)
from pydantic import BaseModel

import tpstore


class User(BaseModel):
    name: str
    email: str
    age: int = 0


class Bench(tpstore.Store):
    users: tpstore.Mapping[str, User]
    jobs: tpstore.Deque[dict[str, int]]
    marks: tpstore.Mapping[int, int]


UPSERT = (
    "INSERT INTO users (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

Put = Callable[[str, User], None]


# -- threads ---------------------------------------------------------------------------------


def tpstore_writers(
    path: Path, durability: str, threads: int
) -> tuple[list[Put], Callable[[], None]]:
    store = Bench(path, durability=durability)
    users = store.users

    def put(key: str, value: User) -> None:
        users[key] = value

    return [put] * threads, store.close


def floor_writers(
    path: Path, durability: str, threads: int
) -> tuple[list[Put], Callable[[], None]]:
    synchronous = durability.upper()
    first = connect_wal(path, synchronous)
    counted_table(first, "users", "key TEXT PRIMARY KEY NOT NULL, value TEXT", "WITHOUT ROWID")
    connections = [first] + [connect_wal(path, synchronous) for _ in range(threads - 1)]
    dump = validated_json(User)

    def writer(db: Any) -> Put:
        return lambda key, value: db.execute(UPSERT, (key, dump(value)))

    return [writer(db) for db in connections], lambda: [db.close() for db in connections]


def raw_writers(path: Path, durability: str, threads: int) -> tuple[list[Put], Callable[[], None]]:
    synchronous = durability.upper()
    first = connect_wal(path, synchronous)
    first.execute("CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, value TEXT) WITHOUT ROWID")
    connections = [first] + [connect_wal(path, synchronous) for _ in range(threads - 1)]

    def writer(db: Any) -> Put:
        # The value arrives as JSON text already: raw sqlite3 does no conversion at all.
        return lambda key, text: db.execute(UPSERT, (key, text))

    return [writer(db) for db in connections], lambda: [db.close() for db in connections]


def sleeps() -> int:
    """The voluntary context switches of this process's threads so far (0 where the
    system does not count them)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def run_threads(
    make: Callable[[Path, str, int], tuple[list[Put], Callable[[], None]]],
    path: Path,
    durability: str,
    threads: int,
    puts: int,
    *,
    raw_values: bool,
) -> tuple[float, list[float], int, int]:
    """One run: its wall-clock seconds, every put's latency, the puts that timed out, and
    the voluntary context switches of the process meanwhile."""
    writers, close = make(path, durability, threads)
    values = [User(name=f"Name {i}", email=f"u{i}@example.org", age=i % 99) for i in range(puts)]
    payloads: list[Any] = [v.model_dump_json() for v in values] if raw_values else values
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    start = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        put, mine, clock = writers[index], latencies[index], time.perf_counter
        start.wait()
        for j, payload in enumerate(payloads):
            began = clock()
            try:
                put(f"t{index}-{j:06d}", payload)
            except (tpstore.BusyError, sqlite3.OperationalError):
                failures[index] += 1  # waited the whole timeout for the lock
            mine.append(clock() - began)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    switched = sleeps()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    switched = sleeps() - switched
    close()
    return seconds, [x for mine in latencies for x in mine], sum(failures), switched


def thread_figures(args: argparse.Namespace, fresh: FreshFiles) -> None:
    for threads in args.threads:
        puts = args.puts * max(args.threads) // threads
        thread_table(args, fresh, threads, puts)


def thread_table(args: argparse.Namespace, fresh: FreshFiles, threads: int, puts: int) -> None:
    contenders = {
        "tpstore": (tpstore_writers, False),
        "floor": (floor_writers, False),
        "raw sqlite3": (raw_writers, True),
    }
    total = threads * puts
    print(
        f"\n{threads} threads x {puts} autocommitted puts; best of {args.repeat} "
        "(throughput), all runs (latency)"
    )
    print(
        f"{'durability':<12}{'contender':<13}{'puts/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'timed out':>11}{'sleeps/put':>12}"
    )
    for durability in args.durability:
        for name, (make, raw_values) in contenders.items():
            walls, latencies, failed, switched = [], [], 0, []
            for _ in range(args.repeat):
                wall, mine, failures, switches = run_threads(
                    make, fresh(), durability, threads, puts, raw_values=raw_values
                )
                walls.append(wall)
                latencies.extend(mine)
                failed += failures
                switched.append(switches / total)
            print(
                f"{durability:<12}{name:<13}{total / min(walls):>10,.0f}"
                f"{percentile(latencies, 0.5) * 1e3:>9.2f}{percentile(latencies, 0.99) * 1e3:>9.2f}"
                f"{failed:>11}{statistics.median(switched):>12.2f}"
            )
            sys.stdout.flush()


# -- processes -------------------------------------------------------------------------------


def loop(path: str, role: str, stop: Any, busy_errors: Any) -> None:
    """One of the three busy processes; counts the `BusyError`s it meets in `busy_errors`."""
    store = Bench(path)
    jobs = store.jobs
    i = 0
    while not stop.is_set():
        i += 1
        try:
            if role == "append":
                jobs.append({"i": i})
            elif role == "popleft":
                jobs.popleft()
            else:
                with store.transaction():
                    jobs.popleft()
        except IndexError:
            pass
        except tpstore.BusyError:
            with busy_errors.get_lock():
                busy_errors.value += 1
    store.close()


def newcomer(path: str, writes: int, out: Connection) -> None:
    """The fourth process: open the store, write `writes` times, report the waits.

    The first wait reported is the opening's (it reads the catalog in a transaction).
    """
    waits: list[float] = []
    error = ""
    try:
        began = time.perf_counter()
        store = Bench(path)
        waits.append(time.perf_counter() - began)
        for i in range(writes):
            began = time.perf_counter()
            store.marks[i] = os.getpid()
            waits.append(time.perf_counter() - began)
        store.close()
    except tpstore.BusyError as exc:
        error = str(exc)
    out.send((waits, error))
    out.close()


def process_figures(args: argparse.Namespace, fresh: FreshFiles) -> None:
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    path = str(fresh())
    Bench(path).close()
    stop = context.Event()
    busy_errors = context.Value("i", 0)
    busy = [
        context.Process(target=loop, args=(path, role, stop, busy_errors))
        for role in ("append", "popleft", "transaction")
    ]
    for process in busy:
        process.start()
    time.sleep(1.0)  # the loops are running
    opens: list[float] = []
    waits: list[float] = []
    failed = 0
    began = time.perf_counter()
    try:
        for _ in range(args.trials):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=newcomer, args=(path, args.writes, send))
            child.start()
            send.close()
            mine, error = receive.recv()
            child.join()
            opens.extend(mine[:1])
            waits.extend(mine[1:])
            failed += bool(error)
    finally:
        stop.set()
        for process in busy:
            process.join()
    print(
        f"\n3 processes working a Deque in tight loops; a 4th opens the store and writes "
        f"{args.writes} times, {args.trials} trials ({time.perf_counter() - began:.0f} s)"
    )
    print(f"opening: p50 {percentile(opens, 0.5) * 1e3:.1f} ms, longest {max(opens) * 1e3:.0f} ms")
    print(
        f"single write wait: p50 {percentile(waits, 0.5) * 1e3:.2f} ms, "
        f"p99 {percentile(waits, 0.99) * 1e3:.1f} ms, longest {max(waits) * 1e3:.0f} ms, "
        f"over 1 s: {sum(w > 1.0 for w in waits)}; trials ending in BusyError: "
        f"{failed} of {args.trials}; BusyErrors in the three loops: {busy_errors.value}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[8])
    parser.add_argument(
        "--puts", type=int, default=300, help="puts per thread (of the largest count)"
    )
    parser.add_argument(
        "--durability", nargs="+", choices=["full", "normal"], default=["full", "normal"]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30, help="newcomer processes")
    parser.add_argument("--writes", type=int, default=50, help="writes per newcomer")
    parser.add_argument("--skip-processes", action="store_true")
    args = parser.parse_args()
    fresh = FreshFiles()
    print(machine_line())
    thread_figures(args, fresh)
    if not args.skip_processes:
        process_figures(args, fresh)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
