"""Every write re-validates instances at any depth, through every codec (DESIGN.md §4).

The matrix: codec by shape of the declared type by write path. A model (or dataclass, or
attrs) instance mutated into an invalid state is refused with `ValidationError`, and
the store's raw tables, read with SQL through another connection, are unchanged (on
SQLite and, when the suite has a server, on PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import marshal
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import attrs
import pydantic
import pydantic_core
import pytest
from helpers import every_row
from pydantic import BaseModel

from tpstore import (
    Deque,
    Mapping,
    OrderedMapping,
    SchemaError,
    Sequence,
    Set,
    Store,
    ValidationError,
    Value,
    field,
)
from tpstore.codecs import compressed


class User(BaseModel):
    name: str
    age: int = 0


class Holder(BaseModel):
    user: User
    note: str = ""


@dataclasses.dataclass
class Pair:
    user: User
    count: int = 0


@attrs.define
class AUser:
    name: str
    age: int = 0


@attrs.define
class AHolder:
    user: AUser


class JsonTextCodec:
    """A custom codec: pydantic-core's JSON of plain data, not exact, no for_type."""

    name = "custom-json"
    affinity = "TEXT"
    order_preserving = False

    def encode(self, value: Any) -> str:
        return pydantic_core.to_json(value).decode()

    def decode(self, raw: Any) -> Any:
        return pydantic_core.from_json(raw)


def _msgpack_available() -> bool:
    try:
        import ormsgpack  # noqa: F401
    except ImportError:
        return False
    return True


CODECS: dict[str, Any] = {
    "json": None,  # the default for these types
    "pickle": "pickle",
    "pickle-module": pickle,
    "compressed-json": compressed("json"),
    "compressed-pickle": compressed("pickle"),
    "custom": JsonTextCodec(),
}
if _msgpack_available():
    CODECS["msgpack"] = "msgpack"


# Each shape: the declared type, a good value, an invalid one (built by mutating
# instances after they validated), and a mutation that breaks a stored value in place.
def _bad_user() -> User:
    user = User(name="a")
    user.age = "not a number"  # type: ignore[assignment]
    return user


def _break_holder(holder: Holder) -> None:
    holder.user.age = "old"  # type: ignore[assignment]


SHAPES: dict[str, tuple[Any, Callable[[], Any], Callable[[], Any], Callable[[Any], None]]] = {
    "top": (User, lambda: User(name="a"), _bad_user, lambda v: setattr(v, "age", "x")),
    "list": (
        list[User],
        lambda: [User(name="a"), User(name="b")],
        lambda: [User(name="a"), _bad_user()],
        lambda v: setattr(v[1], "age", "x"),
    ),
    "dict": (
        dict[str, User],
        lambda: {"u": User(name="a")},
        lambda: {"u": _bad_user()},
        lambda v: setattr(v["u"], "age", "x"),
    ),
    "optional": (
        Optional[User],  # noqa: UP045 - the spelling under test
        lambda: User(name="a"),
        _bad_user,
        lambda v: setattr(v, "age", "x"),
    ),
    "union": (User | int, lambda: User(name="a"), _bad_user, lambda v: setattr(v, "age", "x")),
    "nested": (
        Holder,
        lambda: Holder(user=User(name="a")),
        lambda: Holder.model_construct(user=_bad_user()),
        _break_holder,
    ),
    "dataclass": (
        Pair,
        lambda: Pair(User(name="a")),
        lambda: Pair(_bad_user()),
        lambda v: setattr(v.user, "age", "x"),
    ),
}


def _bad_auser() -> AUser:
    user = AUser("a")
    user.age = "not a number"  # type: ignore[assignment]
    return user


ATTRS_SHAPES: dict[str, tuple[Any, Callable[[], Any], Callable[[], Any], Callable[[Any], None]]] = {
    "top": (AUser, lambda: AUser("a"), _bad_auser, lambda v: setattr(v, "age", "x")),
    "list": (
        list[AUser],
        lambda: [AUser("a")],
        lambda: [_bad_auser()],
        lambda v: setattr(v[0], "age", "x"),
    ),
    "dict": (
        dict[str, AUser],
        lambda: {"u": AUser("a")},
        lambda: {"u": _bad_auser()},
        lambda v: setattr(v["u"], "age", "x"),
    ),
    "optional": (
        Optional[AUser],  # noqa: UP045 - the spelling under test
        lambda: AUser("a"),
        _bad_auser,
        lambda v: setattr(v, "age", "x"),
    ),
    "nested": (
        AHolder,
        lambda: AHolder(AUser("a")),
        lambda: AHolder(_bad_auser()),
        lambda v: setattr(v.user, "age", "x"),
    ),
}

