"""The order-preserving tuple_key codec: round trips, byte order, refusals, for_type."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import sqlite3
import typing
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, NewType, Optional

import pydantic
import pytest
from helpers import check_codec_attributes
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tpstore.codecs import tuple_key
from tpstore.errors import SchemaError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# -- strategies ---------------------------------------------------------------------

offsets = st.one_of(
    st.just(dt.timedelta(0)),
    st.integers(-1439, 1439).map(lambda minutes: dt.timedelta(minutes=minutes)),
    st.integers(-86399, 86399).map(lambda seconds: dt.timedelta(seconds=seconds)),
)
# A day away from datetime.min/max, so that every offset keeps the UTC time in range.
naive_datetimes = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
aware_datetimes = st.builds(
    lambda naive, offset, fold: naive.replace(tzinfo=dt.timezone(offset), fold=fold),
    naive_datetimes,
    offsets,
    st.sampled_from([0, 0, 0, 1]),
)
folded_naive_datetimes = st.builds(
    lambda naive, fold: naive.replace(fold=fold), naive_datetimes, st.sampled_from([0, 0, 1])
)
big_ints = st.one_of(
    st.integers(),
    st.integers(INT64_MIN - 2, INT64_MIN + 2),
    st.integers(INT64_MAX - 2, 2**64 + 2),
    st.integers(-(2**300), 2**300),
    st.sampled_from([2**128 - 1, 2**128, -(2**128) + 1, -(2**128), 2**2040, -(2**2040)]),
)
floats = st.floats(allow_nan=False)
texts = st.text(st.characters(exclude_categories=["Cs"]))  # no lone surrogates
binaries = st.binary() | st.sampled_from([b"", b"\x00", b"\x00\xff", b"\xff\x00", b"\x00\x00"])

# Each kind: a strategy of mutually comparable values (one declared element type).
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int": big_ints,
    "float": floats,
    "number": st.one_of(big_ints, floats, st.booleans()),  # int | float | bool compare
    "bool": st.booleans(),
    "str": texts,
    "bytes": binaries,
    "date": st.dates(),
    "datetime": folded_naive_datetimes,
    "aware": aware_datetimes,
    "uuid": st.uuids(),
    "optional_int": st.none() | big_ints,
    "optional_str": st.none() | texts,
}

scalar_values = st.one_of(
    st.none(),
    st.booleans(),
    big_ints,
    floats,
    texts,
    binaries,
    st.dates(),
    folded_naive_datetimes,
    aware_datetimes,
    st.uuids(),
)
any_values = st.recursive(
    scalar_values, lambda children: st.lists(children, max_size=4).map(tuple), max_leaves=12
)


class Shape(typing.NamedTuple):
    """A key shape: a scalar kind, a fixed tuple of shapes, or a variable tuple of one."""

    form: str  # "scalar", "fixed" or "variable"
    kind: str = ""
    items: tuple[Shape, ...] = ()


shapes = st.recursive(
    st.sampled_from(sorted(KINDS)).map(lambda kind: Shape("scalar", kind)),
    lambda children: st.one_of(
        st.lists(children, min_size=0, max_size=3).map(lambda s: Shape("fixed", items=tuple(s))),
        children.map(lambda s: Shape("variable", items=(s,))),
    ),
    max_leaves=5,
)


def values_of(shape: Shape) -> st.SearchStrategy[Any]:
    """Values of one shape: any two of them can be compared (None aside)."""
    if shape.form == "scalar":
        return KINDS[shape.kind]
    if shape.form == "fixed":
        return st.tuples(*(values_of(item) for item in shape.items))
    return st.lists(values_of(shape.items[0]), max_size=4).map(tuple)


def python_key(value: Any) -> Any:
    """Python's order, with None before every other value (as the codec documents)."""
    if type(value) is tuple:
        return tuple(python_key(item) for item in value)
    return (0,) if value is None else (1, value)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types, offsets and folds all the way down."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dt.datetime:
        return (
            a == b
            and a.utcoffset() == b.utcoffset()
            and a.fold == b.fold
            and ((a.tzinfo is None) == (b.tzinfo is None))
        )
    return bool(a == b)


