"""The default codec choice (DESIGN §5), `register()`, and codecs in the catalog."""

import dataclasses
import datetime
import decimal
import enum
import fractions
import importlib
import json
import marshal
import pickle
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NewType, Optional

import attrs
import pydantic
import pytest
from helpers import query

from tpstore import (
    Mapping,
    OrderedMapping,
    SchemaError,
    Store,
    ValidationError,
    Value,
    codecs,
    field,
)
from tpstore.codecs import default_codec, register


class Level(enum.IntEnum):
    """An int enum."""

    LOW = 1


class Colour(enum.Enum):
    """A str-valued enum."""

    RED = "red"


class User(pydantic.BaseModel):
    """A pydantic model."""

    name: str


@dataclasses.dataclass
class Point:
    """A dataclass."""

    x: int


@attrs.define
class Pair:
    """An attrs class."""

    a: int
    b: str = ""


@dataclasses.dataclass
class Holder:
    """A dataclass holding an attrs class."""

    pair: Pair


UserId = NewType("UserId", int)


DEFAULTS: list[tuple[Any, bool, str, str]] = [
    # declared type, as a key?, codec name, affinity
    (int, False, "native", "INTEGER"),
    (bool, False, "native", "INTEGER"),
    (Level, False, "native", "INTEGER"),
    (float, False, "native", "REAL"),
    (str, False, "native", "TEXT"),
    (Colour, False, "native", "TEXT"),
    (bytes, False, "native", "BLOB"),
    (Optional[int], False, "native", "INTEGER"),  # noqa: UP045
    (str | None, False, "native", "TEXT"),
    (Optional[Level], False, "native", "INTEGER"),  # noqa: UP045
    (UserId, False, "native", "INTEGER"),
    (Annotated[int, pydantic.Field(gt=0)], False, "native", "INTEGER"),
    (int, True, "native", "INTEGER"),
    (str, True, "native", "TEXT"),
    (Literal["a", "b"], True, "native", "TEXT"),
    (tuple[int, str], True, "tuple_key", "BLOB"),
    (tuple[int, ...], True, "tuple_key", "BLOB"),
    (tuple[str, tuple[int, bytes]], True, "tuple_key", "BLOB"),
    (tuple[bool, None, float], True, "tuple_key", "BLOB"),
    (datetime.datetime, True, "tuple_key", "BLOB"),
    (datetime.date, True, "tuple_key", "BLOB"),
    (uuid.UUID, True, "tuple_key", "BLOB"),
    (Optional[int], True, "tuple_key", "BLOB"),  # noqa: UP045 - NULL cannot be a key
    (int | str, True, "tuple_key", "BLOB"),
    (tuple[int, str], False, "json", "TEXT"),
    (User, False, "json", "TEXT"),
    (Point, False, "json", "TEXT"),
    (list[int], False, "json", "TEXT"),
    (dict[str, User], False, "json", "TEXT"),
    (set[str], False, "json", "TEXT"),
    (Literal["a", "b"], False, "json", "TEXT"),
    (int | str, False, "json", "TEXT"),
    (Optional[User], False, "json", "TEXT"),  # noqa: UP045
    (datetime.datetime, False, "json", "TEXT"),
    (datetime.date, False, "json", "TEXT"),
    (datetime.time, False, "json", "TEXT"),
    (datetime.timedelta, False, "json", "TEXT"),
    (uuid.UUID, False, "json", "TEXT"),
    (decimal.Decimal, False, "json", "TEXT"),
    (Any, False, "json", "TEXT"),
    (Pair, False, "cattrs", "TEXT"),
    (Optional[Pair], False, "cattrs", "TEXT"),  # noqa: UP045
    (list[Pair], False, "cattrs", "TEXT"),
    (dict[str, Pair], False, "cattrs", "TEXT"),
    (Holder, False, "cattrs", "TEXT"),
]


