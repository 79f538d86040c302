"""Schema history in the catalog (DESIGN.md §6).

The catalog keeps every key and value schema each collection has had, in order, with
the time each was first recorded. A changed declaration is recorded by its first write
(inside that write's transaction), never by opening; the one write an open makes is
the upgrade of a file made before the history existed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from postgres_server import is_postgres
from pydantic import BaseModel, Field, StringConstraints

from tpstore import Deque, Mapping, Sequence, Set, Store, ValidationError, Value, field
from tpstore._catalog import Entry, history, read
from tpstore._engine import Engine


class UserV1(BaseModel):
    name: str


class UserV2(BaseModel):
    name: str
    email: str | None = None  # gained an optional field: the file opens as before


class UserV3(BaseModel):
    name: str
    email: str | None = None
    age: int = 0


class UserWithEmail(BaseModel):
    name: str
    email: str  # required: old values need the migrate hook


Short = Annotated[str, StringConstraints(max_length=20)]


class AppV1(Store):
    users: Mapping[str, UserV1] = field(table="users")
    tags: Set[str] = field(table="tags")
    log: Sequence[UserV1] = field(table="log")
    jobs: Deque[UserV1] = field(table="jobs", maxlen=10)
    me: Value[UserV1] = field(table="me")
    hits: Mapping[str, int] = field(table="hits")


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "email": data.get("email") or "unknown"}


class AppV2(Store):
    """Every collection of `AppV1` with a changed schema (or, `jobs`, options)."""

    users: Mapping[str, UserWithEmail] = field(table="users", migrate=upgrade)
    tags: Set[Short] = field(table="tags")
    log: Sequence[UserV2] = field(table="log")
    jobs: Deque[UserV1] = field(table="jobs", maxlen=3)
    me: Value[UserV2] = field(table="me")
    hits: Mapping[str, Annotated[int, Field(ge=0)]] = field(table="hits")


class UsersV1(Store):
    users: Mapping[str, UserV1] = field(table="users")


class UsersV2(Store):
    users: Mapping[str, UserV2] = field(table="users")


class UsersV3(Store):
    users: Mapping[str, UserV3] = field(table="users")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _fill(location: str) -> None:
    with AppV1(location) as app:
        app.users["ada"] = UserV1(name="Ada")
        app.tags.add("a")
        app.log.append(UserV1(name="first"))
        app.jobs.extend([UserV1(name=str(n)) for n in range(5)])
        app.me.set(UserV1(name="me"))
        app.hits["x"] = 1


def _catalog(location: str) -> tuple[dict[str, Entry], dict[str, list[Any]]]:
    """The catalog and every collection's history, read through a connection of its own."""
    engine = Engine(location, mode="ro")
    try:
        with engine.transaction(readonly=True):
            entries = read(engine)
            return entries, {name: history(engine, name) for name in entries}
    finally:
        engine.close()


def _run(location: str, sql: str, *, write: bool = False) -> list[Any]:
    """The rows of `sql`, run through a connection of its own (`write`: no rows)."""
    engine = Engine(location)
    try:
        with engine.transaction():
            if write:
                engine.write(sql)
                return []
            return engine.fetchall(sql)
    finally:
        engine.close()


def _untouched(location: str) -> Any:
    """What opening must not change: the file's bytes (SQLite), or the catalog and
    history rows with their row versions (PostgreSQL: an UPDATE to the same values
    still makes a new row version)."""
    if is_postgres(location):
        rows = _run(location, "SELECT name, xmin::text FROM _tpstore_catalog ORDER BY 1")
        if _has_history_table(location):
            rows += _run(
                location,
                "SELECT id::text || '/' || version::text, xmin::text FROM _tpstore_history "
                "ORDER BY 1",
            )
        return rows
    path = Path(location)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _schema(store_class: type[Store], name: str) -> str | None:
    return store_class.__tpstore_fields__[name].value.json_schema()  # type: ignore[union-attr]


class RolledBackError(Exception):
    pass


def _rolled_back(store: Store, write: Callable[[], object]) -> None:
    """Run `write` in a transaction (a savepoint inside one) that then rolls back."""
    try:
        with store.transaction():
            write()
            raise RolledBackError
    except RolledBackError:
        pass


# -- recorded by the first write, never by opening ----------------------------------------


