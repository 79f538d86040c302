"""Mapping speed beside the floor, hand-written sqlite3 + pydantic, diskcache and sqlitedict.

    python benchmarks/bench_mapping.py [--items N] [--repeat R] [--durability full|normal]
                                       [--clock wall|cpu] [--point-reads ROUNDS]

Method: every contender runs in this one process, on a fresh file in the same temporary
folder, with WAL and the same `synchronous` setting (`--durability full`, the default:
a commit survives power loss; `normal`: the newest commits may be lost on power loss)
unless it says otherwise. The values written are `User` model instances. Contenders:

- `floor`: the least hand-written sqlite3 + pydantic code that gives what tpstore
  guarantees: model instances re-validated on write (`model_dump_json`, then
  `validate_json` of that text), an upsert into a `WITHOUT ROWID` table whose exact
  count a trigger keeps in a counts table (`len()` reads one row), `validate_json` on
  read. tpstore should come close to it, and cannot beat it by much.
- `hand`: what a user would write first: `model_validate` (which returns an instance
  as it is, unchecked), `INSERT OR REPLACE`, `len()` by `count(*)` (a scan).
- `diskcache`: `diskcache.Cache` (pickles the value: no validation; keeps a count),
  with the same `synchronous` setting. It has no way to read items in bulk, so it has
  no iteration figure.
- `sqlitedict`: `SqliteDict(autocommit=True, journal_mode="WAL")` (pickles; runs its
  statements on a thread of its own; always `synchronous=OFF`, which it sets itself:
  its commits are not durable, so its write figures are not comparable).

Operations: bulk `update()` of N items in one transaction; N/10 single puts, each its
own commit; N random point reads; N membership tests (`in`) of the same keys; a full
iteration of items; `len()` 1000 times. Each figure is the best of `--repeat` runs; a
ratio is the other's time / tpstore's time, so above 1.0 means tpstore is faster. The
machine is printed with the results.

`--point-reads ROUNDS` measures only the point reads and `len()` of tpstore and the
floor, on one filled store each, alternating between the two ROUNDS times (N reads per
round, timed by the thread's CPU time) and keeping each one's best round: on a busy
machine the two then see the same load, and the ratios hold still to a few percent.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    FreshFiles,
    best,
    connect_wal,
    counted_len,
    counted_table,
    machine_line,
    validated_json,
)
from pydantic import BaseModel

import tpstore

try:
    import diskcache
except ImportError:  # pragma: no cover - the bench extra installs it
    diskcache = None
try:
    import sqlitedict
except ImportError:  # pragma: no cover - the bench extra installs it
    sqlitedict = None


class User(BaseModel):
    name: str
    email: str
    age: int = 0


class Bench(tpstore.Store):
    users: tpstore.Mapping[str, User]


def make_items(n: int) -> dict[str, User]:
    rng = random.Random(7)
    return {
        f"user{i:08d}": User(name=f"Name {i}", email=f"u{i}@example.org", age=rng.randrange(99))
        for i in rng.sample(range(n * 10), n)
    }


class Floor:
    """The floor: hand-written sqlite3 + pydantic with tpstore's guarantees."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        counted_table(
            self.db, "users", "key TEXT PRIMARY KEY NOT NULL, value TEXT", "WITHOUT ROWID"
        )
        self.dump = validated_json(User)
        self.load = User.__pydantic_validator__.validate_json
        self.upsert = (
            "INSERT INTO users (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )

    def update(self, items: dict[str, User]) -> None:
        dump = self.dump
        rows = [(k, dump(v)) for k, v in items.items()]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(self.upsert, rows)
        self.db.execute("COMMIT")

    def put(self, key: str, value: User) -> None:
        self.db.execute(self.upsert, (key, self.dump(value)))

    def get(self, key: str) -> User:
        row = self.db.execute("SELECT value FROM users WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return self.load(row[0])  # type: ignore[no-any-return]

    def contains(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM users WHERE key = ?", (key,)).fetchone() is not None

    def items(self) -> list[tuple[str, User]]:
        load = self.load
        rows = self.db.execute("SELECT key, value FROM users ORDER BY key")
        return [(k, load(v)) for k, v in rows]

    def __len__(self) -> int:
        return counted_len(self.db, "users")

    def close(self) -> None:
        self.db.close()


class HandWritten:
    """The sqlite3 + pydantic code a user would write first (no count, no re-validation)."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = connect_wal(path, synchronous)
        self.db.execute(
            "CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, value TEXT) WITHOUT ROWID"
        )

    def update(self, items: dict[str, User]) -> None:
        rows = [(k, User.model_validate(v).model_dump_json()) for k, v in items.items()]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR REPLACE INTO users (key, value) VALUES (?, ?)", rows)
        self.db.execute("COMMIT")

    def put(self, key: str, value: User) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO users (key, value) VALUES (?, ?)",
            (key, User.model_validate(value).model_dump_json()),
        )

    def get(self, key: str) -> User:
        row = self.db.execute("SELECT value FROM users WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return User.model_validate_json(row[0])

    def contains(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM users WHERE key = ?", (key,)).fetchone() is not None

    def items(self) -> list[tuple[str, User]]:
        rows = self.db.execute("SELECT key, value FROM users ORDER BY key")
        return [(k, User.model_validate_json(v)) for k, v in rows]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM users").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class WithTpstore:
    """The same operations through a tpstore `Mapping`."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store = Bench(path, durability=synchronous.lower())
        self.users = self.store.users

    def update(self, items: dict[str, User]) -> None:
        self.users.update(items)

    def put(self, key: str, value: User) -> None:
        self.users[key] = value

    def get(self, key: str) -> User:
        return self.users[key]

    def contains(self, key: str) -> bool:
        return key in self.users

    def items(self) -> list[tuple[str, User]]:
        return list(self.users.items())

    def __len__(self) -> int:
        return len(self.users)

    def close(self) -> None:
        self.store.close()


class WithDiskcache:
    """`diskcache.Cache` with the same `synchronous` setting (no iteration of items)."""

    items = None  # one query per item is all it offers

    def __init__(self, path: Path, synchronous: str) -> None:
        level = {"FULL": 2, "NORMAL": 1}[synchronous]
        self.cache = diskcache.Cache(str(path), eviction_policy="none", sqlite_synchronous=level)

    def update(self, items: dict[str, User]) -> None:
        with self.cache.transact():
            for key, value in items.items():
                self.cache.set(key, value)

    def put(self, key: str, value: User) -> None:
        self.cache.set(key, value)

    def get(self, key: str) -> User:
        return self.cache[key]  # type: ignore[no-any-return]

    def contains(self, key: str) -> bool:
        return key in self.cache

    def __len__(self) -> int:
        return len(self.cache)

    def close(self) -> None:
        self.cache.close()


class WithSqlitedict:
    """`SqliteDict` committing every write (always `synchronous=OFF`, its own setting)."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.data = sqlitedict.SqliteDict(str(path), autocommit=True, journal_mode="WAL")

    def update(self, items: dict[str, User]) -> None:
        self.data.update(items)

    def put(self, key: str, value: User) -> None:
        self.data[key] = value

    def get(self, key: str) -> User:
        return self.data[key]  # type: ignore[no-any-return]

    def contains(self, key: str) -> bool:
        return key in self.data

    def items(self) -> list[tuple[str, User]]:
        return list(self.data.items())

    def __len__(self) -> int:
        return len(self.data)

    def close(self) -> None:
        self.data.close()


def point_reads(items: dict[str, User], reads: list[str], synchronous: str, rounds: int) -> None:
    """Point reads and `len()`, tpstore and the floor alternating (`--point-reads`)."""
    fresh = FreshFiles()
    subjects = {"tpstore": WithTpstore(fresh(), synchronous), "floor": Floor(fresh(), synchronous)}
    for subject in subjects.values():
        subject.update(items)

    def get_all(s: Any) -> None:
        get = s.get
        for key in reads:
            get(key)

    def contain_all(s: Any) -> None:
        contains = s.contains
        for key in reads:
            contains(key)

    def length(s: Any) -> None:
        for _ in reads:
            len(s)

    print(
        f"point reads: tpstore and the floor alternating, best of {rounds} rounds of "
        f"{len(reads)} each, thread CPU time, {len(items)} items, synchronous={synchronous}"
    )
    print(machine_line())
    print(f"{'operation':<14}{'tpstore us':>11}{'floor us':>10}{'floor/tpstore':>15}")
    for name, run in (("random gets", get_all), ("membership", contain_all), ("len()", length)):
        best_of = dict.fromkeys(subjects, float("inf"))
        for _ in range(rounds):
            for label, subject in subjects.items():
                began = time.thread_time()
                run(subject)
                best_of[label] = min(best_of[label], time.thread_time() - began)
        ours, floor = (best_of[label] / len(reads) * 1e6 for label in subjects)
        print(f"{name:<14}{ours:>11.2f}{floor:>10.2f}{floor / ours:>14.2f}x")
    for subject in subjects.values():
        subject.close()
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this process's CPU time (steadier on a busy machine; reads only, since "
        "a commit's wait for the disk is not CPU time)",
    )
    parser.add_argument(
        "--point-reads",
        type=int,
        metavar="ROUNDS",
        help="only point reads and len(), tpstore and the floor alternating ROUNDS times",
    )
    args = parser.parse_args()
    n, repeat, synchronous = args.items, args.repeat, args.durability.upper()
    items = make_items(n)
    keys = list(items)
    rng = random.Random(11)
    reads = [rng.choice(keys) for _ in range(n)]
    if args.point_reads:
        point_reads(items, reads, synchronous, args.point_reads)
        return
    puts = list(items.items())[: max(1, n // 10)]
    fresh = FreshFiles()

    def contender(make: Callable[[Path, str], Any]) -> dict[str, float]:
        def setup_empty() -> Any:
            return make(fresh(), synchronous)

        def setup_full() -> Any:
            subject = setup_empty()
            subject.update(items)
            return subject

        def put_all(s: Any) -> None:
            for key, value in puts:
                s.put(key, value)

        def get_all(s: Any) -> None:
            for key in reads:
                s.get(key)

        def contain_all(s: Any) -> None:
            for key in reads:
                s.contains(key)

        def length(s: Any) -> None:
            for _ in range(1000):
                len(s)

        runs: dict[str, tuple[Callable[[], Any], Callable[[Any], object]]] = {
            "bulk update": (setup_empty, lambda s: s.update(items)),
            "single puts": (setup_empty, put_all),
            "random gets": (setup_full, get_all),
            "membership": (setup_full, contain_all),
            "iteration": (setup_full, lambda s: s.items()),
            "len() x1000": (setup_full, length),
        }
        if make.items is None:  # type: ignore[attr-defined]
            del runs["iteration"]
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        return {op: best(repeat, setup, run, clock) for op, (setup, run) in runs.items()}

    ours = contender(WithTpstore)
    others = {"floor": contender(Floor), "hand": contender(HandWritten)}
    if diskcache is not None:
        others["diskcache"] = contender(WithDiskcache)
    if sqlitedict is not None:
        others["sqlitedict"] = contender(WithSqlitedict)
    print(
        f"tpstore Mapping vs the floor, hand-written sqlite3 + pydantic, diskcache and "
        f"sqlitedict; {n} items, best of {repeat}, WAL, synchronous={synchronous}, "
        f"{args.clock} clock"
    )
    print(machine_line())
    print(f"{'operation':<14}{'tpstore s':>11}" + "".join(f"{name:>12}" for name in others))
    for op, seconds in ours.items():
        ratios = "".join(
            f"{figures[op] / seconds:>11.2f}x" if op in figures else f"{'':>12}"
            for figures in others.values()
        )
        print(f"{op:<14}{seconds:>11.4f}{ratios}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