@pytest.mark.parametrize(("declared", "key", "name", "affinity"), DEFAULTS, ids=repr)
def test_default_choice_table(declared: Any, key: bool, name: str, affinity: str) -> None:
    """default_codec follows DESIGN §5 for values and keys."""
    codec = default_codec(declared, key=key)
    assert (codec.name, codec.affinity) == (name, affinity)
    if key and name != "json":
        assert codec.order_preserving


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (Optional[Pair], None),  # noqa: UP045
        (Optional[Pair], Pair(1, "x")),  # noqa: UP045
        (list[Pair], [Pair(2)]),
        (dict[str, Pair], {"k": Pair(3)}),
        (Holder, Holder(Pair(4))),
    ],
    ids=repr,
)
def test_attrs_nested_in_containers_go_through_cattrs(declared: Any, value: Any) -> None:
    """Optional/list/dict of attrs classes and dataclasses holding them work in a store."""

    class Things(Store):
        things: Mapping[int, declared]  # type: ignore[valid-type]

    with Things(None) as store:
        store.things[1] = value
        assert store.things[1] == value
        with pytest.raises(ValidationError):
            store.things[2] = [1] if declared is not list[Pair] else ["x"]


def test_literal_int_enum_and_str_enum_keys_iterate_in_order() -> None:
    """Native Literal and Enum keys keep key order."""

    class Keys(Store):
        grades: Mapping[Literal["b", "a", "c"], int]
        levels: Mapping[Level, int]
        maybe: Mapping[Optional[int], str]  # noqa: UP045

    with Keys(None) as store:
        for grade in ("c", "a", "b"):
            store.grades[grade] = 1  # type: ignore[index]
        assert list(store.grades) == ["a", "b", "c"]
        store.levels[Level.LOW] = 1
        assert list(store.levels) == [Level.LOW]
        assert type(next(iter(store.levels))) is Level
        for k in (3, None, -1):
            store.maybe[k] = str(k)
        assert list(store.maybe) == [None, -1, 3]
        with pytest.raises(ValidationError):
            store.grades["d"] = 1  # type: ignore[index]


class Opaque:
    """A class no codec knows."""


@pytest.mark.parametrize(
    "declared",
    [Opaque, list[Opaque], Optional[Opaque], dict[str, Callable[[], int]], type[int]],  # noqa: UP045
    ids=repr,
)
def test_a_type_nothing_can_store_fails_at_class_creation(declared: Any) -> None:
    """SchemaError names class and field and hints at codec= and register()."""
    with pytest.raises(SchemaError) as info:

        class Bad(Store):
            things: Mapping[str, declared]  # type: ignore[valid-type]

    message = str(info.value)
    assert "Bad.things" in message
    assert "field(codec=" in message
    assert "register(" in message


def test_an_unordered_key_type_in_a_key_ordered_kind_fails_at_class_creation() -> None:
    """Decimal keys have no order-preserving codec: Mapping refuses, OrderedMapping accepts."""
    with pytest.raises(SchemaError, match=r"Bad\.prices.*does not preserve order"):

        class Bad(Store):
            prices: Mapping[decimal.Decimal, int]

    class Fine(Store):
        prices: OrderedMapping[decimal.Decimal, int]

    with Fine(None) as store:
        store.prices[decimal.Decimal("1.10")] = 1
        assert list(store.prices) == [decimal.Decimal("1.10")]


