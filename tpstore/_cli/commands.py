"""The `tpstore` command: inspect, export, import, check and maintain store files.

It works from a file's catalog alone, without the classes of the program that wrote
it. See `docs/cli.md` for the commands and the dump format.

Exit status: 0 on success; 1 when the command failed (a missing or foreign file, an
unknown collection, a bad input line) or found problems (`check`, undecodable values in
`dump`); 2 for bad arguments. Errors are one line on stderr, never a traceback (set
`TPSTORE_DEBUG=1` to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from tpstore._backends import is_server, shown
from tpstore._cli.load_input import Input
from tpstore._cli.salvage import DamageError, Unreadable, fetch, snapshot
from tpstore._cli.storefile import (
    CliError,
    Collection,
    DamagedFileError,
    StoreFile,
    open_engine,
)
from tpstore._cli.ui import EXTRA_HINT, Ui
from tpstore._cli.values import UNCHECKED, ProblemError, dumps_json, parse_json, type_label
from tpstore._engine import Engine
from tpstore._version import __version__
from tpstore.errors import TpStoreError

__all__ = ["main"]

SHOWN = 5
"""Problems shown per collection before the rest are summarised."""

INTEGRITY_LIMIT = 10_000
"""Problems SQLite's integrity check is asked to find at most."""

INTEGRITY_SHOWN = 10
"""Problems of SQLite's integrity check shown; the rest are counted."""


class _UsageError(Exception):
    """Bad arguments: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _parser() -> _Parser:
    parser = _Parser(
        prog="tpstore",
        description="Inspect, export, import, check and maintain tpstore files, "
        "without the program that wrote them.",
    )
    parser.add_argument("--version", action="version", version=f"tpstore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("file", metavar="FILE", help="the store file")
        sub.add_argument(
            "--namespace",
            metavar="NS",
            help="the collections of a store opened with namespace=NS, by their own names",
        )
        return sub

    command("info", "List the collections of a file: kinds, types, codecs, items, sizes.")
    dump = command("dump", "Write the items of a file (or one collection) as JSON.")
    dump.add_argument("collection", metavar="COLLECTION", nargs="?", help="only this collection")
    dump.add_argument(
        "--format",
        choices=("jsonl", "json"),
        default="jsonl",
        help="jsonl (default): one record per line; json: one object "
        "mapping each collection to its records",
    )
    load = command(
        "load",
        "Add the records of a dump (either format) to the collections they name, "
        "in one transaction.",
    )
    load.add_argument(
        "collection",
        metavar="COLLECTION",
        nargs="?",
        help="load every record into this collection (default: the one each record names)",
    )
    load.add_argument(
        "input", metavar="INPUT", help="a file as dump writes it; '-' reads standard input"
    )
    check = command(
        "check",
        "Check the file's integrity and decode and validate every item; exit 1 on problems.",
    )
    for sub in (dump, check):
        sub.add_argument(
            "--unsafe-pickle",
            action="store_true",
            help="unpickle pickled values (this runs code chosen by whoever "
            "wrote the file: only for files you trust)",
        )
    command("vacuum", "Rebuild the file, returning free space to the file system.")
    command("purge", "Delete the expired items of every expiring collection.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tpstore` command line; returns the exit status.

    Args:
        argv: the arguments (without the program name); `sys.argv[1:]` by default.

    Example:
        ```python
        from tpstore.__main__ import main
        assert main(["--version"]) == 0
        ```
    """
    return run(argv, Ui())


