"""Declaring, opening and closing stores, and the file's catalog (DESIGN.md §1, §2, §6)."""

from __future__ import annotations

import collections.abc
import importlib.util
import json
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers import execute
from pydantic import BaseModel

import tpstore
from tpstore import (
    MISSING,
    ClosedError,
    CorruptValueError,
    ExpiringMapping,
    Mapping,
    OrderedMapping,
    SchemaError,
    Store,
    TpStoreError,
    Value,
    field,
)


class User(BaseModel):
    name: str
    age: int = 0


class Point:
    """A plain class that no codec stores without being told how."""


# -- declarations -------------------------------------------------------------------------


def _declare(annotation: Any, value: Any = MISSING, name: str = "Broken") -> type[Store]:
    namespace: dict[str, Any] = {
        "__annotations__": {"things": annotation},
        "__module__": __name__,
        "__qualname__": name,
    }
    if value is not MISSING:
        namespace["things"] = value
    return type(name, (Store,), namespace)


@pytest.mark.parametrize(
    ("annotation", "value", "said"),
    [
        pytest.param(list[int], MISSING, "not a tpstore collection", id="unknown-type"),
        pytest.param(int, MISSING, "not a tpstore collection", id="plain-int"),
        pytest.param(dict[str, User], MISSING, "not a tpstore collection", id="plain-dict"),
        pytest.param(
            collections.abc.Mapping[str, int], MISSING, "not a tpstore collection", id="abc-mapping"
        ),
        pytest.param(Mapping, MISSING, "type parameter", id="bare-mapping"),
        pytest.param(Value, MISSING, "type parameter", id="bare-value"),
        pytest.param(Mapping[str, Point], MISSING, "no codec", id="no-codec-value"),
        pytest.param(Mapping[Point, int], MISSING, "no codec", id="no-codec-key"),
        pytest.param(Mapping[frozenset[int], int], MISSING, "order", id="unordered-key"),
        pytest.param(Mapping[User, int], MISSING, "order", id="model-key"),
        pytest.param(Mapping[str, int], field(key_codec="json"), "order", id="unordered-key-codec"),
        pytest.param(Mapping[str, int], field(lifespan=5), "lifespan", id="lifespan"),
        pytest.param(Value[int], field(lifespan=5), "lifespan", id="lifespan-on-value"),
        pytest.param(Mapping[str, int], field(maxlen=3), "maxlen", id="maxlen"),
        pytest.param(Mapping[str, int], field(default=0), "default", id="default"),
        pytest.param(
            Mapping[str, int], field(default_factory=dict), "default", id="default-factory"
        ),
        pytest.param(
            Value[int], field(default=1, default_factory=int), "not both", id="default-and-factory"
        ),
        pytest.param(Mapping[str, int], 5, "field(", id="plain-value"),
        pytest.param(
            ExpiringMapping[str, int], field(lifespan=-1), "lifespan", id="negative-lifespan"
        ),
    ],
)
def test_malformed_declaration_is_a_schema_error_naming_class_and_field(
    annotation: Any, value: Any, said: str
) -> None:
    """Every malformed field raises `SchemaError` at class creation, naming both."""
    with pytest.raises(SchemaError) as caught:
        _declare(annotation, value)
    message = str(caught.value)
    assert "Broken.things" in message
    assert said in message


def test_mapping_with_one_type_parameter_is_refused() -> None:
    """`Mapping[str]` is refused (by typing at subscription, or at class creation)."""
    with pytest.raises((SchemaError, TypeError)):
        _declare(Mapping[str])  # type: ignore[type-arg]


def test_pickle_codec_makes_an_unknown_type_storable() -> None:
    """A type no default codec stores is accepted once a codec is given."""
    store_class = _declare(Mapping[str, Point], field(codec="pickle"), name="Fine")
    with store_class(None) as store:
        store.things["p"] = Point()  # type: ignore[attr-defined]
        assert isinstance(store.things["p"], Point)  # type: ignore[attr-defined]


_FUTURE_MODULE = """
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from tpstore import Mapping, OrderedMapping, Store, Value, field


class Item(BaseModel):
    title: str


class Shop(Store):
    items: Mapping[str, Item]
    order: OrderedMapping[int, Item]
    opened: Value[bool] = field(default=False)
    version: ClassVar[int] = 3
"""


