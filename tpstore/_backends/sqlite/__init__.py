"""The SQLite backend: files (and private in-memory stores) through the `sqlite3` module.

`dialect` writes the SQL, `driver` owns connections, sessions and transactions,
`errors` translates SQLite's errors, `files` checks and creates files before SQLite
opens them. Nothing outside this package imports `sqlite3`.
"""

from __future__ import annotations

from tpstore._backends.sqlite.driver import SQLiteDriver


def connect(
    location: str | None,
    *,
    attach: dict[str, str],
    mode: str,
    wal: bool | None,
    durability: str,
    timeout: float,
) -> SQLiteDriver:
    """Open the driver of an SQLite store (`location` is a file path, `None` in memory)."""
    return SQLiteDriver(
        location, attach=attach, mode=mode, wal=wal, durability=durability, timeout=timeout
    )
