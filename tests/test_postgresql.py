"""PostgreSQL: the test server plumbing, and behaviour particular to that backend.

Tests here need `TPSTORE_TEST_POSTGRES` (run the suite under `.ci/with-postgres.sh`);
without it they skip. The behaviour shared by both backends runs through the
`location` fixture in the other test modules.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import postgres_server
import pytest
from test_cli import run

from tpstore import (
    BusyError,
    Deque,
    ExpiringMapping,
    Mapping,
    ReadOnlyError,
    SchemaError,
    Set,
    Store,
    TpStoreError,
    ValidationError,
    Value,
    field,
)


def test_with_search_path_keeps_other_parameters_and_replaces_options() -> None:
    """The schema URL keeps host and other query parameters and sets one `options`."""
    url = postgres_server.with_search_path(
        "postgresql://app@/db?host=/tmp/sock&options=-cwork_mem%3D4MB&sslmode=disable",
        "t_abc",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("postgresql", "app@", "/db")
    assert parse_qs(parts.query) == {
        "host": ["/tmp/sock"],
        "sslmode": ["disable"],
        "options": ["-csearch_path=t_abc"],
    }


@pytest.fixture
def server_url() -> str:
    """The test server's URL; skips when none is configured."""
    if postgres_server.SERVER_URL is None:
        pytest.skip("TPSTORE_TEST_POSTGRES is not set (see .ci/with-postgres.sh)")
    return postgres_server.SERVER_URL


def test_fresh_schema_is_current_empty_and_dropped_afterwards(server_url: str) -> None:
    """A test's schema is the session's current schema, starts empty, and is dropped."""
    import psycopg

    with postgres_server.fresh_schema(server_url) as url, psycopg.connect(url) as conn:
        (schema,) = conn.execute("SELECT current_schema()").fetchone() or (None,)
        assert schema is not None
        assert schema.startswith("t_")
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchone()
        assert tables == (0,)
    with psycopg.connect(server_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    assert left == (0,)


# -- the backend (these need a server and the backend) -----------------------------------


class Shop(Store):
    prices: Mapping[str, int]
    names: Mapping[str, str]
    queue: Deque[int]
    sessions: ExpiringMapping[str, int] = field(lifespan=60)
    archive: Mapping[int, str] = field(database="archive")


@pytest.fixture
def server(server_url: str) -> str:
    """The server's URL, once the backend is known to be there."""
    if not postgres_server.backend_available():
        pytest.skip("PostgreSQL backend not available yet")
    return server_url


@pytest.fixture
def other_schema(server: str) -> Iterator[str]:
    """The name of a schema for `attach=` (created by the store), dropped afterwards."""
    import psycopg

    name = f"a_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    yield name
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_attached_schema_holds_its_fields_and_one_transaction_spans_both(
    postgres_url: str, other_schema: str
) -> None:
    """`attach=` maps a database name to a schema; a rollback undoes writes in both."""
    import psycopg

    with Shop(postgres_url, attach={"archive": other_schema}) as shop:
        shop.archive[1] = "one"
        with contextlib.suppress(RuntimeError), shop.transaction():
            shop.archive[2] = "two"
            shop.prices["a"] = 1
            raise RuntimeError
        assert dict(shop.archive) == {1: "one"}
        assert dict(shop.prices) == {}
    with psycopg.connect(postgres_url) as conn:  # (its schema is the store's main one)
        rows = conn.execute(
            "SELECT schemaname FROM pg_tables WHERE tablename = 'archive' "
            "AND schemaname IN (current_schema(), %s)",
            (other_schema,),
        ).fetchall()
    assert rows == [(other_schema,)]


def test_text_keys_keep_code_point_order_in_a_database_with_another_collation(
    server: str,
) -> None:
    """Keys order as Python orders str, also where the database collates by a locale."""
    import psycopg

    database = f"icu_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(
            f'CREATE DATABASE "{database}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8' ENCODING 'UTF8'"
        )
        # The database's own order is not Python's: that is what this test is about.
        with psycopg.connect(server.replace("/postgres?", f"/{database}?")) as other:
            ordered = other.execute(
                "SELECT x FROM unnest(ARRAY['b', 'B', 'a']) AS x ORDER BY x"
            ).fetchall()
            assert [x for (x,) in ordered] != sorted(["b", "B", "a"])
    try:
        keys = ["b", "B", "a", "A", "é", "z", "Z", "_", "ab", "a b", "😀"]
        url = server.replace("/postgres?", f"/{database}?")
        with Shop(url, attach={"archive": "public"}) as shop:
            shop.names.update((k, k) for k in keys)
            assert list(shop.names) == sorted(keys)
            assert list(shop.names.range("B", "b")) == [
                (k, k) for k in sorted(keys) if "B" <= k < "b"
            ]
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _open_new(url: str, barrier: Any, results: Any) -> None:  # pragma: no cover - child
    try:
        barrier.wait(30)
        with Shop(url, attach={"archive": url.rsplit("%3D", 1)[-1]}) as shop:
            shop.prices.increment("opened")
        results.put("ok")
    except BaseException as exc:
        results.put(repr(exc))