def _import_source(tmp_path: Path, name: str, source: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_future_annotations_are_read_at_class_creation(tmp_path: Path) -> None:
    """String annotations (`from __future__ import annotations`) work like real ones."""
    module = _import_source(tmp_path, "tpstore_future_shop", _FUTURE_MODULE)
    assert list(module.Shop.__tpstore_fields__) == ["items", "order", "opened"]
    assert module.Shop.version == 3
    with module.Shop(None) as shop:
        shop.items["a"] = {"title": "A"}
        assert shop.items["a"] == module.Item(title="A")
        assert shop.opened.get() is False
        assert "version" not in type(shop).__tpstore_fields__


def test_future_annotations_with_an_unknown_name_fail_at_class_creation(
    tmp_path: Path,
) -> None:
    """A string annotation naming an undefined type is a `SchemaError` naming the field."""
    source = """
        from __future__ import annotations
        from tpstore import Mapping, Store

        class Lost(Store):
            things: Mapping[str, NotDefinedAnywhere]
    """
    with pytest.raises(SchemaError) as caught:
        _import_source(tmp_path, "tpstore_future_lost", source)
    assert "Lost.things" in str(caught.value)
    assert "NotDefinedAnywhere" in str(caught.value)


def test_future_annotations_of_a_plain_dict_are_refused(tmp_path: Path) -> None:
    """Under string annotations too, `dict[...]` is a `SchemaError`, not an attribute."""
    source = """
        from __future__ import annotations
        from tpstore import Store

        class Typo(Store):
            things: dict[str, int]
    """
    with pytest.raises(SchemaError, match=r"Typo\.things"):
        _import_source(tmp_path, "tpstore_future_typo", source)


def test_future_annotations_may_name_types_local_to_a_function() -> None:
    """A store class made in a function can use that function's own models."""

    class Local(BaseModel):
        x: int

    class Inner(Store):  # this module's annotations are strings
        things: Mapping[str, Local]

    with Inner(None) as inner:
        inner.things["a"] = {"x": "1"}  # type: ignore[assignment]
        assert inner.things["a"] == Local(x=1)


class Base(Store):
    users: Mapping[str, User]
    hits: Mapping[str, int]


class Child(Base):
    hits: Mapping[str, float]  # type: ignore[assignment]  # overrides the base's field
    notes: OrderedMapping[int, str]


def test_subclasses_inherit_and_override_fields() -> None:
    """A subclass keeps its bases' fields; redeclaring one overrides it."""
    assert list(Base.__tpstore_fields__) == ["users", "hits"]
    assert list(Child.__tpstore_fields__) == ["users", "hits", "notes"]
    with Child(None) as child:
        child.users["a"] = User(name="A")
        child.hits["x"] = 1.5
        child.notes[1] = "one"
        assert child.hits["x"] == 1.5
        assert isinstance(child.users, Mapping)
    with Base(None) as base, pytest.raises(tpstore.ValidationError):
        base.hits["x"] = 1.5  # type: ignore[assignment]


def test_classvar_annotations_are_ignored() -> None:
    """`ClassVar` annotations stay plain class attributes."""

    class WithConstant(Store):
        limit: ClassVar[int] = 10
        plain: ClassVar = "x"
        hits: Mapping[str, int]

    assert list(WithConstant.__tpstore_fields__) == ["hits"]
    with WithConstant(None) as store:
        assert store.limit == 10
        assert store.plain == "x"


def test_field_name_clashing_with_a_store_method_is_refused() -> None:
    """A field named like a `Store` method would hide it: `SchemaError` naming it."""
    with pytest.raises(SchemaError, match=r"Clash\.close"):
        type(
            "Clash",
            (Store,),
            {
                "__annotations__": {"close": Mapping[str, int]},
                "__module__": __name__,
                "__qualname__": "Clash",
            },
        )


def test_two_fields_on_one_table_are_refused() -> None:
    """Two fields of one class cannot share a table."""
    with pytest.raises(SchemaError, match="already used"):

        class Twice(Store):
            a: Mapping[str, int]
            b: Mapping[str, int] = field(table="a")


def test_missing_sentinel() -> None:
    """`MISSING` has a readable repr, is falsy, and is one object."""
    assert repr(MISSING) == "tpstore.MISSING"
    assert not MISSING
    assert tpstore.MISSING is MISSING
    import copy
    import pickle

    assert copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


# -- opening and closing ------------------------------------------------------------------


class App(Store):
    users: Mapping[str, User]
    recent: OrderedMapping[int, str]
    hits: Mapping[str, int]
    settings: Value[str] = field(default="light")


def test_collections_are_bound_once(location: str | None) -> None:
    """`app.users is app.users`; collections cannot be replaced."""
    with App(location) as app:
        assert app.users is app.users
        assert app.users.name == "users"
        with pytest.raises(AttributeError):
            app.users = {}  # type: ignore[assignment]


def test_close_is_idempotent_and_later_use_raises_closed_error(location: str | None) -> None:
    """`close()` twice is fine; any use after it raises `ClosedError`."""
    app = App(location)
    app.hits["a"] = 1
    app.close()
    app.close()
    assert app.closed
    with pytest.raises(ClosedError):
        app.hits["a"]
    with pytest.raises(ClosedError):
        app.settings.get()
    with pytest.raises(ClosedError), app.transaction():
        pass  # pragma: no cover - never entered


def test_context_manager_closes_even_on_error(location: str | None) -> None:
    """Leaving the `with` block closes the store, also when it raises."""
    with pytest.raises(RuntimeError), App(location) as app:  # noqa: PT012
        app.hits["a"] = 1
        raise RuntimeError
    assert app.closed
    with pytest.raises(ClosedError):
        len(app.hits)


def test_persistence_across_reopen(db_path: Path) -> None:
    """Everything written is there after closing and reopening the file."""
    with App(db_path) as app:
        app.users["ada"] = User(name="Ada", age=36)
        app.recent.update([(3, "c"), (1, "a"), (2, "b")])
        app.hits.increment("x", 5)
        app.settings.set("dark")
    with App(str(db_path)) as app:
        assert dict(app.users) == {"ada": User(name="Ada", age=36)}
        assert list(app.recent.items()) == [(3, "c"), (1, "a"), (2, "b")]
        assert app.hits["x"] == 5
        assert app.settings.get() == "dark"
        assert len(app.recent) == 3


def test_in_memory_stores_are_private(location: str | None) -> None:
    """Two in-memory stores never share data (`None` and `":memory:"`)."""
    with App(None) as one, App(":memory:") as two:
        one.hits["a"] = 1
        assert "a" not in two.hits


def test_missing_parent_folder_raises_file_not_found(tmp_path: Path) -> None:
    """A path in a folder that does not exist raises `FileNotFoundError` naming it."""
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match="no"):
        App(missing / "app.db")
    assert not missing.exists()


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_file_that_is_not_sqlite_is_refused_and_left_unchanged(
    tmp_path: Path, content: bytes
) -> None:
    """A non-SQLite file raises `TpStoreError` and keeps its bytes."""
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(TpStoreError):
        App(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_repr_names_class_and_file(db_path: Path) -> None:
    """The repr shows the class and the path, and says when it is closed."""
    app = App(db_path)
    assert "App" in repr(app)
    assert str(db_path) in repr(app)
    app.close()
    assert "closed" in repr(app)


# -- the catalog --------------------------------------------------------------------------


def _snapshot(path: Path) -> dict[str, bytes]:
    """The bytes of the database file and of any journal beside it."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.parent.iterdir())
        if p.name.startswith(path.name)
    }


def _catalog(path: Path) -> dict[str, dict[str, Any]]:
    raw = sqlite3.connect(path)
    try:
        raw.row_factory = sqlite3.Row
        rows = raw.execute("SELECT * FROM _tpstore_catalog").fetchall()
        return {row["name"]: dict(row) for row in rows}
    finally:
        raw.close()


class Numbers(Store):
    data: Mapping[str, int]


class NumbersAsText(Store):
    data: Mapping[str, str]


class NumbersInOrder(Store):
    data: OrderedMapping[str, int]


class NumbersAsJson(Store):
    data: Mapping[str, int] = field(codec="json")


class NumbersByInt(Store):
    data: Mapping[int, int]


@pytest.mark.parametrize(
    ("other", "recorded", "declared"),
    [
        pytest.param(NumbersAsText, "INTEGER", "TEXT", id="affinity"),
        pytest.param(NumbersInOrder, "Mapping", "OrderedMapping", id="kind"),
        pytest.param(NumbersAsJson, "'native'", "'json'", id="codec"),
        pytest.param(
            NumbersByInt,
            "key codec 'native' (TEXT)",
            "key codec 'native' (INTEGER)",
            id="key-affinity",
        ),
    ],
)
def test_catalog_mismatch_is_a_schema_error_and_leaves_the_file_unchanged(
    db_path: Path, other: type[Store], recorded: str, declared: str
) -> None:
    """Another kind, codec or affinity for a table: `SchemaError` naming both sides."""
    with Numbers(db_path) as numbers:
        numbers.data["a"] = 1  # type: ignore[attr-defined]
    before = _snapshot(db_path)
    with pytest.raises(SchemaError) as caught:
        other(db_path)
    message = str(caught.value)
    assert "data" in message
    holds, declares = message.split("but the class declares", 1)
    assert recorded in holds
    assert declared in declares
    assert _snapshot(db_path) == before
    with Numbers(db_path) as numbers:
        assert dict(numbers.data) == {"a": 1}  # type: ignore[attr-defined]


def test_a_catalog_mismatch_names_the_python_types_of_both_sides(db_path: Path) -> None:
    """`keys str with key codec 'native' (TEXT)` against `keys int with ...`."""
    with Numbers(db_path) as numbers:
        numbers.data["a"] = 1  # type: ignore[attr-defined]
    with pytest.raises(SchemaError) as caught:
        NumbersByInt(db_path)
    holds, declares = str(caught.value).split("but the class declares", 1)
    assert "keys str with key codec 'native' (TEXT)" in holds
    assert "values int with value codec 'native' (INTEGER)" in holds
    assert "keys int with key codec 'native' (INTEGER)" in declares


def test_mismatch_anywhere_creates_nothing(db_path: Path) -> None:
    """A class whose second field mismatches creates not even its first one."""

    class Wider(Store):
        fresh: Mapping[str, int]
        data: OrderedMapping[str, int]

    Numbers(db_path).close()
    before = _snapshot(db_path)
    with pytest.raises(SchemaError):
        Wider(db_path)
    assert _snapshot(db_path) == before
    assert "fresh" not in _catalog(db_path)


def test_foreign_table_of_the_same_name_is_a_schema_error(db_path: Path) -> None:
    """A table tpstore did not create is never taken over, nor changed."""
    execute(db_path, "CREATE TABLE data (x TEXT)")
    execute(db_path, "INSERT INTO data VALUES ('mine')")
    before = _snapshot(db_path)
    with pytest.raises(SchemaError) as caught:
        Numbers(db_path)
    assert "data" in str(caught.value)
    assert "did not create" in str(caught.value)
    assert _snapshot(db_path) == before


def test_foreign_tables_are_never_touched(db_path: Path) -> None:
    """Other tables in the file keep their schema and rows through tpstore's use."""
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    raw.executemany("INSERT INTO notes (body) VALUES (?)", [("one",), ("two",)])
    raw.commit()
    schema_before = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'notes'").fetchall()
    raw.close()
    with Numbers(db_path) as numbers:
        numbers.data.update(a=1, b=2)  # type: ignore[attr-defined]
        numbers.data.clear()  # type: ignore[attr-defined]
        numbers.vacuum()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT id, body FROM notes").fetchall() == [(1, "one"), (2, "two")]
        assert (
            raw.execute("SELECT sql FROM sqlite_master WHERE name = 'notes'").fetchall()
            == schema_before
        )
        triggers = raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'notes'"
        ).fetchall()
        assert triggers == []
    finally:
        raw.close()
    assert "notes" not in _catalog(db_path)


