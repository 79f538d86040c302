"""PostgreSQL: the counter rows behind `len()`, kept by the writing statements themselves.

Tests here need `TPSTORE_TEST_POSTGRES` (run the suite under `.ci/with-postgres.sh`);
without it they skip, except the rewriting of statements, which needs no server.
"""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

import pytest
from test_cli import run

from tpstore import BusyError, Deque, Mapping, Set, Store, ValidationError

psycopg = pytest.importorskip("psycopg")

from tpstore._backends.postgresql.counting import counted  # noqa: E402 - needs psycopg
from tpstore._backends.postgresql.dialect import OLD_TRIGGERS, SHARDS  # noqa: E402

# -- the statements, rewritten (no server needed) ----------------------------------------


def test_an_insert_returns_its_own_columns_and_counts_its_new_rows() -> None:
    query = (
        'INSERT INTO "s"."t" AS t (key, value) VALUES (%s, %s) '
        "ON CONFLICT (key) DO UPDATE SET value = t.value + %s RETURNING value, coalesce(key, 'a,b')"
    )
    text = counted(query)
    head = query.split(" RETURNING ", maxsplit=1)[0]
    assert text.startswith(f"WITH _tpstore_written AS ({head} RETURNING ")
    assert "value AS _tpstore_0, coalesce(key, 'a,b') AS _tpstore_1, xmax = 0 AS _tpstore_new" in (
        text
    )
    assert text.endswith("SELECT _tpstore_0, _tpstore_1 FROM _tpstore_written")
    assert (
        'INSERT INTO "s"._tpstore_counts AS c (id, shard, count) SELECT (SELECT id FROM '
        f"\"s\"._tpstore_catalog WHERE name = 't'), pg_backend_pid() %% {SHARDS}, 1 "
        "FROM _tpstore_written WHERE _tpstore_new ON CONFLICT"
    ) in text
    assert "pg_notify" not in text


def test_the_catalog_id_is_written_in_when_given() -> None:
    text = counted('DELETE FROM "s"."t" WHERE key = %s', 12)
    assert f"SELECT 12, pg_backend_pid() %% {SHARDS}, -1 FROM" in text


@pytest.mark.parametrize(
    "query",
    [
        'INSERT INTO "s"."t" (key, value) VALUES (%s, %s), (%s, %s) ON CONFLICT (key) DO NOTHING',
        'INSERT INTO "s"."t" (key, value) SELECT key, value FROM "s"."u"',
        'DELETE FROM "s"."t" WHERE key IN (%s, %s)',
        'DELETE FROM "s"."t" WHERE key = %s OR value = %s',
        'DELETE FROM "s"."t" WHERE pos >= %s AND pos < %s',
        'DELETE FROM "s"."t"',
    ],
)
def test_a_statement_that_may_change_many_rows_adds_them_up_once(query: str) -> None:
    """(A counter row updated twice by one statement would be refused.)"""
    assert "count(*) FROM _tpstore_written WHERE _tpstore_new HAVING count(*) > 0" in (
        counted(query)
    )


@pytest.mark.parametrize(
    "query",
    [
        'INSERT INTO "s"."t" (pos, value) '
        'VALUES ((SELECT coalesce(max(pos) + 1, 0) FROM "s"."t"), %s)',
        'WITH _tpstore_lock AS (SELECT id FROM "s"._tpstore_locks WHERE id = 0 FOR KEY SHARE) '
        'INSERT INTO "s"."t" (key, value) SELECT %s, %s FROM _tpstore_lock ON CONFLICT (key) '
        "DO UPDATE SET value = excluded.value",
        'DELETE FROM "s"."t" WHERE key = %s AND (expires IS NULL OR expires > %s)',
        'DELETE FROM "s"."t" WHERE pos = (SELECT pos FROM "s"."t" ORDER BY pos LIMIT 1) '
        "RETURNING pos",
        'DELETE FROM "s"."t" WHERE id = 0',
    ],
)
def test_a_statement_of_one_row_at_most_adds_it_without_an_aggregate(query: str) -> None:
    assert "count(*)" not in counted(query)


