"""Validation plus codec for one column: Python value ⇄ SQLite value.

Values are validated in pydantic's lax mode (a dict becomes a `User`), keys in strict
mode (`"5"` is not an `int` key). Reads validate again, so a read returns an instance
of the declared type or raises `CorruptValueError`.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson
import pydantic

from tpstore.codecs import Codec, Raw, contains_attrs, strip_annotated
from tpstore.codecs.json import needs_read_back, same
from tpstore.errors import CorruptValueError, ValidationError

INVALID: Final = object()
"""Returned by `Column.lookup` for a key of the wrong type: it matches no stored key."""

_PLAIN = (int, str, bytes, float)
_ARBITRARY = pydantic.ConfigDict(arbitrary_types_allowed=True)


def make_adapter(declared: Any) -> pydantic.TypeAdapter[Any] | None:
    """A pydantic adapter for `declared`; isinstance-only for types pydantic cannot model.

    Returns `None` for attrs classes and types holding one (`Optional[A]`,
    `list[A]`, a dataclass with an attrs field...), which pydantic cannot validate and
    whose codec (cattrs) structures them itself.
    """
    if contains_attrs(declared):
        return None
    try:
        return pydantic.TypeAdapter(declared)
    except pydantic.PydanticSchemaGenerationError:
        return pydantic.TypeAdapter(declared, config=_ARBITRARY)


class _NeverStored:
    """A type no value read from SQLite has."""


class Column:
    """Converts the keys or the values of one collection.

    Args:
        collection: the field name, for error messages.
        declared: the declared type.
        codec: the codec, already specialised to `declared`.
        strict: validate in pydantic's strict mode (keys).
    """

    def __init__(self, collection: str, declared: Any, codec: Codec, *, strict: bool) -> None:
        self.collection = collection
        self.declared = declared
        self.codec = codec
        self.strict = strict
        self.adapter = make_adapter(declared)
        fused = hasattr(codec, "validate_encode") and hasattr(codec, "decode_validate")
        self._fused = fused
        # The common key and value types skip pydantic when the value already has
        # exactly the declared type: the codec's own checks then suffice.
        self._plain = declared if declared in _PLAIN and codec.name == "native" else None
        # Keys only: -0.0 and 0.0 are one key in Python. A value keeps its sign where the
        # codec keeps it (JSON, pickle; test_negative_zero in tests/codecs).
        self._normalize_zero = strict and strip_annotated(declared) is float
        self._identity = self._plain if self._plain in (str, bytes) else None
        # The type a stored value has when it needs no decoding (a type no stored value
        # has otherwise), for loops that skip `decode()` in that case.
        self.plain: type = self._plain if self._plain is not None else _NeverStored
        # Codecs that do not validate themselves (msgpack, module codecs...) can give a
        # value back as another type under `Any` (a tuple as a list, True as 1): for such
        # declared types every write reads its value back and compares it, so nothing is
        # silently changed (test_any_values_that_would_change_are_refused in tests/codecs).
        # Pickles (also compressed, or of pickle-like modules) are exact by construction,
        # and reading one back would run its code: they are never read back.
        self._read_back = (
            not fused
            and self.adapter is not None
            and "pickle" not in codec.name
            and needs_read_back(self.adapter)
        )

    # -- write side ---------------------------------------------------------------------

    def validate(self, value: Any) -> Any:
        """Validate `value` against the declared type; raise pydantic's error."""
        if self.adapter is None or (self._plain is not None and type(value) is self._plain):
            return value
        return self.adapter.validate_python(value, strict=self.strict)

    def encode(self, value: Any, key: Any = None) -> Raw:
        """Validate and encode `value`; `ValidationError` naming `key` if refused."""
        # The hot path of every key: a str or bytes of exactly the declared type is
        # stored as it is (the native codec would return it unchanged).
        # Only ASCII text skips the codec (`isascii()` is O(1) on CPython): other text
        # may hold a lone surrogate, which the codec refuses rather than let sqlite3
        # fail with a bare UnicodeEncodeError (test_lone_surrogate_key_is_refused...).
        if (
            self._identity is not None
            and type(value) is self._identity
            and (self._identity is bytes or value.isascii())
        ):
            return value  # type: ignore[no-any-return]
        try:
            if self._fused:
                return self.codec.validate_encode(value, strict=self.strict)  # type: ignore[attr-defined, no-any-return]
            value = self.validate(value)
            if self._normalize_zero and value == 0.0:
                value = 0.0  # -0.0 and 0.0 are one key in Python
            raw = self.codec.encode(value)
            if self._read_back:
                self._check_read_back(raw, value)
            return raw
        except pydantic.ValidationError as exc:
            # Through JSON so the list holds plain data and pickles; the stdlib parser
            # because pydantic writes an inf or NaN input as `Infinity`/`NaN`, which
            # orjson rejects (test_unfaithful_value_is_refused[users-...]).
            errors = json.loads(exc.json(include_url=False))
            for error in errors:  # pydantic's locations are tuples; JSON made them lists
                error["loc"] = tuple(error.get("loc", ()))
            raise self._refused(key, _describe(errors), errors) from exc
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._refused(key, _first_line(exc), None) from exc

    def _check_read_back(self, raw: Raw, value: Any) -> None:
        assert self.adapter is not None
        try:
            back = self.adapter.validate_python(self.codec.decode(raw))
        except Exception as exc:
            raise ValueError(f"this value would not read back: {_first_line(exc)}") from exc
        if not same(back, value):
            raise ValueError(
                f"this value would not read back unchanged through the {self.codec.name} "
                "codec (under Any, a codec may give another type back); declare the exact "
                "type, or use another codec"
            )

    def lookup(self, key: Any) -> Raw | object:
        """Encode a key used to read: `INVALID` when its type cannot match any key."""
        try:
            return self.encode(key)
        except ValidationError:
            return INVALID

    def _refused(
        self, key: Any, problem: str, errors: list[dict[str, Any]] | None
    ) -> ValidationError:
        where = self.collection if key is None else f"{self.collection}[{key!r}]"
        return ValidationError(
            f"invalid value for {where}: {problem}",
            collection=self.collection,
            key=key,
            errors=errors,
        )

    # -- read side ----------------------------------------------------------------------

    def decode(self, raw: Raw, key: Any = None) -> Any:
        """Decode and validate a stored value; `CorruptValueError` naming `key` if bad."""
        if self._plain is not None and type(raw) is self._plain:
            return raw
        try:
            if self._fused:
                return self.codec.decode_validate(raw)  # type: ignore[attr-defined]
            value = self.codec.decode(raw)
            if self.adapter is None:
                return value
            return self.adapter.validate_python(value)
        except Exception as exc:
            where = self.collection if key is None else f"{self.collection}[{key!r}]"
            raise CorruptValueError(
                f"the stored value of {where} cannot be read as "
                f"{_type_name(self.declared)}: {_first_line(exc)}",
                collection=self.collection,
                key=key,
            ) from exc

    def json_schema(self) -> str | None:
        """The declared type's JSON schema as text, or `None` when it has none."""
        if self.adapter is None:
            return None
        try:
            return orjson.dumps(self.adapter.json_schema(), option=orjson.OPT_SORT_KEYS).decode()
        except Exception:  # arbitrary and callable types have no schema
            return None


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error['msg']}" if location else str(error["msg"]))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    if isinstance(exc, pydantic.ValidationError):
        lines = text.splitlines()
        return "; ".join(line.strip() for line in lines[1:3]) or text
    return text.splitlines()[0] if text else type(exc).__name__


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