def assert_sorts_like_python(values: list[Any], encode: Callable[[Any], bytes]) -> None:
    """The byte order of the encodings is Python's order of the values."""
    assert sorted(values, key=encode) == sorted(values, key=python_key)


# -- the protocol -------------------------------------------------------------------


def test_module_and_specialised_codecs_satisfy_the_protocol() -> None:
    """The module and a for_type codec are Codecs named tuple_key, BLOB, order-preserving."""
    for codec in (tuple_key, tuple_key.for_type(tuple[int, str])):
        check_codec_attributes(codec, "tuple_key", "BLOB", order_preserving=True)


# -- round trips --------------------------------------------------------------------


@settings(max_examples=300)
@given(any_values)
def test_round_trip_keeps_values_and_types(value: Any) -> None:
    """decode(encode(x)) == x with the same types, offsets and folds, for any shape."""
    assume(not _has_negative_zero(value))
    raw = tuple_key.encode(value)
    assert type(raw) is bytes
    assert same(tuple_key.decode(raw), value)


def _has_negative_zero(value: Any) -> bool:
    if type(value) is tuple:
        return any(_has_negative_zero(item) for item in value)
    return type(value) is float and value == 0 and math.copysign(1, value) < 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        1,
        255,
        256,
        -1,
        0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e300,
        5e-324,
        -5e-324,
        math.inf,
        -math.inf,
        "",
        "a\x00b",
        "\U0010ffff",
        b"",
        b"\x00",
        b"\x00\xff\x00",
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        dt.datetime(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5, seconds=1))),
        uuid.UUID(int=0),
        uuid.UUID(int=2**128 - 1),
        (),
        ((),),
        (None, (1, ("x", b"y")), ()),
        (True, 1, 1.0, 1.5),
    ],
    ids=repr,
)
def test_round_trip_of_edge_values(value: Any) -> None:
    """Edge values of every type decode to themselves, alone and inside a tuple."""
    for key in (value, (value,), ((value, 0),)):
        assert same(tuple_key.decode(tuple_key.encode(key)), key)


def test_bool_int_and_float_keep_their_types() -> None:
    """True, 1 and 1.0 are stored apart and come back as bool, int and float."""
    encoded = {tuple_key.encode(v) for v in (True, 1, 1.0)}
    assert len(encoded) == 3
    decoded = [tuple_key.decode(tuple_key.encode((v,)))[0] for v in (True, 1, 1.0)]
    assert [type(v) for v in decoded] == [bool, int, float]


def test_date_and_datetime_are_not_confused() -> None:
    """A date comes back as a date, a datetime at midnight of that day as a datetime."""
    day, midnight = dt.date(2024, 5, 1), dt.datetime(2024, 5, 1)
    assert tuple_key.encode(day) != tuple_key.encode(midnight)
    assert type(tuple_key.decode(tuple_key.encode(day))) is dt.date
    assert type(tuple_key.decode(tuple_key.encode(midnight))) is dt.datetime


def test_bytearray_and_memoryview_decode_like_bytes() -> None:
    """What SQLite or a driver may hand back as a buffer decodes like bytes."""
    raw = tuple_key.encode((1, "a"))
    assert tuple_key.decode(bytearray(raw)) == (1, "a")
    assert tuple_key.decode(memoryview(raw)) == (1, "a")


# -- byte order ---------------------------------------------------------------------


@settings(max_examples=200)
@given(st.data())
def test_byte_order_is_python_order_for_every_shape(data: st.DataObject) -> None:
    """For every element type and tuple shape, sorted(key=encode) == sorted()."""
    shape = data.draw(shapes, label="shape")
    values = data.draw(st.lists(values_of(shape), min_size=2, max_size=12), label="values")
    assert_sorts_like_python(values, tuple_key.encode)


@given(st.data())
def test_sqlite_order_by_is_python_order(data: st.DataObject) -> None:
    """SQLite's ORDER BY on the stored BLOBs returns the keys in Python's order."""
    shape = data.draw(shapes, label="shape")
    values = data.draw(st.lists(values_of(shape), min_size=1, max_size=10), label="values")
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (k BLOB)")
        db.executemany("INSERT INTO t VALUES (?)", [(tuple_key.encode(v),) for v in values])
        rows = [tuple_key.decode(raw) for (raw,) in db.execute("SELECT k FROM t ORDER BY k")]
    db.close()
    assert rows == sorted(values, key=python_key)