# -- register() ----------------------------------------------------------------------


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Undo every register() of a test."""
    saved = dict(codecs._registered)
    yield
    codecs._registered.clear()
    codecs._registered.update(saved)


class Money:
    """A user type that is no pydantic, attrs or native type."""

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return hash(self.cents)


class Euros(Money):
    """A subclass of a registered type."""


@pytest.mark.usefixtures("clean_registry")
def test_register_sets_the_default_for_a_user_type(tmp_path: Path) -> None:
    """A registered codec stores the type (and subclasses) by default; field() still wins."""
    register(Money, "pickle")

    class Wallet(Store):
        cash: Mapping[str, Money]
        euros: Mapping[str, Euros]
        marshalled: Mapping[str, fractions.Fraction] = field(codec=marshal, key_codec=None)
        as_json: Value[fractions.Fraction]

    path = tmp_path / "wallet.db"
    with Wallet(path) as store:
        store.cash["a"] = Money(5)
        store.euros["b"] = Euros(7)
        assert store.cash["a"] == Money(5)
        assert type(store.euros["b"]) is Euros
        store.as_json.set(fractions.Fraction(1, 3))
    catalog = dict(query(path, "SELECT name, value_codec FROM _tpstore_catalog"))
    assert catalog["cash"] == catalog["euros"] == "pickle"
    assert catalog["marshalled"] == "module:marshal"
    assert catalog["as_json"] == "json"


@pytest.mark.usefixtures("clean_registry")
def test_register_overrides_the_builtin_default_and_the_newest_wins() -> None:
    """register() can replace a built-in default; registering again replaces the codec."""
    register(User, "pickle")
    assert default_codec(User).name == "pickle"
    register(User, codecs.compressed("json"))
    assert default_codec(User).name == "compressed(json)"
    register(Money, json)
    assert default_codec(Money).name == "module:json"
    register(Euros, "pickle")
    assert default_codec(Euros).name == "pickle"


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize("bad", ["no-such-codec", object(), 42])
def test_register_refuses_a_non_codec_at_once(bad: Any) -> None:
    """register() with something that is no codec raises SchemaError immediately."""
    with pytest.raises(SchemaError):
        register(Money, bad)
    assert codecs._registered_codec(Money, Money) is None


# -- modules as codecs -------------------------------------------------------------


class BsonLike:
    """A bson-style module: dumps/loads of mappings only, to bytes."""

    @staticmethod
    def dumps(value: Any) -> bytes:
        if not isinstance(value, dict):
            raise TypeError("documents must be mappings")
        return b"B" + json.dumps(value).encode()

    @staticmethod
    def loads(data: bytes) -> Any:
        return json.loads(data[1:])


@pytest.mark.parametrize(
    ("module", "name", "affinity"),
    [
        (marshal, "module:marshal", "BLOB"),
        (json, "module:json", "TEXT"),
        (BsonLike(), "module:test_defaults.BsonLike", "BLOB"),
        (pickle, "pickle", "BLOB"),
    ],
    ids=["marshal", "json", "bson-like", "pickle"],
)
def test_a_module_given_to_field_is_from_module(
    module: Any, name: str, affinity: str, tmp_path: Path
) -> None:
    """field(codec=module) works like from_module(module), recorded under its name."""

    class Docs(Store):
        docs: Mapping[str, dict[str, list[int]]] = field(codec=module)

    path = tmp_path / "docs.db"
    with Docs(path) as store:
        store.docs["a"] = {"x": [1, 2]}
        assert store.docs["a"] == {"x": [1, 2]}
        with pytest.raises(ValidationError):
            store.docs["b"] = {"x": ["not an int"]}  # type: ignore[list-item]
    assert query(path, "SELECT value_codec, value_affinity FROM _tpstore_catalog") == [
        (name, affinity)
    ]
    with Docs(path) as store:
        assert store.docs["a"] == {"x": [1, 2]}


# -- missing optional dependencies -------------------------------------------------


def test_a_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for codec="msgpack" without ormsgpack raises ImportError naming tpstore[msgpack]."""
    monkeypatch.setitem(sys.modules, "ormsgpack", None)
    monkeypatch.delitem(sys.modules, "tpstore.codecs.msgpack", raising=False)
    monkeypatch.setattr(
        codecs, "_named", {k: v for k, v in codecs._named.items() if k != "msgpack"}
    )
    with pytest.raises(ImportError, match=r"pip install 'tpstore\[msgpack\]'") as info:

        class Packed(Store):
            packed: Mapping[str, int] = field(codec="msgpack")

    assert info.value.name == "ormsgpack"
    monkeypatch.undo()
    assert importlib.import_module("tpstore.codecs.msgpack").name == "msgpack"