CASES = [
    pytest.param(codec, shape, id=f"{name}-{shape_name}")
    for name, codec in CODECS.items()
    for shape_name, shape in SHAPES.items()
] + [
    pytest.param("cattrs", shape, id=f"cattrs-{shape_name}")
    for shape_name, shape in ATTRS_SHAPES.items()
]


def _store_class(declared: Any, codec: Any) -> type[Store]:
    options = {} if codec is None else {"codec": codec}
    namespace: dict[str, Any] = {
        "__annotations__": {
            "mapping": Mapping[str, declared],  # type: ignore[valid-type]
            "ordered": OrderedMapping[str, declared],  # type: ignore[valid-type]
            "sequence": Sequence[declared],  # type: ignore[valid-type]
            "deque": Deque[declared],  # type: ignore[valid-type]
            "value": Value[declared],  # type: ignore[valid-type]
        },
        **{name: field(**options) for name in ("mapping", "ordered", "sequence", "deque", "value")},
    }
    return type("Matrix", (Store,), namespace)


@pytest.mark.parametrize(("codec", "shape"), CASES)
def test_an_invalid_instance_is_refused_by_every_write_path(
    shared_location: str, codec: Any, shape: tuple[Any, Any, Any, Any]
) -> None:
    """A mutated invalid instance raises ValidationError; the raw tables are unchanged."""
    declared, good, bad, break_in_place = shape
    with _store_class(declared, codec)(shared_location) as store:
        store.mapping["kept"] = good()
        store.ordered["kept"] = good()
        store.sequence.append(good())
        store.deque.append(good())
        store.value.set(good())
        assert store.mapping["kept"] == good()
        assert type(store.mapping["kept"]) is type(good())
        writes: dict[str, Callable[[], object]] = {
            "m[k] = v": lambda: store.mapping.__setitem__("k", bad()),
            "ordered m[k] = v": lambda: store.ordered.__setitem__("k", bad()),
            "m[kept] = v": lambda: store.mapping.__setitem__("kept", bad()),
            "update": lambda: store.mapping.update({"k": bad()}),
            "update pairs": lambda: store.mapping.update([("j", good()), ("k", bad())]),
            "setdefault": lambda: store.mapping.setdefault("k", bad()),
            "append": lambda: store.sequence.append(bad()),
            "extend": lambda: store.sequence.extend([good(), bad()]),
            "s[i] = v": lambda: store.sequence.__setitem__(0, bad()),
            "s[:] = vs": lambda: store.sequence.__setitem__(slice(None), [bad()]),
            "insert": lambda: store.sequence.insert(0, bad()),
            "deque append": lambda: store.deque.append(bad()),
            "deque appendleft": lambda: store.deque.appendleft(bad()),
            "deque extendleft": lambda: store.deque.extendleft([good(), bad()]),
            "d[i] = v": lambda: store.deque.__setitem__(0, bad()),
            "deque insert": lambda: store.deque.insert(0, bad()),
            "s += vs": lambda: store.sequence.__iadd__([bad()]),
            "m |= other": lambda: store.mapping.__ior__({"k": bad()}),
            "value set": lambda: store.value.set(bad()),
        }
        before = every_row(shared_location)
        assert len(before["mapping"]) == 1  # (the raw read sees the kept item)
        for what, write in writes.items():
            with pytest.raises(ValidationError):
                write()
            assert every_row(shared_location) == before, what
        for edit in (
            lambda: store.mapping.edit("kept"),
            lambda: store.ordered.edit("kept"),
            store.value.edit,
        ):
            with pytest.raises(ValidationError), edit() as current:
                break_in_place(current)
            assert every_row(shared_location) == before
        assert store.mapping["kept"] == good()
        assert store.value.get() == good()


@pytest.mark.parametrize("codec", [None, "pickle", compressed("pickle"), JsonTextCodec()])
def test_lax_coercion_is_stored_and_read_back(db_path: Path, codec: Any) -> None:
    """A mutated field pydantic can coerce (`"7"` for an int) is stored coerced, any codec."""
    with _store_class(Holder, codec)(db_path) as store:
        holder = Holder(user=User(name="a"))
        holder.user.age = "7"  # type: ignore[assignment]
        store.mapping["h"] = holder
        back = store.mapping["h"]
        assert back == Holder(user=User(name="a", age=7))
        assert type(back.user.age) is int