def run(argv: Sequence[str] | None, ui: Ui) -> int:
    """`main`, writing to `ui` (tests give one of a fixed width)."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        ui.error(str(exc))
        return 2
    except SystemExit as exc:  # --help and --version print and exit
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return int(_COMMANDS[args.command](args, ui))
    except (CliError, TpStoreError) as exc:
        ui.error(str(exc))
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # `tpstore dump x.db | head`: it read enough
            _silence_stdout()
            return 0
        ui.error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("TPSTORE_DEBUG"):
            raise
        ui.error(
            f"unexpected {type(exc).__name__}: {exc} (set TPSTORE_DEBUG=1 to see "
            "where; please report it)"
        )
    return 1


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _silence_stdout() -> None:
    # Python flushes stdout at exit; after a broken pipe that would print another error.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (an in-process caller's buffer)
        pass


# -- info --------------------------------------------------------------------------------


def _info(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file, namespace=args.namespace) as store:
        now = time.time()
        sizes = _table_sizes(store)
        engine = store.engine
        if is_server(args.file):  # a database server: the store's tables, no file
            facts = [
                ("store", shown(args.file)),
                ("size", _bytes(sum((sizes or {}).values()))),
            ]
        else:
            page_size = int(engine.fetchone(engine.dialect.pragma("main", "page_size"))[0])
            free = int(engine.fetchone(engine.dialect.pragma("main", "freelist_count"))[0])
            facts = [
                ("file", args.file),
                (
                    "size",
                    _bytes(_file_size(args.file))
                    + (f" ({_bytes(free * page_size)} free)" if free else ""),
                ),
                ("journal", store.journal_mode),
            ]
        if args.namespace:
            facts.append(("namespace", args.namespace))
        facts.append(("collections", f"{len(store.collections) + len(store.unknown_kinds):,}"))
        ui.facts(facts)
        infos = [
            _Row.of(store, collection, now, sizes) for collection in store.collections.values()
        ]
        infos.extend(
            _Row(name, f"{kind} (unknown kind)") for name, kind in store.unknown_kinds.items()
        )
        infos.extend(_Row(name, "(no catalog entry)") for name in store.orphans)
        ui.line()
        _info_table(ui, infos)
    return 0


@dataclasses.dataclass
class _Row:
    """One collection's cells in `info`."""

    name: str
    kind: str
    key: tuple[str, str] = ("", "")  # (type, codec)
    value: tuple[str, str] = ("", "")
    items: str = "?"
    expired: str = ""
    size: str = "?"
    versions: int = 0  # schema versions recorded; 0: unknown
    options: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def of(
        cls, store: StoreFile, collection: Collection, now: float, sizes: dict[str, int] | None
    ) -> _Row:
        entry = collection.entry
        try:
            live, expired = store.live_count(collection, now)
        except DamageError:
            items, more = f"{entry.count:,}?", ""
        else:
            items, more = f"{live:,}", (f"(+{expired:,} expired)" if expired else "")
        size = sizes.get(entry.name) if sizes is not None else None
        has_key, has_value = collection.kind.has_key, collection.kind.has_value
        return cls(
            name=collection.name,
            kind=entry.kind + ("" if collection.exists else " (table missing)"),
            key=(type_label(entry.key_schema), entry.key_codec or "native")
            if has_key
            else ("", ""),
            value=(type_label(entry.value_schema), entry.value_codec or "native")
            if has_value
            else ("", ""),
            items=items,
            expired=more,
            size="?" if size is None else _bytes(size),
            versions=entry.versions,
            options=_options(entry.options),
        )

    def cells(
        self, columns: Sequence[str], *, stacked: bool, limit: int | None = None
    ) -> list[str]:
        """The cells of `columns`.

        `stacked` puts each part of a cell on a line of its own (a type above its
        codec, the options below the kind, and the number of schema versions below
        them when more than one and the layout has no column for it); `limit` shortens
        type names to that many characters.
        """
        join = "\n" if stacked else " "
        below_kind = list(self.options)
        if "versions" not in columns and self.versions > 1:
            below_kind.append(f"{self.versions:,} schema versions")
        found = {
            "collection": self.name,
            "kind": "\n".join([self.kind, *below_kind]) if stacked else self.kind,
            "items": join.join(part for part in (self.items, self.expired) if part),
            "size": self.size,
            "versions": f"{self.versions:,}" if self.versions else "",
            "options": ", ".join(self.options),
        }
        for column, (label, codec) in (("key", self.key), ("value", self.value)):
            shown = label
            if limit is not None and len(label) > limit:
                shown = label[: max(limit - 1, 1)] + "…"
            found[column] = join.join([shown, f"· {codec}"]) if label else ""
        return [found[column] for column in columns]


_LAYOUTS: list[tuple[list[str], bool, bool]] = [
    (["collection", "kind", "key", "value", "items", "size", "versions", "options"], False, False),
    (["collection", "kind", "key", "value", "items", "size", "versions"], True, False),
    (["collection", "kind", "key", "value", "items", "versions"], True, False),
    (["collection", "kind", "key", "value", "items", "versions"], True, True),
    (["collection", "kind", "key", "value", "items"], True, True),
]
"""The layouts of `info`'s table, widest first: `(columns, stacked, tight)`."""


