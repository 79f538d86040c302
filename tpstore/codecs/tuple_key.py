"""The tuple_key codec: keys whose bytes sort in Python's order.

Every key is stored as one BLOB (affinity `BLOB`). SQLite compares BLOBs with
`memcmp`, so `ORDER BY key`, `key < ?` and range scans on the encoded bytes give
exactly Python's order of the decoded keys: lexicographic tuple order (a prefix sorts
first, `(1,) < (1, 0)`), nested tuples likewise, and numbers compared numerically
across `bool`, `int` and `float` (`False < 0.5 < True < 1.5 < 2`).

## What is stored

Each element starts with a tag byte; the tag's value is also the order between
element types that Python itself cannot compare (`None` first):

| Python value | tag | bytes after the tag |
|---|---|---|
| `None` | `01` | — |
| `float("-inf")` | `02` | — |
| `int`, `bool`, integral `float` | `03`..`25` | the integer, see below |
| non-integral `float` | `03`..`25` | its floor as an integer, then `FF` and 9 fraction bytes |
| `float("inf")` | `26` | — |
| `bytes` | `30` | the bytes, each `00` written `00 FF`, then `00` |
| `str` (any Unicode) | `31` | its UTF-8, each `00` written `00 FF`, then `00` |
| `date` | `40` | `toordinal()`, 3 bytes big-endian |
| naive `datetime` | `41` | microseconds since `0001-01-01T00:00`, 8 bytes big-endian |
| aware `datetime` | `42` | microseconds since `0001-01-01T00:00Z` of its UTC time, 8 bytes |
| `UUID` | `48` | `.bytes` (its `.int`, 16 bytes big-endian) |
| `tuple` | `50` | each element in turn, then `00` |

So the order of types is `None` < numbers (`bool`, `int`, `float` together) <
`bytes` < `str` < `date` < naive `datetime` < aware `datetime` < `UUID` < `tuple`.
A key that is not a tuple (a `datetime` key, say) is stored as that single element.

- **Integers** of any size: `14` is zero; `14 + n` (`15`..`24`) is a positive integer
  of `n` ≤ 16 bytes, big-endian; `14 - n` (`04`..`13`) a negative one, in one's
  complement; `25` / `03` introduce a longer positive / negative integer: one byte
  giving the length of the length, the length, then the magnitude (all inverted for a
  negative number). Larger numbers need more bytes and get higher tags, so the bytes
  sort numerically.
- **Floats** share that encoding, so that `int` and `float` compare numerically. An
  integral float (`2.0`, `1e300`) is stored as its integer; any other finite float as
  its floor followed by `FF` and 9 bytes of its fraction (2 bytes: `0xFFFF` minus the
  count of leading zero bits, 7 bytes: the significant bits), so it sorts after that
  integer and before the next one. NaN is refused with `ValueError`; `-0.0` is stored
  as `0.0` (Python treats them as the same key).
- **Strings and bytes** escape `00` so that the terminating `00` sorts below every
  byte that can continue the value: a shorter string sorts first. UTF-8 byte order is
  code point order, Python's `str` order. A `str` with a lone surrogate has no UTF-8
  form and is refused with `ValueError`.
- **Tuples** end with `00`, lower than every tag, so a prefix sorts first.
- **Aware datetimes** sort by their UTC time, as Python compares them. Only
  fixed-offset `tzinfo` objects are accepted (`datetime.timezone`, pydantic's
  `TzInfo`); a zone with rules (`zoneinfo`, pytz, dateutil) is refused with
  `ValueError`, since its offset depends on the date and storing the offset alone would
  silently change the value. The offset is kept: a value comes back as the same
  wall-clock time with `tzinfo=datetime.timezone(offset)` (a custom zone *name* is not
  kept). An aware datetime whose UTC time falls outside `datetime.min`..`datetime.max`
  is refused.

## Values that Python calls equal

`1 == 1.0 == True`, and two aware datetimes at the same instant in different offsets
are equal in Python, yet each must come back as it was written. Their differences
(which number type, which UTC offset, the `fold` attribute of a datetime) are
therefore not written in the elements but in a *variant suffix* after the whole key:
one record per `int`/`bool`/integral `float` (`00` int, `01` bool, `02` float) and per
`datetime` (the `fold`, then for an aware one its offset in microseconds, 8 bytes
signed), in depth-first order. The suffix is omitted when every record would say "int,
offset 0, fold 0", the common case (a key of ints, strings and UTC datetimes has none).
Because it comes last, it only orders keys that Python calls equal, and never changes
Python's order of unequal ones: `(2.0, 3) < (2, 5)`, as in Python.

Unlike in a `dict`, such equal keys are therefore **distinct keys**: `(1,)` and `(1.0,)`,
or noon UTC and 13:00+01:00, are two entries of a collection. Declared types avoid most
of it: a `for_type` codec for a declared `float` stores the int `1` as `1.0`, so the two
are one key there, and a declared `int` or `bool` admits only that type.

## Ordering rules in short

- Unequal values: bytes order == Python order wherever Python can compare them.
- Types Python cannot compare (`None` and `1`, `"a"` and `b"a"`, naive and aware
  datetimes, `date` and `datetime`) are ordered by tag, as in the table. Declare a key
  as pydantic's `AwareDatetime` or `NaiveDatetime` to have the other kind refused.
- Python-equal values of different type or offset: distinct keys, ordered by suffix.

## Errors

`encode` raises `TypeError` for a value of any other type (subclasses included: an
`IntEnum`, a `str` subclass or a pendulum datetime would not come back as themselves)
and `ValueError` for a value it cannot store faithfully (NaN, a lone surrogate, a zone
with rules). `decode` raises `ValueError` for anything that is not an encoding it
produces: truncated bytes, unknown tags, non-canonical forms, trailing bytes.

`for_type(tp)` returns a codec for one declared key type, which checks the shape of
every value written and read; it raises `SchemaError` for a component type this codec
cannot order.

Example:
    ```python
    from tpstore.codecs import tuple_key

    codec = tuple_key.for_type(tuple[int, str])
    keys = [(2, "a"), (1, "b"), (1, "a")]
    assert sorted(keys, key=codec.encode) == sorted(keys)
    assert codec.decode(codec.encode((1, "a"))) == (1, "a")
    ```
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import AwareDatetime, NaiveDatetime

from tpstore.codecs._tuple_key_format import decode, encode
from tpstore.codecs._types import Raw, strip_annotated
from tpstore.errors import SchemaError

__all__ = [
    "TupleKeyCodec",
    "affinity",
    "decode",
    "encode",
    "for_type",
    "name",
    "order_preserving",
]

name = "tuple_key"
"""The codec's name, recorded in the file's catalog."""
affinity = "BLOB"
"""Keys are stored as BLOBs, which SQLite compares with `memcmp`."""
order_preserving = True
"""Byte order of encoded keys is Python's order of the keys."""

