"""What the stateful machines share: a store, its model, and nested transactions.

Each collection's machine (`test_mapping.py`, `test_set.py`, `test_sequence.py`,
`test_deque.py`, `test_expiry.py`) runs one persistent collection against a builtin
model. `StoreMachine` holds the store and the model, and has the transaction rules:
`begin` opens a transaction (up to three nested) and snapshots the model, `commit`
leaves it, `rollback` leaves it by an exception, checks that the exception is not
swallowed, and restores the snapshot. `FileMachine` adds a file that is closed and
reopened between transactions; `on_postgres(machine)` runs a machine on a fresh
PostgreSQL schema instead (skipped unless `TPSTORE_TEST_POSTGRES` is set).
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import tempfile
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import postgres_server
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from tpstore import Store


class RollbackError(Exception):
    """Raised inside a transaction to roll it back."""


class StoreMachine(RuleBasedStateMachine):
    """A store, a model of its collection, and nested transactions over both.

    Subclasses set `store_class` and `new_model()`; `snapshot()` and `restore()` copy
    the model and put a copy back (a shallow copy and an assignment by default).
    """

    store_class: type[Store]
    on_file = False

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="tpstore-machine-") if self.on_file else None
        self.model: Any = self.new_model()
        self.store: Any = self._open()
        # One (context manager, snapshot of the model) per open transaction level.
        self.levels: list[tuple[contextlib.AbstractContextManager[None], Any]] = []

    def new_model(self) -> Any:
        """The model of an empty collection."""
        raise NotImplementedError

    def snapshot(self) -> Any:
        """A copy of the model, taken when a transaction begins."""
        return copy.copy(self.model)

    def restore(self, snapshot: Any) -> None:
        """Put back the copy taken when the transaction now rolled back began."""
        self.model = snapshot

    def location(self) -> str | None:
        """Where the store lives: a file in the machine's folder, or `None` in memory."""
        return None if self.folder is None else str(Path(self.folder) / "store.db")

    def _open(self) -> Any:
        return self.store_class(self.location(), durability="normal")

    def teardown(self) -> None:
        while self.levels:
            self.levels.pop()[0].__exit__(None, None, None)
        self.store.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    @precondition(lambda self: len(self.levels) < 3)
    @rule()
    def begin(self) -> None:
        manager = self.store.transaction()
        manager.__enter__()
        self.levels.append((manager, self.snapshot()))

    @precondition(lambda self: bool(self.levels))
    @rule()
    def commit(self) -> None:
        self.levels.pop()[0].__exit__(None, None, None)

    @precondition(lambda self: bool(self.levels))
    @rule()
    def rollback(self) -> None:
        manager, snapshot = self.levels.pop()
        # What a `with` block does when its body raises: the manager must not swallow it.
        assert not manager.__exit__(RollbackError, RollbackError(), None)
        self.restore(snapshot)


class FileMachine(StoreMachine):
    """Mixin for a machine on a file, which is closed and reopened between steps.

    Put it first: `class FileSetMachine(FileMachine, SetMachine)`.
    """

    on_file = True

    @precondition(lambda self: not self.levels)
    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()


class PostgresMachine(StoreMachine):
    """Mixin for a machine on a fresh PostgreSQL schema, closed and reopened between steps."""

    def __init__(self) -> None:
        assert postgres_server.SERVER_URL is not None
        self._schema = postgres_server.fresh_schema(postgres_server.SERVER_URL)
        self._url = self._schema.__enter__()
        super().__init__()

    def location(self) -> str | None:
        return self._url

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self._schema.__exit__(None, None, None)

    @precondition(lambda self: not self.levels)
    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()


def on_postgres(
    machine: type[StoreMachine], *, attributes: dict[str, Any] | None = None, **options: Any
) -> type[unittest.TestCase]:
    """`machine` run on PostgreSQL, as a test case that skips without a test server.

    `attributes` override class attributes of the machine (its strategies) there.
    """
    variant = type(f"Postgres{machine.__name__}", (PostgresMachine, machine), attributes or {})
    case = as_test_case(variant, **options)
    available = postgres_server.SERVER_URL is not None and postgres_server.backend_available()
    reason = (
        "TPSTORE_TEST_POSTGRES is not set (see .ci/with-postgres.sh)"
        if postgres_server.SERVER_URL is None
        else "PostgreSQL backend not available yet"
    )
    skipped: type[unittest.TestCase] = unittest.skipUnless(available, reason)(case)
    return skipped


def outcome(action: Callable[[], Any], errors: tuple[type[Exception], ...]) -> Any:
    """The result of `action()`, or the type and message of the error of `errors` it raised."""
    try:
        return ("ok", action())
    except errors as exc:
        return (type(exc), str(exc))


def as_test_case(machine: type[RuleBasedStateMachine], **options: Any) -> type[unittest.TestCase]:
    """`machine.TestCase`, run with hypothesis settings `options` (over the profile's)."""
    case = machine.TestCase
    case.settings = settings(**options)
    return case
