"""The SQLite dialect: every SQL statement tpstore runs on SQLite is written here.

Collections never build SQL themselves; they take the statement bundles of
`tpstore._backends.statements` that this dialect writes for their table layout. Another
backend brings its own dialect (DESIGN.md §10), not other collections.

Feature detection lives here too: STRICT tables (3.37) and RETURNING (3.35) are used
when the linked SQLite has them. Setting the environment variable
`TPSTORE_SQLITE_FALLBACKS=1` forces the fallbacks, so the test suite can check them on
a new SQLite. (Expiry compares with the time tpstore's clock gives, passed as a
parameter, so no SQL date function is used.)
"""

from __future__ import annotations

import functools
import os
import sqlite3
from dataclasses import dataclass
from typing import Final

from tpstore._backends.base import CATALOG, CATALOG_COLUMNS, COUNTS
from tpstore._backends.statements import (
    CatalogSQL,
    MappingSQL,
    SequenceSQL,
    SingleSQL,
    ToolSQL,
    ValuesSQL,
)
from tpstore.errors import TpStoreError

MIN_SQLITE: Final = (3, 34, 0)
"""The oldest SQLite tpstore runs on (DESIGN.md §2)."""

MAX_PARAMS: Final = 999
"""The parameters one statement may take on every supported SQLite (3.32 raised the
default limit to 32,766; builds may lower it, never below 999)."""


@dataclass(frozen=True)
class Features:
    """What the linked SQLite can do."""

    strict: bool
    returning: bool

    @classmethod
    def detect(cls) -> Features:
        """The features of the linked SQLite, all off when fallbacks are forced.

        Raises:
            TpStoreError: the linked SQLite is older than 3.34.
        """
        version = sqlite3.sqlite_version_info
        if version < MIN_SQLITE:
            raise TpStoreError(
                f"tpstore needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer, but this "
                f"Python uses SQLite {sqlite3.sqlite_version}; use a Python built with a "
                "newer SQLite"
            )
        if os.environ.get("TPSTORE_SQLITE_FALLBACKS", "") not in ("", "0"):
            return cls(strict=False, returning=False)
        return cls(strict=version >= (3, 37, 0), returning=version >= (3, 35, 0))


def quote(name: str) -> str:
    """Quote an SQL identifier (any string without NUL is a valid quoted identifier)."""
    return '"' + name.replace('"', '""') + '"'