def test_opening_with_a_changed_model_records_nothing(shared_location: str) -> None:
    """Opening read-write with changed types and options, reading, and closing leaves
    the file byte for byte as it was (PostgreSQL: no catalog or history row changes)."""
    _fill(shared_location)
    before, catalog_before = _untouched(shared_location), _catalog(shared_location)
    with AppV2(shared_location) as app:
        assert app.users["ada"] == UserWithEmail(name="Ada", email="unknown")
        assert list(app.jobs) == [UserV1(name=str(n)) for n in range(5)]
        assert app.me.get().name == "me"
        assert len(app.tags) == 1
    assert _untouched(shared_location) == before
    assert _catalog(shared_location) == catalog_before
    entries, _ = catalog_before
    assert {name: entry.versions for name, entry in entries.items()} == dict.fromkeys(entries, 1)
    assert entries["jobs"].options == {"maxlen": 10}


BOB = UserWithEmail(name="Bob", email="bob@example.org")


def _edit(app: AppV2) -> None:
    with app.users.edit("ada") as user:
        user.email = "ada@example.org"


WRITES: dict[str, Callable[[AppV2], object]] = {
    "mapping set": lambda app: app.users.__setitem__("bob", UserWithEmail(name="Bob", email="b")),
    "mapping update": lambda app: app.users.update({"cy": UserWithEmail(name="Cy", email="c")}),
    "mapping pop": lambda app: app.users.pop("ada"),
    "mapping del": lambda app: app.users.__delitem__("ada"),
    "mapping setdefault": lambda app: app.users.setdefault(
        "di", UserWithEmail(name="D", email="d")
    ),
    "mapping clear": lambda app: app.users.clear(),
    "mapping edit": _edit,
    "mapping migrate": lambda app: app.users.migrate(),
    "store migrate": lambda app: app.migrate(),
    "set add": lambda app: app.tags.add("b"),
    "set discard": lambda app: app.tags.discard("a"),
    "sequence append": lambda app: app.log.append(UserV2(name="second")),
    "sequence insert": lambda app: app.log.insert(0, UserV2(name="zeroth")),
    "sequence setitem": lambda app: app.log.__setitem__(0, UserV2(name="again")),
    "sequence pop": lambda app: app.log.pop(),
    "deque appendleft": lambda app: app.jobs.appendleft(UserV1(name="left")),
    "deque popleft": lambda app: app.jobs.popleft(),
    "value set": lambda app: app.me.set(UserV2(name="you")),
    "value delete": lambda app: app.me.delete(),
    "increment": lambda app: app.hits.increment("x"),
    "asyncio twin": lambda app: asyncio.run(
        app.users.aset("eve", UserWithEmail(name="E", email="e"))
    ),
}

TABLE_OF = {
    "mapping": "users",
    "store": "users",
    "set": "tags",
    "sequence": "log",
    "deque": "jobs",
    "value": "me",
    "increment": "hits",
    "asyncio": "users",
}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_the_first_write_records_the_changed_declaration(shared_location: str, write: str) -> None:
    """Every write path records the declaration of the collection it writes, and only it."""
    _fill(shared_location)
    table = TABLE_OF[write.split(maxsplit=1)[0]]
    clock = Clock(5_000.0)
    with AppV2(shared_location, clock=clock) as app:
        WRITES[write](app)
        entries, versions = _catalog(shared_location)  # committed: another connection sees it
    for name, entry in entries.items():
        if name == table:
            declared = Entry.declared(AppV2.__tpstore_fields__[name], name)
            assert entry.descriptions() == declared.descriptions()
            expected = 1 if name == "jobs" else 2  # an option change is no new schema
            assert entry.versions == expected
            assert len(versions[name]) == expected
            assert versions[name][-1][3] == (5_000.0 if expected == 2 else versions[name][0][3])
        else:
            assert entry.versions == 1, name
            unchanged = Entry.declared(AppV1.__tpstore_fields__[name], name)
            assert entry.descriptions() == unchanged.descriptions(), name


def test_the_record_is_written_once_per_declaration(shared_location: str) -> None:
    """After the first write the flag is cleared: later writes (and later opens with
    the same declaration) record nothing more."""
    _fill(shared_location)
    with AppV2(shared_location) as app:
        assert app.users._unrecorded
        app.users["bob"] = BOB
        assert not app.users._unrecorded
        assert app.tags._unrecorded  # each collection has its own
        app.users["cy"] = BOB
    with AppV2(shared_location) as app:
        assert not app.users._unrecorded
        app.users["di"] = BOB
    entries, versions = _catalog(shared_location)
    assert entries["users"].versions == 2
    assert [version for version, *_ in versions["users"]] == [1, 2]


