"""The asyncio API's guarantees: transactions per task, cancellation, closing, a free loop.

Coroutines are driven with `asyncio.run`; the stores are real files (and, when the
suite has a server, PostgreSQL schemas) shared by real tasks and, for the lock waits,
by a real second connection.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import postgres_server as postgres
import pytest
from helpers import Ticker, execute, query
from pydantic import BaseModel

import tpstore


class App(tpstore.Store):
    hits: tpstore.Mapping[str, int]
    log: tpstore.Sequence[str]
    jobs: tpstore.Deque[int]


class Other(tpstore.Store):
    notes: tpstore.Mapping[str, str]


@pytest.fixture(params=["file", *(["postgresql"] if postgres.SERVER_URL else [])])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store that several connections share: a file, or a fresh PostgreSQL schema."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "store.db")


def test_async_with_opens_and_closes(where: str) -> None:
    """`async with App(path) as app` yields the store and closes it on exit."""

    async def scenario() -> App:
        async with App(where) as app:
            await app.hits.aset("a", 1)
            assert await app.hits.agetitem("a") == 1
        return app

    app = asyncio.run(scenario())
    assert app.closed
    with App(where) as again:
        assert again.hits["a"] == 1


def test_aclose_then_closed_error(where: str) -> None:
    """After `aclose()` every a-method raises `ClosedError`; `aclose()` is idempotent."""

    async def scenario() -> None:
        app = App(where)
        await app.hits.aset("a", 1)
        await app.aclose()
        assert app.closed
        await app.aclose()
        with pytest.raises(tpstore.ClosedError):
            await app.hits.aget("a")
        with pytest.raises(tpstore.ClosedError):
            await app.jobs.aappend(1)
        with pytest.raises(tpstore.ClosedError):
            [item async for item in app.log]
        with pytest.raises(tpstore.ClosedError):
            async with app.atransaction():
                pass  # pragma: no cover - not entered
        with pytest.raises(tpstore.ClosedError):
            app.hits["a"]

    asyncio.run(scenario())


def test_a_closed_store_refuses_a_methods_never_used_before(where: str) -> None:
    """A store closed by `close()` before any a-method raises `ClosedError` from them too."""
    app = App(where)
    app.close()
    with pytest.raises(tpstore.ClosedError):
        asyncio.run(app.hits.aget("a"))


def test_many_tasks_increment_without_losing_an_update(where: str) -> None:
    """100 tasks x 20 `aincrement` on one key end at exactly 2,000."""

    async def scenario() -> int:
        async with App(where, durability="normal") as app:

            async def worker() -> None:
                for _ in range(20):
                    await app.hits.aincrement("n")

            await asyncio.gather(*(worker() for _ in range(100)))
            return await app.hits.agetitem("n")

    assert asyncio.run(scenario()) == 2_000


def test_a_transaction_belongs_to_its_task(where: str) -> None:
    """Other tasks do not see its writes; theirs wait for its commit, off the loop."""
    events: list[str] = []

    async def scenario() -> None:
        async with App(where, timeout=5) as app:
            inside = asyncio.Event()
            release = asyncio.Event()

            async def owner() -> None:
                async with app.atransaction():
                    await app.hits.aset("a", 1)
                    assert await app.hits.aget("a") == 1
                    inside.set()
                    await release.wait()
                    events.append("commit")

            async def other() -> None:
                await inside.wait()
                assert await app.hits.aget("a") is None  # uncommitted: not seen
                write = asyncio.ensure_future(app.hits.aset("b", 2))
                await asyncio.sleep(0.2)
                assert not write.done()  # waits for the owner's lock...
                events.append("loop free")  # ...while the loop runs this task
                release.set()
                await write
                events.append("written")
                assert await app.hits.aget("a") == 1

            await asyncio.gather(owner(), other())
            assert await app.hits.aget_many(["a", "b"]) == {"a": 1, "b": 2}

    asyncio.run(scenario())
    assert events == ["loop free", "commit", "written"]


def test_a_write_waiting_past_the_timeout_raises_busy(where: str) -> None:
    """A task's write waiting longer than `timeout` for another's transaction: BusyError."""

    async def scenario() -> None:
        async with App(where, timeout=0.2) as app:
            inside = asyncio.Event()
            release = asyncio.Event()

            async def owner() -> None:
                async with app.atransaction():
                    await app.hits.aset("a", 1)
                    inside.set()
                    await release.wait()

            async def other() -> None:
                await inside.wait()
                with pytest.raises(tpstore.BusyError):
                    await app.hits.aset("b", 2)
                release.set()

            await asyncio.gather(owner(), other())
            assert await app.hits.aget_many(["a", "b"]) == {"a": 1}

    asyncio.run(scenario())


def test_tasks_started_inside_a_transaction_share_it(where: str) -> None:
    """`gather` inside `atransaction()`: the children write inside it and roll back with it."""

    async def scenario() -> None:
        async with App(where) as app:
            async with app.atransaction():
                await asyncio.gather(*(app.hits.aincrement("n") for _ in range(50)))
                assert await app.hits.agetitem("n") == 50
            assert await app.hits.agetitem("n") == 50
            with pytest.raises(RuntimeError):  # noqa: PT012 - the block is what raises
                async with app.atransaction():
                    await asyncio.gather(*(app.log.aappend(str(i)) for i in range(10)))
                    assert await app.log.alen() == 10
                    raise RuntimeError("roll back")
            assert await app.log.alen() == 0

    asyncio.run(scenario())


def test_nested_transactions_of_sibling_tasks_take_turns(where: str) -> None:
    """Tasks sharing a transaction may each open nested blocks; each rolls back alone."""

    async def scenario() -> None:
        async with App(where) as app:

            async def child(i: int) -> None:
                try:
                    async with app.atransaction():
                        await app.log.aappend(f"{i}")
                        await asyncio.sleep(0)
                        await app.log.aappend(f"{i}!")
                        if i % 2:
                            raise RuntimeError(i)
                except RuntimeError:
                    pass

            async with app.atransaction():
                await asyncio.gather(*(child(i) for i in range(6)))
            assert sorted([item async for item in app.log]) == sorted(
                ["0", "0!", "2", "2!", "4", "4!"]
            )

    asyncio.run(scenario())


def test_nested_atransaction_is_a_savepoint(where: str) -> None:
    """An exception leaving a nested block rolls back only that level."""

    async def scenario() -> None:
        async with App(where) as app:
            async with app.atransaction():
                await app.hits.aset("outer", 1)
                with pytest.raises(RuntimeError):  # noqa: PT012 - the block is what raises
                    async with app.atransaction():
                        await app.hits.aset("inner", 2)
                        raise RuntimeError
                assert await app.hits.aget("inner") is None
            assert await app.hits.aget_many(["outer", "inner"]) == {"outer": 1}

    asyncio.run(scenario())


def test_readonly_atransaction_refuses_writes(where: str) -> None:
    """`atransaction(readonly=True)` reads a snapshot and refuses writes."""

    async def scenario() -> None:
        async with App(where) as app:
            await app.hits.aset("a", 1)
            async with app.atransaction(readonly=True):
                assert await app.hits.agetitem("a") == 1
                with pytest.raises(tpstore.ReadOnlyError):
                    await app.hits.aset("a", 2)
            assert await app.hits.agetitem("a") == 1

    asyncio.run(scenario())


def test_a_cancelled_transaction_rolls_back(where: str) -> None:
    """A task cancelled inside `atransaction()` rolls it back; the store stays usable."""

    async def scenario() -> None:
        async with App(where, timeout=1) as app:
            inside = asyncio.Event()

            async def writer() -> None:
                async with app.atransaction():
                    await app.hits.aset("lost", 1)
                    inside.set()
                    await asyncio.sleep(60)

            task = asyncio.ensure_future(writer())
            await inside.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await app.hits.aget("lost") is None
            await app.hits.aset("kept", 2)  # the lock was released: no BusyError
            async with app.atransaction():
                await app.hits.aincrement("kept")
            assert await app.hits.agetitem("kept") == 3

    asyncio.run(scenario())
    with App(where) as app:
        assert dict(app.hits) == {"kept": 3}


def test_cancelling_during_a_statement_still_rolls_back(where: str) -> None:
    """Cancelled at any moment of its block: all of the transaction or none of it.

    A cancellation that arrives while the block commits lets the commit finish (a
    statement running on its thread cannot be stopped), then cancels the task.
    """

    async def scenario() -> int:
        rolled_back = 0
        async with App(where, timeout=1) as app:
            for attempt in range(30):

                async def writer(attempt: int = attempt) -> None:
                    async with app.atransaction():
                        await app.log.aextend([str(i) for i in range(200)])
                        await app.hits.aset(f"w{attempt}", 1)

                task = asyncio.ensure_future(writer())
                await asyncio.sleep((attempt % 10) * 0.0005)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    rolled_back += await app.hits.aget(f"w{attempt}") is None
                assert await app.log.alen() == 200 * await app.hits.alen()
                await app.jobs.aappend(attempt)  # the store is free again
        return rolled_back

    assert asyncio.run(scenario()) > 0


def holding_the_lock(holder: App, seconds: float) -> tuple[threading.Event, threading.Thread]:
    """A thread inside a transaction of `holder` that wrote `held`, once it is there.

    It leaves when the event returned is set (or after `seconds`); join the thread.
    """
    entered = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with holder.transaction():
            holder.hits["held"] = 1
            entered.set()
            done.wait(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    return done, thread


def test_cancelling_while_waiting_for_the_lock_leaves_no_transaction(where: str) -> None:
    """A task cancelled while its `atransaction()` waits for the lock holds nothing after."""
    holder = App(where, timeout=5)

    async def scenario() -> None:
        async with App(where, timeout=5) as app:
            done, thread = holding_the_lock(holder, 5)

            async def waiter() -> None:
                async with app.atransaction():
                    await app.hits.aset("never", 1)  # pragma: no cover - cancelled first

            task = asyncio.ensure_future(waiter())
            await asyncio.sleep(0.1)
            task.cancel()
            done.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            thread.join()
            await app.hits.aset("after", 2)
            assert await app.hits.aget_many(["held", "never", "after"]) == {"held": 1, "after": 2}

    try:
        asyncio.run(scenario())
    finally:
        holder.close()


def test_reads_go_on_while_writes_wait_for_the_lock(where: str) -> None:
    """Tasks' writes waiting for another connection's lock keep no other task's read waiting.

    The pool runs queued jobs on a few threads; when none of them takes a job for a
    moment (they all wait, holding no interpreter), it wakes another thread.
    """
    holder = App(where, timeout=10)

    async def scenario() -> None:
        async with App(where, timeout=10) as app:
            await app.hits.aset("a", 1)
            done, thread = holding_the_lock(holder, 10)
            try:
                writers = [asyncio.ensure_future(app.hits.aset(f"w{i}", i)) for i in range(4)]
                await asyncio.sleep(0.05)
                assert await asyncio.wait_for(app.hits.aget("a"), 3) == 1
                assert not any(writer.done() for writer in writers)
            finally:
                done.set()
            await asyncio.gather(*writers)
            thread.join()
            assert await app.hits.aget_many(["held", "w0", "w3"]) == {"held": 1, "w0": 0, "w3": 3}

    try:
        asyncio.run(scenario())
    finally:
        holder.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_awaits_on_threads_of_its_own(tmp_path: Path) -> None:
    """A child forked after the parent's `a`-methods started threads uses the API too."""

    async def increments(app: App, n: int) -> None:
        for _ in range(n):
            await app.hits.aincrement("n")

    with App(tmp_path / "a.db") as app:
        asyncio.run(increments(app, 10))  # the parent's worker threads exist now

        def child() -> None:  # pragma: no cover - runs in the child
            asyncio.run(increments(app, 50))

        process = multiprocessing.get_context("fork").Process(target=child, daemon=True)
        process.start()
        asyncio.run(increments(app, 50))
        process.join(30)
        assert process.exitcode == 0
        assert app.hits["n"] == 110