# The byte format (tags, encoders, decoders) is in `_tuple_key_format`; `encode` and
# `decode` above come from there. What follows checks values against a declared type.

# -- type-aware codecs --------------------------------------------------------------

_Conform = Callable[[Any], Any]


class TupleKeyCodec:
    """The tuple_key codec specialised to one declared key type (see `for_type`).

    It writes the same bytes as the module-level codec, so a file written with it can
    be read without the declaration (by the `tpstore` command line, say). On top of
    that it checks that every value written and read has the declared shape, and
    conforms a declared `float` (an exact `int` is stored as that float, so `1` and
    `1.0` are one key).

    Attributes:
        name: `"tuple_key"`.
        affinity: `"BLOB"`.
        order_preserving: `True`.
        declared: the declared type.
    """

    name = "tuple_key"
    affinity = "BLOB"
    order_preserving = True

    __slots__ = ("_check", "_conform", "declared")

    def __init__(self, declared: Any, conform: _Conform, check: _Conform) -> None:
        self.declared = declared
        self._conform = conform
        self._check = check

    def __repr__(self) -> str:
        return f"TupleKeyCodec({_type_repr(self.declared)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TupleKeyCodec) and other.declared == self.declared

    def __hash__(self) -> int:
        return hash((TupleKeyCodec, repr(self.declared)))

    def encode(self, value: Any) -> bytes:
        """Encode a key of the declared type.

        Raises:
            TypeError: the value does not have the declared shape.
            ValueError: the value cannot be stored faithfully (see the module).
        """
        return encode(self._conform(value))

    def decode(self, raw: Raw | bytearray | memoryview) -> Any:
        """Decode a key, checking that it has the declared type.

        Raises:
            ValueError: malformed bytes, or a key of another type.
        """
        value = decode(raw)
        try:
            self._check(value)
        except (TypeError, ValueError) as exc:
            message = f"stored key {value!r:.80} is not a {_type_repr(self.declared)}: {exc}"
            raise ValueError(message) from exc
        return value


