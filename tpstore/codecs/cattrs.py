"""The cattrs codec: attrs classes (and dataclasses) as JSON text, through cattrs.

Values are unstructured with cattrs' preconfigured orjson converter
(`cattrs.preconf.orjson`), dumped with orjson, and structured back into the declared
type on read, so a read returns an instance of the declared attrs class.

| Python value | stored as | affinity |
|---|---|---|
| attrs class, dataclass | JSON object of its fields (cattrs' unstructuring) | TEXT |
| `list`, `tuple`, `set`, `frozenset`, named tuple | JSON array | TEXT |
| `dict` | JSON object; keys are converted to strings and back | TEXT |
| `str`, `int`, `bool`, `None` | JSON string, number, `true`/`false`, `null` | TEXT |
| `float` | JSON number (`-0.0` kept); `inf` and `NaN` are refused (`ValueError`) | TEXT |
| `bytes` | base85 string | TEXT |
| `datetime`, `time` | ISO 8601 string (`isoformat()`: exact, UTC offset included) | TEXT |
| `date` | ISO 8601 string | TEXT |
| `UUID` | string | TEXT |
| `Decimal` | string (exact) | TEXT |
| `Enum` | its value | TEXT |

Aware datetimes read back with a fixed UTC offset: the instant is kept, a `ZoneInfo`'s
name is not. Ints outside the unsigned/signed 64-bit range, strings with lone
surrogates and types orjson cannot serialize (`timedelta`, ...) are refused with
`TypeError`. Values are stored as TEXT so `json_extract()` and the other JSON functions
of SQLite read them.

Specialised to a declared type (`for_type`, what tpstore does for every field), the
codec structures into that type on `decode`. It does not validate: pydantic cannot
model attrs classes, so tpstore's validation layer checks them with this module's
`converter` before `encode`, whatever the codec — a value must structure back as
itself (equal, or, for classes that compare by identity, unstructuring to the same data
again). So `Point(x="5")` on an `int` field is refused rather than silently read back
as `Point(x=5)`, and `Point(x="a")` is refused rather than stored unreadable.

Used without a declared type (the module itself as a codec), it stores anything the
converter can unstructure and returns plain JSON values (dicts, lists, ...).

Hooks for your own types can be registered on `converter`, the converter this codec
uses; register them before the store class is declared.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import cattrs.errors
import orjson
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from tpstore.codecs._types import Raw
from tpstore.codecs.json import _refuse_non_finite, _text
from tpstore.errors import SchemaError

__all__ = [
    "CattrsCodec",
    "affinity",
    "converter",
    "decode",
    "encode",
    "for_type",
    "name",
    "order_preserving",
]

name = "cattrs"
affinity = "TEXT"
order_preserving = False

converter: OrjsonConverter = make_converter()
"""The cattrs converter the codec uses: `cattrs.preconf.orjson.make_converter()` plus
hooks for `UUID`, `Decimal` and `time`, which the preconfigured converter lacks, and
exact `isoformat()` text for `datetime` and `time`."""


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, found {type(value).__name__}")
    return uuid.UUID(value)


def _structure_decimal(value: Any, _: Any) -> decimal.Decimal:
    if not isinstance(value, str):
        # A JSON number would have gone through a binary float: not exact.
        raise TypeError(f"expected a decimal string, found {type(value).__name__}")
    return decimal.Decimal(value)


def _structure_time(value: Any, _: Any) -> datetime.time:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time string, found {type(value).__name__}")
    return datetime.time.fromisoformat(value)


# Datetimes and times are written with `isoformat()` rather than left to orjson, which
# drops the seconds of a UTC offset (`-00:16:08`, common before 1900, becomes `-00:16`)
# and, in orjson 3.13, writes `time(0, 0, 0, 10000)` as `00:00:00.10000` (a tenth of a
# second). test_cattrs.py::test_datetimes_and_times_are_exact guards this.
converter.register_unstructure_hook(datetime.datetime, datetime.datetime.isoformat)
converter.register_unstructure_hook(datetime.time, datetime.time.isoformat)
converter.register_structure_hook(datetime.time, _structure_time)
# UUIDs are dumped by orjson natively; only the way back is missing.
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_unstructure_hook(decimal.Decimal, str)
converter.register_structure_hook(decimal.Decimal, _structure_decimal)


def _dump(unstructured: Any) -> str:
    _refuse_non_finite(unstructured)
    return orjson.dumps(unstructured).decode()


def encode(value: Any) -> Raw:
    """Unstructure any value with `converter` and dump it as JSON text.

    Raises:
        ValueError: the value holds inf or NaN.
        TypeError: orjson cannot serialize what the converter produced.
    """
    return _dump(converter.unstructure(value))


def decode(raw: Raw) -> Any:
    """Parse JSON text into plain JSON values (no declared type to structure into)."""
    return orjson.loads(_text(raw))


class CattrsCodec:
    """The cattrs codec specialised to one declared type.

    `decode` returns an instance of the declared type (cattrs' structure errors
    propagate for data that does not fit it); `encode` takes a value tpstore has
    already validated.

    Attributes:
        declared: the declared type.
    """

    name = "cattrs"
    affinity = "TEXT"
    order_preserving = False

    def __init__(self, declared: Any) -> None:
        self.declared = declared
        try:
            # Building the hooks now reports an unsupported field type when the store
            # class is declared, not on the first write.
            self._unstructure = converter.get_unstructure_hook(declared)
            self._structure = converter.get_structure_hook(declared)
        except cattrs.errors.StructureHandlerNotFoundError as exc:
            raise SchemaError(
                f"the cattrs codec cannot store {declared!r}: {exc} Register hooks on "
                "tpstore.codecs.cattrs.converter, or give another codec."
            ) from exc

    def encode(self, value: Any) -> Raw:
        """Encode a value of the declared type as JSON text.

        Raises:
            ValueError: the value holds inf or NaN.
            TypeError: orjson cannot serialize the value, or it is not a value of the
                declared type.
        """
        try:
            unstructured = self._unstructure(value)
        except (AttributeError, KeyError) as exc:
            raise TypeError(
                f"a {type(value).__name__} cannot be stored as {self._type_name()}: {exc}"
            ) from exc
        return _dump(unstructured)

    def decode(self, raw: Raw) -> Any:
        """Parse stored JSON text and structure it into the declared type."""
        return self._structure(orjson.loads(_text(raw)), self.declared)

    def decode_validate(self, raw: Raw) -> Any:
        """`decode`: structuring into the declared type checks it, in the same pass.

        tpstore's validation layer prefers this on reads to checking a decoded value
        again with the same converter.
        """
        return self.decode(raw)

    def _type_name(self) -> str:
        declared = self.declared
        return declared.__qualname__ if isinstance(declared, type) else repr(declared)

    def __repr__(self) -> str:
        return f"<cattrs codec for {self.declared!r}>"


def for_type(tp: Any) -> CattrsCodec:
    """The cattrs codec specialised to `tp`.

    Raises:
        SchemaError: cattrs has no structure hook for `tp` or one of its fields.
    """
    return CattrsCodec(tp)
