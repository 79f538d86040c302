"""Tests for codecs built from dumps/loads modules (`from_module`, `ModuleCodec`)."""

from __future__ import annotations

import io
import json
import marshal
import math
import pickle
import types
from typing import IO, Any

import pytest
from helpers import round_trip
from hypothesis import given
from hypothesis import strategies as st

import tpstore.codecs
from tpstore.codecs import from_module, resolve
from tpstore.codecs._module import ModuleCodec
from tpstore.errors import SchemaError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# What marshal stores: builtin scalars (any str, lone surrogates included) and containers.
marshal_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters())
    | st.binary(),
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(st.text() | st.integers(), children)
    ),
    max_leaves=20,
)

# What JSON stores and reads back equal: no tuples, string keys only, finite floats.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)

ODD_TEXT = ["", "\x00", "\ufeff", "\u2028", "e\u0301", "\U0001f600", "\U0010ffff", "\ud800"]


def _fake_module(name: str, **functions: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, function in functions.items():
        setattr(module, attr, function)
    return module


def _strict_loads(expected: type) -> Any:
    def loads(data: str | bytes) -> Any:
        assert type(data) is expected, f"loads() got {type(data).__name__}"
        return json.loads(data)

    return loads


# -- affinity detection ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "affinity"), [(marshal, "BLOB"), (pickle, "BLOB"), (json, "TEXT")]
)
def test_affinity_is_detected_from_dumps(module: Any, affinity: str) -> None:
    """marshal and pickle give BLOB, the stdlib json module TEXT."""
    assert from_module(module).affinity == affinity


@pytest.mark.parametrize(
    ("module", "binary", "affinity"),
    [
        (json, True, "BLOB"),
        (json, False, "TEXT"),
        (marshal, True, "BLOB"),
        (marshal, False, "TEXT"),
    ],
)
def test_explicit_binary_overrides_detection(module: Any, binary: bool, affinity: str) -> None:
    """binary=True always gives BLOB and binary=False TEXT, whatever dumps returns."""
    assert from_module(module, binary=binary).affinity == affinity


def test_bytes_of_a_text_module_with_binary_true() -> None:
    """With binary=True a text module's output is stored as UTF-8 bytes and read back."""
    module = _fake_module("textjson", dumps=json.dumps, loads=_strict_loads(str))
    codec = from_module(module, binary=True)
    raw = codec.encode({"é": [1, 2]})
    assert raw == b'{"\\u00e9": [1, 2]}'
    assert codec.decode(raw) == {"é": [1, 2]}


def test_text_of_a_bytes_module_with_binary_false() -> None:
    """With binary=False a bytes module's UTF-8 output is stored as text and read back."""
    module = _fake_module(
        "bytesjson",
        dumps=lambda v: json.dumps(v, ensure_ascii=False).encode(),
        loads=_strict_loads(bytes),
    )
    assert from_module(module).affinity == "BLOB"
    codec = from_module(module, binary=False)
    raw = codec.encode(["é"])
    assert raw == '["é"]'
    assert codec.decode(raw) == ["é"]


def test_bytes_module_returning_bytes_for_text_affinity_decodes_utf8() -> None:
    """A bytes result is decoded as UTF-8 for TEXT, so SQLite stores real text."""
    module = _fake_module("b", dumps=lambda v: str(v).encode(), loads=int)
    codec = from_module(module, binary=False)
    assert codec.encode(12) == "12"
    assert codec.decode("12") == 12


def test_non_utf8_bytes_refused_for_text() -> None:
    """marshal output stored as TEXT is refused with ValueError, not mangled."""
    with pytest.raises(ValueError, match="binary=True"):
        from_module(marshal, binary=False).encode({"a": 1})


def test_module_accepting_only_mappings_is_probed_with_a_dict() -> None:
    """A bson-like dumps that refuses 0 but takes {} is still detected as BLOB."""

    def dumps(value: Any) -> bytes:
        if not isinstance(value, dict):
            raise TypeError("documents must be mappings")
        return json.dumps(value).encode()

    codec = from_module(_fake_module("bsonlike", dumps=dumps, loads=json.loads))
    assert codec.affinity == "BLOB"
    assert codec.decode(codec.encode({"a": 1})) == {"a": 1}


def test_undetectable_affinity_asks_for_binary() -> None:
    """When dumps fails on every probe, SchemaError says to pass binary=."""

    def dumps(value: Any) -> str:
        raise TypeError("no")

    module = _fake_module("picky", dumps=dumps, loads=json.loads)
    with pytest.raises(SchemaError, match="binary="):
        from_module(module)
    assert from_module(module, binary=False).affinity == "TEXT"


def test_not_a_module_codec_is_refused() -> None:
    """An object with neither pair is refused with SchemaError."""
    with pytest.raises(SchemaError, match=r"dumps\(\)/loads\(\)"):
        ModuleCodec(object())


# -- file-style dump/load -------------------------------------------------------------


class TextFileStyle:
    """A serializer with only file-style dump/load writing text."""

    def dump(self, value: Any, file: IO[str]) -> None:
        """Write JSON text to `file`."""
        json.dump(value, file)

    def load(self, file: IO[str]) -> Any:
        """Read JSON text from `file`."""
        return json.load(file)


def test_file_style_text_pair() -> None:
    """A text dump/load pair is TEXT and round-trips through an in-memory file."""
    codec = from_module(TextFileStyle())
    assert codec.affinity == "TEXT"
    assert codec.encode([1, "a"]) == '[1, "a"]'
    assert codec.decode('[1, "a"]') == [1, "a"]


