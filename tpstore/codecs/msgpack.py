"""The msgpack codec: MessagePack in a BLOB, through `ormsgpack`. Optional.

Needs the `msgpack` extra: `pip install 'tpstore[msgpack]'`; importing this module
without `ormsgpack` installed raises `ImportError` saying so.

| Python value | stored as | affinity |
|---|---|---|
| `int` from -2**63 to 2**64 - 1 | msgpack int; others are refused (`TypeError`) | BLOB |
| `float` | msgpack float64: exact, including `-0.0`, `inf` and `NaN` | BLOB |
| `str` | msgpack str (UTF-8; lone surrogates are refused, `TypeError`) | BLOB |
| `bytes`, `bytearray`, `memoryview` | msgpack bin; reads back as `bytes` | BLOB |
| `bool`, `None` | msgpack `true`/`false`, `nil` | BLOB |
| `list`, `tuple` | msgpack array; reads back as `list` | BLOB |
| `set`, `frozenset` | msgpack array; reads back as `list` | BLOB |
| `dict` | msgpack map; keys keep their type (`int`, `bytes`, `None`, tuples...) | BLOB |
| dataclass, pydantic model | msgpack map of its fields | BLOB |
| `datetime`, `date`, `time` | ISO 8601 string (`isoformat()`, exact) | BLOB |
| `UUID` | string | BLOB |
| `Enum` | its value | BLOB |
| `Decimal`, `timedelta` and other pydantic-serializable values | pydantic's JSON form | BLOB |

Reads return plain msgpack values (dicts, lists, strings...): tpstore validates them
against the declared type, which turns them back into models, tuples, datetimes and
so on. Where the declared type holds `Any`, validation cannot tell a tuple from the
list it came back as, so tpstore reads each written value back and refuses one that
would change (a tuple, a set, a datetime under `Any`). The codec is not
order-preserving.
"""

from __future__ import annotations

import datetime
from typing import Any

try:
    import ormsgpack
except ImportError as exc:  # pragma: no cover - exercised by test_missing_ormsgpack
    raise ImportError(
        "The msgpack codec needs the ormsgpack package, which is not installed: "
        "pip install 'tpstore[msgpack]'",
        name="ormsgpack",
    ) from exc

import pydantic_core

from tpstore.codecs._types import Raw

__all__ = ["affinity", "decode", "encode", "name", "order_preserving"]

name = "msgpack"
affinity = "BLOB"
order_preserving = False

# Non-str keys are native to msgpack; without the option ormsgpack refuses them.
# Datetimes go through `_default` because ormsgpack drops the seconds of a UTC offset
# (`-00:16:08`, common before 1900, becomes `-00:16`); test_datetimes_are_exact.
_PACK_OPTIONS = (
    ormsgpack.OPT_NON_STR_KEYS
    | ormsgpack.OPT_SERIALIZE_PYDANTIC
    | ormsgpack.OPT_PASSTHROUGH_DATETIME
)
_UNPACK_OPTIONS = ormsgpack.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """Serialize what ormsgpack does not handle itself (or not exactly)."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        # A list lets ormsgpack encode the elements natively (bytes stay msgpack bin).
        return list(value)
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"the msgpack codec cannot store a {type(value).__name__}") from exc


def encode(value: Any) -> Raw:
    """Pack `value` as MessagePack.

    Raises:
        TypeError: the value holds something msgpack cannot store (an int beyond 64
            bits, a string with lone surrogates, an unknown type).
    """
    return ormsgpack.packb(value, default=_default, option=_PACK_OPTIONS)


def decode(raw: Raw) -> Any:
    """Unpack a stored MessagePack BLOB."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        found = "NULL" if raw is None else type(raw).__name__
        raise ValueError(f"expected a msgpack BLOB, found {found}")
    return ormsgpack.unpackb(raw, option=_UNPACK_OPTIONS)
