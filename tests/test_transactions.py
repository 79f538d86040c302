"""Transactions, isolation and concurrency (DESIGN.md §3), with real threads and processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import query

import tpstore
from tpstore import BusyError, Mapping, OrderedMapping, ReadOnlyError, Store, Value


class RollbackError(Exception):
    """Raised inside a transaction to roll it back."""


class Bank(Store):
    balances: Mapping[str, int]
    log: OrderedMapping[int, str]
    note: Value[str]


@pytest.fixture
def bank(location: str | None) -> Iterator[Bank]:
    with Bank(location) as opened:
        yield opened


# -- nesting ------------------------------------------------------------------------------


def test_outermost_level_commits(db_path: Path) -> None:
    """Normal exit of the outermost transaction commits, visible to another connection."""
    with Bank(db_path) as bank:
        with bank.transaction():
            bank.balances["a"] = 1
            with bank.transaction():
                bank.balances["b"] = 2
            assert _committed(db_path) == {}
        assert _committed(db_path) == {"a": 1, "b": 2}


def _committed(path: Path) -> dict[str, int]:
    """The committed balances, read through a plain sqlite3 connection."""
    return dict(query(path, "SELECT key, value FROM balances"))


def test_exception_rolls_back_exactly_its_level(bank: Bank) -> None:
    """An exception leaving a nested block undoes that block only, and propagates."""
    with bank.transaction():
        bank.balances["a"] = 1
        with pytest.raises(RollbackError), bank.transaction():  # noqa: PT012
            bank.balances["a"] = 100
            bank.balances["b"] = 2
            bank.log[1] = "inner"
            with bank.transaction():
                bank.note.set("deepest")
            raise RollbackError
        assert dict(bank.balances) == {"a": 1}
        assert len(bank.log) == 0
        assert not bank.note.is_set
        bank.balances["c"] = 3
    assert dict(bank.balances) == {"a": 1, "c": 3}


def test_exception_in_outermost_level_rolls_everything_back(bank: Bank) -> None:
    """An exception leaving the outermost block undoes all of it, inner commits too."""
    bank.balances["keep"] = 0
    with pytest.raises(RollbackError), bank.transaction():  # noqa: PT012
        with bank.transaction():
            bank.balances["a"] = 1
        bank.balances.increment("keep", 5)
        raise RollbackError
    assert dict(bank.balances) == {"keep": 0}
    assert len(bank.balances) == 1


def test_rolled_back_level_can_be_followed_by_another(bank: Bank) -> None:
    """After an inner rollback, later savepoints at the same depth work normally."""
    with bank.transaction():
        for attempt in range(3):
            with pytest.raises(RollbackError), bank.transaction():  # noqa: PT012
                bank.balances[f"try{attempt}"] = attempt
                raise RollbackError
        with bank.transaction():
            bank.balances["done"] = 1
    assert dict(bank.balances) == {"done": 1}


def test_compound_operations_inside_a_rolled_back_transaction_leave_nothing(bank: Bank) -> None:
    """`update`, `pop`, `setdefault`, `edit`, `clear` inside a rolled-back block undo."""
    bank.balances.update(a=1, b=2)
    with pytest.raises(RollbackError), bank.transaction():  # noqa: PT012
        bank.balances.update(c=3, d=4)
        bank.balances.pop("a")
        bank.balances.setdefault("e", 5)
        bank.balances.increment("b")
        bank.balances.popitem()
        bank.balances.clear()
        raise RollbackError
    assert dict(bank.balances) == {"a": 1, "b": 2}
    assert len(bank.balances) == 2


# -- readonly snapshots -------------------------------------------------------------------


def test_readonly_transaction_refuses_writes(bank: Bank) -> None:
    """Inside `transaction(readonly=True)` every write raises `ReadOnlyError`."""
    bank.balances["a"] = 1
    with bank.transaction(readonly=True):
        assert bank.balances["a"] == 1
        for write in (
            lambda: bank.balances.__setitem__("b", 2),
            lambda: bank.balances.pop("a"),
            lambda: bank.balances.increment("a"),
            lambda: bank.balances.update(c=3),
            bank.balances.clear,
            lambda: bank.note.set("x"),
        ):
            with pytest.raises(ReadOnlyError):
                write()
        with pytest.raises(ReadOnlyError), bank.transaction():
            pass  # pragma: no cover - never entered
        with bank.transaction(readonly=True):
            assert len(bank.balances) == 1
    assert dict(bank.balances) == {"a": 1}
    bank.balances["b"] = 2  # writable again afterwards
    assert len(bank.balances) == 2


def test_readonly_snapshot_does_not_see_a_later_commit(db_path: Path) -> None:
    """A readonly transaction keeps reading the state it started with."""
    with Bank(db_path) as reader, Bank(db_path) as writer:
        writer.balances["a"] = 1
        with reader.transaction(readonly=True):
            assert dict(reader.balances) == {"a": 1}
            writer.balances["a"] = 2  # WAL: the writer does not wait for the reader
            writer.balances["b"] = 3
            assert reader.balances["a"] == 1
            assert "b" not in reader.balances
            assert len(reader.balances) == 1
        assert dict(reader.balances) == {"a": 2, "b": 3}


# -- threads ------------------------------------------------------------------------------


def test_transaction_is_invisible_to_another_thread_until_commit(db_path: Path) -> None:
    """Another thread reads the last committed state while a transaction is open."""
    with Bank(db_path) as bank:
        bank.balances["a"] = 1
        seen: list[object] = []
        opened, checked = threading.Event(), threading.Event()

        def other() -> None:
            opened.wait(5)
            seen.append(bank.balances.get("a"))
            seen.append(bank.balances.get("b"))
            seen.append(len(bank.balances))
            checked.set()

        thread = threading.Thread(target=other)
        thread.start()
        with bank.transaction():
            bank.balances["a"] = 10
            bank.balances["b"] = 20
            opened.set()
            assert checked.wait(5)
        thread.join(5)
        assert seen == [1, None, 1]
        after: list[object] = []
        thread = threading.Thread(target=lambda: after.append(dict(bank.balances)))
        thread.start()
        thread.join(5)
        assert after == [{"a": 10, "b": 20}]


@pytest.mark.parametrize("where", ["file", "memory"])
def test_other_threads_write_waits_then_raises_busy_error(tmp_path: Path, where: str) -> None:
    """A write from another thread waits for the lock, then raises `BusyError`."""
    path = tmp_path / "bank.db" if where == "file" else None
    with Bank(path, timeout=0.2) as bank:
        errors: list[BaseException] = []
        opened, done = threading.Event(), threading.Event()

        def other() -> None:
            opened.wait(5)
            started = time.monotonic()
            try:
                bank.balances["b"] = 2
            except BaseException as exc:  # the test inspects it
                errors.append(exc)
            errors.append(time.monotonic() - started)  # type: ignore[arg-type]
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        with bank.transaction():
            bank.balances["a"] = 1
            opened.set()
            assert done.wait(10)
        thread.join(5)
        error, waited = errors
        assert isinstance(error, BusyError), repr(error)
        assert not isinstance(error, sqlite3.Error)
        assert waited >= 0.15  # type: ignore[operator]
        assert dict(bank.balances) == {"a": 1}


def test_other_threads_transaction_waits_then_raises_busy_error_and_recovers(
    db_path: Path,
) -> None:
    """Opening a transaction while another thread holds one: `BusyError`, then usable."""
    with Bank(db_path, timeout=0.2) as bank:
        outcome: list[object] = []
        opened, tried, committed = threading.Event(), threading.Event(), threading.Event()

        def other() -> None:
            opened.wait(5)
            try:
                with bank.transaction():
                    bank.balances["b"] = 2  # pragma: no cover - must not get here
            except BusyError as exc:
                outcome.append(exc)
            tried.set()
            committed.wait(5)
            with bank.transaction():
                bank.balances["b"] = 2
            outcome.append("retried")

        thread = threading.Thread(target=other)
        thread.start()
        with bank.transaction():
            bank.balances["a"] = 1
            opened.set()
            assert tried.wait(10)
        committed.set()
        thread.join(5)
        assert isinstance(outcome[0], BusyError)
        assert outcome[1:] == ["retried"]
        assert dict(bank.balances) == {"a": 1, "b": 2}


def test_other_threads_write_proceeds_after_commit(db_path: Path) -> None:
    """A waiting writer in another thread goes ahead once the transaction commits."""
    with Bank(db_path, timeout=5) as bank:
        opened = threading.Event()
        results: list[object] = []

        def other() -> None:
            opened.wait(5)
            bank.balances.increment("a")
            results.append("written")

        thread = threading.Thread(target=other)
        thread.start()
        with bank.transaction():
            bank.balances["a"] = 1
            opened.set()
            time.sleep(0.1)
            assert results == []
        thread.join(5)
        assert results == ["written"]
        assert bank.balances["a"] == 2


def test_threads_incrementing_lose_nothing(location: str | None) -> None:
    """Threads sharing one store object increment one key without losing an update."""
    with Bank(location) as bank:

        def work() -> None:
            for _ in range(100):
                bank.balances.increment("n")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert bank.balances["n"] == 400


# -- processes ----------------------------------------------------------------------------


def _increment_worker(path: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    with Bank(path, timeout=30) as bank:
        start.wait(30)
        for _ in range(count):
            bank.balances.increment("n")


def _read_modify_write_worker(
    path: str, count: int, start: multiprocessing.synchronize.Event
) -> None:
    with Bank(path, timeout=30) as bank:
        start.wait(30)
        for _ in range(count):
            with bank.transaction():
                current = bank.balances.get("n", 0)
                bank.balances["n"] = current + 1
                bank.log[len(bank.log)] = str(os.getpid())


def _run_processes(target: object, path: str, count: int, processes: int = 4) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=target, args=(str(path), count, start))  # type: ignore[attr-defined]
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * processes


@pytest.mark.slow
def test_four_processes_incrementing_lose_nothing(shared_location: str) -> None:
    """4 processes x 300 `increment` on one key: exactly 1,200."""
    Bank(shared_location).close()
    _run_processes(_increment_worker, shared_location, 300)
    with Bank(shared_location) as bank:
        assert bank.balances["n"] == 1200


@pytest.mark.slow
def test_read_modify_write_in_transaction_loses_no_update(shared_location: str) -> None:
    """4 processes x 200 `get`-then-set in one `transaction()` each: exactly 800."""
    Bank(shared_location).close()
    _run_processes(_read_modify_write_worker, shared_location, 200)
    with Bank(shared_location) as bank:
        assert bank.balances["n"] == 800
        assert len(bank.log) == 800
        assert list(bank.log) == list(range(800))


_KILLED_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from tpstore import Mapping, OrderedMapping, Store, Value

class Bank(Store):
    balances: Mapping[str, int]
    log: OrderedMapping[int, str]
    note: Value[str]

bank = Bank({path!r})
with bank.transaction():
    bank.balances.update((f"k{{i}}", i) for i in range(500))
    bank.log[1] = "half done"
    bank.note.set("never")
    bank.balances.increment("base", 100)
    print("inside", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_process_killed_inside_a_transaction_leaves_none_of_its_writes(
    shared_location: str,
) -> None:
    """SIGKILL in the middle of a transaction: none of its writes survive."""
    with Bank(shared_location) as bank:
        bank.balances["base"] = 1
    root = str(Path(tpstore.__file__).resolve().parent.parent)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_KILLED_CHILD).format(root=root, path=shared_location),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "inside"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:  # pragma: no cover - only if the child hung
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Bank(shared_location, timeout=5) as bank:
        assert dict(bank.balances) == {"base": 1}
        assert len(bank.balances) == 1
        assert len(bank.log) == 0
        assert not bank.note.is_set
        bank.balances["after"] = 2  # the lock died with the process
        assert len(bank.balances) == 2
