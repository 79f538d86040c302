"""The JSON codec: pydantic-serialized JSON text, readable by SQLite's JSON functions.

| Python value | stored as | affinity |
|---|---|---|
| pydantic model, dataclass, TypedDict | JSON object of its fields (pydantic) | TEXT |
| `list`, `tuple`, `set`, `frozenset` | JSON array | TEXT |
| `dict` | JSON object (keys as strings) | TEXT |
| `str`, `int`, `float`, `bool`, `None` | JSON string, number, `true`/`false`, `null` | TEXT |
| `datetime`, `date`, `time` | ISO 8601 string | TEXT |
| `timedelta` | ISO 8601 duration string | TEXT |
| `UUID`, `Decimal` | string | TEXT |
| `bytes` | string (UTF-8 text; base64 if the field says so) | TEXT |

Values are stored as TEXT so `json_extract()` and the other JSON functions of SQLite
read them. `inf` and `NaN` have no JSON form and are refused with `ValidationError`
rather than silently stored as `null`.

Specialised to a declared type (what tpstore does for every field), the codec uses
pydantic's own JSON serializer and parser for that type, so encoding, decoding and
validation are done in one pass. Used without a declared type (the module itself as a
codec), it stores any value orjson can serialize.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pydantic

from tpstore.codecs import Raw

__all__ = ["PydanticJsonCodec", "affinity", "decode", "encode", "for_type", "name",
           "order_preserving"]

name = "json"
affinity = "TEXT"
order_preserving = False

# Pydantic writes inf/NaN as `null` by default, or as bare `Infinity`/`NaN` tokens, so
# output without these markers cannot hold a changed float.
_SUSPECT = re.compile(rb"null|Infinity|NaN")
# Core-schema node types through which a float may reach the serializer.
_FLOAT_CARRIERS = ("'float'", "'any'", "'function-plain'", "'function-wrap'", "'complex'",
                   "'json-or-python'", "'is-instance'", "'definition-ref'")


def encode(value: Any) -> Raw:
    """Encode any orjson-serializable value as JSON text."""
    _refuse_non_finite(value)
    return orjson.dumps(value).decode()


def decode(raw: Raw) -> Any:
    """Parse JSON text."""
    return orjson.loads(_text(raw))


def _refuse_non_finite(value: Any) -> None:
    """Raise `ValueError` if `value` holds a float JSON cannot represent."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item} has no JSON representation")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


class PydanticJsonCodec:
    """The JSON codec specialised to one declared type through a pydantic `TypeAdapter`.

    Besides `encode`/`decode` it offers the fused `validate_encode` and
    `decode_validate`, which tpstore prefers: they validate and (de)serialize in one
    pass of pydantic's core.
    """

    name = "json"
    affinity = "TEXT"
    order_preserving = False

    def __init__(self, declared: Any) -> None:
        self.declared = declared
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(declared)
        self._model = declared if _is_model(declared) else None
        self._validator = self.adapter.validator
        self._serializer = self.adapter.serializer
        # Most declared types cannot hold a float at all; they skip the check.
        schema_text = repr(self.adapter.core_schema)
        self._may_hold_float = any(f"'type': {node}" in schema_text for node in _FLOAT_CARRIERS)

    def encode(self, value: Any) -> Raw:
        """Encode a value already validated against the declared type."""
        raw = self._serializer.to_json(value, warnings=False)
        if self._may_hold_float:
            self._check_faithful(raw, value)
        return raw.decode()

    def decode(self, raw: Raw) -> Any:
        """Parse and validate stored JSON text."""
        return self.adapter.validate_json(_text(raw))

    def validate_encode(self, value: Any, *, strict: bool = False) -> Raw:
        """Validate `value` against the declared type and encode it.

        A model instance is serialized and parsed back, so an instance whose fields
        were mutated into the wrong type is refused rather than trusted.

        Raises:
            pydantic.ValidationError: the value does not validate.
            ValueError: the value holds inf or NaN.
        """
        # pydantic-core's validator and serializer directly: this runs for every write.
        if self._model is not None and isinstance(value, self._model):
            raw = self._serializer.to_json(value, warnings=False)
            self._validator.validate_json(raw, strict=strict)
        else:
            value = self._validator.validate_python(value, strict=strict)
            raw = self._serializer.to_json(value, warnings=False)
        if self._may_hold_float:
            self._check_faithful(raw, value)
        return raw.decode()

    def decode_validate(self, raw: Raw, *, strict: bool = False) -> Any:
        """Parse and validate stored JSON text in one pass."""
        return self._validator.validate_json(_text(raw), strict=strict)

    def _check_faithful(self, raw: bytes, value: Any) -> None:
        if _SUSPECT.search(raw):
            _refuse_non_finite(self.adapter.dump_python(value, warnings=False))

    def __repr__(self) -> str:
        return f"<json codec for {self.declared!r}>"


def _text(raw: Raw) -> str | bytes:
    if isinstance(raw, str | bytes):
        return raw
    raise ValueError(f"expected JSON text, found {type(raw).__name__}")


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def for_type(tp: Any) -> PydanticJsonCodec:
    """The JSON codec specialised to `tp`."""
    return PydanticJsonCodec(tp)