@settings(max_examples=300)
@given(st.tuples(KINDS["number"], KINDS["number"]), st.tuples(KINDS["number"], KINDS["number"]))
def test_mixed_numbers_compare_numerically_inside_tuples(a: Any, b: Any) -> None:
    """bool, int and float at one position compare as Python compares them."""
    if a < b:
        assert tuple_key.encode(a) < tuple_key.encode(b)
    elif b < a:
        assert tuple_key.encode(b) < tuple_key.encode(a)


def test_python_equal_numbers_do_not_hide_the_next_element() -> None:
    """(2.0, 3) < (2, 5) as in Python: the int/float difference is not compared first."""
    assert tuple_key.encode((2.0, 3)) < tuple_key.encode((2, 5))
    assert tuple_key.encode((2, 3)) < tuple_key.encode((2.0, 5))
    assert tuple_key.encode((True, 3)) < tuple_key.encode((1, 5))
    assert tuple_key.encode((1, 3)) < tuple_key.encode((True, 5))


def test_integer_bounds_and_beyond_sort_and_round_trip() -> None:
    """int64 and uint64 bounds, the 16-byte limit and huge ints keep order and value."""
    values = [
        -(2**4000),
        -(2**128),
        -(2**128) + 1,
        -(2**64) - 1,
        INT64_MIN - 1,
        INT64_MIN,
        INT64_MIN + 1,
        -256,
        -255,
        -1,
        0,
        1,
        255,
        256,
        INT64_MAX,
        INT64_MAX + 1,
        2**64 - 1,
        2**64,
        2**128 - 1,
        2**128,
        2**4000,
    ]
    encoded = [tuple_key.encode(v) for v in values]
    assert encoded == sorted(encoded)
    assert len(set(encoded)) == len(values)
    assert [tuple_key.decode(raw) for raw in encoded] == values


def test_infinities_bound_every_number() -> None:
    """-inf sorts below every number (huge ints included) and inf above."""
    values = [-math.inf, -(2**5000), -1e308, -5e-324, 0, 5e-324, 1e308, 2**5000, math.inf]
    encoded = [tuple_key.encode((v, "x")) for v in values]
    assert encoded == sorted(encoded)
    assert tuple_key.decode(tuple_key.encode(-math.inf)) == -math.inf


def test_negative_zero_encodes_as_zero() -> None:
    """-0.0 and 0.0 are one key, and it decodes as +0.0."""
    assert tuple_key.encode(-0.0) == tuple_key.encode(0.0)
    assert tuple_key.encode((-0.0, "a")) == tuple_key.encode((0.0, "a"))
    decoded = tuple_key.decode(tuple_key.encode(-0.0))
    assert type(decoded) is float
    assert math.copysign(1, decoded) == 1


def test_prefix_sorts_first() -> None:
    """A tuple sorts before its extensions, at every depth: (1,) < (1, 0), ((1,),) < ((1, 0),)."""
    assert tuple_key.encode((1,)) < tuple_key.encode((1, 0)) < tuple_key.encode((1, 0, None))
    assert tuple_key.encode(((1,), 9)) < tuple_key.encode(((1, 0), 0))
    assert tuple_key.encode(("a",)) < tuple_key.encode(("a\x00",)) < tuple_key.encode(("a\x01",))
    assert (
        tuple_key.encode((b"",)) < tuple_key.encode((b"\x00",)) < tuple_key.encode((b"\x00\x00",))
    )


def test_none_sorts_before_every_other_value() -> None:
    """None sorts first, below -inf, the most negative int, b'' and ()."""
    none = tuple_key.encode((None,))
    for other in (-math.inf, -(2**3000), False, b"", "", dt.date.min, uuid.UUID(int=0), ()):
        assert none < tuple_key.encode((other,))


def test_type_tag_order_between_incomparable_types() -> None:
    """The documented order: None < numbers < bytes < str < date < naive < aware < UUID < tuple."""
    ordered = [
        None,
        math.inf,
        b"\xff",
        "",
        dt.date.max,
        dt.datetime.max,
        dt.datetime.min.replace(year=2, tzinfo=dt.UTC),
        uuid.UUID(int=0),
        (),
    ]
    encoded = [tuple_key.encode(v) for v in ordered]
    assert encoded == sorted(encoded)


