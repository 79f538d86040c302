"""Runs mypy on `tests/typing/`, whose `assert_type` checks pin the API's inference."""

from __future__ import annotations

import pytest
from helpers import ROOT, mypy_strict


def test_declared_collections_infer_their_types() -> None:
    """`app.users["a"]` is a `User` to mypy, `app.hits.increment("x")` an `int`, ..."""
    pytest.importorskip("mypy", reason="mypy is not installed")
    mypy_strict(str(ROOT / "tests" / "typing" / "test_inference.py"), cwd=ROOT)