def _info_table(ui: Ui, rows: list[_Row]) -> None:
    """The collections, in the widest layout that fits the terminal.

    A cell is never broken inside a type or a number: on a narrow terminal the parts
    of a cell go on lines of their own (the options below the kind), then the size
    column is left out, then the columns move closer, then the versions column goes
    below the kind (where a collection has had more than one), and only then are the
    longest type names shortened.
    """
    width = ui.width
    right = ("items", "size", "versions")
    if width is None:  # text lines: every column, one line per collection
        columns, stacked, tight = _LAYOUTS[0]
        ui.table(columns, [r.cells(columns, stacked=stacked) for r in rows], right=right)
        return
    for columns, stacked, tight in _LAYOUTS:
        cells = [r.cells(columns, stacked=stacked) for r in rows]
        if ui.table_width(columns, cells, tight=tight) <= width:
            break
    else:
        # Shorten the type names, the longest first, until the table fits.
        longest = max((len(label) for r in rows for label, _ in (r.key, r.value)), default=0)
        for limit in range(longest - 1, 4, -1):
            cells = [r.cells(columns, stacked=stacked, limit=limit) for r in rows]
            if ui.table_width(columns, cells, tight=tight) <= width:
                break
    ui.table(columns, cells, right=right, tight=tight)


def _options(options: dict[str, Any]) -> list[str]:
    parts = []
    if options.get("lifespan") is not None:
        parts.append(f"lifespan {_seconds(float(options['lifespan']))}")
    if options.get("maxlen") is not None:
        parts.append(f"maxlen {int(options['maxlen']):,}")
    return parts


def _seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size):,} {unit}"
    return f"{seconds:g} s"


def _table_sizes(store: StoreFile) -> dict[str, int] | None:
    """Bytes per table; `None` when SQLite was built without the `dbstat` table."""
    try:
        rows = fetch(store.engine, store.engine.dialect.table_sizes("main"), ("main",))
    except DamageError:
        return None
    return {str(name): int(size) for name, size in rows}


def _store_size(store: StoreFile, location: str) -> int:
    """Bytes the store takes: its file (and WAL), or its tables on a server."""
    if is_server(location):
        return sum((_table_sizes(store) or {}).values())
    return _file_size(location)


