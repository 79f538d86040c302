"""Shared fixtures and hypothesis profiles.

Profiles: `dev` (default, quick) and `ci` (more examples); choose one with
`HYPOTHESIS_PROFILE=ci`.
"""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(params=["file", "memory"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """A store location: a file under `tmp_path`, or `None` for an in-memory store."""
    return str(tmp_path / "store.db") if request.param == "file" else None


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a store file that does not exist yet."""
    return tmp_path / "store.db"