class Dialect:
    """Builds the SQL for one schema (a file: `main` or an attached database)."""

    mark: Final = "?"
    max_params: Final = MAX_PARAMS

    def __init__(self, features: Features) -> None:
        self.features = features
        self.returning = features.returning

    @staticmethod
    def quote(name: str) -> str:
        """Quote an identifier."""
        return quote(name)

    # -- table layouts ---------------------------------------------------------------

    def column_type(self, affinity: str) -> str:
        """The declared column type for a codec affinity."""
        if affinity == "ANY" and not self.features.strict:
            # Outside STRICT tables a column declared ANY gets NUMERIC affinity, which
            # would turn the text '1' into the integer 1; no type means no conversion.
            return ""
        return affinity

    def create_table(
        self,
        schema: str,
        table: str,
        layout: str,
        *,
        key_affinity: str | None,
        value_affinity: str | None,
        expiring: bool,
        catalog_id: int,
    ) -> list[str]:
        """The statements creating one collection's table, indexes and count triggers.

        Layouts:
            `keyed`: key-ordered mapping or set; the key is the primary key.
            `inserted`: insertion-ordered mapping or set; `seq` keeps insertion order.
            `positioned`: sequence or deque; `pos` is the position.
            `single`: one value in the row with `id = 0`.
        """
        name = f"{quote(schema)}.{quote(table)}"
        columns: list[str] = []
        without_rowid = False
        if layout == "keyed":
            columns.append(f"key {self.column_type(key_affinity or 'ANY')} PRIMARY KEY NOT NULL")
            without_rowid = True
        elif layout == "inserted":
            columns.append("seq INTEGER PRIMARY KEY")
            columns.append(f"key {self.column_type(key_affinity or 'ANY')} NOT NULL UNIQUE")
        elif layout == "positioned":
            columns.append("pos INTEGER PRIMARY KEY")
        elif layout == "single":
            columns.append("id INTEGER PRIMARY KEY CHECK (id = 0)")
        else:  # pragma: no cover - the layouts are fixed by the collection classes
            raise ValueError(layout)
        if value_affinity is not None:
            columns.append(f"value {self.column_type(value_affinity)}")
        if expiring:
            columns.append("expires REAL")
        options = []
        if self.features.strict:
            options.append("STRICT")
        if without_rowid:
            options.append("WITHOUT ROWID")
        statements = [f"CREATE TABLE {name} ({', '.join(columns)}) {', '.join(options)}"]
        if expiring:
            index = quote(f"{table}/expires")
            statements.append(
                f"CREATE INDEX {quote(schema)}.{index} ON {quote(table)} (expires)"
                " WHERE expires IS NOT NULL"
            )
        # len() must not scan the table: a row of the counts table keeps the count, and
        # these triggers keep it exact inside the same transaction as the change. They
        # find the row by its INTEGER PRIMARY KEY, the cheapest lookup SQLite has,
        # because they run once per inserted or deleted row.
        for event, sign in (("INSERT", "+"), ("DELETE", "-")):
            trigger = quote(f"{table}/count{sign}")
            statements.append(
                f"CREATE TRIGGER {quote(schema)}.{trigger} AFTER {event} ON {quote(table)} "
                f"BEGIN UPDATE {COUNTS} SET count = count {sign} 1 WHERE id = {int(catalog_id)};"
                " END"
            )
        return statements

    def create_catalog(self, schema: str) -> list[str]:
        """The statements creating a file's catalog and counts tables when missing."""
        return [
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{CATALOG} ("
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
            "key_codec TEXT, key_affinity TEXT, value_codec TEXT, value_affinity TEXT, "
            "key_schema TEXT, value_schema TEXT, options TEXT NOT NULL, "
            "format INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{COUNTS} ("
            "id INTEGER PRIMARY KEY, count INTEGER NOT NULL DEFAULT 0)",
        ]

    def mapping(
        self, schema: str, table: str, layout: str, *, has_value: bool, expiring: bool
    ) -> MappingSQL:
        """The statements of a mapping or set table (`keyed` or `inserted` layout)."""
        return _mapping(schema, table, layout, has_value=has_value, expiring=expiring)

    def sequence(self, schema: str, table: str) -> SequenceSQL:
        """The statements of a `Sequence` or `Deque` table (`positioned` layout)."""
        return _sequence(schema, table, returning=self.features.returning)

    def single(self, schema: str, table: str) -> SingleSQL:
        """The statements of a `Value` table."""
        name = f"{quote(schema)}.{quote(table)}"
        return SingleSQL(
            get=f"SELECT value FROM {name} WHERE id = 0",
            set=f"INSERT INTO {name} (id, value) VALUES (0, ?) "
            "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            delete=f"DELETE FROM {name} WHERE id = 0",
        )

    def count(self, schema: str) -> str:
        """The statement reading a collection's item count, by table name."""
        return (
            f"SELECT c.count FROM {quote(schema)}.{CATALOG} AS t "
            f"JOIN {quote(schema)}.{COUNTS} AS c ON c.id = t.id WHERE t.name = ?"
        )

    # -- tools working from the catalog alone (the command line) ------------------------

    def tool(
        self,
        schema: str,
        table: str,
        layout: str,
        *,
        has_key: bool,
        has_value: bool,
        expiring: bool,
    ) -> ToolSQL:
        """Layout-generic statements of one collection table, for the command line.

        The command line reads and writes tables knowing only their catalog rows; it
        writes through the same statements (and so the same count triggers) as the
        collections do.
        """
        return _tool(
            self, schema, table, layout, has_key=has_key, has_value=has_value, expiring=expiring
        )

    @staticmethod
    def values(schema: str, table: str, layout: str) -> ValuesSQL:
        """Statements over the stored values of one table, in primary-key order."""
        name = f"{quote(schema)}.{quote(table)}"
        primary = {"keyed": "key", "inserted": "seq", "positioned": "pos", "single": "id"}[layout]
        key = "key" if layout in ("keyed", "inserted") else "NULL"
        select = f"SELECT {primary}, {key}, value FROM {name}"
        return ValuesSQL(
            first=f"{select} ORDER BY {primary} LIMIT ?",
            after=f"{select} WHERE {primary} > ? ORDER BY {primary} LIMIT ?",
            last=f"{select} ORDER BY {primary} DESC LIMIT ?",
            update=f"UPDATE {name} SET value = ? WHERE {primary} = ?",
        )

    @staticmethod
    def catalog(schema: str) -> CatalogSQL:
        """The statements on the catalog and counts tables of the file attached as `schema`."""
        return _catalog(schema)

    def integrity_check(self, schema: str, limit: int = 100, *, table: str | None = None) -> str:
        """SQLite's own consistency check of one file: rows of problems (at most
        `limit`), or one row `ok`; with `table`, of that table and its indexes only."""
        if table is not None:
            return f"PRAGMA {quote(schema)}.integrity_check({quote(table)})"
        return f"PRAGMA {quote(schema)}.integrity_check({int(limit)})"

    def tables(self, schema: str) -> str:
        """The statement listing the names of a file's tables."""
        return f"SELECT name FROM {quote(schema)}.sqlite_master WHERE type = 'table'"

    def counted_tables(self, schema: str) -> str:
        """The statement listing the tables that have tpstore's count triggers.

        Only tpstore creates a table with a trigger named `{table}/count+`, so this
        finds the tables tpstore created, with or without their catalog row.
        """
        return (
            f"SELECT tbl_name FROM {quote(schema)}.sqlite_master "
            "WHERE type = 'trigger' AND name = tbl_name || '/count+'"
        )

    def journal_mode(self, schema: str) -> str:
        """The statement reading a file's journal mode."""
        return f"PRAGMA {quote(schema)}.journal_mode"

    def pragma(self, schema: str, name: str) -> str:
        """Read one of a file's numeric pragmas (`page_size`, `page_count`...)."""
        if name not in ("page_size", "page_count", "freelist_count"):
            raise ValueError(name)
        return f"PRAGMA {quote(schema)}.{name}"

    def table_sizes(self, schema: str) -> str:
        """Bytes used per table, its indexes included (needs SQLite's `dbstat` table).

        One parameter: the schema name.
        """
        return (
            f"SELECT m.tbl_name, sum(s.pgsize) FROM dbstat(?, 1) AS s "
            f"JOIN {quote(schema)}.sqlite_master AS m ON m.name = s.name "
            "GROUP BY m.tbl_name"
        )

    def data_version(self, schema: str) -> str:
        """The statement reading a number that changes when another connection commits."""
        return f"PRAGMA {quote(schema)}.data_version"

    def vacuum(self, schema: str) -> str:
        """The statement rebuilding one file (outside any transaction)."""
        return f"VACUUM {quote(schema)}"

    def checkpoint(self, schema: str) -> str:
        """The statement copying the WAL into the file and truncating it (no-op without WAL)."""
        return f"PRAGMA {quote(schema)}.wal_checkpoint(TRUNCATE)"

    optimize: Final = "PRAGMA optimize"
    """The statement refreshing the query planner's statistics where they are stale."""


@functools.lru_cache(maxsize=16)
def _catalog(schema: str) -> CatalogSQL:
    catalog = f"{quote(schema)}.{CATALOG}"
    counts = f"{quote(schema)}.{COUNTS}"
    columns = ", ".join(f"t.{column}" for column in CATALOG_COLUMNS)
    inserted = CATALOG_COLUMNS[1:]
    return CatalogSQL(
        has_catalog=f"SELECT 1 FROM {quote(schema)}.sqlite_master "
        f"WHERE type = 'table' AND name = '{CATALOG}'",
        has_counts=f"SELECT 1 FROM {quote(schema)}.sqlite_master "
        f"WHERE type = 'table' AND name = '{COUNTS}'",
        read=f"SELECT {columns}, coalesce(c.count, 0) FROM {catalog} AS t "
        f"LEFT JOIN {counts} AS c ON c.id = t.id ORDER BY t.name",
        insert=f"INSERT INTO {catalog} ({', '.join(inserted)}) "
        f"VALUES ({', '.join('?' * len(inserted))})",
        id_of=f"SELECT id FROM {catalog} WHERE name = ?",
        reset_count=f"INSERT INTO {counts} (id, count) VALUES (?, 0) "
        "ON CONFLICT (id) DO UPDATE SET count = 0",
        update_descriptions=f"UPDATE {catalog} SET key_schema = ?, value_schema = ?, "
        "options = ? WHERE name = ?",
        # SQLite matches names without regard to ASCII case, so this check does too.
        name_taken=f"SELECT 1 FROM {quote(schema)}.sqlite_master WHERE name = ? COLLATE NOCASE",
    )


def _mapping(
    schema: str, table: str, layout: str, *, has_value: bool, expiring: bool
) -> MappingSQL:
    """Write every statement of a mapping or set table once, when the collection is bound."""
    name = f"{quote(schema)}.{quote(table)}"
    order = "key" if layout == "keyed" else "seq"
    live = " AND (expires IS NULL OR expires > ?)" if expiring else ""
    where_live = " WHERE (expires IS NULL OR expires > ?)" if expiring else ""
    value = ", value" if has_value else ""
    # Ordered layouts select the order column too, so iteration can resume after it.
    picked = f"key{value}" if order == "key" else f"seq, key{value}"
    picked_keys = "key" if order == "key" else "seq, key"
    insert_columns = ", ".join(
        ["key"] + (["value"] if has_value else []) + (["expires"] if expiring else [])
    )
    marks = ", ".join("?" * (1 + has_value + expiring))
    updates = [c for c in ("value" if has_value else "", "expires" if expiring else "") if c]
    on_conflict = (
        "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
        if updates
        else "DO NOTHING"
    )
    return MappingSQL(
        order=order,
        get=f"SELECT {'value' if has_value else '1'} FROM {name} WHERE key = ?{live}",
        contains=f"SELECT 1 FROM {name} WHERE key = ?{live}",
        upsert=f"INSERT INTO {name} ({insert_columns}) VALUES ({marks}) "
        f"ON CONFLICT (key) {on_conflict}",
        delete=f"DELETE FROM {name} WHERE key = ?{live}",
        first=f"SELECT key{value} FROM {name}{where_live} ORDER BY {order} ASC LIMIT 1",
        last=f"SELECT key{value} FROM {name}{where_live} ORDER BY {order} DESC LIMIT 1",
        clear=f"DELETE FROM {name}",
        count_expired=(
            f"SELECT count(*) FROM {name} WHERE expires IS NOT NULL AND expires <= ?"
            if expiring
            else None
        ),
        purge=(
            f"DELETE FROM {name} WHERE expires IS NOT NULL AND expires <= ?" if expiring else None
        ),
        expires_at=f"SELECT expires FROM {name} WHERE key = ?{live}" if expiring else None,
        touch=f"UPDATE {name} SET expires = ? WHERE key = ?{live}" if expiring else None,
        delete_expired_key=(
            f"DELETE FROM {name} WHERE key = ? AND expires IS NOT NULL AND expires <= ?"
            if expiring
            else None
        ),
        get_many_template=f"SELECT key{value} FROM {name} WHERE key IN ({{marks}}){live}",
        # The ends of the order column, expired rows included: an iteration stops there.
        lowest=f"SELECT min({order}) FROM {name}",
        highest=f"SELECT max({order}) FROM {name}",
        table=name,
        picked=picked,
        picked_keys=picked_keys,
        expiring=expiring,
        mark="?",
        # Well under the parameter limit (the current time rides along); IN lists of
        # many lengths would crowd the statement cache, so batches are not larger.
        batch=500,
    )


def _tool(
    dialect: Dialect,
    schema: str,
    table: str,
    layout: str,
    *,
    has_key: bool,
    has_value: bool,
    expiring: bool,
) -> ToolSQL:
    """Write the command line's statements of one table."""
    name = f"{quote(schema)}.{quote(table)}"
    columns = [
        c
        for c, present in (("key", has_key), ("value", has_value), ("expires", expiring))
        if present
    ]
    order = {"keyed": "key", "inserted": "seq", "positioned": "pos", "single": "id"}[layout]
    live = " AND (expires IS NULL OR expires > ?)" if expiring else ""
    picked = ", ".join([order, *columns])

    def page(bound: str, direction: str) -> str:
        return (
            f"SELECT {picked} FROM {name} WHERE {bound}{live} ORDER BY {order} {direction} LIMIT ?"
        )

    count_expired = purge = before_put = trim = None
    if layout in ("keyed", "inserted"):
        mapping = _mapping(schema, table, layout, has_value=has_value, expiring=expiring)
        put = mapping.upsert
        count_expired, purge = mapping.count_expired, mapping.purge
        if layout == "inserted" and expiring:
            before_put = mapping.delete_expired_key
    elif layout == "positioned":
        sequence = _sequence(schema, table, returning=False)
        put, trim = sequence.append, sequence.trim_first
    else:
        put = dialect.single(schema, table).set
    return ToolSQL(
        first=page("1", "ASC"),
        after=page(f"{order} > ?", "ASC"),
        before=page(f"{order} < ?", "DESC"),
        last=page("1", "DESC"),
        count_rows=f"SELECT count(*) FROM {name}",
        count_expired=count_expired,
        purge=purge,
        put=put,
        before_put=before_put,
        trim=trim,
    )


def _sequence(schema: str, table: str, *, returning: bool) -> SequenceSQL:
    """Write every statement of a `positioned` table once, when the collection is bound."""
    name = f"{quote(schema)}.{quote(table)}"
    low = f"(SELECT min(pos) FROM {name})"
    high = f"(SELECT max(pos) FROM {name})"
    return SequenceSQL(
        table=name,
        # Two subqueries: SQLite answers a lone min() or max() from the b-tree
        # edge, but `SELECT min(pos), max(pos)` would scan the table.
        bounds=f"SELECT {low}, {high}",
        # Parameter: the index, from the first item (>= 0) or past the last (< 0).
        get_from_first=f"SELECT value FROM {name} WHERE pos = {low} + ?",
        get_from_last=f"SELECT value FROM {name} WHERE pos = {high} + 1 + ?",
        set_from_first=f"UPDATE {name} SET value = ? WHERE pos = {low} + ?",
        set_from_last=f"UPDATE {name} SET value = ? WHERE pos = {high} + 1 + ?",
        first=f"SELECT pos, value FROM {name} WHERE pos = {low}",
        last=f"SELECT pos, value FROM {name} WHERE pos = {high}",
        # A page of (pos, value) from an index on. Parameters: the index, the page size.
        from_index=f"SELECT pos, value FROM {name} WHERE pos >= {low} + ? ORDER BY pos LIMIT ?",
        append=f"INSERT INTO {name} (pos, value) "
        f"VALUES ((SELECT coalesce(max(pos) + 1, 0) FROM {name}), ?)",
        appendleft=f"INSERT INTO {name} (pos, value) "
        f"VALUES ((SELECT coalesce(min(pos) - 1, 0) FROM {name}), ?)",
        # With RETURNING (3.35) a pop is one statement; without it (None) the collection
        # reads `first`/`last` and deletes by position in one transaction.
        pop_first=f"DELETE FROM {name} WHERE pos = {low} RETURNING pos, value"
        if returning
        else None,
        pop_last=f"DELETE FROM {name} WHERE pos = {high} RETURNING pos, value"
        if returning
        else None,
        insert_at=f"INSERT INTO {name} (pos, value) VALUES (?, ?)",
        update_at=f"UPDATE {name} SET value = ? WHERE pos = ?",
        delete_at=f"DELETE FROM {name} WHERE pos = ?",
        # Ranges are half-open: lower <= pos < upper.
        delete_range=f"DELETE FROM {name} WHERE pos >= ? AND pos < ?",
        delete_stepped=f"DELETE FROM {name} WHERE pos >= ? AND pos < ? AND (pos - ?) % ? = 0",
        # Parameters: factor (1 or -1), offset, lower, upper: pos -> factor*pos + offset.
        move=f"UPDATE {name} SET pos = ? * pos + ? WHERE pos >= ? AND pos < ?",
        # After deleting `count` rows at first, first + step, ...: every row past
        # `first` moves down by the number of deleted rows below it, plus an offset
        # (the first of the two steps). Parameters: offset, count, first, step,
        # step, first.
        close_gaps=f"UPDATE {name} SET pos = pos + ? - min(?, (pos - ? + ? - 1) / ?) WHERE pos > ?",
        # maxlen: keep at most `?` items, dropping from the other end.
        trim_first=f"DELETE FROM {name} WHERE pos <= {high} - ?",
        trim_last=f"DELETE FROM {name} WHERE pos >= {low} + ?",
        clear=f"DELETE FROM {name}",
        mark="?",
    )
