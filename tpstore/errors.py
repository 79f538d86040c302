"""The exceptions tpstore raises.

Every error tpstore raises on its own account derives from one root:

```text
TpStoreError
├── SchemaError          a declaration that cannot work, or one that disagrees with the file
├── ValidationError      a value or key refused on write (also a ValueError)
├── CorruptValueError    a stored value that no longer decodes or validates
├── ReadOnlyError        a write on a read-only store or inside a read-only transaction
├── ClosedError          any use of a store after close()
└── BusyError            another connection held the lock longer than `timeout`
```

Missing keys raise `KeyError`, bad indexes `IndexError` and wrong operations
`TypeError`, exactly as the builtin containers do. Errors that wrap another
exception (pydantic's, sqlite3's, a codec's) keep it as `__cause__`.

All exceptions here can be pickled, so they cross process boundaries intact.

Besides the errors, one warning category: `TpStoreWarning` (a `UserWarning`, not part
of the error tree) for conditions that work but put data at risk, such as a store file
on a network filesystem.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BusyError",
    "ClosedError",
    "CorruptValueError",
    "ReadOnlyError",
    "SchemaError",
    "TpStoreError",
    "TpStoreWarning",
    "ValidationError",
]


class TpStoreError(Exception):
    """Base class of every exception tpstore raises on its own account."""


class SchemaError(TpStoreError):
    """A store declaration that cannot work, or that disagrees with the file's catalog.

    Raised when a `Store` subclass is created with a malformed field, and when a store
    is opened on a file whose catalog records the same table differently (another kind,
    codec or column affinity). The file is never changed when this is raised.
    """


class ValidationError(TpStoreError, ValueError):
    """A value or key was refused on write; nothing was written.

    Attributes:
        collection: the name of the collection (the store's field name).
        key: the mapping key or sequence index at fault, or `None` for operations
            with no single key (bulk writes, a `Value`).

    When pydantic refused the value, its `pydantic.ValidationError` is the
    `__cause__` and `errors()` returns its error list; when a codec refused it
    (an int outside 64 bits, NaN in a REAL column, inf in JSON) `errors()` holds one
    entry describing the problem.
    """

    def __init__(
        self,
        message: str,
        *,
        collection: str | None = None,
        key: Any = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.collection = collection
        self.key = key
        self._errors = errors if errors is not None else [{"type": "value_error", "msg": message}]

    def errors(self) -> list[dict[str, Any]]:
        """The list of problems found, in pydantic's error-list format."""
        return list(self._errors)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                type(self),
                str(self),
                {"collection": self.collection, "key": self.key, "errors": self._errors},
            ),
        )


class CorruptValueError(TpStoreError):
    """A stored value no longer decodes or validates against the declared type.

    Attributes:
        collection: the name of the collection (the store's field name).
        key: the key, or the index for a `Sequence`, else `None`.

    The rest of the collection stays readable. The underlying codec or pydantic
    error is the `__cause__`.
    """

    def __init__(self, message: str, *, collection: str | None = None, key: Any = None) -> None:
        super().__init__(message)
        self.collection = collection
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self), str(self), {"collection": self.collection, "key": self.key}),
        )


class ReadOnlyError(TpStoreError):
    """A write was attempted on a read-only store or inside a read-only transaction."""


class ClosedError(TpStoreError):
    """The store was used after `close()`."""


class BusyError(TpStoreError):
    """Another connection held the database lock for longer than the store's `timeout`."""


class TpStoreWarning(UserWarning):
    """A store works, but in a way that puts its data at risk.

    Issued when a store file lies on a network filesystem (NFS, SMB/CIFS, 9p, sshfs...),
    where SQLite's locks are unreliable and the WAL journal cannot be shared between
    machines, and when SQLite could not switch a file to the journal mode tpstore chose.
    Silence it with `warnings.filterwarnings("ignore", category=tpstore.TpStoreWarning)`
    once you have made sure only one process on one machine uses the file.
    """


def _rebuild(cls: type[Exception], message: str, attributes: dict[str, Any]) -> Exception:
    return cls(message, **attributes)