def test_a_delete_without_returning_counts_every_row_it_removed_and_returns_rows_to_count() -> None:
    text = counted('DELETE FROM "s"."it\'s" WHERE key = %s')
    assert "RETURNING true AS _tpstore_new" in text
    assert "WHERE name = 'it''s'" in text
    assert ", -1 FROM _tpstore_written" in text
    assert text.endswith("SELECT  FROM _tpstore_written")  # rows without columns


def test_an_insert_into_a_positioned_table_announces_itself() -> None:
    text = counted('INSERT INTO "s"."jobs" (pos, value) VALUES (%s, %s)')
    assert "pg_notify('tpstore_" in text


@pytest.mark.parametrize(
    "query",
    [
        'UPDATE "s"."t" SET value = %s WHERE key = %s',
        'INSERT INTO "s"._tpstore_catalog (name) VALUES (%s)',
        'DELETE FROM "s"._tpstore_counts WHERE id = %s',
        'SELECT value FROM "s"."t" WHERE key = \'DELETE FROM "s"."t"\'',
    ],
)
def test_statements_that_change_no_count_are_sent_as_they_are(query: str) -> None:
    assert counted(query) == query


def test_a_quoted_name_holding_returning_is_not_taken_for_the_clause() -> None:
    text = counted('DELETE FROM "s"."a RETURNING b" WHERE key = %s')
    assert text.endswith("SELECT  FROM _tpstore_written")
    assert "WHERE name = 'a RETURNING b'" in text


# -- on a server ---------------------------------------------------------------------------


class Counted(Store):
    prices: Mapping[str, int]
    names: Mapping[str, str]
    tags: Set[str]
    queue: Deque[int]


def _lengths(store: Counted) -> dict[str, int]:
    return {
        "prices": len(store.prices),
        "names": len(store.names),
        "tags": len(store.tags),
        "queue": len(store.queue),
    }


def _counted_by_the_server(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("prices", "names", "tags", "queue")
        }


def test_counts_stay_right_after_refused_writes_inside_a_transaction(postgres_url: str) -> None:
    with Counted(postgres_url, timeout=0.2) as store:
        store.prices["locked"] = 1
        with psycopg.connect(postgres_url) as other:
            other.execute("SELECT * FROM prices WHERE key = 'locked' FOR UPDATE")
            with store.transaction():
                store.prices["before"] = 1
                with pytest.raises(BusyError):
                    store.prices["locked"] = 2
                with pytest.raises(ValidationError):
                    store.names["nul"] = "a\x00b"
                with pytest.raises(ValidationError):
                    store.names.update({"fine": "x", "bad": "a\x00b"})
                store.tags.add("t")
                store.queue.extend([1, 2, 3])
                assert _lengths(store) == {"prices": 2, "names": 0, "tags": 1, "queue": 3}
                del store.prices["before"]
                store.queue.popleft()
            other.rollback()
        assert _lengths(store) == {"prices": 1, "names": 0, "tags": 1, "queue": 2}
        assert _lengths(store) == _counted_by_the_server(postgres_url)


def test_counts_of_a_transaction_rolled_back_are_undone(postgres_url: str) -> None:
    with Counted(postgres_url) as store:
        store.prices.update({"a": 1, "b": 2})

        def rolled_back() -> None:
            with store.transaction():
                store.prices["c"] = 3
                del store.prices["a"]
                store.queue.append(1)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            rolled_back()
        assert _lengths(store) == {"prices": 2, "names": 0, "tags": 0, "queue": 0}


