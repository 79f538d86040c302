"""Sessions: connections are taken from a small pool per statement or transaction.

DESIGN.md §2 ("threads that come and go leak nothing") and §3 (a transaction belongs
to the thread that opened it).
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from pathlib import Path

import pytest
from helpers import execute

from tpstore import BusyError, ClosedError, Mapping, Store, TpStoreError


class Counter(Store):
    hits: Mapping[str, int]


def _fds_on(files: list[Path]) -> int:
    """Open file descriptors of this process on `files` (`-wal`/`-shm` included)."""
    wanted = {str(file.resolve()) for file in files}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target in wanted:
            count += 1
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_short_lived_threads_leave_few_connections_and_files(db_path: Path) -> None:
    """300 threads that each read once: at most 8 connections and 24 descriptors stay."""
    with Counter(db_path) as store:
        store.hits["a"] = 1

        def read_once() -> None:
            assert store.hits["a"] == 1

        for _ in range(300):
            thread = threading.Thread(target=read_once)
            thread.start()
            thread.join()
        assert len(store._engine.driver._sessions) <= 8  # type: ignore[attr-defined]
        files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
        assert _fds_on(files) <= 24
    assert _fds_on(files) == 0


def test_sessions_taken_at_once_go_back_to_a_small_pool(db_path: Path) -> None:
    """20 threads inside transactions at once hold 20 connections; afterwards <= 8 stay.

    (Descriptors are not counted here: SQLite keeps the descriptor of a closed
    connection's file open while other connections of the process hold locks on it, as
    WAL connections always do, and reuses it for the next connection it opens; so the
    descriptors follow the most connections ever open at once.)
    """
    with Counter(db_path) as store:
        store.hits["a"] = 1
        barrier = threading.Barrier(20)
        taken: list[int] = []

        def read_in_a_transaction() -> None:
            with store.transaction(readonly=True):
                assert store.hits["a"] == 1
                barrier.wait()  # all 20 sessions are taken now
                taken.append(len(store._engine.driver._sessions))  # type: ignore[attr-defined]

        for _ in range(5):
            threads = [threading.Thread(target=read_in_a_transaction) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert max(taken) >= 20
        assert len(store._engine.driver._sessions) <= 8  # type: ignore[attr-defined]


def test_a_transaction_does_not_follow_a_copied_context_into_another_thread(
    db_path: Path,
) -> None:
    """A context copied into a thread does not carry the transaction: its write waits."""
    with Counter(db_path, timeout=0.2) as store:
        outcome: list[BaseException | None] = []
        with store.transaction():
            store.hits["mine"] = 1
            context = contextvars.copy_context()

            def write() -> None:
                try:
                    store.hits["theirs"] = 2
                except BaseException as exc:
                    outcome.append(exc)
                else:  # pragma: no cover - the failure this test looks for
                    outcome.append(None)

            thread = threading.Thread(target=context.run, args=(write,))
            thread.start()
            thread.join()
        assert isinstance(outcome[0], BusyError)
        assert dict(store.hits) == {"mine": 1}


def test_closing_inside_a_transaction_refuses_its_next_statement(db_path: Path) -> None:
    """close() inside a block: the next statement of the block raises ClosedError."""
    store = Counter(db_path)

    def close_inside() -> None:
        with store.transaction():
            store.hits["a"] = 1
            store.close()
            with pytest.raises(ClosedError):
                store.hits["b"] = 2
            with pytest.raises(ClosedError):
                store.hits.get("b")

    with pytest.raises(ClosedError):  # leaving the block: nothing can commit any more
        close_inside()


@pytest.mark.parametrize("method", ["fetchone", "fetch_point"])
def test_a_session_goes_back_to_the_pool_after_a_failed_statement(
    db_path: Path, method: str
) -> None:
    """A statement that fails gives its session back: the pool does not grow. The same
    for a point read, which takes and gives back its session in one call to the driver."""
    with Counter(db_path) as store:
        driver = store._engine.driver
        run = getattr(store._engine, method)
        store.hits["a"] = 1
        before = len(driver._sessions)  # type: ignore[attr-defined]
        for _ in range(20):
            with pytest.raises(TpStoreError):
                run("SELECT * FROM no_such_table")
        assert len(driver._sessions) == before  # type: ignore[attr-defined]
        assert store.hits["a"] == 1
    with pytest.raises(ClosedError):
        store.hits["a"]


def test_point_reads_see_every_commit_and_hold_no_snapshot(db_path: Path) -> None:
    """`m[k]`, `get`, `in` and `len()` reuse one cursor per connection; they keep no
    read snapshot open after they return: the next statement on that connection sees
    every commit made before it, and a checkpoint need not wait for them."""
    with Counter(db_path) as reader, Counter(db_path, timeout=0.2) as writer:
        writer.hits.update({"a": 1, "b": 2})
        hits = reader.hits
        for round_ in range(3, 13):
            expected = {"a": round_ - 2, "b": 2} | ({"c": round_ - 1} if round_ % 2 == 0 else {})
            assert (hits["a"], hits.get("b"), "c" in hits, len(hits)) == (
                expected["a"],
                2,
                "c" in expected,
                len(expected),
            )
            assert dict(hits) == expected  # another statement, on the same connection
            writer.hits["a"] = round_ - 1
            if round_ % 2:
                writer.hits["c"] = round_
            else:
                del writer.hits["c"]
            writer.checkpoint()
            assert os.path.getsize(f"{db_path}-wal") == 0  # no reader kept old pages


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "POSTGRESQL"])
def test_a_postgresql_url_names_the_missing_backend(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without psycopg, not "file not found": an ImportError naming the extra."""
    monkeypatch.chdir(tmp_path)  # a file store would have been created here
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    for name in list(sys.modules):
        if name.startswith("tpstore._backends.postgresql"):
            monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"tpstore\[postgresql\]"):
        Counter(f"{scheme}://app@db/prod")
    assert list(tmp_path.iterdir()) == []


def test_a_catalog_without_its_counts_table_raises_a_tpstore_error(db_path: Path) -> None:
    """A damaged file (counts table dropped) is refused with TpStoreError, not sqlite3's."""
    Counter(db_path).close()
    execute(db_path, "DROP TABLE _tpstore_counts")
    with pytest.raises(TpStoreError, match="_tpstore_counts") as caught:
        Counter(db_path)
    assert type(caught.value) is TpStoreError
