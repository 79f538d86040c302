"""Upgrade hooks (DESIGN.md §6): `field(migrate=fn)`, `collection.migrate()`, `Store.migrate()`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import query
from pydantic import BaseModel

from tpstore import (
    CorruptValueError,
    Mapping,
    SchemaError,
    Sequence,
    Set,
    Store,
    Value,
    field,
)


class UserV1(BaseModel):
    name: str
    age: int = 0


class UserV2(BaseModel):
    first: str
    last: str
    age: int = 0


def split_name(data: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2: `name` split into `first` and `last`."""
    first, _, last = data.pop("name").partition(" ")
    return {**data, "first": first, "last": last}


class Old(Store):
    users: Mapping[str, UserV1] = field(table="users")
    queue: Sequence[UserV1] = field(table="queue")
    me: Value[UserV1] = field(table="me")


class New(Store):
    users: Mapping[str, UserV2] = field(table="users", migrate=split_name)
    queue: Sequence[UserV2] = field(table="queue", migrate=split_name)
    me: Value[UserV2] = field(table="me", migrate=split_name)


class NoHook(Store):
    users: Mapping[str, UserV2] = field(table="users")


def _fill(path: Path) -> None:
    with Old(path) as old:
        old.users["ada"] = UserV1(name="Ada Lovelace", age=36)
        old.users["bob"] = UserV1(name="Bob", age=1)
        old.queue.extend([UserV1(name="Cy Young"), UserV1(name="Di Ng")])
        old.me.set(UserV1(name="Me Myself"))


def _raw(path: Path, table: str) -> list[tuple[Any, ...]]:
    return query(path, f'SELECT * FROM "{table}" ORDER BY 1')


def test_reads_upgrade_old_values_without_writing(db_path: Path) -> None:
    """A value that does not validate is upgraded by the hook on read; nothing is written."""
    _fill(db_path)
    before = {table: _raw(db_path, table) for table in ("users", "queue", "me")}
    with New(db_path) as new:
        assert new.users["ada"] == UserV2(first="Ada", last="Lovelace", age=36)
        assert dict(new.users)["bob"] == UserV2(first="Bob", last="", age=1)
        assert list(new.queue) == [UserV2(first="Cy", last="Young"), UserV2(first="Di", last="Ng")]
        assert new.me.get() == UserV2(first="Me", last="Myself")
    assert {table: _raw(db_path, table) for table in before} == before


def test_without_a_hook_old_values_are_corrupt(db_path: Path) -> None:
    """No hook: an old value missing a new required field is a CorruptValueError."""
    _fill(db_path)
    with New(db_path) as new:
        new.users["zed"] = UserV2(first="Zed", last="Z")  # one current value: opens
    with NoHook(db_path) as plain, pytest.raises(CorruptValueError) as caught:
        plain.users["ada"]
    assert caught.value.key == "ada"


def test_collection_migrate_rewrites_what_needs_it(db_path: Path) -> None:
    """migrate() rewrites the old values, returns how many, and a second run finds none."""
    _fill(db_path)
    with New(db_path) as new:
        new.users["cat"] = UserV2(first="Cat", last="Stevens")  # current: left alone
        assert new.users.migrate() == 2
        assert new.users.migrate() == 0
        assert new.users["ada"] == UserV2(first="Ada", last="Lovelace", age=36)
    stored = dict(_raw(db_path, "users"))
    assert '"first":"Ada"' in stored["ada"]
    assert "name" not in stored["ada"]
    with NoHook(db_path) as plain:  # readable without the hook from now on
        assert plain.users["bob"] == UserV2(first="Bob", last="", age=1)


def test_store_migrate_does_every_collection_with_a_hook(db_path: Path) -> None:
    """Store.migrate() sums the rewrites of every collection, in one transaction."""
    _fill(db_path)
    with New(db_path) as new:
        assert new.migrate() == 2 + 2 + 1
        assert new.migrate() == 0
        assert new.queue[1] == UserV2(first="Di", last="Ng")


def test_amigrate_twins(db_path: Path) -> None:
    """The asyncio twins of Store.migrate() and collection.migrate()."""
    _fill(db_path)

    async def run() -> tuple[int, int]:
        async with New(db_path) as new:
            return await new.queue.amigrate(), await new.amigrate()

    assert asyncio.run(run()) == (2, 3)


def _breaks_on_bob(data: dict[str, Any]) -> dict[str, Any]:
    if data["name"] == "Bob":
        raise KeyError("no last name for Bob")
    return split_name(data)


def test_a_failing_hook_is_corrupt_and_migrate_writes_nothing(db_path: Path) -> None:
    """A hook that raises: CorruptValueError naming the key, its error as the cause."""
    _fill(db_path)

    class Failing(Store):
        users: Mapping[str, UserV2] = field(table="users", migrate=_breaks_on_bob)

    before = _raw(db_path, "users")
    with Failing(db_path) as store:
        assert store.users["ada"].first == "Ada"
        with pytest.raises(CorruptValueError) as caught:
            store.users["bob"]
        assert caught.value.key == "bob"
        assert isinstance(caught.value.__cause__, KeyError)
        with pytest.raises(CorruptValueError) as caught:
            store.users.migrate()
        assert caught.value.key == "bob"
        assert isinstance(caught.value.__cause__, KeyError)
    assert _raw(db_path, "users") == before