class UserV1(BaseModel):
    name: str


class UserV2(BaseModel):
    name: str
    email: str


class UserV3(BaseModel):
    name: str
    nickname: str | None = None


class PeopleV1(Store):
    people: Mapping[str, UserV1]


class PeopleV2(Store):
    people: Mapping[str, UserV2]


class PeopleV3(Store):
    people: Mapping[str, UserV3]


class PeopleLoose(Store):
    people: Mapping[str, dict[str, str]]


def test_changed_model_is_allowed_and_validated_on_read(db_path: Path) -> None:
    """A new model opens; an old value missing a new required field is corrupt on read."""
    with PeopleV1(db_path) as v1:
        v1.people["ada"] = UserV1(name="Ada")
    old_schema = _catalog(db_path)["people"]["value_schema"]
    with PeopleLoose(db_path) as loose:
        # One stored value the new model reads: the file opens with it (test_migrate.py
        # has the wrong-class check, for files where none does).
        loose.people["cy"] = {"name": "Cy", "email": "c@x"}
    with PeopleV2(db_path) as v2:
        with pytest.raises(CorruptValueError) as caught:
            v2.people["ada"]
        assert caught.value.collection == "people"
        assert caught.value.key == "ada"
        v2.people["bob"] = UserV2(name="Bob", email="b@x")
        assert v2.people["bob"].email == "b@x"
    new_schema = _catalog(db_path)["people"]["value_schema"]
    assert new_schema != old_schema
    assert "email" in json.loads(new_schema)["properties"]
    with PeopleV3(db_path) as v3:
        assert v3.people["ada"] == UserV3(name="Ada")
        assert v3.people["bob"] == UserV3(name="Bob")  # the extra field is ignored


