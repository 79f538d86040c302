"""Tests for the cattrs codec (`tpstore.codecs.cattrs`)."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import math
import sqlite3
import uuid
import zoneinfo
from typing import Any, Optional

import attrs
import orjson
import pytest
from helpers import check_codec_attributes, round_trip
from hypothesis import given
from hypothesis import strategies as st

import tpstore.codecs
from tpstore._validation import Converter
from tpstore.codecs import cattrs as cattrs_codec
from tpstore.errors import SchemaError, ValidationError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Colour(enum.Enum):
    """A plain enum field."""

    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Inner:
    """A nested attrs class."""

    label: str
    weight: float


@attrs.define
class Everything:
    """One attrs class with a field of every kind the codec documents."""

    number: int
    real: float
    text: str
    data: bytes
    flag: bool
    maybe: Optional[int]  # noqa: UP045 -- the Optional spelling is part of what is tested
    either: int | None
    items: list[Inner]
    tags: set[str]
    pair: tuple[int, str]
    by_id: dict[int, str]
    scores: dict[str, float]
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    ident: uuid.UUID
    amount: decimal.Decimal
    colour: Colour
    extra: str = "default"


@attrs.define(eq=False)
class ByIdentity:
    """An attrs class that compares by identity."""

    x: int


@attrs.define
class Point:
    """A small attrs class."""

    x: int
    y: float = 0.0


@dataclasses.dataclass
class Record:
    """A dataclass holding attrs values."""

    name: str
    points: list[Point]


def _untyped_point(x: Any, y: Any = 0.0) -> Point:
    """A Point whose fields may hold the wrong types (attrs does not check them)."""
    return Point(x, y)


finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(INT64_MIN, INT64_MAX)
inners = st.builds(Inner, label=st.text(), weight=finite)
everything = st.builds(
    Everything,
    number=int64,
    real=finite,
    text=st.text(),
    data=st.binary(),
    flag=st.booleans(),
    maybe=st.none() | int64,
    either=st.none() | int64,
    items=st.lists(inners, max_size=3),
    tags=st.sets(st.text(), max_size=3),
    pair=st.tuples(int64, st.text()),
    by_id=st.dictionaries(int64, st.text(), max_size=3),
    scores=st.dictionaries(st.text(), finite, max_size=3),
    when=st.datetimes(timezones=st.none() | st.timezones()),
    day=st.dates(),
    at=st.times(),
    ident=st.uuids(),
    amount=st.decimals(allow_nan=False, allow_infinity=False),
    colour=st.sampled_from(Colour),
    extra=st.text(),
)

EVERYTHING = cattrs_codec.for_type(Everything)
POINT = cattrs_codec.for_type(Point)


def test_module_attributes() -> None:
    """The module is a TEXT codec named "cattrs" that does not preserve order."""
    check_codec_attributes(cattrs_codec, "cattrs", "TEXT", order_preserving=False)


def test_specialised_attributes() -> None:
    """for_type gives a codec with the same name and affinity for the catalog."""
    assert isinstance(POINT, cattrs_codec.CattrsCodec)
    check_codec_attributes(POINT, "cattrs", "TEXT", order_preserving=False)


@given(everything)
def test_round_trip_everything(value: Everything) -> None:
    """Every documented field type reads back equal, as an instance of the class."""
    back = round_trip(EVERYTHING, value, str)
    assert type(back) is Everything
    # Datetimes are compared as wall time plus offset: see test_datetimes_and_times_are_exact.
    assert back.when.isoformat() == value.when.isoformat()
    assert attrs.evolve(back, when=value.when) == value
    assert type(back.pair) is tuple
    assert type(back.tags) is set
    assert type(back.amount) is decimal.Decimal


@given(st.builds(Record, name=st.text(), points=st.lists(st.builds(Point, x=int64, y=finite))))
def test_round_trip_dataclass(value: Record) -> None:
    """A dataclass of attrs values reads back as the dataclass."""
    codec = cattrs_codec.for_type(Record)
    back = codec.decode(codec.encode(value))
    assert type(back) is Record
    assert back == value


@pytest.mark.parametrize("number", [INT64_MIN, INT64_MAX])
def test_int64_bounds(number: int) -> None:
    """Ints at the 64-bit bounds read back exactly."""
    assert POINT.decode(POINT.encode(Point(number))) == Point(number)


def test_ints_beyond_64_bits_are_refused() -> None:
    """An int orjson cannot write is refused with TypeError, not truncated."""
    with pytest.raises(TypeError):
        POINT.encode(Point(2**64))


@pytest.mark.parametrize(
    "value",
    [
        datetime.time(0, 0, 0, 10000),
        datetime.time(23, 59, 59, 99999, tzinfo=datetime.UTC),
        datetime.datetime(2000, 1, 1, 0, 0, 0, 10000),
        datetime.datetime(1912, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=-968))),
        datetime.datetime(1900, 6, 1, tzinfo=zoneinfo.ZoneInfo("Africa/Abidjan")),
        datetime.datetime(2023, 10, 29, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    ],
)
def test_datetimes_and_times_are_exact(value: datetime.datetime | datetime.time) -> None:
    """Microseconds and sub-minute UTC offsets survive (orjson alone loses both)."""
    codec = cattrs_codec.for_type(type(value))
    back = codec.decode(codec.encode(value))
    # Not `==`: Python never equates a time in a repeated interval (the fold=1 case) with
    # one in another zone, even at the same instant. The same wall time and offset is
    # the same instant.
    assert back.isoformat() == value.isoformat()


def test_negative_zero_keeps_its_sign() -> None:
    """-0.0 is written as -0.0 and reads back with its sign."""
    back = POINT.decode(POINT.encode(Point(0, -0.0)))
    assert math.copysign(1.0, back.y) == -1.0


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_refused(number: float) -> None:
    """inf and NaN are refused with ValueError instead of being written as null."""
    with pytest.raises(ValueError, match="no JSON representation"):
        POINT.encode(Point(1, number))
    with pytest.raises(ValueError, match="no JSON representation"):
        cattrs_codec.for_type(list[Inner]).encode([Inner("a", 1.0), Inner("b", number)])
    with pytest.raises(ValueError, match="no JSON representation"):
        cattrs_codec.encode({"deep": [[number]]})


@pytest.mark.parametrize(
    "text", ["", "\x00", "\ufeffbom", "\u2028\u2029", "e\u0301", "\U0001f600", "\U0010ffff"]
)
def test_odd_unicode(text: str) -> None:
    """NULs, BOMs, line separators, combining marks and astral characters round-trip."""
    codec = cattrs_codec.for_type(Inner)
    assert codec.decode(codec.encode(Inner(text, 1.0))) == Inner(text, 1.0)


def test_lone_surrogates_are_refused() -> None:
    """A string that is not valid UTF-8 is refused rather than replaced."""
    with pytest.raises(TypeError):
        cattrs_codec.for_type(Inner).encode(Inner("\ud800", 1.0))


@pytest.mark.parametrize("size", [0, 2**20])
def test_empty_and_large_bytes(size: int) -> None:
    """Empty and 1 MB bytes fields round-trip (base85 text)."""
    value = attrs.evolve(_minimal(), data=bytes(range(256)) * (size // 256))
    assert EVERYTHING.decode(EVERYTHING.encode(value)) == value


def test_stored_text_is_json_sqlite_can_read() -> None:
    """The stored text is a JSON object that SQLite's json_extract reads."""
    raw = POINT.encode(Point(7, 2.5))
    db = sqlite3.connect(":memory:")
    try:
        row = db.execute("SELECT json_extract(?, '$.x'), json_valid(?)", (raw, raw)).fetchone()
    finally:
        db.close()
    assert row == (7, 1)