def test_history_keeps_every_schema_in_order_with_the_time_first_recorded(
    shared_location: str,
) -> None:
    clock = Clock(1_000.0)
    with UsersV1(shared_location, clock=clock) as store:
        store.users["a"] = UserV1(name="a")
    steps: list[tuple[type[Any], type[BaseModel], float]] = [
        (UsersV2, UserV2, 2_000.0),
        (UsersV3, UserV3, 3_000.0),
        (UsersV1, UserV1, 4_000.0),
    ]
    for store_class, model, now in steps:
        clock.now = now
        with store_class(shared_location, clock=clock) as store:
            clock.now = now + 50  # the time is the write's, not the open's
            store.users[str(now)] = model(name="x")
    entries, versions = _catalog(shared_location)
    rows = versions["users"]
    assert [
        (version, json.loads(value)["title"], recorded) for version, _, value, recorded in rows
    ] == [
        (1, "UserV1", 1_000.0),
        (2, "UserV2", 2_050.0),
        (3, "UserV3", 3_050.0),
    ]  # going back to UserV1 adds no version: it keeps the time it was first recorded
    assert entries["users"].versions == 3
    assert entries["users"].value_schema == _schema(UsersV1, "users")  # the current one


# -- a rolled-back write records nothing ---------------------------------------------------


def test_a_rolled_back_write_records_nothing(shared_location: str) -> None:
    _fill(shared_location)
    before = _catalog(shared_location)
    with AppV2(shared_location) as app:
        _rolled_back(app, lambda: app.users.__setitem__("bob", BOB))
        assert _catalog(shared_location) == before
        assert app.users._unrecorded
        # A savepoint that rolls back takes its record along; the outer level commits
        # without it, and the declaration stays unrecorded.
        with app.transaction():
            _rolled_back(app, lambda: app.users.__setitem__("bob", BOB))
            app.tags.add("b")
        entries, _ = _catalog(shared_location)
        assert entries["users"] == before[0]["users"]
        assert entries["tags"].versions == 2
        assert app.users._unrecorded
        # A write the collection refuses, and one that changes nothing, record nothing.
        with pytest.raises(ValidationError):
            app.users["bob"] = {"name": 1}  # type: ignore[assignment]
        app.users.pop("nobody", None)
        with pytest.raises(KeyError):
            del app.users["nobody"]
        assert _catalog(shared_location)[0]["users"] == before[0]["users"]
        # Rolled back in a savepoint, written again in the same transaction: recorded.
        with app.transaction():
            _rolled_back(app, lambda: app.users.__setitem__("bob", BOB))
            app.users["cy"] = BOB
        assert not app.users._unrecorded
        # Recorded in a savepoint that is kept, then another savepoint rolls back: the
        # record stays, and so does its clearing of the flag at commit.
        with app.transaction():
            with app.transaction():
                app.log.append(UserV2(name="kept"))
            _rolled_back(app, lambda: app.me.set(UserV2(name="gone")))
        assert not app.log._unrecorded
        assert app.me._unrecorded
    entries, _ = _catalog(shared_location)
    assert entries["log"].versions == 2
    assert entries["me"].versions == 1
    assert entries["users"].versions == 2
    assert entries["users"].value_schema == _schema(AppV2, "users")


def test_options_are_recorded_with_the_first_write(shared_location: str) -> None:
    """A changed `maxlen` wins from the next write and is recorded by it; no new version."""
    _fill(shared_location)
    with AppV2(shared_location) as app:
        assert _catalog(shared_location)[0]["jobs"].options == {"maxlen": 10}
        app.jobs.append(UserV1(name="5"))
        assert [job.name for job in app.jobs] == ["3", "4", "5"]
    entries, _ = _catalog(shared_location)
    assert entries["jobs"].options == {"maxlen": 3}
    assert entries["jobs"].versions == 1


# -- several writers ---------------------------------------------------------------------


def test_stores_writing_through_one_new_declaration_record_it_once(shared_location: str) -> None:
    """Writers racing (each its own connection, in threads) record one version."""
    with UsersV1(shared_location) as store:
        store.users["a"] = UserV1(name="a")
    stores = [UsersV2(shared_location, timeout=30) for _ in range(4)]
    try:
        assert all(store.users._unrecorded for store in stores)
        start = threading.Barrier(len(stores))
        errors: list[BaseException] = []

        def write(store: UsersV2, n: int) -> None:
            try:
                start.wait()
                store.users[f"k{n}"] = UserV2(name=str(n))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
    finally:
        for store in stores:
            store.close()
    entries, versions = _catalog(shared_location)
    assert entries["users"].versions == 2
    assert [version for version, *_ in versions["users"]] == [1, 2]


def test_compound_operations_of_many_threads_record_once(shared_location: str) -> None:
    """Threads of one store whose compound operations share commits (group commit on
    SQLite) record the declaration once, and the flag clears when that commit is made."""
    _fill(shared_location)
    with AppV2(shared_location, timeout=30) as app:
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                start.wait()
                for i in range(20):
                    app.users.setdefault(f"k{n}-{i}", BOB)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert not app.users._unrecorded
        assert len(app.users) == 121
    entries, versions = _catalog(shared_location)
    assert entries["users"].versions == 2
    assert [version for version, *_ in versions["users"]] == [1, 2]


