"""Tests for the zlib wrapper codec (`compressed`, `CompressedCodec`)."""

from __future__ import annotations

import marshal
import math
import zlib
from typing import Any

import pydantic
import pytest
from helpers import check_codec_attributes, round_trip
from hypothesis import given
from hypothesis import strategies as st

import tpstore.codecs
from tpstore.codecs import compressed as public_compressed
from tpstore.codecs import json as json_codec
from tpstore.codecs import native
from tpstore.codecs._compressed import CompressedCodec, FusedCompressedCodec
from tpstore.errors import SchemaError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
# What the untyped native codec stores: one SQLite scalar (NaN is refused by it).
native_values = (
    st.none()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)


def compressed(codec: Any, *, level: int = 6) -> CompressedCodec:
    """`tpstore.codecs.compressed`, typed as the class it returns."""
    wrapped = public_compressed(codec, level=level)
    assert isinstance(wrapped, CompressedCodec)
    return wrapped


class User(pydantic.BaseModel):
    """A model for the type-aware json codec."""

    name: str
    tags: list[str]


def test_attributes() -> None:
    """The wrapper is BLOB, not order-preserving, and named after its inner codec."""
    codec = compressed("json")
    assert isinstance(codec, CompressedCodec)
    check_codec_attributes(codec, "compressed(json)", "BLOB", order_preserving=False)
    assert compressed(marshal).name == "compressed(module:marshal)"
    assert compressed(compressed("native")).name == "compressed(compressed(native))"


@given(json_values)
def test_json_round_trip(value: Any) -> None:
    """compressed("json") stores bytes and reads back an equal JSON value."""
    assert round_trip(compressed("json"), value, bytes) == value


@given(native_values)
def test_native_round_trip(value: Any) -> None:
    """compressed("native") reads back each SQLite scalar with its type."""
    codec = compressed(native)
    back = codec.decode(codec.encode(value))
    assert back == value
    assert type(back) is type(value)


@given(st.binary())
def test_typed_native_bytes_round_trip(value: bytes) -> None:
    """compressed("native") specialised to bytes round-trips any bytes."""
    codec = compressed("native").for_type(bytes)
    assert codec.decode(codec.encode(value)) == value


@given(st.text())
def test_typed_native_text_is_a_plain_zlib_stream(value: str) -> None:
    """For a TEXT inner codec the stored BLOB is zlib of the UTF-8 text, no header."""
    codec = compressed("native").for_type(str)
    raw = codec.encode(value)
    assert isinstance(raw, bytes)
    assert zlib.decompress(raw) == value.encode()
    assert codec.decode(raw) == value


@given(st.dictionaries(st.text(), st.integers()))
def test_marshal_round_trip(value: dict[str, int]) -> None:
    """A BLOB module codec is compressed as a plain zlib stream of its bytes."""
    codec = compressed(marshal)
    raw = codec.encode(value)
    assert isinstance(raw, bytes)
    assert marshal.loads(zlib.decompress(raw)) == value
    assert codec.decode(raw) == value


@pytest.mark.parametrize("spec", ["json", "native", marshal])
def test_repetitive_data_gets_smaller(spec: Any) -> None:
    """Repetitive data is stored in far fewer bytes than the inner codec's output."""
    value = "the same words again " * 500
    inner = tpstore.codecs.resolve(spec).encode(value)
    plain = inner.encode() if isinstance(inner, str) else inner
    raw = compressed(spec).encode(value)
    assert isinstance(raw, bytes)
    assert isinstance(plain, bytes)
    assert len(raw) * 10 < len(plain)


def test_level_changes_size_not_format() -> None:
    """Level 0 stores more bytes than level 9; both read back with either codec."""
    value = ["spam and eggs"] * 1000
    fast, small = compressed("json", level=0), compressed("json", level=9)
    raw_fast, raw_small = fast.encode(value), small.encode(value)
    assert isinstance(raw_fast, bytes)
    assert isinstance(raw_small, bytes)
    assert len(raw_small) < len(raw_fast)
    assert small.decode(raw_fast) == fast.decode(raw_small) == value
    assert fast.name == small.name


@pytest.mark.parametrize("level", [-2, 10])
def test_bad_level_is_refused(level: int) -> None:
    """A zlib level outside -1..9 is refused when the codec is made."""
    with pytest.raises(ValueError, match="compression level"):
        compressed("json", level=level)


@pytest.mark.parametrize("number", [INT64_MIN, INT64_MAX, 0, -1])
def test_native_int64_bounds(number: int) -> None:
    """Ints at the 64-bit bounds survive the untyped native codec's tagging."""
    codec = compressed("native")
    back = codec.decode(codec.encode(number))
    assert back == number
    assert type(back) is int


@pytest.mark.parametrize("number", [-0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308])
def test_native_floats_exact(number: float) -> None:
    """Floats are stored exactly, -0.0 keeping its sign."""
    codec = compressed("native")
    back = codec.decode(codec.encode(number))
    assert back == number
    assert math.copysign(1.0, back) == math.copysign(1.0, number)