class Person(BaseModel):
    name: str


class People(tpstore.Store):
    people: tpstore.Mapping[str, Person]
    visits: tpstore.ExpiringMapping[str, int] = tpstore.field(lifespan=10)


def test_agets_read_together_each_raise_their_own_error(tmp_path: Path) -> None:
    """A stored value that fails validation fails only the `aget` of its key, as `get`.

    The tasks' reads are read in one query; when that fails, each read runs alone.
    """
    with People(tmp_path / "a.db") as app:
        app.people.update({"ada": Person(name="Ada"), "bob": Person(name="Bob")})
    execute(tmp_path / "a.db", """UPDATE people SET value = '{"name": 5}' WHERE key = 'bob'""")

    async def scenario() -> list[object]:
        async with People(tmp_path / "a.db") as app:
            with pytest.raises(tpstore.TpStoreError) as raised:
                app.people.get("bob")
            results = await asyncio.gather(
                *(app.people.aget(key) for key in ["ada", "bob", "eve", "ada"]),
                return_exceptions=True,
            )
            assert type(results[1]) is type(raised.value)
            assert str(results[1]) == str(raised.value)
            return [results[0], results[2], results[3]]

    assert asyncio.run(scenario()) == [Person(name="Ada"), None, Person(name="Ada")]


