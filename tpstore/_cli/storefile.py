"""A store file seen by the command line: its catalog, and its collections as records.

Everything here works from the file alone. The catalog (`tpstore._catalog.read`) names
each collection's kind, codecs, affinities and schemas; `KINDS` maps a kind to its
table layout; the statements come from the backend's dialect (`tool`), so rows are
written exactly as the collections write them (and the count triggers see them).
Rows are read by `tpstore._cli.salvage.read_rows`, which goes on past damaged parts
of a file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tpstore._backends import is_server, shown
from tpstore._backends.base import CATALOG
from tpstore._backends.statements import ToolSQL
from tpstore._catalog import Entry, read
from tpstore._cli.salvage import (
    END,
    START,
    DamageError,
    Unreadable,
    fetch,
    read_rows,
    reason,
)
from tpstore._cli.values import (
    ProblemError,
    Translator,
    dumps_json,
    jsonable,
    translator,
)
from tpstore._engine import Engine
from tpstore.errors import TpStoreError


class CliError(Exception):
    """An error the command line reports as one line and exit status 1."""


class DamagedFileError(CliError):
    """The file is an SQLite database, but too damaged to read its catalog."""


@dataclass(frozen=True)
class Kind:
    """What the command line needs to know of a collection kind."""

    layout: str
    has_key: bool
    has_value: bool
    expiring: bool = False

    @property
    def family(self) -> str:
        """`"mapping"` (records with a key), `"set"`, `"sequence"` or `"value"`."""
        if self.has_key:
            return "mapping" if self.has_value else "set"
        return "value" if self.layout == "single" else "sequence"


KINDS: dict[str, Kind] = {
    "Mapping": Kind("keyed", True, True),
    "OrderedMapping": Kind("inserted", True, True),
    "ExpiringMapping": Kind("keyed", True, True, expiring=True),
    "ExpiringOrderedMapping": Kind("inserted", True, True, expiring=True),
    "Set": Kind("keyed", True, False),
    "OrderedSet": Kind("inserted", True, False),
    "ExpiringSet": Kind("keyed", True, False, expiring=True),
    "ExpiringOrderedSet": Kind("inserted", True, False, expiring=True),
    "Sequence": Kind("positioned", False, True),
    "Deque": Kind("positioned", False, True),
    "Value": Kind("single", False, True),
}
"""Every kind a catalog can name (`tests/test_cli.py` checks it against the classes)."""

CHUNK = 1000
"""Items converted and written per batch by `load`, and per progress step."""


@dataclass
class Collection:
    """One collection of the file: its catalog row, translators and statements."""

    name: str
    """The collection's name as the command line shows it: its table name, less the
    namespace given with `--namespace`."""
    entry: Entry
    kind: Kind
    key: Translator | None
    value: Translator | None
    sql: ToolSQL
    exists: bool

    @property
    def element(self) -> Translator:
        """The translator of a record's `"value"` (a set's elements are its keys)."""
        found = self.value if self.kind.has_value else self.key
        assert found is not None
        return found

    def where(self, key: Any = None, index: int | None = None) -> str:
        """`name`, `name[key]` or `name[index]`, for messages."""
        if self.kind.family == "mapping":
            return f"{self.name}[{_show(key)}]"
        if self.kind.family == "set":
            return f"{self.name} element {_show(key)}"
        if self.kind.family == "sequence":
            return f"{self.name}[{index}]"
        return self.name


def _show(value: Any) -> str:
    text = dumps_json(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Record:
    """One item as the dump format has it, plus what went wrong decoding it."""

    fields: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)


def open_engine(path: str, *, write: bool = False, wal: bool | None = None) -> Engine:
    """Open a store file for the command line.

    A reading command must leave no file behind that was not there. SQLite makes the
    `-wal` and `-shm` files of a WAL-mode database for any connection, and only a
    connection that may write removes them when it closes last. So when neither file
    exists (no other program has the file open), a reading command opens the file
    read-write — the command line only reads through it — and closing it removes what
    it made. Otherwise (another program is using the file, or the file is not
    writable) it opens read-only.

    Raises:
        CliError: the file is missing, a folder, not an SQLite database, or a URL.
    """
    if is_server(path):
        # A database server: no files to check, nothing left behind by reading.
        try:
            return Engine(path, mode="rw" if write else "ro")
        except TpStoreError as exc:
            raise CliError(str(exc)) from exc
    if not os.path.exists(path):
        raise CliError(f"{path} does not exist")
    if os.path.isdir(path):
        raise CliError(f"{path} is a folder, not a store file")
    quiet = not write and _may_clean_up(path)
    mode = "rw" if write or quiet else "ro"
    try:
        engine = Engine(path, mode=mode, wal=wal)
    except TpStoreError as exc:
        raise CliError(str(exc)) from exc
    return engine


def _may_clean_up(path: str) -> bool:
    if any(os.path.exists(path + suffix) for suffix in ("-wal", "-shm", "-journal")):
        return False
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


class StoreFile:
    """An open tpstore file, for the command line.

    Args:
        path: the file; it must exist and hold a tpstore catalog.
        write: open for writing (load, purge, vacuum). The journal mode is kept as the
            file has it, so a file of a store with attachments stays in rollback mode.
        unsafe_pickle: decode pickles (only for trusted files).
        namespace: only the collections of this namespace (`Store(namespace=...)`),
            named without it; `None`: every collection, by table name.

    Raises:
        CliError: the file is missing, a folder, not a tpstore file, or has no such
            namespace. `DamagedFileError` when its catalog cannot be read.
    """

    def __init__(
        self,
        path: str,
        *,
        write: bool = False,
        unsafe_pickle: bool = False,
        namespace: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.clock = clock
        self.namespace = namespace
        engine = open_engine(path)
        try:
            self.entries, self.journal_mode, tables, counted = _read_catalog(engine, path)
        except BaseException:
            engine.close()
            raise
        if write:
            engine.close()
            # The file's own journal mode, not the store default: opening it for
            # writing must not switch a multi-file store out of rollback mode.
            engine = open_engine(path, write=True, wal=self.journal_mode == "wal")
        self.engine = engine
        prefix = f"{namespace}." if namespace else ""
        chosen = {
            name[len(prefix) :]: entry
            for name, entry in self.entries.items()
            if name.startswith(prefix)
        }
        if namespace and not chosen:
            self.engine.close()
            found = sorted({name.split(".", 1)[0] for name in self.entries if "." in name})
            raise CliError(
                f"{path} has no collections in namespace {namespace!r} "
                f"(namespaces: {', '.join(found) or 'none'})"
            )
        self.collections: dict[str, Collection] = {}
        for name, entry in chosen.items():
            kind = KINDS.get(entry.kind)
            if kind is None:
                continue  # a kind of a newer tpstore; `unknown_kinds` reports it
            self.collections[name] = Collection(
                name=name,
                entry=entry,
                kind=kind,
                key=_translator(
                    entry.key_codec, entry.key_affinity, entry.key_schema, unsafe_pickle
                )
                if kind.has_key
                else None,
                value=_translator(
                    entry.value_codec, entry.value_affinity, entry.value_schema, unsafe_pickle
                )
                if kind.has_value
                else None,
                sql=engine.dialect.tool(
                    "main",
                    entry.name,
                    kind.layout,
                    has_key=kind.has_key,
                    has_value=kind.has_value,
                    expiring=kind.expiring,
                ),
                exists=entry.name in tables,
            )
        self.unknown_kinds = {
            name: entry.kind for name, entry in chosen.items() if entry.kind not in KINDS
        }
        self.orphans = sorted(
            name[len(prefix) :]
            for name in counted - set(self.entries)
            if name.startswith(prefix) and name in tables
        )
        """Tables tpstore created (they have its count triggers) with no catalog row."""

    def close(self) -> None:
        """Close the file."""
        self.engine.close()

    def __enter__(self) -> StoreFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collection(self, name: str) -> Collection:
        """The collection called `name`; `CliError` naming the others if there is none."""
        found = self.collections.get(name)
        if found is not None:
            return found
        if name in self.unknown_kinds:
            raise CliError(
                f"{name} is a {self.unknown_kinds[name]}, a kind this tpstore "
                "does not know; upgrade tpstore"
            )
        names = ", ".join(self.collections) or "none"
        where = f"namespace {self.namespace!r} of {self.path}" if self.namespace else self.path
        raise CliError(f"{where} has no collection named {name!r} (it has: {names})")

    # -- reading --------------------------------------------------------------------------

    def live_count(self, collection: Collection, now: float) -> tuple[int, int]:
        """`(live items, expired items not yet purged)` without scanning the table.

        Raises `DamageError` when the expired items cannot be counted.
        """
        total = collection.entry.count
        if collection.sql.count_expired is None or not collection.exists:
            return total, 0
        expired = int(fetch(self.engine, collection.sql.count_expired, (now,))[0][0])
        return total - expired, expired

    def rows(
        self,
        collection: Collection,
        now: float,
        damaged: Callable[[Collection, Unreadable], None],
    ) -> Iterator[tuple[Any, ...]]:
        """Every live row that can be read, in the collection's order, as stored.

        Parts of the table the file's damage keeps from being read are skipped, and
        `damaged` is called once for each.
        """
        if not collection.exists:
            return
        found = read_rows(
            self.engine,
            collection.sql,
            now if collection.kind.expiring else None,
            lambda part: damaged(collection, part),
        )
        for row in found:
            yield row[1:]

    def records(
        self,
        collection: Collection,
        now: float,
        damaged: Callable[[Collection, Unreadable], None],
    ) -> Iterator[Record]:
        """Every live item that can be read, as a dump record (`collection` not included).

        A key or value that does not decode is written in its stored form
        (`{"$raw": ...}`), and the record says what went wrong.
        """
        kind = collection.kind
        for index, row in enumerate(self.rows(collection, now, damaged)):
            record = Record({})
            at = 0
            key = None
            if kind.has_key:
                assert collection.key is not None
                key = _dumped(
                    collection.key, row[0], record, lambda: f"{collection.name}: a stored key"
                )
                if kind.has_value:
                    record.fields["key"] = key
                else:
                    record.fields["value"] = key
                at = 1
            if kind.has_value:
                assert collection.value is not None
                record.fields["value"] = _dumped(
                    collection.value,
                    row[at],
                    record,
                    lambda: collection.where(key, index),  # noqa: B023 - called at once
                )
                at += 1
            if kind.expiring:
                record.fields["expires_at"] = row[at]
            yield record

    def describe(self, collection: Collection, position: Any) -> str:
        """An ordering value of a table (a key, a position...) in words, for messages."""
        if position is START:
            return "the start"
        if position is END:
            return "the end"
        if collection.kind.has_key and collection.kind.layout == "keyed":
            assert collection.key is not None
            try:
                return f"key {_show(collection.key.dump(position))}"
            except ProblemError:
                return f"key {_show(jsonable(position))}"
        return f"row {position}"

    # -- writing --------------------------------------------------------------------------

    def load(
        self,
        records: Iterable[tuple[str, str, dict[str, Any]]],
        validate: Callable[[Collection, str, Any], str | None],
        progress: Callable[[int], None] = lambda n: None,
    ) -> dict[str, int]:
        """Write every record in one transaction.

        Args:
            records: `(where, collection name, record)`; `where` names the record in
                messages (`"line 3"`).
            validate: says why a decoded key or value does not match its schema.
            progress: called with the number of items written, batch by batch.

        Returns:
            The number of items written per collection, in the order first written.
            Any bad record rolls back everything and raises `CliError` naming it.
        """
        written: dict[str, int] = {}
        batches: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.transaction():
            for where, name, record in records:
                try:
                    collection = self.collection(name)
                except CliError as exc:
                    raise CliError(f"{where}: {exc}; nothing was loaded") from exc
                if not collection.exists:
                    raise CliError(
                        f"{where}: the table of {collection.name} is missing from the file; "
                        "open the store with its program once to create it; nothing was loaded"
                    )
                try:
                    row = self._row(collection, record, validate)
                except ProblemError as exc:
                    raise CliError(f"{where}: {exc}; nothing was loaded") from exc
                batch = batches.setdefault(name, [])
                written.setdefault(name, 0)
                batch.append(row)
                if len(batch) >= CHUNK:
                    self._write(collection, batch)
                    written[name] += len(batch)
                    progress(len(batch))
                    batch.clear()
            for name, batch in batches.items():
                collection = self.collections[name]
                self._write(collection, batch)
                written[name] += len(batch)
                progress(len(batch))
                maxlen = collection.entry.options.get("maxlen")
                if collection.sql.trim is not None and maxlen is not None:
                    self.engine.write(collection.sql.trim, (int(maxlen),))
        return written

    def _row(
        self,
        collection: Collection,
        record: dict[str, Any],
        validate: Callable[[Collection, str, Any], str | None],
    ) -> tuple[Any, ...]:
        kind = collection.kind
        allowed = {"collection", "value"}
        if kind.family == "mapping":
            allowed.add("key")
        if kind.expiring:
            allowed.add("expires_at")
        extra = sorted(set(record) - allowed)
        if extra:
            raise ProblemError(
                f"unexpected field {extra[0]!r} for a {collection.entry.kind} "
                f"(fields: {', '.join(sorted(allowed))})"
            )
        for required in ("key", "value") if kind.family == "mapping" else ("value",):
            if required not in record:
                raise ProblemError(f"the record has no {required!r}")
        params: list[Any] = []
        if kind.has_key:
            assert collection.key is not None
            key = record["key"] if kind.has_value else record["value"]
            params.append(self._encode(collection, collection.key, "key", key, validate))
        if kind.has_value:
            assert collection.value is not None
            params.append(
                self._encode(collection, collection.value, "value", record["value"], validate)
            )
        if kind.expiring:
            params.append(self._expires(collection, record))
        return tuple(params)

    @staticmethod
    def _encode(
        collection: Collection,
        side: Translator,
        what: str,
        value: Any,
        validate: Callable[[Collection, str, Any], str | None],
    ) -> Any:
        label = "element" if what == "key" and not collection.kind.has_value else what
        try:
            raw = side.load(value)
        except ProblemError as exc:
            raise ProblemError(f"the {label} {_show(value)} cannot be stored: {exc}") from exc
        # What is written is what `check` reads: decode it again and validate it
        # against the recorded schema, so load never writes a value the store's program
        # would refuse to read.
        try:
            instance = side.check(raw)
        except ProblemError as exc:
            raise ProblemError(f"the {label} {_show(value)}: {exc}") from exc
        problem = validate(collection, what, instance)
        if problem is not None:
            raise ProblemError(f"the {label} {_show(value)} is invalid: {problem}")
        return raw

    def _expires(self, collection: Collection, record: dict[str, Any]) -> float | None:
        if "expires_at" in record:
            expires = record["expires_at"]
            if expires is not None and (
                isinstance(expires, bool) or not isinstance(expires, int | float)
            ):
                raise ProblemError("expires_at is POSIX seconds (a number) or null")
            return None if expires is None else float(expires)
        lifespan = collection.entry.options.get("lifespan")
        return None if lifespan is None else self.clock() + float(lifespan)

    def _write(self, collection: Collection, batch: list[tuple[Any, ...]]) -> None:
        if not batch:
            return
        if collection.sql.before_put is not None:
            now = self.clock()
            self.engine.write_many(collection.sql.before_put, [(row[0], now) for row in batch])
        self.engine.write_many(collection.sql.put, batch)


def _read_catalog(engine: Engine, path: str) -> tuple[dict[str, Entry], str, set[str], set[str]]:
    """`(catalog entries, journal mode, table names, tables with count triggers)`."""
    dialect = engine.dialect
    try:
        tables = {row[0] for row in fetch(engine, dialect.tables("main"))}
    except DamageError as exc:
        raise DamagedFileError(f"cannot read the list of tables of {shown(path)}: {exc}") from exc
    if CATALOG not in tables:
        raise CliError(
            f"{shown(path)} is a database but not a tpstore store (it has no tpstore catalog)"
            if is_server(path)
            else f"{path} is an SQLite database but not a tpstore file (it has no tpstore catalog)"
        )
    try:
        entries = read(engine, "main")
        counted = {row[0] for row in fetch(engine, dialect.counted_tables("main"))}
        # (A server has no journal mode to keep: "-".)
        journal = "-" if is_server(path) else str(fetch(engine, dialect.journal_mode("main"))[0][0])
    except (TpStoreError, DamageError) as exc:
        raise DamagedFileError(f"cannot read the catalog of {shown(path)}: {reason(exc)}") from exc
    return entries, journal.lower(), tables, counted


def _translator(
    codec: str | None, affinity: str | None, schema: str | None, unsafe_pickle: bool
) -> Translator:
    return translator(codec or "native", affinity, schema, unsafe_pickle=unsafe_pickle)


def _dumped(side: Translator, raw: Any, record: Record, where: Callable[[], str]) -> Any:
    try:
        return side.dump(raw)
    except ProblemError as exc:
        record.problems.append((where(), str(exc)))
        return {"$raw": jsonable(raw)}
