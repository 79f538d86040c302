"""Every codec working through real stores: round trips, edge values, affinities, JSON.

The round trips run one shared "everything" model (`everything.py`) through each
codec in a store on file and in memory, then read everything back again after
reopening the file. Affinities and JSON text are checked from outside with plain
`sqlite3` (the table of a collection is named after its field).
"""

import dataclasses
import datetime
import json
import marshal
import math
import pickle
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pydantic
import pytest
from everything import (
    INT64_MAX,
    INT64_MIN,
    Colour,
    Everything,
    EverythingAttrs,
    Level,
    everything_fields,
    exact,
    finite,
    make_attrs,
    make_model,
    text,
)
from helpers import query
from hypothesis import example, given, settings
from hypothesis import strategies as st
from postgres_server import is_postgres

import tpstore
from tpstore import Mapping, OrderedMapping, Store, ValidationError, Value, codecs, field

# -- the everything round trip, per codec ---------------------------------------------

MODEL_CODECS: dict[str, Any] = {
    "json": None,  # the default for a pydantic model
    "pickle": "pickle",
    "msgpack": "msgpack",
    "compressed(json)": codecs.compressed("json"),
    "compressed(pickle)": codecs.compressed(codecs.pickle),
    "compressed(msgpack)": codecs.compressed("msgpack"),
}


@pytest.mark.parametrize("name", sorted(MODEL_CODECS))
def test_everything_round_trips_through_a_store(name: str, tmp_path: Path) -> None:
    """Each codec stores the everything model and reads it back exactly, also after reopening."""
    spec = MODEL_CODECS[name]

    class Models(Store):
        file: Mapping[int, Everything] = field(codec=spec)
        memory: OrderedMapping[int, Everything] = field(codec=spec)

    path = tmp_path / "models.db"
    written: dict[int, Everything] = {}
    with Models(path) as store, Models(None) as in_memory:
        assert store.file._spec.value.codec.name == name  # type: ignore[attr-defined]

        @settings(max_examples=30)
        @given(everything_fields)
        def check(fields: dict[str, Any]) -> None:
            value = make_model(fields)
            key = len(written)
            store.file[key] = value
            in_memory.memory[key] = value
            written[key] = value
            for back in (store.file[key], in_memory.memory[key]):
                assert type(back) is Everything
                assert exact(back) == exact(value)

        check()
    with Models(path) as reopened:
        assert {k: exact(v) for k, v in reopened.file.items()} == {
            k: exact(v) for k, v in written.items()
        }


def test_attrs_everything_round_trips_through_the_cattrs_codec(tmp_path: Path) -> None:
    """The attrs twin goes through cattrs (the default for attrs) and reads back exactly."""

    class Records(Store):
        records: Mapping[int, EverythingAttrs]
        maybe: Mapping[int, Optional[EverythingAttrs]]  # noqa: UP045
        many: Mapping[int, list[EverythingAttrs]]
        named: Mapping[int, dict[str, EverythingAttrs]]

    path = tmp_path / "records.db"
    written: dict[int, EverythingAttrs] = {}
    with Records(path) as store:
        for collection in (store.records, store.maybe, store.many, store.named):
            assert collection._spec.value.codec.name == "cattrs"  # type: ignore[attr-defined]

        @settings(max_examples=30)
        @given(everything_fields)
        def check(fields: dict[str, Any]) -> None:
            value = make_attrs(fields)
            key = len(written)
            written[key] = value
            store.records[key] = value
            store.maybe[key] = value if key % 2 else None
            store.many[key] = [value, value]
            store.named[key] = {"v": value}
            assert exact(store.records[key]) == exact(value)
            assert exact(store.maybe[key]) == exact(value if key % 2 else None)
            assert exact(store.many[key]) == exact([value, value])
            assert exact(store.named[key]) == exact({"v": value})

        check()
    with Records(path) as reopened:
        assert {k: exact(v) for k, v in reopened.records.items()} == {
            k: exact(v) for k, v in written.items()
        }