@pytest.mark.slow
def test_eight_processes_opening_a_new_store_at_once_all_succeed(postgres_url: str) -> None:
    """8 processes create one new store's tables at the same moment without colliding."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [
        context.Process(target=_open_new, args=(postgres_url, barrier, results)) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert answers == ["ok"] * 8
    with Shop(postgres_url, attach={"archive": postgres_url.rsplit("%3D", 1)[-1]}) as shop:
        assert shop.prices["opened"] == 8


@pytest.mark.slow
def test_forked_child_leaves_the_parents_sessions_alone(postgres_url: str) -> None:
    """A child uses the inherited store on its own sessions; the parent's keep working."""
    shop = Shop(postgres_url, attach={"archive": postgres_url.rsplit("%3D", 1)[-1]})
    try:
        shop.prices["parent"] = 1
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                shop.prices["child"] = 2
                shop.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        shop.prices["parent again"] = 3  # the parent's pooled session is still alive
        assert dict(shop.prices) == {"child": 2, "parent": 1, "parent again": 3}
    finally:
        shop.close()


@contextlib.contextmanager
def _writer_lock_held(holder: Shop) -> Iterator[None]:
    """For the block, another thread holds `holder`'s write lock in a transaction
    (writing `held`, committed when the block ends)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction():
            holder.prices["held"] = 1
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


def test_waiting_for_the_writer_lock_past_the_timeout_is_a_busy_error(postgres_url: str) -> None:
    """A writing transaction waits `timeout` for another one's lock, then `BusyError`."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with (
        Shop(postgres_url, attach=attach) as holder,
        Shop(postgres_url, attach=attach, timeout=0.2) as waiter,
    ):
        with _writer_lock_held(holder):
            started = time.monotonic()
            with pytest.raises(BusyError), waiter.transaction():
                waiter.prices["x"] = 1
            with pytest.raises(BusyError):
                waiter.prices["y"] = 2  # a single write waits for the transaction too
            assert time.monotonic() - started < 3
            assert waiter.prices.get("held") is None  # reads never wait
        waiter.prices["x"] = 1
        assert dict(waiter.prices) == {"held": 1, "x": 1}


