"""The catalog every tpstore file keeps: what each of its tables holds.

One row per collection table records its kind, key and value codecs with their
column affinities, the pydantic JSON schemas of the declared types, the options
(`lifespan`, `maxlen`), the table format version and the item count (kept by
triggers, so `len()` never scans). Beside it, the history table keeps every pair of
key and value schemas each collection has had, in order, with the time each was first
recorded (DESIGN.md §6).

Opening a store compares its declaration with the catalog of each file. Kinds, codecs
and affinities must agree (the bytes on disk depend on them); types' schemas and
options may change. Opening never records them: the first write through the changed
declaration does (`record`), inside its own transaction, so that opening read-write
and closing leaves the file as it was. The one write an open makes to an existing
catalog is the upgrade of a file made before the history existed: its first
read-write open creates the history, with each collection's current schemas as its
first version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tpstore._backends.base import CATALOG_COLUMNS, COUNTS, FORMAT_VERSION
from tpstore._engine import Engine
from tpstore._schema import CollectionSpec
from tpstore._type_names import type_label
from tpstore.errors import CorruptValueError, SchemaError, TpStoreError


@dataclass(frozen=True)
class Entry:
    """One catalog row."""

    name: str
    kind: str
    key_codec: str | None
    key_affinity: str | None
    value_codec: str | None
    value_affinity: str | None
    key_schema: str | None
    value_schema: str | None
    options: dict[str, Any]
    format: int
    count: int = 0
    id: int | None = None
    versions: int = 1
    """How many schema versions the collection has had (1 in a file made before the
    history existed)."""

    @classmethod
    def declared(cls, spec: CollectionSpec, table: str) -> Entry:
        """The row a declaration would write."""
        return cls(
            name=table,
            kind=spec.kind.kind_name,
            key_codec=spec.key.codec.name if spec.key else None,
            key_affinity=spec.key.codec.affinity if spec.key else None,
            value_codec=spec.value.codec.name if spec.value else None,
            value_affinity=spec.value.codec.affinity if spec.value else None,
            key_schema=spec.key.json_schema() if spec.key else None,
            value_schema=spec.value.json_schema() if spec.value else None,
            options={k: v for k, v in spec.options.items() if v is not None},
            format=FORMAT_VERSION,
        )

    def layout(self) -> tuple[Any, ...]:
        """What must agree between a declaration and the file."""
        return (self.kind, self.key_codec, self.key_affinity, self.value_codec, self.value_affinity)

    def descriptions(self) -> tuple[Any, ...]:
        """What may change between opens, recorded by the first write through a change."""
        return (self.key_schema, self.value_schema, self.options)

    def describe(self) -> str:
        """The layout in words, for error messages."""
        parts = [self.kind]
        if self.key_codec:
            parts.append(
                f"keys {type_label(self.key_schema)} with "
                f"key codec {self.key_codec!r} ({self.key_affinity})"
            )
        if self.value_codec:
            parts.append(
                f"values {type_label(self.value_schema)} with "
                f"value codec {self.value_codec!r} ({self.value_affinity})"
            )
        return ", ".join(parts)


def read(engine: Engine, schema: str = "main") -> dict[str, Entry]:
    """Every catalog row of one file; empty when the file has no catalog.

    Needs no store class, so that tools (the CLI) can read a file without the classes
    that wrote it.

    Raises:
        TpStoreError: the file has a catalog but no counts table beside it.
    """
    sql = engine.dialect.catalog(schema)
    if not engine.fetchone(sql.has_catalog):
        return {}
    if not engine.fetchone(sql.has_counts):
        raise TpStoreError(
            f"the catalog of database {schema!r} has no {COUNTS} table beside it, so the "
            "file was damaged or not written by tpstore; restore it from a backup"
        )
    rows = engine.fetchall(sql.read)
    versions: dict[int, int] = {}
    if has_history(engine, schema):
        versions = {int(id_): int(count) for id_, count in engine.fetchall(sql.history.versions)}
    entries = {}
    for row in rows:
        values = dict(zip((*CATALOG_COLUMNS, "count"), row, strict=True))
        values["options"] = orjson.loads(values["options"] or "{}")
        values["versions"] = versions.get(values["id"], 1)
        entries[values["name"]] = Entry(**values)
    return entries


def has_history(engine: Engine, schema: str = "main") -> bool:
    """Whether the file attached as `schema` has the schema history (every file made
    by this tpstore has; an older one gets it at its first read-write open)."""
    return engine.fetchone(engine.dialect.catalog(schema).has_history) is not None


def history(
    engine: Engine, table: str, schema: str = "main"
) -> list[tuple[int, str | None, str | None, float]]:
    """The schema versions of one collection table, in order: `(version, key schema,
    value schema, time first recorded)`; empty in a file without history."""
    if not has_history(engine, schema):
        return []
    rows = engine.fetchall(engine.dialect.catalog(schema).history.read, (table,))
    return [(int(v), key, value, float(t)) for v, key, value, t in rows]


def ensure(
    engine: Engine,
    owner: str,
    bindings: list[tuple[CollectionSpec, str]],
    clock: Callable[[], float],
) -> set[tuple[str, str]]:
    """Check every declared collection against its file's catalog; create what is missing.

    Runs in one transaction: on any mismatch nothing is changed and `SchemaError`
    names both sides. Changed types and options are not recorded here (see `record`).

    Returns:
        `(database, table)` of each collection whose declared schemas or options differ
        from the recorded ones: its first write must `record` them.
    """
    writable = engine.mode == "rw"
    with engine.transaction(readonly=not writable):
        catalogs = {schema: read(engine, schema) for schema in engine.schemas}
        # Files made before the history existed (a catalog without it) are upgraded.
        upgrades = [
            schema
            for schema, catalog in catalogs.items()
            if catalog and not has_history(engine, schema)
        ]
        problems: list[str] = []
        work: list[tuple[CollectionSpec, str, Entry, Entry | None]] = []
        for spec, table in bindings:
            if spec.database not in catalogs:
                attached = ", ".join(repr(s) for s in engine.schemas)
                raise SchemaError(
                    f"{owner}.{spec.name} lives in database {spec.database!r}, which is not "
                    f"attached (attached: {attached}); pass attach={{{spec.database!r}: path}}"
                )
            declared = Entry.declared(spec, table)
            recorded = catalogs[spec.database].get(table)
            where = f"{owner}.{spec.name} (table {table!r} in {spec.database!r})"
            if recorded is None:
                if _table_exists(engine, spec.database, table):
                    problems.append(
                        f"{where}: the file already has a table {table!r} that tpstore did "
                        "not create; choose another table name with field(table=...)"
                    )
                elif not writable:
                    problems.append(
                        f"{where}: the file has no such collection, and a store opened "
                        f"with mode={engine.mode!r} cannot create it; open the file once "
                        "with mode='rw' (which creates it, empty) and then read-only"
                    )
            elif recorded.layout() != declared.layout():
                problems.append(
                    f"{where}: the file holds {recorded.describe()}, but the class declares "
                    f"{declared.describe()}; use another table name or migrate the data"
                )
            elif recorded.format > FORMAT_VERSION:
                problems.append(
                    f"{where}: the file was written by a newer tpstore (table format "
                    f"{recorded.format}); upgrade tpstore to open it"
                )
            elif recorded.value_schema != declared.value_schema and recorded.count:
                wrong = _wrong_class(engine, spec, table, recorded, declared)
                if wrong is not None:
                    problems.append(f"{where}: {wrong}")
            work.append((spec, table, declared, recorded))
        if problems:
            raise SchemaError("; ".join(problems))
        if writable:
            _apply(engine, work, upgrades, clock)
    return {
        (spec.database, table)
        for spec, table, declared, recorded in work
        if writable and recorded is not None and recorded.descriptions() != declared.descriptions()
    }


def record(engine: Engine, spec: CollectionSpec, table: str, now: float) -> None:
    """Record a collection's declared schemas and options in its file's catalog.

    Called by the first write through a declaration that differs from the recorded
    one, inside that write's transaction: the schemas become the collection's next
    version in the history (unless it had them before) and the catalog row's current
    description.
    """
    declared = Entry.declared(spec, table)
    sql = engine.dialect.catalog(spec.database)
    _record_version(engine, sql.history.record, declared, now)
    engine.write(
        sql.update_descriptions,
        (declared.key_schema, declared.value_schema, _options_json(declared), table),
    )


def _record_version(engine: Engine, statement: str, entry: Entry, now: float) -> None:
    key_schema, value_schema = entry.key_schema, entry.value_schema
    engine.write(statement, (key_schema, value_schema, now, entry.name, key_schema, value_schema))


def _options_json(entry: Entry) -> str:
    return orjson.dumps(entry.options, option=orjson.OPT_SORT_KEYS).decode()


SAMPLE = 8
"""Stored values checked at each end of a collection whose value model changed."""


def _wrong_class(
    engine: Engine, spec: CollectionSpec, table: str, recorded: Entry, declared: Entry
) -> str | None:
    """Why the declared value type is the wrong class for the stored values, or `None`.

    The first and the last `SAMPLE` stored values are read as the declared type (with its
    `migrate` hook): when none of them validates, the store class is not the one that
    wrote the file (DESIGN.md §6). A model that gained an optional field passes.
    """
    converter = spec.value
    if converter is None:
        return None
    sql = engine.dialect.values(spec.database, table, spec.kind.layout)
    rows = engine.fetchall(sql.first, (SAMPLE,)) + engine.fetchall(sql.last, (SAMPLE,))
    first_problem: CorruptValueError | None = None
    for _, _, raw in rows:
        try:
            converter.decode(raw)
        except CorruptValueError as exc:
            first_problem = first_problem or exc
        else:
            return None
    if first_problem is None:
        return None
    problem = first_problem.__cause__ or first_problem
    return (
        f"the file holds values of {_title(recorded.value_schema)}, but the class declares "
        f"{_title(declared.value_schema)}, and none of the {len(rows)} stored values "
        f"sampled reads as it (first problem: {_first_line(problem)}); open the file with "
        "the class that wrote it, or give the field a migrate= hook that upgrades them"
    )


def _title(schema: str | None) -> str:
    """The title of a recorded JSON schema (`User`), or its type when it has none."""
    if schema is None:
        return "an unknown type"
    try:
        data = orjson.loads(schema)
    except orjson.JSONDecodeError:
        return "an unknown type"
    title = data.get("title") if isinstance(data, dict) else None
    if isinstance(title, str):
        return title
    kind = data.get("type") if isinstance(data, dict) else None
    return str(kind) if kind else "an unknown type"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = text.splitlines()
    if len(lines) > 2 and "validation error" in lines[0]:
        return f"{lines[1].strip()}: {lines[2].strip()}"
    return lines[0] if lines else type(exc).__name__


def _apply(
    engine: Engine,
    work: list[tuple[CollectionSpec, str, Entry, Entry | None]],
    upgrades: list[str],
    clock: Callable[[], float],
) -> None:
    created: set[tuple[str, str]] = set()
    for schema in {spec.database for spec, _, _, _ in work} | set(upgrades):
        for statement in engine.dialect.create_catalog(schema):
            engine.write(statement)
    for schema in upgrades:
        engine.write(engine.dialect.catalog(schema).history.seed, (clock(),))
    for spec, table, declared, recorded in work:
        schema = spec.database
        sql = engine.dialect.catalog(schema)
        options = _options_json(declared)
        if recorded is None or not _table_exists(engine, schema, table):
            if (schema, table) in created:
                continue
            if recorded is None:
                engine.write(
                    sql.insert,
                    (
                        table,
                        declared.kind,
                        declared.key_codec,
                        declared.key_affinity,
                        declared.value_codec,
                        declared.value_affinity,
                        declared.key_schema,
                        declared.value_schema,
                        options,
                        declared.format,
                    ),
                )
                _record_version(engine, sql.history.record, declared, clock())
            # (When the catalog row exists, the table was dropped behind tpstore's back:
            # it starts again, empty.)
            catalog_id = engine.fetchone(sql.id_of, (table,))[0]
            engine.write(sql.reset_count, (catalog_id,))
            for statement in engine.dialect.create_table(
                schema,
                table,
                spec.kind.layout,
                key_affinity=declared.key_affinity,
                value_affinity=declared.value_affinity,
                expiring=spec.kind.expiring,
                catalog_id=catalog_id,
            ):
                engine.write(statement)
            created.add((schema, table))


def _table_exists(engine: Engine, schema: str, table: str) -> bool:
    return engine.fetchone(engine.dialect.catalog(schema).name_taken, (table,)) is not None