def test_attrs_values_of_the_wrong_type_are_refused() -> None:
    """An attrs value that would not read back as itself is refused; nothing is written."""

    class Records(Store):
        records: Mapping[int, list[EverythingAttrs]]

    with Records(None) as store:
        with pytest.raises(ValidationError) as info:
            store.records[1] = ["not a record"]  # type: ignore[list-item]
        assert info.value.key == 1
        assert 1 not in store.records


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize("module", [marshal, json], ids=["marshal", "json"])
def test_module_codecs_round_trip_through_a_store(module: Any, tmp_path: Path) -> None:
    """codec=marshal and codec=json (modules) store JSON-like values and read them back."""

    class Blobs(Store):
        blobs: Mapping[int, pydantic.JsonValue] = field(codec=module)

    path = tmp_path / "blobs.db"
    written: dict[int, Any] = {}
    with Blobs(path) as store:
        assert store.blobs._spec.value.codec.name == f"module:{module.__name__}"  # type: ignore[attr-defined]

        @given(json_values)
        def check(value: Any) -> None:
            key = len(written)
            written[key] = value
            store.blobs[key] = value
            assert exact(store.blobs[key]) == exact(value)

        check()
    with Blobs(path) as reopened:
        assert dict(reopened.blobs) == written
    affinity = "blob" if module is marshal else "text"
    assert {row[0] for row in query(path, "SELECT typeof(value) FROM blobs")} == {affinity}


def test_stdlib_pickle_module_is_the_pickle_codec(tmp_path: Path) -> None:
    """codec=pickle (the stdlib module) is recorded as the built-in "pickle" codec."""

    class Jar(Store):
        jar: Mapping[str, complex] = field(codec=pickle)

    with Jar(tmp_path / "jar.db") as store:
        store.jar["i"] = 1j
        assert store.jar["i"] == 1j
    assert query(tmp_path / "jar.db", "SELECT value_codec FROM _tpstore_catalog") == [("pickle",)]


native_values = {
    "integer": (int, st.integers(INT64_MIN, INT64_MAX)),
    "real": (float, finite | st.sampled_from([math.inf, -math.inf, 5e-324, sys.float_info.max])),
    "text": (str, text),
    "blob": (bytes, st.binary()),
    "maybe": (Optional[int], st.none() | st.integers(INT64_MIN, INT64_MAX)),  # noqa: UP045
    "colour": (Colour, st.sampled_from(Colour)),
    "level": (Level, st.sampled_from(Level)),
}


@pytest.mark.parametrize("name", sorted(native_values))
def test_native_values_round_trip_through_a_store(name: str, tmp_path: Path) -> None:
    """Native values read back equal and of the declared type, also after reopening."""
    declared, values = native_values[name]

    class Natives(Store):
        natives: Mapping[int, declared]  # type: ignore[valid-type]

    path = tmp_path / "natives.db"
    written: dict[int, Any] = {}
    with Natives(path) as store:

        @given(values)
        def check(value: Any) -> None:
            key = len(written)
            written[key] = value
            store.natives[key] = value
            back = store.natives[key]
            assert back == value
            assert type(back) is type(value)

        check()
    with Natives(path) as reopened:
        assert dict(reopened.natives) == written


# -- SQLite edge values through stores ------------------------------------------------


class Edges(Store):
    ints: Mapping[int, int]
    floats: Mapping[str, float]
    texts: Mapping[str, str]
    blobs: Mapping[str, bytes]
    json_floats: Mapping[str, list[float]]
    pickled: Mapping[str, float] = field(codec="pickle")
    packed: Mapping[str, bytes] = field(codec="msgpack")
    squeezed: Mapping[str, bytes] = field(codec=codecs.compressed("native"))


ODD_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\ufeff",  # byte order mark
    "\uffff\ufffe",  # noncharacters
    "e\u0301",  # combining accent
    "\u202eabc",  # right-to-left override
    "\U0001f600\U0010ffff",  # astral plane
    "\r\n\t",
    "'; DROP TABLE texts; --",
]


def test_int64_bounds_are_stored_and_beyond_refused(location: str | None) -> None:
    """Keys and values at the int64 bounds round-trip; one past them is refused, unwritten."""
    with Edges(location) as store:
        for number in (INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX):
            store.ints[number] = number
            assert store.ints[number] == number
        assert list(store.ints) == sorted(store.ints)
        for number in (INT64_MAX + 1, INT64_MIN - 1, 2**100):
            with pytest.raises(ValidationError):
                store.ints[0] = number
            with pytest.raises(ValidationError):
                store.ints[number] = 0
        assert store.ints[0] == 0
        assert len(store.ints) == 7