# -- floats and strings that cannot be stored ---------------------------------------


@pytest.mark.parametrize("value", [math.nan, (1, math.nan), ((math.nan,),), -math.nan])
def test_nan_is_refused(value: Any) -> None:
    """NaN (equal to nothing, not even itself) is refused with ValueError."""
    with pytest.raises(ValueError, match="NaN"):
        tuple_key.encode(value)


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", ("ok", "\udc80")])
def test_lone_surrogates_are_refused(value: Any) -> None:
    """A str with a lone surrogate has no UTF-8 form and is refused with ValueError."""
    with pytest.raises(ValueError, match="surrogate"):
        tuple_key.encode(value)


class Color(enum.IntEnum):
    """An int subclass: it would come back as a plain int."""

    RED = 1


class Name(str):
    """A str subclass: it would come back as a plain str."""


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        {"a": 1},
        {1},
        decimal.Decimal(1),
        dt.time(1),
        dt.timedelta(1),
        Color.RED,
        Name("a"),
        bytearray(b"x"),
        (1, [2]),
        object(),
    ],
    ids=repr,
)
def test_unsupported_types_are_refused(value: Any) -> None:
    """Values of other types, subclasses included, raise TypeError instead of changing."""
    with pytest.raises(TypeError, match="cannot store"):
        tuple_key.encode(value)


# -- datetimes ----------------------------------------------------------------------


@settings(max_examples=200)
@given(st.lists(aware_datetimes, min_size=2, max_size=10))
def test_aware_datetimes_sort_by_utc_and_keep_their_offset(values: list[dt.datetime]) -> None:
    """Aware datetimes in any offsets sort as Python compares them and round-trip exactly."""
    assert_sorts_like_python(values, tuple_key.encode)
    for value in values:
        decoded = tuple_key.decode(tuple_key.encode(value))
        assert same(decoded, value)
        assert decoded.isoformat() == value.isoformat()


def test_same_instant_in_two_offsets_stays_two_keys_with_their_offsets() -> None:
    """12:00Z and 13:00+01:00 are equal in Python; each is stored and read back as it was."""
    utc = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    paris = dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert utc == paris
    assert tuple_key.encode(utc) != tuple_key.encode(paris)
    assert tuple_key.decode(tuple_key.encode(paris)).isoformat() == "2024-01-01T13:00:00+01:00"
    # Equal first elements must not decide the order: the next element does, as in Python.
    assert tuple_key.encode((paris, 1)) < tuple_key.encode((utc, 2))
    assert tuple_key.encode((utc, 1)) < tuple_key.encode((paris, 2))


def test_pydantic_fixed_offset_is_accepted() -> None:
    """A datetime pydantic parsed from text (tzinfo=TzInfo) keeps its offset."""
    parsed = pydantic.TypeAdapter(dt.datetime).validate_python("2024-01-01T10:00:00+02:00")
    decoded = tuple_key.decode(tuple_key.encode(parsed))
    assert decoded == parsed
    assert decoded.utcoffset() == dt.timedelta(hours=2)


class RuleZone(dt.tzinfo):
    """A tzinfo with rules (like zoneinfo), whose offset depends on the date."""

    def utcoffset(self, value: dt.datetime | None) -> dt.timedelta:
        """One hour in summer, none in winter."""
        return dt.timedelta(hours=1 if value is not None and 4 <= value.month <= 9 else 0)

    def dst(self, value: dt.datetime | None) -> dt.timedelta:
        """No daylight saving to report."""
        return dt.timedelta(0)

    def tzname(self, value: dt.datetime | None) -> str:
        """A made-up name."""
        return "RULES"


def test_time_zones_with_rules_are_refused() -> None:
    """A zone whose offset varies (zoneinfo, pytz) is refused, not flattened to an offset."""
    with pytest.raises(ValueError, match="rules"):
        tuple_key.encode(dt.datetime(2024, 6, 1, tzinfo=RuleZone()))
    with pytest.raises(ValueError, match="rules"):
        tuple_key.encode(("k", dt.datetime(2024, 6, 1, tzinfo=RuleZone())))