def test_two_declarations_each_recorded_by_a_write_after_its_open(shared_location: str) -> None:
    """The catalog's current schema is the one of the last store that opened with a
    differing declaration and wrote; a store that opened while its declaration was
    the recorded one does not record it again."""
    with UsersV1(shared_location) as store:
        store.users["a"] = UserV1(name="a")
    old, new = UsersV1(shared_location), UsersV2(shared_location)
    try:
        new.users["b"] = UserV2(name="b")
        old.users["c"] = UserV1(name="c")  # opened when UserV1 was the recorded schema
    finally:
        old.close()
        new.close()
    assert _catalog(shared_location)[0]["users"].value_schema == _schema(UsersV2, "users")
    with UsersV1(shared_location) as store:
        store.users["d"] = UserV1(name="d")
    entries, _ = _catalog(shared_location)
    assert entries["users"].value_schema == _schema(UsersV1, "users")
    assert entries["users"].versions == 2


# -- files made before the history existed ----------------------------------------------------


@pytest.fixture
def old_format(shared_location: str) -> str:
    """A store as tpstore made it before the history existed: no history table."""
    _fill(shared_location)
    _run(shared_location, "DROP TABLE _tpstore_history", write=True)
    return shared_location


def _has_history_table(location: str) -> bool:
    engine = Engine(location, mode="ro")
    try:
        return engine.fetchone(engine.dialect.catalog("main").has_history) is not None
    finally:
        engine.close()


def test_an_old_file_opens_read_only_without_its_catalog_upgraded(old_format: str) -> None:
    before = _untouched(old_format)
    with AppV2(old_format, mode="ro") as app:
        assert app.users["ada"] == UserWithEmail(name="Ada", email="unknown")
        assert len(app.jobs) == 5
    assert not _has_history_table(old_format)
    assert _untouched(old_format) == before
    entries, versions = _catalog(old_format)
    assert entries["users"].versions == 1
    assert versions["users"] == []


def test_the_first_read_write_open_upgrades_an_old_file_once(old_format: str) -> None:
    """The history is created with each collection's recorded schemas as version 1 (at
    the time of the upgrade); later opens change nothing, the first write records."""
    clock = Clock(7_000.0)
    with AppV2(old_format, clock=clock) as app:
        assert _has_history_table(old_format)
        upgraded = _catalog(old_format)
        for name, entry in upgraded[0].items():
            assert entry.versions == 1
            assert upgraded[1][name] == [(1, entry.key_schema, entry.value_schema, 7_000.0)]
            old = Entry.declared(AppV1.__tpstore_fields__[name], name)
            assert entry.descriptions() == old.descriptions()  # not AppV2's
    before = _untouched(old_format)
    AppV2(old_format, clock=clock).close()
    assert _untouched(old_format) == before
    clock.now = 8_000.0
    with AppV2(old_format, clock=clock) as app:
        app.users["bob"] = BOB
    _, versions = _catalog(old_format)
    assert [(v, t) for v, _, _, t in versions["users"]] == [(1, 7_000.0), (2, 8_000.0)]


def test_a_new_collection_starts_its_history_at_creation(location: str | None) -> None:
    clock = Clock(1_234.0)
    with UsersV1(location, clock=clock) as store:
        rows = history(store._engine, "users")
        assert rows == [(1, _schema_key(UsersV1), _schema(UsersV1, "users"), 1_234.0)]
        assert read(store._engine)["users"].versions == 1


def _schema_key(store_class: type[Store]) -> str | None:
    return store_class.__tpstore_fields__["users"].key.json_schema()  # type: ignore[union-attr]


# -- tpstore info ------------------------------------------------------------------------------


def test_info_shows_how_many_schema_versions_each_collection_had(shared_location: str) -> None:
    """On files and on PostgreSQL URLs alike (text output: one line per collection)."""
    _fill(shared_location)
    with AppV2(shared_location) as app:
        app.users["bob"] = BOB
        app.log.append(UserV2(name="second"))
        app.jobs.append(UserV1(name="5"))  # an option change: no new version
    with UsersV3(shared_location) as store:
        store.users["cy"] = UserV3(name="Cy")
    result = subprocess.run(
        [sys.executable, "-m", "tpstore", "info", shared_location],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    header, *body = rows
    column = header.index("versions")
    assert {row[0]: row[column] for row in body} == {
        "users": "3",
        "log": "2",
        "jobs": "1",
        "tags": "1",
        "me": "1",
        "hits": "1",
    }