def for_type(tp: Any) -> TupleKeyCodec:
    """The tuple_key codec for one declared key type.

    Args:
        tp: `None`, `bool`, `int`, `float`, `str`, `bytes`, `date`, `datetime`
            (or pydantic's `AwareDatetime` / `NaiveDatetime`), `UUID`, `Any`, a
            `Literal` of such values, `Optional`/unions of these, and `tuple[...]` of
            them (fixed or variable length, nested); `Annotated` and `NewType` are
            looked through.

    Returns:
        A codec that encodes and decodes exactly like this module, checking shapes.

    Raises:
        SchemaError: a component type cannot be ordered by this codec; the message
            names it.

    Example:
        ```python
        from datetime import datetime, timezone
        from tpstore.codecs import tuple_key

        codec = tuple_key.for_type(tuple[str, datetime])
        key = ("job", datetime(2024, 5, 1, 12, tzinfo=timezone.utc))
        assert codec.decode(codec.encode(key)) == key
        ```
    """
    conform = _compile(tp, tp, strict=False).conform
    check = _compile(tp, tp, strict=True).conform
    return TupleKeyCodec(tp, conform, check)


def _identity(value: Any) -> Any:
    return value


_SCALARS: tuple[type, ...] = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    _dt.date,
    _dt.datetime,
    uuid.UUID,
)


class _Shape(typing.NamedTuple):
    """A compiled declared type: a function that checks (and may conform) a value."""

    conform: _Conform
    kind: type | None = None  # the one exact type accepted, when conform only checks that
    converts: bool = False  # conform may return another object than it was given


_ANY = _Shape(_identity)


def _compile(tp: Any, declared: Any, *, strict: bool) -> _Shape:
    """Compile one declared type; `strict` (for reads) checks without converting."""
    tp = strip_annotated(tp)
    while hasattr(tp, "__supertype__"):  # typing.NewType
        tp = strip_annotated(tp.__supertype__)
    if tp is Any:
        return _ANY
    if tp is None:
        tp = type(None)
    origin = typing.get_origin(tp)
    if tp is tuple or tp is typing.Tuple:  # noqa: UP006 - the bare alias is another object
        return _compile(tuple[Any, ...], declared, strict=strict)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _variable_tuple(_compile(args[0], declared, strict=strict))
        return _fixed_tuple([_compile(arg, declared, strict=strict) for arg in args])
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        exact = [_compile(arg, declared, strict=True) for arg in args]
        loose = exact if strict else [_compile(arg, declared, strict=False) for arg in args]
        return _union(tp, exact, loose)
    if origin is typing.Literal:
        values = typing.get_args(tp)
        unorderable = [value for value in values if type(value) not in _SCALARS]
        if unorderable:
            raise _schema_error(repr(unorderable[0]), declared)
        return _exact(tuple({type(value): None for value in values}), f"one of {values!r}")
    if tp is AwareDatetime or tp is NaiveDatetime:
        return _Shape(_datetime_kind(aware=tp is AwareDatetime))
    if isinstance(tp, type):
        if tp in _SCALARS:
            if tp is float and not strict:
                return _Shape(_conform_float, converts=True)
            return _exact((tp,), tp.__name__)
        if issubclass(tp, enum.Enum):
            raise _schema_error(
                f"the enum {tp.__qualname__}",
                declared,
                hint="store the enum's value type instead, or give key_codec='native' "
                "for a key that is the enum alone",
            )
    raise _schema_error(_type_repr(tp), declared)


def _schema_error(component: str, declared: Any, *, hint: str = "") -> SchemaError:
    return SchemaError(
        f"the tuple_key codec cannot order {component} (in the key type "
        f"{_type_repr(declared)}): it orders None, bool, int, float, str, bytes, date, "
        "datetime, UUID and tuples of these; "
        + (
            hint
            or "give another key codec with field(key_codec=...) on a collection "
            "that is not key-ordered"
        )
        + "."
    )


