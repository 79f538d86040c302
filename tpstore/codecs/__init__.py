"""Codecs: how a validated Python value becomes one SQLite value and back.

A codec is any object with the five members of the `Codec` protocol. The built-in
codec families live in the submodules of this package, and each submodule is itself a
codec, so `tpstore.codecs.native`, `tpstore.codecs.json`, ... can be passed wherever a
codec is accepted (`field(codec=...)`, `compressed()`, `register()`), as can their
registered names (`"native"`, `"json"`, `"pickle"`, `"cattrs"`, `"tuple_key"`,
`"msgpack"`) and any module or object with `dumps`/`loads` (`from_module()`; the
stdlib `pickle` module itself means the built-in `"pickle"` codec).

Some codecs are *type-aware*: besides the protocol they have a
`for_type(tp) -> Codec` method that returns a codec specialised for one declared
type (the native codec picks the column affinity from it; the JSON codec uses
pydantic's serializer for it). tpstore calls `for_type` when a field is declared.

The default codec for a declared type (used when `field(codec=...)` or
`field(key_codec=...)` is not given), first match wins:

| declared type | codec | affinity |
|---|---|---|
| a type given to `register()` (or a subclass of one) | the registered codec | the codec's |
| `int`, `bool`, int `Enum`, `Literal` of ints | native | INTEGER |
| `float` | native | REAL |
| `str`, str `Enum`, `Literal` of strings (keys; `Literal` values are JSON) | native | TEXT |
| `bytes` | native | BLOB |
| `Optional[X]` for X above, as a value | native, `None` as SQL NULL | as X |
| keys: `tuple[...]`, `datetime`, `date`, `UUID`, `Optional`/unions ¹ | tuple_key | BLOB |
| attrs classes, and types holding one ² | cattrs | TEXT |
| models, dataclasses, TypedDict, containers, unions, `Literal`, `Any` | json | TEXT |
| `datetime`, `date`, `time`, `timedelta`, `UUID`, `Decimal` as values | json | TEXT |

¹ Tuples fixed or variable in length, nested, of any key type in this table; the
tuple_key codec is order-preserving, so key-ordered collections iterate in Python's
order. ² `Optional[A]`, `list[A]`, `dict[str, A]`, a dataclass with an attrs field.

Anything else (a class pydantic cannot serialize, a callable...) raises `SchemaError`
when the store class is created, with a hint: give a codec with `field(codec=...)`
(`pickle` is opt-in only) or make one the default with `register()`.
"""

from __future__ import annotations

import importlib
import pickle as _stdlib_pickle
import typing
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from tpstore.codecs._types import (
    AFFINITIES,
    Raw,
    contains_attrs,
    native_affinity,
    optional_inner,
    strip_annotated,
    type_name,
)
from tpstore.errors import SchemaError

if TYPE_CHECKING:
    from tpstore.codecs._compressed import CompressedCodec
    from tpstore.codecs._module import ModuleCodec

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

    Optional capabilities, read with `getattr(codec, name, False)`; a codec without
    them is taken to have neither:

    - `exact`: `decode(encode(v))` gives `v` back, same types, for every valid `v`
      (pickle). tpstore need not read a write back to check it; other codecs may give a
      value back as another type where the declared type cannot tell (under `Any`, in a
      union), so such writes are read back and compared, and unions whose members they
      store alike are refused.
    - `executes_code`: decoding can run code (pickle): the command line never decodes
      such values without `--unsafe-pickle`.

    Codecs never validate: tpstore validates a value against the declared type before
    `encode` and after `decode`. `encode` receives a value already validated and raises
    `ValueError` (or `TypeError`) for a value it cannot store faithfully; `decode`
    receives what SQLite returns and raises any exception for bytes it cannot read.
    tpstore decides what it does with a codec from these attributes, never from its
    `name`.
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
_UNTYPED: Any = object()  # resolve() without a declared type
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


def from_name(name: str) -> Codec | None:
    """The untyped codec that a file's catalog records as `name`, rebuilt from it.

    The registry's way back from a recorded name, for tools that read a file without
    its store classes (the command line): a built-in codec name gives that codec (its
    module), `"compressed(<inner>)"` the compressed codec around the inner one. Module
    codecs (`"module:<name>"`) and codecs tpstore does not know give `None`: rebuilding
    them would mean importing whatever module a file names.

    Raises:
        ImportError: the codec's optional dependency is not installed (msgpack).
    """
    if name.startswith("compressed(") and name.endswith(")"):
        inner = from_name(name[len("compressed(") : -1])
        if inner is None:
            return None
        try:
            return compressed(inner)
        except SchemaError:  # an inner codec compressed() refuses: no tpstore wrote it
            return None
    if name in _BUILTIN_MODULES:
        return _builtin(name)
    return None