def test_negative_zero(location: str | None) -> None:
    """Native REAL gives -0.0 back as 0.0 (SQLite); JSON and pickle keep the sign."""
    with Edges(location) as store:
        store.floats["z"] = -0.0
        store.json_floats["z"] = [-0.0]
        store.pickled["z"] = -0.0
        assert store.floats["z"] == 0.0
        assert math.copysign(1.0, store.json_floats["z"][0]) == -1.0
        assert math.copysign(1.0, store.pickled["z"]) == -1.0


def test_nan_and_infinity_policy(location: str | None) -> None:
    """NaN: refused natively and in JSON; inf: kept natively, refused in JSON; pickle keeps both."""
    with Edges(location) as store:
        with pytest.raises(ValidationError):
            store.floats["nan"] = math.nan
        store.floats["inf"] = math.inf
        assert store.floats["inf"] == math.inf
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(ValidationError):
                store.json_floats["x"] = [1.0, bad]
        assert "x" not in store.json_floats
        store.pickled["nan"] = math.nan
        assert math.isnan(store.pickled["nan"])


@pytest.mark.parametrize("value", ODD_TEXT)
def test_odd_unicode_keys_and_values(location: str | None, value: str) -> None:
    """Odd Unicode is stored exactly as keys and values, and lone surrogates are refused.

    PostgreSQL text cannot hold NUL: there such a key or value is refused, never altered.
    """
    with Edges(location) as store:
        if is_postgres(location) and "\x00" in value:
            with pytest.raises(ValidationError):
                store.texts[value] = "a"
            with pytest.raises(ValidationError):
                store.texts["a"] = value
            assert len(store.texts) == 0
            return
        store.texts[value] = value
        assert store.texts[value] == value
        assert list(store.texts) == [value]
        with pytest.raises(ValidationError):
            store.texts[value + "\ud800"] = value
        with pytest.raises(ValidationError):
            store.texts[value] = "\udfff" + value
        assert store.texts[value] == value


@pytest.mark.parametrize("size", [0, 1, 10 * 1024 * 1024])
def test_empty_and_large_blobs(location: str | None, size: int) -> None:
    """Empty, one-byte and 10 MB blobs round-trip natively, through msgpack and compressed."""
    data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)
    with Edges(location) as store:
        for collection in (store.blobs, store.packed, store.squeezed):
            collection["b"] = data
            assert collection["b"] == data
        store.blobs[""] = b""  # the empty key too
        assert store.blobs[""] == b""


# -- key order: iteration and range() agree with Python -------------------------------

aware = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=st.just(datetime.UTC)
    | st.integers(-600, 600).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m))),
)
scalars = st.none() | st.integers(-(2**70), 2**70) | finite | text | st.binary(max_size=4)

KEY_TYPES: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "int": (int, st.integers(INT64_MIN, INT64_MAX)),
    "float": (float, st.floats(allow_nan=False) | st.integers(-5, 5).map(float)),
    "str": (str, text),
    "bytes": (bytes, st.binary(max_size=6)),
    "bool": (bool, st.booleans()),
    "Level": (Level, st.sampled_from(Level)),
    "datetime": (datetime.datetime, st.datetimes()),
    "aware datetime": (pydantic.AwareDatetime, aware),
    "date": (datetime.date, st.dates()),
    "UUID": (uuid.UUID, st.uuids()),
    "Optional[int]": (Optional[int], st.none() | st.integers(-(2**63), 2**63 - 1)),  # noqa: UP045
    "tuple[int, str]": (tuple[int, str], st.tuples(st.integers(-300, 300), text)),
    "tuple[int, ...]": (
        tuple[int, ...],
        st.lists(st.integers(-(2**65), 2**65), max_size=4).map(tuple),
    ),
    "tuple[str, tuple[int, float]]": (
        tuple[str, tuple[int, float]],
        st.tuples(
            st.sampled_from(["", "a", "a\x00", "b"]),
            st.tuples(st.integers(-3, 3), st.floats(allow_nan=False)),
        ),
    ),
    "tuple[Optional[int], bytes]": (
        tuple[Optional[int], bytes],  # noqa: UP045
        st.tuples(st.none() | st.integers(-3, 3), st.binary(max_size=3)),
    ),
    "tuple[datetime, UUID]": (
        tuple[datetime.datetime, uuid.UUID],
        st.tuples(st.datetimes(), st.uuids()),
    ),
    "tuple[date, bool, str]": (
        tuple[datetime.date, bool, str],
        st.tuples(st.dates(), st.booleans(), text),
    ),
}