def test_a_hook_result_that_does_not_validate_is_corrupt(db_path: Path) -> None:
    """What the hook returns is validated as the declared type."""
    _fill(db_path)

    def sloppy(data: dict[str, Any]) -> dict[str, Any]:
        return split_name(data) if data["name"] == "Cy Young" else {"first": 1}

    class Sloppy(Store):
        queue: Sequence[UserV2] = field(table="queue", migrate=sloppy)

    with Sloppy(db_path) as store:
        with pytest.raises(CorruptValueError) as caught:
            store.queue[1]
        assert caught.value.key == 1
        with pytest.raises(CorruptValueError) as caught:
            store.queue.migrate()
        assert caught.value.key == 1
        assert store.queue[0] == UserV2(first="Cy", last="Young")


def test_hooks_get_what_the_codec_decodes(db_path: Path) -> None:
    """Through pickle the hook gets the unpickled object; through JSON, plain data."""
    seen: list[Any] = []

    def upgrade(data: Any) -> Any:
        seen.append(type(data))
        if isinstance(data, UserV1):
            data = data.model_dump()
        return split_name(data)

    class Pickled(Store):
        users: Mapping[str, UserV1] = field(table="pickled", codec="pickle")

    class Upgraded(Store):
        users: Mapping[str, UserV2] = field(table="pickled", codec="pickle", migrate=upgrade)
        json_users: Mapping[str, UserV2] = field(table="users", migrate=upgrade)

    _fill(db_path)
    with Pickled(db_path) as old:
        old.users["ada"] = UserV1(name="Ada Lovelace")
    with Upgraded(db_path) as new:
        assert new.users["ada"] == UserV2(first="Ada", last="Lovelace")
        assert new.json_users["ada"] == UserV2(first="Ada", last="Lovelace", age=36)
    assert set(seen) == {UserV1, dict}


@pytest.mark.parametrize(
    ("annotation", "options", "message"),
    [
        (Set[str], {"migrate": split_name}, "no values to upgrade"),
        (Mapping[str, int], {"migrate": "not callable"}, "must be callable"),
    ],
)
def test_migrate_is_refused_where_it_cannot_work(
    annotation: Any, options: dict[str, Any], message: str
) -> None:
    """A hook on a kind without values, or one that is not callable: SchemaError."""
    with pytest.raises(SchemaError, match=message):
        type("Bad", (Store,), {"__annotations__": {"x": annotation}, "x": field(**options)})


# -- the wrong class is caught when a store is opened ------------------------------------


class Order(BaseModel):
    sku: str
    quantity: int


class UserV1Plus(BaseModel):
    name: str
    age: int = 0
    email: str | None = None  # gained an optional field


def _file_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("wrong", [Order, dict[str, int]], ids=["Order", "dict"])
def test_opening_with_the_wrong_class_is_refused_and_changes_nothing(
    db_path: Path, wrong: Any
) -> None:
    """None of the sampled values validates: SchemaError naming both schemas; file unchanged."""
    _fill(db_path)
    before = _file_bytes(db_path)
    oops = type(
        "Oops",
        (Store,),
        {"__annotations__": {"users": Mapping[str, wrong]}, "users": field(table="users")},
    )
    with pytest.raises(SchemaError, match=r"Oops\.users") as caught:
        oops(db_path)
    message = str(caught.value)
    assert "UserV1" in message
    assert "Order" in message if wrong is Order else "object" in message
    assert "first problem" in message
    assert _file_bytes(db_path) == before
    with Old(db_path) as old:  # the right class still opens and reads everything
        assert old.users["ada"].name == "Ada Lovelace"


def test_a_compatible_model_change_opens(db_path: Path) -> None:
    """A model that gained an optional field opens as before."""
    _fill(db_path)

    class Grown(Store):
        users: Mapping[str, UserV1Plus] = field(table="users")

    with Grown(db_path) as grown:
        assert grown.users["ada"] == UserV1Plus(name="Ada Lovelace", age=36)


def test_a_hook_that_upgrades_the_sample_lets_the_store_open(db_path: Path) -> None:
    """The sample is validated after migrate: a class with an upgrading hook opens."""
    _fill(db_path)
    with New(db_path) as new:
        assert len(new.users) == 2


def test_an_empty_collection_opens_with_any_model(db_path: Path) -> None:
    """With no stored values there is nothing to contradict the declaration."""
    with Old(db_path) as old:
        old.users["x"] = UserV1(name="x")
        del old.users["x"]

    class Other(Store):
        users: Mapping[str, Order] = field(table="users")

    with Other(db_path) as other:
        assert len(other.users) == 0


def test_one_valid_value_in_the_sample_is_enough(db_path: Path) -> None:
    """Only when none of the sampled values validates is the class refused."""

    class Loose(Store):
        users: Mapping[str, dict[str, Any]] = field(table="users")

    with Loose(db_path) as loose:
        for index in range(20):
            loose.users[f"k{index:02}"] = {"sku": "x"}
        loose.users["k10"] = {"sku": "a", "quantity": 1}

    class Strict(Store):
        users: Mapping[str, Order] = field(table="users")

    with pytest.raises(SchemaError):  # k10 is in the middle: not sampled
        Strict(db_path)
    with Loose(db_path) as loose:
        loose.users["k19"] = {"sku": "b", "quantity": 2}
    with Strict(db_path) as strict:
        assert strict.users["k19"] == Order(sku="b", quantity=2)