def outcome(call: Callable[..., object], *args: Any) -> object:
    """What `call(*args)` returns, or the type and message of what it raises."""
    try:
        return call(*args)
    except Exception as exc:
        return (type(exc), str(exc))


async def async_outcome(awaitable: Awaitable[object]) -> object:
    try:
        return await awaitable
    except Exception as exc:
        return (type(exc), str(exc))


class Tagged(tpstore.Store):
    people: tpstore.Mapping[str, Person]
    tags: tpstore.Set[str]
    visits: tpstore.ExpiringMapping[str, int] = tpstore.field(lifespan=10)


def test_point_reads_read_together_each_answer_as_their_sync_twin(tmp_path: Path) -> None:
    """Concurrent `agetitem`, `aget` and `acontains` (read in one query per collection):
    each returns or raises what its synchronous twin does, missing, corrupt, expired,
    or wrongly typed keys included."""
    now = [1_000.0]
    with Tagged(tmp_path / "a.db", clock=lambda: now[0]) as app:
        app.people.update({"ada": Person(name="Ada"), "bob": Person(name="Bob")})
        app.tags |= {"red", "blue"}
        app.visits.set("old", 1, lifespan=5)
        app.visits.set("new", 2, lifespan=60)
    execute(tmp_path / "a.db", """UPDATE people SET value = '{"name": 5}' WHERE key = 'bob'""")
    now[0] += 30
    keys: list[Any] = ["ada", "bob", "eve", 5, "red", "old", "new"]

    def reads(app: Tagged) -> list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]:
        return [
            ("people[]", app.people.__getitem__, app.people.agetitem),
            (
                "people.get",
                lambda key: app.people.get(key, -1),
                lambda key: app.people.aget(key, -1),
            ),
            ("in people", app.people.__contains__, app.people.acontains),
            ("in tags", app.tags.__contains__, app.tags.acontains),
            ("visits[]", app.visits.__getitem__, app.visits.agetitem),
            ("in visits", app.visits.__contains__, app.visits.acontains),
        ]

    with Tagged(tmp_path / "a.db", clock=lambda: now[0]) as app:
        expected = [(name, key, outcome(sync, key)) for name, sync, _ in reads(app) for key in keys]

    async def scenario() -> list[object]:
        async with Tagged(tmp_path / "a.db", clock=lambda: now[0]) as app:
            awaited = [
                (name, key, async_outcome(asynchronous(key)))
                for name, _, asynchronous in reads(app)
                for key in keys
            ]
            results = await asyncio.gather(*(result for _, _, result in awaited))
            return [
                (name, key, result) for (name, key, _), result in zip(awaited, results, strict=True)
            ]

    assert asyncio.run(scenario()) == expected
    assert ("people[]", "bob", (tpstore.CorruptValueError, ANY)) in expected
    assert ("in visits", "old", False) in expected