def _python_key(value: Any) -> Any:
    """Python's order, with None first (Python cannot compare None with other values)."""
    if isinstance(value, tuple):
        return tuple(_python_key(v) for v in value)
    return (0, 0) if value is None else (1, value)


def _exact(value: Any) -> Any:
    """`value` with what tells apart keys that Python calls equal: number types, and a
    datetime's `fold` and UTC offset."""
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    if isinstance(value, datetime.datetime):
        return (value, value.fold, value.utcoffset())
    if isinstance(value, int | float):
        return (type(value), value)
    return value


@pytest.mark.parametrize("name", list(KEY_TYPES))
def test_key_order_and_range_agree_with_python(name: str) -> None:
    """Iteration is sorted(keys); range(start, stop) holds exactly start <= k < stop.

    Keys that Python calls equal but the store keeps apart (another UTC offset or
    `fold`) follow one another in the order of their stored form (tuple_key's variant
    suffix), and so do bounds of `range()` that equal such a key.
    """
    declared, keys = KEY_TYPES[name]

    class Keys(Store):
        keys: Mapping[declared, int]  # type: ignore[valid-type]

    with Keys(None) as store:
        codec = store.keys._spec.key.codec  # type: ignore[attr-defined]
        assert codec.order_preserving

        def order(key: Any) -> Any:
            return _python_key(key), codec.encode(key)

        @given(st.lists(keys, max_size=12), keys, keys, st.booleans())
        def check(values: list[Any], start: Any, stop: Any, reverse: bool) -> None:
            store.keys.clear()
            # Keys Python calls equal but written differently (another UTC offset or
            # `fold`, another number type) are distinct keys of the store (tuple_key's
            # "Values that Python calls equal"), so the model keeps them apart too.
            model: dict[Any, tuple[Any, int]] = {}
            for i, value in enumerate(values):
                store.keys[value] = i
                model[_exact(value)] = (value, i)
            expected = sorted((value for value, _ in model.values()), key=order)
            got = list(store.keys)
            assert [order(k) for k in got] == [order(k) for k in expected]
            assert Counter(map(_exact, got)) == Counter(model.keys())
            assert {_exact(k): store.keys[k] for k in got} == {
                exact: i for exact, (_, i) in model.items()
            }
            if start is None or stop is None:
                return  # None means "no bound" to range()
            inside = [k for k in got if order(start) <= order(k) < order(stop)]
            ranged = [k for k, _ in store.keys.range(start, stop, reverse=reverse)]
            assert ranged == (inside[::-1] if reverse else inside)
            assert [k for k, _ in store.keys.range(start)] == [
                k for k in got if order(start) <= order(k)
            ]
            assert [k for k, _ in store.keys.range(stop=stop)] == [
                k for k in got if order(k) < order(stop)
            ]

        if name == "aware datetime":  # the same instant, a bound with the other fold
            noon = datetime.datetime(2000, 1, 1, 12, tzinfo=datetime.UTC)
            for start, stop in ((noon.replace(fold=1), noon), (noon, noon.replace(fold=1))):
                example([noon], start, stop, False)(check)()
        check()


def test_aware_datetime_keys_compare_in_utc_and_keep_their_offset(tmp_path: Path) -> None:
    """Aware datetime keys sort by instant and read back with the offset they were written in."""

    class Events(Store):
        events: Mapping[datetime.datetime, str]

    east = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    west = datetime.timezone(datetime.timedelta(hours=-8))
    odd = datetime.timezone(datetime.timedelta(minutes=-16, seconds=-8))
    keys = [
        datetime.datetime(2024, 1, 1, 12, tzinfo=east),  # 06:30 UTC
        datetime.datetime(2024, 1, 1, 0, tzinfo=west),  # 08:00 UTC
        datetime.datetime(2024, 1, 1, 7, tzinfo=datetime.UTC),  # 07:00 UTC
        datetime.datetime(1890, 1, 1, 12, tzinfo=odd),  # an offset with seconds
    ]
    path = tmp_path / "events.db"
    with Events(path) as store:
        for key in keys:
            store.events[key] = key.isoformat()
    with Events(path) as store:
        got = list(store.events)
        assert got == sorted(keys)
        assert [k.isoformat() for k in got] == [store.events[k] for k in got]


