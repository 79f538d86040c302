"""The contract every backend's driver and dialect meet (tpstore/_backends/base.py).

Each test runs on every backend the `location` fixture offers (an SQLite file, an
in-memory SQLite store, and PostgreSQL when a server is configured), through the
backend-neutral `Engine` only: transaction verbs and savepoints, sessions, error
translation, identifier rules, and the one-writer guarantee with real processes.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tpstore import (
    BusyError,
    ClosedError,
    Mapping,
    ReadOnlyError,
    SchemaError,
    Store,
    TpStoreError,
)
from tpstore._backends import backend_name
from tpstore._engine import Engine


class Counters(Store):
    hits: Mapping[str, int]


@pytest.fixture
def store(location: str | None) -> Iterator[Counters]:
    """A store with one mapping, on each backend."""
    with Counters(location) as opened:
        yield opened


def _get(store: Counters, key: str) -> int | None:
    """Read one counter through the engine and the mapping's own statement."""
    row = store._engine.fetchone(store.hits._sql.get, (key,))
    return None if row is None else int(row[0])


def _put(store: Counters, key: str, value: int) -> None:
    store._engine.write(store.hits._sql.upsert, (key, value))


def _fail_in_a_level(store: Counters, *keys: str) -> None:
    """Open a level, write `keys` (each one level deeper), then raise RuntimeError."""
    with store._engine.transaction():
        _put(store, keys[0], 1)
        if len(keys) > 1:
            with store._engine.transaction():
                _put(store, keys[1], 1)
        raise RuntimeError


# -- transaction verbs -------------------------------------------------------------------


def test_commit_keeps_and_rollback_drops_the_outermost_level(store: Counters) -> None:
    """begin/commit and begin/rollback, through Engine.transaction()."""
    engine = store._engine
    with engine.transaction():
        _put(store, "kept", 1)
    with pytest.raises(RuntimeError):
        _fail_in_a_level(store, "dropped")
    assert (_get(store, "kept"), _get(store, "dropped")) == (1, None)


def test_a_savepoint_rolls_back_only_its_level(store: Counters) -> None:
    """Nested levels are savepoints: an inner rollback keeps the outer work."""
    engine = store._engine
    with engine.transaction():
        _put(store, "outer", 1)
        with pytest.raises(RuntimeError):
            _fail_in_a_level(store, "inner", "innermost")
        assert engine.in_transaction
        with engine.transaction():
            _put(store, "second", 2)
    assert not engine.in_transaction
    values = {k: _get(store, k) for k in ("outer", "inner", "innermost", "second")}
    assert values == {"outer": 1, "inner": None, "innermost": None, "second": 2}


def test_a_readonly_level_refuses_writes_and_writing_levels(store: Counters) -> None:
    """ReadOnlyError for a write, and for a writing level, inside transaction(readonly=True)."""
    engine = store._engine
    _put(store, "a", 1)
    with engine.transaction(readonly=True):
        assert _get(store, "a") == 1
        with pytest.raises(ReadOnlyError):
            _put(store, "a", 2)
        with pytest.raises(ReadOnlyError), engine.transaction():
            pass  # pragma: no cover - refused on entry
    assert _get(store, "a") == 1


def test_uncommitted_writes_are_invisible_to_another_thread(store: Counters) -> None:
    """A transaction belongs to its thread: another thread reads the last commit."""
    if store._engine.memory:
        pytest.skip("an in-memory store serialises its threads")
    seen: list[int | None] = []
    _put(store, "a", 1)
    with store._engine.transaction():
        _put(store, "a", 2)
        reader = threading.Thread(target=lambda: seen.append(_get(store, "a")))
        reader.start()
        reader.join()
    assert seen == [1]
    assert _get(store, "a") == 2


# -- error translation -------------------------------------------------------------------


def test_a_constraint_failure_is_a_tpstore_error(store: Counters) -> None:
    """A statement the database refuses raises a tpstore error, never the driver's."""
    catalog = store._engine.dialect.catalog("main")
    row = ("hits", "Mapping", None, None, None, None, None, None, "{}", 1)
    with pytest.raises(TpStoreError) as caught:
        store._engine.write(catalog.insert, row)  # the name is taken: UNIQUE
    assert type(caught.value).__module__ == "tpstore.errors"
    assert store._engine.fetchone(catalog.id_of, ("hits",)) is not None


