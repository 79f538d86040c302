"""PostgreSQL's errors as tpstore errors, decided by SQLSTATE; URLs without passwords."""

from __future__ import annotations

import re

import psycopg

from tpstore.errors import BusyError, ReadOnlyError, TpStoreError, ValidationError

# SQLSTATE classes and codes (PostgreSQL's appendix A).
_BUSY = {
    "40001": "another transaction's concurrent update conflicted with this one",
    "40P01": "a deadlock with another transaction",
    "55P03": "a lock stayed held by another transaction past the timeout",
    "57014": "the statement ran past its time limit",
}
_READ_ONLY = {"25006"}
_ABORTED = "25P02"
_VALUE_CLASSES = ("22",)  # data exceptions: a value the column cannot hold


def translate_statement_error(
    exc: BaseException, context: str | None = None
) -> TpStoreError | None:
    """The tpstore error for an exception a statement raised, or `None` to let it go."""
    if isinstance(exc, psycopg.Error):
        return translate(exc, context)
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError(
            "invalid value: a string holds a lone surrogate, which cannot be stored as "
            f"UTF-8 ({exc})"
        )
    return None


def translate(exc: psycopg.Error, context: str | None = None) -> TpStoreError:
    """Turn a psycopg exception into the tpstore error a user can act on."""
    message = redact(str(exc).strip())
    prefix = f"{context}: " if context else ""
    state = exc.sqlstate or ""
    if state in _BUSY:
        return BusyError(
            f"{prefix}{_BUSY[state]} ({message}); retry, or open the store with a longer timeout"
        )
    if state in _READ_ONLY:
        return ReadOnlyError(
            f"{prefix}the session is read-only ({message}); open the store with mode='rw' to write"
        )
    if state == _ABORTED:
        return TpStoreError(
            f"{prefix}the database aborted this transaction after an earlier error; leave "
            "the transaction() block and start again"
        )
    if isinstance(exc, psycopg.DataError) and "NUL" in message:
        return ValidationError(
            "invalid value: PostgreSQL text cannot hold the character '\\x00'; store such "
            "strings as bytes, or in a JSON value"
        )
    if state.startswith(_VALUE_CLASSES):
        return ValidationError(f"invalid value: PostgreSQL refused it ({message})")
    if isinstance(exc, psycopg.OperationalError) and not state:
        return TpStoreError(f"{prefix}the connection to the server failed ({message})")
    return TpStoreError(f"{prefix}{message}")


_PASSWORD_IN_TEXT = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every `password=...` (as libpq writes connection strings) hidden."""
    return _PASSWORD_IN_TEXT.sub(r"\1***", text)