def test_the_timeout_bounds_the_whole_wait_of_transactions_queued_for_the_lock(
    postgres_url: str,
) -> None:
    """Several transactions queued behind another one's write lock each raise
    `BusyError` once `timeout` has passed: the server's `lock_timeout` alone lets one
    behind others wait twice as long (once for its place in the queue, once for the
    holder)."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with (
        Shop(postgres_url, attach=attach) as holder,
        Shop(postgres_url, attach=attach, timeout=1) as waiter,
    ):
        waited: list[float] = []

        def wait(i: int) -> None:
            started = time.monotonic()
            with pytest.raises(BusyError), waiter.transaction():
                waiter.prices[f"w{i}"] = i
            waited.append(time.monotonic() - started)

        with _writer_lock_held(holder):
            waiters = [threading.Thread(target=wait, args=(i,)) for i in range(4)]
            for queued in waiters:
                queued.start()
                time.sleep(0.05)
            for queued in waiters:
                queued.join(30)
        assert len(waited) == 4
        assert all(0.9 < seconds < 1.6 for seconds in waited), waited
        waiter.prices["after"] = 1
        with waiter.transaction():  # the session's own lock_timeout is back
            waiter.prices["inside"] = 2
        assert dict(waiter.prices) == {"after": 1, "held": 1, "inside": 2}


def test_a_refused_write_inside_a_transaction_leaves_it_usable(postgres_url: str) -> None:
    """A write the server refuses (a row lock past the timeout) fails alone, as on SQLite."""
    import psycopg

    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach, timeout=0.2) as shop:
        shop.prices["locked"] = 1
        with psycopg.connect(postgres_url) as other:
            other.execute("SELECT * FROM prices WHERE key = 'locked' FOR UPDATE")
            with shop.transaction():
                shop.prices["before"] = 1
                with pytest.raises(BusyError):
                    shop.prices["locked"] = 2
                with pytest.raises(ValidationError):
                    shop.names["nul"] = "a\x00b"
                shop.prices["after"] = 3
            other.rollback()
        assert dict(shop.prices) == {"after": 3, "before": 1, "locked": 1}


class Texts(Store):
    names: Mapping[str, str]
    tags: Set[str]
    queue: Deque[str]
    motto: Value[str]
    lists: Mapping[str, list[str]]


def test_nul_in_text_is_refused_and_nothing_is_half_written(postgres_url: str) -> None:
    """`"\x00"` in a text key, value, element or item raises `ValidationError` naming
    where; a bulk write holding one writes nothing; inside JSON it is kept."""
    with Texts(postgres_url) as store:
        refused = {
            "key": lambda: store.names.__setitem__("a\x00", "x"),
            "value": lambda: store.names.__setitem__("a", "x\x00"),
            "update": lambda: store.names.update({"b": "1", "c\x00": "2"}),
            "element": lambda: store.tags.add("q\x00"),
            "extend": lambda: store.queue.extend(["ok", "n\x00"]),
            "value of a Value": lambda: store.motto.set("\x00"),
        }
        for what, write in refused.items():
            with pytest.raises(ValidationError, match="x00"):
                write()
            assert (dict(store.names), set(store.tags), list(store.queue)) == ({}, set(), []), what
        assert not store.motto.is_set
        assert store.names.get("a\x00") is None  # a key that cannot be stored is not there
        assert "q\x00" not in store.tags
        store.lists["k"] = ["a\x00"]  # JSON escapes it
        assert store.lists["k"] == ["a\x00"]


def test_options_that_only_sqlite_has_are_refused(postgres_url: str, tmp_path: Any) -> None:
    """`mode="immutable"`, `wal=` and `backup()` name what to use instead."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with pytest.raises(ValueError, match="immutable"):
        Shop(postgres_url, attach=attach, mode="immutable")
    with pytest.raises(ValueError, match="wal"):
        Shop(postgres_url, attach=attach, wal=True)
    with Shop(postgres_url, attach=attach) as shop:
        shop.prices["a"] = 1
        with pytest.raises(NotImplementedError, match="pg_dump"):
            shop.backup(tmp_path / "copy.db")
        shop.vacuum()
        shop.optimize()
        shop.checkpoint()
        assert dict(shop.prices) == {"a": 1}


@pytest.mark.parametrize(("durability", "setting"), [("full", "on"), ("normal", "off")])
def test_durability_sets_the_sessions_synchronous_commit(
    postgres_url: str, durability: str, setting: str
) -> None:
    """`durability="full"` waits for the server's flush at commit; `"normal"` does not."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach, durability=durability) as shop:
        shop.prices["a"] = 1
        raw = shop._engine.driver.raw()
        assert raw.execute("SHOW synchronous_commit").fetchone() == (setting,)
        assert shop.prices["a"] == 1


def test_read_only_mode_reads_and_refuses_writes(postgres_url: str) -> None:
    """`mode="ro"` sees the data and every write raises `ReadOnlyError`."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach) as shop:
        shop.prices["a"] = 1
    with Shop(postgres_url, attach=attach, mode="ro") as reader:
        assert dict(reader.prices) == {"a": 1}
        with pytest.raises(ReadOnlyError):
            reader.prices["b"] = 2
        with pytest.raises(ReadOnlyError), reader.transaction():
            pass


def test_names_longer_than_the_server_keeps_are_refused(postgres_url: str) -> None:
    """A table name past 63 bytes (namespace included) raises `SchemaError` naming it."""

    class Long(Store):
        prices: Mapping[str, int] = field(table="p" * 62)

    with pytest.raises(SchemaError, match=r"Long\.prices"):
        Long(postgres_url, namespace="ns")
    with Long(postgres_url) as ok:  # 62 bytes fit
        ok.prices["a"] = 1


def test_typeless_columns_are_refused(postgres_url: str) -> None:
    """A codec with SQLite's `ANY` affinity has no PostgreSQL column type."""

    class Loose(Store):
        anything: Mapping[str, Any] = field(codec="native")

    with pytest.raises(SchemaError, match="ANY"):
        Loose(postgres_url)


def test_the_servers_clock_decides_expiry(postgres_url: str) -> None:
    """Without `clock=`, expiry times come from the server's clock."""
    import psycopg

    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach) as shop:
        shop.sessions["a"] = 1
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert row is not None
        expires = shop.sessions.expires_at("a")
        assert expires is not None
        assert abs(expires - 60 - row[0]) < 1


