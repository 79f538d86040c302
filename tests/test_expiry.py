"""Expiring mappings and sets against a model with an injected clock.

Stateful machines run `ExpiringMapping`, `ExpiringOrderedMapping`, `ExpiringSet` and
`ExpiringOrderedSet` against a model that keeps every stored row with its expiry
time, while a fake clock moves forward; expired rows stay stored until a purge but
are absent for every operation. Nested transactions roll back against a snapshot of
the model. Example tests below pin the catalog, `Store.purge()` and the cost of
`len()`.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import catalog_options, query, query_plans
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from machines import RollbackError, StoreMachine, as_test_case, on_postgres

from tpstore import (
    ExpiringMapping,
    ExpiringOrderedMapping,
    ExpiringOrderedSet,
    ExpiringSet,
    Mapping,
    SchemaError,
    Set,
    Store,
    ValidationError,
    field,
)

FIELD_LIFESPAN = 4.0


class KeyedCache(Store):
    m: ExpiringMapping[int, int]  # no field lifespan: only per-item lifespans


class OrderedCache(Store):
    m: ExpiringOrderedMapping[str, int] = field(lifespan=FIELD_LIFESPAN)


class KeyedSeen(Store):
    m: ExpiringSet[int]


class OrderedSeen(Store):
    m: ExpiringOrderedSet[str] = field(lifespan=FIELD_LIFESPAN)


lifespans = st.none() | st.sampled_from([1.0, 2.5, 6.0])
steps = st.sampled_from([0.5, 1.0, 2.5, 4.0])


class Model:
    """Every stored row with its expiry time, in insertion order."""

    def __init__(self, key_ordered: bool, lifespan: float | None) -> None:
        self.key_ordered = key_ordered
        self.lifespan = lifespan
        self.rows: dict[Any, tuple[Any, float | None]] = {}
        self.now = 1000.0

    def copy(self) -> dict[Any, tuple[Any, float | None]]:
        return dict(self.rows)

    def live(self, key: Any) -> bool:
        if key not in self.rows:
            return False
        expires = self.rows[key][1]
        return expires is None or self.now < expires

    def keys(self) -> list[Any]:
        keys = [k for k in self.rows if self.live(k)]
        return sorted(keys) if self.key_ordered else keys

    def write(self, key: Any, value: Any, lifespan: float | None = None) -> None:
        """A write with `lifespan` (the field's when `None`) restarts the clock."""
        lifespan = self.lifespan if lifespan is None else lifespan
        if key in self.rows and not self.live(key):
            del self.rows[key]  # an expired key written again goes to the end
        self.rows[key] = (value, None if lifespan is None else self.now + lifespan)

    def delete(self, key: Any) -> None:
        del self.rows[key]

    def purge(self) -> int:
        expired = [k for k in self.rows if not self.live(k)]
        for key in expired:
            del self.rows[key]
        return len(expired)


class ExpiringMachine(StoreMachine):
    """What every expiring kind shares: the clock, touch, expires_at, purge.

    An in-memory store reads the model's clock. Transactions come from
    `StoreMachine`: the snapshot is a copy of the model's rows, the clock goes on.
    """

    store_class: type[Store] = KeyedCache
    key_ordered = True
    lifespan: float | None = None
    keys: st.SearchStrategy[Any] = st.integers(0, 4)
    wrong: st.SearchStrategy[Any] = st.sampled_from(["1", None, 1.5])
    model: Model

    def new_model(self) -> Model:
        return Model(self.key_ordered, self.lifespan)

    def snapshot(self) -> dict[Any, tuple[Any, float | None]]:
        return self.model.copy()

    def restore(self, snapshot: dict[Any, tuple[Any, float | None]]) -> None:
        self.model.rows = snapshot

    def _open(self) -> Store:
        return self.store_class(self.location(), clock=lambda: self.model.now)

    @property
    def m(self) -> Any:
        return self.store.m

    @invariant()
    def agrees_with_model(self) -> None:
        assert list(self.m) == self.model.keys()
        assert len(self.m) == len(self.model.keys())

    @rule(dt=steps)
    def advance_clock(self, dt: float) -> None:
        self.model.now += dt

    @rule(data=st.data())
    def contains(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        assert (key in self.m) == self.model.live(key)
        assert data.draw(self.wrong) not in self.m

    @rule()
    def reversed_order(self) -> None:
        assert list(reversed(self.m)) == self.model.keys()[::-1]

    @rule(data=st.data(), lifespan=lifespans)
    def touch(self, data: st.DataObject, lifespan: float | None) -> None:
        key = data.draw(self.keys)
        if not self.model.live(key):
            with pytest.raises(KeyError):
                self.m.touch(key, lifespan)
            return
        if lifespan is None:
            self.m.touch(key)
        else:
            self.m.touch(key, lifespan=lifespan)
        self.model.write(key, self.model.rows[key][0], lifespan)
        assert self.m.expires_at(key) == self.model.rows[key][1]

    @rule(data=st.data())
    def expires_at(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            assert self.m.expires_at(key) == self.model.rows[key][1]
        else:
            with pytest.raises(KeyError):
                self.m.expires_at(key)
        with pytest.raises(KeyError):
            self.m.expires_at(data.draw(self.wrong))

    @rule(through_store=st.booleans())
    def purge(self, through_store: bool) -> None:
        expected = self.model.purge()
        assert (self.store.purge() if through_store else self.m.purge()) == expected

    @rule()
    def clear(self) -> None:
        self.m.clear()
        self.model.rows.clear()


class ExpiringMappingMachine(ExpiringMachine):
    """`ExpiringMapping` (key order, per-item lifespans only) against the model."""

    values = st.integers(-2, 2)

    @rule()
    def values_and_items(self) -> None:
        keys = self.model.keys()
        assert list(self.m.values()) == [self.model.rows[k][0] for k in keys]
        assert list(self.m.items()) == [(k, self.model.rows[k][0]) for k in keys]

    @rule(data=st.data())
    def getitem_and_get(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            assert self.m[key] == self.model.rows[key][0]
            assert self.m.get(key) == self.model.rows[key][0]
        else:
            with pytest.raises(KeyError):
                self.m[key]
            assert self.m.get(key, "absent") == "absent"

    @rule(data=st.data())
    def get_many(self, data: st.DataObject) -> None:
        asked = data.draw(st.lists(self.keys, max_size=4))
        expected = {k: self.model.rows[k][0] for k in asked if self.model.live(k)}
        assert self.m.get_many(asked) == expected

    @rule(data=st.data(), value=values)
    def setitem(self, data: st.DataObject, value: int) -> None:
        key = data.draw(self.keys)
        self.m[key] = value
        self.model.write(key, value)

    @rule(data=st.data(), value=values, lifespan=lifespans)
    def set_with_lifespan(self, data: st.DataObject, value: int, lifespan: float | None) -> None:
        key = data.draw(self.keys)
        if lifespan is None:
            self.m.set(key, value)
        else:
            self.m.set(key, value, lifespan=lifespan)
        self.model.write(key, value, lifespan)
        assert self.m.expires_at(key) == self.model.rows[key][1]

    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        pairs = data.draw(st.lists(st.tuples(self.keys, self.values), max_size=4))
        self.m.update(pairs)
        for key, value in pairs:
            self.model.write(key, value)

    @rule(data=st.data())
    def invalid_write_changes_nothing(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        with pytest.raises(ValidationError):
            self.m[key] = "not an int"
        with pytest.raises(ValidationError):
            self.m.update([(key, 1), (key, None)])

    @rule(data=st.data())
    def delitem(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            del self.m[key]
            self.model.delete(key)
        else:
            with pytest.raises(KeyError):
                del self.m[key]

    @rule(data=st.data())
    def pop(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            assert self.m.pop(key) == self.model.rows[key][0]
            self.model.delete(key)
        else:
            assert self.m.pop(key, "absent") == "absent"

    @rule(last=st.booleans())
    def popitem_and_peekitem(self, last: bool) -> None:
        keys = self.model.keys()
        if not keys:
            with pytest.raises(KeyError):
                self.m.peekitem(last)
            with pytest.raises(KeyError):
                self.m.popitem(last)
            return
        key = keys[-1 if last else 0]
        expected = (key, self.model.rows[key][0])
        assert self.m.peekitem(last) == expected
        assert self.m.popitem(last) == expected
        self.model.delete(key)

    @rule(data=st.data(), value=values)
    def setdefault(self, data: st.DataObject, value: int) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            assert self.m.setdefault(key, value) == self.model.rows[key][0]
        else:
            assert self.m.setdefault(key, value) == value
            self.model.write(key, value)

    @rule(data=st.data())
    def increment(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        new = (self.model.rows[key][0] if self.model.live(key) else 0) + 1
        assert self.m.increment(key) == new
        self.model.write(key, new)

    @rule(data=st.data(), fail=st.booleans())
    def edit(self, data: st.DataObject, fail: bool) -> None:
        key = data.draw(self.keys)
        with contextlib.suppress(RollbackError), self.m.edit(key, default=0) as value:
            assert value == (self.model.rows[key][0] if self.model.live(key) else 0)
            if fail:
                raise RollbackError
        if not fail:
            self.model.write(key, value)


class InsertionOrdered:
    """Machine mixin: text keys in insertion order, with the field lifespan."""

    key_ordered = False
    lifespan = FIELD_LIFESPAN
    keys = st.sampled_from(["a", "b", "c", "d"])
    wrong = st.sampled_from([1, None, b"a"])


class ExpiringOrderedMappingMachine(InsertionOrdered, ExpiringMappingMachine):
    """`ExpiringOrderedMapping` (insertion order, field lifespan) against the model."""

    store_class = OrderedCache


class ExpiringSetMachine(ExpiringMachine):
    """`ExpiringSet` (ascending order, per-item lifespans only) against the model."""

    store_class = KeyedSeen

    @rule(data=st.data(), lifespan=lifespans)
    def add(self, data: st.DataObject, lifespan: float | None) -> None:
        key = data.draw(self.keys)
        if lifespan is None:
            self.m.add(key)
        else:
            self.m.add(key, lifespan=lifespan)
        self.model.write(key, None, lifespan)
        assert self.m.expires_at(key) == self.model.rows[key][1]

    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        groups = data.draw(st.lists(st.lists(self.keys, max_size=3), max_size=2))
        self.m.update(*groups)
        for group in groups:
            for key in group:
                self.model.write(key, None)

    @rule(data=st.data())
    def invalid_add_changes_nothing(self, data: st.DataObject) -> None:
        bad = data.draw(self.wrong)
        with pytest.raises(ValidationError):
            self.m.add(bad)
        with pytest.raises(ValidationError):
            self.m.update([data.draw(self.keys)], [bad])

    @rule(data=st.data())
    def discard_and_remove(self, data: st.DataObject) -> None:
        key = data.draw(self.keys)
        if self.model.live(key):
            self.m.remove(key)
            self.model.delete(key)
        else:
            with pytest.raises(KeyError):
                self.m.remove(key)
            self.m.discard(key)  # an expired row stays stored until purged

    @rule()
    def pop(self) -> None:
        keys = self.model.keys()
        if not keys:
            with pytest.raises(KeyError):
                self.m.pop()
            return
        assert self.m.pop() == keys[0]
        self.model.delete(keys[0])

    @rule(data=st.data())
    def operators(self, data: st.DataObject) -> None:
        other = data.draw(st.sets(self.keys, max_size=3))
        live = set(self.model.keys())
        assert self.m & other == live & other
        assert other - self.m == other - live
        assert self.m == live
        assert self.m.isdisjoint(other) == live.isdisjoint(other)


class ExpiringOrderedSetMachine(InsertionOrdered, ExpiringSetMachine):
    """`ExpiringOrderedSet`: an expired element added again goes to the end."""

    store_class = OrderedSeen


TestExpiringMapping = as_test_case(ExpiringMappingMachine, stateful_step_count=40)
TestExpiringOrderedMapping = as_test_case(ExpiringOrderedMappingMachine, stateful_step_count=40)
TestExpiringSet = as_test_case(ExpiringSetMachine, stateful_step_count=40)
TestExpiringOrderedSet = as_test_case(ExpiringOrderedSetMachine, stateful_step_count=40)
TestExpiringMappingOnPostgres = on_postgres(
    ExpiringMappingMachine, stateful_step_count=30, max_examples=20
)
TestExpiringOrderedMappingOnPostgres = on_postgres(
    ExpiringOrderedMappingMachine, stateful_step_count=30, max_examples=20
)
TestExpiringSetOnPostgres = on_postgres(ExpiringSetMachine, stateful_step_count=30, max_examples=20)
TestExpiringOrderedSetOnPostgres = on_postgres(
    ExpiringOrderedSetMachine, stateful_step_count=30, max_examples=20
)


# -- example tests ------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Everything(Store):
    sessions: ExpiringMapping[str, int] = field(lifespan=10)
    recent: ExpiringOrderedMapping[str, int] = field(lifespan=10)
    ips: ExpiringSet[str] = field(lifespan=10)
    visits: ExpiringOrderedSet[str] = field(lifespan=10)
    plain: Mapping[str, int]
    tags: Set[str]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_item_lives_until_written_plus_lifespan(location: str | None, clock: Clock) -> None:
    """Live while `clock() < t + L`, expired from `t + L` on."""
    with Everything(location, clock=clock) as store:
        store.ips.add("a")
        store.sessions["a"] = 1
        clock.now += 9.999
        assert "a" in store.ips
        assert "a" in store.sessions
        clock.now = 1_000_010.0
        assert "a" not in store.ips
        assert "a" not in store.sessions


def test_store_purge_covers_every_expiring_collection(location: str | None, clock: Clock) -> None:
    with Everything(location, clock=clock) as store:
        store.sessions["a"] = 1
        store.recent["a"] = 1
        store.ips.update(["a", "b"])
        store.visits.add("a")
        store.visits.add("b", lifespan=100)
        store.plain["a"] = 1
        store.tags.add("a")
        clock.now += 20
        assert store.purge() == 5
        assert store.purge() == 0
        assert list(store.visits) == ["b"]
        assert store.plain == {"a": 1}
        assert store.tags == {"a"}


def test_expired_items_are_absent_before_any_purge(location: str | None, clock: Clock) -> None:
    with Everything(location, clock=clock) as store:
        store.sessions.update({"a": 1, "b": 2})
        store.ips.update(["a", "b"])
        store.sessions.set("b", 3, lifespan=100)
        store.ips.add("b", lifespan=100)
        clock.now += 50
        assert len(store.sessions) == 1
        assert list(store.sessions.items()) == [("b", 3)]
        assert store.sessions.get("a") is None
        assert store.sessions.setdefault("a", 7) == 7
        assert store.sessions.pop("a") == 7
        assert list(store.ips) == ["b"]
        assert len(store.ips) == 1
        assert store.ips == {"b"}
        with pytest.raises(KeyError):
            store.ips.remove("a")
        with pytest.raises(KeyError):
            store.ips.touch("a")
        raw = store._engine.driver.raw()
        assert raw.execute('SELECT count(*) FROM "ips"').fetchone()[0] == 2  # not purged


def test_re_adding_an_expired_element_puts_it_at_the_end(clock: Clock) -> None:
    with Everything(None, clock=clock) as store:
        store.visits.add("a", lifespan=1)
        store.visits.update(["b", "c"])
        store.visits.add("a")  # live: keeps its place
        assert list(store.visits) == ["a", "b", "c"]
        store.visits.add("b", lifespan=1)
        clock.now += 5
        store.visits.add("b")  # expired: goes to the end
        assert list(store.visits) == ["a", "c", "b"]


def test_expires_at_and_touch(clock: Clock) -> None:
    class Never(Store):
        s: ExpiringSet[str]

    with Never(None, clock=clock) as store:
        store.s.add("forever")
        store.s.add("soon", lifespan=5)
        assert store.s.expires_at("forever") is None
        assert store.s.expires_at("soon") == clock.now + 5
        clock.now += 4
        store.s.touch("soon", 5)
        assert store.s.expires_at("soon") == clock.now + 5
        store.s.touch("soon")  # without a field lifespan: never expires again
        assert store.s.expires_at("soon") is None
        with pytest.raises(KeyError):
            store.s.expires_at("absent")
        with pytest.raises(ValueError, match="lifespan"):
            store.s.add("x", lifespan=0)
        with pytest.raises(ValueError, match="lifespan"):
            store.s.touch("soon", -1)


def test_len_with_expiry_reads_only_the_expiry_index(clock: Clock) -> None:
    """`len()` never scans the table: expired rows are counted through the index."""
    with Everything(None, clock=clock) as store:
        store.ips.update(str(i) for i in range(200))

        def count() -> None:
            assert len(store.ips) == 200

        plans = query_plans(store, count)
        assert any("expires" in line for line in plans)
        assert not [line for line in plans if line.startswith("SCAN")]


def test_catalog_records_lifespan_and_the_next_write_updates_it(
    db_path: Path, clock: Clock
) -> None:
    class Short(Store):
        s: ExpiringSet[str] = field(lifespan=5)

    class Long(Store):
        s: ExpiringSet[str] = field(lifespan=50)

    with Short(db_path, clock=clock) as store:
        store.s.add("a")
    assert catalog_options(db_path, "s") == {"lifespan": 5.0}
    with Long(db_path, clock=clock) as store:
        assert catalog_options(db_path, "s") == {"lifespan": 5.0}  # opening records nothing
        assert store.s.expires_at("a") == clock.now + 5  # written under the old lifespan
        store.s.add("b")
        assert store.s.expires_at("b") == clock.now + 50
        assert catalog_options(db_path, "s") == {"lifespan": 50.0}


def test_lifespan_only_on_expiring_kinds() -> None:
    with pytest.raises(SchemaError, match="lifespan"):

        class Bad(Store):
            s: Set[str] = field(lifespan=5)

    with pytest.raises(SchemaError, match="lifespan"):

        class Worse(Store):
            s: ExpiringSet[str] = field(lifespan=-5)


def test_an_infinite_lifespan_never_expires(db_path: Path, clock: Clock) -> None:
    """`lifespan=math.inf` per item: no expiry time (`None`, stored as NULL, dumped as null)."""
    with Everything(db_path, clock=clock) as store:
        store.sessions.set("forever", 1, lifespan=math.inf)
        store.sessions.set("touched", 2)
        store.sessions.touch("touched", math.inf)
        store.ips.add("pinned", lifespan=math.inf)
        store.visits.add("pinned", lifespan=math.inf)
        store.recent.set("forever", 3, lifespan=math.inf)
        for collection, key in (
            (store.sessions, "forever"),
            (store.sessions, "touched"),
            (store.ips, "pinned"),
            (store.visits, "pinned"),
            (store.recent, "forever"),
        ):
            assert collection.expires_at(key) is None
        clock.now += 1e12
        assert store.purge() == 0
        assert dict(store.sessions) == {"forever": 1, "touched": 2}
        assert "pinned" in store.ips
    assert query(db_path, 'SELECT key, expires FROM "sessions" ORDER BY key') == [
        ("forever", None),
        ("touched", None),
    ]
    dump = subprocess.run(
        [sys.executable, "-m", "tpstore", "dump", str(db_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = [json.loads(line) for line in dump.stdout.splitlines()]
    assert [r["expires_at"] for r in rows if r["collection"] == "sessions"] == [None, None]
