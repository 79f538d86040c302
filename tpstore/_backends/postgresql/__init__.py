"""The PostgreSQL backend: the same stores on a database server, through psycopg 3.

`dialect` writes the SQL, `driver` owns sessions, the writer lock and transactions,
`errors` translates SQLSTATEs and hides passwords. Nothing outside this package
imports `psycopg`; without it (the `tpstore[postgresql]` extra), importing this package
raises `ImportError` naming the extra.
"""

from __future__ import annotations

try:
    import psycopg  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "opening a postgresql:// store needs psycopg 3: pip install 'tpstore[postgresql]'"
    ) from exc

from tpstore._backends.postgresql.driver import PostgresDriver


def connect(
    location: str | None,
    *,
    attach: dict[str, str],
    mode: str,
    wal: bool | None,
    durability: str,
    timeout: float,
) -> PostgresDriver:
    """Open the driver of a PostgreSQL store (`location` is a libpq URL)."""
    assert location is not None
    return PostgresDriver(
        location, attach=attach, mode=mode, wal=wal, durability=durability, timeout=timeout
    )
