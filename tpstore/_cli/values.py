"""How the command line turns stored values into JSON and back, knowing only the catalog.

The command line has no store class: for each column (the keys or the values of a
collection) it has the codec name, the affinity and the JSON schema that the catalog
recorded. From them it builds a `Translator`, which

- `dump`s a stored SQLite value to the JSON form of `tpstore dump`;
- `load`s that JSON form back into the SQLite value the collection's own codec would
  have written (so the store's program finds loaded keys);
- `check`s a stored value: decodes it and returns the JSON instance that is validated
  against the recorded schema (or `UNCHECKED` when there is nothing to validate).

JSON has no bytes, no infinities and no tuples, so the dump form marks them:
`{"$bytes": "<base64>"}`, `{"$float": "inf"}` (also `"-inf"`, `"nan"`) and tuples as
arrays. Values the command line must not or cannot decode keep their stored form:
`{"$pickle": "<base64>"}` for pickles (unless `--unsafe-pickle`), `{"$raw": ...}` for
values of a codec it does not know and for values that no longer decode. Both load
back byte for byte. Values of the JSON codecs (`json`, `cattrs`, the stdlib `json`
module) are dumped as the JSON they are, without markers, so any JSON object
round-trips, even one with a `"$bytes"` key.

Where decoding must match the declared type (the `native` and `tuple_key` codecs, whose
bytes depend on it), the declared type is rebuilt from the recorded JSON schema
(`declared_type`): `{"type": "integer"}` is `int`, an array with `prefixItems` is a
fixed tuple, `{"format": "date-time"}` a `datetime`, and so on.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import importlib
import json as stdlib_json
import math
import pickletools
import re
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pydantic

from tpstore import codecs
from tpstore._type_names import type_label
from tpstore.codecs import Codec
from tpstore.codecs._compressed import CompressedCodec
from tpstore.codecs._module import PICKLE_FORMAT
from tpstore.codecs._types import Raw
from tpstore.errors import SchemaError

__all__ = [
    "UNCHECKED",
    "ProblemError",
    "Translator",
    "declared_type",
    "dumps_json",
    "jsonable",
    "parse_json",
    "translator",
    "type_label",
]


class ProblemError(Exception):
    """A value that cannot be dumped, loaded or checked; the message is one line."""


UNCHECKED: Any = object()
"""What `Translator.check` returns for a value that has no JSON form to validate."""


# Modules whose loads() only builds plain data: the command line imports them to decode.
# Any other module is imported and used only with --unsafe-pickle: importing a module
# named by a file, then feeding it that file's bytes, is running the file's choice of code.
_SAFE_MODULES = frozenset(
    {
        "msgpack",
        "ormsgpack",
        "cbor2",
        "bson",
        "orjson",
        "ujson",
        "simplejson",
        "rapidjson",
    }
)

_BIG_INT = re.compile(rb"\d{19}")


# -- JSON helpers ----------------------------------------------------------------------


def parse_json(text: str | bytes) -> Any:
    """Parse JSON exactly.

    orjson is fast but reads integers beyond 64 bits as floats; text with a long run of
    digits goes through the stdlib parser, which keeps them exact. `NaN` and `Infinity`
    tokens are refused, since they are not JSON.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if _BIG_INT.search(data) is None:
        return orjson.loads(data)
    return stdlib_json.loads(data, parse_constant=_refuse_constant)


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def dumps_json(value: Any) -> str:
    """Compact JSON text, exact for integers of any size."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # an int beyond 64 bits (or a type orjson does not know)
        return stdlib_json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def jsonable(value: Any, *, markers: bool = True) -> Any:
    """A decoded Python value as JSON data.

    With `markers`, bytes become `{"$bytes": "<base64>"}` and non-finite floats
    `{"$float": "inf"}`; without them (the instance validated against a JSON schema)
    bytes become their base64 text and floats stay floats. Tuples and sets become
    arrays; datetimes, dates, times, UUIDs and decimals their ISO or string forms; mapping
    keys that are not strings their JSON text.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value, markers=markers)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) or not markers:
            return float(value)
        return {"$float": repr(value)}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        text = base64.b64encode(bytes(value)).decode("ascii")
        return {"$bytes": text} if markers else text
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item, markers=markers) for item in value]
    if isinstance(value, dict):
        return {
            _key_text(key, markers): jsonable(item, markers=markers) for key, item in value.items()
        }
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, pydantic.BaseModel):
        return jsonable(value.model_dump(), markers=markers)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), markers=markers)
    # Anything else (an unpickled object of some class): its repr, for people to read.
    return repr(value)


