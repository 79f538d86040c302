"""PostgreSQL: single operations without the store's write lock, and bulk writes in chunks.

Tests here need `TPSTORE_TEST_POSTGRES` (run the suite under `.ci/with-postgres.sh`);
without it they skip, except the chunking of bulk writes, which needs no server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel

from tpstore import (
    BusyError,
    CorruptValueError,
    Deque,
    Mapping,
    Set,
    Store,
    TpStoreError,
    ValidationError,
)

psycopg = pytest.importorskip("psycopg")

from tpstore._backends.postgresql.rewrites import (  # noqa: E402 - needs psycopg
    ROWS,
    chunked,
    locked_upsert,
)

# -- bulk writes as multi-row statements (no server needed) ------------------------------

UPSERT = (
    'INSERT INTO "s"."t" (key, value) VALUES (%s, %s) '
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def test_rows_of_an_upsert_go_out_as_multi_row_statements_split_where_a_key_repeats() -> None:
    rows = [("a", 1), ("b", 2), ("a", 3), ("c", 4)]
    statements = list(chunked(UPSERT, rows))
    assert [parameters for _, parameters in statements] == [["a", 1, "b", 2], ["a", 3, "c", 4]]
    assert statements[0][0] == UPSERT.replace("VALUES (%s, %s)", "VALUES (%s, %s), (%s, %s)")


def test_chunks_hold_at_most_ROWS_rows() -> None:
    rows = [(f"k{i}", i) for i in range(2 * ROWS + 5)]
    statements = list(chunked(UPSERT, rows))
    assert [len(parameters) // 2 for _, parameters in statements] == [ROWS, ROWS, 5]
    assert [value for _, parameters in statements for value in parameters[1::2]] == list(
        range(2 * ROWS + 5)
    )


def test_deletes_by_key_become_one_in_list_per_run_of_equal_other_parameters() -> None:
    delete = 'DELETE FROM "s"."t" WHERE key = %s AND (expires IS NULL OR expires > %s)'
    statements = list(chunked(delete, [("a", 1.0), ("b", 1.0), ("c", 2.0)]))
    assert statements == [
        (
            'DELETE FROM "s"."t" WHERE key IN (%s, %s) AND (expires IS NULL OR expires > %s)',
            ["a", "b", 1.0],
        ),
        ('DELETE FROM "s"."t" WHERE key IN (%s) AND (expires IS NULL OR expires > %s)', ["c", 2.0]),
    ]


def test_appends_become_one_statement_whose_rows_go_one_position_further_each() -> None:
    edge = '(SELECT coalesce(max(pos) + 1, 0) FROM "s"."t")'
    append = f'INSERT INTO "s"."t" (pos, value) VALUES ({edge}, %s)'
    assert list(chunked(append, [("a",), ("b",)])) == [
        (
            f'INSERT INTO "s"."t" (pos, value) VALUES ({edge} + 0, %s), ({edge} + 1, %s)',
            ["a", "b"],
        )
    ]


def test_other_statements_run_once_per_row() -> None:
    update = 'UPDATE "s"."t" SET value = %s WHERE pos = %s'
    assert list(chunked(update, [(1, 2), (3, 4)])) == [(update, (1, 2)), (update, (3, 4))]


def test_a_single_upsert_takes_its_schemas_lock_row_inside_the_statement() -> None:
    increment = (
        'INSERT INTO "s"."t" AS t (key, value) VALUES (%s, %s) '
        "ON CONFLICT (key) DO UPDATE SET value = t.value + %s RETURNING value"
    )
    assert locked_upsert(increment) == (
        'WITH _tpstore_lock AS (SELECT id FROM "s"._tpstore_locks WHERE id = 0 FOR KEY SHARE) '
        'INSERT INTO "s"."t" AS t (key, value) SELECT %s, %s FROM _tpstore_lock '
        "ON CONFLICT (key) DO UPDATE SET value = t.value + %s RETURNING value"
    )
    assert locked_upsert('INSERT INTO "s"."v" (id, value) VALUES (0, %s) ON CONFLICT') is None
    assert locked_upsert('DELETE FROM "s"."t" WHERE key = %s') is None


# -- on a server --------------------------------------------------------------------------


class Item(BaseModel):
    name: str
    size: int


class Bulk(Store):
    items: Mapping[str, Item]
    tags: Set[str]
    queue: Deque[Item]


def test_bulk_writes_act_as_their_rows_one_after_the_other(postgres_url: str) -> None:
    """update() with a repeated key keeps its first place and last value; extend and
    extendleft over several chunks keep their order; len() counts every chunk."""
    count = 2 * ROWS + 10
    with Bulk(postgres_url) as store:
        pairs = [(f"k{i:05d}", Item(name=f"n{i}", size=i)) for i in range(count)]
        pairs.insert(5, ("k00003", Item(name="again", size=-1)))
        store.items.update(pairs)
        expected = dict(pairs)
        assert len(store.items) == count
        assert dict(store.items) == expected
        store.tags.update(["b", "a", "b", *map(str, range(count))])
        assert len(store.tags) == count + 2
        store.queue.extend(Item(name="r", size=i) for i in range(count))
        store.queue.extendleft(Item(name="l", size=i) for i in range(3))
        assert len(store.queue) == count + 3
        assert [item.size for item in store.queue][:5] == [2, 1, 0, 0, 1]
        assert store.queue[-1].size == count - 1
        del_keys = [f"k{i:05d}" for i in range(0, count, 2)]
        with store.transaction():
            for key in del_keys:
                del store.items[key]
        assert len(store.items) == count - len(del_keys)


@pytest.mark.slow
def test_the_command_line_loads_a_deque_in_order(postgres_url: str) -> None:
    from test_cli import run

    with Bulk(postgres_url) as store:
        store.queue.append(Item(name="first", size=-1))
    lines = "".join(
        json.dumps({"collection": "queue", "value": {"name": "n", "size": i}}) + "\n"
        for i in range(ROWS + 5)
    )
    loaded = run("load", postgres_url, "queue", "-", stdin=lines)
    assert loaded.returncode == 0, loaded.stderr
    with Bulk(postgres_url) as store:
        assert [item.size for item in store.queue] == [-1, *range(ROWS + 5)]
        assert len(store.queue) == ROWS + 6


def test_a_bulk_write_refused_in_a_late_chunk_writes_nothing(postgres_url: str) -> None:
    """A row the server refuses in the third chunk undoes the chunks before it, outside
    a transaction and inside one (which goes on)."""
    late = f"k{2 * ROWS + 5}"
    with Bulk(postgres_url) as store:
        store.items["kept"] = Item(name="kept", size=1)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE items ADD CONSTRAINT late CHECK (key <> '{late}')")
        pairs = {f"k{i}": Item(name=f"n{i}", size=i) for i in range(2 * ROWS + 10)}
        with pytest.raises(TpStoreError, match="late"):
            store.items.update(pairs)
        with store.transaction():
            with pytest.raises(TpStoreError, match="late"):
                store.items.update(pairs)
            store.items["after"] = Item(name="after", size=2)
        assert dict(store.items) == {
            "kept": Item(name="kept", size=1),
            "after": Item(name="after", size=2),
        }
        assert len(store.items) == 2


class Prices(Store):
    prices: Mapping[str, int]
    names: Mapping[str, str]


def test_a_refused_single_write_outside_a_transaction_changes_nothing(postgres_url: str) -> None:
    """Refused by the client (NUL), by the server (an overflow), or waiting past the
    timeout for a row another session holds: each fails alone, and writes go on."""
    with Prices(postgres_url, timeout=0.2) as store:
        store.prices["big"] = 2**63 - 1
        store.prices["locked"] = 1
        with pytest.raises(ValidationError):
            store.names["nul"] = "a\x00b"
        with pytest.raises(ValidationError):
            store.prices.increment("big")
        with psycopg.connect(postgres_url) as other:
            other.execute("SELECT * FROM prices WHERE key = 'locked' FOR UPDATE")
            with pytest.raises(BusyError):
                store.prices["locked"] = 2
            store.prices["free"] = 3  # single writes do not wait for each other
            other.rollback()
        store.prices["locked"] += 10
        assert dict(store.prices) == {"big": 2**63 - 1, "free": 3, "locked": 11}
        assert dict(store.names) == {}
        assert len(store.prices) == 3


class Counters(Store):
    counts: Mapping[str, int]
    maybe: Mapping[str, int | None]
    flags: Mapping[str, bool]


def test_single_upserts_wait_for_a_writing_transaction_and_lose_nothing(
    postgres_url: str,
) -> None:
    """Increments and puts sent while a transaction reads, then writes, a key apply after
    it: none is lost, none overwritten by the transaction's stale read."""
    with Counters(postgres_url) as store:
        store.counts["k"] = 1
        read, go = threading.Event(), threading.Event()

        def read_modify_write() -> None:
            with store.transaction():
                value = store.counts["k"]
                read.set()
                go.wait(10)
                store.counts["k"] = value + 10

        writer = threading.Thread(target=read_modify_write)
        writer.start()
        try:
            assert read.wait(10)
            threading.Timer(0.3, go.set).start()
            assert store.counts.increment("k") == 12  # waited for the transaction
            store.counts["other"] = 5
        finally:
            go.set()
            writer.join(10)
        assert dict(store.counts) == {"k": 12, "other": 5}
        # Values psycopg sends untyped (None) or typed otherwise (bool) go the other way.
        store.maybe["none"] = None
        store.maybe["one"] = 1
        store.flags["yes"] = True
        assert dict(store.maybe) == {"none": None, "one": 1}
        assert dict(store.flags) == {"yes": True}
        assert (len(store.counts), len(store.maybe), len(store.flags)) == (2, 2, 1)


