"""The statement bundles a dialect writes for each table layout.

Each bundle holds the text of every statement one collection (or the catalog, or the
command line) runs, written once when the collection is bound. A backend's dialect
builds them (`tpstore._backends.sqlite.dialect`); the collections only pick statements
from them and pass parameters, so they never build SQL, placeholders or batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class HistorySQL:
    """Statements on the schema history kept beside one catalog (DESIGN.md §6).

    One row per version of a collection's types: the catalog id, the version number
    (1, 2, ... in the order they were recorded), the key and value schemas, and the time
    (POSIX seconds) the version was first recorded. A schema pair is recorded once: a
    declaration going back to an earlier version adds no row.
    """

    create: str
    """Create the history table when it is missing."""
    seed: str
    """Give every catalog row without history its current schemas as version 1 (a file
    made before the history existed). Parameter: the time."""
    record: str
    """Record a collection's schemas as its next version unless it had them before.
    Parameters: key schema, value schema, time, table name, key schema, value schema."""
    versions: str
    """Rows `(catalog id, number of versions)`."""
    read: str
    """One collection's versions `(version, key schema, value schema, time)` in order.
    Parameter: the table name."""


def history_statements(
    catalog: str, history: str, *, integer: str, real: str, text: str, same: str
) -> HistorySQL:
    """The history statements of the qualified, quoted `catalog` and `history` tables.

    Args:
        integer, real, text: the database's column types.
        same: the comparison that holds for two NULLs (`IS`, `IS NOT DISTINCT FROM`).
    """
    columns = "id, version, key_schema, value_schema, recorded"
    return HistorySQL(
        create=f"CREATE TABLE IF NOT EXISTS {history} (id {integer} NOT NULL, "
        f"version {integer} NOT NULL, key_schema {text}, value_schema {text}, "
        f"recorded {real} NOT NULL, PRIMARY KEY (id, version))",
        seed=f"INSERT INTO {history} ({columns}) "
        f"SELECT t.id, 1, t.key_schema, t.value_schema, CAST(? AS {real}) FROM {catalog} AS t "
        f"WHERE NOT EXISTS (SELECT 1 FROM {history} AS h WHERE h.id = t.id)",
        record=f"INSERT INTO {history} ({columns}) "
        f"SELECT t.id, 1 + coalesce((SELECT max(h.version) FROM {history} AS h "
        f"WHERE h.id = t.id), 0), CAST(? AS {text}), CAST(? AS {text}), CAST(? AS {real}) "
        f"FROM {catalog} AS t WHERE t.name = ? AND NOT EXISTS (SELECT 1 FROM {history} AS h "
        f"WHERE h.id = t.id AND h.key_schema {same} CAST(? AS {text}) "
        f"AND h.value_schema {same} CAST(? AS {text}))",
        versions=f"SELECT id, count(*) FROM {history} GROUP BY id",
        read=f"SELECT h.version, h.key_schema, h.value_schema, h.recorded FROM {history} AS h "
        f"JOIN {catalog} AS t ON t.id = h.id WHERE t.name = ? ORDER BY h.version",
    )


@dataclass(frozen=True)
class CatalogSQL:
    """Statements on one file's (or schema's) catalog, counts and history tables."""

    has_catalog: str
    has_counts: str
    has_history: str
    read: str
    insert: str
    id_of: str
    reset_count: str
    update_descriptions: str
    name_taken: str
    history: HistorySQL


@dataclass(frozen=True)
class SingleSQL:
    """Statements of a `Value` table."""

    get: str
    set: str
    delete: str


@dataclass(frozen=True)
class MappingSQL:
    """Statements of a mapping or set table.

    Every read of an expiring table takes the current time as its last parameter and
    sees only live rows: `expires IS NULL OR expires > now`.
    """

    order: str
    get: str
    contains: str
    upsert: str
    delete: str
    first: str
    last: str
    clear: str
    count_expired: str | None
    purge: str | None
    expires_at: str | None
    touch: str | None
    delete_expired_key: str | None
    get_many_template: str  # format with {marks}
    lowest: str
    highest: str
    table: str
    picked: str
    picked_keys: str
    expiring: bool
    mark: str
    batch: int
    """How many keys one `get_many` statement takes at most."""
    increment: str | None = None
    """Where the database makes it atomic by itself (PostgreSQL's UPSERT): add to a
    number in one statement, taking no store-wide lock. Parameters: the key, the value
    of a new row, the delta; returns the new value. `None`: read and write in a
    transaction instead."""

    @functools.lru_cache(maxsize=64)  # noqa: B019 - statements are few and live as long as the class
    def get_many(self, count: int) -> str:
        """The live rows `(key[, value])` of `count` keys (`count <= batch`).

        Parameters: the keys, then the current time for an expiring table.
        """
        return self.get_many_template.format(marks=", ".join([self.mark] * count))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - statements are few and live as long as the class
    def scan(
        self, *, keys_only: bool, bounds: tuple[str, ...] = (), descending: bool = False
    ) -> str:
        """A page of rows in the collection's order, for iteration without one query per item.

        Args:
            keys_only: select the order column and key but no value.
            bounds: comparisons of the order column with one parameter each, in order
                (`">"` resumes after the last row of the previous page).
            descending: walk the collection backwards.

        Parameters are the bounds' values, then the current time for an expiring
        table, then the page size.
        """
        mark = self.mark
        conditions = [f"{self.order} {bound} {mark}" for bound in bounds]
        if self.expiring:
            conditions.append(f"(expires IS NULL OR expires > {mark})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        columns = self.picked_keys if keys_only else self.picked
        direction = "DESC" if descending else "ASC"
        return (
            f"SELECT {columns} FROM {self.table}{where} "
            f"ORDER BY {self.order} {direction} LIMIT {mark}"
        )


@dataclass(frozen=True)
class ToolSQL:
    """Statements of one collection table of any layout, for the command line.

    The page statements select the ordering column (`key`, `seq`, `pos` or `id`), then
    the key (when the layout has one), the value (when it has one) and the expiry time
    (expiring tables), in that order, for live rows in the collection's order: `first`
    from the start, `after` past an ordering value, `before` backwards from below one,
    `last` backwards from the end. Their parameters: the ordering value (`after`,
    `before`), the current time (expiring tables), the page size. Paging by the
    ordering column lets a reader go on past a damaged part of the file.
    `put` writes one item as the collection would: mappings set (an existing key keeps
    its place), sets add, sequences and deques append, a `Value` is set. Its parameters
    are the key, the value and the expiry time, each when the layout has it.
    `before_put` (insertion-ordered expiring tables) deletes the expired row of a key
    first, taking the key and the current time, so that re-setting it places it at the
    end. `trim` (sequences and deques) drops items from the left until at most its
    one parameter remain, as appending past a deque's `maxlen` does.
    """

    first: str
    after: str
    before: str
    last: str
    count_rows: str
    count_expired: str | None
    purge: str | None
    put: str
    before_put: str | None
    trim: str | None


@dataclass(frozen=True)
class ValuesSQL:
    """Statements over the stored values of one table in primary-key order.

    `first`, `after` and `last` select rows: the primary key, the key (NULL where the
    layout has none) and the value. `first` selects the first rows, `after` the rows
    after a given primary key (taking it first), `last` the last rows (last first); each
    takes the number of rows last. `update` sets one row's value, taking the value, then
    the primary key (`migrate()`). Every row counts, expired ones included.
    """

    first: str
    after: str
    last: str
    update: str


@dataclass(frozen=True)
class SequenceSQL:
    """Statements of a `positioned` table: `pos INTEGER PRIMARY KEY, value`.

    Positions are kept contiguous, so the item at index `i` sits at `min(pos) + i` and
    every index is one primary-key lookup; `min(pos)` and `max(pos)` of a rowid table
    are O(log n). Appending takes `max(pos) + 1`, appending on the left `min(pos) - 1`
    (positions may be negative), so both ends grow in O(log n).

    Moving rows (`move`, `close_gaps`) can make two rows want one position for a
    moment: the database checks the primary key row by row, in an order of its choosing.
    The collections therefore move rows in two steps, first past `max(pos)` and then
    to their places, each step onto positions no other row holds.
    """

    table: str
    bounds: str
    get_from_first: str
    get_from_last: str
    set_from_first: str
    set_from_last: str
    first: str
    last: str
    from_index: str
    append: str
    appendleft: str
    pop_first: str | None
    pop_last: str | None
    insert_at: str
    update_at: str
    delete_at: str
    delete_range: str
    delete_stepped: str
    move: str
    close_gaps: str
    trim_first: str
    trim_last: str
    clear: str
    mark: str
    pop_first_present: str | None = None
    """`pop_first` that takes the row only when its value is not NULL (a value stored
    as it is then always decodes, so the pop needs no check before its commit), or
    `None`; see `Engine.take`."""
    pop_last_present: str | None = None
    """As `pop_first_present`, at the other end."""

    @functools.lru_cache(maxsize=32)  # noqa: B019 - statements are few and live as long as the class
    def scan(
        self, *, bounds: tuple[str, ...] = (), stepped: bool = False, descending: bool = False
    ) -> str:
        """A page of `(pos, value)` rows in position order.

        Args:
            bounds: comparisons of `pos` with one parameter each, in order (`">"`
                resumes after the last row of the previous page).
            stepped: keep only positions `anchor + k * step` (two parameters, after
                the bounds' ones: anchor, step).
            descending: walk backwards.

        The last parameter is the page size.
        """
        mark = self.mark
        conditions = [f"pos {bound} {mark}" for bound in bounds]
        if stepped:
            conditions.append(f"(pos - {mark}) % {mark} = 0")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        direction = "DESC" if descending else "ASC"
        return f"SELECT pos, value FROM {self.table}{where} ORDER BY pos {direction} LIMIT {mark}"


# -- builders: the statements every backend writes alike -----------------------------------
#
# A dialect calls these with the qualified, quoted table name and adjusts what its
# database does differently with `dataclasses.replace` (PostgreSQL's pops, say).


def mapping_statements(
    name: str,
    layout: str,
    *,
    has_value: bool,
    expiring: bool,
    batch: int,
    increment: str | None = None,
) -> MappingSQL:
    """Every statement of a mapping or set table (`keyed` or `inserted` layout) `name`."""
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
        batch=batch,
        increment=increment,
    )


def sequence_statements(name: str, *, smaller: str) -> SequenceSQL:
    """Every statement of a `positioned` table `name`.

    Args:
        smaller: the database's two-argument minimum function (`min`, `least`).
    """
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
        pop_first=f"DELETE FROM {name} WHERE pos = {low} RETURNING pos, value",
        pop_last=f"DELETE FROM {name} WHERE pos = {high} RETURNING pos, value",
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
        close_gaps=f"UPDATE {name} SET pos = pos + ? - {smaller}(?, (pos - ? + ? - 1) / ?) "
        "WHERE pos > ?",
        # maxlen: keep at most `?` items, dropping from the other end.
        trim_first=f"DELETE FROM {name} WHERE pos <= {high} - ?",
        trim_last=f"DELETE FROM {name} WHERE pos >= {low} + ?",
        clear=f"DELETE FROM {name}",
        mark="?",
    )


def single_statements(name: str) -> SingleSQL:
    """The statements of the `Value` table `name` (its one row has id 0)."""
    return SingleSQL(
        get=f"SELECT value FROM {name} WHERE id = 0",
        set=f"INSERT INTO {name} (id, value) VALUES (0, ?) "
        "ON CONFLICT (id) DO UPDATE SET value = excluded.value",
        delete=f"DELETE FROM {name} WHERE id = 0",
    )


def tool_statements(
    name: str,
    layout: str,
    *,
    has_key: bool,
    has_value: bool,
    expiring: bool,
    single_set: str,
) -> ToolSQL:
    """The command line's statements of table `name` (`single_set`: a `Value`'s set)."""
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
        mapping = mapping_statements(name, layout, has_value=has_value, expiring=expiring, batch=1)
        put = mapping.upsert
        count_expired, purge = mapping.count_expired, mapping.purge
        if layout == "inserted" and expiring:
            before_put = mapping.delete_expired_key
    elif layout == "positioned":
        sequence = sequence_statements(name, smaller="min")
        put, trim = sequence.append, sequence.trim_first
    else:
        put = single_set
    return ToolSQL(
        first=page("TRUE", "ASC"),
        after=page(f"{order} > ?", "ASC"),
        before=page(f"{order} < ?", "DESC"),
        last=page("TRUE", "DESC"),
        count_rows=f"SELECT count(*) FROM {name}",
        count_expired=count_expired,
        purge=purge,
        put=put,
        before_put=before_put,
        trim=trim,
    )


def values_statements(name: str, layout: str) -> ValuesSQL:
    """Statements over the stored values of table `name`, in primary-key order."""
    primary = {"keyed": "key", "inserted": "seq", "positioned": "pos", "single": "id"}[layout]
    key = "key" if layout in ("keyed", "inserted") else "NULL"
    select = f"SELECT {primary}, {key}, value FROM {name}"
    return ValuesSQL(
        first=f"{select} ORDER BY {primary} LIMIT ?",
        after=f"{select} WHERE {primary} > ? ORDER BY {primary} LIMIT ?",
        last=f"{select} ORDER BY {primary} DESC LIMIT ?",
        update=f"UPDATE {name} SET value = ? WHERE {primary} = ?",
    )
