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
import importlib
import io
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from tpstore._cli_codecs import UNCHECKED, ProblemError, dumps_json, parse_json, type_label
from tpstore._cli_file import CliError, Collection, StoreFile
from tpstore._cli_ui import EXTRA_HINT, Ui
from tpstore._version import __version__
from tpstore.errors import TpStoreError

__all__ = ["main"]

MAX_WARNINGS = 20
"""Per-item warnings printed by `dump` before the rest are only counted."""


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
    load = command("load", "Add the records of a jsonl file to a collection, in one transaction.")
    load.add_argument("collection", metavar="COLLECTION", help="the collection to write")
    load.add_argument(
        "input", metavar="INPUT", help="a jsonl file as dump writes it; '-' reads standard input"
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
    ui = Ui()
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
        if isinstance(exc, BrokenPipeError):  # `tpstore dump x.db | head`
            _silence_stdout()
            return 1
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
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _silence_stdout() -> None:
    # Python flushes stdout at exit; after a broken pipe that would print another error.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (an in-process caller's buffer)
        pass


# -- info --------------------------------------------------------------------------------


def _info(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file) as store:
        now = time.time()
        sizes = _table_sizes(store)
        engine = store.engine
        page_size = int(engine.fetchone(engine.dialect.pragma("main", "page_size"))[0])
        free = int(engine.fetchone(engine.dialect.pragma("main", "freelist_count"))[0])
        ui.facts(
            [
                ("file", args.file),
                (
                    "size",
                    _bytes(_file_size(args.file))
                    + (f" ({_bytes(free * page_size)} free)" if free else ""),
                ),
                ("journal", store.journal_mode),
                ("collections", str(len(store.entries))),
            ]
        )
        rows = []
        for collection in store.collections.values():
            live, expired = store.live_count(collection, now)
            items = f"{live} (+{expired} expired)" if expired else str(live)
            size = sizes.get(collection.name) if sizes is not None else None
            rows.append(
                [
                    collection.name,
                    collection.entry.kind + ("" if collection.exists else " (table missing)"),
                    _side(collection.entry.key_schema, collection.entry.key_codec)
                    if collection.kind.has_key
                    else "",
                    _side(collection.entry.value_schema, collection.entry.value_codec)
                    if collection.kind.has_value
                    else "",
                    items,
                    "?" if size is None else _bytes(size),
                    _options(collection.entry.options),
                ]
            )
        for name, kind in store.unknown_kinds.items():
            rows.append([name, f"{kind} (unknown kind)", "", "", "?", "?", ""])
        ui.line()
        ui.table(
            ["collection", "kind", "key", "value", "items", "size", "options"],
            rows,
            right=("items", "size"),
            whole=("collection", "kind", "size"),
        )
    return 0


def _side(schema: str | None, codec: str | None) -> str:
    return f"{type_label(schema)} · {codec}"


def _options(options: dict[str, Any]) -> str:
    parts = []
    if options.get("lifespan") is not None:
        parts.append(f"lifespan {_seconds(float(options['lifespan']))}")
    if options.get("maxlen") is not None:
        parts.append(f"maxlen {options['maxlen']}")
    return ", ".join(parts)


def _seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _table_sizes(store: StoreFile) -> dict[str, int] | None:
    """Bytes per table; `None` when SQLite was built without the `dbstat` table."""
    try:
        rows = store.engine.fetchall(store.engine.dialect.table_sizes("main"), ("main",))
    except TpStoreError:
        return None
    return {str(name): int(size) for name, size in rows}


def _file_size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _bytes(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError  # pragma: no cover


# -- dump --------------------------------------------------------------------------------


def _dump(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file, unsafe_pickle=args.unsafe_pickle) as store:
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
        problems = 0
        # One read transaction: the dump is one consistent snapshot of the file.
        with store.engine.transaction(readonly=True):
            now = time.time()
            total = sum(store.live_count(c, now)[0] for c in chosen)
            with ui.progress("dumping", total) as advance:
                records = _records(store, chosen, now, advance)
                if args.format == "jsonl":
                    for collection, record in records:
                        problems += _report(ui, record.problems, problems)
                        ui.write(
                            dumps_json({"collection": collection.name, **record.fields}) + "\n"
                        )
                else:
                    problems = _dump_json(ui, store, chosen, now, advance)
        if problems > MAX_WARNINGS:
            ui.warn(f"{_count(problems - MAX_WARNINGS, 'more item')} could not be decoded")
        if problems:
            ui.warn(
                f"{_count(problems, 'item')} that do not decode dumped as stored "
                f"({{\"$raw\": ...}}); run 'tpstore check {args.file}'"
            )
            return 1
    return 0


def _records(
    store: StoreFile, chosen: list[Collection], now: float, advance: Any
) -> Iterator[tuple[Collection, Any]]:
    count = 0
    for collection in chosen:
        for record in store.records(collection, now):
            yield collection, record
            count += 1
            if count == 500:
                advance(count)
                count = 0
    advance(count)


def _dump_json(ui: Ui, store: StoreFile, chosen: list[Collection], now: float, advance: Any) -> int:
    problems = 0
    ui.write("{")
    for index, collection in enumerate(chosen):
        ui.write(("," if index else "") + "\n" + dumps_json(collection.name) + ": [")
        first_item = True
        for record in store.records(collection, now):
            problems += _report(ui, record.problems, problems)
            ui.write(("" if first_item else ",") + "\n  " + dumps_json(record.fields))
            first_item = False
            advance(1)
        ui.write("]" if first_item else "\n]")
    ui.write("\n}\n" if chosen else "}\n")
    return problems


def _report(ui: Ui, problems: list[str], so_far: int) -> int:
    for offset, problem in enumerate(problems):
        if so_far + offset < MAX_WARNINGS:
            ui.warn(problem)
    return len(problems)


# -- load --------------------------------------------------------------------------------


def _load(args: argparse.Namespace, ui: Ui) -> int:
    validators = _Validators()
    if args.input != "-" and not os.path.isfile(args.input):
        raise CliError(
            f"{args.input} does not exist"
            if not os.path.exists(args.input)
            else f"{args.input} is not a file"
        )
    with StoreFile(args.file, write=True) as store:
        collection = store.collection(args.collection)
        total = None
        if args.input != "-":
            with open(args.input, "rb") as counting:
                total = sum(1 for line in counting if line.strip())
        stream = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
            if args.input == "-"
            else open(args.input, encoding="utf-8")  # noqa: SIM115 - closed below
        )
        try:
            with ui.progress(f"loading {collection.name}", total) as advance:
                written = store.load(collection, enumerate(stream, 1), validators.problem, advance)
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{args.input} is not UTF-8 text ({exc.reason}); nothing was loaded"
            ) from exc
        finally:
            if args.input != "-":
                stream.close()
    ui.line(f"loaded {_count(written, 'item')} into {collection.name}")
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
    checker = _Checker(_Validators())
    with StoreFile(args.file, unsafe_pickle=args.unsafe_pickle) as store:
        engine = store.engine
        for row in engine.fetchall(engine.dialect.integrity_check("main")):
            if row[0] != "ok":
                checker.problems.append(f"integrity: {row[0]}")
        for name, kind in store.unknown_kinds.items():
            checker.notes.append(
                f"{name}: not checked (a {kind}, a kind this tpstore does not know)"
            )
        with engine.transaction(readonly=True):
            now = time.time()
            total = sum(store.live_count(c, now)[0] for c in store.collections.values())
            with ui.progress("checking", total) as advance:
                for collection in store.collections.values():
                    checker.collection(store, collection, now, advance)
    for note in checker.notes:
        ui.warn(note)
    for problem in checker.problems:
        ui.line(problem)
    if checker.problems:
        ui.line(
            f"{_count(len(checker.problems), 'problem')} found in {args.file} "
            f"({_count(checker.checked, 'item')} checked)"
        )
        return 1
    ui.line(
        f"ok: {args.file} ({_count(len(store.collections), 'collection')}, "
        f"{_count(checker.checked, 'item')} checked)"
    )
    return 0