def _key_text(key: Any, markers: bool) -> str:
    converted = jsonable(key, markers=markers)
    return converted if isinstance(converted, str) else dumps_json(converted)


def unmark(value: Any) -> Any:
    """Undo the markers of `jsonable`: `{"$bytes": ...}` → bytes, `{"$float": ...}` → float."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((marker, inner),) = value.items()
            if marker == "$bytes" and isinstance(inner, str):
                return _b64(inner, "$bytes")
            if marker == "$float" and inner in ("inf", "-inf", "nan"):
                return float(inner)
        return {key: unmark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unmark(item) for item in value]
    return value


def _b64(text: Any, marker: str) -> bytes:
    if not isinstance(text, str):
        raise ProblemError(f"{marker} needs a base64 string, not {dumps_json(jsonable(text))}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ProblemError(f"{marker} holds text that is not base64 ({exc})") from exc


def _marker(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in ("$raw", "$pickle"):
            return str(key)
    return None


# -- the declared type, rebuilt from a JSON schema -------------------------------------


def declared_type(schema_text: str | None) -> Any:
    """The type a pydantic JSON schema describes, for scalars and tuples; else `Any`."""
    if not schema_text:
        return Any
    try:
        schema = parse_json(schema_text)
    except ValueError:
        return Any
    if not isinstance(schema, dict):
        return Any
    return _type_of(schema, schema.get("$defs") or {}, depth=0)


_STRING_FORMATS: dict[str, Any] = {
    "date-time": datetime.datetime,
    "date": datetime.date,
    "uuid": uuid.UUID,
    "binary": bytes,
}
_SIMPLE: dict[str, Any] = {
    "null": type(None),
    "boolean": bool,
    "integer": int,
    "number": float,
}


def _type_of(schema: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 20:
        return Any
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/$defs/")
        return _type_of(defs.get(name), defs, depth + 1) if name != ref else Any
    for combinator in ("anyOf", "oneOf"):
        members = schema.get(combinator)
        if isinstance(members, list) and members:
            found = [_type_of(member, defs, depth + 1) for member in members]
            return Any if Any in found else _union(found)
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        kinds = {type(value) for value in values}
        return kinds.pop() if len(kinds) == 1 and kinds <= {int, str, float} else Any
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([_type_of({**schema, "type": k}, defs, depth + 1) for k in kind])
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind == "string":
        return _STRING_FORMATS.get(schema.get("format", ""), str)
    if kind == "array":
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            if schema.get("items") not in (None, False):
                return tuple[Any, ...]
            items = tuple(_type_of(item, defs, depth + 1) for item in prefix)
            return tuple.__class_getitem__(items) if items else tuple[()]
        items_schema = schema.get("items")
        item = _type_of(items_schema, defs, depth + 1) if items_schema else Any
        return tuple.__class_getitem__((item, ...))
    return Any


def _union(members: list[Any]) -> Any:
    unique = list(dict.fromkeys(members))
    return unique[0] if len(unique) == 1 else typing.Union[tuple(unique)]  # noqa: UP007


def _is_bool_type(tp: Any) -> bool:
    if tp is bool:
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return bool in typing.get_args(tp)
    return False


# -- translators -----------------------------------------------------------------------


class Translator:
    """Stored values of one column ⇄ the JSON form of `tpstore dump`.

    Attributes:
        codec_name: the codec recorded in the catalog.
        note: why values are kept in their stored form (`{"$pickle"}`/`{"$raw"}`), or
            `None` when they are decoded.
        pickled: stored values are pickles, so `{"$pickle": ...}` loads back.
    """

    note: str | None = None
    pickled: bool = False

    def __init__(self, codec_name: str) -> None:
        self.codec_name = codec_name

    def dump(self, raw: Raw) -> Any:
        """The JSON form of a stored value; `ProblemError` if it does not decode."""
        raise NotImplementedError

    def check(self, raw: Raw) -> Any:
        """Decode a stored value; returns the JSON instance to validate, or `UNCHECKED`."""
        raise NotImplementedError

    def encode(self, value: Any) -> Raw:
        """The stored form of a JSON value without a `$raw`/`$pickle` marker."""
        raise NotImplementedError

    def load(self, value: Any) -> Raw:
        """The stored form of a JSON value of the dump format; `ProblemError` if refused."""
        marker = _marker(value)
        if marker == "$raw":
            return _raw_of(value["$raw"])
        if marker == "$pickle":
            if not self.pickled:
                raise ProblemError(
                    f"a $pickle value cannot be stored by the {self.codec_name} codec"
                )
            return _b64(value["$pickle"], "$pickle")
        try:
            return self.encode(value)
        except ProblemError:
            raise
        except (SchemaError, ValueError, TypeError, OverflowError) as exc:
            raise ProblemError(
                f"the {self.codec_name} codec refused it: {_first_line(exc)}"
            ) from exc

    def compressed(self) -> Translator:
        """This translator with its stored values compressed by `codecs.compressed`."""
        return Opaque(
            f"compressed({self.codec_name})",
            "$raw",
            note=f"values of the codec compressed({self.codec_name}) are kept as stored",
        )


class JsonText(Translator):
    """Codecs whose stored values are JSON text (`json`, `cattrs`, the stdlib `json`)."""

    def __init__(self, codec_name: str, codec: Codec) -> None:
        super().__init__(codec_name)
        self.codec = codec

    def dump(self, raw: Raw) -> Any:
        return self.check(raw)

    def check(self, raw: Raw) -> Any:
        try:
            return self.codec.decode(raw)
        except Exception as exc:
            raise ProblemError(f"is not valid JSON ({_first_line(exc)})") from exc

    def encode(self, value: Any) -> Raw:
        return self.codec.encode(value)

    def compressed(self) -> Translator:
        return JsonText(f"compressed({self.codec_name})", codecs.compressed(self.codec))


class Structured(Translator):
    """Codecs decoded to Python values that `jsonable` turns into JSON data.

    `declared` is the declared type rebuilt from the schema (`Any` when unknown): loaded
    JSON is validated into it (arrays become tuples, ISO strings datetimes) before the
    codec encodes it, so the bytes are those the store's own program writes.
    """

    def __init__(
        self,
        codec_name: str,
        codec: Codec,
        declared: Any = Any,
        *,
        pickled: bool = False,
        bools: bool = False,
    ) -> None:
        super().__init__(codec_name)
        self.codec = codec
        self.declared = declared
        self.pickled = pickled
        self._adapter = None if declared is Any else pydantic.TypeAdapter(declared)
        # The codec stores bools as the ints 0 and 1 (SQLite has no booleans).
        self._bools = bools and _is_bool_type(declared)

    def decode(self, raw: Raw) -> Any:
        """The Python value of a stored one; `ProblemError` if it does not decode."""
        try:
            value = self.codec.decode(raw)
        except Exception as exc:
            raise ProblemError(
                f"cannot be decoded by the {self.codec_name} codec ({_first_line(exc)})"
            ) from exc
        if self._bools and type(value) is int and value in (0, 1):
            return bool(value)
        return value

    def dump(self, raw: Raw) -> Any:
        return jsonable(self.decode(raw))

    def check(self, raw: Raw) -> Any:
        return jsonable(self.decode(raw), markers=False)

    def encode(self, value: Any) -> Raw:
        value = unmark(value)
        if self._adapter is not None:
            try:
                value = self._adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                raise ProblemError(
                    f"not a {_type_name(self.declared)} ({_pydantic_problem(exc)})"
                ) from exc
        return self.codec.encode(value)

    def compressed(self) -> Translator:
        return Structured(
            f"compressed({self.codec_name})",
            codecs.compressed(self.codec),
            self.declared,
            pickled=self.pickled,
            bools=self._bools,
        )


class Opaque(Translator):
    """Values kept in their stored form: `{"$pickle": ...}` or `{"$raw": ...}`.

    `verify` checks a stored value without decoding it (a pickle's opcodes are parsed,
    never run); `plain` stores a JSON value that carries no marker (a pickle of it).
    """

    def __init__(
        self,
        codec_name: str,
        marker: str,
        *,
        note: str,
        verify: Callable[[Raw], Any] | None = None,
        plain: Codec | None = None,
    ) -> None:
        super().__init__(codec_name)
        self.marker = marker
        self.note = note
        self.pickled = marker == "$pickle"
        self._verify = verify
        self._plain = plain

    def dump(self, raw: Raw) -> Any:
        if self.marker == "$pickle" and isinstance(raw, bytes):
            return {"$pickle": base64.b64encode(raw).decode("ascii")}
        return {"$raw": jsonable(raw)}

    def check(self, raw: Raw) -> Any:
        if self._verify is not None:
            try:
                self._verify(raw)
            except Exception as exc:
                raise ProblemError(
                    f"is not a valid {self.codec_name} value ({_first_line(exc)})"
                ) from exc
        return UNCHECKED

    def encode(self, value: Any) -> Raw:
        if self._plain is None:
            raise ProblemError(
                f"values of the {self.codec_name} codec load only as "
                f'{{"{self.marker}": ...}}, as tpstore dump writes them'
            )
        return self._plain.encode(unmark(value))

    def compressed(self) -> Translator:
        if self.marker != "$pickle" or self._plain is None:
            return super().compressed()
        outer = codecs.compressed(_PickleOpcodes())
        return Opaque(
            f"compressed({self.codec_name})",
            "$pickle",
            note=self.note or "",
            verify=outer.decode,
            plain=codecs.compressed(self._plain),
        )


def _raw_of(value: Any) -> Raw:
    raw = unmark(value)
    if raw is None or (isinstance(raw, int | float | str | bytes) and not isinstance(raw, bool)):
        return raw
    raise ProblemError('$raw holds an SQLite value: a number, a string, null or {"$bytes": ...}')


class _ExactJson:
    """The JSON codec without a declared type, exact for integers of any size."""

    name = "json"
    affinity = "TEXT"
    order_preserving = False

    def encode(self, value: Any) -> Raw:
        return dumps_json(value)

    def decode(self, raw: Raw) -> Any:
        if not isinstance(raw, str | bytes):
            found = "NULL" if raw is None else type(raw).__name__
            raise ValueError(f"expected JSON text, found {found}")
        return parse_json(raw)


class _PickleOpcodes:
    """Reads a pickle's opcodes without running it: checks that it is well formed."""

    name = "pickle"
    affinity = "BLOB"
    order_preserving = False

    def encode(self, value: Any) -> Raw:
        import pickle

        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, raw: Raw) -> Any:
        if not isinstance(raw, bytes):
            found = "NULL" if raw is None else type(raw).__name__
            raise ValueError(f"expected a pickle BLOB, found {found}")
        last = None
        for opcode, _, _ in pickletools.genops(raw):
            last = opcode.name
        if last != "STOP":
            raise ValueError("the pickle does not end with STOP")
        return None


