"""Runs mypy on `tests/typing/`, whose `assert_type` checks pin the API's inference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_declared_collections_infer_their_types() -> None:
    """`app.users["a"]` is a `User` to mypy, `app.hits.increment("x")` an `int`, ..."""
    pytest.importorskip("mypy", reason="mypy is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            str(ROOT / "tests" / "typing" / "test_inference.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
