"""Statements rewritten for the server: bulk rows in few statements, single UPSERTs with
their lock.

**Bulk writes.** A bulk write (`update()` of 10,000 items, `extend()`, a set's
`update()`, `load`) runs one statement for many parameter rows. Sent once per row, it
would also fire the count triggers of its table once per row (they are statement-level:
one trigger call per statement). So the rows go out in chunks, one statement per chunk
(`chunked`):

- `INSERT INTO t (columns) VALUES (%s, ...) [ON CONFLICT (target) ...]` becomes a
  multi-row `VALUES (...), (...), ...`. A row whose conflict target repeats one already
  in the chunk starts a new chunk: one statement cannot update a row twice, and the
  rows of a chunk then act exactly as they would one after the other.
- an append (`VALUES ((SELECT coalesce(max(pos) + 1, 0) FROM t), %s)`, or `min(pos) - 1`
  on the left) becomes a multi-row `VALUES` whose row `i` goes `i` positions further;
- `DELETE FROM t WHERE key = %s [AND ...]` becomes `WHERE key IN (%s, ...)`, for the
  consecutive rows whose other parameters are the same.

Other statements run once per row.

**Single UPSERTs** (`m[k] = v`, `increment`) outside a transaction take the lock row of
their schema in shared mode inside the statement itself (`locked_upsert`): one
statement, sent with its parameters bound by the server and prepared after a few uses,
as hand-written code sends it. The lock is taken before the row is written, so the
UPSERT waits for a writing transaction in progress; the conflict it then finds, and
the row it updates, are the latest committed ones (what `ON CONFLICT` always reads), so
it acts as if it had started after that transaction.

Statements are in psycopg's parameter style.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tpstore._backends.postgresql.dialect import MAX_PARAMS, lock_row

ROWS: Final = 1000
"""The most rows of one multi-row statement."""

_QUOTED = r'"(?:[^"]|"")*"'
_NAME = rf"(?:{_QUOTED}\.)?{_QUOTED}"
_INSERT = re.compile(
    rf"(?P<head>INSERT INTO {_NAME} \((?P<columns>[^()]*)\) VALUES )"
    r"(?P<row>\((?:%s, )*%s\))"
    r"(?P<rest>(?: ON CONFLICT \((?P<target>[^()]*)\) .*)?)",
    re.DOTALL,
)
_APPEND = re.compile(
    rf"(?P<head>INSERT INTO {_NAME} \(pos, value\) VALUES )"
    r"\((?P<edge>\(SELECT coalesce\((?:max|min)\(pos\) (?P<step>[+-]) 1, 0\) "
    rf"FROM {_NAME}\)), %s\)",
    re.DOTALL,
)
_DELETE = re.compile(
    rf"(?P<head>DELETE FROM {_NAME} WHERE key) = %s(?P<rest>(?: AND .*)?)", re.DOTALL
)


@dataclass(frozen=True)
class _Insert:
    head: str
    row: str
    rest: str
    width: int
    target: tuple[int, ...]
    """Where the conflict target's columns are in a row (none without ON CONFLICT)."""

    def chunks(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
        most = max(1, min(ROWS, MAX_PARAMS // self.width))
        chunk: list[Sequence[Any]] = []
        seen: set[Any] = set()
        for row in rows:
            if self.target:
                key = tuple(row[i] for i in self.target)
                if key in seen or len(chunk) == most:
                    yield self.statement(chunk)
                    chunk, seen = [], set()
                seen.add(key)
            elif len(chunk) == most:
                yield self.statement(chunk)
                chunk = []
            chunk.append(row)
        if chunk:
            yield self.statement(chunk)

    def statement(self, chunk: list[Sequence[Any]]) -> tuple[str, list[Any]]:
        return self.head + _repeated(self.row, len(chunk)) + self.rest, _flat(chunk)


@dataclass(frozen=True)
class _Append:
    """An append (or append on the left) at the position after the last (before the
    first): row `i` of a chunk goes `i` further. Every row's subquery reads the table
    as the statement started, without the rows the statement itself inserts."""

    head: str
    edge: str
    step: str

    def chunks(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
        for start in range(0, len(rows), ROWS):
            chunk = rows[start : start + ROWS]
            yield _appended(self.head, self.edge, self.step, len(chunk)), _flat(chunk)


@functools.lru_cache(maxsize=64)
def _appended(head: str, edge: str, step: str, count: int) -> str:
    return head + ", ".join(f"({edge} {step} {i}, %s)" for i in range(count))


@dataclass(frozen=True)
class _Delete:
    head: str
    rest: str

    def chunks(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
        most = min(ROWS, MAX_PARAMS // 2)
        keys: list[Any] = []
        others: tuple[Any, ...] | None = None
        for row in rows:
            tail = tuple(row[1:])
            if keys and (tail != others or len(keys) == most):
                yield self.statement(keys, others or ())
                keys = []
            keys.append(row[0])
            others = tail
        if keys:
            yield self.statement(keys, others or ())

    def statement(self, keys: list[Any], others: tuple[Any, ...]) -> tuple[str, list[Any]]:
        text = f"{self.head} IN ({_repeated('%s', len(keys))}){self.rest}"
        return text, [*keys, *others]


@functools.lru_cache(maxsize=256)
def _repeated(item: str, count: int) -> str:
    """`item, item, ...`: `count` times."""
    return ", ".join([item] * count)


def _flat(rows: Sequence[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


@functools.lru_cache(maxsize=1024)
def _plan(query: str) -> _Insert | _Append | _Delete | None:
    insert = _INSERT.fullmatch(query)
    if insert is not None:
        columns = [name.strip() for name in insert["columns"].split(",")]
        width = insert["row"].count("%s")
        if len(columns) != width:  # pragma: no cover - the dialects write one mark a column
            return None
        target = insert["target"]
        wanted = [name.strip() for name in target.split(",")] if target else []
        if any(name not in columns for name in wanted):  # pragma: no cover - as above
            return None
        return _Insert(
            insert["head"],
            insert["row"],
            insert["rest"],
            width,
            tuple(columns.index(name) for name in wanted),
        )
    append = _APPEND.fullmatch(query)
    if append is not None:
        return _Append(append["head"], append["edge"], append["step"])
    delete = _DELETE.fullmatch(query)
    if delete is not None:
        return _Delete(delete["head"], delete["rest"])
    return None


def chunked(query: str, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, Sequence[Any]]]:
    """`(statement, parameters)` pairs doing the work of `query` run once per row."""
    plan = _plan(query)
    if plan is None or len(rows) < 2:
        return ((query, row) for row in rows)
    try:
        return iter(list(plan.chunks(rows)))
    except TypeError:  # an unhashable conflict key: one statement per row
        return ((query, row) for row in rows)


_UPSERT = re.compile(
    rf"INSERT INTO (?P<schema>{_QUOTED})\.{_QUOTED}(?: AS \w+)? \([^()]*\) VALUES "
    r"(?P<row>\((?:%s, )*%s\))(?P<rest> ON CONFLICT .*)",
    re.DOTALL,
)
_LOCK = "_tpstore_lock"


@functools.lru_cache(maxsize=1024)
def locked_upsert(query: str) -> str | None:
    """`query`, an `INSERT ... VALUES (...) ON CONFLICT ...` of one row, taking its
    schema's lock row in shared mode first; `None` for any other statement.

    The row is selected from the locked row, so the statement writes only once it holds
    the lock. Its parameters are then typed by themselves, no longer by the columns, so
    call it only with parameters that say their type (see `typed`).
    """
    match = _UPSERT.fullmatch(query)
    if match is None:
        return None
    lock = lock_row(match["schema"], "KEY SHARE")
    head = query[: match.start("row")].removesuffix("VALUES ")
    values = match["row"][1:-1]
    return f"WITH {_LOCK} AS ({lock}) {head}SELECT {values} FROM {_LOCK}{match['rest']}"


_TYPED: Final = frozenset({int, float, str, bytes})


def typed(parameters: Sequence[Any]) -> bool:
    """Whether psycopg sends each parameter with a type a column takes it as: an `int`,
    `float`, `str` or `bytes` (not `None`, whose type the server would guess as text)."""
    return all(type(value) in _TYPED for value in parameters)
