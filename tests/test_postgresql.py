"""PostgreSQL: the test server plumbing, and behaviour particular to that backend.

Tests here need `TPSTORE_TEST_POSTGRES` (run the suite under `.ci/with-postgres.sh`);
without it they skip. The behaviour shared by both backends runs through the
`location` fixture in the other test modules.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import postgres_server
import pytest


def test_with_search_path_keeps_other_parameters_and_replaces_options() -> None:
    """The schema URL keeps host and other query parameters and sets one `options`."""
    url = postgres_server.with_search_path(
        "postgresql://app@/db?host=/tmp/sock&options=-cwork_mem%3D4MB&sslmode=disable",
        "t_abc",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("postgresql", "app@", "/db")
    assert parse_qs(parts.query) == {
        "host": ["/tmp/sock"],
        "sslmode": ["disable"],
        "options": ["-csearch_path=t_abc"],
    }


@pytest.fixture
def server_url() -> str:
    """The test server's URL; skips when none is configured."""
    if postgres_server.SERVER_URL is None:
        pytest.skip("TPSTORE_TEST_POSTGRES is not set (see .ci/with-postgres.sh)")
    return postgres_server.SERVER_URL


def test_fresh_schema_is_current_empty_and_dropped_afterwards(server_url: str) -> None:
    """A test's schema is the session's current schema, starts empty, and is dropped."""
    import psycopg

    with postgres_server.fresh_schema(server_url) as url, psycopg.connect(url) as conn:
        (schema,) = conn.execute("SELECT current_schema()").fetchone() or (None,)
        assert schema is not None
        assert schema.startswith("t_")
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchone()
        assert tables == (0,)
    with psycopg.connect(server_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert left == (0,)