def register(type_: Any, codec: Any) -> None:
    """Make `codec` the default codec for values (and keys) declared as `type_`.

    The registry only supplies defaults: `field(codec=...)` and
    `field(key_codec=...)` still win. A registered class also covers its subclasses
    (the most recently registered match wins); registering the same type again
    replaces its codec. Register before the store classes that use the type are
    declared, since the codec is chosen when the class is created.

    Args:
        type_: a class (subclasses match too) or any other type expression
            (`list[Fraction]`, `Annotated[...]`), matched exactly.
        codec: anything `field(codec=...)` accepts: a `Codec`, a codec name, or a module
            with `dumps`/`loads`.

    Raises:
        SchemaError: `codec` is not a codec, an unknown name, or a module whose
            output type cannot be told.

    Example:
        ```python
        import tpstore
        from tpstore import codecs

        class Point:  # no pydantic, attrs or dataclass: no default codec
            def __init__(self, x: int, y: int) -> None:
                self.x, self.y = x, y

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)

        codecs.register(Point, "pickle")

        class Shapes(tpstore.Store):
            corners: tpstore.Mapping[str, Point]

        with Shapes(None) as shapes:
            shapes.corners["a"] = Point(1, 2)
            assert shapes.corners["a"] == Point(1, 2)
        ```
    """
    resolve(codec)  # fail now on an unknown name or a non-codec, not at class creation
    _registered.pop(type_, None)
    _registered[type_] = codec  # newest last: _registered_codec prefers it


def resolve(spec: Any, declared: Any = _UNTYPED) -> Codec:
    """Turn anything `field(codec=...)` accepts into a codec for the declared type.

    Args:
        spec: a `Codec`, a registered codec name, or an object or module with
            `dumps`/`loads` (or `dump`/`load`).
        declared: the declared value or key type (`Any` included); type-aware codecs
            specialise to it. Omitted, the codec is returned as it is (untyped).

    Raises:
        SchemaError: `spec` is none of the above.
    """
    if isinstance(spec, str):
        codec: Any = _builtin(spec)
    elif spec is _stdlib_pickle:
        # The stdlib module itself names the built-in codec (highest protocol, and the
        # catalog records "pickle" either way it was asked for).
        codec = _builtin("pickle")
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
    if for_type is not None and declared is not _UNTYPED:
        return typing.cast(Codec, for_type(declared))
    return typing.cast(Codec, codec)


def _is_codec(obj: Any) -> bool:
    return all(hasattr(obj, attr) for attr in ("name", "affinity", "encode", "decode"))


def _has_pair(obj: Any, dump: str, load: str) -> bool:
    return callable(getattr(obj, dump, None)) and callable(getattr(obj, load, None))


def from_module(obj: Any, *, binary: bool | None = None) -> ModuleCodec:
    """Adapt any `dumps`/`loads` (or file-style `dump`/`load`) pair into a codec.

    Passing such a module straight to `field(codec=...)` is the same as passing
    `from_module(module)`. See `tpstore.codecs._module` for the encoding table.

    Args:
        obj: a module or object such as `marshal`, the stdlib `json`, a bson module.
        binary: `True` stores BLOB, `False` TEXT; `None` decides by what `dumps`
            returns (`str` → TEXT, `bytes` → BLOB; the stdlib `json` is TEXT).

    Returns:
        A codec named `"module:<module name>"`, not order-preserving.

    Raises:
        SchemaError: `obj` has neither pair, or `binary=None` and no probe value could
            be serialized.

    Example:
        ```python
        import marshal
        import tpstore
        from tpstore.codecs import from_module

        class Cache(tpstore.Store):
            blobs: tpstore.Mapping[str, dict[str, int]] = tpstore.field(
                codec=from_module(marshal)
            )

        with Cache(None) as cache:
            cache.blobs["a"] = {"x": 1}
            assert cache.blobs["a"] == {"x": 1}
        ```
    """
    from tpstore.codecs._module import ModuleCodec

    return ModuleCodec(obj, binary=binary)