# A value whose decoding waits while armed: a pop holding its item in the middle of it.
_gate: dict[str, Any] = {"armed": False, "entered": threading.Event(), "go": threading.Event()}


def _held(value: str) -> str:
    if _gate["armed"] and value == "held":
        _gate["entered"].set()
        _gate["go"].wait(10)
    return value


def _refuse_bad(value: str) -> str:
    if value == "bad":
        raise ValueError("no bad values")
    return value


class Jobs(Store):
    held: Deque[Annotated[str, AfterValidator(_held)]]
    jobs: Deque[Annotated[str, AfterValidator(_refuse_bad)]]


def test_a_pop_does_not_wait_for_another_pop_in_progress(postgres_url: str) -> None:
    """A pop takes no store-wide lock: while one consumer is inside its pop (the item
    taken, not yet committed), another pops the next item at once."""
    with Jobs(postgres_url, timeout=0.5) as store:
        store.held.extend(["held", "next"])
        got: list[str] = []
        _gate["armed"] = True
        consumer = threading.Thread(target=lambda: got.append(store.held.popleft()))
        consumer.start()
        try:
            assert _gate["entered"].wait(10)
            assert store.held.popleft() == "next"
            assert len(store.held) == 1  # the held item is not gone until its pop commits
        finally:
            _gate["go"].set()
            consumer.join(10)
            _gate["armed"] = False
        assert got == ["held"]
        assert len(store.held) == 0