def _pickle_translator(codec_name: str, codec: Codec, *, unsafe: bool) -> Translator:
    if unsafe:
        return Structured(codec_name, codec, pickled=True)
    return Opaque(
        codec_name,
        "$pickle",
        verify=_PickleOpcodes().decode,
        plain=codec,
        note="pickled values are kept as stored; --unsafe-pickle unpickles them "
        "(only for files you trust)",
    )


def translator(
    codec_name: str, affinity: str | None, schema_text: str | None, *, unsafe_pickle: bool = False
) -> Translator:
    """The translator for one column, from its catalog record.

    The codec is rebuilt from its recorded name through the codec registry
    (`tpstore.codecs.from_name`); what is done with it is decided from its attributes
    (`executes_code`, a compressed codec's `inner`) and from the translators registered
    below for codec objects, never from its name.

    Args:
        codec_name: the codec name recorded in the catalog.
        affinity: the column affinity recorded in the catalog.
        schema_text: the recorded JSON schema of the declared type, or `None`.
        unsafe_pickle: unpickle pickled values (and decode with modules whose `loads`
            can build arbitrary objects); only for files you trust.
    """
    try:
        codec = codecs.from_name(codec_name)
    except ImportError as exc:  # an optional codec whose extra is not installed
        return Opaque(
            codec_name, "$raw", note=f"{codec_name} values are kept as stored: {_first_line(exc)}"
        )
    if codec is None:
        if codec_name.startswith("module:"):
            return _module_translator(codec_name, affinity, unsafe=unsafe_pickle)
        return Opaque(
            codec_name,
            "$raw",
            note=f"the codec {codec_name!r} is not one of tpstore's, so its values are "
            "kept as stored",
        )
    return _for_codec(codec, affinity, schema_text, unsafe=unsafe_pickle)


