"""What every codec module shares: the stored value type and helpers on declared types.

A leaf module: it imports nothing from tpstore, so the codec modules and the package
`__init__` can all import it without importing each other.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Literal

__all__ = [
    "AFFINITIES",
    "Raw",
    "contains_attrs",
    "native_affinity",
    "optional_inner",
    "strip_annotated",
    "type_name",
]

Raw = int | float | str | bytes | None
"""A value SQLite stores directly."""

AFFINITIES = ("INTEGER", "REAL", "TEXT", "BLOB", "ANY")
"""The column affinities a codec may name."""


_NATIVE_TYPES = (bool, int, float, str, bytes)
_TypeAliasType: Any = getattr(typing, "TypeAliasType", ())  # Python 3.12's `type X = ...`


def strip_annotated(tp: Any) -> Any:
    """`Annotated[X, ...]`, `NewType("N", X)`, `type N = X` → `X`; others unchanged."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, typing.NewType):
            tp = tp.__supertype__
        elif isinstance(tp, _TypeAliasType):
            tp = tp.__value__
        else:
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
    """The affinity the native codec gives `tp`, or `None` when it cannot store it.

    `int`, `bool`, an `Enum` of ints and a `Literal` of ints are INTEGER; `float` is
    REAL; `str`, an `Enum` of strings and a `Literal` of strings are TEXT; `bytes` is
    BLOB.
    """
    tp = strip_annotated(tp)
    if typing.get_origin(tp) is Literal:
        kinds = {type(value) for value in typing.get_args(tp)}
        if kinds == {str}:
            return "TEXT"
        if kinds <= {int, bool} and kinds:
            return "INTEGER"
        return None
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


def _is_attrs_class(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__attrs_attrs__")


def contains_attrs(tp: Any) -> bool:
    """Whether `tp` is an attrs class or holds one (in `Optional`, containers, unions,
    dataclass fields...): pydantic cannot validate such a type, cattrs can."""
    return _find_attrs(tp, set())


def _find_attrs(tp: Any, seen: set[int]) -> bool:
    tp = strip_annotated(tp)
    if id(tp) in seen:
        return False
    seen.add(id(tp))
    if _is_attrs_class(tp):
        return True
    if any(_find_attrs(arg, seen) for arg in typing.get_args(tp) if arg is not Ellipsis):
        return True
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            hints = typing.get_type_hints(tp)
        except Exception:  # unresolvable annotations: pydantic will report them
            return False
        return any(_find_attrs(hint, seen) for hint in hints.values())
    return False


def type_name(tp: Any) -> str:
    """A short name for a declared type: a class's qualified name, else its repr."""
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