def _drain_in_threads(
    open_store: Callable[[], Any], name: str, which: str
) -> tuple[list[Any], list[CorruptValueError], int]:
    """Four threads, each with a store of its own, pop from deque `name` (`which` end)
    until one raises `CorruptValueError` or `IndexError`: what they popped, the errors,
    and how many found nothing left."""
    popped: list[Any] = []
    failures: list[CorruptValueError] = []
    empty: list[None] = []

    def consume() -> None:
        with open_store() as mine:
            pop = getattr(getattr(mine, name), which)
            while True:
                try:
                    popped.append(pop())
                except CorruptValueError as exc:
                    failures.append(exc)
                    return
                except IndexError:
                    empty.append(None)
                    return

    consumers = [threading.Thread(target=consume) for _ in range(4)]
    for consumer in consumers:
        consumer.start()
    for consumer in consumers:
        consumer.join(120)
    assert not any(consumer.is_alive() for consumer in consumers)
    return popped, failures, len(empty)


def test_a_pop_that_fails_to_decode_leaves_the_item_queued_while_others_pop(
    postgres_url: str,
) -> None:
    """An item that no longer validates raises `CorruptValueError` in whichever consumer
    takes it and stays queued; of the others, none is lost and none popped twice."""
    goods = [f"j{i}" for i in range(200)]
    with Jobs(postgres_url) as store:
        store.jobs.extend([*goods[:100], "corrupted", *goods[100:]])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE jobs SET value = 'bad' WHERE value = 'corrupted'")
    popped, failures, empty = _drain_in_threads(lambda: Jobs(postgres_url), "jobs", "popleft")
    assert (len(failures), empty) == (4, 0)
    assert all(failure.collection == "jobs" for failure in failures)
    with psycopg.connect(postgres_url) as conn:
        left = [value for (value,) in conn.execute("SELECT value FROM jobs ORDER BY pos")]
    assert left.count("bad") == 1
    assert len(popped) == len(set(popped))
    assert sorted(popped + [value for value in left if value != "bad"]) == sorted(goods)
    with Jobs(postgres_url) as store:
        assert len(store.jobs) == len(left)
        if left[0] == "bad":
            with pytest.raises(CorruptValueError):
                store.jobs.popleft()
            assert len(store.jobs) == len(left)