def test_a_failed_statement_inside_a_transaction_leaves_it_usable(store: Counters) -> None:
    """The refused statement fails alone; the transaction goes on and commits."""
    catalog = store._engine.dialect.catalog("main")
    row = ("hits", "Mapping", None, None, None, None, None, None, "{}", 1)
    with store._engine.transaction():
        _put(store, "before", 1)
        with pytest.raises(TpStoreError), store._engine.atomic():
            store._engine.write(catalog.insert, row)
        _put(store, "after", 2)
    assert (_get(store, "before"), _get(store, "after")) == (1, 2)


def test_statements_after_close_raise_closed_error(store: Counters) -> None:
    """ClosedError for every statement and transaction after close()."""
    engine = store._engine
    engine.close()
    with pytest.raises(ClosedError):
        _get(store, "a")
    with pytest.raises(ClosedError):
        _put(store, "a", 1)
    with pytest.raises(ClosedError), engine.transaction():
        pass  # pragma: no cover - refused on entry


def test_a_read_only_store_refuses_writes(location: str | None) -> None:
    """mode="ro": a write raises ReadOnlyError (SQLite needs the file to exist first)."""
    if location is None:
        pytest.skip("an in-memory store cannot be opened read-only")
    Counters(location).close()
    with Counters(location, mode="ro") as store:
        with pytest.raises(ReadOnlyError):
            _put(store, "a", 1)
        with pytest.raises(ReadOnlyError), store._engine.transaction():
            pass  # pragma: no cover - refused on entry


def test_a_writer_waiting_past_the_timeout_gets_busy_error(location: str | None) -> None:
    """Another session holding the write lock: a write waits `timeout`, then BusyError."""
    with Counters(location, timeout=0.2) as store:
        holding = threading.Event()
        done = threading.Event()

        def hold_the_lock() -> None:
            with store._engine.transaction():
                _put(store, "held", 1)
                holding.set()
                done.wait(10)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert holding.wait(10)
        try:
            with pytest.raises(BusyError):
                _put(store, "other", 1)
        finally:
            done.set()
            holder.join()
        _put(store, "other", 2)  # the lock was released: writing works again
        assert _get(store, "other") == 2


# -- identifier rules --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sqlite_x", "SQLITE_x", "_tpstore_x"])
def test_reserved_table_names_are_refused_on_every_backend(name: str) -> None:
    """A declaration must open on every backend, so any backend's reserved names fail."""
    from tpstore import field

    with pytest.raises(SchemaError, match="reserved"):
        type("Bad", (Store,), {"__annotations__": {"m": Mapping[str, int]}, "m": field(table=name)})


def test_odd_identifiers_are_quoted(location: str | None) -> None:
    """Table and namespace names with quotes, spaces and dots-free punctuation work."""
    from tpstore import field

    class Odd(Store):
        m: Mapping[str, int] = field(table='we"ird na-me')

    with Odd(location, namespace="t 'x'") as odd:
        odd.m["a"] = 1
        assert odd.m["a"] == 1


# -- backend selection --------------------------------------------------------------------


def test_locations_select_their_backend() -> None:
    """File paths and None are SQLite's; postgresql:// and postgres:// URLs are not."""
    assert backend_name(None) == "sqlite"
    assert backend_name("x.db") == "sqlite"
    assert backend_name("dir/with://in/it") == "sqlite"
    assert backend_name("postgresql://u@h/db") == "postgresql"
    assert backend_name("Postgres://u@h/db") == "postgresql"


def test_an_engine_opens_without_a_store_class(tmp_path: Path) -> None:
    """Tools (the command line) run statements on an Engine alone."""
    engine = Engine(str(tmp_path / "x.db"))
    try:
        assert engine.fetchone(engine.dialect.catalog("main").has_catalog) is not None
    finally:
        engine.close()


# -- the one-writer guarantee ------------------------------------------------------------


def _read_modify_write(location: str, rounds: int) -> None:  # pragma: no cover - child
    with Counters(location) as store:
        for _ in range(rounds):
            with store._engine.atomic():
                value = _get(store, "n") or 0
                _put(store, "n", value + 1)


@pytest.mark.slow
def test_read_modify_writes_in_atomic_blocks_lose_no_update(location: str | None) -> None:
    """4 processes x 100 reads-then-writes in Engine.atomic(): exactly 400."""
    if location is None:
        pytest.skip("an in-memory store lives in one process")
    Counters(location).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_read_modify_write, args=(location, 100)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with Counters(location) as store:
        assert _get(store, "n") == 400