class _Checker:
    """Decodes and validates the items of collections, collecting problems."""

    def __init__(self, validators: _Validators) -> None:
        self.validators = validators
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.checked = 0

    def collection(
        self, store: StoreFile, collection: Collection, now: float, advance: Any
    ) -> None:
        """Check one collection: its count, then every live item."""
        if not collection.exists:
            self.problems.append(f"{collection.name}: its table is missing from the file")
            return
        rows = int(store.engine.fetchone(collection.sql.count_rows)[0])
        if rows != collection.entry.count:
            self.problems.append(
                f"{collection.name}: the catalog counts "
                f"{collection.entry.count} items but the table holds {rows}"
            )
        sides = [
            (what, side)
            for what, side in (("key", collection.key), ("value", collection.value))
            if side is not None
        ]
        count = 0
        for index, row in enumerate(store.rows(collection, now)):
            if index == 0:  # only collections with items need the note
                self.notes.extend(
                    f"{collection.name}: {what}s are not validated: {side.note}"
                    for what, side in sides
                    if side.note
                )
            key_shown: Any = None
            for at, (what, side) in enumerate(sides):
                label = "element" if what == "key" and not collection.kind.has_value else what
                try:
                    instance = side.check(row[at])
                except ProblemError as exc:
                    self.problems.append(f"{_where(collection, key_shown, index)}: {label} {exc}")
                    continue
                if what == "key":
                    key_shown = side.dump(row[at])
                problem = self.validators.problem(collection, what, instance)
                if problem is not None:
                    self.problems.append(
                        f"{_where(collection, key_shown, index)}: {label} "
                        f"does not match its schema: {problem}"
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
    with StoreFile(args.file, write=True) as store:
        expiring = [c for c in store.collections.values() if c.sql.purge is not None and c.exists]
        counts = []
        with store.engine.transaction():
            now = time.time()
            for collection in expiring:
                assert collection.sql.purge is not None
                counts.append((collection.name, store.engine.write(collection.sql.purge, (now,))))
    if not counts:
        ui.line(f"{args.file} has no expiring collections")
        return 0
    ui.table(["collection", "purged"], [[name, str(n)] for name, n in counts], right=("purged",))
    ui.line(f"purged {_count(sum(n for _, n in counts), 'expired item')}")
    return 0


def _vacuum(args: argparse.Namespace, ui: Ui) -> int:
    with StoreFile(args.file, write=True) as store:
        before = _file_size(args.file)
        store.engine.outside_transaction(store.engine.driver.vacuum)
    after = _file_size(args.file)
    ui.line(f"vacuumed {args.file}: {_bytes(before)} -> {_bytes(after)}")
    return 0


_COMMANDS = {
    "info": _info,
    "dump": _dump,
    "load": _load,
    "check": _check,
    "vacuum": _vacuum,
    "purge": _purge,
}