class Numbers(Store):
    numbers: Deque[int]


@pytest.mark.parametrize("which", ["popleft", "pop"])
def test_a_null_among_plain_values_stays_queued_while_others_pop(
    postgres_url: str, which: str
) -> None:
    """A value stored as it is (`int`) pops in one statement committed at once; the one
    such a column can hold that does not decode, NULL, is never taken that way: its pop
    raises `CorruptValueError` and leaves it queued, and the others pop exactly once.

    A consumer passes over the NULL while another one's pop holds it, so it may also
    find nothing else left (`IndexError`)."""
    goods = list(range(300))
    with Numbers(postgres_url) as store:
        store.numbers.extend([*goods[:150], -1, *goods[150:]])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE numbers SET value = NULL WHERE value = -1")
    popped, failures, empty = _drain_in_threads(lambda: Numbers(postgres_url), "numbers", which)
    assert failures
    assert len(failures) + empty == 4
    assert all(failure.collection == "numbers" for failure in failures)
    with psycopg.connect(postgres_url) as conn:
        left = [value for (value,) in conn.execute("SELECT value FROM numbers ORDER BY pos")]
    assert left.count(None) == 1
    assert len(popped) == len(set(popped))
    assert sorted(popped + [value for value in left if value is not None]) == goods
    with Numbers(postgres_url) as store:
        assert len(store.numbers) == len(left)
        end = 0 if which == "popleft" else -1
        if left[end] is None:
            with pytest.raises(CorruptValueError):
                getattr(store.numbers, which)()
            assert len(store.numbers) == len(left)


def test_writes_go_on_when_the_session_forgets_its_prepared_statements(
    postgres_url: str,
) -> None:
    """Single writes are prepared on their session; psycopg deallocates every prepared
    statement of a session after a ROLLBACK once it has prepared its own: the writes
    are prepared again, outside a transaction and inside one."""
    with Numbers(postgres_url) as store:
        for i in range(10):
            store.numbers.append(i)
            assert store.numbers.popleft() == i
        raw = store._engine.driver.raw()
        raw.execute("DEALLOCATE ALL")
        store.numbers.append(1)
        assert store.numbers.popleft() == 1
        with store.transaction():
            store.numbers.append(2)
            raw.execute("DEALLOCATE ALL")
            store.numbers.append(3)
        raw.execute("DEALLOCATE ALL")
        store.numbers.extend([4, 5])
        assert store.numbers.popleft() == 2
        assert list(store.numbers) == [3, 4, 5]


_CONTENDER = textwrap.dedent(
    """
    import sys
    from tpstore import Deque, Mapping, Store

    class Busy(Store):
        hits: Mapping[str, int]
        queue: Deque[int]

    with Busy(sys.argv[1]) as store:
        for i in range(300):
            store.queue.append(i)
            store.hits.increment("shared")
        while True:
            try:
                store.queue.popleft()
            except IndexError:
                break
    """
)


@pytest.mark.slow
def test_contended_processes_print_nothing_on_stderr(postgres_url: str) -> None:
    """Four processes appending, popping and incrementing one key at once: exact counts,
    and not a line on stderr (psycopg warns there about pipelines it had to abort)."""

    class Busy(Store):
        hits: Mapping[str, int]
        queue: Deque[int]

    Busy(postgres_url).close()  # the tables, before the processes race to create them
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert (out, err) == ("", "")
    with Busy(postgres_url) as store:
        assert store.hits["shared"] == 1200
        assert len(store.queue) == len(list(store.queue)) == 0
