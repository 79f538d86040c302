"""What the benchmark scripts share: fresh files, timing, the machine line.

Imported by the scripts as `_common` (a script's own folder comes first on
`sys.path` when it is run as `python benchmarks/<name>.py`).
"""

from __future__ import annotations

import itertools
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import tpstore


class _Closable(Protocol):
    def close(self) -> None: ...


Subject = TypeVar("Subject", bound=_Closable)


class FreshFiles:
    """New database paths, one per call, in one temporary folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tpstore-bench-"))
        self._counter = itertools.count()

    def __call__(self) -> Path:
        return self.folder / f"{next(self._counter)}.db"


def best(repeat: int, setup: Callable[[], Subject], run: Callable[[Subject], object]) -> float:
    """The best time of `repeat` runs of `run`, each on a new subject from `setup`.

    Only `run` is timed; each subject is closed after its run.
    """
    times = []
    for _ in range(repeat):
        subject = setup()
        start = time.perf_counter()
        run(subject)
        times.append(time.perf_counter() - start)
        subject.close()
    return min(times)


def connect_wal(path: Path, synchronous: str) -> sqlite3.Connection:
    """A hand-written contender's connection: autocommit, WAL, `synchronous` as given."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    return db


def machine_line() -> str:
    """The machine and versions, printed with the results."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"tpstore {tpstore.__version__}"
    )