def _for_codec(
    codec: Codec, affinity: str | None, schema_text: str | None, *, unsafe: bool
) -> Translator:
    inner = getattr(codec, "inner", None)
    if isinstance(codec, CompressedCodec) and inner is not None:
        return _for_codec(inner, None, schema_text, unsafe=unsafe).compressed()
    if getattr(codec, "executes_code", False):
        return _pickle_translator(codec.name, codec, unsafe=unsafe)
    make = _REGISTERED.get(id(codec))
    if make is not None:
        return make(codec, affinity, schema_text)
    return Structured(codec.name, codec)


def _json_text(codec: Codec, affinity: str | None, schema_text: str | None) -> Translator:
    # Stored values are JSON data already: read and written exactly (big ints too).
    return JsonText(codec.name, _ExactJson())


def _native_translator(codec: Codec, affinity: str | None, schema_text: str | None) -> Translator:
    typed, declared = _native(affinity, declared_type(schema_text))
    return Structured(codec.name, typed, declared, bools=True)


def _tuple_key_translator(
    codec: Codec, affinity: str | None, schema_text: str | None
) -> Translator:
    return Structured(codec.name, *_tuple_key(declared_type(schema_text)))


# Codecs whose values need more than decode/encode (keyed by the codec object): JSON
# text is dumped as it is; native and tuple_key values are typed from the schema.
_REGISTERED: dict[int, Callable[[Codec, str | None, str | None], Translator]] = {
    id(codecs.resolve("json")): _json_text,
    id(codecs.resolve("cattrs")): _json_text,
    id(codecs.resolve("native")): _native_translator,
    id(codecs.resolve("tuple_key")): _tuple_key_translator,
}


