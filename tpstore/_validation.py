"""tpstore's validation layer: Python value ⇄ stored value for one column.

Validation belongs here, never to a codec: a `Converter` validates a value against the
declared type and only then hands it to the codec's `encode`; on read it validates
what the codec's `decode` gave back. Values are validated in pydantic's lax mode (a
dict becomes a `User`), keys in strict mode (`"5"` is not an `int` key).

Model and dataclass instances are re-validated at any depth (`_revalidate`), whatever
the codec, so a mutation that broke a field's type is refused. A codec that does not
declare `exact = True` may give a value back as another type where the declared type
cannot tell (under `Any`, in a union): such writes are read back and compared, and
unions whose members it stores alike are refused when the store class is created.

Codecs may offer `decode_validate(raw)`, parsing stored text straight into the declared
type in one pass (the JSON codec does): an optimisation the converter uses on reads,
with the same pydantic type as its own. A codec may also offer `validate_text(text)`,
the same for stored text that is a `str`, without checking that it is: `decode` tries
it first, and takes the full path (which names what is wrong) only when it fails.
"""

from __future__ import annotations

import copy
import json
import reprlib
from collections.abc import Callable
from typing import Any, Final

import orjson
import pydantic
import pydantic_core

from tpstore._revalidate import Refused, Shape, compile_refresh, same
from tpstore.codecs import Codec
from tpstore.codecs._types import Raw, contains_attrs, strip_annotated, type_name
from tpstore.codecs.native import NativeCodec
from tpstore.errors import CorruptValueError, SchemaError, ValidationError

__all__ = ["INVALID", "Converter", "make_adapter", "safe_repr"]

INVALID: Final = object()
"""Returned by `Converter.lookup` for a key of the wrong type: it matches no stored key."""

_PLAIN = (int, str, bytes, float)
_ARBITRARY = pydantic.ConfigDict(arbitrary_types_allowed=True)


def make_adapter(declared: Any) -> pydantic.TypeAdapter[Any] | None:
    """A pydantic adapter for `declared`; isinstance-only for types pydantic cannot model.

    Returns `None` for attrs classes and types holding one (`Optional[A]`,
    `list[A]`, a dataclass with an attrs field...), which pydantic cannot validate:
    cattrs validates those (`_AttrsCheck`).
    """
    if contains_attrs(declared):
        return None
    try:
        return pydantic.TypeAdapter(declared)
    except pydantic.PydanticSchemaGenerationError:
        return pydantic.TypeAdapter(declared, config=_ARBITRARY)


class _NeverStored:
    """A type no value read from SQLite has."""


class _AttrsCheck:
    """Validation of types holding attrs classes, which pydantic cannot model.

    A value is unstructured and structured back with the cattrs codec's converter; it is
    valid when that gives it back, equal (or, for classes that compare by identity,
    unstructuring to the same data again). So `Point(x="5")` on an `int` field is
    refused rather than silently read back as `Point(x=5)`.
    """

    def __init__(self, declared: Any) -> None:
        from tpstore.codecs.cattrs import converter

        self.declared = declared
        self._unstructure = converter.get_unstructure_hook(declared)
        self._structure = converter.get_structure_hook(declared)

    def __call__(self, value: Any) -> Any:
        try:
            data = self._unstructure(value)
            # Through JSON: the converter structures what its JSON reads back as.
            back = self._structure(orjson.loads(orjson.dumps(data)), self.declared)
        except Exception as exc:
            raise ValueError(
                f"this {type(value).__name__} is not a valid {type_name(self.declared)}: "
                f"{_describe_cattrs(exc)}"
            ) from exc
        if back != value and self._unstructure(back) != data:
            raise ValueError(
                f"this {type(value).__name__} is not a valid {type_name(self.declared)}: "
                "a field holds a value of another type than declared"
            )
        return value


def _describe_cattrs(exc: Exception) -> str:
    import cattrs

    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return _first_line(exc)


