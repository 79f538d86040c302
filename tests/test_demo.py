"""The README's main job: the demo application runs and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


@pytest.mark.slow
def test_the_demo_runs_and_ends_with_tpstore_info(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, str(DEMO), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "refused: invalid value for users['bob']" in out
    assert "hits: {'home': 1}, log: ['home page visited']" in out
    assert "sessions 0.6 s later: ['ada']" in out
    info = out.split(f"== tpstore info {path}", 1)[1]
    for collection in ("users", "hits", "tags", "log", "jobs", "logins", "sessions", "settings"):
        assert f"\n{collection}\t" in info
    assert "1 (+1 expired)" in info
    assert result.stderr == ""
