"""Counter rows kept by the writing statements themselves, without triggers.

`len()` reads the sum of a collection's counter rows (`dialect.SHARDS` rows a
collection, a writer adding to the row of its own server process). Every statement that
inserts or deletes rows of a collection table is sent wrapped (`counted`) in a statement
that also adds its changed rows to its counter row, in one data-modifying `WITH`:

    WITH _tpstore_written AS (
        <the statement> RETURNING <its columns>, <changed> AS _tpstore_new),
    _tpstore_counted AS (
        INSERT INTO counts ... SELECT ..., count(*) FROM _tpstore_written
        WHERE _tpstore_new HAVING count(*) > 0
        ON CONFLICT (id, shard) DO UPDATE SET count = c.count + excluded.count)
    SELECT <its columns> FROM _tpstore_written

An insert's new rows are those with `xmax = 0` (an `ON CONFLICT DO UPDATE` that updated
a row returns it with the updating transaction in `xmax`); a delete's rows are all
removed. The statement keeps what the engine reads of it: its `RETURNING` rows, in the
same order, and its row count (a `SELECT`'s row count is its number of rows; without
`RETURNING`, `SELECT FROM` rows without columns). An insert into a positioned table (a
`Sequence` or `Deque`) also announces itself on the schema's channel (`pg_notify`, sent
at commit), which blocking pops listen to.

Why not triggers (the first design): statement-level triggers with transition tables
were measured at 20-30 µs per single write (a plpgsql call per statement, fired even
when the statement inserted nothing, plus the notify trigger's on appends), against
15-19 µs for the same counting inside the statement; and there is no way to skip a
trigger for some statements only without a cost per statement, so the triggers are gone
for every statement, single or bulk.

Tables whose names start with `_tpstore_` (the catalog, counts, history and locks) are
not collections: their statements are sent as they are.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from tpstore._backends.base import CATALOG, COUNTS, RESERVED_PREFIX
from tpstore._backends.postgresql.dialect import SHARDS, channel_of

_QUOTED: Final = r'"(?:[^"]|"")*"'
_OPAQUE = re.compile(rf"{_QUOTED}|'(?:[^']|'')*'")
_TARGET = re.compile(
    rf"(?:WITH .*? )?(?P<verb>INSERT INTO|DELETE FROM) (?P<schema>{_QUOTED})\.(?P<table>{_QUOTED})"
    r"(?P<positioned>(?: AS \w+)? \(pos, )?",
    re.DOTALL,
)
_WRITTEN: Final = "_tpstore_written"


def _masked(query: str) -> str:
    """`query` with every quoted name and literal blanked out, at the same length."""
    return _OPAQUE.sub(lambda m: m[0][0] + "x" * (len(m[0]) - 2) + m[0][-1], query)


def _top_level(masked: str, at: int) -> bool:
    return masked.count("(", 0, at) == masked.count(")", 0, at)


def _split(masked: str, text: str) -> list[str]:
    """`text` cut at the commas outside parentheses (positions read from `masked`)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(masked):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"')


@dataclass(frozen=True)
class Target:
    """The collection table a statement inserts into or deletes from."""

    schema: str
    """The quoted schema, as the statement writes it."""
    table: str
    """The table's name, unquoted (still in psycopg's style: `%%` for a `%`)."""


@functools.lru_cache(maxsize=1024)
def _parsed(query: str) -> tuple[str, re.Match[str], Target] | None:
    """`query` masked (`_masked`), its `_TARGET` match and its collection table, when it
    inserts into or deletes from one."""
    masked = _masked(query)
    match = _TARGET.match(masked)
    if match is None:
        return None
    table = _unquote(query[match.start("table") : match.end("table")])
    if table.startswith(RESERVED_PREFIX):
        return None
    return masked, match, Target(query[match.start("schema") : match.end("schema")], table)


def target(query: str) -> Target | None:
    """The collection table whose rows `query` inserts or deletes, if any."""
    parsed = _parsed(query)
    return None if parsed is None else parsed[2]


