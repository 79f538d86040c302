"""Shared fixtures and hypothesis profiles.

Profiles: `dev` (default, quick) and `ci` (more examples); choose one with
`HYPOTHESIS_PROFILE=ci`.

The `location` fixture runs a test on each backend: an SQLite file, an in-memory store,
and, when `TPSTORE_TEST_POSTGRES` names a server (see `.ci/with-postgres.sh`), a fresh
PostgreSQL schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import postgres_server as postgres
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


LOCATIONS = ["file", "memory", *(["postgresql"] if postgres.SERVER_URL else [])]


@pytest.fixture(params=LOCATIONS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """A store location: a file under `tmp_path`, `None` for an in-memory store, or the
    URL of a fresh PostgreSQL schema (only when `TPSTORE_TEST_POSTGRES` is set)."""
    if request.param == "postgresql":
        marker = request.node.get_closest_marker("sqlite_only")
        if marker is not None:
            pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'a file feature'}")
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "store.db") if request.param == "file" else None


@pytest.fixture(params=["file", *(["postgresql"] if postgres.SERVER_URL else [])])
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A location several processes can open: a file, or a fresh PostgreSQL schema."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "store.db")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema, dropped after the test."""
    if postgres.SERVER_URL is None:
        pytest.skip("TPSTORE_TEST_POSTGRES is not set (see .ci/with-postgres.sh)")
    if not postgres.backend_available():
        pytest.skip("PostgreSQL backend not available yet")
    with postgres.fresh_schema(postgres.SERVER_URL) as url:
        yield url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a store file that does not exist yet."""
    return tmp_path / "store.db"