def test_passwords_never_show(server: str) -> None:
    """A password in the URL shows as `***` in `repr()` and in connection errors."""
    url = "postgresql://someone:s3cret@/nodb?host=/nonexistent-socket-folder"
    with pytest.raises(TpStoreError) as caught:
        Shop(url, attach={"archive": "public"})
    assert "s3cret" not in str(caught.value)
    assert "nodb" in str(caught.value)
    assert caught.value.__cause__ is not None
    with_password = server.replace("postgres@", "postgres:s3cret@")
    with Shop(with_password, attach={"archive": "public"}) as shop:
        assert "s3cret" not in repr(shop)
        assert "***" in repr(shop)


def test_writes_go_on_after_many_refused_ones(postgres_url: str) -> None:
    """Writes the server refuses, again and again, never break the statements after them
    (psycopg must not believe a statement prepared that a failed pipeline skipped)."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach) as shop:
        shop.prices["big"] = 2**63 - 1
        for i in range(12):
            with pytest.raises(ValidationError):
                shop.prices.increment("big")  # overflows on the server
            shop.prices[f"k{i}"] = i
        with shop.transaction():
            for i in range(12):
                with pytest.raises(ValidationError):
                    shop.prices.increment("big")
                shop.prices[f"t{i}"] = i
        assert len(shop.prices) == 25
        assert shop.prices["big"] == 2**63 - 1


@pytest.mark.slow
def test_the_command_line_takes_a_url_and_never_shows_its_password(postgres_url: str) -> None:
    """info, dump, load, check, purge and vacuum work on a URL; the password stays hidden."""
    attach = {"archive": postgres_url.rsplit("%3D", 1)[-1]}
    with Shop(postgres_url, attach=attach) as shop:
        shop.prices.update({"a": 1, "b": 2})
        shop.queue.extend([1, 2])
    url = postgres_url.replace("postgres@", "postgres:s3cret@")
    results = {
        command: run(command, url) for command in ("info", "dump", "check", "purge", "vacuum")
    }
    for command, result in results.items():
        assert result.returncode == 0, (command, result.stderr)
        assert "s3cret" not in result.stdout + result.stderr
    assert "prices" in results["info"].stdout
    dumped = [json.loads(line) for line in results["dump"].stdout.splitlines()]
    assert {"collection": "prices", "key": "a", "value": 1} in dumped
    assert "ok:" in results["check"].stdout
    loaded = run("load", url, "prices", "-", stdin='{"key": "c", "value": 3}\n')
    assert loaded.returncode == 0, loaded.stderr
    assert "s3cret" not in loaded.stdout + loaded.stderr
    with Shop(postgres_url, attach=attach) as shop:
        assert dict(shop.prices) == {"a": 1, "b": 2, "c": 3}


# -- errors by SQLSTATE (no server needed: the translation of psycopg's exceptions) -------


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("40001", BusyError),  # serialization failure
        ("40P01", BusyError),  # deadlock detected
        ("55P03", BusyError),  # lock not available (lock_timeout)
        ("57014", BusyError),  # query cancelled (statement_timeout)
        ("25006", ReadOnlyError),  # read-only SQL transaction
        ("22003", ValidationError),  # numeric value out of range
        ("22021", ValidationError),  # character not in repertoire (NUL)
        ("22P02", ValidationError),  # invalid text representation
        ("25P02", TpStoreError),  # in failed SQL transaction
        ("23505", TpStoreError),  # unique violation
        ("42P01", TpStoreError),  # undefined table
        ("53300", TpStoreError),  # too many connections
        ("08006", TpStoreError),  # connection failure
    ],
)
def test_server_errors_become_tpstore_errors_by_sqlstate(
    sqlstate: str, expected: type[TpStoreError]
) -> None:
    """Every psycopg error becomes the tpstore error its SQLSTATE calls for, never itself."""
    psycopg = pytest.importorskip("psycopg")
    if not postgres_server.backend_available():  # pragma: no cover
        pytest.skip("PostgreSQL backend not available")
    from tpstore._backends.postgresql.errors import translate_statement_error

    raised = psycopg.errors.lookup(sqlstate)("password=s3cret refused")
    error = translate_statement_error(raised, "writing prices")
    assert type(error) is expected
    assert not isinstance(error, psycopg.Error)
    assert "s3cret" not in str(error)
    assert str(error).startswith(("writing prices: ", "invalid value"))