@functools.lru_cache(maxsize=1024)
def counted(query: str, catalog_id: int | None = None) -> str:
    """`query` (psycopg's parameter style) keeping its collection's counter row, when
    it inserts into or deletes from a collection table; else `query` itself.

    `catalog_id`: the collection's id, when the caller knows it (it is then written in
    the statement; else the statement reads it from the catalog by the table's name).
    """
    parsed = _parsed(query)
    if parsed is None:
        return query
    masked, match, found = parsed
    schema, table = found.schema, found.table
    inserting = match["verb"] == "INSERT INTO"
    at = masked.rfind(" RETURNING ")
    if at >= 0 and _top_level(masked, at):
        start = at + len(" RETURNING ")
        returned = _split(masked[start:], query[start:])
        head = query[:at]
    else:
        returned, head = [], query
    aliases = [f"_tpstore_{i}" for i in range(len(returned))]
    columns = [f"{column} AS {alias}" for column, alias in zip(returned, aliases, strict=True)]
    columns.append(f"{'xmax = 0' if inserting else 'true'} AS _tpstore_new")
    notify = ""
    if inserting and match["positioned"]:
        # (`%%` is a `%` of the name: the query is in psycopg's style.)
        channel = channel_of(_unquote(schema).replace("%%", "%"))
        notify = f", pg_notify('{channel}', '')"
    name = table.replace("'", "''")
    collection = (
        f"(SELECT id FROM {schema}.{CATALOG} WHERE name = '{name}')"
        if catalog_id is None
        else str(int(catalog_id))
    )
    sign = "" if inserting else "-"
    if _one_row(masked[match.end("table") :], inserting=inserting):
        # (No aggregate: measured 5-7 µs cheaper. One row at most, so the counter row
        # is not updated twice by the statement.)
        rows = f"{sign}1 FROM {_WRITTEN}{notify} WHERE _tpstore_new"
    else:
        rows = f"{sign}count(*) FROM {_WRITTEN}{notify} WHERE _tpstore_new HAVING count(*) > 0"
    counter = (
        f"INSERT INTO {schema}.{COUNTS} AS c (id, shard, count) "
        f"SELECT {collection}, pg_backend_pid() %% {SHARDS}, {rows} "
        "ON CONFLICT (id, shard) DO UPDATE SET count = c.count + excluded.count"
    )
    return (
        f"WITH {_WRITTEN} AS ({head} RETURNING {', '.join(columns)}), "
        f"_tpstore_counted AS ({counter}) SELECT {', '.join(aliases)} FROM {_WRITTEN}"
    )


_ONE_DELETED = re.compile(
    r" WHERE (?:key|pos|id) = (?:%s|0|\(SELECT [^()]*\))(?: AND | RETURNING |$)"
)


def _one_row(rest: str, *, inserting: bool) -> bool:
    """Whether the statement whose text after its table's name is `rest` (masked)
    changes one row at most: an insert of one `VALUES` row or of the one row selected
    from the lock row (`rewrites.locked_upsert`); a delete by the table's primary or
    unique key."""
    if not inserting:
        return _ONE_DELETED.match(rest) is not None and not _at_top_level(rest, " OR ")
    at = _at_top_level(rest, " VALUES (")
    if at is None:
        return _at_top_level(rest, " FROM _tpstore_lock ON CONFLICT ") is not None
    depth = 0
    for i in range(at + len(" VALUES "), len(rest)):
        if rest[i] == "(":
            depth += 1
        elif rest[i] == ")":
            depth -= 1
            if depth == 0:
                return not rest.startswith(", (", i + 1)
    return False  # pragma: no cover - the statement's parentheses are balanced


def _at_top_level(text: str, part: str) -> int | None:
    """Where `part` first stands in `text` outside parentheses, if it does."""
    at = text.find(part)
    while at >= 0:
        if _top_level(text, at):
            return at
        at = text.find(part, at + 1)
    return None