# -- faithfulness of the JSON path ----------------------------------------------------


class Timed(pydantic.BaseModel):
    """A model with aware datetimes and times."""

    when: datetime.datetime
    at: datetime.time | None = None
    history: dict[str, datetime.datetime] = {}


@pytest.mark.parametrize(
    "offset",
    [
        datetime.timedelta(minutes=-16, seconds=-8),
        datetime.timedelta(seconds=1),
        datetime.timedelta(microseconds=1),
        datetime.timedelta(hours=5, minutes=30, seconds=59),
    ],
)
def test_json_refuses_offsets_with_seconds(offset: datetime.timedelta) -> None:
    """pydantic's JSON drops sub-minute UTC offsets, so such values are refused, never changed."""

    class Log(Store):
        log: Mapping[int, Timed]
        stamps: Value[datetime.datetime]
        anything: Mapping[int, Any]

    tz = datetime.timezone(offset)
    moment = datetime.datetime(1890, 1, 1, 12, tzinfo=tz)
    with Log(None) as store:
        for bad in (
            {"when": moment},
            {"when": moment.replace(tzinfo=datetime.UTC), "at": datetime.time(1, tzinfo=tz)},
            {"when": datetime.datetime(2000, 1, 1), "history": {"x": moment}},
        ):
            with pytest.raises(ValidationError, match="offset with seconds") as info:
                store.log[1] = bad
            assert info.value.key == 1
        assert 1 not in store.log
        with pytest.raises(ValidationError, match="offset with seconds"):
            store.stamps.set(moment)
        with pytest.raises(ValidationError):
            store.anything[1] = moment
        store.log[2] = {"when": moment.astimezone(datetime.UTC)}
        assert store.log[2].when == moment


def test_json_keeps_whole_minute_offsets() -> None:
    """Aware datetimes with whole-minute offsets read back with that offset."""

    class Log(Store):
        log: Mapping[int, Timed]

    tz = datetime.timezone(datetime.timedelta(hours=-9, minutes=-30))
    moment = datetime.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=tz)
    with Log(None) as store:
        store.log[1] = {"when": moment, "at": datetime.time(23, 59, tzinfo=tz)}
        back = store.log[1]
        assert back.when.isoformat() == moment.isoformat()
        assert back.at is not None
        assert back.at.isoformat() == "23:59:00-09:30"


def test_json_refuses_bytes_that_are_not_utf8() -> None:
    """Bytes in a JSON value must be UTF-8 (pydantic writes them as text); others are refused."""

    class Bags(Store):
        bags: Mapping[int, list[bytes]]

    with Bags(None) as store:
        store.bags[1] = [b"ok\x00"]
        assert store.bags[1] == [b"ok\x00"]
        with pytest.raises(ValidationError, match="no JSON form"):
            store.bags[2] = [b"\xff"]
        assert 2 not in store.bags


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        {1: "a"},
        {"a": {1, 2}},
        datetime.date(2024, 1, 1),
        uuid.UUID(int=1),
        b"x",
        Colour.RED,
        [1, (2,)],
    ],
    ids=repr,
)
def test_json_any_refuses_what_would_come_back_changed(value: Any) -> None:
    """Under Any, a value JSON would give back as another type is refused, not changed."""

    class Loose(Store):
        loose: Mapping[int, Any]

    with Loose(None) as store:
        with pytest.raises(ValidationError, match="would not read back"):
            store.loose[1] = value
        assert 1 not in store.loose
        store.loose[2] = {"a": [1, 2.5, None, True, "x"]}
        assert store.loose[2] == {"a": [1, 2.5, None, True, "x"]}


