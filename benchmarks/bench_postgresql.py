"""tpstore on PostgreSQL beside hand-written psycopg code doing the same work.

Run it against a server (its URL in `TPSTORE_BENCH_POSTGRES`, else
`TPSTORE_TEST_POSTGRES`), for instance a throwaway one:

    .ci/with-postgres.sh python benchmarks/bench_postgresql.py

Each contender works in a fresh schema, with the same durability (`synchronous_commit`
as the server has it; tpstore's default `durability="full"`). The hand-written code is
what a careful programmer writes without tpstore: autocommit single statements, one
transaction with `executemany` for the bulk update, `ON CONFLICT` upserts, a deque
table popped with `FOR UPDATE SKIP LOCKED`. Times are the best of three runs, the
contenders taking turns run by run.

A second hand-written contender, the *floor* (`Floor`), does what tpstore's contract
requires and the plain code leaves out: an O(1) `len()` and single writes that cannot
land inside another session's writing transaction. tpstore is compared with both.

Scaling: 1, 2, 4 and 8 processes each do independent single-operation writes
(increments of distinct keys; deque appends and pops) for a fixed time, and the table
shows operations per second, and the ratio to the hand-written code at each point.

Arguments choose what runs (each choice takes well under three minutes):

    python benchmarks/bench_postgresql.py                 # everything
    python benchmarks/bench_postgresql.py deque iteration # rows whose name has a word
    python benchmarks/bench_postgresql.py --scaling       # the scaling table only
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from _common import FreshSchemas, machine_line, postgres_server_url

from tpstore import Deque, Mapping, Store

N = 2_000
BULK = 10_000
SCALING_SECONDS = 2.0


class Bench(Store):
    hits: Mapping[str, int]
    jobs: Deque[int]


def server_url() -> str:
    url = postgres_server_url()
    if not url:
        sys.exit("set TPSTORE_BENCH_POSTGRES (or run under .ci/with-postgres.sh)")
    return url


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    schemas = FreshSchemas(url)
    try:
        yield schemas()
    finally:
        schemas.drop()


class Hand:
    """The same work in hand-written psycopg."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            'CREATE TABLE IF NOT EXISTS hits (key text COLLATE "C" PRIMARY KEY, value bigint)'
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS jobs (pos bigint PRIMARY KEY, value bigint)")

    PUT = (
        "INSERT INTO hits (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    INCREMENT = (
        "INSERT INTO hits AS t (key, value) VALUES (%s, 1) "
        "ON CONFLICT (key) DO UPDATE SET value = t.value + 1 RETURNING value"
    )
    APPEND = (
        "INSERT INTO jobs (pos, value) VALUES ((SELECT coalesce(max(pos) + 1, 0) FROM jobs), %s)"
    )
    POPLEFT = (
        "DELETE FROM jobs WHERE pos = (SELECT pos FROM jobs ORDER BY pos "
        "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING value"
    )

    def put(self, key: str, value: int) -> None:
        self.conn.execute(self.PUT, (key, value))

    def get(self, key: str) -> int:
        row = self.conn.execute("SELECT value FROM hits WHERE key = %s", (key,)).fetchone()
        assert row is not None
        return int(row[0])

    def update(self, items: dict[str, int]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO hits (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(items.items()),
            )

    def items(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT key, value FROM hits ORDER BY key").fetchall()

    def length(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM hits").fetchone()
        assert row is not None
        return int(row[0])

    def increment(self, key: str) -> int:
        row = self.conn.execute(self.INCREMENT, (key,)).fetchone()
        assert row is not None
        return int(row[0])

    def append(self, value: int) -> None:
        while True:
            try:
                self.conn.execute(self.APPEND, (value,))
                return
            except psycopg.errors.UniqueViolation:
                continue

    def popleft(self) -> int | None:
        row = self.conn.execute(self.POPLEFT).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        self.conn.close()


def _counting(table: str, sign: str = "", *, many: bool = False) -> str:
    """The counter row update of the floor's statements: adds the rows of `w` whose
    `new` is true to the row of this server process (`sign` "-": removes them). A
    statement of one row adds 1 without an aggregate (cheaper); one of `many` rows adds
    them up first (a counter row cannot be updated twice by one statement)."""
    rows = "count(*) FROM w WHERE new HAVING count(*) > 0" if many else "1 FROM w WHERE new"
    return (
        f"c AS (INSERT INTO counts AS c SELECT '{table}', pg_backend_pid() %% 16, "
        f"{sign}{rows} ON CONFLICT (name, shard) DO UPDATE SET n = c.n + excluded.n)"
    )


class Floor(Hand):
    """Hand-written psycopg code under tpstore's contract: the honest floor.

    It keeps what `Hand` leaves out and tpstore's contract requires: `len()` in O(1)
    (counter rows, one row per server process so that writers do not queue on one hot
    row, kept by each writing statement itself in a data-modifying `WITH`: it counts
    the rows it inserted, `xmax = 0`, or deleted), and single writes that cannot land
    inside another session's writing transaction (each takes a lock row in shared mode
    inside its statement; a writing transaction would take it exclusively). Its bulk
    update is one statement over arrays, the cheapest way to send 10,000 rows. (It does
    not announce appends for blocking pops, which tpstore does.)
    """

    LOCK = "WITH lock AS (SELECT id FROM locks WHERE id = 0 FOR KEY SHARE), "
    PUT = (
        f"{LOCK}w AS (INSERT INTO hits (key, value) SELECT %s, %s FROM lock "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING xmax = 0 AS new), "
        f"{_counting('hits')} SELECT FROM w"
    )
    INCREMENT = (
        f"{LOCK}w AS (INSERT INTO hits AS t (key, value) SELECT %s, 1 FROM lock "
        "ON CONFLICT (key) DO UPDATE SET value = t.value + 1 RETURNING value, xmax = 0 AS new), "
        f"{_counting('hits')} SELECT value FROM w"
    )
    APPEND = (
        f"{LOCK}w AS (INSERT INTO jobs (pos, value) "
        "SELECT (SELECT coalesce(max(pos) + 1, 0) FROM jobs), %s FROM lock RETURNING true AS new), "
        f"{_counting('jobs')} SELECT FROM w"
    )
    POPLEFT = (
        f"{LOCK}w AS (DELETE FROM jobs WHERE pos = (SELECT pos FROM jobs ORDER BY pos "
        "LIMIT 1 FOR UPDATE SKIP LOCKED) AND EXISTS (SELECT FROM lock) "
        "RETURNING value, true AS new), "
        f"{_counting('jobs', '-')} SELECT value FROM w"
    )
    UPDATE = (
        "WITH w AS (INSERT INTO hits (key, value) "
        "SELECT * FROM unnest(%s::text[], %s::bigint[]) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING xmax = 0 AS new), "
        f"{_counting('hits', many=True)} SELECT FROM w"
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        execute = self.conn.execute
        created = execute("SELECT to_regclass('counts')").fetchone()
        if created is not None and created[0] is not None:
            return  # (the scaling workers find it made: DDL at once would collide)
        execute("CREATE TABLE IF NOT EXISTS locks (id integer PRIMARY KEY)")
        execute("INSERT INTO locks VALUES (0) ON CONFLICT DO NOTHING")
        execute(
            "CREATE TABLE IF NOT EXISTS counts (name text, shard integer, n bigint, "
            "PRIMARY KEY (name, shard))"
        )

    def popleft(self) -> int | None:
        row = self.conn.execute(self.POPLEFT, ()).fetchone()  # (`%%` read as `%`)
        return None if row is None else int(row[0])

    def update(self, items: dict[str, int]) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT id FROM locks WHERE id = 0 FOR UPDATE")
            self.conn.execute(self.UPDATE, (list(items), list(items.values())))

    def length(self) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(n), 0) FROM counts WHERE name = 'hits'"
        ).fetchone()
        assert row is not None
        return int(row[0])


class Ours:
    """tpstore."""

    def __init__(self, url: str) -> None:
        self.store = Bench(url)

    def put(self, key: str, value: int) -> None:
        self.store.hits[key] = value

    def get(self, key: str) -> int:
        return self.store.hits[key]

    def update(self, items: dict[str, int]) -> None:
        self.store.hits.update(items)

    def items(self) -> list[tuple[str, int]]:
        return list(self.store.hits.items())

    def length(self) -> int:
        return len(self.store.hits)

    def increment(self, key: str) -> int:
        return self.store.hits.increment(key)

    def append(self, value: int) -> None:
        self.store.jobs.append(value)

    def popleft(self) -> int | None:
        try:
            return self.store.jobs.popleft()
        except IndexError:
            return None

    def close(self) -> None:
        self.store.close()


CONTENDERS: dict[str, Callable[[str], Any]] = {"psycopg": Hand, "floor": Floor, "tpstore": Ours}


def timed(
    url: str,
    work: Callable[[Any], object],
    prepare: Callable[[Any], object] | None = None,
) -> dict[str, float]:
    """The best of three runs of `work` for each contender, in a fresh schema each run
    (`prepare`, untimed, first). The contenders take turns, run by run, so that a busy
    spell of the machine does not fall on one contender's runs only."""
    best = dict.fromkeys(CONTENDERS, float("inf"))
    for _ in range(3):
        for label, make in CONTENDERS.items():
            with fresh_schema(url) as schema_url:
                subject = make(schema_url)
                try:
                    subject.update({f"k{i:06d}": i for i in range(N)})
                    if prepare is not None:
                        prepare(subject)
                    start = time.perf_counter()
                    work(subject)
                    best[label] = min(best[label], time.perf_counter() - start)
                finally:
                    subject.close()
    return best


def single_operations(url: str, words: list[str]) -> None:
    keys = [f"k{i:06d}" for i in range(N)]
    shuffled = random.sample(keys, len(keys))
    bulk = {f"b{i:06d}": i for i in range(BULK)}

    def deque_round_trip(s: Any) -> None:
        for i in range(N // 2):
            s.append(i)
        for _ in range(N // 2):
            s.popleft()

    def appends(s: Any) -> None:
        for i in range(N):
            s.append(i)

    def poplefts(s: Any) -> None:
        for _ in range(N):
            s.popleft()

    work: dict[str, tuple[int, Callable[[Any], object], Callable[[Any], object] | None]] = {
        "single puts": (N, lambda s: [s.put(k, 1) for k in keys], None),
        "random gets": (N, lambda s: [s.get(k) for k in shuffled], None),
        f"bulk update ({BULK:,} items, one transaction)": (1, lambda s: s.update(bulk), None),
        f"iteration ({N:,} items)": (1, lambda s: s.items(), None),
        "len()": (200, lambda s: [s.length() for _ in range(200)], None),
        "increment": (N, lambda s: [s.increment(k) for k in keys], None),
        "deque append + popleft": (N, deque_round_trip, None),
        "deque append alone": (N, appends, None),
        "deque popleft alone": (N, poplefts, appends),
    }
    print(
        f"{'operation':<44} {'psycopg':>12} {'floor':>12} {'tpstore':>12} "
        f"{'psycopg/tpstore':>16} {'floor/tpstore':>14}"
    )
    for name, (count, action, prepare) in work.items():
        if words and not any(word in name for word in words):
            continue
        times = timed(url, action, prepare)
        each = {label: f"{seconds / count * 1e6:>10.0f}µs" for label, seconds in times.items()}
        print(
            f"{name:<44} {each['psycopg']} {each['floor']} {each['tpstore']} "
            f"{times['psycopg'] / times['tpstore']:>15.2f}x "
            f"{times['floor'] / times['tpstore']:>13.2f}x"
        )


def _scaling_worker(args: tuple[str, str, str, int, Any, Any]) -> int:
    label, kind, url, index, start, results = args
    subject = CONTENDERS[label](url)
    done = 0
    try:
        start.wait()
        deadline = time.perf_counter() + SCALING_SECONDS
        while time.perf_counter() < deadline:
            if kind == "increment":
                subject.increment(f"p{index}-{done % 50}")
            else:
                subject.append(done)
                subject.popleft()
            done += 1
    finally:
        subject.close()
    results.put(done)
    return done


def scaling(url: str) -> None:
    context = multiprocessing.get_context("fork")
    print()
    print(f"scaling: operations per second, {SCALING_SECONDS:.0f} s per point")
    print(
        f"{'work':<26} {'processes':>9} {'psycopg':>10} {'floor':>10} {'tpstore':>10} "
        f"{'/psycopg':>9} {'/floor':>7} {'vs 1':>6}"
    )
    for kind in ("increment", "deque append+popleft"):
        first: float | None = None
        for processes in (1, 2, 4, 8):
            rates = {}
            for label, make in CONTENDERS.items():
                with fresh_schema(url) as schema_url:
                    make(schema_url).close()  # create the tables once
                    start, results = context.Event(), context.Queue()
                    workers = [
                        context.Process(
                            target=_scaling_worker,
                            args=((label, kind, schema_url, i, start, results),),
                        )
                        for i in range(processes)
                    ]
                    for worker in workers:
                        worker.start()
                    time.sleep(0.5)  # let every worker connect
                    start.set()
                    total = sum(results.get(timeout=60) for _ in workers)
                    for worker in workers:
                        worker.join(30)
                    rates[label] = total / SCALING_SECONDS
            if first is None:
                first = rates["tpstore"]
            print(
                f"{kind:<26} {processes:>9} {rates['psycopg']:>10.0f} {rates['floor']:>10.0f}"
                f" {rates['tpstore']:>10.0f} {rates['tpstore'] / rates['psycopg']:>8.2f}x"
                f" {rates['tpstore'] / rates['floor']:>6.2f}x"
                f" {rates['tpstore'] / first:>5.2f}x"
            )


def main() -> None:
    url = server_url()
    print(machine_line())
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    print(
        f"PostgreSQL {version[0] if version else '?'} (fsync {fsync[0] if fsync else '?'}), "
        f"psycopg {psycopg.__version__}, client and server on this machine"
    )
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print()
    words = [word for word in sys.argv[1:] if not word.startswith("--")]
    if "--scaling" not in sys.argv:
        single_operations(url, words)
    if "--scaling" in sys.argv or not words:
        scaling(url)


if __name__ == "__main__":
    main()
