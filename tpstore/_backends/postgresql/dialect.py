"""The PostgreSQL dialect: every SQL statement tpstore runs on PostgreSQL is written here.

It writes the same statement bundles as the SQLite dialect
(`tpstore._backends.statements`), for the same table layouts, so the collections run
unchanged. Statements use `?` placeholders like SQLite's; the driver turns them into
psycopg's (`tpstore._backends.postgresql.driver.convert`).

Differences from SQLite, and why:

- Types: INTEGER → `bigint`, REAL → `double precision`, TEXT → `text`, BLOB → `bytea`;
  JSON values stay `text` (`jsonb` reorders keys and refuses `\\u0000`). `ANY` has no
  PostgreSQL column type and is refused with `SchemaError`. Text keys are
  `COLLATE "C"`: code-point order, as Python orders `str`, whatever the database's
  locale; `bytea` orders bytewise, so tuple keys keep Python's order.
- Schemas: the store's `main` is the session's current schema and each attached name
  maps to a schema of the same database; statements name the real schema.
- Counts: `len()` reads the sum of a few counter rows per collection ("shards"). Each
  writer adds its changes to the row of its own server process, so independent writers
  on many machines do not queue on one hot row. The writing statements keep the
  counter rows themselves, in a data-modifying `WITH` around each statement that
  inserts or deletes rows (`tpstore._backends.postgresql.counting`, which says why not
  triggers): a whole statement's rows at once (a bulk `update` of 10,000 items changes
  a counter once a chunk, not 10,000 times). The same statement announces an append to
  a deque (`pg_notify`) for blocking pops.
- Pops: `DELETE ... WHERE pos = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)`. Without
  SKIP LOCKED, a consumer whose pop lost the race for the first item would find it gone
  and answer "empty" while the deque still holds items.
- Identifiers longer than the server's limit (63 bytes) would be cut silently by the
  server; they are refused with `SchemaError` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
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
from tpstore.errors import SchemaError

MAX_IDENTIFIER: Final = 63
"""The longest identifier, in bytes, of a PostgreSQL server built with the defaults."""

MAX_PARAMS: Final = 32_767
"""PostgreSQL's limit on one statement's parameters is 65,535; half keeps plans small."""

SHARDS: Final = 16
"""Counter rows per collection: a writer adds to the row of `pg_backend_pid() % SHARDS`."""

LOCKS: Final = "_tpstore_locks"
"""The table holding the store's writer lock row (one per schema)."""

COLLECTION_COMMENT: Final = "tpstore collection"
"""The comment on every collection table tpstore creates (`Dialect.counted_tables`)."""

OLD_TRIGGERS: Final = ("_tpstore_count_insert", "_tpstore_count_delete", "_tpstore_notify")
"""The triggers that kept the counts and announced appends in stores made before the
statements kept them (`Dialect.old_triggers`); dropped when such a store opens."""

OLD_FUNCTIONS: Final = ("_tpstore_count", "_tpstore_notify")
"""The trigger functions of `OLD_TRIGGERS`, one per schema."""

_TYPES: Final = {
    "INTEGER": "bigint",
    "REAL": "double precision",
    "TEXT": "text",
    "BLOB": "bytea",
}


def channel_of(real: str) -> str:
    """The LISTEN/NOTIFY channel of the deques of the real schema `real` (a hash: channel
    names share the 63-byte limit of identifiers, and a schema name may use all of it)."""
    return "tpstore_" + hashlib.sha256(real.encode()).hexdigest()[:24]


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lock_row(schema: str, strength: str) -> str:
    """The statement taking the writer lock row of `schema` (quoted) until commit.

    `strength`: `"UPDATE"` for a writing transaction (the analogue of SQLite's `BEGIN
    IMMEDIATE`); `"KEY SHARE"` for a single write, which then never runs in the middle
    of a writing transaction, but does not wait for other single writes.
    """
    return f"SELECT id FROM {schema}.{LOCKS} WHERE id = 0 FOR {strength}"


