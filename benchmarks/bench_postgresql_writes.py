"""Where a tpstore write on PostgreSQL spends its time: the statements it sends, by hand.

    .ci/with-postgres.sh python benchmarks/bench_postgresql_writes.py [--ops N]

`bench_postgresql.py` shows tpstore's writes slower than hand-written psycopg code.
This script takes a write apart, each variant in one run on one server (the URL in
`TPSTORE_BENCH_POSTGRES`, else `TPSTORE_TEST_POSTGRES`), in a fresh schema holding a
tpstore `Mapping[str, int]` (`hits`, with its counting triggers) and a plain table of
the same columns (`plain`, no triggers):

Single puts (µs per put, best of 3 x N, upserts of existing keys):
- an autocommitted UPSERT on the plain table, then on tpstore's table;
- what tpstore's first PostgreSQL driver sent for `m[k] = v`: `BEGIN`, the lock row
  `FOR KEY SHARE`, the UPSERT and `COMMIT`, in psycopg's pipeline mode (unprepared);
- what it sends now: the lock row and the UPSERT as one simple query (client-side
  binding, one round trip, one implicit transaction);
- tpstore's own `m[k] = v`.

Bulk writes (seconds for 10,000 new keys in one transaction, best of 3): the UPSERT
through `executemany` on the plain table, on tpstore's table, and on tpstore's table
with its triggers disabled; then tpstore's `update()` (multi-row statements of 1,000
rows, so the triggers fire once per chunk).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import psycopg
from _common import FreshSchemas, machine_line, postgres_server_url

from tpstore import Mapping, Store

UPSERT = (
    "INSERT INTO {table} (key, value) VALUES (%s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
LOCK = "SELECT id FROM _tpstore_locks WHERE id = 0 FOR KEY SHARE"
BULK = 10_000


class Bench(Store):
    hits: Mapping[str, int]


def best_per_call(n: int, call: Callable[[int], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            call(i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2_000)
    n = parser.parse_args(argv).ops
    url = postgres_server_url()
    if not url:
        sys.exit("set TPSTORE_BENCH_POSTGRES (or run under .ci/with-postgres.sh)")
    print(machine_line())
    print(f"psycopg {psycopg.__version__}; single puts: µs per put, best of 3 x {n}")
    schemas = FreshSchemas(url)
    try:
        measure(schemas(), n)
    finally:
        schemas.drop()


def measure(url: str, n: int) -> None:
    store = Bench(url)
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute('CREATE TABLE plain (key text COLLATE "C" PRIMARY KEY, value bigint)')
        for table in ("plain", "hits"):
            conn.execute(f"INSERT INTO {table} SELECT 'k' || i, i FROM generate_series(0, {n}) i")

        def pipelined(i: int) -> None:
            conn.prepare_threshold = None  # as the first driver's pipelines
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute(LOCK)
                conn.execute(UPSERT.format(table="hits"), (f"k{i}", 1))
                conn.execute("COMMIT")

        client = psycopg.ClientCursor(conn)
        one_query = f"{LOCK}; {UPSERT.format(table='hits')}"
        puts: dict[str, Callable[[int], object]] = {
            "autocommitted UPSERT, plain table": lambda i: conn.execute(
                UPSERT.format(table="plain"), (f"k{i}", 1)
            ),
            "autocommitted UPSERT, tpstore's table": lambda i: conn.execute(
                UPSERT.format(table="hits"), (f"k{i}", 1)
            ),
            "BEGIN; lock; UPSERT; COMMIT in a pipeline": pipelined,
            "lock; UPSERT as one simple query": lambda i: client.execute(one_query, (f"k{i}", 1)),
            "tpstore m[k] = v": lambda i: store.hits.__setitem__(f"k{i}", 1),
        }
        for name, put in puts.items():
            print(f"  {name:<46}{best_per_call(n, put):>10.0f}")

        print(f"bulk: seconds for {BULK:,} new keys in one transaction, best of 3")

        def executemany(table: str) -> Callable[[int], object]:
            def run(round_: int) -> None:
                rows = [(f"b{round_}-{time.monotonic_ns()}-{i}", i) for i in range(BULK)]
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(UPSERT.format(table=table), rows)

            return run

        def tpstore_update(round_: int) -> None:
            stamp = time.monotonic_ns()
            store.hits.update({f"u{round_}-{stamp}-{i}": i for i in range(BULK)})

        bulk: list[tuple[str, Callable[[int], object]]] = [
            ("executemany UPSERT, plain table", executemany("plain")),
            ("executemany UPSERT, tpstore's table", executemany("hits")),
            ("tpstore update()", tpstore_update),
        ]
        for name, run in bulk:
            print(f"  {name:<46}{best_per_call(1, run) / 1e6:>10.2f}")
        conn.execute("ALTER TABLE hits DISABLE TRIGGER USER")
        seconds = best_per_call(1, executemany("hits")) / 1e6
        conn.execute("ALTER TABLE hits ENABLE TRIGGER USER")
        print(f"  {'executemany UPSERT, tpstore table, no triggers':<46}{seconds:>10.2f}")
    finally:
        conn.close()
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