def test_json_dict_keys_that_do_not_come_back_are_refused() -> None:
    """dict keys JSON cannot carry back (tuples, None) are refused; empty dicts are fine."""

    class Odd(Store):
        pairs: Mapping[int, dict[tuple[int, int], str]]
        maybe: Mapping[int, dict[Optional[int], int]]  # noqa: UP045
        plain: Mapping[int, dict[int, str]]

    with Odd(None) as store:
        with pytest.raises(ValidationError):
            store.pairs[1] = {(1, 2): "a"}
        with pytest.raises(ValidationError):
            store.maybe[1] = {None: 1}
        store.pairs[2] = {}
        store.maybe[2] = {3: 4}
        store.plain[2] = {3: "x"}
        assert (store.pairs[2], store.maybe[2], store.plain[2]) == ({}, {3: 4}, {3: "x"})


class MaybeFloat(pydantic.BaseModel):
    """A float that JSON's null would silently turn into None."""

    x: float | None = None


class Tree(pydantic.BaseModel):
    """A recursive model."""

    weight: float = 0.0
    children: list["Tree"] = []


class Loose(pydantic.BaseModel):
    """A model keeping extra fields."""

    model_config = pydantic.ConfigDict(extra="allow")
    name: str = ""


@dataclasses.dataclass
class Sample:
    """A dataclass with a float."""

    value: float


@pytest.mark.parametrize(
    ("declared", "bad"),
    [
        (MaybeFloat, {"x": math.nan}),
        (list[MaybeFloat], [{"x": 1.0}, {"x": math.inf}]),
        (dict[str, Optional[float]], {"a": -math.inf}),  # noqa: UP045
        (Tree, {"children": [{"children": [{"weight": math.nan}]}]}),
        (Loose, {"name": "x", "extra": [math.nan]}),
        (Sample, {"value": math.inf}),
        (tuple[int, float | None], (1, math.nan)),
        (Any, {"a": [math.nan]}),
    ],
    ids=repr,
)
def test_json_refuses_inf_and_nan_wherever_they_hide(declared: Any, bad: Any) -> None:
    """inf/NaN anywhere in a JSON value is refused (JSON would write null), nothing written."""

    class Floats(Store):
        floats: Mapping[int, declared]  # type: ignore[valid-type]

    with Floats(None) as store:
        with pytest.raises(ValidationError):
            store.floats[1] = bad
        assert 1 not in store.floats
        if declared is MaybeFloat:
            instance = MaybeFloat(x=1.0)
            instance.x = math.nan  # no validate_assignment: the instance now holds NaN
            with pytest.raises(ValidationError):
                store.floats[1] = instance
            store.floats[1] = MaybeFloat()
            assert store.floats[1] == MaybeFloat(x=None)


@pytest.mark.parametrize(
    "spec",
    ["msgpack", json, codecs.compressed("msgpack"), "native"],
    ids=["msgpack", "json module", "compressed(msgpack)", "native"],
)
def test_any_values_that_would_change_are_refused(spec: Any) -> None:
    """Codecs that do not validate (msgpack, modules, untyped native) refuse a changing Any."""

    class Loose(Store):
        loose: Mapping[int, Any] = field(codec=spec)

    changing = True if spec == "native" else (1, 2)  # native stores True as 1
    with Loose(None) as store:
        with pytest.raises(ValidationError, match="would not read back"):
            store.loose[1] = changing
        assert 1 not in store.loose
        kept = 5 if spec == "native" else {"a": [1, "x", None]}
        store.loose[2] = kept
        assert store.loose[2] == kept


# -- affinities and JSON from outside -------------------------------------------------


class Affinities(Store):
    integers: Mapping[int, int]
    reals: Mapping[int, float]
    texts: Mapping[str, str]
    blobs: Mapping[bytes, bytes]
    levels: Mapping[Level, Level]
    colours: Mapping[Colour, Colour]
    maybe: Mapping[int, Optional[float]]  # noqa: UP045
    pairs: Mapping[tuple[int, str], Everything]
    moments: Mapping[datetime.datetime, datetime.datetime]
    records: Mapping[uuid.UUID, EverythingAttrs]
    pickled: Mapping[int, Everything] = field(codec="pickle")
    packed: Mapping[int, Everything] = field(codec="msgpack")
    squeezed: Mapping[int, Everything] = field(codec=codecs.compressed("json"))
    marshalled: Mapping[int, dict[str, int]] = field(codec=marshal)
    stdlib: Mapping[int, dict[str, int]] = field(codec=json)
    setting: Value[int]


