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
    with NoHook(db_path) as new, pytest.raises(CorruptValueError) as caught:
        new.users["ada"]
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

    class Sloppy(Store):
        queue: Sequence[UserV2] = field(table="queue", migrate=lambda data: {"first": 1})

    with Sloppy(db_path) as store:
        with pytest.raises(CorruptValueError) as caught:
            store.queue[1]
        assert caught.value.key == 1
        with pytest.raises(CorruptValueError) as caught:
            store.queue.migrate()
        assert caught.value.key == 0


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
    assert seen == [UserV1, dict]


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