def test_file_style_bytes_pair() -> None:
    """marshal's file-style dump/load (without dumps/loads) is BLOB and round-trips."""
    module = _fake_module("marshalfile", dump=marshal.dump, load=marshal.load)
    codec = from_module(module)
    assert codec.affinity == "BLOB"
    assert codec.decode(codec.encode({"k": (1, 2.5)})) == {"k": (1, 2.5)}


def test_dumps_preferred_over_dump() -> None:
    """When both pairs exist, dumps/loads are used (file I/O is not needed)."""
    calls: list[str] = []

    def dump(value: Any, file: io.StringIO) -> None:
        calls.append("dump")

    module = _fake_module("both", dumps=json.dumps, loads=json.loads, dump=dump, load=json.load)
    codec = from_module(module)
    assert codec.decode(codec.encode([1])) == [1]
    assert calls == []


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [(marshal, "module:marshal"), (json, "module:json"), (pickle, "module:pickle")],
)
def test_name_is_derived_from_the_module(module: Any, name: str) -> None:
    """The catalog name is "module:" plus the module's name."""
    codec = from_module(module)
    assert codec.name == name
    assert codec.order_preserving is False


def test_name_of_an_object_is_its_class_path() -> None:
    """An object that is not a module is named after its class's import path."""
    assert from_module(TextFileStyle()).name == f"module:{__name__}.TextFileStyle"


# -- round trips and edge values ------------------------------------------------------


@given(marshal_values)
def test_marshal_round_trip(value: Any) -> None:
    """Builtin values round-trip through marshal as bytes."""
    assert round_trip(from_module(marshal), value, bytes) == value


@given(json_values)
def test_stdlib_json_round_trip(value: Any) -> None:
    """JSON values round-trip through the stdlib json module as text."""
    assert round_trip(from_module(json), value, str) == value


@pytest.mark.parametrize("module", [marshal, json, pickle])
@pytest.mark.parametrize("number", [INT64_MIN, INT64_MAX, INT64_MIN - 1, INT64_MAX + 1])
def test_int64_bounds_and_beyond(module: Any, number: int) -> None:
    """Ints at and just past the 64-bit bounds are stored exactly."""
    codec = from_module(module)
    assert codec.decode(codec.encode(number)) == number


@pytest.mark.parametrize("module", [marshal, json, pickle])
def test_negative_zero_keeps_its_sign(module: Any) -> None:
    """-0.0 reads back with its sign."""
    codec = from_module(module)
    assert math.copysign(1.0, codec.decode(codec.encode(-0.0))) == -1.0


@pytest.mark.parametrize("module", [marshal, json, pickle])
@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_unicode(module: Any, text: str) -> None:
    """Odd strings, lone surrogates included, round-trip; json escapes them to ASCII."""
    codec = from_module(module)
    raw = codec.encode(text)
    if module is json:
        assert isinstance(raw, str)
        assert raw.isascii()
    assert codec.decode(raw) == text


@pytest.mark.parametrize("module", [marshal, pickle])
@pytest.mark.parametrize("size", [0, 10 * 2**20])
def test_empty_and_large_bytes(module: Any, size: int) -> None:
    """Empty bytes and a 10 MB blob round-trip through the BLOB modules."""
    data = bytes(range(256)) * (size // 256)
    codec = from_module(module)
    assert codec.decode(codec.encode(data)) == data


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, {"a": [1.0, math.nan]}])
def test_stdlib_json_refuses_non_finite_floats(value: Any) -> None:
    """inf and NaN are refused: the stdlib json module would write non-standard JSON."""
    with pytest.raises(ValueError, match="inf and NaN"):
        from_module(json).encode(value)


def test_marshal_keeps_non_finite_floats() -> None:
    """marshal, a binary format, stores inf faithfully: only json refuses it."""
    codec = from_module(marshal)
    assert codec.decode(codec.encode(math.inf)) == math.inf


def test_unserializable_value_raises() -> None:
    """A value the module cannot serialize raises its error (refused on write)."""
    with pytest.raises(ValueError, match="unmarshallable"):
        from_module(marshal).encode(object())
    with pytest.raises(TypeError):
        from_module(json).encode(object())


@pytest.mark.parametrize("raw", [None, 5, 1.5])
def test_decode_refuses_non_text_non_bytes(raw: Any) -> None:
    """Decoding NULL or a number raises ValueError."""
    with pytest.raises(ValueError, match="expected text or bytes"):
        from_module(marshal).decode(raw)


def test_dumps_returning_neither_text_nor_bytes_is_refused() -> None:
    """A dumps that returns an int makes encode raise TypeError."""
    module = _fake_module("weird", dumps=lambda v: 1 if v else "x", loads=lambda s: s)
    codec = from_module(module, binary=False)
    with pytest.raises(TypeError, match="str or bytes"):
        codec.encode(1)


# -- resolve --------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "affinity"), [(marshal, "BLOB"), (json, "TEXT")])
def test_resolve_adapts_modules(module: Any, affinity: str) -> None:
    """resolve(marshal), resolve(json) give working module codecs."""
    codec = resolve(module)
    assert isinstance(codec, ModuleCodec)
    assert isinstance(codec, tpstore.codecs.Codec)
    assert codec.affinity == affinity
    assert codec.decode(codec.encode({"a": [1, 2]})) == {"a": [1, 2]}


def test_the_stdlib_pickle_module_means_the_builtin_pickle_codec() -> None:
    """resolve(pickle) is the built-in "pickle" codec; from_module(pickle) still adapts it."""
    assert resolve(pickle) is tpstore.codecs.pickle
    adapted = tpstore.codecs.from_module(pickle)
    assert isinstance(adapted, ModuleCodec)
    assert adapted.name == "module:pickle"
