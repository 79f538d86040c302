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

import dataclasses
import datetime
import math
import re
from typing import Any

import orjson
import pydantic
import pydantic_core

from tpstore.codecs import Raw
from tpstore.errors import SchemaError

__all__ = ["PydanticJsonCodec", "affinity", "decode", "encode", "for_type", "name",
           "order_preserving"]

name = "json"
affinity = "TEXT"
order_preserving = False

# Pydantic writes inf/NaN as `null` by default, or as bare `Infinity`/`NaN` tokens, so
# output without these markers cannot hold a changed float.
_SUSPECT = re.compile(rb"null|Infinity|NaN")


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

    Faithfulness checks run only where the declared type needs them, found once from
    pydantic's core schema: floats (inf/NaN), aware datetimes and times (offsets with
    seconds), and a full read-back comparison for types holding `Any` or dict keys
    that JSON object keys cannot carry back.

    Raises:
        SchemaError: pydantic cannot build a schema for the type, or some part of it
            has no JSON form (callables, classes, arbitrary types without a
            serializer).
    """

    name = "json"
    affinity = "TEXT"
    order_preserving = False

    def __init__(self, declared: Any) -> None:
        self.declared = declared
        try:
            self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(declared)
        except Exception as exc:
            raise SchemaError(
                f"pydantic cannot build a JSON schema for {_type_name(declared)}: "
                f"{_first_line(exc)}"
            ) from exc
        self._model = declared if _is_model(declared) else None
        self._validator = self.adapter.validator
        self._serializer = self.adapter.serializer
        scan = _Scan(self.adapter.core_schema)
        if scan.unserializable:
            raise SchemaError(
                f"{_type_name(declared)} has no JSON form: pydantic cannot serialize "
                f"its {scan.unserializable} part"
            )
        # Most declared types cannot hold a float or a datetime at all; they skip the
        # checks, which keeps the common path as fast as pydantic itself.
        self._may_hold_float = bool(scan.types & _FLOAT_CARRIERS)
        self._may_hold_time = bool(scan.types & _TIME_CARRIERS)
        self._verify = scan.needs_read_back
        self._checked = self._may_hold_float or self._may_hold_time or self._verify

    def encode(self, value: Any) -> Raw:
        """Encode a value already validated against the declared type.

        Raises:
            ValueError: the value cannot be stored faithfully (see the module).
        """
        raw = self._to_json(value)
        if self._checked:
            self._check_faithful(raw, value, None)
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
            ValueError: the value cannot be stored faithfully (see the module).
        """
        # pydantic-core's validator and serializer directly: this runs for every write.
        back = None
        if self._model is not None and isinstance(value, self._model):
            raw = self._to_json(value)
            back = self._validator.validate_json(raw, strict=strict)
        else:
            value = self._validator.validate_python(value, strict=strict)
            raw = self._to_json(value)
        if self._checked:
            self._check_faithful(raw, value, back)
        return raw.decode()

    def decode_validate(self, raw: Raw, *, strict: bool = False) -> Any:
        """Parse and validate stored JSON text in one pass."""
        return self._validator.validate_json(_text(raw), strict=strict)

    def _to_json(self, value: Any) -> bytes:
        try:
            return self._serializer.to_json(value, warnings=False)
        except pydantic_core.PydanticSerializationError as exc:
            # Bytes that are not UTF-8, strings with lone surrogates, unknown objects
            # under `Any`: PydanticSerializationError is a ValueError, refused as such.
            raise ValueError(f"this value has no JSON form: {_first_line(exc)}") from exc

    def _check_faithful(self, raw: bytes, value: Any, back: Any) -> None:
        if self._may_hold_float and _SUSPECT.search(raw):
            _refuse_non_finite(self.adapter.dump_python(value, warnings=False))
        if self._verify:
            if back is None:
                try:
                    back = self._validator.validate_json(raw)
                except pydantic.ValidationError as exc:
                    raise ValueError(
                        f"this value would not read back from JSON: {_first_line(exc)}"
                    ) from exc
            if not same(back, value):
                raise ValueError(
                    "this value would not read back unchanged from JSON (under Any, only "
                    "JSON values keep their type; dict keys come back from strings): "
                    "declare the exact type, or give another codec such as "
                    "codec='msgpack' or codec='pickle'"
                )
        elif self._may_hold_time and _AWARE_TIME.search(raw):
            _refuse_inexact_offsets(value)

    def __repr__(self) -> str:
        return f"<json codec for {self.declared!r}>"


