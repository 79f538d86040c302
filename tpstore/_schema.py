"""Reading a `Store` class body: annotations → one `CollectionSpec` per field.

Everything that can be wrong with a declaration is found here, when the class is
created, and raised as `SchemaError` naming the class and the field.
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import typing
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from tpstore import codecs
from tpstore._backends.base import RESERVED_NAMES
from tpstore._fields import MISSING, FieldInfo
from tpstore._validation import Converter
from tpstore.codecs._types import strip_annotated
from tpstore.errors import SchemaError

if TYPE_CHECKING:
    from tpstore._collection import Collection


@dataclass(frozen=True)
class CollectionSpec:
    """Everything known about one declared collection before a file is opened."""

    name: str
    kind: type[Collection]
    table: str
    database: str
    key: Converter | None
    value: Converter | None
    lifespan: float | None
    maxlen: int | None
    default: Any
    default_factory: Any

    def make_default(self) -> Any:
        """A fresh default value (`MISSING` when there is none); never shared."""
        if self.default_factory is not MISSING:
            return self.default_factory()
        if self.default is MISSING:
            return MISSING
        return copy.deepcopy(self.default)

    @property
    def options(self) -> dict[str, Any]:
        """The options recorded in the catalog."""
        return {"lifespan": self.lifespan, "maxlen": self.maxlen}


def read_fields(
    cls: type, reserved: set[str], caller: dict[str, Any] | None = None
) -> dict[str, CollectionSpec]:
    """The collections declared by `cls` and its bases, in declaration order.

    `caller` holds the local names of the function the class is created in, so that
    string annotations may name types defined there too (as pydantic allows).
    """
    from tpstore._collection import Collection

    fields: dict[str, CollectionSpec] = {}
    for base in reversed(cls.__mro__[1:]):
        fields.update(getattr(base, "__tpstore_fields__", {}))
    own = inspect.get_annotations(cls)
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module else {}
    localns = {**(caller or {}), **vars(cls)}
    localns.setdefault(cls.__name__, cls)
    for name, annotation in own.items():
        where = f"{cls.__qualname__}.{name}"
        declared = _evaluate(annotation, globalns, localns, where)
        if typing.get_origin(declared) is ClassVar or declared is ClassVar:
            continue
        if name.startswith("_"):
            raise SchemaError(f"{where}: collection names cannot start with '_'")
        if name in reserved:
            raise SchemaError(f"{where}: {name!r} is a Store method; choose another field name")
        info = cls.__dict__.get(name, FieldInfo())
        if not isinstance(info, FieldInfo):
            raise SchemaError(
                f"{where}: a collection's options are given with tpstore.field(...), "
                f"not a plain value ({info!r})"
            )
        origin = typing.get_origin(declared) or declared
        if not (isinstance(origin, type) and issubclass(origin, Collection) and origin.kind_name):
            raise SchemaError(
                f"{where}: {_show(declared)} is not a tpstore collection; declare one of "
                "Mapping, OrderedMapping, Set, OrderedSet, Sequence, Deque, Value or an "
                "Expiring kind (or mark the attribute ClassVar)"
            )
        fields[name] = _spec(where, name, origin, typing.get_args(declared), info)
    tables: dict[tuple[str, str], str] = {}
    for name, spec in fields.items():
        # SQLite's names ignore ASCII case: "Tab" and "tab" are one table.
        table = spec.table.translate(_ASCII_LOWER)
        other = tables.setdefault((spec.database.translate(_ASCII_LOWER), table), name)
        if other != name:
            raise SchemaError(
                f"{cls.__qualname__}.{name}: table {spec.table!r} is already used by "
                f"field {other!r}"
            )
    return fields


def _evaluate(
    annotation: Any, globalns: dict[str, Any], localns: dict[str, Any], where: str
) -> Any:
    if isinstance(annotation, str):
        try:
            return eval(annotation, globalns, localns)  # what typing.get_type_hints does
        except Exception as exc:
            raise SchemaError(
                f"{where}: cannot resolve the annotation {annotation!r} ({exc}); define the "
                "types it names before the store class"
            ) from exc
    return annotation


def _spec(
    where: str, name: str, kind: type[Collection], args: tuple[Any, ...], info: FieldInfo
) -> CollectionSpec:
    expected = len(kind.type_params)
    if len(args) != expected:
        params = ", ".join(kind.type_params)
        raise SchemaError(
            f"{where}: {kind.__name__} needs {expected} type parameter(s) "
            f"({kind.__name__}[{params}]), got {len(args)}"
        )
    key_type = args[0] if kind.type_params[0] == "K" else None
    value_type = args[-1] if kind.type_params[-1] == "V" else None
    _check_options(where, kind, info)
    table = info.table if info.table is not None else name
    check_name(table, f"{where}: table")
    if "." in table:
        # Namespaced tables are named "{namespace}.{table}": a dotted table of a store
        # without a namespace would be namespace "t1"'s table "x" (test_review.py).
        raise SchemaError(
            f"{where}: table name {table!r} cannot contain '.' (it separates "
            "a namespace from its tables); choose another table name"
        )
    if "/" in table:
        # tpstore names a table's indexes and triggers "{table}/...".
        raise SchemaError(
            f"{where}: table name {table!r} cannot contain '/' (tpstore "
            "names a table's indexes and triggers with it); choose another"
        )
    check_name(info.database, f"{where}: database")
    try:
        key_column = None
        if key_type is not None:
            key_codec = (
                codecs.default_codec(key_type, key=True)
                if info.key_codec is None
                else codecs.resolve(info.key_codec, key_type)
            )
            if kind.key_ordered and not key_codec.order_preserving:
                raise SchemaError(
                    f"{kind.__name__} iterates in key order, but the key codec "
                    f"{key_codec.name!r} for {_show(key_type)} does not preserve order; "
                    "use an insertion-ordered kind or an order-preserving key codec"
                )
            _check_hashable(kind, key_type)
            # A codec may store a key's equal values alike only when asked (JSON sets).
            for_keys = getattr(key_codec, "for_keys", None)
            if callable(for_keys):
                key_codec = for_keys()
            key_column = Converter(name, key_type, key_codec, strict=True)
        value_column = None
        if value_type is not None:
            value_codec = (
                codecs.default_codec(value_type)
                if info.codec is None
                else codecs.resolve(info.codec, value_type)
            )
            value_column = Converter(
                name, value_type, value_codec, strict=False, migrate=info.migrate
            )
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from exc
    return CollectionSpec(
        name=name,
        kind=kind,
        table=table,
        database=info.database,
        key=key_column,
        value=value_column,
        lifespan=_seconds(where, info.lifespan),
        maxlen=info.maxlen,
        default=info.default,
        default_factory=info.default_factory,
    )


def _check_hashable(kind: type[Collection], key_type: Any) -> None:
    """Refuse a key type none of whose values is hashable, as `dict` and `set` would."""
    bare = strip_annotated(key_type)
    cls = typing.get_origin(bare) or bare
    if isinstance(cls, type) and cls.__hash__ is None:
        what = "elements" if kind.type_params == ("K",) else "keys"
        raise SchemaError(
            f"{kind.__name__} {what} must be hashable, as in a "
            f"{'dict' if what == 'keys' else 'set'}, and {_show(key_type)} is not; use "
            "a tuple, a frozenset or a frozen model or dataclass"
        )


def _check_options(where: str, kind: type[Collection], info: FieldInfo) -> None:
    if info.lifespan is not None and not kind.expiring:
        raise SchemaError(f"{where}: lifespan is only for expiring kinds, not {kind.__name__}")
    if info.maxlen is not None:
        if "maxlen" not in kind.options:
            raise SchemaError(f"{where}: maxlen is only for Deque, not {kind.__name__}")
        if not isinstance(info.maxlen, int) or isinstance(info.maxlen, bool) or info.maxlen < 0:
            raise SchemaError(f"{where}: maxlen must be an int >= 0, not {info.maxlen!r}")
    has_default = info.default is not MISSING or info.default_factory is not MISSING
    if has_default and "default" not in kind.options:
        raise SchemaError(f"{where}: default and default_factory are only for Value")
    if info.default is not MISSING and info.default_factory is not MISSING:
        raise SchemaError(f"{where}: give default or default_factory, not both")
    if info.default_factory is not MISSING and not callable(info.default_factory):
        raise SchemaError(f"{where}: default_factory must be callable")
    if info.key_codec is not None and "K" not in kind.type_params:
        raise SchemaError(f"{where}: {kind.__name__} has no keys, so it takes no key_codec")
    if info.migrate is not None:
        if "V" not in kind.type_params:
            raise SchemaError(
                f"{where}: {kind.__name__} has no values to upgrade, so it takes no migrate="
            )
        if not callable(info.migrate):
            raise SchemaError(f"{where}: migrate must be callable, not {info.migrate!r}")
    if info.codec is not None and "V" not in kind.type_params:
        raise SchemaError(
            f"{where}: {kind.__name__} elements are keys; give key_codec= instead of codec="
        )


def _seconds(where: str, lifespan: timedelta | float | None) -> float | None:
    if lifespan is None:
        return None
    seconds = lifespan.total_seconds() if isinstance(lifespan, timedelta) else lifespan
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (math.isfinite(seconds) and seconds > 0)
    ):
        raise SchemaError(
            f"{where}: lifespan must be a positive timedelta or seconds, not {lifespan!r}"
        )
    return float(seconds)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def check_name(name: Any, what: str) -> None:
    """Refuse a table, namespace or schema name SQLite reserves or cannot store."""
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{what} name must be a non-empty string, not {name!r}")
    if "\x00" in name:
        raise SchemaError(f"{what} name {name!r} holds a NUL character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SchemaError(f"{what} name {name!r} cannot be encoded as UTF-8") from exc
    if RESERVED_NAMES.match(name):
        raise SchemaError(f"{what} name {name!r} is reserved by SQLite or tpstore")


def _show(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
