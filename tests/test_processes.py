"""Several processes on one store: crashes, forks, multiprocessing, backups, full disks.

Children are forked from the test process (cheap: tpstore is already imported) or
started with multiprocessing's spawn method. Every test here is marked slow.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from helpers import query

from tpstore import BusyError, Mapping, Store, TpStoreError, Value, field

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

PAD = "x" * 3000


class Ledger(Store):
    """Two files written together: `m` in main, `am` in the attachment `archive`."""

    m: Mapping[str, str]
    am: Mapping[str, str] = field(database="archive", table="m")


class Alone(Store):
    """Either file of a `Ledger`, opened by itself as a main file."""

    m: Mapping[str, str]


class Counter(Store):
    hits: Mapping[str, int]


class Counted(Store):
    """Items plus their count, kept equal by every transaction."""

    items: Mapping[int, str]
    total: Value[int] = field(default=0)


class Blobs(Store):
    m: Mapping[int, str]


def start_forked(fn: Callable[[], None]) -> int:
    """Fork a child that runs `fn`, then exits 0 (1 when `fn` raised); the child's pid.

    The child always leaves by `os._exit`, never through the caller's code: a `with`
    block of the parent's left in the child would run its exit there.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_forked(pid: int) -> int:
    """Wait for a child of `start_forked`; its exit code."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run_forked(fn: Callable[[], None]) -> int:
    """Run `fn` in a forked child; its exit code (0 when it returned)."""
    return wait_forked(start_forked(fn))


def integrity(path: Path) -> str:
    """The result of SQLite's integrity check of a file: `"ok"` when it is sound."""
    ((result,),) = query(path, "PRAGMA integrity_check")
    return str(result)


# -- a crash in the middle of a multi-file commit ----------------------------------------


def _commit_forever(main: str, archive: str, started: Any) -> None:  # pragma: no cover
    store = Ledger(main, attach={"archive": archive})
    n = int(store.m.get("n", "0"))
    first = n
    while True:
        n += 1
        with store.transaction():
            store.m["n"] = str(n)
            store.m[f"pad{n % 7}"] = PAD
            store.am[f"pad{n % 5}"] = PAD
            store.am["n"] = str(n)
        if n == first + 2:
            started.set()


