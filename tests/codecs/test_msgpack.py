"""Tests for the optional msgpack codec (`tpstore.codecs.msgpack`, extra `msgpack`)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import importlib
import math
import sys
import uuid
import zoneinfo
from typing import Any

import pydantic
import pytest
from helpers import check_codec_attributes, round_trip
from hypothesis import given
from hypothesis import strategies as st

import tpstore.codecs
from tpstore.codecs import msgpack as msgpack_codec

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# Values msgpack reads back equal: lists, not tuples; map keys of any scalar type.
keys = st.text() | st.integers(INT64_MIN, UINT64_MAX) | st.binary() | st.none() | st.booleans()
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, UINT64_MAX)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: st.lists(children) | st.dictionaries(keys, children),
    max_leaves=20,
)


@dataclasses.dataclass
class Item:
    """A dataclass, stored as a map of its fields."""

    name: str
    data: bytes


class Model(pydantic.BaseModel):
    """A pydantic model, stored as a map of its fields."""

    x: int


def test_attributes() -> None:
    """The module is a BLOB codec named "msgpack"."""
    check_codec_attributes(msgpack_codec, "msgpack", "BLOB", order_preserving=False)


@given(values)
def test_round_trip(value: Any) -> None:
    """msgpack values read back equal, keys and bytes keeping their types."""
    assert round_trip(msgpack_codec, value, bytes) == value


@pytest.mark.parametrize("number", [INT64_MIN, INT64_MAX, UINT64_MAX])
def test_int64_bounds(number: int) -> None:
    """Ints from -2**63 up to 2**64 - 1 are stored exactly."""
    assert msgpack_codec.decode(msgpack_codec.encode(number)) == number


@pytest.mark.parametrize("number", [INT64_MIN - 1, UINT64_MAX + 1])
def test_ints_beyond_64_bits_are_refused(number: int) -> None:
    """An int msgpack cannot hold is refused with TypeError."""
    with pytest.raises(TypeError):
        msgpack_codec.encode(number)


@pytest.mark.parametrize("number", [-0.0, math.inf, -math.inf, 5e-324])
def test_floats_are_exact(number: float) -> None:
    """Floats are float64: -0.0 keeps its sign and infinities survive."""
    back = msgpack_codec.decode(msgpack_codec.encode(number))
    assert back == number
    assert math.copysign(1.0, back) == math.copysign(1.0, number)


def test_nan_round_trips() -> None:
    """NaN is a float64 like any other in msgpack."""
    assert math.isnan(msgpack_codec.decode(msgpack_codec.encode(math.nan)))


@pytest.mark.parametrize("text", ["", "\x00", "\ufeff", "\u2028", "e\u0301", "\U0010ffff"])
def test_odd_unicode(text: str) -> None:
    """NULs, BOMs, combining marks and astral characters round-trip."""
    assert msgpack_codec.decode(msgpack_codec.encode(text)) == text


def test_lone_surrogates_are_refused() -> None:
    """A string that is not valid UTF-8 is refused rather than replaced."""
    with pytest.raises(TypeError):
        msgpack_codec.encode("\ud800")


@pytest.mark.parametrize("size", [0, 10 * 2**20])
def test_empty_and_large_bytes(size: int) -> None:
    """Empty bytes and a 10 MB blob round-trip."""
    data = bytes(range(256)) * (size // 256)
    assert msgpack_codec.decode(msgpack_codec.encode(data)) == data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((1, "a"), [1, "a"]),
        ({1, 2}, [1, 2]),
        (frozenset({b"x"}), [b"x"]),
        ({(1, 2): "pair"}, {(1, 2): "pair"}),
        (datetime.date(2024, 2, 29), "2024-02-29"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (decimal.Decimal("1.10"), "1.10"),
        (datetime.timedelta(days=1), "P1D"),
        (Item("a", b"\x00"), {"name": "a", "data": b"\x00"}),
        (Model(x=3), {"x": 3}),
    ],
)
def test_documented_conversions(value: Any, expected: Any) -> None:
    """Types msgpack lacks are stored in the forms the docstring lists."""
    assert msgpack_codec.decode(msgpack_codec.encode(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2000, 1, 1, 0, 0, 0, 10000),
        datetime.datetime(1900, 6, 1, tzinfo=zoneinfo.ZoneInfo("Africa/Abidjan")),
        datetime.datetime(1912, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(seconds=-968))),
        datetime.time(0, 0, 0, 10000, tzinfo=datetime.UTC),
    ],
)
def test_datetimes_are_exact(value: datetime.datetime | datetime.time) -> None:
    """Datetimes are stored as isoformat(), keeping sub-minute offsets and microseconds."""
    assert msgpack_codec.decode(msgpack_codec.encode(value)) == value.isoformat()


def test_unknown_types_are_refused() -> None:
    """A value neither ormsgpack nor pydantic can serialize raises TypeError."""
    with pytest.raises(TypeError):
        msgpack_codec.encode(object())


@pytest.mark.parametrize("raw", [None, "text", 3])
def test_decode_refuses_non_blob(raw: Any) -> None:
    """Decoding NULL, text or a number raises ValueError."""
    with pytest.raises(ValueError, match="expected a msgpack BLOB"):
        msgpack_codec.decode(raw)


def test_decode_of_garbage_raises() -> None:
    """A byte that starts no msgpack value raises."""
    with pytest.raises(ValueError):  # noqa: PT011 -- ormsgpack's decode error
        msgpack_codec.decode(b"\xc1")


def test_resolve_by_name() -> None:
    """resolve("msgpack") gives this codec."""
    codec = tpstore.codecs.resolve("msgpack")
    assert codec is msgpack_codec
    assert codec.decode(codec.encode({"a": [1]})) == {"a": [1]}


def test_missing_ormsgpack_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ormsgpack, importing the codec says to install tpstore[msgpack]."""
    monkeypatch.setitem(sys.modules, "ormsgpack", None)
    monkeypatch.delitem(sys.modules, "tpstore.codecs.msgpack")
    with pytest.raises(ImportError, match=r"pip install 'tpstore\[msgpack\]'") as info:
        importlib.import_module("tpstore.codecs.msgpack")
    assert info.value.name == "ormsgpack"