class Dialect:
    """Builds the SQL for the schemas of one store.

    Args:
        schemas: each schema name the store uses (`main` and the `attach=` names) →
            the real schema in the database.
    """

    mark: Final = "?"
    max_params: Final = MAX_PARAMS
    returning: Final = True
    text_holds_nul: Final = False
    """PostgreSQL text cannot hold `"\x00"`: the collections refuse such text values
    and treat such keys as matching nothing."""

    def __init__(self, schemas: dict[str, str]) -> None:
        self.schemas = dict(schemas)

    # -- identifiers -----------------------------------------------------------------

    def check_name(self, name: str, what: str) -> None:
        """Refuse a name longer than the server keeps (it would be cut silently)."""
        if len(name.encode("utf-8")) > MAX_IDENTIFIER:
            raise SchemaError(
                f"{what} name {name!r} is {len(name.encode())} bytes long, but PostgreSQL "
                f"keeps at most {MAX_IDENTIFIER} bytes of a name; choose a shorter one "
                "(with field(table=...), or a shorter namespace)"
            )
        if "\x00" in name:
            raise SchemaError(f"{what} name {name!r} holds a NUL character")

    @staticmethod
    def quote(name: str) -> str:
        """Quote an identifier."""
        return quote(name)

    def schema(self, schema: str) -> str:
        """The quoted real schema of the store's schema `schema`."""
        return quote(self.schemas.get(schema, schema))

    def table(self, schema: str, table: str) -> str:
        """The qualified, quoted name of a table."""
        return f"{self.schema(schema)}.{quote(table)}"

    # -- table layouts ---------------------------------------------------------------

    def column_type(self, affinity: str) -> str:
        """The column type for a codec affinity.

        Raises:
            SchemaError: `ANY`, which PostgreSQL has no column type for.
        """
        try:
            return _TYPES[affinity]
        except KeyError:
            raise SchemaError(
                f"a codec with affinity {affinity!r} needs SQLite's typeless columns; "
                "PostgreSQL columns have one type: choose a codec with a fixed affinity"
            ) from None

    def _key_type(self, affinity: str | None) -> str:
        column = self.column_type(affinity or "ANY")
        # Code-point order whatever the database's collation, as Python orders str.
        return f'{column} COLLATE "C"' if column == "text" else column

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
        """The statements creating one collection's table and index.

        Layouts as for SQLite (`keyed`, `inserted`, `positioned`, `single`).
        """
        name = self.table(schema, table)
        columns: list[str] = []
        if layout == "keyed":
            columns.append(f"key {self._key_type(key_affinity)} PRIMARY KEY")
        elif layout == "inserted":
            columns.append("seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
            columns.append(f"key {self._key_type(key_affinity)} NOT NULL UNIQUE")
        elif layout == "positioned":
            columns.append("pos bigint PRIMARY KEY")
        elif layout == "single":
            columns.append("id bigint PRIMARY KEY CHECK (id = 0)")
        else:  # pragma: no cover - the layouts are fixed by the collection classes
            raise ValueError(layout)
        if value_affinity is not None:
            columns.append(f"value {self.column_type(value_affinity)}")
        if expiring:
            columns.append("expires double precision")
        statements = [f"CREATE TABLE {name} ({', '.join(columns)})"]
        catalog_id = int(catalog_id)
        if expiring:
            # Named after the catalog id: unique in the schema, and short whatever the
            # table's name.
            statements.append(
                f"CREATE INDEX {quote(f'_tpstore_expires_{catalog_id}')} ON {name} (expires)"
                " WHERE expires IS NOT NULL"
            )
        # What tells tpstore's tables apart (`counted_tables`): the count is kept by the
        # writing statements themselves (`tpstore._backends.postgresql.counting`).
        statements.append(f"COMMENT ON TABLE {name} IS '{COLLECTION_COMMENT}'")
        return statements

    def create_catalog(self, schema: str) -> list[str]:
        """The statements creating a schema's catalog, counts, history and locks when missing."""
        real = self.schema(schema)
        counts = f"{real}.{COUNTS}"
        return [
            f"CREATE SCHEMA IF NOT EXISTS {real}",
            f"CREATE TABLE IF NOT EXISTS {real}.{CATALOG} ("
            "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            'name text COLLATE "C" NOT NULL UNIQUE, kind text NOT NULL, '
            "key_codec text, key_affinity text, value_codec text, value_affinity text, "
            "key_schema text, value_schema text, options text NOT NULL, "
            "format bigint NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {counts} ("
            "id bigint NOT NULL, shard integer NOT NULL, count bigint NOT NULL DEFAULT 0, "
            "PRIMARY KEY (id, shard))",
            self.catalog(schema).history.create,
            f"CREATE TABLE IF NOT EXISTS {real}.{LOCKS} (id integer PRIMARY KEY)",
            f"INSERT INTO {real}.{LOCKS} (id) VALUES (0) ON CONFLICT (id) DO NOTHING",
        ]

    def channel(self, schema: str) -> str:
        """The LISTEN/NOTIFY channel on which appends to a schema's deques are announced.

        Derived from the real schema name by a hash: channel names share the 63-byte
        limit of identifiers, and a schema name may use all of it.
        """
        return channel_of(self.schemas.get(schema, schema))

    def has_locks(self, schema: str) -> str:
        """Whether a schema has tpstore's locks table (a store created there before)."""
        return f"SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = ? AND tablename = '{LOCKS}'"

    def mapping(
        self, schema: str, table: str, layout: str, *, has_value: bool, expiring: bool
    ) -> MappingSQL:
        """The statements of a mapping or set table (`keyed` or `inserted` layout)."""
        return _mapping(self.table(schema, table), layout, has_value=has_value, expiring=expiring)

    def sequence(self, schema: str, table: str) -> SequenceSQL:
        """The statements of a `Sequence` or `Deque` table (`positioned` layout)."""
        return _sequence(self.table(schema, table))

    def single(self, schema: str, table: str) -> SingleSQL:
        """The statements of a `Value` table."""
        return single_statements(self.table(schema, table))

    def count(self, schema: str) -> str:
        """The statement reading a collection's item count, by its catalog id (the id
        of the counter rows its writing statements keep)."""
        return f"SELECT coalesce(sum(count), 0) FROM {self.schema(schema)}.{COUNTS} WHERE id = ?"

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
        """Layout-generic statements of one collection table, for the command line."""
        return tool_statements(
            self.table(schema, table),
            layout,
            has_key=has_key,
            has_value=has_value,
            expiring=expiring,
            single_set=self.single(schema, table).set,
        )

    def values(self, schema: str, table: str, layout: str) -> ValuesSQL:
        """Statements over the stored values of one table, in primary-key order."""
        return values_statements(self.table(schema, table), layout)

    def catalog(self, schema: str) -> CatalogSQL:
        """The statements on the catalog and counts tables of `schema`."""
        return _catalog(self.schemas.get(schema, schema))

    def tables(self, schema: str) -> str:
        """The statement listing the names of a schema's tables."""
        return (
            "SELECT tablename FROM pg_catalog.pg_tables "
            f"WHERE schemaname = '{_literal(self.schemas.get(schema, schema))}'"
        )

    def counted_tables(self, schema: str) -> str:
        """The statement listing the schema's collection tables (those tpstore created
        bear its comment), with or without their catalog row."""
        return (
            "SELECT c.relname FROM pg_catalog.pg_class AS c "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{_literal(self.schemas.get(schema, schema))}' "
            f"AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') = '{COLLECTION_COMMENT}'"
        )

    @staticmethod
    def old_triggers() -> str:
        """The statement listing the count and notify triggers of a store made before
        the statements kept the counts: `(table, trigger)`. One parameter: the real
        schema."""
        names = ", ".join(f"'{name}'" for name in OLD_TRIGGERS)
        return (
            "SELECT c.relname, t.tgname FROM pg_catalog.pg_trigger AS t "
            "JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = %s AND t.tgname IN ({names}) ORDER BY 1, 2"
        )

    @staticmethod
    def drop_old_triggers(real: str, found: list[tuple[str, str]]) -> list[str]:
        """The statements turning a store made before the statements kept the counts
        into one of today: its triggers and their functions dropped (the counter rows
        they kept stay right), its collection tables marked as `create_table` marks
        them."""
        schema = quote(real)
        statements = [f"DROP TRIGGER IF EXISTS {quote(t)} ON {schema}.{quote(n)}" for n, t in found]
        statements += [
            f"COMMENT ON TABLE {schema}.{quote(name)} IS '{COLLECTION_COMMENT}'"
            for name in sorted({name for name, _ in found})
        ]
        statements += [f"DROP FUNCTION IF EXISTS {schema}.{quote(f)}()" for f in OLD_FUNCTIONS]
        return statements

    def table_sizes(self, schema: str) -> str:
        """Bytes used per table, indexes included. One parameter, ignored: the schema."""
        real = _literal(self.schemas.get(schema, schema))
        return (
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_catalog.pg_class AS c "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{real}' AND c.relkind = 'r' AND CAST(? AS text) IS NOT NULL"
        )

    def vacuum(self, schema: str, table: str) -> str:
        """The statement vacuuming one table (outside any transaction)."""
        return f"VACUUM {self.table(schema, table)}"

    def analyze(self, schema: str, table: str) -> str:
        """The statement refreshing one table's planner statistics."""
        return f"ANALYZE {self.table(schema, table)}"


def _literal(text: str) -> str:
    return text.replace("'", "''")


@functools.lru_cache(maxsize=16)
def _catalog(real: str) -> CatalogSQL:
    schema = quote(real)
    catalog = f"{schema}.{CATALOG}"
    counts = f"{schema}.{COUNTS}"
    columns = ", ".join(f"t.{column}" for column in CATALOG_COLUMNS)
    inserted = CATALOG_COLUMNS[1:]
    exists = (
        f"SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = '{_literal(real)}' AND tablename = "
    )
    return CatalogSQL(
        has_catalog=f"{exists}'{CATALOG}'",
        has_counts=f"{exists}'{COUNTS}'",
        has_history=f"{exists}'{HISTORY}'",
        read=f"SELECT {columns}, coalesce(c.count, 0) FROM {catalog} AS t "
        f"LEFT JOIN (SELECT id, sum(count) AS count FROM {counts} GROUP BY id) AS c "
        "ON c.id = t.id ORDER BY t.name",
        insert=f"INSERT INTO {catalog} ({', '.join(inserted)}) "
        f"VALUES ({', '.join('?' * len(inserted))})",
        id_of=f"SELECT id FROM {catalog} WHERE name = ?",
        # No counter row at all is a count of zero.
        reset_count=f"DELETE FROM {counts} WHERE id = ?",
        update_descriptions=f"UPDATE {catalog} SET key_schema = ?, value_schema = ?, "
        "options = ? WHERE name = ?",
        # Names that differ only in ASCII case are refused on every backend (SQLite
        # does not tell them apart), so this check ignores case too.
        name_taken="SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = "
        f"'{_literal(real)}' AND lower(tablename) = lower(?)",
        history=history_statements(
            catalog,
            f"{schema}.{HISTORY}",
            integer="bigint",
            real="double precision",
            text="text",
            same="IS NOT DISTINCT FROM",
        ),
    )


def _mapping(name: str, layout: str, *, has_value: bool, expiring: bool) -> MappingSQL:
    # An increment is one UPSERT: atomic by itself, so it takes no store-wide lock.
    increment = (
        None
        if expiring or not has_value
        else f"INSERT INTO {name} AS t (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = t.value + ? RETURNING value"
    )
    return mapping_statements(
        name, layout, has_value=has_value, expiring=expiring, batch=1000, increment=increment
    )


def _sequence(name: str) -> SequenceSQL:
    def pop(direction: str, condition: str = "") -> str:
        # SKIP LOCKED: a consumer passes over the item another one is popping right now
        # and takes the next, instead of waiting for it and then finding it gone.
        return (
            f"DELETE FROM {name} WHERE pos = (SELECT pos FROM {name} ORDER BY pos {direction} "
            f"LIMIT 1 FOR UPDATE SKIP LOCKED){condition} RETURNING pos, value"
        )

    present = " AND value IS NOT NULL"
    return dataclasses.replace(
        sequence_statements(name, smaller="least"),
        pop_first=pop("ASC"),
        pop_last=pop("DESC"),
        pop_first_present=pop("ASC", present),
        pop_last_present=pop("DESC", present),
    )