class Converter:
    """Validates and converts the keys or the values of one collection.

    Args:
        collection: the field name, for error messages.
        declared: the declared type.
        codec: the codec, already specialised to `declared`.
        strict: validate in pydantic's strict mode (keys).
        migrate: the upgrade hook of `field(migrate=...)`: a stored value that does not
            validate is decoded to plain data, given to it, and its result validated.

    Raises:
        SchemaError: the codec would give some values of `declared` back as another
            type (a union of two kinds of array under JSON).
    """

    def __init__(
        self,
        collection: str,
        declared: Any,
        codec: Codec,
        *,
        strict: bool,
        migrate: Callable[[Any], Any] | None = None,
    ) -> None:
        self.collection = collection
        self.migrate = migrate
        self.declared = declared
        self.codec = codec
        self.strict = strict
        self.adapter = make_adapter(declared)
        exact = bool(getattr(codec, "exact", False))
        decode_validate = getattr(codec, "decode_validate", None)
        self._decode_validate: Callable[[Raw], Any] | None = (
            decode_validate if callable(decode_validate) else None
        )
        validate_text = getattr(codec, "validate_text", None)
        self._validate_text: Callable[[Raw], Any] | None = (
            validate_text if callable(validate_text) else None
        )
        # Values the codec stores as SQLite values themselves (native): a read of the
        # declared type needs no decoding, and `increment()` can do SQL arithmetic.
        self.stored_as_is = isinstance(codec, NativeCodec)
        self._plain = declared if declared in _PLAIN else None
        # Keys only: an unhashable value (a list under `Any`, a model with a list field)
        # is no key in Python, so it is none here (test_unhashable_keys_are_refused).
        self._check_hash = strict and self._plain is None
        # Keys only: -0.0 and 0.0 are one key in Python. A value keeps its sign where the
        # codec keeps it (JSON, pickle; test_negative_zero in tests/codecs).
        self._normalize_zero = strict and strip_annotated(declared) is float
        self._identity = self._plain if self.stored_as_is and self._plain in (str, bytes) else None
        # The type a stored value has when it needs no decoding (a type no stored value
        # has otherwise), for loops that skip `decode()` in that case.
        self.plain: type = (
            self._plain if self.stored_as_is and self._plain is not None else _NeverStored
        )
        self._validate_python: Callable[..., Any] | None = None
        self._refresh: Callable[[Any], Any] | None = None
        self._attrs: _AttrsCheck | None = None
        self._read_back = False
        if self.adapter is None:
            self._attrs = _AttrsCheck(declared)
        else:
            schema = self.adapter.core_schema
            self._validate_python = self.adapter.validator.validate_python
            self._refresh = compile_refresh(schema, strict=strict)
            if not exact:
                shape = Shape(schema)
                if shape.ambiguous:
                    first, second = shape.ambiguous[0]
                    raise SchemaError(
                        f"{type_name(declared)} cannot be stored by the {codec.name} codec: "
                        f"it stores {first} and {second} alike, so one would read back as "
                        "the other; declare one of them, use a discriminated form (a "
                        "model with a Literal tag field), or a codec that keeps types "
                        "exactly (codec='pickle')"
                    )
                # Such a codec can give a value back as another type (a tuple under
                # `Any` as a list, a `Dog` in `Cat | Dog` as a `Cat`): each write reads
                # its value back and compares it, so nothing is silently changed
                # (test_any_values_that_would_change_are_refused in tests/codecs).
                # Exact codecs (pickle) are never read back; reading would run code.
                self._read_back = shape.needs_read_back

    def refusing_nul(self) -> Converter:
        """This converter for a backend whose text cannot hold NUL (PostgreSQL).

        A copy whose `encode` refuses a text value with `"\x00"` (`ValidationError`),
        so that `lookup` treats such a key as one that matches nothing. Converters whose
        codec does not store text are returned as they are.
        """
        if getattr(self.codec, "affinity", None) != "TEXT":
            return self
        converter = copy.copy(self)
        converter._refuse_nul = True
        converter._identity = None  # the fast path would skip the check
        return converter

    _refuse_nul = False

    # -- write side ---------------------------------------------------------------------

    def validate(self, value: Any) -> Any:
        """Validate `value` against the declared type: the value to store.

        Model and dataclass instances inside it are rebuilt from their fields.

        Raises:
            pydantic.ValidationError: pydantic refused the value.
            Refused: an instance inside it failed re-validation.
            ValueError: an attrs value does not match its declared type.
        """
        if self._validate_python is None:
            assert self._attrs is not None
            return self._attrs(value)
        if self._refresh is not None:
            # Instances become the data of their fields, keyed by field name (plain data
            # given by the caller comes back as it is, and keeps pydantic's alias rules).
            refreshed = self._refresh(value)
            return self._validate_python(
                refreshed, strict=self.strict, by_name=refreshed is not value
            )
        return self._validate_python(value, strict=self.strict)

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
            if self._plain is None or type(value) is not self._plain:
                value = self.validate(value)
            if self._check_hash:
                _hashable(value)
            if self._normalize_zero and value == 0.0:
                value = 0.0  # -0.0 and 0.0 are one key in Python
            raw = self.codec.encode(value)
            if self._read_back:
                self._check_read_back(raw, value)
            if self._refuse_nul and isinstance(raw, str) and "\x00" in raw:
                raise ValueError(
                    "the database's text columns cannot hold the character '\\x00' "
                    "(PostgreSQL); store such strings as bytes, or in a JSON value"
                )
            return raw
        except pydantic.ValidationError as exc:
            errors = plain_errors(exc)
            raise self._refused(key, _describe(errors), errors) from exc
        except Refused as refused:
            errors = _plain_error_list(refused.errors)
            raise self._refused(key, _describe(errors), errors) from refused.cause
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._refused(key, _first_line(exc), None) from exc

    def _check_read_back(self, raw: Raw, value: Any) -> None:
        try:
            back = self._read(raw)
        except Exception as exc:
            raise ValueError(f"this value would not read back: {_first_line(exc)}") from exc
        if not same(back, value):
            raise ValueError(
                f"this value would not read back unchanged through the {self.codec.name} "
                f"codec (it would come back as {_short(back)}): under Any and in unions, "
                "a codec that does not keep types exactly may give another type back; "
                "declare the exact type, use a discriminated union, or use another codec"
            )

    def lookup(self, key: Any) -> Raw | object:
        """Encode a key used to read: `INVALID` when its type cannot match any key."""
        # `encode`'s fast path, repeated to spare a call on every point read.
        identity = self._identity
        if identity is not None and type(key) is identity and (identity is bytes or key.isascii()):
            return key  # type: ignore[no-any-return]
        try:
            return self.encode(key)
        except ValidationError:
            return INVALID

    def _refused(
        self, key: Any, problem: str, errors: list[dict[str, Any]] | None
    ) -> ValidationError:
        where = self.collection if key is None else f"{self.collection}[{safe_repr(key)}]"
        return ValidationError(
            f"invalid value for {where}: {problem}",
            collection=self.collection,
            key=key,
            errors=errors,
        )

    # -- read side ----------------------------------------------------------------------

    def _read(self, raw: Raw) -> Any:
        if self._decode_validate is not None:
            return self._decode_validate(raw)
        value = self.codec.decode(raw)
        if self._validate_python is None:
            assert self._attrs is not None
            return self._attrs(value)
        if self._refresh is not None:
            refreshed = self._refresh(value)
            return self._validate_python(refreshed, by_name=refreshed is not value)
        return self._validate_python(value)

    def decode(self, raw: Raw, key: Any = None) -> Any:
        """Decode and validate a stored value; `CorruptValueError` naming `key` if bad.

        With a `migrate` hook, a value that does not validate is upgraded by it (the
        read writes nothing).
        """
        kind = type(raw)
        if kind is self.plain:
            return raw
        if kind is str and self._validate_text is not None:
            # The read path's one call; what fails it takes the full path below, which
            # raises the error naming what is wrong (or upgrades the value).
            try:
                return self._validate_text(raw)
            except Exception:
                pass
        try:
            return self._read(raw)
        except Exception as exc:
            if self.migrate is None:
                raise self._corrupt(key, exc) from _cause(exc)
        return self.upgrade(raw, key)

    def is_current(self, raw: Raw) -> bool:
        """Whether a stored value validates as the declared type without the hook."""
        if type(raw) is self.plain:
            return True
        try:
            self._read(raw)
        except Exception:
            return False
        return True

    def upgrade(self, raw: Raw, key: Any = None) -> Any:
        """The stored value upgraded by the `migrate` hook, validated.

        Raises:
            CorruptValueError: the value does not decode, the hook raises, or its result
                does not validate; the hook's error (or the validation's) is the cause.
        """
        assert self.migrate is not None
        try:
            data = self.codec.decode(raw)
        except Exception as exc:
            raise self._corrupt(key, exc) from exc
        try:
            upgraded = self.migrate(data)
        except Exception as exc:
            raise self._corrupt(key, exc, "its migrate hook failed") from exc
        try:
            return self.validate(upgraded)
        except Exception as exc:
            raise self._corrupt(key, exc, "what its migrate hook returned is invalid") from (
                _cause(exc)
            )

    def _corrupt(self, key: Any, exc: BaseException, what: str = "") -> CorruptValueError:
        where = self.collection if key is None else f"{self.collection}[{safe_repr(key)}]"
        problem = f"{what}: " if what else ""
        return CorruptValueError(
            f"the stored value of {where} cannot be read as "
            f"{type_name(self.declared)}: {problem}{_first_line(_cause(exc))}",
            collection=self.collection,
            key=key,
        )

    def json_schema(self) -> str | None:
        """The declared type's JSON schema as text, or `None` when it has none."""
        if self.adapter is None:
            return None
        try:
            return orjson.dumps(self.adapter.json_schema(), option=orjson.OPT_SORT_KEYS).decode()
        except Exception:  # arbitrary and callable types have no schema
            return None


