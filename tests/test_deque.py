"""`Deque` against `collections.deque`, and as a work queue between processes.

Stateful machines run a `Deque` against `collections.deque` unbounded and with
`maxlen`, with nested transactions rolled back against a snapshot of the model.
Process tests check the work-queue promise: every item appended is popped exactly
once, by exactly one consumer.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import multiprocessing
import operator
import os
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Ticker, catalog_options, execute, query_plans
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from machines import FileMachine, RollbackError, StoreMachine, as_test_case, on_postgres, outcome
from postgres_server import is_postgres

from tpstore import CorruptValueError, Deque, SchemaError, Store, ValidationError, field


class Queues(Store):
    d: Deque[int]
    bounded: Deque[int] = field(maxlen=3)
    empty: Deque[int] = field(maxlen=0)


values = st.integers(-3, 3)
indexes = st.integers(-5, 5)
bad_values = st.sampled_from(["x", 1.5, None, [1], 2**63])


class DequeMachine(StoreMachine):
    """A persistent `Deque` and a `collections.deque` agree after every step.

    Transactions, rolled back against a snapshot of the model (a copy keeps its
    `maxlen`), come from `StoreMachine`.
    """

    store_class = Queues
    name = "d"
    maxlen: int | None = None
    model: collections.deque[int]

    def new_model(self) -> collections.deque[int]:
        return collections.deque(maxlen=self.maxlen)

    @property
    def d(self) -> Deque[int]:
        return getattr(self.store, self.name)  # type: ignore[no-any-return]

    def same(self, action_on: Any) -> None:
        """Run one action on the deque and on the model: same result or same IndexError."""
        assert outcome(lambda: action_on(self.d), (IndexError,)) == outcome(
            lambda: action_on(self.model), (IndexError,)
        )

    @invariant()
    def is_a_mutable_sequence(self) -> None:
        assert isinstance(self.d, collections.abc.MutableSequence)

    @invariant()
    def agrees_with_model(self) -> None:
        assert len(self.d) == len(self.model)
        assert list(self.d) == list(self.model)
        assert list(reversed(self.d)) == list(reversed(self.model))
        assert self.d.maxlen == self.model.maxlen

    @rule(value=values)
    def append(self, value: int) -> None:
        self.d.append(value)
        self.model.append(value)

    @rule(value=values)
    def appendleft(self, value: int) -> None:
        self.d.appendleft(value)
        self.model.appendleft(value)

    @rule(given=st.lists(values, max_size=5))
    def extend(self, given: list[int]) -> None:
        self.d.extend(given)
        self.model.extend(given)

    @rule(given=st.lists(values, max_size=5))
    def extendleft(self, given: list[int]) -> None:
        self.d.extendleft(iter(given))
        self.model.extendleft(given)

    @precondition(lambda self: len(self.model) <= 16)  # doubling must not run away
    @rule()
    def extend_with_itself(self) -> None:
        self.d.extend(self.d)
        self.model.extend(list(self.model))

    @rule()
    def pop(self) -> None:
        self.same(lambda d: d.pop())

    @rule()
    def popleft(self) -> None:
        self.same(lambda d: d.popleft())

    @rule()
    def peeks(self) -> None:
        if self.model:
            assert self.d.peek() == self.model[-1]
            assert self.d.peekleft() == self.model[0]
        else:
            for peek in (self.d.peek, self.d.peekleft):
                with pytest.raises(IndexError, match=r"^peek from an empty deque$"):
                    peek()

    @rule(n=st.none() | st.integers(-7, 7))
    def rotate(self, n: int | None) -> None:
        if n is None:
            self.d.rotate()
            self.model.rotate()
        else:
            self.d.rotate(n)
            self.model.rotate(n)

    @rule()
    def clear(self) -> None:
        self.d.clear()
        self.model.clear()

    @rule(value=values, change=st.booleans())
    def contains_and_equality(self, value: int, change: bool) -> None:
        assert (value in self.d) == (value in self.model)
        other = collections.deque([*self.model, 9]) if change else collections.deque(self.model)
        assert (self.d == other) is not change
        assert self.d == self.d
        assert self.d != list(self.model)  # like collections.deque

    # -- the MutableSequence side of deque ------------------------------------------------

    @rule(i=indexes)
    def getitem(self, i: int) -> None:
        self.same(lambda d: d[i])

    @rule(i=indexes, value=values)
    def setitem(self, i: int, value: int) -> None:
        def assign(d: Any) -> None:
            d[i] = value

        self.same(assign)

    @rule(i=indexes)
    def delitem(self, i: int) -> None:
        def delete(d: Any) -> None:
            del d[i]

        self.same(delete)

    @rule(i=indexes, value=values)
    def insert(self, i: int, value: int) -> None:
        self.same(lambda d: d.insert(i, value))

    @rule(value=values, start=indexes, stop=st.none() | indexes)
    def index_count_remove(self, value: int, start: int, stop: int | None) -> None:
        assert self.d.count(value) == self.model.count(value)
        with_stop = (start,) if stop is None else (start, stop)
        assert outcome(lambda: self.d.index(value, *with_stop), (ValueError,)) == outcome(
            lambda: self.model.index(value, *with_stop), (ValueError,)
        )
        assert outcome(lambda: self.d.remove(value), (ValueError,)) == outcome(
            lambda: self.model.remove(value), (ValueError,)
        )

    @rule()
    def reverse(self) -> None:
        self.d.reverse()
        self.model.reverse()

    @rule(n=st.integers(-1, 3))
    def repeat_in_place(self, n: int) -> None:
        store = self.store
        if self.name == "d":
            store.d *= n
        else:
            store.bounded *= n
        self.model *= n

    @rule(other=st.lists(values, max_size=4), n=st.integers(-1, 3))
    def copies_are_deques(self, other: list[int], n: int) -> None:
        given = collections.deque(other, maxlen=5)
        results = {
            "copy": (self.d.copy(), self.model.copy()),
            "+": (self.d + given, self.model + given),
            "r+": (given + self.d, given + self.model),
            "*": (self.d * n, self.model * n),
            "r*": (n * self.d, n * self.model),
        }
        for name, (got, expected) in results.items():
            assert type(got) is collections.deque, name
            assert got == expected, name
            assert got.maxlen == expected.maxlen, name
        with pytest.raises(TypeError):
            self.d + other  # like deque, only deques concatenate

    @rule(tail=st.lists(values, max_size=3), shared=st.integers(0, 4))
    def ordering_like_deque(self, tail: list[int], shared: int) -> None:
        other = collections.deque([*list(self.model)[:shared], *tail])
        for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq):
            assert op(self.d, other) == op(self.model, other), op
            assert op(other, self.d) == op(other, self.model), op
        with pytest.raises(TypeError):
            self.d < list(other)  # noqa: B015

    @rule(bad=bad_values, how=st.sampled_from(["append", "appendleft", "extend", "extendleft"]))
    def invalid_write_changes_nothing(self, bad: Any, how: str) -> None:
        given = bad if how in ("append", "appendleft") else [1, bad]
        with pytest.raises(ValidationError) as caught:
            getattr(self.d, how)(given)
        expected = {"append": len(self.model), "appendleft": 0}.get(how)
        assert caught.value.key == expected


class BoundedDequeMachine(DequeMachine):
    """With `maxlen=3`, appending past it drops from the other end."""

    name = "bounded"
    maxlen = 3


class FileDequeMachine(FileMachine, BoundedDequeMachine):
    """The bounded machine on a file, closed and reopened between steps."""


TestDeque = as_test_case(DequeMachine, stateful_step_count=40)
TestBoundedDeque = as_test_case(BoundedDequeMachine, stateful_step_count=40)
TestDequeOnPostgres = on_postgres(DequeMachine, stateful_step_count=30, max_examples=20)
TestBoundedDequeOnPostgres = on_postgres(
    BoundedDequeMachine, stateful_step_count=30, max_examples=20
)
TestDequeOnFile = as_test_case(FileDequeMachine, stateful_step_count=30, max_examples=20)


# -- example tests ------------------------------------------------------------------------


@pytest.fixture
def queues(location: str | None) -> Any:
    with Queues(location) as opened:
        yield opened


@pytest.fixture(params=["returning", "fallback"])
def either_pop(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, location: str | None
) -> Any:
    """A store using `DELETE ... RETURNING` to pop, or the fallback without it."""
    if request.param == "fallback":
        if is_postgres(location):
            pytest.skip("SQLite only: pops without RETURNING")
        monkeypatch.setenv("TPSTORE_SQLITE_FALLBACKS", "1")
    else:
        if sqlite3.sqlite_version_info < (3, 35):
            pytest.skip("the linked SQLite has no RETURNING")
        monkeypatch.delenv("TPSTORE_SQLITE_FALLBACKS", raising=False)
    with Queues(location) as opened:
        assert opened._engine.dialect.returning is (request.param == "returning")
        yield opened


def test_empty_pops_raise_index_error(either_pop: Any) -> None:
    for pop in (either_pop.d.pop, either_pop.d.popleft):
        with pytest.raises(IndexError, match=r"^pop from an empty deque$"):
            pop()


def test_pops_take_the_ends(either_pop: Any) -> None:
    either_pop.d.extend([1, 2, 3])
    either_pop.d.appendleft(0)
    assert either_pop.d.popleft() == 0
    assert either_pop.d.pop() == 3
    assert list(either_pop.d) == [1, 2]


def test_maxlen_is_the_field_option(queues: Any) -> None:
    assert queues.d.maxlen is None
    assert queues.bounded.maxlen == 3


def test_maxlen_zero_keeps_nothing_but_still_validates(queues: Any) -> None:
    queues.empty.append(1)
    queues.empty.extendleft([1, 2])
    assert len(queues.empty) == 0
    with pytest.raises(ValidationError):
        queues.empty.append("x")


def test_maxlen_trimming_is_atomic_with_the_append(queues: Any) -> None:
    queues.bounded.extend([1, 2, 3])
    with pytest.raises(RollbackError), queues.transaction():  # noqa: PT012 - the block under test
        queues.bounded.append(4)
        assert list(queues.bounded) == [2, 3, 4]
        raise RollbackError
    assert list(queues.bounded) == [1, 2, 3]


def test_a_corrupt_item_stays_in_place(db_path: Path) -> None:
    class Jobs(Store):
        jobs: Deque[dict[str, int]]

    with Jobs(db_path) as store:
        store.jobs.extend([{"a": 1}, {"b": 2}, {"c": 3}])
    execute(db_path, "UPDATE jobs SET value = 'not json' WHERE pos = (SELECT min(pos) FROM jobs)")
    with Jobs(db_path) as store:
        for pop in (store.jobs.popleft, store.jobs.peekleft):
            with pytest.raises(CorruptValueError) as caught:
                pop()
            assert caught.value.key == 0
            assert caught.value.collection == "jobs"
        assert len(store.jobs) == 3
        assert store.jobs.pop() == {"c": 3}
        store.jobs.rotate()
        assert store.jobs.popleft() == {"b": 2}


def test_another_maxlen_is_recorded_by_the_first_write(db_path: Path) -> None:
    class Wide(Store):
        q: Deque[int] = field(maxlen=5)

    class Narrow(Store):
        q: Deque[int] = field(maxlen=2)

    with Wide(db_path) as store:
        store.q.extend(range(5))
    assert catalog_options(db_path, "q") == {"maxlen": 5}
    with Narrow(db_path) as store:
        assert catalog_options(db_path, "q") == {"maxlen": 5}  # opening records nothing
        assert list(store.q) == [0, 1, 2, 3, 4]  # the new maxlen wins from the next write
        store.q.append(5)
        assert list(store.q) == [4, 5]
        assert catalog_options(db_path, "q") == {"maxlen": 2}


def test_maxlen_must_be_a_non_negative_int() -> None:
    with pytest.raises(SchemaError, match="maxlen"):

        class Bad(Store):
            q: Deque[int] = field(maxlen=-1)


def test_rotate_large_and_negative_steps(queues: Any) -> None:
    model = collections.deque(range(10))
    queues.d.extend(model)
    for n in (13, -27, 10, 0, 9, -1, 5):
        queues.d.rotate(n)
        model.rotate(n)
        assert list(queues.d) == list(model)


# -- processes ----------------------------------------------------------------------------


class WorkQueue(Store):
    jobs: Deque[int]


class RecentQueue(Store):
    recent: Deque[int] = field(maxlen=20)


def _append_numbered(path: str, start: Any, producer: int) -> None:  # pragma: no cover
    with RecentQueue(path, timeout=30, durability="normal") as store:
        start.wait(30)
        for i in range(100):
            if i % 10 == 0:
                store.recent.extend([producer * 1000 + i, producer * 1000 + i + 1])
            elif i % 10 != 1:
                store.recent.append(producer * 1000 + i)


@pytest.mark.slow
def test_processes_appending_to_a_bounded_deque_keep_it_at_maxlen(shared_location: str) -> None:
    """4 processes append 100 items each to a deque of maxlen 20: it ends with 20 items,
    the newest ones, each once, every producer's in its own order."""
    RecentQueue(shared_location).close()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_append_numbered, args=(shared_location, start, producer))
        for producer in range(1, 5)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    with RecentQueue(shared_location) as store:
        kept = list(store.recent)
        assert len(store.recent) == 20
    assert len(kept) == 20
    assert len(set(kept)) == 20
    for producer in range(1, 5):
        mine = [item for item in kept if item // 1000 == producer]
        assert mine == sorted(mine)
        # what a producer kept is the end of what it appended
        assert mine == list(range(producer * 1000 + 100 - len(mine), producer * 1000 + 100))


def _consume_until_empty(path: str, start: Any, results: Any) -> None:
    popped = []
    with WorkQueue(path, timeout=30, durability="normal") as store:
        start.wait(30)
        while True:
            try:
                popped.append(store.jobs.popleft())
            except IndexError:
                break
    results.put((os.getpid(), popped))


def _consume_until_done(path: str, start: Any, results: Any) -> None:
    popped = []
    with WorkQueue(path, timeout=30, durability="normal") as store:
        start.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                item = store.jobs.popleft()
            except IndexError:
                time.sleep(0.001)
                continue
            if item < 0:  # one stop marker per consumer
                break
            popped.append(item)
    results.put((os.getpid(), popped))


def _produce(path: str, start: Any, count: int, consumers: int) -> None:
    with WorkQueue(path, timeout=30, durability="normal") as store:
        start.wait(30)
        for i in range(count):
            if i % 10 == 0:
                store.jobs.extend([i])
            else:
                store.jobs.append(i)
        store.jobs.extend([-1] * consumers)


def _collect(results: Any, workers: list[Any], expected: int) -> list[list[int]]:
    got = []
    for _ in range(expected):
        try:
            got.append(results.get(timeout=90)[1])
        except queue.Empty:  # pragma: no cover - a worker died; its exit code says why
            break
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)
    return got


