"""Edge cases across every collection kind: closed stores, read-only stores, names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tpstore import (
    ClosedError,
    Deque,
    ExpiringMapping,
    ExpiringOrderedSet,
    Mapping,
    OrderedMapping,
    ReadOnlyError,
    SchemaError,
    Sequence,
    Set,
    Store,
    Value,
    field,
)


class Everything(Store):
    m: Mapping[str, int]
    om: OrderedMapping[str, int]
    em: ExpiringMapping[str, int]
    s: Set[int]
    eos: ExpiringOrderedSet[int]
    q: Sequence[int]
    d: Deque[int]
    v: Value[int]


def _fill(app: Everything) -> None:
    app.m.update({"a": 1, "b": 2, "c": 3})
    app.om.update({"a": 1, "b": 2, "c": 3})
    app.em.update({"a": 1, "b": 2})
    app.s.update([1, 2, 3])
    app.eos.update([1, 2, 3])
    app.q.extend([1, 2, 3])
    app.d.extend([1, 2, 3])
    app.v.set(1)


Op = Callable[[Everything], Any]

# Writes, including those that would change nothing: in mode="ro" (and on a closed
# store) each must refuse, whatever its arguments, as a closed file refuses `write("")`.
WRITES: dict[str, Op] = {
    "mapping update nothing": lambda a: a.m.update({}),
    "mapping delete wrong-typed key": lambda a: a.m.__delitem__(5),  # type: ignore[arg-type]
    "mapping pop wrong-typed key": lambda a: a.m.pop(5, None),  # type: ignore[arg-type]
    "expiring touch wrong-typed key": lambda a: a.em.touch(5),
    "set update nothing": lambda a: a.s.update(),
    "set discard wrong-typed": lambda a: a.s.discard("x"),  # type: ignore[arg-type]
    "set remove wrong-typed": lambda a: a.s.remove("x"),  # type: ignore[arg-type]
    "sequence extend nothing": lambda a: a.q.extend([]),
    "deque extend nothing": lambda a: a.d.extend([]),
    "deque extendleft nothing": lambda a: a.d.extendleft([]),
}

READS: dict[str, Op] = {
    "mapping contains wrong-typed key": lambda a: 5 in a.m,
    "mapping get wrong-typed key": lambda a: a.m.get(5),  # type: ignore[call-overload]
    "mapping getitem wrong-typed key": lambda a: a.m[5],  # type: ignore[index]
    "mapping get_many nothing": lambda a: a.m.get_many([]),
    "mapping get_many wrong-typed": lambda a: a.m.get_many([5]),  # type: ignore[list-item]
    "expiring expires_at wrong-typed key": lambda a: a.em.expires_at(5),
    "set contains wrong-typed": lambda a: "x" in a.s,
    "set isdisjoint nothing": lambda a: a.s.isdisjoint([]),
    "set and nothing": lambda a: a.s & set(),
}


@pytest.mark.parametrize("op", [*WRITES.values(), *READS.values()], ids=[*WRITES, *READS])
def test_every_operation_on_a_closed_store_raises_closed_error(
    location: str | None, op: Op
) -> None:
    """Even operations that need no query (a wrong-typed key, nothing to write)."""
    app = Everything(location)
    _fill(app)
    app.close()
    with pytest.raises(ClosedError):
        op(app)


@pytest.mark.parametrize("op", list(WRITES.values()), ids=list(WRITES))
def test_every_write_on_a_read_only_store_raises_read_only_error(tmp_path: Path, op: Op) -> None:
    """Writes that would change nothing are refused in mode="ro" all the same."""
    path = tmp_path / "store.db"
    with Everything(path) as app:
        _fill(app)
    with Everything(path, mode="ro") as app, pytest.raises(ReadOnlyError):
        op(app)


@pytest.mark.parametrize("op", list(WRITES.values()), ids=list(WRITES))
def test_every_write_in_a_readonly_transaction_raises_read_only_error(
    location: str | None, op: Op
) -> None:
    """Inside `transaction(readonly=True)` too."""
    with Everything(location) as app:
        _fill(app)
        with app.transaction(readonly=True), pytest.raises(ReadOnlyError):
            op(app)


def _iterators(app: Everything) -> dict[str, Iterator[Any]]:
    return {
        "mapping": iter(app.m),
        "items": iter(app.m.items()),
        "values": iter(app.m.values()),
        "reversed mapping": reversed(app.m),
        "ordered": iter(app.om),
        "range": app.m.range("a"),
        "set": iter(app.s),
        "sequence": iter(app.q),
        "reversed sequence": reversed(app.q),
        "deque": iter(app.d),
    }


@pytest.mark.parametrize("name", list(_iterators(Everything(None))))
def test_iteration_started_before_close_raises_closed_error(
    location: str | None, name: str
) -> None:
    """An iterator does not go on yielding rows it fetched before the store closed."""
    app = Everything(location)
    _fill(app)
    iterator = _iterators(app)[name]
    next(iterator)
    app.close()
    with pytest.raises(ClosedError):
        next(iterator)


def test_closing_inside_a_transaction_raises_closed_error_at_its_end(location: str | None) -> None:
    """The commit that cannot happen any more says the store is closed."""
    app = Everything(location)
    with pytest.raises(ClosedError), app.transaction():  # noqa: PT012
        app.m["a"] = 1
        app.close()


def test_a_table_name_with_a_dot_is_refused_at_class_creation() -> None:
    """It would collide with a namespaced table ("t1" + "x" is "t1.x")."""
    with pytest.raises(SchemaError, match=r"Dotted\.m.*'\.'"):

        class Dotted(Store):
            m: Mapping[str, int] = field(table="t1.x")


def test_table_names_that_differ_only_in_case_are_refused_at_class_creation() -> None:
    """SQLite's table names ignore ASCII case: "Tab" and "tab" are one table."""
    with pytest.raises(SchemaError, match=r"Cased\.b.*already used by field 'a'"):

        class Cased(Store):
            a: Mapping[str, int] = field(table="Tab")
            b: Mapping[str, int] = field(table="tab")


def test_namespaced_store_keeps_its_tables_apart_from_an_undotted_store(
    shared_location: str,
) -> None:
    """Namespace t1's table x and a plain store's table x live side by side."""

    class Plain(Store):
        x: Mapping[str, int]

    path = shared_location
    with Plain(path, namespace="t1") as spaced, Plain(path) as plain:
        spaced.x["a"] = 1
        assert "a" not in plain.x


def test_a_table_name_with_a_slash_is_refused_at_class_creation() -> None:
    """tpstore names a table's indexes and triggers "{table}/..."; a slash could collide."""
    with pytest.raises(SchemaError, match=r"Slashed\.m.*'/'"):

        class Slashed(Store):
            m: Mapping[str, int] = field(table="x/expires")


def test_namespaces_that_differ_only_in_case_are_refused_with_schema_error(
    shared_location: str,
) -> None:
    """Namespaces "T1" and "t1" would name one table; the second open says so clearly."""

    class Plain(Store):
        x: Mapping[str, int]

    path = shared_location
    with Plain(path, namespace="T1") as first:
        first.x["a"] = 1
        with pytest.raises(SchemaError, match="did not create"):
            Plain(path, namespace="t1")
        assert dict(first.x) == {"a": 1}


def test_deque_in_place_add_extends_it(location: str | None) -> None:
    """`d += items` extends a Deque, as it does a collections.deque."""
    with Everything(location) as app:
        app.d.append(1)
        app.d += [2, 3]
        assert list(app.d) == [1, 2, 3]
