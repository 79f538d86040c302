"""The input of `tpstore load`: either dump format, told apart by its content.

- `jsonl`: one record per line, each a JSON object (`{"collection": ..., "key": ...,
  "value": ...}`); blank lines are skipped.
- `json`: one JSON document mapping each collection name to the list of its records
  (the records without `"collection"`), as `tpstore dump --format json` writes it.

The first non-blank line decides: a line that is a JSON object by itself starts a
jsonl input, unless it is the whole input and reads as a `json` document (an object
without a `"value"` field, all of whose fields are lists). Anything else (`{` alone, as
`dump --format json` begins) is a `json` document, parsed whole.
"""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from tpstore._cli.storefile import CliError
from tpstore._cli.values import parse_json

RecordLine = tuple[str, str, dict[str, Any]]
"""`(where, collection name, record)`: `where` names the record in messages."""


@dataclass
class Input:
    """The records of one INPUT, routed to their collections.

    Args:
        name: the INPUT argument: a path, or `-` for standard input.
        collection: the COLLECTION argument: every record goes there (and a record's
            `"collection"` field, if any, must name it); `None`: each record goes to
            the collection it names.
    """

    name: str
    collection: str | None = None

    def open(self) -> IO[str]:
        """The input as text; `CliError` if the file is missing or a folder."""
        if self.name == "-":
            return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        try:
            return open(self.name, encoding="utf-8")
        except FileNotFoundError as exc:
            raise CliError(f"{self.name} does not exist") from exc
        except IsADirectoryError as exc:
            raise CliError(f"{self.name} is not a file") from exc

    def records(self, stream: IO[str]) -> tuple[str, int | None, Iterator[RecordLine]]:
        """`(format, number of records if known, records)` of the open input."""
        try:
            lines = enumerate(stream, 1)
            skipped = []
            number, text = 0, ""
            for number, text in lines:  # noqa: B007 - both are used after the loop
                skipped.append(text)
                if text.strip():
                    break
            else:
                return "jsonl", 0, iter(())
            first = _object(text)
            rest: Iterable[tuple[int, str]] = lines
            if first is not None and _looks_like_document(first):
                # One line that may be the whole of a json document: look at the rest.
                remaining = stream.read()
                if not remaining.strip():
                    return "json", None, self._json(text)
                rest = enumerate(remaining.splitlines(keepends=True), number + 1)
            if first is not None:
                return "jsonl", None, self._jsonl(itertools.chain([(number, text)], rest))
            document = "".join(skipped) + stream.read()
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{self.name} is not UTF-8 text ({exc.reason}); nothing was loaded"
            ) from exc
        return "json", None, self._json(document)

    def _jsonl(self, lines: Iterable[tuple[int, str]]) -> Iterator[RecordLine]:
        try:
            for number, text in lines:
                if not text.strip():
                    continue
                where = f"line {number}"
                try:
                    record = parse_json(text)
                except ValueError as exc:
                    raise CliError(
                        f"{where}: not JSON ({exc}); nothing was loaded (the input is "
                        "read as jsonl, one record per line, since its first line is one)"
                    ) from exc
                if not isinstance(record, dict):
                    raise CliError(f"{where}: a record is a JSON object; nothing was loaded")
                yield where, self._route(where, record.get("collection"), record), record
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{self.name} is not UTF-8 text ({exc.reason}); nothing was loaded"
            ) from exc

    def _json(self, document: str) -> Iterator[RecordLine]:
        try:
            data = parse_json(document)
        except ValueError as exc:
            raise CliError(
                f"{self.name} is neither jsonl (one JSON record per line) nor a JSON "
                f"document as 'tpstore dump --format json' writes it ({exc}); "
                "nothing was loaded"
            ) from exc
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise CliError(
                f"{self.name} is a JSON document but not one 'tpstore dump --format json' "
                "writes (an object mapping each collection to a list of records); "
                "nothing was loaded"
            )
        for name, rows in data.items():
            for index, record in enumerate(rows, 1):
                where = f"record {index} of {name}"
                if not isinstance(record, dict):
                    raise CliError(f"{where}: a record is a JSON object; nothing was loaded")
                named = record.get("collection", name)
                if named != name:
                    raise CliError(
                        f"{where}: the record names collection {named!r}, not {name!r}; "
                        "nothing was loaded"
                    )
                yield where, self._route(where, name, record), record

    def _route(self, where: str, named: Any, record: dict[str, Any]) -> str:
        if self.collection is not None:
            if named is not None and named != self.collection:
                raise CliError(
                    f"{where}: the record belongs to collection {named!r}, not "
                    f"{self.collection!r}; nothing was loaded"
                )
            return self.collection
        if not isinstance(named, str):
            raise CliError(
                f'{where}: the record names no collection (a "collection" field); give '
                "the COLLECTION to load it into; nothing was loaded"
            )
        return named


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = parse_json(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _looks_like_document(value: dict[str, Any]) -> bool:
    return "value" not in value and all(isinstance(item, list) for item in value.values())