@pytest.mark.parametrize("text", ["", "\x00", "\ufeff", "\u2028", "e\u0301", "\U0010ffff"])
def test_odd_unicode(text: str) -> None:
    """Odd unicode text round-trips through compressed json and native."""
    for codec in (compressed("json"), compressed("native"), compressed("native").for_type(str)):
        assert codec.decode(codec.encode(text)) == text


@pytest.mark.parametrize("size", [0, 10 * 2**20])
def test_empty_and_large_bytes(size: int) -> None:
    """Empty bytes and a 10 MB blob round-trip."""
    data = bytes(range(256)) * (size // 256)
    for codec in (compressed("native"), compressed("native").for_type(bytes), compressed("pickle")):
        assert codec.decode(codec.encode(data)) == data


def test_null_passes_through() -> None:
    """An Optional native value's None is stored as SQL NULL, not compressed."""
    codec = compressed("native").for_type(bytes | None)
    assert codec.encode(None) is None
    assert codec.decode(None) is None
    assert codec.decode(codec.encode(b"x")) == b"x"


def test_for_type_specialises_the_inner_codec() -> None:
    """for_type resolves the inner codec for the type: json gets pydantic's serializer."""
    codec = compressed("json").for_type(User)
    assert isinstance(codec.inner, json_codec.PydanticJsonCodec)
    assert codec.name == "compressed(json)"
    user = User(name="ann", tags=["a"] * 100)
    assert codec.decode(codec.encode(user)) == user.model_dump()  # plain JSON data
    assert codec.decode_validate(codec.encode(user)) == user  # parsed into the type


def test_resolve_specialises_compressed() -> None:
    """tpstore.codecs.resolve(compressed(...), T) goes through for_type."""
    codec = tpstore.codecs.resolve(compressed("json"), User)
    assert isinstance(codec, CompressedCodec)
    assert isinstance(codec.inner, json_codec.PydanticJsonCodec)


def test_for_type_without_type_aware_inner_returns_itself() -> None:
    """A wrapper around a codec without for_type is already as specific as it gets."""
    codec = compressed(marshal)
    assert codec.for_type(dict[str, int]) is codec


def test_fused_methods_only_when_inner_has_them() -> None:
    """decode_validate exists exactly when the inner codec has it."""
    untyped = compressed("json")
    assert not hasattr(untyped, "decode_validate")
    assert not hasattr(compressed("native").for_type(bytes), "decode_validate")
    typed = untyped.for_type(User)
    assert isinstance(typed, FusedCompressedCodec)


def test_fused_methods_delegate_to_the_inner_codec() -> None:
    """decode_validate inflates and parses like the inner codec's."""
    codec = compressed("json").for_type(int)
    assert isinstance(codec, FusedCompressedCodec)
    raw = codec.encode(5)
    assert isinstance(raw, bytes)
    assert zlib.decompress(raw) == b"5"
    assert codec.decode_validate(raw) == 5
    as_model = compressed("json").for_type(User)
    assert isinstance(as_model, FusedCompressedCodec)
    with pytest.raises(pydantic.ValidationError):
        as_model.decode_validate(raw)


def test_fused_inner_given_directly() -> None:
    """Wrapping an already specialised fused codec gives the fused wrapper at once."""
    codec = compressed(json_codec.for_type(User))
    assert isinstance(codec, FusedCompressedCodec)
    user = codec.decode_validate(codec.encode(User(name="b", tags=[])))
    assert user == User(name="b", tags=[])


def test_inner_refusals_propagate() -> None:
    """A value the inner codec refuses (inf in JSON) is refused by the wrapper too."""
    with pytest.raises(ValueError, match="JSON"):
        compressed("json").encode([math.inf])


def test_number_codecs_are_refused() -> None:
    """Compressing an INTEGER or REAL codec is a SchemaError: it cannot gain anything."""
    with pytest.raises(SchemaError, match="INTEGER"):
        compressed(native.for_type(int))
    with pytest.raises(SchemaError, match="REAL"):
        compressed("native").for_type(float)


def test_not_a_codec_is_refused() -> None:
    """Anything resolve() refuses is refused with SchemaError."""
    with pytest.raises(SchemaError):
        compressed(42)
    with pytest.raises(SchemaError):
        compressed("no such codec")


@pytest.mark.parametrize("raw", ["text", 5, b"not zlib data"])
def test_bad_stored_values_raise(raw: Any) -> None:
    """Text, numbers and bytes that are not zlib data raise on decode."""
    with pytest.raises((ValueError, zlib.error)):
        compressed("json").decode(raw)


def test_unknown_tag_raises() -> None:
    """An untyped native wrapper refuses a BLOB whose type tag it does not know."""
    with pytest.raises(ValueError, match="tag"):
        compressed("native").decode(b"?" + zlib.compress(b"x"))