def _file_size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _bytes(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    raise AssertionError  # pragma: no cover


# -- problems, reported per collection ---------------------------------------------------


class _Report:
    """Problems, printed as they are found: the first few of each collection in full,
    the others counted and summarised per collection by `summarise`."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.count = 0
        self.damaged_collections: set[str] = set()
        self._seen: collections.Counter[str] = collections.Counter()
        self._hidden: dict[str, collections.Counter[str]] = {}

    def add(self, collection: str, where: str, what: str) -> None:
        """One problem of `collection`, at `where` (`users["ada"]`)."""
        self.count += 1
        self._seen[collection] += 1
        if self._seen[collection] <= SHOWN:
            self.emit(f"{where}: {what}")
        else:
            self._hidden.setdefault(collection, collections.Counter())[what] += 1

    def whole(self, where: str, what: str) -> None:
        """A problem of the whole file: always shown."""
        self.count += 1
        self.emit(f"{where}: {what}")

    def damaged(self, store: StoreFile, collection: Collection, part: Unreadable) -> None:
        """A part of a collection the file's damage keeps from being read."""
        self.damaged_collections.add(collection.name)
        self.add(
            collection.name,
            collection.name,
            f"could not read the items after {store.describe(collection, part.after)} "
            f"and before {store.describe(collection, part.before)}: {part.reason}",
        )

    def summarise(self) -> None:
        """One line per collection for the problems not shown."""
        for collection, hidden in self._hidden.items():
            total = sum(hidden.values())
            common = "; ".join(f"{what} ({n:,})" for what, n in hidden.most_common(2))
            others = "; ..." if len(hidden) > 2 else ""
            self.emit(f"{collection}: {_count(total, 'more problem')} not shown: {common}{others}")


def _live_total(store: StoreFile, chosen: list[Collection], now: float) -> int | None:
    try:
        return sum(store.live_count(c, now)[0] for c in chosen)
    except DamageError:
        return None


# -- dump --------------------------------------------------------------------------------


def _dump(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file, unsafe_pickle=args.unsafe_pickle, namespace=args.namespace) as store:
        chosen = (
            [store.collection(args.collection)]
            if args.collection
            else list(store.collections.values())
        )
        for name in [] if args.collection else store.unknown_kinds:
            ui.warn(
                f"{name} is a {store.unknown_kinds[name]}, a kind this tpstore does "
                "not know: it is not dumped"
            )
        for collection in chosen:
            for side in (collection.key, collection.value):
                if side is not None and side.note and collection.entry.count:
                    ui.warn(f"{collection.name}: {side.note}")
        report = _Report(ui.warn)
        dumped: collections.Counter[str] = collections.Counter()
        # One read transaction: the dump is one consistent snapshot of the file.
        with snapshot(store.engine):
            now = time.time()
            with ui.progress("dumping", _live_total(store, chosen, now)) as advance:
                writer = _JsonWriter(ui) if args.format == "json" else None
                for collection, record in _records(store, chosen, now, advance, report):
                    for where, what in record.problems:
                        report.add(collection.name, where, what)
                    dumped[collection.name] += 1
                    if writer is None:
                        ui.write(
                            dumps_json({"collection": collection.name, **record.fields}) + "\n"
                        )
                    else:
                        writer.record(collection.name, record.fields)
                if writer is not None:
                    writer.close([c.name for c in chosen])
        report.summarise()
        for collection in chosen:
            if collection.name in report.damaged_collections:
                report.emit(
                    f"{collection.name}: {_count(dumped[collection.name], 'item')} dumped of "
                    f"the {collection.entry.count:,} the catalog counts; the others could "
                    "not be read"
                )
        if report.count:
            ui.warn(
                f"{_count(report.count, 'problem')} (items that do not decode are dumped "
                f"as stored, {{\"$raw\": ...}}); run 'tpstore check {shown(args.file)}'"
            )
            return 1
    return 0


def _records(
    store: StoreFile, chosen: list[Collection], now: float, advance: Any, report: _Report
) -> Iterator[tuple[Collection, Any]]:
    count = 0

    def damaged(collection: Collection, part: Unreadable) -> None:
        report.damaged(store, collection, part)

    for collection in chosen:
        for record in store.records(collection, now, damaged):
            yield collection, record
            count += 1
            if count == 500:
                advance(count)
                count = 0
    advance(count)


class _JsonWriter:
    """Writes `--format json`: an object mapping each collection to its records."""

    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        self.current: str | None = None
        self.written: list[str] = []
        self.first_item = True
        ui.write("{")

    def _start(self, name: str) -> None:
        if self.current is not None:
            self.ui.write("]" if self.first_item else "\n]")
        self.ui.write(("," if self.written else "") + "\n" + dumps_json(name) + ": [")
        self.current = name
        self.written.append(name)
        self.first_item = True

    def record(self, name: str, fields: dict[str, Any]) -> None:
        """One record of collection `name` (records come collection by collection)."""
        if name != self.current:
            self._start(name)
        self.ui.write(("" if self.first_item else ",") + "\n  " + dumps_json(fields))
        self.first_item = False

    def close(self, names: list[str]) -> None:
        """End the document; `names` without records get empty lists."""
        for name in names:
            if name not in self.written:
                self._start(name)
        if self.current is not None:
            self.ui.write("]" if self.first_item else "\n]")
        self.ui.write("\n}\n" if self.written else "}\n")


# -- load --------------------------------------------------------------------------------


def _load(args: argparse.Namespace, ui: Ui) -> int:
    validators = _Validators()
    source = Input(args.input, args.collection)
    stream = source.open()
    try:
        with StoreFile(args.file, write=True, namespace=args.namespace) as store:
            _, total, records = source.records(stream)
            if args.collection is not None:
                store.collection(args.collection)  # an unknown one fails before reading
            with ui.progress("loading", total) as advance:
                written = store.load(records, validators.problem, advance)
    finally:
        if args.input != "-":
            stream.close()
    if not written:
        ui.line("loaded 0 items")
    for name, count in written.items():
        ui.line(f"loaded {_count(count, 'item')} into {name}")
    if len(written) > 1:
        total_written = sum(written.values())
        ui.line(f"loaded {_count(total_written, 'item')} into {len(written)} collections")
    return 0


class _Validators:
    """Validates JSON instances against the schemas of the catalog (needs jsonschema)."""

    def __init__(self) -> None:
        try:
            self._jsonschema: Any = importlib.import_module("jsonschema")
        except ImportError as exc:
            raise CliError(
                "this command validates values with the jsonschema package, "
                f"which is not installed: {EXTRA_HINT}"
            ) from exc
        self._validators: dict[str, Any] = {}

    def problem(self, collection: Collection, what: str, instance: Any) -> str | None:
        """Why `instance` does not match the recorded schema of `what`, or `None`."""
        entry = collection.entry
        schema_text = entry.key_schema if what == "key" else entry.value_schema
        if instance is UNCHECKED or not schema_text:
            return None
        validator = self._validators.get(schema_text)
        if validator is None:
            schema = parse_json(schema_text)
            cls = self._jsonschema.validators.validator_for(
                schema, default=self._jsonschema.Draft202012Validator
            )
            validator = self._validators[schema_text] = cls(schema)
        error = self._jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is None:
            return None
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        return f"{path.lstrip('.')}: {error.message}" if path else str(error.message)


# -- check -------------------------------------------------------------------------------


def _check(args: argparse.Namespace, ui: Ui) -> int:
    checker = _Checker(_Validators(), _Report(ui.line))
    try:
        store = StoreFile(args.file, unsafe_pickle=args.unsafe_pickle, namespace=args.namespace)
    except DamagedFileError as exc:
        # What SQLite's own check finds is all there is to say about such a file.
        engine = open_engine(args.file)
        try:
            _integrity(engine, checker.report)
        finally:
            engine.close()
        checker.report.whole("catalog", str(exc))
        ui.line(f"{_count(checker.report.count, 'problem')} found in {shown(args.file)}")
        return 1
    with store:
        if not is_server(args.file):  # the file integrity pass is SQLite's
            _integrity(store.engine, checker.report)
        for name in store.orphans:
            checker.report.add(
                name,
                name,
                "a table tpstore created, but the catalog has no entry for it: the store's "
                "program will refuse to open the file (restore the file from a backup, or "
                "drop the table if its items are not needed)",
            )
        for name, kind in store.unknown_kinds.items():
            ui.warn(f"{name}: not checked (a {kind}, a kind this tpstore does not know)")
        with snapshot(store.engine):
            now = time.time()
            total = _live_total(store, list(store.collections.values()), now)
            with ui.progress("checking", total) as advance:
                for collection in store.collections.values():
                    checker.collection(store, collection, now, advance)
    checker.report.summarise()
    for note in checker.notes:
        ui.warn(note)
    if checker.report.count:
        ui.line(
            f"{_count(checker.report.count, 'problem')} found in {shown(args.file)} "
            f"({_count(checker.checked, 'item')} checked)"
        )
        return 1
    ui.line(
        f"ok: {shown(args.file)} ({_count(len(store.collections), 'collection')}, "
        f"{_count(checker.checked, 'item')} checked)"
    )
    return 0


def _integrity(engine: Engine, report: _Report) -> None:
    """SQLite's integrity check: the first findings, and how many there are in all.

    SQLite stops its check of the whole file at some kinds of damage; the tables are
    then checked one by one, so that the damaged ones are named.
    """
    dialect = engine.dialect
    try:
        rows = fetch(engine, dialect.integrity_check("main", INTEGRITY_LIMIT))
        findings = _findings(rows)
    except DamageError as exc:
        report.whole("integrity", f"SQLite's check of the whole file stopped: {exc}")
        findings = []
        try:
            tables = [str(row[0]) for row in fetch(engine, dialect.tables("main"))]
        except DamageError:
            tables = []
        for table in tables:
            try:
                rows = fetch(engine, dialect.integrity_check("main", table=table))
            except DamageError as exc:
                findings.append(f"table {table}: the check stopped: {exc}")
                continue
            findings.extend(f"table {table}: {finding}" for finding in _findings(rows))
    for finding in findings[:INTEGRITY_SHOWN]:
        report.whole("integrity", finding)
    if len(findings) > INTEGRITY_SHOWN:
        more = "or more " if len(findings) >= INTEGRITY_LIMIT else ""
        report.count += len(findings) - INTEGRITY_SHOWN
        report.emit(
            f"integrity: {len(findings):,} {more}problems in all found by SQLite's "
            f"integrity check (the first {INTEGRITY_SHOWN} are shown)"
        )


def _findings(rows: list[Any]) -> list[str]:
    """The problems in the rows of SQLite's integrity check, one per line.

    A row may hold several lines, under a `*** in database main ***` heading.
    """
    return [
        line.strip()
        for row in rows
        if row[0] != "ok"
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]


class _Checker:
    """Decodes and validates the items of collections, reporting problems."""

    def __init__(self, validators: _Validators, report: _Report) -> None:
        self.validators = validators
        self.report = report
        self.notes: list[str] = []
        self.checked = 0

    def collection(
        self, store: StoreFile, collection: Collection, now: float, advance: Any
    ) -> None:
        """Check one collection: its count, then every live item that can be read."""
        name = collection.name
        if not collection.exists:
            self.report.add(name, name, "its table is missing from the file")
            return
        try:
            rows = int(fetch(store.engine, collection.sql.count_rows)[0][0])
        except DamageError:
            rows = None  # the items that cannot be read are reported below
        if rows is not None and rows != collection.entry.count:
            self.report.add(
                name,
                name,
                f"the catalog counts {collection.entry.count} items but the table holds {rows}",
            )
        sides = [
            (what, side)
            for what, side in (("key", collection.key), ("value", collection.value))
            if side is not None
        ]

        def damaged(collection: Collection, part: Unreadable) -> None:
            self.report.damaged(store, collection, part)

        count = 0
        for index, row in enumerate(store.rows(collection, now, damaged)):
            if index == 0:  # only collections with items need the note
                self.notes.extend(
                    f"{name}: {what}s are not validated: {side.note}"
                    for what, side in sides
                    if side.note
                )
            key_shown: Any = None
            for at, (what, side) in enumerate(sides):
                label = "element" if what == "key" and not collection.kind.has_value else what
                try:
                    instance = side.check(row[at])
                except ProblemError as exc:
                    self.report.add(name, _where(collection, key_shown, index), f"{label} {exc}")
                    continue
                if what == "key":
                    key_shown = side.dump(row[at])
                problem = self.validators.problem(collection, what, instance)
                if problem is not None:
                    self.report.add(
                        name,
                        _where(collection, key_shown, index),
                        f"{label} does not match its schema: {problem}",
                    )
            count += 1
            if count % 500 == 0:
                advance(500)
        advance(count % 500)
        self.checked += count


def _where(collection: Collection, key: Any, index: int) -> str:
    if collection.kind.has_key and key is None:
        return f"{collection.name} (item {index + 1})"
    return collection.where(key, index)


# -- purge and vacuum --------------------------------------------------------------------


def _purge(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file, write=True, namespace=args.namespace) as store:
        expiring = [c for c in store.collections.values() if c.sql.purge is not None and c.exists]
        counts = []
        with store.engine.transaction():
            now = time.time()
            for collection in expiring:
                assert collection.sql.purge is not None
                counts.append((collection.name, store.engine.write(collection.sql.purge, (now,))))
    if not counts:
        ui.line(f"{shown(args.file)} has no expiring collections")
        return 0
    ui.table(["collection", "purged"], [[name, f"{n:,}"] for name, n in counts], right=("purged",))
    ui.line(f"purged {_count(sum(n for _, n in counts), 'expired item')}")
    return 0


def _vacuum(args: argparse.Namespace, ui: Ui) -> int:
    # A namespace shares its file with the others: the whole file is rebuilt.
    with StoreFile(args.file, write=True, namespace=args.namespace) as store:
        before = _store_size(store, args.file)
        store.engine.outside_transaction(store.engine.driver.vacuum)
        after = _store_size(store, args.file)
    ui.line(f"vacuumed {shown(args.file)}: {_bytes(before)} -> {_bytes(after)}")
    return 0


_COMMANDS = {
    "info": _info,
    "dump": _dump,
    "load": _load,
    "check": _check,
    "vacuum": _vacuum,
    "purge": _purge,
}