class SharedA(Store):
    hits: Mapping[str, int]
    only_a: Mapping[str, str]


class SharedB(Store):
    counts: Mapping[str, int] = field(table="hits")
    only_b: Value[int] = field(default=0)


def test_compatible_declarations_in_two_classes_share_a_table(db_path: Path) -> None:
    """Two store classes that declare one table alike read and write the same rows."""
    with SharedA(db_path) as a, SharedB(db_path) as b:
        a.hits.increment("x")
        b.counts.increment("x", 2)
        assert a.hits["x"] == 3
        assert dict(b.counts) == {"x": 3}
        assert len(b.counts) == 1
    assert set(_catalog(db_path)) == {"hits", "only_a", "only_b"}


class Sessions10(Store):
    sessions: ExpiringMapping[str, int] = field(lifespan=10)


class Sessions20(Store):
    sessions: ExpiringMapping[str, int] = field(lifespan=20)


class SessionsForever(Store):
    sessions: ExpiringMapping[str, int]


def test_option_changes_are_recorded_by_the_first_write(db_path: Path) -> None:
    """Reopening with another `lifespan` is allowed; the catalog records it with the
    first write through the new declaration, never by opening alone."""
    with Sessions10(db_path) as first:
        first.sessions["a"] = 1
    assert json.loads(_catalog(db_path)["sessions"]["options"]) == {"lifespan": 10.0}
    with Sessions20(db_path) as second:
        assert second.sessions["a"] == 1
    assert json.loads(_catalog(db_path)["sessions"]["options"]) == {"lifespan": 10.0}
    with Sessions20(db_path) as second:
        second.sessions["b"] = 2
        assert json.loads(_catalog(db_path)["sessions"]["options"]) == {"lifespan": 20.0}
    with SessionsForever(db_path) as forever:
        forever.sessions["c"] = 3
    assert json.loads(_catalog(db_path)["sessions"]["options"]) == {}


