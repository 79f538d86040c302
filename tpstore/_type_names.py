"""Python names for the types a catalog records as JSON schemas (`list[Order]`, `int`).

The catalog keeps pydantic's JSON schema of each declared type; people read types by
their Python names. Used by `tpstore info` and by the `SchemaError` messages that
compare a declaration with a file.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["type_label"]


def type_label(schema_text: str | None) -> str:
    """A short name for the type a recorded JSON schema describes (`User`, `int`...)."""
    if not schema_text:
        return "?"
    try:
        schema = json.loads(schema_text)
    except ValueError:
        return "?"
    return _label(schema, 0)


_LABELS = {
    "null": "None",
    "boolean": "bool",
    "integer": "int",
    "number": "float",
    "object": "dict",
    "string": "str",
}
_FORMAT_LABELS = {
    "date-time": "datetime",
    "date": "date",
    "time": "time",
    "uuid": "UUID",
    "binary": "bytes",
    "duration": "timedelta",
}


def _label(schema: Any, depth: int) -> str:
    if not isinstance(schema, dict) or depth > 5:
        return "?"
    if isinstance(schema.get("title"), str):
        return str(schema["title"])
    if isinstance(schema.get("$ref"), str):
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            return " | ".join(_label(member, depth + 1) for member in schema[combinator])
    kind = schema.get("type")
    if kind == "string" and schema.get("format") in _FORMAT_LABELS:
        return _FORMAT_LABELS[schema["format"]]
    if kind == "array":
        if isinstance(schema.get("prefixItems"), list):
            inner = ", ".join(_label(item, depth + 1) for item in schema["prefixItems"])
            return f"tuple[{inner}]"
        items = schema.get("items")
        container = "set" if schema.get("uniqueItems") else "list"
        return f"{container}[{_label(items, depth + 1)}]" if items else container
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {_label(schema['additionalProperties'], depth + 1)}]"
    if isinstance(kind, str):
        return _LABELS.get(kind, kind)
    return "any" if not schema else "?"
