"""Codecs: how a validated Python value becomes one SQLite value and back.

A codec is any object with the five members of the `Codec` protocol. The built-in
codec families live in the submodules of this package, and each submodule is itself a
codec, so `tpstore.codecs.native`, `tpstore.codecs.json`, ... can be passed wherever a
codec is accepted (`field(codec=...)`, `compressed()`, `register()`), as can their
registered names (`"native"`, `"json"`, ...).

Some codecs are *type-aware*: besides the protocol they have a
`for_type(tp) -> Codec` method that returns a codec specialised for one declared
type (the native codec picks the column affinity from it; the JSON codec uses
pydantic's serializer for it). tpstore calls `for_type` when a field is declared.

The default codec for a declared type (used when `field(codec=...)` is not given):

| declared type | codec | affinity |
|---|---|---|
| `int`, `bool`, int `Enum` | native | INTEGER |
| `float` | native | REAL |
| `str`, str `Enum` | native | TEXT |
| `bytes` | native | BLOB |
| `Optional[X]` for X above | native, `None` as SQL NULL | as X |
| `tuple[...]`, `datetime`, `date`, `UUID` as a key | tuple_key (order-preserving) | BLOB |
| pydantic models, dataclasses, TypedDict, containers, unions, `Literal`, | json | TEXT |
| datetime, date, UUID, Decimal (as values) | json | TEXT |
| attrs classes | cattrs | TEXT |
| a type given to `register()` | the registered codec | the codec's |

Anything else raises `SchemaError` when the store class is created, unless a codec
is given.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import importlib
import types
import typing
import uuid
from typing import Any, Literal, Protocol, runtime_checkable

from tpstore.errors import SchemaError

__all__ = [
    "AFFINITIES",
    "Codec",
    "cattrs",
    "compressed",
    "default_codec",
    "from_module",
    "json",
    "native",
    "pickle",
    "register",
    "resolve",
    "tuple_key",
]

Raw = int | float | str | bytes | None
"""A value SQLite stores directly."""

AFFINITIES = ("INTEGER", "REAL", "TEXT", "BLOB", "ANY")
"""The column affinities a codec may name."""


@runtime_checkable
class Codec(Protocol):
    """Turns a validated Python value into one SQLite value and back.

    Attributes:
        name: recorded in the file's catalog; reopening a table with a codec of another
            name raises `SchemaError`.
        affinity: the column affinity the codec needs: `"INTEGER"`, `"REAL"`,
            `"TEXT"`, `"BLOB"` or `"ANY"`.
        order_preserving: `True` when SQL `ORDER BY` on encoded values gives Python's
            order of the decoded values; key-ordered collections need it for keys.

    `encode` receives a value already validated against the declared type and raises
    `ValueError` (or `TypeError`) for a value it cannot store faithfully; `decode`
    receives what SQLite returns and raises any exception for bytes it cannot read.
    """

    name: str
    affinity: str
    order_preserving: bool

    def encode(self, value: Any) -> Raw:
        """Encode one validated value to an SQLite value."""
        ...

    def decode(self, raw: Raw) -> Any:
        """Decode one SQLite value back to a Python value (validated afterwards)."""
        ...


# Codecs are looked up by name lazily so that importing tpstore does not import every
# optional codec module (msgpack needs an extra).
_BUILTIN_MODULES = {
    "native": "tpstore.codecs.native",
    "json": "tpstore.codecs.json",
    "pickle": "tpstore.codecs.pickle",
    "cattrs": "tpstore.codecs.cattrs",
    "tuple_key": "tpstore.codecs.tuple_key",
    "msgpack": "tpstore.codecs.msgpack",
}
_named: dict[str, Codec] = {}
_registered: dict[Any, Any] = {}


def _builtin(name: str) -> Codec:
    codec = _named.get(name)
    if codec is None:
        module_name = _BUILTIN_MODULES.get(name)
        if module_name is None:
            known = ", ".join(sorted({*_BUILTIN_MODULES, *_named}))
            raise SchemaError(f"There is no codec named {name!r}; known codecs: {known}.")
        codec = typing.cast(Codec, importlib.import_module(module_name))
        _named[name] = codec
    return codec


def register(type_: Any, codec: Any) -> None:
    """Make `codec` the default codec for values (and keys) declared as `type_`.

    Args:
        type_: a class (subclasses match too) or any other type expression.
        codec: anything `field(codec=...)` accepts: a `Codec`, a codec name, or a module
            with `dumps`/`loads`.

    Example:
        ```python
        import fractions, pickle as stdlib_pickle
        from tpstore import codecs
        codecs.register(fractions.Fraction, codecs.pickle)
        ```
    """
    if isinstance(codec, str):
        _builtin(codec)  # fail now on an unknown name, not at class creation
    _registered[type_] = codec


def resolve(spec: Any, declared: Any = Any) -> Codec:
    """Turn anything `field(codec=...)` accepts into a codec for the declared type.

    Args:
        spec: a `Codec`, a registered codec name, or an object or module with
            `dumps`/`loads` (or `dump`/`load`).
        declared: the declared value or key type; type-aware codecs specialise to it.

    Raises:
        SchemaError: `spec` is none of the above.
    """
    if isinstance(spec, str):
        codec: Any = _builtin(spec)
    elif _is_codec(spec):
        codec = spec
    elif _has_pair(spec, "dumps", "loads") or _has_pair(spec, "dump", "load"):
        codec = from_module(spec)
    else:
        raise SchemaError(
            f"{spec!r} is not a codec: pass a tpstore.codecs.Codec, a codec name, "
            "or a module with dumps()/loads()."
        )
    for_type = getattr(codec, "for_type", None)
    if for_type is not None and declared is not Any:
        return typing.cast(Codec, for_type(declared))
    return typing.cast(Codec, codec)


def _is_codec(obj: Any) -> bool:
    return all(hasattr(obj, attr) for attr in ("name", "affinity", "encode", "decode"))


def _has_pair(obj: Any, dump: str, load: str) -> bool:
    return callable(getattr(obj, dump, None)) and callable(getattr(obj, load, None))


def from_module(obj: Any, *, binary: bool | None = None) -> Codec:
    """Adapt any `dumps`/`loads` (or file-style `dump`/`load`) pair into a codec.

    Args:
        obj: a module or object such as `marshal`, the stdlib `json`, a bson module.
        binary: `True` stores BLOB, `False` TEXT; `None` decides by what `dumps`
            returns (`str` → TEXT, `bytes` → BLOB).
    """
    from tpstore.codecs._module import ModuleCodec

    return ModuleCodec(obj, binary=binary)


def compressed(codec: Any, *, level: int = 6) -> Codec:
    """Wrap a codec so that its output is compressed with zlib (BLOB affinity).

    Args:
        codec: anything `field(codec=...)` accepts.
        level: the zlib compression level, 0-9.
    """
    from tpstore.codecs._compressed import CompressedCodec

    return CompressedCodec(codec, level=level)


# -- the default choice -------------------------------------------------------------

_NATIVE_TYPES = (bool, int, float, str, bytes)
_ORDERED_SCALARS = (datetime.datetime, datetime.date, uuid.UUID)
_JSON_SCALARS = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
                 uuid.UUID, decimal.Decimal)


def strip_annotated(tp: Any) -> Any:
    """`Annotated[X, ...]` → `X`; anything else unchanged."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def optional_inner(tp: Any) -> Any | None:
    """`Optional[X]` → `X`; `None` when `tp` is not an optional of exactly one type."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return strip_annotated(args[0])
    return None


def native_affinity(tp: Any) -> str | None:
    """The affinity the native codec gives `tp`, or `None` when it cannot store it."""
    tp = strip_annotated(tp)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            values = [member.value for member in tp]
            if values and all(type(v) is int for v in values):
                return "INTEGER"
            if values and all(type(v) is str for v in values):
                return "TEXT"
            return None
        if issubclass(tp, bool | int):
            return "INTEGER"
        if issubclass(tp, float):
            return "REAL"
        if issubclass(tp, str):
            return "TEXT"
        if issubclass(tp, bytes):
            return "BLOB"
    return None


def _registered_codec(tp: Any) -> Any:
    if tp in _registered:
        return _registered[tp]
    if isinstance(tp, type):
        for registered_type, codec in _registered.items():
            if isinstance(registered_type, type) and issubclass(tp, registered_type):
                return codec
    return None


def _is_attrs_class(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__attrs_attrs__")


def _is_json_type(tp: Any) -> bool:
    """Whether pydantic can validate `tp` and serialize it to JSON faithfully."""
    import pydantic

    tp = strip_annotated(tp)
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return True
    if origin is typing.Union or origin is types.UnionType:
        return all(_is_json_type(arg) for arg in typing.get_args(tp) if arg is not type(None))
    if origin is not None:
        # list[X], dict[K, V], tuple[...], set[X], frozenset[X], collections.abc forms
        return all(arg is Ellipsis or _is_json_type(arg) for arg in typing.get_args(tp))
    if not isinstance(tp, type):
        return False
    return (
        issubclass(tp, pydantic.BaseModel)
        or dataclasses.is_dataclass(tp)
        or typing.is_typeddict(tp)
        or issubclass(tp, _JSON_SCALARS)
        or issubclass(tp, list | dict | tuple | set | frozenset)
        or tp is type(None)
        or native_affinity(tp) is not None
    )


def _is_tuple_key_type(tp: Any) -> bool:
    tp = strip_annotated(tp)
    if tp is type(None) or tp in (int, float, str, bytes, bool):
        return True
    if isinstance(tp, type) and issubclass(tp, _ORDERED_SCALARS):
        return True
    inner = optional_inner(tp)
    if inner is not None:
        return _is_tuple_key_type(inner)
    if typing.get_origin(tp) is tuple:
        return all(arg is Ellipsis or _is_tuple_key_type(arg) for arg in typing.get_args(tp))
    return False


def default_codec(tp: Any, *, key: bool = False) -> Codec:
    """The codec tpstore uses for a value (or, with `key=True`, a key) declared as `tp`.

    Raises:
        SchemaError: no codec can store `tp`; the message says how to give one.
    """
    bare = strip_annotated(tp)
    registered = _registered_codec(bare)
    if registered is not None:
        return resolve(registered, tp)
    inner = optional_inner(bare)
    if native_affinity(bare) is not None or (
        not key and inner is not None and native_affinity(inner) is not None
    ):
        return resolve("native", tp)
    if key and (typing.get_origin(bare) is tuple or (
        isinstance(bare, type) and issubclass(bare, _ORDERED_SCALARS)
    )) and _is_tuple_key_type(bare):
        return resolve("tuple_key", tp)
    if _is_attrs_class(bare):
        return resolve("cattrs", tp)
    if _is_json_type(bare):
        return resolve("json", tp)
    raise SchemaError(
        f"no codec can store {_type_name(tp)}: give one with field(codec=...) "
        f"(for example codec='pickle'), or make one the default with "
        f"tpstore.codecs.register({_type_name(tp)}, codec)."
    )


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def __getattr__(name: str) -> Any:
    # `tpstore.codecs.native` and friends: the submodules, imported on first use.
    if name in _BUILTIN_MODULES and name != "msgpack":
        return _builtin(name)
    raise AttributeError(f"module 'tpstore.codecs' has no attribute {name!r}")