@pytest.mark.slow
def test_four_consumers_pop_every_item_exactly_once(shared_location: str) -> None:
    """4 processes `popleft` a 2,000-item deque until empty: each item once, by one."""
    with WorkQueue(shared_location) as store:
        store.jobs.extend(range(2000))
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_consume_until_empty, args=(shared_location, start, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    popped = _collect(results, workers, 4)
    every = [item for part in popped for item in part]
    assert sorted(every) == list(range(2000))
    for part in popped:  # each consumer sees the queue's order
        assert part == sorted(part)
    with WorkQueue(shared_location) as store:
        assert len(store.jobs) == 0


@pytest.mark.slow
def test_producer_and_consumers_at_once_lose_nothing(shared_location: str) -> None:
    """A producer appends while 3 consumers pop, in 4 processes: nothing lost or doubled."""
    WorkQueue(shared_location).close()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    consumers = [
        context.Process(target=_consume_until_done, args=(shared_location, start, results))
        for _ in range(3)
    ]
    producer = context.Process(target=_produce, args=(shared_location, start, 1500, 3))
    for worker in [*consumers, producer]:
        worker.start()
    start.set()
    popped = _collect(results, [*consumers, producer], 3)
    every = [item for part in popped for item in part]
    assert sorted(every) == list(range(1500))
    with WorkQueue(shared_location) as store:
        assert len(store.jobs) == 0


def test_repr_shows_the_first_items_and_maxlen(queues: Any) -> None:
    assert repr(queues.d) == "<Deque 'd': []>"
    queues.bounded.extend([1, 2])
    assert repr(queues.bounded) == "<Deque 'bounded': [1, 2], maxlen=3>"
    queues.d.extend(range(7))
    assert repr(queues.d) == "<Deque 'd': [0, 1, 2, 3, 4, … 7 items]>"


# -- blocking pops ------------------------------------------------------------------------


def test_pops_without_a_timeout_never_wait(queues: Any) -> None:
    started = time.monotonic()
    for pop in (queues.d.pop, queues.d.popleft):
        with pytest.raises(IndexError, match=r"^pop from an empty deque$"):
            pop()
        with pytest.raises(IndexError):
            pop(timeout=None)
        with pytest.raises(IndexError):
            pop(timeout=0)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("timeout", [-1, float("nan")])
def test_a_negative_timeout_is_refused_like_queue_get(queues: Any, timeout: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        queues.d.popleft(timeout=timeout)
    with pytest.raises(TypeError):
        queues.d.pop(timeout="1")  # type: ignore[arg-type]


def test_a_timeout_waits_then_raises_index_error(queues: Any) -> None:
    started = time.monotonic()
    with pytest.raises(IndexError, match=r"^pop from an empty deque$"):
        queues.d.pop(timeout=0.2)
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("which", ["pop", "popleft"])
def test_another_thread_wakes_a_waiting_pop(queues: Any, which: str) -> None:
    """In-memory stores share one connection between threads; files have one each."""
    queues.d.append(1)
    assert getattr(queues.d, which)(timeout=1) == 1  # an item there: no waiting
    appender = threading.Timer(0.2, lambda: queues.d.extend([7, 8]))
    appender.start()
    started = time.monotonic()
    try:
        got = getattr(queues.d, which)(timeout=10)
    finally:
        appender.join()
    assert got == (8 if which == "pop" else 7)
    assert 0.15 < time.monotonic() - started < 5


def test_a_pop_inside_a_transaction_does_not_wait(queues: Any) -> None:
    # The transaction holds the write lock: no one else could append meanwhile.
    started = time.monotonic()
    with queues.transaction(), pytest.raises(IndexError):
        queues.d.popleft(timeout=5)
    assert time.monotonic() - started < 1


def _pop_and_time(path: str, ready: Any, results: Any) -> None:  # pragma: no cover
    with WorkQueue(path, timeout=30, durability="normal") as store:
        assert len(store.jobs) == 0
        ready.set()
        item = store.jobs.popleft(timeout=10)
        results.put((item, time.time()))


@pytest.mark.slow
def test_a_consumer_process_wakes_soon_after_an_append(shared_location: str) -> None:
    """A consumer blocked in `popleft(timeout=10)` gets an item appended 0.3 s later."""
    with WorkQueue(shared_location, durability="normal") as store:
        context = multiprocessing.get_context("spawn")
        ready, results = context.Event(), context.Queue()
        consumer = context.Process(target=_pop_and_time, args=(shared_location, ready, results))
        consumer.start()
        assert ready.wait(60)
        time.sleep(0.3)
        appended = time.time()
        store.jobs.append(42)
        item, popped = results.get(timeout=60)
        consumer.join(30)
    assert consumer.exitcode == 0
    assert item == 42
    assert popped - appended < 0.5


def _append_later(path: str, delay: float) -> None:  # pragma: no cover - a child
    with WorkQueue(path, timeout=30, durability="normal") as store:
        time.sleep(delay)
        store.jobs.append(42)


@pytest.mark.slow
def test_an_awaited_pop_wakes_soon_after_another_processs_append(shared_location: str) -> None:
    """A task awaiting `apopleft(timeout=60)` gets an item another process appends, when
    it is appended, while the loop keeps ticking."""

    async def scenario() -> tuple[int, Ticker]:
        async with WorkQueue(shared_location, durability="normal") as store:
            await store.jobs.alen()
            appender = multiprocessing.get_context("spawn").Process(
                target=_append_later, args=(shared_location, 1.0)
            )
            async with Ticker() as ticker:
                appender.start()
                item = await store.jobs.apopleft(timeout=60)
            await asyncio.to_thread(appender.join, 30)
            assert appender.exitcode == 0
            return item, ticker

    item, ticker = asyncio.run(scenario())
    assert item == 42
    assert 1.0 <= ticker.elapsed < 50  # woken by the append, not by the timeout
    assert ticker.kept >= 0.5, (ticker.ticks, ticker.elapsed)


def _pop_blocking_until_done(path: str, start: Any, results: Any) -> None:  # pragma: no cover
    popped = []
    with WorkQueue(path, timeout=30, durability="normal") as store:
        start.wait(30)
        while (item := store.jobs.popleft(timeout=60)) >= 0:  # one stop marker each
            popped.append(item)
    results.put((os.getpid(), popped))


@pytest.mark.slow
def test_blocked_consumers_get_every_item_exactly_once(shared_location: str) -> None:
    """3 consumers blocked in `popleft(timeout=...)`, 300 items appended: each once."""
    with WorkQueue(shared_location) as store:
        store.jobs.clear()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    consumers = [
        context.Process(target=_pop_blocking_until_done, args=(shared_location, start, results))
        for _ in range(3)
    ]
    for consumer in consumers:
        consumer.start()
    start.set()
    time.sleep(0.5)  # let them block on the empty deque
    with WorkQueue(shared_location, durability="normal") as store:
        for i in range(300):
            store.jobs.append(i)
            if i % 50 == 0:
                time.sleep(0.05)  # let them drain it and wait again
        store.jobs.extend([-1] * 3)
    got = _collect(results, consumers, 3)
    popped = sorted(item for items in got for item in items)
    assert popped == list(range(300))


def test_awaited_pops_wait_on_the_loop_for_another_tasks_append(location: str | None) -> None:
    async def scenario() -> tuple[list[int], float]:
        async with WorkQueue(location, durability="normal") as store:
            with pytest.raises(IndexError):
                await store.jobs.apopleft(timeout=0.05)
            with pytest.raises(ValueError, match="non-negative"):
                await store.jobs.apop(timeout=-1)

            async def append_later() -> None:
                await asyncio.sleep(0.2)
                await store.jobs.aextend(range(10))

            # More waiters than the store has worker threads: none holds one while waiting.
            started = time.monotonic()
            appender = asyncio.create_task(append_later())
            results = await asyncio.gather(
                *(store.jobs.apopleft(timeout=10) for _ in range(5)),
                *(store.jobs.apop(timeout=10) for _ in range(5)),
            )
            await appender
            return sorted(results), time.monotonic() - started

    popped, elapsed = asyncio.run(scenario())
    assert popped == list(range(10))
    assert 0.15 < elapsed < 5


@pytest.mark.sqlite_only("reads SQLite's query plans")
@pytest.mark.parametrize("index", [0, 1, -1, -2])
@pytest.mark.parametrize("operation", ["get", "set", "del"])
def test_indexing_near_either_end_never_scans_the_table(
    queues: Any, index: int, operation: str
) -> None:
    """`d[i]`, `d[i] = v` and `del d[i]` near either end are primary-key lookups."""
    queues.d.extend(range(1000))
    d = queues.d

    def act() -> None:
        if operation == "get":
            d[index]
        elif operation == "set":
            d[index] = 7
        else:
            del d[index]

    plans = query_plans(queues, act)
    assert plans
    assert not [line for line in plans if line.startswith("SCAN") and "CONSTANT" not in line]