def _native(affinity: str | None, declared: Any) -> tuple[Codec, Any]:
    module: Any = codecs.resolve("native")
    if declared is not Any:
        try:
            typed: Codec = module.for_type(declared)
        except SchemaError:
            return module, Any
        if affinity is None or typed.affinity == affinity:
            return typed, declared
    return module, Any


def _tuple_key(declared: Any) -> tuple[Codec, Any]:
    module: Any = codecs.resolve("tuple_key")
    if declared is not Any:
        try:
            return module.for_type(declared), declared
        except (SchemaError, TypeError):
            pass
    return module, Any


def _module_translator(codec_name: str, affinity: str | None, *, unsafe: bool) -> Translator:
    module_name = codec_name.removeprefix("module:")
    top = module_name.partition(".")[0]
    if module_name == "json":
        return JsonText(codec_name, codecs.from_module(stdlib_json, binary=False))
    pickle_format = top in PICKLE_FORMAT
    if pickle_format and not unsafe:
        return _pickle_translator(codec_name, codecs.resolve("pickle"), unsafe=False)
    if top not in _SAFE_MODULES and not unsafe:
        return Opaque(
            codec_name,
            "$raw",
            note=f"values of {codec_name} are kept as stored; --unsafe-pickle "
            f"decodes them with {module_name} (only for files you trust)",
        )
    try:
        module = importlib.import_module(module_name)
        codec = codecs.from_module(module, binary=None if affinity is None else affinity == "BLOB")
    except (ImportError, SchemaError) as exc:
        if pickle_format:
            return _pickle_translator(codec_name, codecs.resolve("pickle"), unsafe=True)
        return Opaque(
            codec_name,
            "$raw",
            note=f"values of {codec_name} are kept as stored ({_first_line(exc)})",
        )
    return Structured(codec_name, codec, pickled=codec.executes_code)


def _pydantic_problem(exc: pydantic.ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp).replace("typing.", "")