# -- the catalog -------------------------------------------------------------------


def _declare(value: Any, codec: Any = None, key: Any = str, key_codec: Any = None) -> type[Store]:
    class Declared(Store):
        items: OrderedMapping[key, value] = field(  # type: ignore[valid-type]
            codec=codec, key_codec=key_codec
        )

    return Declared


CHANGES = [
    # (first declaration, second declaration, what both sides show in the message)
    ((dict[str, int], None), (dict[str, int], "pickle"), ("'json' (TEXT)", "'pickle' (BLOB)")),
    ((dict[str, int], "pickle"), (dict[str, int], "msgpack"), ("'pickle'", "'msgpack'")),
    (
        (dict[str, int], None),
        (dict[str, int], codecs.compressed("json")),
        ("'json' (TEXT)", "'compressed(json)' (BLOB)"),
    ),
    (
        (dict[str, int], marshal),
        (dict[str, int], json),
        ("'module:marshal' (BLOB)", "'module:json' (TEXT)"),
    ),
    ((int, None), (str, None), ("'native' (INTEGER)", "'native' (TEXT)")),
    ((int, None), (float, None), ("(INTEGER)", "(REAL)")),
    ((bytes, None), (bytes, "pickle"), ("'native' (BLOB)", "'pickle' (BLOB)")),
    ((Pair, None), (Pair, "pickle"), ("'cattrs' (TEXT)", "'pickle' (BLOB)")),
    ((dict[str, int], "json"), (dict[str, int], "cattrs"), ("'json' (TEXT)", "'cattrs' (TEXT)")),
]


@pytest.mark.parametrize(("first", "second", "shown"), CHANGES, ids=repr)
def test_reopening_with_another_value_codec_or_affinity_is_refused(
    first: tuple[Any, Any], second: tuple[Any, Any], shown: tuple[str, str], tmp_path: Path
) -> None:
    """SchemaError names the recorded and the declared codec; the file is unchanged."""
    path = tmp_path / "c.db"
    with _declare(*first)(path):
        pass
    before = path.read_bytes()
    with pytest.raises(SchemaError) as info:
        _declare(*second)(path)
    message = str(info.value)
    recorded, declared = shown
    file_side, class_side = message.split("but the class declares", maxsplit=1)
    assert recorded in file_side
    assert declared in class_side
    assert path.read_bytes() == before
    with _declare(*first)(path):  # the original declaration still opens it
        pass


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((tuple[int, str], None), (tuple[int, str], "pickle")),
        ((int, None), (int, "tuple_key")),
        ((str, None), (bytes, None)),
    ],
    ids=repr,
)
def test_reopening_with_another_key_codec_is_refused(
    first: tuple[Any, Any], second: tuple[Any, Any], tmp_path: Path
) -> None:
    """Key codecs and key affinities are part of the layout too."""
    path = tmp_path / "k.db"
    with _declare(int, key=first[0], key_codec=first[1])(path):
        pass
    with pytest.raises(SchemaError, match="key codec"):
        _declare(int, key=second[0], key_codec=second[1])(path)


def test_catalog_records_codec_names_and_affinities(tmp_path: Path) -> None:
    """Each collection's key and value codec and affinity are in the catalog."""

    class Recorded(Store):
        users: Mapping[tuple[str, int], User]
        counts: Mapping[str, int]
        packed: OrderedMapping[datetime.date, bytes] = field(codec=codecs.compressed("native"))

    path = tmp_path / "r.db"
    with Recorded(path):
        pass
    rows = query(
        path,
        "SELECT name, key_codec, key_affinity, value_codec, value_affinity "
        "FROM _tpstore_catalog ORDER BY name",
    )
    assert rows == [
        ("counts", "native", "TEXT", "native", "INTEGER"),
        ("packed", "tuple_key", "BLOB", "compressed(native)", "BLOB"),
        ("users", "tuple_key", "BLOB", "json", "TEXT"),
    ]
