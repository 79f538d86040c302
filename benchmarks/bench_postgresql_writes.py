"""Where a tpstore write on PostgreSQL spends its time: the statements it sends, by hand.

    .ci/with-postgres.sh python benchmarks/bench_postgresql_writes.py [--ops N]

`bench_postgresql.py` shows tpstore's writes slower than hand-written psycopg code.
This script takes a write apart, each variant in one run on one server (the URL in
`TPSTORE_BENCH_POSTGRES`, else `TPSTORE_TEST_POSTGRES`), in a fresh schema holding a
tpstore `Mapping[str, int]` (`hits`), a plain table of the same columns (`plain`) and
one with the statement-level count triggers of tpstore's first PostgreSQL layout
(`triggered`):

Single puts (µs per put, best of 3 x N, prepared, autocommitted, upserts of existing
keys, each variant adding one thing to the one before):
- the UPSERT on the plain table;
- with the lock row `FOR KEY SHARE` in a `WITH` (`rewrites.locked_upsert`);
- on the table with count triggers (the earlier design);
- counting in the statement instead, its collection's id looked up by name and the
  rows added up (`counting.counted`, the form inside transactions and of bulk chunks);
- counting one row with the id written in (the form tpstore sends outside a
  transaction);
- tpstore's own `m[k] = v`.

Bulk writes (seconds for 10,000 new keys in one transaction, best of 3): the UPSERT
through `executemany` on the plain table, then tpstore's `update()` (multi-row
statements of 1,000 rows, each counting its rows once).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import psycopg
from _common import FreshSchemas, machine_line, postgres_server_url

from tpstore import Mapping, Store
from tpstore._backends.postgresql.counting import counted
from tpstore._backends.postgresql.rewrites import locked_upsert

UPSERT = (
    "INSERT INTO {table} (key, value) VALUES (%s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
BULK = 10_000
COUNT_TRIGGER = (
    "CREATE FUNCTION counted() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE n bigint; "
    "BEGIN SELECT count(*) INTO n FROM changed; IF n > 0 THEN "
    "INSERT INTO _tpstore_counts AS c (id, shard, count) VALUES (TG_ARGV[0]::bigint, "
    "pg_backend_pid() % 16, n * TG_ARGV[1]::int) ON CONFLICT (id, shard) DO UPDATE "
    "SET count = c.count + excluded.count; END IF; RETURN NULL; END $$"
)


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
        conn.execute('CREATE TABLE triggered (key text COLLATE "C" PRIMARY KEY, value bigint)')
        conn.execute(COUNT_TRIGGER)
        for event, rows, sign in (("INSERT", "NEW", 1), ("DELETE", "OLD", -1)):
            conn.execute(
                f"CREATE TRIGGER count_{event.lower()} AFTER {event} ON triggered "
                f"REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT "
                f"EXECUTE FUNCTION counted('999', '{sign}')"
            )
        for table in ("plain", "triggered", "hits"):
            conn.execute(f"INSERT INTO {table} SELECT 'k' || i, i FROM generate_series(0, {n}) i")
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        name = f'"{schema[0]}"'
        (catalog_id,) = conn.execute(
            "SELECT id FROM _tpstore_catalog WHERE name = 'hits'"
        ).fetchone() or (0,)

        def locked(table: str) -> str:
            text = locked_upsert(UPSERT.format(table=f'{name}."{table}"'))
            assert text is not None
            return text

        statements = {
            "UPSERT, plain table": UPSERT.format(table="plain"),
            "+ lock row in a WITH": locked("plain"),
            "+ count triggers (the earlier design)": locked("triggered"),
            "+ counting in the statement, id by name": counted(locked("hits")),
            "+ counting one row, id written in": counted(locked("hits"), catalog_id),
        }

        def sent(statement: str) -> Callable[[int], object]:
            return lambda i: conn.execute(statement, (f"k{i}", 1), prepare=True)

        puts = {label: sent(statement) for label, statement in statements.items()}
        puts["tpstore m[k] = v"] = lambda i: store.hits.__setitem__(f"k{i}", 1)
        for label, put in puts.items():
            print(f"  {label:<46}{best_per_call(n, put):>10.0f}")

        print(f"bulk: seconds for {BULK:,} new keys in one transaction, best of 3")

        def executemany(round_: int) -> None:
            rows = [(f"b{round_}-{time.monotonic_ns()}-{i}", i) for i in range(BULK)]
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(UPSERT.format(table="plain"), rows)

        def tpstore_update(round_: int) -> None:
            stamp = time.monotonic_ns()
            store.hits.update({f"u{round_}-{stamp}-{i}": i for i in range(BULK)})

        for label, run in (
            ("executemany UPSERT, plain table", executemany),
            ("tpstore update()", tpstore_update),
        ):
            print(f"  {label:<46}{best_per_call(1, run) / 1e6:>10.2f}")
    finally:
        conn.close()
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