@pytest.mark.parametrize(
    "value",
    [_untyped_point("5"), _untyped_point(1.7), _untyped_point(None), _untyped_point(1, "2")],
)
def test_wrong_field_types_are_refused(value: Point) -> None:
    """A field holding another type is refused instead of silently converted on read."""
    with pytest.raises(ValidationError, match=r"another type than declared|not a valid"):
        _validated(Point, POINT).encode(value)


def _validated(declared: Any, codec: Any) -> Converter:
    """tpstore's validation layer in front of a codec: codecs themselves never validate."""
    return Converter("points", declared, codec, strict=False)


def test_int_for_float_and_true_for_int_are_accepted() -> None:
    """Lossless conversions pydantic would also make are accepted."""
    assert POINT.decode(POINT.encode(Point(1, 2))) == Point(1, 2.0)
    assert POINT.decode(POINT.encode(Point(True))) == Point(1)


def test_wrong_container_contents_are_refused() -> None:
    """A bad element deep inside a list is refused, naming where it is."""
    codec = cattrs_codec.for_type(list[Point])
    with pytest.raises(ValidationError, match=r"\$\[1\]\.x"):
        _validated(list[Point], codec).encode([Point(1), _untyped_point("a")])


def test_a_set_field_holding_a_list_with_duplicates_is_refused() -> None:
    """Duplicates would be dropped on read, so the value is refused."""
    codec = cattrs_codec.for_type(Everything)
    bad = attrs.evolve(_minimal(), tags=["a", "a"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="another type than declared"):
        _validated(Everything, codec).encode(bad)


def test_another_type_is_refused() -> None:
    """A dict given for an attrs class is refused with TypeError."""
    with pytest.raises(TypeError, match="cannot be stored as Point"):
        POINT.encode({"x": 1})


def test_identity_equality_classes_round_trip() -> None:
    """eq=False classes are checked by re-encoding, so good values pass and bad ones fail."""
    codec = cattrs_codec.for_type(ByIdentity)
    back = codec.decode(codec.encode(ByIdentity(3)))
    assert type(back) is ByIdentity
    assert back.x == 3
    with pytest.raises(ValidationError, match="another type than declared"):
        _validated(ByIdentity, codec).encode(ByIdentity("3"))  # type: ignore[arg-type]


def test_decode_returns_the_declared_type() -> None:
    """decode structures into the declared attrs class, not a dict."""
    back = POINT.decode('{"x": 1, "y": 2.0}')
    assert back == Point(1, 2.0)
    assert type(back) is Point


def test_missing_defaulted_field_reads_back_with_its_default() -> None:
    """Data written before a defaulted field existed still reads."""
    raw = EVERYTHING.encode(_minimal())
    assert isinstance(raw, str)
    stored = orjson.loads(raw)
    del stored["extra"]
    assert EVERYTHING.decode(orjson.dumps(stored).decode()).extra == "default"


@pytest.mark.parametrize("raw", ['{"x": "a"}', '{"y": 1.0}', "[1]", "not json", b"\xff"])
def test_bad_data_raises_on_decode(raw: str | bytes) -> None:
    """Text that does not structure into the type raises."""
    with pytest.raises(Exception):  # noqa: B017, PT011 -- any error becomes CorruptValueError
        POINT.decode(raw)


@pytest.mark.parametrize("raw", [None, 5, 1.5])
def test_decode_refuses_non_text(raw: Any) -> None:
    """NULL and numbers are not JSON text."""
    with pytest.raises(ValueError, match="expected JSON text"):
        POINT.decode(raw)
    with pytest.raises(ValueError, match="expected JSON text"):
        cattrs_codec.decode(raw)


def test_unsupported_field_type_is_a_schema_error() -> None:
    """A field type cattrs cannot structure fails when the codec is made."""

    @attrs.define
    class Timed:
        span: datetime.timedelta

    with pytest.raises(SchemaError, match="timedelta"):
        cattrs_codec.for_type(Timed)


def test_untyped_module_codec() -> None:
    """The module itself unstructures any value and reads back plain JSON values."""
    raw = cattrs_codec.encode(Point(1, 2.0))
    assert raw == '{"x":1,"y":2.0}'
    assert cattrs_codec.decode(raw) == {"x": 1, "y": 2.0}
    base85 = base64.b85encode(b"a").decode()
    assert cattrs_codec.decode(cattrs_codec.encode({1: {b"a"}})) == {"1": [base85]}


def test_resolve_and_default_choose_the_cattrs_codec() -> None:
    """resolve("cattrs", T) specialises; attrs classes default to this codec."""
    for codec in (tpstore.codecs.resolve("cattrs", Point), tpstore.codecs.default_codec(Point)):
        assert isinstance(codec, cattrs_codec.CattrsCodec)
        assert codec.decode(codec.encode(Point(2))) == Point(2)
    assert tpstore.codecs.resolve(cattrs_codec) is cattrs_codec


def _minimal() -> Everything:
    return Everything(
        number=1,
        real=1.0,
        text="",
        data=b"",
        flag=True,
        maybe=None,
        either=None,
        items=[],
        tags=set(),
        pair=(1, ""),
        by_id={},
        scores={},
        when=datetime.datetime(2000, 1, 1),
        day=datetime.date(2000, 1, 1),
        at=datetime.time(),
        ident=uuid.UUID(int=0),
        amount=decimal.Decimal(0),
        colour=Colour.RED,
    )