def _churn(url: str, seed: int, results: Any) -> None:  # pragma: no cover - a child
    try:
        chance = random.Random(seed)
        with Counted(url) as store:
            for i in range(150):
                key = f"k{chance.randrange(30)}"
                action = chance.randrange(7)
                if action == 0:
                    store.prices[key] = i
                elif action == 1:
                    store.prices.pop(key, None)
                elif action == 2:
                    store.prices.increment(key)
                elif action == 3:
                    store.tags.add(key) if i % 2 else store.tags.discard(key)
                elif action == 4:
                    store.queue.append(i)
                elif action == 5:
                    with __import__("contextlib").suppress(IndexError):
                        store.queue.popleft()
                else:
                    store.names.update({f"{key}-{j}": "x" for j in range(3)})
        results.put("ok")
    except BaseException as exc:
        results.put(repr(exc))


@pytest.mark.slow
def test_concurrent_writers_in_several_processes_leave_every_count_exact(
    postgres_url: str,
) -> None:
    Counted(postgres_url).close()  # the tables, made once
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_churn, args=(postgres_url, n, results)) for n in range(4)]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert answers == ["ok"] * 4
    with Counted(postgres_url) as store:
        assert _lengths(store) == _counted_by_the_server(postgres_url)
        assert sum(_lengths(store).values()) > 0


def _install_old_triggers(url: str) -> None:
    """What the first PostgreSQL layout had: count and notify triggers on each table."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION _tpstore_count() RETURNS trigger LANGUAGE plpgsql AS $f$ "
            "DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM changed; IF n > 0 THEN "
            "INSERT INTO _tpstore_counts AS c (id, shard, count) VALUES (TG_ARGV[0]::bigint, "
            "pg_backend_pid() % 16, n * TG_ARGV[1]::int) ON CONFLICT (id, shard) DO UPDATE "
            "SET count = c.count + excluded.count; END IF; RETURN NULL; END $f$"
        )
        conn.execute(
            "CREATE FUNCTION _tpstore_notify() RETURNS trigger LANGUAGE plpgsql AS $f$ "
            "BEGIN PERFORM pg_notify(TG_ARGV[0], ''); RETURN NULL; END $f$"
        )
        for name, id_ in conn.execute("SELECT name, id FROM _tpstore_catalog").fetchall():
            conn.execute(f'COMMENT ON TABLE "{name}" IS NULL')
            for event, rows, sign in (("INSERT", "NEW", 1), ("DELETE", "OLD", -1)):
                conn.execute(
                    f'CREATE TRIGGER _tpstore_count_{event.lower()} AFTER {event} ON "{name}" '
                    f"REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION _tpstore_count('{id_}', '{sign}')"
                )
        conn.execute(
            "CREATE TRIGGER _tpstore_notify AFTER INSERT ON queue FOR EACH STATEMENT "
            "EXECUTE FUNCTION _tpstore_notify('old')"
        )


def test_a_store_made_when_triggers_counted_opens_without_them_and_counts_right(
    postgres_url: str,
) -> None:
    with Counted(postgres_url) as store:
        store.prices.update({"a": 1, "b": 2})
        store.queue.extend([1, 2])
    _install_old_triggers(postgres_url)
    with Counted(postgres_url) as store:  # (the triggers would count every change twice)
        store.prices["c"] = 3
        del store.prices["a"]
        store.tags.update({"x", "y"})
        store.queue.append(3)
        store.queue.popleft()
        assert _lengths(store) == {"prices": 2, "names": 0, "tags": 2, "queue": 2}
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s)", (list(OLD_TRIGGERS),)
        ).fetchone()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_tpstore\\_%%'"
        ).fetchone()
    assert left == (0,)
    assert functions == (0,)
    info = run("info", postgres_url)
    assert info.returncode == 0, info.stderr
    assert "no catalog entry" not in info.stdout


def test_a_table_tpstore_made_without_its_catalog_row_is_listed(postgres_url: str) -> None:
    with Counted(postgres_url) as store:
        store.tags.add("x")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM _tpstore_catalog WHERE name = 'tags'")
        conn.execute("CREATE TABLE mine (id bigint)")  # a table tpstore did not make
    info = run("info", postgres_url)
    assert "tags\t(no catalog entry)" in info.stdout
    assert "mine" not in info.stdout
