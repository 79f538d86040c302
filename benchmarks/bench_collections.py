"""Deque and Set speed beside the floor, hand-written sqlite3 (+ pydantic) and diskcache.

    python benchmarks/bench_collections.py [--items N] [--bulk M] [--repeat R]
                                           [--durability full|normal]

Method: every contender runs in this one process, on a fresh file in the same temporary
folder, with the same pragmas: WAL journal, and `synchronous=FULL` (`--durability
full`, the default: a commit survives power loss) or `NORMAL`. Each figure is the best
of `--repeat` runs; ratios are the other contender's time / tpstore's time, so above
1.0 means tpstore is faster.

- The floor (see `bench_mapping.py` and docs/benchmarks.md): the hand-written code
  below, plus the exact O(1) count tpstore keeps (a counts table kept by triggers).
- Deque: `tpstore.Deque[Job]` (a pydantic model) against hand-written sqlite3 + pydantic
  (a `pos INTEGER PRIMARY KEY` table; `Job.model_validate` + `model_dump_json` on
  append, one `DELETE ... RETURNING` statement per popleft, `model_validate_json` on
  read) and against `diskcache.Deque` (pickles the dict it is given: no validation),
  built from a `Cache` with the same `synchronous` setting (diskcache's own default is
  NORMAL). Operations: N appends and then N poplefts, each its own commit; one
  `extend` of M items; one iteration over M items.
- Set: `tpstore.Set[str]` against hand-written sqlite3 (a `WITHOUT ROWID` table of
  keys, `INSERT OR IGNORE`, `SELECT 1 ... WHERE key = ?`; `str` elements need no
  pydantic). Operations: N adds, each its own commit; one bulk `update` of M; M random
  membership tests (half absent); one iteration over M elements.

A sample run, with its command, is in docs/benchmarks.md.

Where tpstore is behind: every insert and delete also updates the item count (a
trigger; `len()` never scans), a popleft is a transaction of its own (`BEGIN
IMMEDIATE`, `DELETE ... RETURNING`, decode, `COMMIT`: a value that does not decode
stays queued) where the hand-written code sends one statement, and set elements are
validated strictly. With durable commits the fsync dominates and these costs mostly
disappear. Between two runs here, ratios moved by up to 0.25 (most on the
single-commit rows); rerun the script on your machine.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import FreshFiles, best, connect_wal, counted_table, machine_line
from pydantic import BaseModel

import tpstore

try:
    import diskcache
except ImportError:  # pragma: no cover - the bench extra installs it
    diskcache = None


class Job(BaseModel):
    id: int
    kind: str
    payload: dict[str, int]


class Bench(tpstore.Store):
    jobs: tpstore.Deque[Job]
    tags: tpstore.Set[str]


def make_jobs(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "kind": f"kind{i % 7}", "payload": {"a": i, "b": i * 2}} for i in range(n)]


# -- deque contenders -----------------------------------------------------------------------


class HandDeque:
    """A queue table written by hand with sqlite3 and pydantic."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        self.db.execute("CREATE TABLE jobs (pos INTEGER PRIMARY KEY, value TEXT)")

    def append(self, job: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO jobs (value) VALUES (?)", (Job.model_validate(job).model_dump_json(),)
        )

    def popleft(self) -> Job:
        row = self.db.execute(
            "DELETE FROM jobs WHERE pos = (SELECT min(pos) FROM jobs) RETURNING value"
        ).fetchone()
        if row is None:
            raise IndexError("pop from an empty deque")
        return Job.model_validate_json(row[0])

    def extend(self, jobs: list[dict[str, Any]]) -> None:
        rows = [(Job.model_validate(job).model_dump_json(),) for job in jobs]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT INTO jobs (value) VALUES (?)", rows)
        self.db.execute("COMMIT")

    def items(self) -> list[Job]:
        return [
            Job.model_validate_json(v)
            for (v,) in self.db.execute("SELECT value FROM jobs ORDER BY pos")
        ]

    def close(self) -> None:
        self.db.close()


