"""Tests for the opt-in pickle codec (`tpstore.codecs.pickle`)."""

from __future__ import annotations

import math
import pickle as stdlib_pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest
from helpers import check_codec_attributes, round_trip
from hypothesis import given
from hypothesis import strategies as st

import tpstore.codecs
from tpstore.codecs import pickle as pickle_codec
from tpstore.errors import SchemaError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Any string, lone surrogates included: pickle stores them, unlike UTF-8 text codecs.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters())
    | st.binary()
    | st.fractions()
    | st.decimals(allow_nan=False)
    | st.datetimes()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(st.text(st.characters()) | st.integers(), children)
        | st.frozensets(st.integers() | st.text())
    ),
    max_leaves=20,
)

ODD_TEXT = [
    "",
    "\x00",
    "nul\x00inside",
    "\ufeffbom",
    "\u2028\u2029",
    "e\u0301",
    "\U0001f600",
    "\U0010ffff",
    "\ud800",
    "\udfff\ud800",
]


class Point:
    """A plain class pydantic knows nothing about: what pickle is for."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


def test_codec_attributes() -> None:
    """The module is a BLOB codec named "pickle" that does not preserve order."""
    check_codec_attributes(pickle_codec, "pickle", "BLOB", order_preserving=False)


@given(values)
def test_round_trip(value: Any) -> None:
    """Any picklable value decodes to an equal value of the same type."""
    back = round_trip(pickle_codec, value, bytes)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize("number", [INT64_MIN, INT64_MAX, INT64_MIN - 1, INT64_MAX + 1, 10**100])
def test_ints_beyond_int64_round_trip(number: int) -> None:
    """Ints at and beyond the 64-bit bounds are stored exactly (it is a BLOB)."""
    assert pickle_codec.decode(pickle_codec.encode(number)) == number


def test_negative_zero_keeps_its_sign() -> None:
    """-0.0 reads back as -0.0, not 0.0."""
    back = pickle_codec.decode(pickle_codec.encode(-0.0))
    assert back == 0.0
    assert math.copysign(1.0, back) == -1.0


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_round_trip(number: float) -> None:
    """NaN and the infinities are stored faithfully."""
    back = pickle_codec.decode(pickle_codec.encode(number))
    assert (math.isnan(back) and math.isnan(number)) or back == number


@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_unicode_round_trips(text: str) -> None:
    """NULs, BOMs, combining marks, astral characters and lone surrogates survive."""
    assert pickle_codec.decode(pickle_codec.encode(text)) == text


@pytest.mark.parametrize("size", [0, 10 * 2**20])
def test_empty_and_large_bytes_round_trip(size: int) -> None:
    """Empty bytes and a 10 MB blob read back unchanged."""
    data = bytes(range(256)) * (size // 256)
    assert pickle_codec.decode(pickle_codec.encode(data)) == data


def test_user_class_round_trips() -> None:
    """An instance of a class pydantic cannot validate is stored and read back."""
    assert pickle_codec.decode(pickle_codec.encode([Point(1, 2)])) == [Point(1, 2)]


def test_uses_highest_protocol() -> None:
    """The pickle is written with pickle.HIGHEST_PROTOCOL."""
    raw = pickle_codec.encode({"a": 1})
    assert isinstance(raw, bytes)
    assert raw[:2] == bytes([0x80, stdlib_pickle.HIGHEST_PROTOCOL])


@pytest.mark.parametrize("value", [lambda: 0, threading.Lock(), (i for i in range(3))])
def test_unpicklable_values_are_refused_with_type_error(value: Any) -> None:
    """A value pickle cannot store is refused with TypeError, as codecs must."""
    with pytest.raises(TypeError, match="pickle codec cannot store"):
        pickle_codec.encode(value)


@pytest.mark.parametrize("raw", [None, "text", 5])
def test_decode_refuses_non_blob(raw: Any) -> None:
    """Decoding NULL, text or a number raises ValueError."""
    with pytest.raises(ValueError, match="expected a pickle BLOB"):
        pickle_codec.decode(raw)


def test_decode_of_garbage_raises() -> None:
    """Bytes that are not a pickle raise instead of returning something."""
    with pytest.raises(Exception):  # noqa: B017, PT011 -- any error becomes CorruptValueError
        pickle_codec.decode(b"\x80\x05not a pickle")


def test_docstring_says_why_it_is_opt_in() -> None:
    """The module docstring warns that loading an untrusted pickle runs arbitrary code."""
    doc = pickle_codec.__doc__ or ""
    assert "arbitrary code" in doc
    assert "untrusted" in doc
    assert "Opt-in only" in doc


def test_never_the_default_codec() -> None:
    """A type only pickle could store gets SchemaError from the default choice, not pickle."""

    class Opaque:
        pass

    with pytest.raises(SchemaError, match="codec='pickle'"):
        tpstore.codecs.default_codec(Opaque)
    with pytest.raises(SchemaError):
        tpstore.codecs.default_codec(list[Opaque])
    with pytest.raises(SchemaError):
        tpstore.codecs.default_codec(Callable[[], int])


@pytest.mark.parametrize("spec", ["pickle", "module"])
def test_resolve_gives_the_pickle_codec(spec: str) -> None:
    """resolve("pickle") and resolve(tpstore.codecs.pickle) give this working codec."""
    codec = tpstore.codecs.resolve("pickle" if spec == "pickle" else tpstore.codecs.pickle)
    assert codec is pickle_codec
    assert codec.decode(codec.encode(Point(3, 4))) == Point(3, 4)