# -- error shaping: never fails, whatever the refused value holds ---------------------

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80


def _hashable(key: Any) -> None:
    try:
        hash(key)
    except TypeError as exc:
        raise TypeError(
            f"{_first_line(exc)}: keys and set elements must be hashable, as in a dict or set"
        ) from exc


def safe_repr(value: Any) -> str:
    """`repr(value)`, shortened; a placeholder when the object's `__repr__` raises."""
    try:
        return _repr.repr(value)
    except Exception:
        return f"<{type(value).__name__} object (repr failed)>"


def plain_errors(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    """pydantic's error list as plain, picklable data, locations kept as tuples."""
    try:
        # Through JSON so the list holds plain data and pickles; the stdlib parser
        # because pydantic writes an inf or NaN input as `Infinity`/`NaN`, which orjson
        # rejects (test_unfaithful_value_is_refused[users-...]).
        errors: list[dict[str, Any]] = json.loads(exc.json(include_url=False))
    except Exception:
        # A lone surrogate (or anything else JSON cannot hold) in an input: the list
        # without inputs, its context as text.
        errors = _plain_error_list(exc.errors(include_url=False, include_input=False))
    for error in errors:  # pydantic's locations are tuples; JSON made them lists
        error["loc"] = tuple(error.get("loc", ()))
    return errors


def _plain_error_list(errors: Any) -> list[dict[str, Any]]:
    plain = []
    for error in errors:
        entry: dict[str, Any] = {
            "type": str(error.get("type", "")),
            "loc": tuple(
                part if isinstance(part, int | str) else safe_repr(part)
                for part in error.get("loc", ())
            ),
            "msg": str(error.get("msg", "")),
        }
        if "input" in error:
            entry["input"] = _plain(error["input"])
        if error.get("ctx"):
            entry["ctx"] = {str(k): _plain(v) for k, v in error["ctx"].items()}
        plain.append(entry)
    return plain


def _plain(value: Any) -> Any:
    try:
        return json.loads(pydantic_core.to_json(value, fallback=safe_repr))
    except Exception:
        return safe_repr(value)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error['msg']}" if location else str(error["msg"]))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc).strip()
    except Exception:
        return type(exc).__name__
    if isinstance(exc, pydantic.ValidationError):
        lines = text.splitlines()
        return "; ".join(line.strip() for line in lines[1:3]) or text
    return text.splitlines()[0] if text else type(exc).__name__


def _cause(exc: BaseException) -> BaseException:
    return exc.cause if isinstance(exc, Refused) else exc


def _short(value: Any) -> str:
    return f"a {type(value).__name__}: {safe_repr(value)}"