def compressed(codec: Any, *, level: int = 6) -> CompressedCodec:
    """Wrap a codec so that its output is compressed with zlib (BLOB affinity).

    Args:
        codec: anything `field(codec=...)` accepts.
        level: the zlib compression level, 0-9 (or -1 for zlib's default).

    Returns:
        A codec named `"compressed(<inner name>)"`, BLOB, not order-preserving. It
        specialises its inner codec to the declared type, so `compressed("json")`
        still validates through pydantic.

    Raises:
        SchemaError: the inner codec stores INTEGER or REAL values, or is no codec.
        ValueError: `level` is out of range.

    Example:
        ```python
        import tpstore
        from tpstore.codecs import compressed

        class Docs(tpstore.Store):
            pages: tpstore.Mapping[str, list[str]] = tpstore.field(
                codec=compressed("json")
            )

        with Docs(None) as docs:
            docs.pages["a"] = ["spam"] * 1000
            assert docs.pages["a"] == ["spam"] * 1000
        ```
    """
    from tpstore.codecs._compressed import CompressedCodec

    return CompressedCodec(codec, level=level)


# -- the default choice -------------------------------------------------------------


def _registered_codec(tp: Any, bare: Any) -> Any:
    for candidate in (tp, bare):
        try:
            if candidate in _registered:
                return _registered[candidate]
        except TypeError:  # an unhashable type expression matches nothing
            pass
    if isinstance(bare, type):
        for registered_type, codec in reversed(_registered.items()):
            if isinstance(registered_type, type) and issubclass(bare, registered_type):
                return codec
    return None


def _tuple_key_codec(tp: Any, bare: Any) -> Codec | None:
    """The order-preserving tuple_key codec for a key type it can order, else `None`."""
    if bare is Any:
        return None  # `Any` keys keep the general JSON codec (insertion-ordered kinds)
    try:
        return resolve("tuple_key", tp)
    except SchemaError:
        return None


def default_codec(tp: Any, *, key: bool = False) -> Codec:
    """The codec tpstore uses for a value (or, with `key=True`, a key) declared as `tp`.

    The choice, first match wins (the table in this module's documentation):

    1. a type given to `register()` (a class also covers its subclasses);
    2. as a key: the native codec for `int`, `bool`, `float`, `str`, `bytes`, int or
       str `Enum`s and `Literal`s of one of those; then the order-preserving
       `tuple_key` codec for tuples, `datetime`, `date`, `UUID`, `None`,
       `Optional`/unions and `Literal`s of those (nested to any depth);
    3. as a value: pydantic JSON for a `Literal`; the native codec for the native
       types above and `Optional` of them (`None` as SQL NULL);
    4. `cattrs` for attrs classes and any type holding one (`Optional[A]`,
       `list[A]`, `dict[str, A]`, a dataclass with an attrs field);
    5. pydantic JSON for everything pydantic can serialize to JSON: models,
       dataclasses, TypedDicts, containers, unions, `datetime`, `date`, `time`,
       `timedelta`, `UUID`, `Decimal`...

    Args:
        tp: the declared type.
        key: choose a key codec rather than a value codec.

    Raises:
        SchemaError: no codec can store `tp`; the message says how to give one.
    """
    bare = strip_annotated(tp)
    registered = _registered_codec(tp, bare)
    if registered is not None:
        return resolve(registered, tp)
    if key:
        if native_affinity(bare) is not None:
            return resolve("native", tp)
        ordered = _tuple_key_codec(tp, bare)
        if ordered is not None:
            return ordered
    elif typing.get_origin(bare) is not Literal:
        inner = optional_inner(bare)
        if native_affinity(bare) is not None or (
            inner is not None and native_affinity(inner) is not None
        ):
            return resolve("native", tp)
    if contains_attrs(bare):
        return resolve("cattrs", tp)
    try:
        return resolve("json", tp)
    except SchemaError as exc:
        raise SchemaError(
            f"no codec can store {type_name(tp)} ({exc}): give one with "
            "field(codec=...) (or key_codec=...), for example codec='pickle', or make "
            f"one the default with tpstore.codecs.register({type_name(tp)}, codec)."
        ) from exc


def __getattr__(name: str) -> Any:
    # `tpstore.codecs.native` and friends: the submodules, imported on first use.
    if name in _BUILTIN_MODULES and name != "msgpack":
        return _builtin(name)
    raise AttributeError(f"module 'tpstore.codecs' has no attribute {name!r}")
