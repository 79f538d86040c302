"""`field()` and the `MISSING` sentinel."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final


class _Missing(enum.Enum):
    """The type of `tpstore.MISSING`: "not given", where `None` may be a real value.

    It has one member, is falsy, and survives copying and pickling as itself.
    """

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "tpstore.MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing.MISSING
"""Stands for "not given" wherever a default is optional (`None` may be a real value)."""


@dataclass(frozen=True)
class FieldInfo:
    """The options given to `field()` for one collection of a store."""

    table: str | None = None
    database: str = "main"
    codec: Any = None
    key_codec: Any = None
    lifespan: timedelta | float | None = None
    maxlen: int | None = None
    default: Any = MISSING
    default_factory: Any = MISSING
    migrate: Callable[[Any], Any] | None = None


def field(
    *,
    table: str | None = None,
    database: str = "main",
    codec: Any = None,
    key_codec: Any = None,
    lifespan: timedelta | float | None = None,
    maxlen: int | None = None,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    migrate: Callable[[Any], Any] | None = None,
) -> Any:
    """Set the options of one collection of a `Store`.

    Args:
        table: the table name (default: the field name; prefixed by the store's
            `namespace`).
        database: the schema name of an attached file (see `Store(attach=...)`).
        codec: the value codec: a `tpstore.codecs.Codec`, a codec name (`"json"`,
            `"pickle"`, `"cattrs"`, `"native"`...) or a module with `dumps`/`loads`.
        key_codec: the key codec, accepted in the same forms.
        lifespan: how long items live (`timedelta` or seconds); expiring kinds only.
        maxlen: the maximum length of a `Deque`; appending past it drops from the
            other end.
        default: the value a `Value` reads as while unset (copied for each use).
        default_factory: a zero-argument callable making that value; `Value` only.
        migrate: upgrades stored values written under an older value model: called
            with the plain data of a stored value that does not validate as the declared
            type (what the codec decodes, e.g. a `dict` for JSON); its result is
            validated and read instead. Reads never write; `collection.migrate()` and
            `Store.migrate()` rewrite what needs it.

    Returns:
        A marker the `Store` metaclass reads when the class is created.

    Example:
        ```python
        from datetime import timedelta
        import tpstore

        class Cache(tpstore.Store):
            pages: tpstore.ExpiringMapping[str, str] = tpstore.field(
                lifespan=timedelta(minutes=5)
            )
        ```
    """
    return FieldInfo(
        table=table,
        database=database,
        codec=codec,
        key_codec=key_codec,
        lifespan=lifespan,
        maxlen=maxlen,
        default=default,
        default_factory=default_factory,
        migrate=migrate,
    )
