"""Mapping speed beside hand-written sqlite3 + pydantic code doing the same work.

    python benchmarks/bench_mapping.py [--items N] [--repeat R]

Method: every contender runs in this one process, on a fresh file in the same temporary
folder, with the same pragmas (WAL journal, synchronous=FULL: a commit survives power
loss). "hand-written" is what a careful user would write with sqlite3 and pydantic:
one `WITHOUT ROWID` table, values validated with `User.model_validate` and stored with
`model_dump_json`, read back with `model_validate_json`. Each figure is the best of
`--repeat` runs; ratios are hand-written time / tpstore time, so above 1.0 means
tpstore is faster. The machine is printed with the results.

Operations: bulk `update()` of N items in one transaction; N/10 single puts, each its
own durable commit; N random point reads; a full iteration of items; `len()`.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

from _common import FreshFiles, best, connect_wal, machine_line
from pydantic import BaseModel

import tpstore


class User(BaseModel):
    name: str
    email: str
    age: int = 0


class Bench(tpstore.Store):
    users: tpstore.Mapping[str, User]


def make_items(n: int) -> dict[str, dict[str, object]]:
    rng = random.Random(7)
    return {
        f"user{i:08d}": {
            "name": f"Name {i}",
            "email": f"u{i}@example.org",
            "age": rng.randrange(99),
        }
        for i in rng.sample(range(n * 10), n)
    }


class HandWritten:
    """The sqlite3 + pydantic code tpstore is measured against."""

    def __init__(self, path: Path) -> None:
        self.db = connect_wal(path, "FULL")
        self.db.execute(
            "CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, value TEXT) WITHOUT ROWID"
        )

    def update(self, items: dict[str, dict[str, object]]) -> None:
        rows = [(k, User.model_validate(v).model_dump_json()) for k, v in items.items()]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR REPLACE INTO users (key, value) VALUES (?, ?)", rows)
        self.db.execute("COMMIT")

    def put(self, key: str, value: dict[str, object]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO users (key, value) VALUES (?, ?)",
            (key, User.model_validate(value).model_dump_json()),
        )

    def get(self, key: str) -> User:
        row = self.db.execute("SELECT value FROM users WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return User.model_validate_json(row[0])

    def items(self) -> list[tuple[str, User]]:
        rows = self.db.execute("SELECT key, value FROM users ORDER BY key")
        return [(k, User.model_validate_json(v)) for k, v in rows]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM users").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class WithTpstore:
    """The same operations through a tpstore `Mapping`."""

    def __init__(self, path: Path) -> None:
        self.store = Bench(path)
        self.users = self.store.users

    def update(self, items: dict[str, dict[str, object]]) -> None:
        self.users.update(items)

    def put(self, key: str, value: dict[str, object]) -> None:
        self.users[key] = value  # type: ignore[assignment]

    def get(self, key: str) -> User:
        return self.users[key]

    def items(self) -> list[tuple[str, User]]:
        return list(self.users.items())

    def __len__(self) -> int:
        return len(self.users)

    def close(self) -> None:
        self.store.close()


Subject = HandWritten | WithTpstore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.items, args.repeat
    items = make_items(n)
    keys = list(items)
    rng = random.Random(11)
    reads = [rng.choice(keys) for _ in range(n)]
    puts = list(items.items())[: max(1, n // 10)]
    fresh = FreshFiles()

    def contender(make: Callable[[Path], Subject]) -> dict[str, float]:
        def setup_empty() -> Subject:
            return make(fresh())

        def setup_full() -> Subject:
            subject = setup_empty()
            subject.update(items)
            return subject

        def put_all(s: Subject) -> None:
            for key, value in puts:
                s.put(key, value)

        def get_all(s: Subject) -> None:
            for key in reads:
                s.get(key)

        def length(s: Subject) -> None:
            for _ in range(1000):
                len(s)

        return {
            "bulk update": best(repeat, setup_empty, lambda s: s.update(items)),
            "single puts": best(repeat, setup_empty, put_all),
            "random gets": best(repeat, setup_full, get_all),
            "iteration": best(repeat, setup_full, lambda s: s.items()),
            "len() x1000": best(repeat, setup_full, length),
        }

    ours = contender(WithTpstore)
    theirs = contender(HandWritten)
    print(f"tpstore Mapping vs hand-written sqlite3 + pydantic, {n} items, best of {repeat}")
    print(machine_line())
    print(f"{'operation':<14}{'tpstore s':>12}{'hand s':>12}{'ratio':>8}")
    for op in ours:
        ratio = theirs[op] / ours[op]
        print(f"{op:<14}{ours[op]:>12.4f}{theirs[op]:>12.4f}{ratio:>8.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
