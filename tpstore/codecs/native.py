"""The native codec: SQLite's own INTEGER, REAL, TEXT and BLOB values.

The default codec for the types below, as keys and as values (`Optional` as values
only: a key cannot be NULL, so `Optional` keys go to `tuple_key`).

| Python value | stored as | affinity |
|---|---|---|
| `int` (64-bit), `bool` | integer (`bool` as 0/1) | INTEGER |
| int `Enum`, `Literal` of ints | integer: the member's value / the literal | INTEGER |
| `float` | real; NaN is refused (SQLite would store NULL); `inf` is kept | REAL |
| `str` | text (UTF-8; lone surrogates are refused) | TEXT |
| str `Enum`, `Literal` of strings | text: the member's value / the literal | TEXT |
| `bytes`, `bytearray`, `memoryview` | blob | BLOB |
| `None` in an `Optional[X]` value | SQL NULL | as X |

A stored `-0.0` reads back as `0.0` (SQLite's doing). `Annotated[X, ...]` and
`NewType("N", X)` are stored as `X`. An `int` outside the
signed 64-bit range is refused with `ValidationError`. All four affinities sort in
Python's order (TEXT in code point order, BLOB bytewise), so the codec is
order-preserving and serves as a key codec in key-ordered collections. Values read
back are validated into the declared type, so an `Enum` or `bool` comes back as one.

Used without a declared type (the module itself as a codec, or a field declared
`Any` with `codec="native"`) it stores any of the values above with affinity ANY.
"""

from __future__ import annotations

import enum
import math
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpstore.codecs._types import Raw, native_affinity, optional_inner, strip_annotated
from tpstore.errors import SchemaError

__all__ = ["NativeCodec", "affinity", "decode", "encode", "for_type", "name", "order_preserving"]

name = "native"
affinity = "ANY"
order_preserving = True

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _encode_int(value: Any) -> int:
    number = value.value if isinstance(value, enum.Enum) else int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{number} does not fit in a 64-bit SQLite INTEGER")
    return number


def _encode_real(value: Any) -> float:
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN cannot be stored in an SQLite REAL column (it would become NULL)")
    return number


def _encode_text(value: Any) -> str:
    text = str(value.value) if isinstance(value, enum.Enum) else str(value)
    # sqlite3 binds text as UTF-8: a lone surrogate would fail there with a bare
    # UnicodeEncodeError (a ValueError, so it becomes a ValidationError here).
    text.encode("utf-8")
    return text


def _encode_blob(value: Any) -> bytes:
    return bytes(value)


_ENCODERS: dict[str, Callable[[Any], Raw]] = {
    "INTEGER": _encode_int,
    "REAL": _encode_real,
    "TEXT": _encode_text,
    "BLOB": _encode_blob,
}


def encode(value: Any) -> Raw:
    """Encode any native value (affinity ANY)."""
    if value is None:
        return None
    if isinstance(value, bool | int):
        return _encode_int(value)
    if isinstance(value, float):
        return _encode_real(value)
    if isinstance(value, str):
        return _encode_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"the native codec cannot store a {type(value).__name__}")


def decode(raw: Raw) -> Any:
    """Return the SQLite value unchanged; validation turns it into the declared type."""
    return raw


@dataclass(frozen=True)
class NativeCodec:
    """The native codec specialised to one affinity."""

    affinity: str
    nullable: bool = False
    name: str = "native"
    order_preserving: bool = True

    def encode(self, value: Any) -> Raw:
        """Encode a validated value of the declared type."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError("None cannot be stored here: the declared type is not Optional")
        encoded: Raw = _ENCODERS[self.affinity](value)
        return encoded

    def decode(self, raw: Raw) -> Any:
        """Return the SQLite value unchanged."""
        return raw


def for_type(tp: Any) -> NativeCodec | types.ModuleType:
    """The native codec for a declared type: its affinity, NULL for `Optional`.

    `Any` gives the untyped codec (this module: affinity ANY, any native value).

    Raises:
        SchemaError: the type is not one the native codec stores.
    """
    tp = strip_annotated(tp)
    if tp is Any:
        return sys.modules[__name__]
    found = native_affinity(tp)
    if found is not None:
        return NativeCodec(found)
    inner = optional_inner(tp)
    if inner is not None:
        found = native_affinity(inner)
        if found is not None:
            return NativeCodec(found, nullable=True)
    raise SchemaError(f"the native codec cannot store {tp!r}: it stores int, float, str, bytes")