def _type_repr(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _mismatch(what: str, value: Any) -> TypeError:
    return TypeError(f"expected {what}, got {type(value).__name__} {value!r:.60}")


def _exact(kinds: tuple[type, ...], what: str) -> _Shape:
    if len(kinds) == 1:
        (kind,) = kinds

        def check_one(value: Any) -> Any:
            if type(value) is not kind:
                raise _mismatch(what, value)
            return value

        return _Shape(check_one, kind)

    def check_any(value: Any) -> Any:
        if type(value) not in kinds:
            raise _mismatch(what, value)
        return value

    return _Shape(check_any)


def _conform_float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:  # an exact int is the same key as its float: store it as the float
        try:
            converted = float(value)
        except OverflowError:
            converted = math.nan
        if converted != value:
            raise ValueError(f"the int {value} has no exact float form for a float key")
        return converted
    raise _mismatch("float", value)


def _datetime_kind(*, aware: bool) -> _Conform:
    def check(value: Any) -> Any:
        if type(value) is not _dt.datetime:
            raise _mismatch("datetime", value)
        if (value.tzinfo is not None) is not aware:
            raise ValueError(
                f"{value!r} is {'naive' if aware else 'aware'}, but the key type admits only "
                f"{'aware' if aware else 'naive'} datetimes (the two cannot be compared)"
            )
        return value

    return check


def _variable_tuple(item: _Shape) -> _Shape:
    element = item.conform
    kind = item.kind
    if item is _ANY:

        def check_tuple(value: Any) -> Any:
            if type(value) is not tuple:
                raise _mismatch("a tuple", value)
            return value

        return _Shape(check_tuple)

    if kind is not None:

        def check_kind(value: Any) -> Any:
            if type(value) is not tuple:
                raise _mismatch("a tuple", value)
            for x in value:
                if type(x) is not kind:
                    raise _mismatch(kind.__name__, x)
            return value

        return _Shape(check_kind)

    if not item.converts:

        def check_each(value: Any) -> Any:
            if type(value) is not tuple:
                raise _mismatch("a tuple", value)
            for x in value:
                element(x)
            return value

        return _Shape(check_each)

    def conform_each(value: Any) -> Any:
        if type(value) is not tuple:
            raise _mismatch("a tuple", value)
        return tuple([element(x) for x in value])

    return _Shape(conform_each, converts=True)


def _fixed_tuple(items: list[_Shape]) -> _Shape:
    size = len(items)
    what = f"a tuple of {size}"
    kinds = tuple(item.kind for item in items)
    functions = tuple(item.conform for item in items)
    if all(kind is not None for kind in kinds):
        # The common case (tuple[int, str]): one C-level comparison of the types.
        def check_kinds(value: Any) -> Any:
            if type(value) is not tuple or tuple(map(type, value)) != kinds:
                if type(value) is tuple and len(value) == size:
                    for function, x in zip(functions, value, strict=True):
                        function(x)  # raises naming the element at fault
                raise _mismatch(what, value)
            return value

        return _Shape(check_kinds)

    if not any(item.converts for item in items):

        def check_each(value: Any) -> Any:
            if type(value) is not tuple or len(value) != size:
                raise _mismatch(what, value)
            for function, x in zip(functions, value, strict=True):
                function(x)
            return value

        return _Shape(check_each)

    def conform_each(value: Any) -> Any:
        if type(value) is not tuple or len(value) != size:
            raise _mismatch(what, value)
        return tuple([function(x) for function, x in zip(functions, value, strict=True)])

    return _Shape(conform_each, converts=True)


def _union(tp: Any, exact: list[_Shape], loose: list[_Shape]) -> _Shape:
    # A value that matches an option as it is keeps its type (`1` stays an int in
    # `int | float`); only a value no option accepts as it is may be conformed.
    converts = any(shape.converts for shape in loose)
    kinds = tuple({shape.kind: None for shape in exact})
    if not converts and None not in kinds:  # int | str | None: one membership test
        return _exact(typing.cast(tuple[type, ...], kinds), _type_repr(tp))
    passes = [shape.conform for shape in exact]
    if converts:
        passes += [shape.conform for shape in loose]

    def conform(value: Any) -> Any:
        for option in passes:
            try:
                return option(value)
            except (TypeError, ValueError):
                continue
        raise _mismatch(_type_repr(tp), value)

    return _Shape(conform, converts=converts)
