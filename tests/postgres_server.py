"""The PostgreSQL server the suite may run against, and a fresh schema per test.

`.ci/with-postgres.sh` starts a throwaway server and exports its URL as
`TPSTORE_TEST_POSTGRES`; without that variable nothing here touches a server. Each test
gets a schema of its own, created empty before it and dropped after it, and a URL whose
`search_path` selects it, so tests never see each other's tables.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SERVER_URL = os.environ.get("TPSTORE_TEST_POSTGRES") or None


def backend_available() -> bool:
    """Whether this tpstore has a PostgreSQL backend to test."""
    try:
        return importlib.util.find_spec("tpstore._backends.postgresql") is not None
    except ModuleNotFoundError:
        return False


def is_postgres(location: object) -> bool:
    """Whether a store location is a PostgreSQL URL."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def with_search_path(url: str, schema: str) -> str:
    """`url` with libpq `options` that make `schema` the session's current schema."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A URL of a new empty schema on `server_url`'s database, dropped on exit."""
    import psycopg  # only when a server is configured; the `test` extra installs it

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(server_url, schema)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
