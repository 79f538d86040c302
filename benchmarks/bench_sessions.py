"""What pooled sessions cost on the statement path, and what short-lived threads leave open.

    python benchmarks/bench_sessions.py [--number N] [--repeat R] [--threads T]

Method, in this one process, on a fresh file (WAL):

- Session: the work every statement outside a transaction adds to find its connection
  (DESIGN.md §2): the context lookup for a transaction of the caller's, a session taken
  from the store's pool and given back. Timed alone, beside a whole `SELECT 1` through
  the store's engine and the same statement on the pooled `sqlite3` connection
  directly (the difference is everything the engine adds: the lookup, the pool, error
  translation). Each figure is the best of `--repeat` rounds of `--number` calls, in
  nanoseconds per call.
- Threads: `--threads` threads started one after another, each reading one item and
  ending; then the store's open connections and the descriptors this process holds on
  the store's files (`-wal` and `-shm` included), read from `/proc/self/fd`. Before
  sessions, each thread kept a connection of its own until the store was closed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import FreshFiles, machine_line

import tpstore


class Counter(tpstore.Store):
    hits: tpstore.Mapping[str, int]


def per_call(action: Callable[[], object], number: int, repeat: int) -> float:
    """The best time of one call of `action`, in nanoseconds."""
    return min(timeit.repeat(action, number=number, repeat=repeat)) / number * 1e9


def statement_path(path: Path, number: int, repeat: int) -> None:
    with Counter(path) as store:
        store.hits["a"] = 1
        engine: Any = store._engine  # type: ignore[attr-defined]
        current, acquire, release = engine._current, engine._acquire, engine._release

        def take_and_give_back() -> None:
            current.get()
            release(acquire())

        session = acquire()
        connection = session.connection
        release(session)
        rows: dict[str, float] = {
            "session: lookup + take + give back": per_call(take_and_give_back, number, repeat),
            "SELECT 1 through the engine": per_call(
                lambda: engine.fetchone("SELECT 1"), number, repeat
            ),
            "SELECT 1 on the sqlite3 connection": per_call(
                lambda: connection.execute("SELECT 1").fetchone(), number, repeat
            ),
            "hits['a'] (a point read)": per_call(lambda: store.hits["a"], number, repeat),
        }
    for label, ns in rows.items():
        print(f"  {label:<40}{ns:>10.0f} ns")


def descriptors_on(files: list[Path]) -> int | None:
    """Open descriptors of this process on `files`; `None` without `/proc/self/fd`."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    wanted = {str(file.resolve()) for file in files}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in wanted:
                count += 1
        except OSError:  # the listing's own descriptor, closed meanwhile
            continue
    return count


def short_lived_threads(path: Path, threads: int) -> None:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    with Counter(path) as store:
        store.hits["a"] = 1

        def read_once() -> None:
            assert store.hits["a"] == 1

        for _ in range(threads):
            thread = threading.Thread(target=read_once)
            thread.start()
            thread.join()
        connections = len(store._engine.driver._sessions)  # type: ignore[attr-defined]
        print(
            f"  after {threads} threads: {connections} open connection(s), "
            f"{descriptors_on(files)} descriptors on the store's files"
        )
    print(f"  after close(): {descriptors_on(files)} descriptors on the store's files")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=300)
    args = parser.parse_args(argv)
    files = FreshFiles()
    print(machine_line())
    print(f"statement path (best of {args.repeat} x {args.number} calls):")
    statement_path(files(), args.number, args.repeat)
    print("short-lived threads:")
    short_lived_threads(files(), args.threads)


if __name__ == "__main__":
    main(sys.argv[1:])