def test_aware_datetime_with_utc_time_out_of_range_is_refused() -> None:
    """datetime.min at +01:00 is before year 1 in UTC: refused, not wrapped around."""
    with pytest.raises(ValueError, match="UTC"):
        tuple_key.encode(dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=1))))
    with pytest.raises(ValueError, match="UTC"):
        tuple_key.encode(dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-1))))


def test_fold_round_trips() -> None:
    """datetime.fold (equal either way in Python) is kept, naive and aware."""
    for tz in (None, dt.UTC, dt.timezone(dt.timedelta(hours=3))):
        value = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=tz)
        assert tuple_key.decode(tuple_key.encode(value)).fold == 1
        assert tuple_key.decode(tuple_key.encode(value.replace(fold=0))).fold == 0


def test_naive_and_aware_are_kept_apart() -> None:
    """Naive and aware datetimes, which Python cannot compare, never interleave."""
    naive = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)]
    aware = [dt.datetime(1, 1, 2, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC)]
    assert max(map(tuple_key.encode, naive)) < min(map(tuple_key.encode, aware))


def test_declared_aware_or_naive_refuses_the_other_kind() -> None:
    """for_type(AwareDatetime) refuses naive datetimes, for_type(NaiveDatetime) aware ones."""
    naive, aware = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    aware_codec = tuple_key.for_type(tuple[str, pydantic.AwareDatetime])
    naive_codec = tuple_key.for_type(pydantic.NaiveDatetime)
    assert aware_codec.decode(aware_codec.encode(("a", aware))) == ("a", aware)
    assert naive_codec.decode(naive_codec.encode(naive)) == naive
    with pytest.raises(ValueError, match="naive"):
        aware_codec.encode(("a", naive))
    with pytest.raises(ValueError, match="aware"):
        naive_codec.encode(aware)
    with pytest.raises(ValueError, match="aware"):
        naive_codec.decode(tuple_key.encode(aware))


# -- malformed bytes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x50",  # a tuple never closed
        b"\x50\x15\x01",
        b"\x15",  # a positive int with its byte missing
        b"\x16\x01",
        b"\x15\x00",  # non-canonical: a leading zero byte
        b"\x13\xff",  # non-canonical negative
        b"\x25\x01\x05" + b"\x01" * 5,  # a "big" int short enough for a short tag
        b"\x25\x00",
        b"\x31abc",  # an unterminated string
        b"\x31\xff\xfe\x00",  # not UTF-8
        b"\x31\xed\xa0\x80\x00",  # an encoded surrogate
        b"\x30ab\x00\xff",  # an escape but no terminator
        b"\x40\x00\x00\x00",  # date ordinal 0
        b"\x40\x00\x01",
        b"\x41" + b"\xff" * 8,  # past datetime.max
        b"\x48" + b"\x00" * 15,
        b"\x14\xff" + b"\x00" * 9,  # a fraction of zero
        b"\x14\xff\x00",
        b"\x07",  # an integer tag with no bytes
        b"\x99",  # an unknown tag
        b"\x50\x99\x00",
        b"\x01\x00",  # trailing bytes after None
        b"\x15\x01\x00",  # a suffix that changes nothing
        b"\x15\x05\x01",  # "bool" 5
        b"\x15\x01\x07",  # an unknown number variant
        b"\x15\x01\x02\x02",  # more records than numbers
        b"\x41" + b"\x00" * 8 + b"\x02",  # fold 2
        b"\x42" + b"\x00" * 8 + b"\x00\x00",  # an offset cut short
        b"\x42" + b"\x00" * 8 + b"\x00" + (86400 * 10**6).to_bytes(8, "big", signed=True),
    ],
    ids=lambda raw: raw.hex() or "empty",
)
def test_malformed_bytes_raise_value_error(raw: bytes) -> None:
    """Truncated, non-canonical, unknown or trailing bytes raise ValueError."""
    with pytest.raises(ValueError, match="malformed tuple_key"):
        tuple_key.decode(raw)


@pytest.mark.parametrize("raw", [None, "text", 12, 1.5])
def test_non_blob_values_raise_value_error(raw: Any) -> None:
    """A stored value that is not a BLOB is refused with ValueError."""
    with pytest.raises(ValueError, match="BLOB"):
        tuple_key.decode(raw)