def test_agets_read_together_leave_out_expired_items(tmp_path: Path) -> None:
    """Concurrent `aget`s of an expiring mapping see what `get` sees: expired is absent."""
    now = [1_000.0]

    async def scenario() -> tuple[list[object], list[object]]:
        async with People(tmp_path / "a.db", clock=lambda: now[0]) as app:
            app.visits.set("old", 1, lifespan=5)
            app.visits.set("new", 2, lifespan=60)
            now[0] += 30
            keys = ["old", "new", "none"]
            awaited = await asyncio.gather(*(app.visits.aget(key, -1) for key in keys))
            return awaited, [app.visits.get(key, -1) for key in keys]

    awaited, expected = asyncio.run(scenario())
    assert awaited == expected == [-1, 2, -1]


def test_agets_read_together_after_aclose_each_raise_closed_error(tmp_path: Path) -> None:
    """Concurrent `aget`s of a closed store: each raises `ClosedError`."""

    async def scenario() -> list[object]:
        app = People(tmp_path / "a.db")
        await app.people.aset("ada", Person(name="Ada"))
        await app.aclose()
        return await asyncio.gather(
            *(app.people.aget(key) for key in ["ada", "bob", "ada"]), return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert [type(result) for result in results] == [tpstore.ClosedError] * 3
    assert len({id(result) for result in results}) == 3  # each its own exception


def test_writes_committed_together_each_raise_their_own_error(tmp_path: Path) -> None:
    """Tasks' single writes queued together, some refused: each as its synchronous twin.

    They share a commit; a refused write ends its group, and the next group goes on.
    """
    # (collection, synchronous twin, coroutine twin, arguments)
    ops: list[tuple[str, str, str, tuple[Any, ...]]] = [
        ("hits", "__setitem__", "aset", ("a", 1)),
        ("hits", "__setitem__", "aset", ("b", "not a number")),
        ("hits", "increment", "aincrement", ("a", 10)),
        ("hits", "__delitem__", "adelete", ("missing",)),
        ("jobs", "append", "aappend", (7,)),
        ("hits", "increment", "aincrement", ("a", "x")),
        ("log", "append", "aappend", ("x",)),
        ("hits", "__setitem__", "aset", ("c", 3)),
        ("hits", "__delitem__", "adelete", ("c",)),
    ]

    def state(app: App) -> object:
        return app.hits.copy(), list(app.jobs), list(app.log)

    with App(tmp_path / "sync.db") as app:
        expected = [
            outcome(getattr(getattr(app, name), sync), *args) for name, sync, _, args in ops
        ]
        expected_state = state(app)

    async def scenario() -> list[object]:
        async with App(tmp_path / "async.db") as app:
            return await asyncio.gather(
                *(
                    async_outcome(getattr(getattr(app, name), twin)(*args))
                    for name, _, twin, args in ops
                )
            )

    assert asyncio.run(scenario()) == expected
    assert sum(isinstance(result, tuple) for result in expected) == 3
    with App(tmp_path / "async.db") as app:
        assert state(app) == expected_state == ({"a": 11}, [7], ["x"])


def test_a_write_failing_after_it_wrote_undoes_only_itself(tmp_path: Path) -> None:
    """In a group commit, a write that fails after a statement leaves none of it behind."""

    async def scenario() -> None:
        async with App(tmp_path / "a.db") as app:

            def half_written() -> None:
                app.hits["half"] = 1
                raise ValueError("refused after writing")

            async def write_half() -> None:
                await app.hits._awrite(half_written)

            results = await asyncio.gather(
                app.hits.aset("before", 1),
                write_half(),
                app.hits.aset("after", 2),
                return_exceptions=True,
            )
            assert results[0] is None
            assert isinstance(results[1], ValueError)
            assert results[2] is None
            assert await app.hits.acopy() == {"before": 1, "after": 2}

    asyncio.run(scenario())


def test_writes_committed_together_are_durable_when_they_return(tmp_path: Path) -> None:
    """Each task's write is committed when its coroutine returns: another connection sees it."""

    async def scenario() -> None:
        async with App(tmp_path / "a.db", durability="full") as app:

            async def writer(i: int) -> None:
                for round_ in range(5):
                    await app.hits.aset(f"w{i}", round_)
                    assert query(
                        tmp_path / "a.db", "SELECT value FROM hits WHERE key = ?", (f"w{i}",)
                    ) == [(round_,)]

            await asyncio.gather(*(writer(i) for i in range(30)))

    asyncio.run(scenario())


def test_writes_queued_together_in_a_read_only_store_each_raise(tmp_path: Path) -> None:
    """A read-only store refuses every write queued together, each as its sync twin does."""
    with App(tmp_path / "a.db") as app:
        app.hits["a"] = 1
    with App(tmp_path / "a.db", mode="ro") as app:
        expected = [
            outcome(app.hits.__setitem__, "a", 2),
            outcome(app.hits.__setitem__, "b", "x"),
            outcome(app.jobs.append, 1),
        ]

    async def scenario() -> list[object]:
        async with App(tmp_path / "a.db", mode="ro") as app:
            return await asyncio.gather(
                async_outcome(app.hits.aset("a", 2)),
                async_outcome(app.hits.aset("b", "x")),  # type: ignore[arg-type]
                async_outcome(app.jobs.aappend(1)),
            )

    assert asyncio.run(scenario()) == expected
    assert expected[0][0] is tpstore.ReadOnlyError  # type: ignore[index]


def test_writes_queued_together_time_out_together(tmp_path: Path) -> None:
    """Writes that wait for another connection's lock past `timeout`: each `BusyError`,
    at the same time, as they would have alone, not one timeout after another."""
    holder = App(tmp_path / "a.db", timeout=10)

    async def scenario() -> tuple[list[object], float]:
        async with App(tmp_path / "a.db", timeout=0.3) as app:
            done, thread = holding_the_lock(holder, 10)
            try:
                start = time.monotonic()
                results = await asyncio.gather(
                    *(app.hits.aset(f"w{i}", i) for i in range(10)), return_exceptions=True
                )
                elapsed = time.monotonic() - start
            finally:
                done.set()
                thread.join()
            assert await app.hits.aget_many([f"w{i}" for i in range(10)]) == {}
            return results, elapsed

    try:
        results, elapsed = asyncio.run(scenario())
    finally:
        holder.close()
    assert all(isinstance(result, tpstore.BusyError) for result in results)
    assert len({id(result) for result in results}) == 10  # each its own exception
    assert elapsed < 10 * 0.3 / 2


def test_a_task_outliving_its_transaction_cannot_use_it(where: str) -> None:
    """A task started inside a block and still running after it: a clear error."""

    async def scenario() -> None:
        async with App(where) as app:
            later = asyncio.Event()

            async def straggler() -> None:
                await later.wait()
                await app.hits.aset("late", 1)

            async with app.atransaction():
                task = asyncio.ensure_future(straggler())
            later.set()
            with pytest.raises(tpstore.TpStoreError, match="has ended"):
                await task
            assert await app.hits.aget("late") is None

    asyncio.run(scenario())


def test_transactions_of_two_stores_nest(tmp_path: Path) -> None:
    """Inside one store's `atransaction()`, another's block keeps both transactions."""

    async def scenario() -> None:
        async with App(tmp_path / "a.db") as app, Other(tmp_path / "b.db") as other:
            with pytest.raises(RuntimeError):  # noqa: PT012 - the block is what raises
                async with app.atransaction():
                    await app.hits.aset("a", 1)
                    async with other.atransaction():
                        await other.notes.aset("n", "x")
                        await app.hits.aset("b", 2)
                    raise RuntimeError
            assert await app.hits.alen() == 0
            assert await other.notes.agetitem("n") == "x"

    asyncio.run(scenario())


def test_the_loop_stays_responsive_during_durable_writes(where: str) -> None:
    """A 10 ms ticker keeps at least half its ticks while tasks write 500 durable items."""

    async def scenario() -> Ticker:
        async with App(where, durability="full") as app:

            async def writer(start: int) -> None:
                for i in range(start, 500, 5):
                    await app.hits.aset(f"k{i}", i)

            async with Ticker() as ticker:
                await asyncio.gather(*(writer(start) for start in range(5)))
            assert await app.hits.alen() == 500
            return ticker

    ticker = asyncio.run(scenario())
    assert ticker.kept >= 0.5, (ticker.ticks, ticker.elapsed)


def test_the_loop_stays_responsive_during_a_blocking_pop(where: str) -> None:
    """A 10 ms ticker keeps at least half its ticks while a task awaits `apopleft(timeout=1)`."""

    async def scenario() -> Ticker:
        async with App(where) as app, Ticker() as ticker:
            with pytest.raises(IndexError):
                await app.jobs.apopleft(timeout=1)
        return ticker

    ticker = asyncio.run(scenario())
    assert ticker.elapsed >= 1
    assert ticker.kept >= 0.5, (ticker.ticks, ticker.elapsed)


def test_a_blocking_pop_inside_a_transaction_does_not_wait(where: str) -> None:
    """As `popleft(timeout=...)` in `transaction()`: nobody else could append, so no wait."""

    async def scenario() -> float:
        async with App(where) as app:
            started = time.monotonic()
            async with app.atransaction():
                with pytest.raises(IndexError):
                    await app.jobs.apopleft(timeout=5)
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 2


def test_async_iteration_yields_the_good_items_then_raises(where: str) -> None:
    """`async for` over more than a page, and a closed store's iteration raising."""

    async def scenario() -> None:
        async with App(where) as app:
            await app.hits.aupdate({f"{i:04}": i for i in range(1_300)})
            assert [key async for key in app.hits] == [f"{i:04}" for i in range(1_300)]
            iterator = app.hits.aitems()
            assert await iterator.__anext__() == ("0000", 0)
            await app.aclose()
            with pytest.raises(tpstore.ClosedError):
                await iterator.__anext__()  # fetched before the close, not handed out

    asyncio.run(scenario())


def test_maintenance_twins(tmp_path: Path) -> None:
    """`abackup`, `avacuum`, `acheckpoint`, `aoptimize`, `apurge` do what their twins do."""

    async def scenario() -> None:
        async with App(tmp_path / "a.db") as app:
            await app.hits.aupdate({f"k{i}": i for i in range(100)})
            await app.abackup(tmp_path / "copy.db")
            await app.avacuum()
            await app.acheckpoint()
            await app.aoptimize()
            assert await app.apurge() == 0
            async with app.atransaction():
                with pytest.raises(tpstore.TpStoreError, match="inside a transaction"):
                    await app.avacuum()
        async with App(tmp_path / "copy.db", mode="ro") as copy:
            assert await copy.hits.alen() == 100
            with pytest.raises(tpstore.ReadOnlyError):
                await copy.acheckpoint()

    asyncio.run(scenario())


def test_worker_threads_are_bounded_and_end_with_the_store(tmp_path: Path) -> None:
    """50 concurrent transactions leave at most 8 + 8 threads, and `aclose()` ends them.

    (The lanes released beyond the 8 kept idle end as soon as they get to run: on a
    busy machine, some time after their transaction.)
    """

    def workers() -> int:
        """This store's worker threads (the threads of stores closed earlier may still be
        ending: they are counted in `before`, and not once they have)."""
        names = {t.name for t in threading.enumerate() if t.name.startswith("tpstore-worker")}
        return len(names - before)

    before = {t.name for t in threading.enumerate() if t.name.startswith("tpstore-worker")}

    async def scenario() -> int:
        async with App(tmp_path / "a.db") as app:
            await app.hits.aset("a", 1)

            async def reader() -> None:
                async with app.atransaction(readonly=True):
                    await app.hits.aget("a")
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(reader() for _ in range(50)))
            await asyncio.gather(*(app.hits.aget("a") for _ in range(50)))
            # The lanes beyond the 8 kept idle end once released, as soon as they run.
            deadline = time.monotonic() + 5
            while workers() > 16 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return workers()

    assert 0 < asyncio.run(scenario()) <= 16
    deadline = time.monotonic() + 5
    while workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers() == 0


def test_amigrate_rewrites_what_migrate_would(tmp_path: Path) -> None:
    """`Store.amigrate()` and `collection.amigrate()` run the upgrade hooks like `migrate()`."""

    class OldName(BaseModel):
        name: str

    class Old(tpstore.Store):
        names: tpstore.Mapping[str, OldName]

    def upgrade(data: dict[str, object]) -> dict[str, object]:
        return {"first": data["name"]}

    class Name(BaseModel):
        first: str

    class New(tpstore.Store):
        names: tpstore.Mapping[str, Name] = tpstore.field(migrate=upgrade)

    with Old(tmp_path / "a.db") as old:
        old.names.update({"a": {"name": "Ada"}, "b": {"name": "Bob"}})

    async def scenario() -> tuple[int, int, Name]:
        async with New(tmp_path / "a.db") as new:
            first = await new.names.amigrate()
            again = await new.amigrate()
            return first, again, await new.names.agetitem("a")

    assert asyncio.run(scenario()) == (2, 0, Name(first="Ada"))