def test_sigkill_during_multi_file_commits_leaves_both_files_at_one_state(
    tmp_path: Path,
) -> None:
    """30 kills at random moments: both files always agree, read from either side."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    Ledger(main, attach={"archive": archive}).close()
    context = multiprocessing.get_context("fork")
    rng = random.Random(6)
    hot_journals = super_journals = 0
    seen_supers: set[str] = set()
    states: list[int] = []
    for attempt in range(30):
        started = context.Event()
        child = context.Process(target=_commit_forever, args=(str(main), str(archive), started))
        child.start()
        assert started.wait(20)
        time.sleep(rng.uniform(0, 0.02))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        leftovers = [p.name for p in tmp_path.iterdir() if "journal" in p.name or "-mj" in p.name]
        hot_journals += bool(leftovers)
        # A kill inside COMMIT leaves a super-journal (main.db-mj...); one left before
        # its name reached the files' journals stays behind for good, harmlessly.
        new_supers = {name for name in leftovers if "-mj" in name} - seen_supers
        super_journals += bool(new_supers)
        seen_supers |= new_supers
        # Recover from either side first: the archive alone, or the main file alone.
        first, second = (archive, main) if attempt % 2 else (main, archive)
        with Alone(first) as alone:
            seen_first = alone.m["n"]
        with Alone(second) as alone:
            seen_second = alone.m["n"]
        assert seen_first == seen_second, (attempt, leftovers)
        with Ledger(main, attach={"archive": archive}) as both:
            assert both.m["n"] == both.am["n"] == seen_first
        states.append(int(seen_first))
    assert integrity(main) == integrity(archive) == "ok"
    assert states == sorted(states)
    assert states[-1] >= 30 * 2  # each child committed at least twice before its kill
    # The kills did land inside transactions: their journals were left behind.
    assert hot_journals >= 1
    assert super_journals >= 1  # and some inside COMMIT itself


# -- fork ---------------------------------------------------------------------------------


def test_forked_child_does_not_lose_writes_when_the_parent_closes(tmp_path: Path) -> None:
    """The child's new connections really lock the file: the parent's close keeps its WAL.

    A child that kept the parent's copied SQLite lock state would let the parent's
    last close checkpoint and delete the WAL the child is still writing to.
    """
    path = tmp_path / "x.db"
    store = Counter(path)
    store.hits["parent"] = 1

    def child() -> None:  # pragma: no cover - runs in the child
        for i in range(200):
            store.hits[f"c{i}"] = i
            time.sleep(0.001)
        store.close()

    pid = start_forked(child)
    time.sleep(0.05)
    store.close()  # the parent's last connection goes while the child writes
    assert wait_forked(pid) == 0
    with Counter(path) as again:
        assert len(again.hits) == 201
        assert again.hits["c199"] == 199
    assert integrity(path) == "ok"


def test_forked_child_uses_the_inherited_store_beside_its_parent(tmp_path: Path) -> None:
    """Parent and child increment through the same store object; no update is lost."""
    path = tmp_path / "x.db"
    with Counter(path) as store:
        store.hits["n"] = 0
        parent_connection = store._engine.driver.raw()

        def child() -> None:  # pragma: no cover - runs in the child
            assert store._engine.driver.raw() is not parent_connection
            for _ in range(100):
                store.hits.increment("n")

        context = multiprocessing.get_context("fork")
        process = context.Process(target=child)
        process.start()
        for _ in range(100):
            store.hits.increment("n")
        process.join()
        assert process.exitcode == 0
        assert store.hits["n"] == 200
        assert store._engine.driver.raw() is parent_connection


def test_in_memory_store_cannot_be_used_in_a_forked_child() -> None:
    """Its data lives in the parent: the child gets a clear TpStoreError."""
    with Counter(None) as store:
        store.hits["a"] = 1

        def child() -> None:  # pragma: no cover - runs in the child
            with pytest.raises(TpStoreError, match="in-memory"):
                store.hits["a"]

        assert run_forked(child) == 0
        assert store.hits["a"] == 1


def test_fork_inside_a_transaction_leaves_it_to_the_parent(tmp_path: Path) -> None:
    """The child can neither use the store nor finish the transaction; the parent commits."""
    path = tmp_path / "x.db"
    with Counter(path) as store:
        store.hits["before"] = 1
        with store.transaction():
            store.hits["inside"] = 2

            def child() -> None:  # pragma: no cover - runs in the child
                with pytest.raises(TpStoreError, match="forked"):
                    store.hits["child"] = 3
                with pytest.raises(TpStoreError, match="forked"):
                    Counter(path)

            # The child exits inside the block: leaving the `with` there would raise.
            assert run_forked(child) == 0
            store.hits["after fork"] = 4
        assert dict(store.hits) == {"after fork": 4, "before": 1, "inside": 2}
    assert integrity(path) == "ok"


def test_fork_while_another_thread_is_inside_a_transaction(tmp_path: Path) -> None:
    """The child refuses that file (its lock state is unreliable), other files work."""
    path, other = tmp_path / "x.db", tmp_path / "other.db"
    store = Counter(path)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            store.hits["thread"] = 1
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(10)

    def child() -> None:  # pragma: no cover - runs in the child
        with pytest.raises(TpStoreError, match="forked while its parent was using"):
            store.hits["child"] = 1
        with pytest.raises(TpStoreError, match="forked while its parent was using"):
            Counter(path)
        with Counter(other) as fresh:
            fresh.hits["child"] = 1

    try:
        assert run_forked(child) == 0
    finally:
        release.set()
        thread.join()
    assert dict(store.hits) == {"thread": 1}
    store.close()
    with Counter(other) as fresh:
        assert dict(fresh.hits) == {"child": 1}


def test_a_transaction_of_the_forking_thread_is_not_finished_by_the_child(
    tmp_path: Path,
) -> None:
    """Leaving the parent's `with transaction()` in the child raises, writing nothing."""
    path = tmp_path / "x.db"
    with Counter(path) as store:
        pid = -1
        try:
            with store.transaction():
                store.hits["inside"] = 1
                pid = os.fork()
        except TpStoreError as exc:
            if pid == 0:  # pragma: no cover - runs in the child
                os._exit(0 if "cannot be finished in the child" in str(exc) else 3)
            raise
        if pid == 0:  # pragma: no cover - the child left the block without an error
            os._exit(2)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert store.hits["inside"] == 1
    assert integrity(path) == "ok"