# Integral floats and bools would add a variant suffix, which may be cut off validly.
unsuffixed = big_ints | texts | binaries | floats.filter(lambda f: not f.is_integer())


@given(st.lists(st.tuples(unsuffixed, texts | st.none()), max_size=3).map(tuple))
def test_every_proper_prefix_of_a_tuple_is_refused(value: tuple[Any, ...]) -> None:
    """Cutting a tuple's encoding anywhere gives ValueError, never a shorter key."""
    raw = tuple_key.encode(value)
    for end in range(len(raw)):
        with pytest.raises(ValueError, match="malformed"):
            tuple_key.decode(raw[:end])


@settings(max_examples=300)
@given(any_values, st.data())
def test_decoded_bytes_are_always_canonical(value: Any, data: st.DataObject) -> None:
    """Mangled encodings either raise ValueError or decode to a key that encodes to them."""
    raw = bytearray(tuple_key.encode(value))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        edit = data.draw(st.sampled_from(["set", "insert", "delete"]), label="edit")
        where = data.draw(st.integers(0, len(raw)), label="where")
        byte = data.draw(st.integers(0, 255), label="byte")
        if edit == "insert" or not raw:
            raw.insert(where, byte)
        elif edit == "set":
            raw[min(where, len(raw) - 1)] = byte
        else:
            del raw[min(where, len(raw) - 1)]
    mangled = bytes(raw)
    try:
        decoded = tuple_key.decode(mangled)
    except ValueError:
        return
    assert tuple_key.encode(decoded) == mangled


# -- for_type -----------------------------------------------------------------------

UserId = NewType("UserId", int)


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (tuple[int, str], (1, "a")),
        (tuple[int, ...], (1, 2, 3)),
        (tuple[int, ...], ()),
        (tuple[()], ()),
        (tuple[str, tuple[int, bytes]], ("a", (1, b"\x00"))),
        (tuple[Optional[int], str], (None, "a")),  # noqa: UP045 - the typing spelling on purpose
        (tuple[int | None, ...], (1, None)),
        (tuple[float, bool], (1.5, True)),
        (tuple[int | str, ...], (1, "a")),
        (tuple[int | float, ...], (1, 1.0, 1.5)),
        (tuple[Any, ...], ((1,), "a", None)),
        (tuple, (1, "a")),
        (typing.Tuple[int, str], (1, "a")),  # noqa: UP006 - the typing spelling on purpose
        (tuple[Annotated[int, "meta"], Literal["x", "y"]], (1, "x")),
        (tuple[UserId, dt.date], (UserId(5), dt.date(2024, 1, 1))),
        (dt.datetime, dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3)))),
        (dt.date, dt.date(2024, 1, 1)),
        (uuid.UUID, uuid.UUID(int=7)),
        (tuple[uuid.UUID, dt.datetime], (uuid.UUID(int=7), dt.datetime(2024, 1, 1))),
        (Optional[dt.datetime], None),  # noqa: UP045 - the typing spelling on purpose
        (int, 2**70),
        (str, "a"),
        (type(None), None),
    ],
    ids=repr,
)
def test_for_type_round_trips_the_declared_type(declared: Any, value: Any) -> None:
    """A specialised codec writes the module's bytes and reads back the declared types."""
    codec = tuple_key.for_type(declared)
    raw = codec.encode(value)
    assert raw == tuple_key.encode(value)
    assert same(codec.decode(raw), value)


def test_for_type_datetime_decodes_datetimes_not_dates_or_numbers() -> None:
    """Declared datetime, date and UUID keys decode to exactly those types."""
    moment = dt.datetime(2024, 1, 1, 8, 30)
    cases = [(dt.datetime, moment), (dt.date, moment.date()), (uuid.UUID, uuid.UUID(int=1))]
    for declared, value in cases:
        codec = tuple_key.for_type(declared)
        assert type(codec.decode(codec.encode(value))) is declared
        assert type(codec.decode(codec.encode((value,)[0]))) is declared