def test_catalog_records_kind_codecs_affinity_and_format(db_path: Path) -> None:
    """Each collection's catalog row names its kind, codecs, affinities and schemas."""
    App(db_path).close()
    rows = _catalog(db_path)
    users = rows["users"]
    assert users["kind"] == "Mapping"
    assert (users["key_codec"], users["key_affinity"]) == ("native", "TEXT")
    assert (users["value_codec"], users["value_affinity"]) == ("json", "TEXT")
    assert json.loads(users["value_schema"])["title"] == "User"
    assert users["format"] >= 1
    assert rows["recent"]["kind"] == "OrderedMapping"
    assert rows["recent"]["key_affinity"] == "INTEGER"
    assert rows["settings"]["kind"] == "Value"
    assert rows["settings"]["key_codec"] is None


def test_dropped_table_is_recreated_empty(db_path: Path) -> None:
    """A tpstore table dropped behind its back comes back empty, with a true count."""
    with Numbers(db_path) as numbers:
        numbers.data.update(a=1, b=2)  # type: ignore[attr-defined]
    execute(db_path, "DROP TABLE data")
    with Numbers(db_path) as numbers:
        assert len(numbers.data) == 0  # type: ignore[attr-defined]
        numbers.data["c"] = 3  # type: ignore[attr-defined]
        assert len(numbers.data) == 1  # type: ignore[attr-defined]
