"""Helpers shared by test modules: a store's file seen from outside, and codec checks.

The SQLite helpers open a plain `sqlite3` connection of their own, as another program
would, and close it before returning, so they never hold a lock or see an open
transaction of the store under test; `every_row` does the same for either backend.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from postgres_server import is_postgres

import tpstore.codecs

# -- a store's file, read and changed with plain sqlite3 ---------------------------------


def query(path: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows `sql` returns, read through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(path: Path | str, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one statement and commit it, through a connection of its own; its rowcount."""
    conn = sqlite3.connect(path)
    try:
        count = conn.execute(sql, params).rowcount
        conn.commit()
        return count
    finally:
        conn.close()


def every_row(location: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a store's file or PostgreSQL schema, by table name.

    Read through a connection of its own (the URL's current schema on PostgreSQL); each
    table's rows are sorted by `repr`, so two reads compare equal when nothing changed.
    """
    if is_postgres(location):
        import psycopg  # only with a server configured; the `test` extra installs it

        with psycopg.connect(str(location)) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            ]
            return {
                table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
                for table in tables
            }
    tables = [
        row[0] for row in query(location, "SELECT name FROM sqlite_master WHERE type='table'")
    ]
    return {
        table: sorted(query(location, f'SELECT * FROM "{table}"'), key=repr) for table in tables
    }


def catalog_options(path: Path | str, name: str) -> Any:
    """The options (`maxlen`, `lifespan`...) the catalog records for collection `name`."""
    ((options,),) = query(path, "SELECT options FROM _tpstore_catalog WHERE name = ?", (name,))
    return orjson.loads(options)


def query_plans(store: Any, action: Callable[[], object]) -> list[str]:
    """The query plan lines of every statement `action()` runs on `store`'s connection.

    Transaction control statements and the `-- TRIGGER` lines SQLite traces for
    trigger bodies have no plan of their own and are left out.
    """
    conn = store._engine.driver.raw()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        head = sql.lstrip().split(" ", 1)[0].upper()
        if sql.lstrip().startswith("--") or head in (
            "BEGIN",
            "COMMIT",
            "SAVEPOINT",
            "RELEASE",
            "ROLLBACK",
        ):
            continue
        plans.extend(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    return plans


# -- codecs ---------------------------------------------------------------------------------


def check_codec_attributes(codec: Any, name: str, affinity: str, *, order_preserving: bool) -> None:
    """`codec` is a `Codec` with this catalog name, affinity and order promise."""
    assert isinstance(codec, tpstore.codecs.Codec)
    assert codec.name == name
    assert codec.affinity == affinity
    assert codec.order_preserving is order_preserving


def round_trip(codec: Any, value: Any, raw_type: type) -> Any:
    """`codec.decode(codec.encode(value))`, checking that the encoding is a `raw_type`."""
    raw = codec.encode(value)
    assert isinstance(raw, raw_type)
    return codec.decode(raw)


# -- the type checker --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def mypy_strict(*files: str, cwd: Path, cache_dir: Path | None = None) -> None:
    """Run `mypy --strict` (with the project's configuration) on `files`; fail on errors.

    `cwd` is where the files are and where mypy runs; tpstore is found in this clone.
    """
    result = run_mypy(*files, cwd=cwd, cache_dir=cache_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def run_mypy(
    *files: str, cwd: Path, cache_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The finished `mypy --strict` process over `files`, as `mypy_strict` runs it."""
    cache = ["--cache-dir", str(cache_dir)] if cache_dir is not None else []
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            *cache,
            "--no-error-summary",
            *files,
        ],
        cwd=cwd,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Ticker:
    """Counts the ticks an asyncio task gets every `every` seconds while a block runs.

    A loop that something blocks misses ticks: `async with Ticker() as ticker: ...`,
    then `ticker.kept` is the share of the possible ticks the task got (1.0: all).
    """

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self.ticks = 0
        self.elapsed = 0.0
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.ticks += 1

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        self._started = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self._started
        assert self._task is not None
        self._task.cancel()

    @property
    def kept(self) -> float:
        """Ticks got / ticks possible in the block's time."""
        return self.ticks / max(1.0, self.elapsed / self.every)