def test_for_type_float_stores_an_exact_int_as_its_float() -> None:
    """Declared float: 1 and 1.0 are one key (read back as 1.0); inexact ints are refused."""
    codec = tuple_key.for_type(tuple[float, str])
    assert codec.encode((1, "a")) == codec.encode((1.0, "a"))
    assert same(codec.decode(codec.encode((1, "a"))), (1.0, "a"))
    with pytest.raises(ValueError, match="exact float"):
        codec.encode((2**53 + 1, "a"))
    with pytest.raises(ValueError, match="exact float"):
        codec.encode((2**2000, "a"))


def test_for_type_union_keeps_the_type_it_was_given() -> None:
    """Declared int | float: an int stays an int, a float a float."""
    codec = tuple_key.for_type(tuple[float | int, ...])
    assert same(codec.decode(codec.encode((1, 1.0))), (1, 1.0))


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (tuple[int, str], (1, 2)),
        (tuple[int, str], (1, "a", 2)),
        (tuple[int, ...], (1, True)),
        (tuple[int, ...], (1, 1.0)),
        (tuple[str, tuple[int, bytes]], ("a", (1, "b"))),
        (tuple[int | None, str], ("x", "a")),
        (dt.date, dt.datetime(2024, 1, 1)),
        (dt.datetime, dt.date(2024, 1, 1)),
        (tuple[float], (True,)),
    ],
    ids=repr,
)
def test_for_type_refuses_values_of_another_shape(declared: Any, value: Any) -> None:
    """Encoding a value of the wrong shape raises TypeError; reading such bytes ValueError."""
    codec = tuple_key.for_type(declared)
    with pytest.raises(TypeError, match="expected"):
        codec.encode(value)
    with pytest.raises(ValueError, match="is not a"):
        codec.decode(tuple_key.encode(value))


def test_for_type_refuses_a_list_for_a_tuple() -> None:
    """A list is not a tuple key, even with the right elements."""
    with pytest.raises(TypeError, match="expected a tuple"):
        tuple_key.for_type(tuple[int, str]).encode([1, "a"])


@pytest.mark.parametrize(
    ("declared", "named"),
    [
        (list[int], "list"),
        (tuple[int, list[str]], "list"),
        (tuple[int, dict[str, int]], "dict"),
        (set[int], "set"),
        (decimal.Decimal, "Decimal"),
        (tuple[str, dt.time], "time"),
        (dt.timedelta, "timedelta"),
        (tuple[Color, int], "enum Color"),
        (tuple[Name], "Name"),
        (Optional[complex], "complex"),  # noqa: UP045 - the typing spelling on purpose
        (tuple[int | list[int], ...], "list"),
        (tuple[Literal[Color.RED]], "Color.RED"),
        (pydantic.BaseModel, "BaseModel"),
    ],
    ids=repr,
)
def test_for_type_refuses_types_it_cannot_order(declared: Any, named: str) -> None:
    """for_type raises SchemaError naming the component type it cannot order."""
    with pytest.raises(SchemaError, match=named) as caught:
        tuple_key.for_type(declared)
    assert "cannot order" in str(caught.value)


@given(st.data())
def test_for_type_codec_orders_like_the_module(data: st.DataObject) -> None:
    """A specialised codec's bytes are the module's: same order, same decoding."""
    declared = data.draw(st.sampled_from(list(DECLARED)), label="declared")
    values = data.draw(st.lists(DECLARED[declared], min_size=2, max_size=8), label="values")
    codec = tuple_key.for_type(declared)
    assert_sorts_like_python(values, codec.encode)
    for value in values:
        assert codec.encode(value) == tuple_key.encode(value)
        assert same(codec.decode(codec.encode(value)), value)


DECLARED: dict[Any, st.SearchStrategy[Any]] = {
    tuple[int, str]: st.tuples(big_ints, texts),
    tuple[str, ...]: st.lists(texts, max_size=4).map(tuple),
    tuple[float, bytes]: st.tuples(
        floats.filter(lambda f: f != 0 or math.copysign(1, f) > 0), binaries
    ),
    tuple[bool | None, tuple[dt.date, uuid.UUID]]: st.tuples(
        st.none() | st.booleans(), st.tuples(st.dates(), st.uuids())
    ),
    tuple[int | float, dt.datetime]: st.tuples(
        st.one_of(big_ints, floats.filter(lambda f: f != 0 or math.copysign(1, f) > 0)),
        aware_datetimes,
    ),
    dt.datetime: folded_naive_datetimes,
}