class _Scan:
    """What a pydantic core schema can hold, found by one walk over it."""

    def __init__(self, schema: Any) -> None:
        self.types: set[str] = set()
        self.unserializable: str | None = None
        self.needs_read_back = False
        self._walk(schema, serialized=False)

    def _walk(self, node: Any, *, serialized: bool) -> None:
        if isinstance(node, list | tuple):
            for item in node:
                self._walk(item, serialized=serialized)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if isinstance(kind, str):
            self.types.add(kind)
            # A node with its own serializer is written by it, whatever it validates.
            serialized = serialized or "serialization" in node
            if not serialized and kind in _UNSERIALIZABLE and self.unserializable is None:
                self.unserializable = _describe_node(node)
            if kind == "any" or (kind == "dict" and not _safe_key(node.get("keys_schema"))):
                self.needs_read_back = True
            if kind == "json-or-python":
                # Only the Python side matters for what is serialized.
                self._walk(node.get("python_schema"), serialized=serialized)
                return
        for key, child in node.items():
            if key not in ("metadata", "serialization", "ref", "schema_ref"):
                self._walk(child, serialized=serialized)


# Key schemas whose JSON object key (a string) pydantic reads back as the same key.
_SAFE_KEY_TYPES = frozenset({"str", "int", "float", "bool", "enum", "uuid", "date",
                             "datetime", "time", "timedelta", "decimal", "literal", "bytes"})
_FLOAT_CARRIERS = frozenset({"float", "any", "function-plain", "function-wrap", "complex",
                             "json-or-python", "is-instance", "definition-ref"})
_TIME_CARRIERS = frozenset({"datetime", "time", "any", "function-plain", "function-wrap",
                            "json-or-python", "definition-ref"})
_UNSERIALIZABLE = frozenset({"callable", "is-subclass", "is-instance"})
# An aware datetime or time as pydantic writes it: `...12:00:00Z"` or `...12:00-00:16"`.
_AWARE_TIME = re.compile(rb'\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)"')
_MINUTE = datetime.timedelta(minutes=1)


def _safe_key(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True  # no keys schema: pydantic defaults to str-like keys
    kind = schema.get("type")
    if kind in _SAFE_KEY_TYPES:
        return True
    if kind in ("function-after", "function-before") and "schema" in schema:
        return _safe_key(schema["schema"])
    return False


def _describe_node(node: dict[str, Any]) -> str:
    cls = node.get("cls")
    if isinstance(cls, type):
        return f"{cls.__qualname__} ({node['type']})"
    return str(node["type"])


def _refuse_inexact_offsets(value: Any) -> None:
    """Raise `ValueError` for an aware datetime or time whose UTC offset has seconds.

    pydantic writes offsets as `+HH:MM`, dropping seconds and microseconds, which
    would move the stored instant.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, datetime.datetime | datetime.time):
            offset = item.utcoffset()
            if offset is not None and offset % _MINUTE:
                raise ValueError(
                    f"{item.isoformat()} has a UTC offset with seconds ({offset}), which "
                    "JSON (ISO 8601 as pydantic writes it) cannot keep; convert it first, "
                    "for example with .astimezone(datetime.timezone.utc)"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, pydantic.BaseModel):
            stack.extend(vars(item).values())
            if item.__pydantic_extra__:
                stack.extend(item.__pydantic_extra__.values())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))


def same(a: Any, b: Any) -> bool:
    """Whether `b` is `a` read back unchanged: equal, with the same types at every level.

    Used where JSON may change a value without pydantic noticing (under `Any`, in
    dict keys): a tuple read back as a list, `{1: x}` as `{"1": x}`, a `Decimal` as a
    string all count as changed. Aware datetimes must keep their UTC offset, floats
    their sign.
    """
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return bool(a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if kind is list or kind is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        # pydantic keeps the order of dict items through JSON.
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if kind is set or kind is frozenset:
        return bool(a == b) and {type(x) for x in a} == {type(x) for x in b}
    if isinstance(a, datetime.datetime | datetime.time):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    if isinstance(a, pydantic.BaseModel):
        return same(vars(a), vars(b)) and same(a.__pydantic_extra__, b.__pydantic_extra__)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def _text(raw: Raw) -> str | bytes:
    if isinstance(raw, str | bytes):
        return raw
    raise ValueError(f"expected JSON text, found {type(raw).__name__}")


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def for_type(tp: Any) -> PydanticJsonCodec:
    """The JSON codec specialised to `tp`.

    Raises:
        SchemaError: pydantic cannot serialize `tp` (or a part of it) to JSON.
    """
    return PydanticJsonCodec(tp)
