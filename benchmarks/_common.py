"""What the benchmark scripts share: fresh files, timing, the floor, the machine line.

Imported by the scripts as `_common` (a script's own folder comes first on
`sys.path` when it is run as `python benchmarks/<name>.py`).
"""

from __future__ import annotations

import itertools
import os
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

import tpstore


class _Closable(Protocol):
    def close(self) -> None: ...


Subject = TypeVar("Subject", bound=_Closable)


class FreshFiles:
    """New database paths, one per call, in one temporary folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tpstore-bench-"))
        self._counter = itertools.count()

    def __call__(self) -> Path:
        return self.folder / f"{next(self._counter)}.db"


def best(
    repeat: int,
    setup: Callable[[], Subject],
    run: Callable[[Subject], object],
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The best time of `repeat` runs of `run`, each on a new subject from `setup`.

    Only `run` is timed, by `clock` (wall clock by default; `time.process_time` counts
    only this process's CPU time, steadier on a machine busy with other work); each
    subject is closed after its run.
    """
    times = []
    for _ in range(repeat):
        subject = setup()
        start = clock()
        run(subject)
        times.append(clock() - start)
        subject.close()
    return min(times)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(fraction * len(ranked)) - 1))]


def connect_wal(path: Path, synchronous: str, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A hand-written contender's connection: autocommit, WAL, `synchronous` as given."""
    db = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    return db


# -- the floor ------------------------------------------------------------------------------
#
# The least a hand-written sqlite3 + pydantic program must do to give tpstore's guarantees
# for the same declaration: validate every value on write, model instances included (a
# field mutated to the wrong type must be refused), and answer len() without a scan.


def counted_table(db: sqlite3.Connection, table: str, columns: str, options: str = "") -> None:
    """Create `table` with an exact O(1) count: a row of `counts` kept by two triggers.

    Writes must insert with `ON CONFLICT ... DO UPDATE` (an upsert), never `INSERT OR
    REPLACE`, whose hidden delete fires no trigger and would miscount.
    """
    db.execute(f"CREATE TABLE {table} ({columns}) {options}")
    db.execute(
        "CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)"
        " WITHOUT ROWID"
    )
    db.execute("INSERT INTO counts (name, n) VALUES (?, 0)", (table,))
    for event, sign in (("INSERT", "+"), ("DELETE", "-")):
        db.execute(
            f"CREATE TRIGGER {table}_{event.lower()} AFTER {event} ON {table} BEGIN "
            f"UPDATE counts SET n = n {sign} 1 WHERE name = '{table}'; END"
        )


def counted_len(db: sqlite3.Connection, table: str) -> int:
    """The floor's `len()`: one read of the count row."""
    return int(db.execute("SELECT n FROM counts WHERE name = ?", (table,)).fetchone()[0])


def validated_json(model: type[BaseModel]) -> Callable[[Any], str]:
    """The floor's write path for `model` values: their JSON text, validated.

    A dict is validated into the model. A model instance is not trusted as it is (its
    fields may have been mutated to anything): `model_validate` would return it
    unchecked, so it is dumped to JSON and that text validated, the cheapest way to
    re-validate one.
    """
    validate_json = model.__pydantic_validator__.validate_json

    def dump(value: Any) -> str:
        if isinstance(value, model):
            text = value.model_dump_json()
            validate_json(text)
            return text
        return model.model_validate(value).model_dump_json()

    return dump


def machine_line() -> str:
    """The machine and versions, printed with the results."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"tpstore {tpstore.__version__}"
    )


# -- PostgreSQL -----------------------------------------------------------------------------


def postgres_server_url() -> str | None:
    """The server to measure on: `TPSTORE_BENCH_POSTGRES`, else `TPSTORE_TEST_POSTGRES`
    (set by `.ci/with-postgres.sh`), else `None`."""
    return os.environ.get("TPSTORE_BENCH_POSTGRES") or os.environ.get("TPSTORE_TEST_POSTGRES")


def with_schema(url: str, schema: str) -> str:
    """`url` with the libpq option that makes `schema` the session's current schema."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


class FreshSchemas:
    """New empty PostgreSQL schemas on one server, one per call (as URLs selecting them);
    `drop()` removes them all."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._made: list[str] = []

    def __call__(self) -> str:
        import psycopg

        schema = f"bench_{os.getpid()}_{len(self._made)}_{time.monotonic_ns() % 10**6}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        self._made.append(schema)
        return with_schema(self.url, schema)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self._made:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self._made.clear()


def released_together(count: int, work: Callable[[], object]) -> float:
    """Seconds for `count` threads, released at once, each running `work()` to its end."""
    barrier = threading.Barrier(count + 1)

    def caller() -> None:
        barrier.wait()
        work()

    callers = [threading.Thread(target=caller) for _ in range(count)]
    for thread in callers:
        thread.start()
    # The clock starts before this thread lets the callers go: once released, they may
    # run for a while before this thread gets the interpreter back.
    start = time.perf_counter()
    barrier.wait()
    for thread in callers:
        thread.join()
    return time.perf_counter() - start
