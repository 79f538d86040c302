"""SQLite's errors as tpstore errors a user can act on."""

from __future__ import annotations

import sqlite3

from tpstore.errors import BusyError, ReadOnlyError, TpStoreError, ValidationError


def translate_statement_error(
    exc: BaseException, context: str | None = None
) -> TpStoreError | None:
    """The tpstore error for an exception a statement raised, or `None` to let it go."""
    if isinstance(exc, sqlite3.Error):
        return translate(exc, context)
    if isinstance(exc, UnicodeEncodeError | OverflowError):
        return _unbindable(exc)
    return None


def translate(exc: sqlite3.Error, context: str | None = None) -> TpStoreError:
    """Turn an sqlite3 exception into the tpstore error a user can act on.

    Decided by SQLite's result code (`sqlite_errorname`), falling back to the message
    for errors that carry none.
    """
    message = str(exc)
    prefix = f"{context}: " if context else ""
    name = getattr(exc, "sqlite_errorname", None) or ""
    code = primary(exc)
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return BusyError(
            f"{prefix}the database stayed locked by another connection past the timeout "
            f"({message}); retry, or open the store with a longer timeout"
        )
    if name == "SQLITE_READONLY_ROLLBACK":
        return TpStoreError(
            f"{prefix}a writer stopped in the middle of a transaction and left its journal "
            f"behind, which a read-only store cannot roll back ({message}); open the file "
            "once with mode='rw' to recover it"
        )
    if name == "SQLITE_READONLY_DBMOVED":
        return TpStoreError(f"{prefix}the file was moved or deleted while open ({message})")
    if code == "SQLITE_READONLY":
        return ReadOnlyError(
            f"{prefix}the database cannot be written ({message}); check the permissions of "
            "the file and its folder, or open the store with mode='ro'"
        )
    if code == "SQLITE_NOTADB":
        return TpStoreError(f"{prefix}the file is not an SQLite database ({message})")
    if code == "SQLITE_FULL" or (code == "SQLITE_IOERR" and "full" in message.lower()):
        return TpStoreError(
            f"{prefix}the disk is full, or the file reached its size limit ({message}); "
            "the operation was not written, and earlier commits are intact"
        )
    if code == "SQLITE_IOERR":
        return TpStoreError(
            f"{prefix}the operating system reported an I/O error ({message}); the operation "
            "was not written, and earlier commits are intact"
        )
    if code == "SQLITE_CORRUPT":
        hint = (
            " It may have been written by a newer SQLite (STRICT tables need 3.37);"
            if "malformed database schema" in message
            else ""
        )
        return TpStoreError(
            f"{prefix}the database file is damaged ({message}).{hint} Check it with "
            "`tpstore check`, or restore it from a backup"
        )
    if code == "SQLITE_CANTOPEN":
        return TpStoreError(
            f"{prefix}SQLite cannot open the file ({message}); check that it and its folder "
            "exist and are readable (and writable, for mode='rw')"
        )
    if code == "SQLITE_TOOBIG":
        return TpStoreError(f"{prefix}a value is larger than SQLite allows ({message})")
    if not name:  # errors raised by the sqlite3 module itself carry no result code
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            return BusyError(f"{prefix}the database stayed locked ({message}); retry")
        if "not a database" in lowered:
            return TpStoreError(f"{prefix}the file is not an SQLite database ({message})")
    return TpStoreError(f"{prefix}{message}")


def primary(exc: sqlite3.Error) -> str:
    """SQLite's primary result code name of `exc` (`SQLITE_IOERR` for `SQLITE_IOERR_WRITE`)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    return "_".join(name.split("_")[:2])


def _unbindable(exc: UnicodeEncodeError | OverflowError) -> ValidationError:
    """A parameter sqlite3 could not bind (the codecs normally refuse these first)."""
    if isinstance(exc, UnicodeEncodeError):
        problem = "a string holds a lone surrogate, which cannot be stored as UTF-8"
    else:
        problem = "an integer does not fit in SQLite's 64 bits"
    return ValidationError(f"invalid value: {problem} ({exc})")