EXPECTED_AFFINITIES = {
    "integers": ("integer", "integer"),
    "reals": ("integer", "real"),
    "texts": ("text", "text"),
    "blobs": ("blob", "blob"),
    "levels": ("integer", "integer"),
    "colours": ("text", "text"),
    "maybe": ("integer", "null"),
    "pairs": ("blob", "text"),
    "moments": ("blob", "text"),
    "records": ("blob", "text"),
    "pickled": ("integer", "blob"),
    "packed": ("integer", "blob"),
    "squeezed": ("integer", "blob"),
    "marshalled": ("integer", "blob"),
    "stdlib": ("integer", "text"),
}


@given(everything_fields)
@settings(max_examples=1)
def test_affinities_are_what_sqlite_stores(fields: dict[str, Any]) -> None:
    """SELECT typeof(key), typeof(value) on each table shows the codec's affinity."""
    model, record = make_model(fields), make_attrs(fields)
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    with tpstore_tempdir() as folder:
        path = folder / "affinities.db"
        with Affinities(path) as store:
            store.integers[1] = 1
            store.reals[1] = 1.5
            store.texts["a"] = "a"
            store.blobs[b"a"] = b"a"
            store.levels[Level.LOW] = Level.HIGH
            store.colours[Colour.RED] = Colour.BLUE
            store.maybe[1] = None
            store.pairs[(1, "a")] = model
            store.moments[now] = now
            store.records[uuid.UUID(int=1)] = record
            store.pickled[1] = model
            store.packed[1] = model
            store.squeezed[1] = model
            store.marshalled[1] = {"a": 1}
            store.stdlib[1] = {"a": 1}
            store.setting.set(3)
        for table, expected in EXPECTED_AFFINITIES.items():
            rows = query(path, f'SELECT typeof(key), typeof(value) FROM "{table}"')
            assert rows == [expected], table
        assert query(path, "SELECT typeof(value) FROM setting") == [("integer",)]
        catalog = dict(query(path, "SELECT name, value_affinity FROM _tpstore_catalog"))
        assert catalog["pairs"] == "TEXT"
        assert catalog["pickled"] == "BLOB"


def test_json_values_are_readable_with_json_extract(tmp_path: Path) -> None:
    """JSON and cattrs values are TEXT that SQLite's json_extract reads."""

    class Docs(Store):
        models: Mapping[str, Everything]
        records: Mapping[str, EverythingAttrs]
        lists: Mapping[str, list[dict[str, float]]]

    fields = {
        "number": 7,
        "real": 1.5,
        "text": "hé",
        "data": b"d",
        "flag": True,
        "maybe": None,
        "items": [{"label": "x", "weight": 2.0}],
        "tags": {"t"},
        "pair": (1, "a"),
        "by_id": {3: "c"},
        "when": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 5, 1),
        "at": datetime.time(1, 2),
        "span": datetime.timedelta(days=1),
        "ident": uuid.UUID(int=5),
        "amount": "1.10",
        "colour": Colour.RED,
        "level": Level.HIGH,
        "choice": "a",
    }
    path = tmp_path / "docs.db"
    with Docs(path) as store:
        store.models["m"] = make_model(fields)
        store.records["r"] = make_attrs({**fields, "amount": make_model(fields).amount})
        store.lists["l"] = [{"x": 0.5}]
    (row,) = query(
        path,
        "SELECT json_extract(value, '$.number'), json_extract(value, '$.text'),"
        " json_extract(value, '$.items[0].label'), json_extract(value, '$.by_id.3'),"
        " json_extract(value, '$.amount'), json_extract(value, '$.colour'),"
        " json_extract(value, '$.maybe') FROM models",
    )
    assert row == (7, "hé", "x", "c", "1.10", "red", None)
    (row,) = query(
        path,
        "SELECT json_extract(value, '$.number'), json_extract(value, "
        "'$.items[0].weight'), json_valid(value) FROM records",
    )
    assert row == (7, 2.0, 1)
    assert query(path, "SELECT json_extract(value, '$[0].x') FROM lists") == [(0.5,)]


# -- helpers -------------------------------------------------------------------------


class tpstore_tempdir:  # noqa: N801 - used like a function
    """A temporary folder as a context manager (hypothesis tests cannot take tmp_path)."""

    def __enter__(self) -> Path:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="tpstore-codecs-")
        return Path(self._dir.name)

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


assert tpstore.codecs is codecs