class FloorDeque(HandDeque):
    """The floor: the hand-written queue plus an exact count kept by triggers."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        counted_table(self.db, "jobs", "pos INTEGER PRIMARY KEY, value TEXT")


class TpDeque:
    """The same work through `tpstore.Deque[Job]`."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store = Bench(path, durability=synchronous.lower())
        self.jobs = self.store.jobs

    def append(self, job: dict[str, Any]) -> None:
        self.jobs.append(job)  # type: ignore[arg-type]  # validated into a Job

    def popleft(self) -> Job:
        return self.jobs.popleft()

    def extend(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs.extend(jobs)  # type: ignore[arg-type]

    def items(self) -> list[Job]:
        return list(self.jobs)

    def close(self) -> None:
        self.store.close()


class DiskcacheDeque:
    """`diskcache.Deque` with the same `synchronous` setting."""

    def __init__(self, path: Path, synchronous: str) -> None:
        level = {"FULL": 2, "NORMAL": 1}[synchronous]
        self.cache = diskcache.Cache(str(path), eviction_policy="none", sqlite_synchronous=level)
        self.deque = diskcache.Deque.fromcache(self.cache)

    def append(self, job: dict[str, Any]) -> None:
        self.deque.append(job)

    def popleft(self) -> Any:
        return self.deque.popleft()

    def extend(self, jobs: list[dict[str, Any]]) -> None:
        self.deque.extend(jobs)

    def items(self) -> list[Any]:
        return list(self.deque)

    def close(self) -> None:
        self.cache.close()


# -- set contenders -------------------------------------------------------------------------


class HandSet:
    """A set of keys written by hand with sqlite3."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        self.db.execute("CREATE TABLE tags (key TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID")

    def add(self, tag: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO tags (key) VALUES (?)", (tag,))

    def update(self, tags: list[str]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO tags (key) VALUES (?)", [(tag,) for tag in tags])
        self.db.execute("COMMIT")

    def contains(self, tag: str) -> bool:
        return self.db.execute("SELECT 1 FROM tags WHERE key = ?", (tag,)).fetchone() is not None

    def items(self) -> list[str]:
        return [k for (k,) in self.db.execute("SELECT key FROM tags ORDER BY key")]

    def close(self) -> None:
        self.db.close()


class FloorSet(HandSet):
    """The floor: the hand-written set plus an exact count kept by triggers."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        counted_table(self.db, "tags", "key TEXT PRIMARY KEY NOT NULL", "WITHOUT ROWID")


class TpSet:
    """The same work through `tpstore.Set[str]`."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store = Bench(path, durability=synchronous.lower())
        self.tags = self.store.tags

    def add(self, tag: str) -> None:
        self.tags.add(tag)

    def update(self, tags: list[str]) -> None:
        self.tags.update(tags)

    def contains(self, tag: str) -> bool:
        return tag in self.tags

    def items(self) -> list[str]:
        return list(self.tags)

    def close(self) -> None:
        self.store.close()


# -- running --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items written one commit each")
    parser.add_argument(
        "--bulk", type=int, default=40_000, help="items of the bulk writes, reads and iterations"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    n, repeat, synchronous = args.items, args.repeat, args.durability.upper()
    many = max(n, args.bulk)
    all_jobs = make_jobs(many)
    jobs = all_jobs[:n]
    rng = random.Random(7)
    all_tags = [f"tag{i:07d}" for i in rng.sample(range(many * 10), many)]
    tags = all_tags[:n]
    probes = [rng.choice(all_tags) if rng.random() < 0.5 else f"absent{i}" for i in range(many)]
    files = FreshFiles()

    def fresh(make: Callable[[Path, str], Any]) -> Callable[[], Any]:
        return lambda: make(files(), synchronous)

    def deque_figures(make: Callable[[Path, str], Any]) -> dict[str, float]:
        empty = fresh(make)

        def full() -> Any:
            subject = empty()
            subject.extend(all_jobs)
            return subject

        def append_all(s: Any) -> None:
            for job in jobs:
                s.append(job)

        def popleft_all(s: Any) -> None:
            for _ in range(n):
                s.popleft()

        return {
            "deque append": best(repeat, empty, append_all),
            "deque popleft": best(repeat, full, popleft_all),
            "deque extend": best(repeat, empty, lambda s: s.extend(all_jobs)),
            "deque iteration": best(repeat, full, lambda s: s.items()),
        }

    def set_figures(make: Callable[[Path, str], Any]) -> dict[str, float]:
        empty = fresh(make)

        def full() -> Any:
            subject = empty()
            subject.update(all_tags)
            return subject

        def add_all(s: Any) -> None:
            for tag in tags:
                s.add(tag)

        def probe_all(s: Any) -> None:
            for tag in probes:
                s.contains(tag)

        return {
            "set add": best(repeat, empty, add_all),
            "set update": best(repeat, empty, lambda s: s.update(all_tags)),
            "set contains": best(repeat, full, probe_all),
            "set iteration": best(repeat, full, lambda s: s.items()),
        }

    ours = {**deque_figures(TpDeque), **set_figures(TpSet)}
    others = {
        "floor": {**deque_figures(FloorDeque), **set_figures(FloorSet)},
        "hand": {**deque_figures(HandDeque), **set_figures(HandSet)},
    }
    if diskcache is not None:
        others["diskcache"] = deque_figures(DiskcacheDeque)
    print(
        f"tpstore Deque and Set vs the floor, hand-written sqlite3 (+ pydantic) and diskcache "
        f"{getattr(diskcache, '__version__', '(not installed)')}; N={n} single commits, "
        f"M={many} bulk, best of {repeat}, WAL, synchronous={synchronous}"
    )
    print(machine_line())
    print(f"{'operation':<17}{'tpstore s':>11}" + "".join(f"{name:>11}" for name in others))
    for op, seconds in ours.items():
        ratios = "".join(
            f"{figures[op] / seconds:>10.2f}x" if op in figures else f"{'':>11}"
            for figures in others.values()
        )
        print(f"{op:<17}{seconds:>11.4f}{ratios}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