# -- multiprocessing ----------------------------------------------------------------------


def _increment_many(store: Counter, times: int) -> int:
    """A pool task: the store arrives pickled and is opened again in the worker."""
    with store:
        for _ in range(times):
            store.hits.increment("n")
        return os.getpid()


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_pools_share_a_store(tmp_path: Path, method: str) -> None:
    """A store passed to pool workers (pickled, reopened there) loses no increment."""
    with Counter(tmp_path / "x.db") as store:
        store.hits["n"] = 0
        context = multiprocessing.get_context(method)
        with context.Pool(3) as pool:
            pids = pool.starmap(_increment_many, [(store, 40)] * 6)
        assert store.hits["n"] == 240
        assert os.getpid() not in pids


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """The new file appears complete: no process ever finds it empty and refuses it."""
    for attempt in range(10):
        path = tmp_path / f"new{attempt}.db"
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(4)

        def create(path: Path = path, barrier: Any = barrier) -> None:  # pragma: no cover
            barrier.wait(10)
            with Counter(path) as store:
                store.hits[str(os.getpid())] = 1

        processes = [context.Process(target=create) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        assert [p.exitcode for p in processes] == [0] * 4
        with Counter(path) as store:
            assert len(store.hits) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- readers, writers and locks across processes ------------------------------------------


@pytest.mark.parametrize("wal", [True, False])
def test_read_only_store_sees_a_writer_process_commit(tmp_path: Path, wal: bool) -> None:
    """An ro store open in this process reads what another process commits."""
    path = tmp_path / "x.db"
    with Counter(path, wal=wal) as writer:
        writer.hits["a"] = 1
    with Counter(path, mode="ro") as reader:
        assert dict(reader.hits) == {"a": 1}

        def write() -> None:  # pragma: no cover - runs in the child
            with Counter(path, wal=wal) as writer:
                writer.hits["b"] = 2

        assert run_forked(write) == 0
        assert dict(reader.hits) == {"a": 1, "b": 2}


def _hold_lock(path: str, locked: Any, release: Any) -> None:  # pragma: no cover
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    locked.set()
    release.wait(20)
    conn.execute("COMMIT")


def test_a_lock_held_by_another_process_past_the_timeout_is_a_busy_error(
    tmp_path: Path,
) -> None:
    """BusyError after about `timeout` seconds, and the store works once it is released."""
    path = tmp_path / "x.db"
    with Counter(path, wal=False, timeout=0.3) as store:
        store.hits["a"] = 1
        context = multiprocessing.get_context("fork")
        locked, release = context.Event(), context.Event()
        holder = context.Process(target=_hold_lock, args=(str(path), locked, release))
        holder.start()
        assert locked.wait(10)
        try:
            started = time.monotonic()
            with pytest.raises(BusyError, match="timeout"):
                store.hits["b"] = 2
            waited = time.monotonic() - started
        finally:
            release.set()
            holder.join()
        assert 0.25 <= waited < 5
        store.hits["b"] = 2
        assert dict(store.hits) == {"a": 1, "b": 2}


# -- backup under concurrent writes -------------------------------------------------------


def _write_counted(path: str, wal: bool, started: Any, stop: Any) -> None:  # pragma: no cover
    with Counted(path, wal=wal) as store:
        i = store.total.get()
        while not stop.is_set():
            with store.transaction():
                store.items[i] = PAD[: 100 + i % 900]
                i += 1
                store.total.set(i)
            if i == 20:
                started.set()
            # (A writer that never pauses starves rollback-journal readers, which
            # poll for the lock; real writers pause between transactions.)
            time.sleep(0.001)


@pytest.mark.parametrize("wal", [True, False])
def test_backup_while_another_process_writes_is_consistent(tmp_path: Path, wal: bool) -> None:
    """Each copy is one committed state: the count equals the items, and it opens."""
    path = tmp_path / "x.db"
    Counted(path, wal=wal).close()
    context = multiprocessing.get_context("fork")
    started, stop = context.Event(), context.Event()
    writer = context.Process(target=_write_counted, args=(str(path), wal, started, stop))
    writer.start()
    totals = []
    try:
        assert started.wait(20)
        with Counted(path, wal=wal, timeout=10) as store:
            for n in range(5):
                copy = tmp_path / f"copy{n}.db"
                store.backup(copy)
                assert integrity(copy) == "ok"
                with Counted(copy) as backup:
                    total = backup.total.get()
                    assert len(backup.items) == total
                    assert sorted(backup.items) == list(range(total))
                    totals.append(total)
                time.sleep(0.02)
    finally:
        stop.set()
        writer.join()
    assert writer.exitcode == 0
    assert totals == sorted(totals)
    assert totals[-1] > totals[0]  # the writer kept going while the copies were made


# -- a full disk --------------------------------------------------------------------------


def _fill(path: str, wal: bool, limit: int, report: Connection) -> None:  # pragma: no cover
    import resource  # POSIX only, like fork

    # The kernel sends SIGXFSZ to a process writing past RLIMIT_FSIZE; ignored, the write
    # fails with EFBIG instead, as on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    store = Blobs(path, wal=wal)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    acknowledged = 0
    outcome: tuple[str, ...] = ("no error",)
    try:
        for i in range(100_000):
            store.m[i] = PAD[:1000]
            acknowledged = i + 1
    except Exception as exc:
        outcome = (type(exc).__module__, type(exc).__name__, str(exc))
    batch: tuple[str, ...] = ("no error",)
    try:
        store.m.update({-i: PAD for i in range(1, 50)})
    except Exception as exc:
        batch = (type(exc).__module__, type(exc).__name__)
    still = (len(store.m), store.m.get(0))
    report.send((acknowledged, outcome, batch, still))


@pytest.mark.parametrize("wal", [True, False])
def test_writer_with_a_capped_file_size_keeps_exactly_its_acknowledged_writes(
    tmp_path: Path, wal: bool
) -> None:
    """RLIMIT_FSIZE: a TpStoreError, reads still work, and the file holds what returned."""
    path = tmp_path / "x.db"
    Blobs(path, wal=wal).close()
    limit = 256 * 1024
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_fill, args=(str(path), wal, limit, send))
    child.start()
    assert receive.poll(60)
    acknowledged, outcome, batch, still = receive.recv()
    child.join()
    assert child.exitcode == 0
    assert outcome[:2] == ("tpstore.errors", "TpStoreError"), outcome
    assert "full" in outcome[2] or "I/O" in outcome[2]
    assert batch == ("tpstore.errors", "TpStoreError")
    assert 10 < acknowledged < 1000
    assert still == (acknowledged, PAD[:1000])
    with Blobs(path) as store:
        assert sorted(store.m) == list(range(acknowledged))
    assert integrity(path) == "ok"
