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

import dataclasses
import functools
import os
import sqlite3
from dataclasses import dataclass
from typing import Final

from tpstore._backends.base import CATALOG, CATALOG_COLUMNS, COUNTS, HISTORY
from tpstore._backends.statements import (
    CatalogSQL,
    MappingSQL,
    SequenceSQL,
    SingleSQL,
    ToolSQL,
    ValuesSQL,
    history_statements,
    mapping_statements,
    sequence_statements,
    single_statements,
    tool_statements,
    values_statements,
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
        """The statements creating a file's catalog, counts and history tables when missing."""
        return [
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{CATALOG} ("
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
            "key_codec TEXT, key_affinity TEXT, value_codec TEXT, value_affinity TEXT, "
            "key_schema TEXT, value_schema TEXT, options TEXT NOT NULL, "
            "format INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{COUNTS} ("
            "id INTEGER PRIMARY KEY, count INTEGER NOT NULL DEFAULT 0)",
            _catalog(schema).history.create,
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
        return single_statements(f"{quote(schema)}.{quote(table)}")

    def count(self, schema: str) -> str:
        """The statement reading a collection's item count, by its catalog id (the id
        of the count row its triggers keep)."""
        return f"SELECT count FROM {quote(schema)}.{COUNTS} WHERE id = ?"

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
        return values_statements(f"{quote(schema)}.{quote(table)}", layout)

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
    exists = f"SELECT 1 FROM {quote(schema)}.sqlite_master WHERE type = 'table' AND name = "
    return CatalogSQL(
        has_catalog=f"{exists}'{CATALOG}'",
        has_counts=f"{exists}'{COUNTS}'",
        has_history=f"{exists}'{HISTORY}'",
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
        history=history_statements(
            catalog,
            f"{quote(schema)}.{HISTORY}",
            integer="INTEGER",
            real="REAL",
            text="TEXT",
            same="IS",
        ),
    )


def _mapping(
    schema: str, table: str, layout: str, *, has_value: bool, expiring: bool
) -> MappingSQL:
    """Write every statement of a mapping or set table once, when the collection is bound."""
    return mapping_statements(
        f"{quote(schema)}.{quote(table)}",
        layout,
        has_value=has_value,
        expiring=expiring,
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
    return tool_statements(
        f"{quote(schema)}.{quote(table)}",
        layout,
        has_key=has_key,
        has_value=has_value,
        expiring=expiring,
        single_set=dialect.single(schema, table).set,
    )


def _sequence(schema: str, table: str, *, returning: bool) -> SequenceSQL:
    """Write every statement of a `positioned` table once, when the collection is bound."""
    sql = sequence_statements(f"{quote(schema)}.{quote(table)}", smaller="min")
    if returning:
        return sql
    # Without RETURNING (before 3.35) the collection reads `first`/`last` and deletes by
    # position in one transaction.
    return dataclasses.replace(sql, pop_first=None, pop_last=None)
