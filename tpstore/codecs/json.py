"""The JSON codec: pydantic-serialized JSON text, readable by SQLite's JSON functions.

The default codec for pydantic models, dataclasses, TypedDicts, containers, unions,
`Literal`s and the scalar types below when they are values (not keys).

| Python value | stored as | affinity |
|---|---|---|
| pydantic model, dataclass, TypedDict | JSON object of its fields (pydantic) | TEXT |
| `list`, `tuple`, `set`, `frozenset`, `deque` | JSON array | TEXT |
| `dict` | JSON object; keys as strings, read back as the declared key type | TEXT |
| `str` | JSON string (lone surrogates are refused) | TEXT |
| `int` | JSON number, any size (SQLite's `json_extract` reads beyond 64 bits as REAL) | TEXT |
| `float` | JSON number, exact, `-0.0` kept; `inf` and `NaN` are refused | TEXT |
| `bool`, `None` | `true`/`false`, `null` | TEXT |
| `Enum`, `Literal` | the member's value / the literal | TEXT |
| `datetime`, `time` | ISO 8601 string; aware ones with `Z` or `+HH:MM` | TEXT |
| `date` | ISO 8601 date string | TEXT |
| `timedelta` | ISO 8601 duration string (`P1DT2H`) | TEXT |
| `UUID`, `Decimal`, `Fraction`, `Path`, IP addresses | string | TEXT |
| `bytes` | string of the bytes as UTF-8 (other bytes are refused; `Base64Bytes` for any) | TEXT |
| under `Any`: JSON values only (`dict` with `str` keys, `list`, scalars) | as above | TEXT |

Values are stored as TEXT so `json_extract()` and the other JSON functions of SQLite
read them.

**Nothing is silently changed.** A value that would not come back as it was written
is refused with `ValidationError` when it is written:

- `inf` and `NaN`, wherever they sit (pydantic would write `null`, which reads back as
  `None` in an `Optional[float]`);
- an aware `datetime` or `time` whose UTC offset has seconds or microseconds (common
  in zones' local mean time before 1900, `-00:16:08`): pydantic writes `+HH:MM` and
  reads no seconds there, so the instant would move. Convert such values to UTC first.
  Whole-minute offsets are kept exactly. What JSON does not record either way: a
  `ZoneInfo`'s name (the value reads back with a fixed offset, equal and at the same
  instant) and the `fold` attribute;
- bytes that are not UTF-8 text, strings with lone surrogates;
- under `Any` (and in dict keys that are not str, int, float, bool, enum, date/time,
  UUID or Decimal), anything JSON would give back as another type: a tuple (read back
  as a list), a set, `{1: x}` (read back as `{"1": x}`), a `datetime` or `Decimal`
  (read back as a string); in a union, a member JSON would give back as another one
  (a `datetime` in `str | datetime`). tpstore checks such types by reading the JSON
  back on every write (the codec is not `exact`); declare the exact type to skip that,
  or use `msgpack` or `pickle`. A union of two kinds of array (`tuple[int, ...] |
  list[int]`, `set[int] | list[int]`) is refused when the store class is created.

A type pydantic cannot serialize at all (a callable, a class, an arbitrary class
without a serializer) raises `SchemaError` when the store class is created.

Specialised to a declared type (what tpstore does for every field), the codec uses
pydantic's own JSON serializer for that type, and offers `decode_validate`, which
parses stored text straight into the declared type in one pass: tpstore's validation
layer uses it on reads as an optimisation (the codec itself never decides what is
valid). The checks above are compiled once from the type's core schema and only visit
the parts of a value that can hold a float or a datetime.
Used without a declared type (the module itself as a codec), it stores any value
orjson can serialize (inf and NaN refused).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import math
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pydantic
import pydantic_core
from pydantic_core import core_schema

from tpstore.codecs._types import Raw
from tpstore.errors import SchemaError

__all__ = [
    "PydanticJsonCodec",
    "affinity",
    "decode",
    "encode",
    "for_type",
    "name",
    "order_preserving",
]

name = "json"
affinity = "TEXT"
order_preserving = False


def encode(value: Any) -> Raw:
    """Encode any orjson-serializable value as JSON text."""
    _refuse_non_finite(value)
    return orjson.dumps(value).decode()


def decode(raw: Raw) -> Any:
    """Parse JSON text into plain JSON values (dicts, lists, strings, numbers...)."""
    return pydantic_core.from_json(_text(raw))


def _refuse_non_finite(value: Any) -> None:
    """Raise `ValueError` if `value` holds a float JSON cannot represent.

    orjson would write `null` for it, which reads back as `None` (also used by cattrs).
    """
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

    `encode` takes a value already validated against the declared type; `decode`
    parses stored text into plain JSON values. Besides them it offers
    `decode_validate`, which parses straight into the declared type in one pass of
    pydantic's core: tpstore's validation layer prefers it on reads.

    Faithfulness checks run only where the declared type needs them, found once from
    pydantic's core schema: floats (inf/NaN) and aware datetimes and times (offsets
    with seconds).

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
        self._validator = self.adapter.validator
        # `decode_validate` of stored text that is a `str` (as it always is when read
        # back): one call, for the read path.
        self.validate_text: Callable[[str], Any] = self._validator.validate_json
        scan = _Scan(self.adapter.core_schema)
        self._node_types = frozenset(scan.types)
        if scan.unserializable:
            raise SchemaError(
                f"{_type_name(declared)} has no JSON form: pydantic cannot serialize "
                f"its {scan.unserializable} part"
            )
        self._serializer = self.adapter.serializer
        # A check compiled from the schema visits only the parts of a value that can
        # hold a float or a datetime; most declared types have none and skip it, which
        # keeps the common path as fast as pydantic itself.
        self._check_value = _Checks(self.adapter.core_schema).compile()

    def encode(self, value: Any) -> Raw:
        """Encode a value already validated against the declared type.

        Raises:
            ValueError: the value cannot be stored faithfully (see the module).
        """
        # pydantic-core's serializer directly: this runs for every write.
        raw = self._to_json(value)
        if self._check_value is not None:
            self._check_value(value)
        return raw.decode()

    def decode(self, raw: Raw) -> Any:
        """Parse stored JSON text into plain JSON values."""
        return pydantic_core.from_json(_text(raw))

    def for_keys(self) -> PydanticJsonCodec:
        """This codec for keys: equal keys are always stored as the same text.

        A key is found by its stored form, so equal keys must encode alike. JSON writes
        a `set` or `frozenset` in iteration order, which depends on the history of the
        set and, for strings, on the process's hash seed: `frozenset({"a", "b"})` could
        be stored by one process and not found by another. The copy returned writes
        their elements sorted by their JSON text.

        Raises:
            SchemaError: the type holds sets where their order cannot be fixed here
                (inside a model or dataclass, which serialize themselves, or under a
                custom serializer).
        """
        if not self._node_types & _SETS:
            return self
        schema = copy.deepcopy(self.adapter.core_schema)
        if self._node_types & _SELF_SERIALIZED or not _sort_sets(schema):
            raise SchemaError(
                f"{_type_name(self.declared)} cannot be a key under the json codec: it "
                "holds a set inside a model, a dataclass or a custom serializer, whose "
                "JSON follows the set's iteration order, so equal keys could be stored "
                "as two; use a sorted tuple instead of the set, or a codec of your own"
            )
        keys = copy.copy(self)
        keys._serializer = pydantic_core.SchemaSerializer(schema)
        return keys

    def decode_validate(self, raw: Raw) -> Any:
        """Parse stored JSON text straight into the declared type (lax), in one pass.

        Raises:
            pydantic.ValidationError: the text is not JSON of the declared type.
        """
        return self._validator.validate_json(_text(raw))

    def _to_json(self, value: Any) -> bytes:
        try:
            return self._serializer.to_json(value, warnings=False)
        except pydantic_core.PydanticSerializationError as exc:
            # Bytes that are not UTF-8, strings with lone surrogates, unknown objects
            # under `Any`: PydanticSerializationError is a ValueError, refused as such.
            raise ValueError(f"this value has no JSON form: {_first_line(exc)}") from exc

    def __repr__(self) -> str:
        return f"<json codec for {self.declared!r}>"


class _Scan:
    """What a pydantic core schema can hold, found by one walk over it."""

    def __init__(self, schema: Any) -> None:
        self.types: set[str] = set()
        self.unserializable: str | None = None
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
            if kind == "json-or-python":
                # Only the Python side matters for what is serialized.
                self._walk(node.get("python_schema"), serialized=serialized)
                return
        for key, child in node.items():
            if key not in ("metadata", "serialization", "ref", "schema_ref"):
                self._walk(child, serialized=serialized)


_UNSERIALIZABLE = frozenset({"callable", "is-subclass", "is-instance"})
_SETS = frozenset({"set", "frozenset"})
# Schemas that pydantic serializes with the class's own serializer, not the one given.
_SELF_SERIALIZED = frozenset({"model", "dataclass"})


def _sort_sets(node: Any) -> bool:
    """Give every set schema in `node` a serializer writing its items in sorted order.

    Returns False if a set already has a serializer of its own (left as it is).
    """
    if isinstance(node, list | tuple):
        return all(_sort_sets(item) for item in node)
    if not isinstance(node, dict):
        return True
    done = all(_sort_sets(child) for key, child in node.items() if key != "metadata")
    if node.get("type") in _SETS:
        if "serialization" in node:
            return False
        node["serialization"] = core_schema.wrap_serializer_function_ser_schema(
            _sorted_items, when_used="json"
        )
    return done


def _sorted_items(value: Any, serialize: Callable[[Any], Any]) -> list[Any]:
    """The items of a set as JSON data, in the order of their JSON text."""
    return sorted(serialize(value), key=orjson.dumps)


_MINUTE = datetime.timedelta(minutes=1)


_Check = Callable[[Any], None]
# Node types whose values hold no float and no datetime: nothing to check.
_NOTHING = frozenset(
    {
        "int",
        "str",
        "bool",
        "bytes",
        "none",
        "uuid",
        "decimal",
        "date",
        "timedelta",
        "enum",
        "literal",
        "url",
        "multi-host-url",
    }
)
_ITEMS = frozenset({"list", "set", "frozenset"})


class _Checks:
    """Compiles a core schema into a check of the values it validates.

    The check raises `ValueError` for a float JSON cannot hold (inf, NaN) or an aware
    datetime or time whose UTC offset has seconds, and looks only where the schema
    says such values can be (`Order.placed`, `Order.lines[*].price`). Parts it does not
    understand (unions, custom validators or serializers, `Any`...) are walked whole by
    `_refuse_unfaithful`.
    """

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.definitions: dict[str, Any] = {}
        self.compiling: set[str] = set()

    def compile(self) -> _Check | None:
        return self._node(self.schema)

    def _node(self, node: Any) -> _Check | None:
        if not isinstance(node, dict):
            return _walk_all
        kind = node.get("type")
        if kind == "definitions":
            for definition in node.get("definitions", ()):
                self.definitions[definition["ref"]] = definition
            return self._node(node["schema"])
        if kind == "definition-ref":
            ref = node["schema_ref"]
            if ref in self.compiling or ref not in self.definitions:
                return _walk_all  # a recursive type: walk it whole
            self.compiling.add(ref)
            try:
                return self._node(self.definitions[ref])
            finally:
                self.compiling.discard(ref)
        if "serialization" in node and kind not in _NOTHING:
            return _walk_all  # written by a custom serializer: look at everything
        if kind in _NOTHING:
            return None
        if kind == "float":
            return _check_float
        if kind in ("datetime", "time"):
            return _check_offset
        if kind in ("default", "nullable"):
            inner = self._node(node["schema"])
            if inner is None or kind == "default":
                return inner
            if inner is _check_float:
                return _check_optional_float
            return lambda value: None if value is None else inner(value)
        if kind in _ITEMS:
            item = self._node(node.get("items_schema"))
            if item is None:
                return None
            return _items_check(item)
        if kind == "dict":
            keys = self._node(node.get("keys_schema"))
            values = self._node(node.get("values_schema"))
            if keys is None and values is None:
                return None
            return _dict_check(keys, values)
        if kind == "model":
            return self._model(node)
        if kind in ("tuple", "union", "tagged-union"):
            # Checked whole unless no part can hold a float or a datetime at all.
            parts = node.get("items_schema") if kind == "tuple" else node.get("choices")
            if isinstance(parts, dict):
                parts = list(parts.values())
            if isinstance(parts, list) and all(
                self._node(part[0] if isinstance(part, tuple) else part) is None for part in parts
            ):
                return None
        return _walk_all

    def _model(self, node: dict[str, Any]) -> _Check | None:
        fields_node = node.get("schema", {})
        if (
            fields_node.get("type") != "model-fields"
            or fields_node.get("computed_fields")
            or fields_node.get("extras_schema")
            or node.get("root_model")
        ):
            return _walk_all
        floats: list[str] = []  # fields checked inline: the commonest case, kept cheap
        others: list[tuple[str, _Check]] = []
        for name, field_node in fields_node.get("fields", {}).items():
            check = self._node(field_node.get("schema"))
            if check is _check_float or check is _check_optional_float:
                floats.append(name)
            elif check is not None:
                others.append((name, check))
        extra = node.get("config", {}).get("extra_fields_behavior") == "allow"
        if not floats and not others and not extra:
            return None
        cls, float_names, pairs = node.get("cls"), tuple(floats), tuple(others)

        def check_model(value: Any) -> None:
            if type(value) is not cls and not isinstance(value, pydantic.BaseModel):
                _walk_all(value)
                return
            for name in float_names:
                number = getattr(value, name)
                # x - x is NaN for inf and NaN, 0 for every finite number.
                if number is not None and number - number != 0:
                    _check_float(number)
            for name, check in pairs:
                check(getattr(value, name))
            if extra and value.__pydantic_extra__:
                _walk_all(value.__pydantic_extra__)

        return check_model


def _items_check(item: _Check) -> _Check:
    def check_items(value: Any) -> None:
        for x in value:
            item(x)

    return check_items


def _dict_check(keys: _Check | None, values: _Check | None) -> _Check:
    def check_dict(value: Any) -> None:
        if keys is not None:
            for key in value:
                keys(key)
        if values is not None:
            for item in value.values():
                values(item)

    return check_dict


def _check_float(value: Any) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{value} has no JSON representation")


def _check_optional_float(value: Any) -> None:
    if value is not None:
        _check_float(value)


def _walk_all(value: Any) -> None:
    _refuse_unfaithful(value, floats=True, times=True)


# Types a value walk skips at once: they hold neither floats nor datetimes.
_INERT = frozenset(
    {
        str,
        int,
        bool,
        type(None),
        bytes,
        uuid.UUID,
        decimal.Decimal,
        datetime.date,
        datetime.timedelta,
    }
)


def _refuse_unfaithful(value: Any, *, floats: bool, times: bool) -> None:
    """Raise `ValueError` if `value` holds what pydantic's JSON would change.

    With `floats`: inf or NaN (written as `null`). With `times`: an aware datetime or
    time whose UTC offset has seconds (pydantic writes `+HH:MM` and reads no seconds
    there, so the value would come back as another instant). Walks the validated value
    once, dispatching on exact types first: this runs on the write path.
    """
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind in _INERT:
            continue
        if kind is float:
            if floats and not math.isfinite(item):
                raise ValueError(f"{item} has no JSON representation")
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            extend(item)
        elif kind is dict:
            extend(item.keys())
            extend(item.values())
        elif kind is datetime.datetime or kind is datetime.time:
            if times:
                _check_offset(item)
        elif hasattr(kind, "__pydantic_fields__") and isinstance(item, pydantic.BaseModel):
            extend(item.__dict__.values())
            if item.__pydantic_extra__:
                extend(item.__pydantic_extra__.values())
        elif dataclasses.is_dataclass(kind):
            extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, float):
            stack.append(float(item))
        elif isinstance(item, datetime.datetime | datetime.time):
            if times:
                _check_offset(item)
        elif isinstance(item, dict):
            extend(item.keys())
            extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            extend(item)


def _check_offset(value: Any) -> None:
    if not isinstance(value, datetime.datetime | datetime.time):
        return  # not a datetime (a mutated model field): validation refuses it
    offset = value.utcoffset()
    if offset is not None and offset % _MINUTE:
        raise ValueError(
            f"{value.isoformat()} has a UTC offset with seconds ({offset}), which JSON "
            "(ISO 8601 as pydantic writes and reads it) cannot keep; convert it first, for "
            "example with .astimezone(datetime.timezone.utc)"
        )


def _describe_node(node: dict[str, Any]) -> str:
    cls = node.get("cls")
    if isinstance(cls, type):
        return f"{cls.__qualname__} ({node['type']})"
    return str(node["type"])


def _text(raw: Raw) -> str | bytes:
    """The stored JSON text; `ValueError` for anything else (also used by cattrs)."""
    if isinstance(raw, str | bytes):
        return raw
    found = "NULL" if raw is None else type(raw).__name__
    raise ValueError(f"expected JSON text, found {found}")


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def for_type(tp: Any) -> PydanticJsonCodec:
    """The JSON codec specialised to `tp`.

    Raises:
        SchemaError: pydantic cannot serialize `tp` (or a part of it) to JSON.
    """
    return PydanticJsonCodec(tp)