def test_a_stored_pickle_of_an_invalid_instance_is_corrupt(db_path: Path) -> None:
    """A read re-validates too: a pickle of a broken instance is a CorruptValueError."""
    from tpstore import CorruptValueError

    with _store_class(User, "pickle")(db_path) as store:
        store.mapping["a"] = User(name="a")
    from helpers import execute

    execute(db_path, 'UPDATE "mapping" SET value = ?', (pickle.dumps(_bad_user()),))
    with _store_class(User, "pickle")(db_path) as store:
        with pytest.raises(CorruptValueError) as caught:
            store.mapping["a"]
        assert caught.value.key == "a"


def test_the_error_locates_the_bad_field(db_path: Path) -> None:
    """The refusal names the path to the field at fault and has pydantic's cause."""
    with _store_class(list[Holder], "pickle")(db_path) as store:
        holder = Holder(user=User(name="a"))
        holder.user.age = "old"  # type: ignore[assignment]
        with pytest.raises(ValidationError, match=r"1\.user\.age") as caught:
            store.mapping["k"] = [Holder(user=User(name="b")), holder]
        assert caught.value.errors()[0]["loc"] == (1, "user", "age")
        assert isinstance(caught.value.__cause__, pydantic.ValidationError)
        assert caught.value.key == "k"


# -- values read back as written: unions --------------------------------------------------


@pytest.mark.parametrize(
    "declared",
    [tuple[int, ...] | list[int], set[int] | list[int], frozenset[int] | set[int]],
    ids=["tuple-list", "set-list", "frozenset-set"],
)
@pytest.mark.parametrize("codec", [None, "msgpack", compressed("json"), marshal])
def test_unions_the_codec_cannot_tell_apart_are_refused_at_class_creation(
    declared: Any, codec: Any
) -> None:
    """A union of two kinds of array under a codec without exact types: SchemaError."""
    if codec == "msgpack" and not _msgpack_available():
        pytest.skip("ormsgpack is not installed")
    options = {} if codec is None else {"codec": codec}
    with pytest.raises(SchemaError, match=r"Broken\.values.*alike") as caught:
        type(
            "Broken",
            (Store,),
            {"__annotations__": {"values": Mapping[str, declared]}, "values": field(**options)},
        )
    members = [arg.__name__ for arg in declared.__args__]
    assert all(member in str(caught.value) for member in members)


@pytest.mark.parametrize("codec", ["pickle", pickle, compressed("pickle")])
def test_unions_round_trip_exactly_through_exact_codecs(db_path: Path, codec: Any) -> None:
    """Pickle keeps types: each member of a union comes back as itself."""

    class Exact(Store):
        values: Mapping[str, tuple[int, ...] | list[int] | set[int]] = field(codec=codec)

    with Exact(db_path) as store:
        for key, value in {"t": (1, 2, 3), "l": [1, 2, 3], "s": {1, 2, 3}}.items():
            store.values[key] = value
            back = store.values[key]
            assert back == value
            assert type(back) is type(value)


class Cat(BaseModel):
    name: str


class Dog(BaseModel):
    name: str


@pytest.mark.parametrize("codec", [None, "msgpack", JsonTextCodec()])
def test_a_union_member_that_would_read_back_as_another_is_refused(
    db_path: Path, codec: Any
) -> None:
    """`Cat | Dog` alike under JSON: a Dog is refused rather than read back as a Cat."""
    if codec == "msgpack" and not _msgpack_available():
        pytest.skip("ormsgpack is not installed")

    class Pets(Store):
        pets: Mapping[str, Cat | Dog] = field(codec=codec)
        stamps: Mapping[str, str | bytes] = field(codec=codec)

    with Pets(db_path) as store:
        store.pets["c"] = Cat(name="tom")
        assert type(store.pets["c"]) is Cat
        before = every_row(db_path)
        with pytest.raises(ValidationError, match="read back"):
            store.pets["d"] = Dog(name="rex")
        assert every_row(db_path) == before
        assert "d" not in store.pets
        if codec == "msgpack":
            return  # msgpack keeps bytes apart from text: str | bytes round-trips
        store.stamps["s"] = "text"
        before = every_row(db_path)
        with pytest.raises(ValidationError, match="read back"):
            store.stamps["b"] = b"bytes"
        assert every_row(db_path) == before


def test_a_discriminated_union_round_trips_under_json(db_path: Path) -> None:
    """The suggested discriminated form keeps each member's type under JSON."""
    from typing import Literal

    class Tom(BaseModel):
        kind: Literal["cat"] = "cat"
        name: str

    class Rex(BaseModel):
        kind: Literal["dog"] = "dog"
        name: str

    class Pets(Store):
        pets: Mapping[str, Tom | Rex]

    with Pets(db_path) as store:
        store.pets["c"] = Tom(name="tom")
        store.pets["d"] = Rex(name="rex")
        assert type(store.pets["c"]) is Tom
        assert type(store.pets["d"]) is Rex


# -- error shaping ------------------------------------------------------------------------


class BadRepr:
    """An object whose repr() raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class UnhashableBadRepr(BadRepr):
    __hash__ = None  # type: ignore[assignment]


class Tagged(Store):
    tags: Set[str]
    users: Mapping[str, User]
    any_values: Mapping[str, Any]


@pytest.mark.parametrize("value", [BadRepr(), UnhashableBadRepr(), [BadRepr()]])
def test_a_value_whose_repr_raises_gets_validation_error(db_path: Path, value: Any) -> None:
    """Building the message never calls a user object's __repr__ unguarded."""
    with Tagged(db_path) as store:
        with pytest.raises(ValidationError) as caught:
            store.tags.add(value)
        assert "tags" in str(caught.value)
        with pytest.raises(ValidationError):
            store.users[value] = User(name="a")
        with pytest.raises(ValidationError):
            store.users["k"] = value
        assert value not in store.tags
        with pytest.raises(KeyError):
            store.users[value]
        assert store.users.get(value) is None


@pytest.mark.parametrize(
    "key",
    ["\ud800", ["\ud800"], {"\ud800": 1}, ("\ud800", 1), b"\xff", {"\udfff"}],
    ids=["str", "list", "dict", "tuple", "bytes", "set"],
)
def test_lookups_with_lone_surrogates_behave_as_missing(db_path: Path, key: Any) -> None:
    """A surrogate in an invalid key is a missing key, not an error from error shaping."""
    with Tagged(db_path) as store:
        store.tags.add("a")
        assert (key in store.tags) is False
        with pytest.raises(KeyError):
            store.users[key]
        assert store.users.get(key) is None
        assert (key in store.users) is False


def test_a_surrogate_value_is_refused_with_a_readable_error(db_path: Path) -> None:
    """A lone surrogate inside a refused value still gives ValidationError with a message."""
    with Tagged(db_path) as store:
        with pytest.raises(ValidationError) as caught:
            store.users["k"] = {"name": "\ud800", "age": "\udfff"}
        assert caught.value.errors()
        assert "age" in str(caught.value)


def test_a_huge_refused_value_gives_a_short_message(db_path: Path) -> None:
    """A huge invalid key gives a message of reasonable size."""
    with Tagged(db_path) as store:
        with pytest.raises(ValidationError) as caught:
            store.users["x" * 1_000_000] = "not a user"
        assert len(str(caught.value)) < 2_000


class Aliased(BaseModel):
    name: str = pydantic.Field(alias="fullName")


def test_aliases_keep_pydantic_rules_for_plain_data(db_path: Path) -> None:
    """Plain data is validated by alias as pydantic does; instances re-validate by name."""
    with _store_class(Aliased, "pickle")(db_path) as store:
        store.mapping["a"] = {"fullName": "Ada"}
        with pytest.raises(ValidationError):
            store.mapping["b"] = {"name": "Bob"}
        instance = Aliased(fullName="Cy")
        store.mapping["c"] = instance
        assert store.mapping["c"] == instance
        instance.name = 3  # type: ignore[assignment]
        with pytest.raises(ValidationError):
            store.mapping["d"] = instance


def test_a_broken_instance_after_plain_dicts_is_found(db_path: Path) -> None:
    """A list of dicts is skipped in one loop, up to the first instance, which is checked."""
    with _store_class(list[User], None)(db_path) as store:
        store.mapping["ok"] = [{"name": "a"}, {"name": "b"}]
        with pytest.raises(ValidationError, match=r"2\.age"):
            store.mapping["k"] = [{"name": "a"}, {"name": "b"}, _bad_user()]
        assert list(store.mapping) == ["ok"]
