"""Many writers at once: the writer queue, group commit, and waiting across processes.

Real threads and processes throughout. The group commit tests check that threads
writing together get exactly what they would get one at a time (results, errors,
order, durability); the queue tests that waiting ends with `BusyError` after `timeout`
and never before, and that nobody starves, in this process or across processes.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import tpstore
from tpstore import BusyError, Deque, Mapping, Store, ValidationError, _writers

fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

THREADS = 8


class Item(BaseModel):
    n: int
    tag: str


class Shop(Store):
    items: Mapping[str, Item]
    hits: Mapping[str, int]
    log: Deque[Item]


@pytest.fixture
def joins(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records every operation that joined a batch (so a test knows batches formed)."""
    seen: list[int] = []
    original = _writers.WriterQueue.next_member

    def next_member(self: _writers.WriterQueue, batch: _writers.Batch) -> Any:
        waiter = original(self, batch)
        if waiter is not None:
            seen.append(batch.size)
        return waiter

    monkeypatch.setattr(_writers.WriterQueue, "next_member", next_member)
    return seen


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(i)` on `count` threads started together; re-raise the first failure."""
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


# -- group commit -----------------------------------------------------------------------


def batched(location: str, joins: list[int]) -> None:
    """Check that operations joined others' commits on SQLite (so the test proved
    something), and that none did on PostgreSQL, which has no group commit."""
    if location.startswith("postgresql"):
        assert not joins
    else:
        assert joins, "no operation joined another's commit: the test proved nothing"


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_threads_writing_together_get_what_they_would_alone(
    shared_location: str, joins: list[int], durability: str
) -> None:
    """8 threads x 500 mixed operations: each thread's results and errors are those of a
    model it keeps itself, and after close every acknowledged operation is there (at
    "normal", where the queue is patient, and at "full", where commits sync)."""
    path = shared_location
    store = Shop(path, durability=durability)
    models: list[dict[str, Item]] = [{} for _ in range(THREADS)]
    counts = [0] * THREADS
    shared = [0] * THREADS
    appended: list[list[int]] = [[] for _ in range(THREADS)]

    def work(t: int) -> None:
        rng = random.Random(t)
        model = models[t]
        for i in range(500):
            key = f"{t}-{rng.randrange(20)}"
            roll = rng.random()
            if roll < 0.3:  # a put: a single statement
                value = Item(n=i, tag=str(t))
                store.items[key] = value
                model[key] = value
            elif roll < 0.4:  # refused by validation: nothing written
                with pytest.raises(ValidationError):
                    store.items[key] = {"n": "not a number", "tag": str(t)}  # type: ignore[assignment]
            elif roll < 0.55:  # a compound operation with a result
                assert store.items.pop(key, None) == model.pop(key, None)
            elif roll < 0.75:
                counts[t] += 1
                assert store.hits.increment(f"own-{t}") == counts[t]
                shared[t] += 1
                store.hits.increment("shared")
            elif roll < 0.9:
                store.log.append(Item(n=i, tag=str(t)))
                appended[t].append(i)
            else:  # an error raised inside a compound operation: it alone is undone
                with pytest.raises(KeyError):
                    store.items.pop(f"absent-{t}")
            if i % 50 == 0:  # reads see this thread's own writes at once
                assert {k: v for k, v in store.items.items() if k.startswith(f"{t}-")} == model

    run_threads(THREADS, work)
    store.close()
    batched(path, joins)
    with Shop(path) as again:
        expected = {k: v for model in models for k, v in model.items()}
        assert dict(again.items) == expected
        assert again.hits["shared"] == sum(shared)
        for t in range(THREADS):
            assert again.hits.get(f"own-{t}", 0) == counts[t]
            assert [item.n for item in again.log if item.tag == str(t)] == appended[t]
        assert len(again.log) == sum(len(ns) for ns in appended)


def test_a_refused_compound_operation_in_a_batch_leaves_the_others(
    shared_location: str, joins: list[int]
) -> None:
    """Compound operations that fail half-way roll back only their own savepoint."""
    store = Shop(shared_location, durability="normal")

    def change_and_give_up(t: int) -> None:
        with store.items.edit(f"{t}", default=Item(n=0, tag="")) as item:
            item.n = -1
            store.hits[f"inside-{t}"] = 1  # written in the operation's savepoint...
            raise RuntimeError("changed my mind")  # ...and undone with it

    def work(t: int) -> None:
        for i in range(200):
            if i % 3 == 0:
                with pytest.raises(RuntimeError):
                    change_and_give_up(t)
            else:
                with store.items.edit(f"{t}", default=Item(n=0, tag=str(t))) as item:
                    item.n += 1

    run_threads(THREADS, work)
    assert {k: v.n for k, v in store.items.items()} == {str(t): 133 for t in range(THREADS)}
    assert len(store.hits) == 0
    store.close()
    batched(shared_location, joins)


def test_after_a_shared_commit_a_free_turn_begins_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where commits sync, a lone thread commits each single write alone; after a commit
    shared by several threads, the next write begins a batch that they can join, and
    once a batch holds only its leader, writes commit alone again."""
    store = Shop(tmp_path / "shop.db", durability="full")
    queue = store._engine._queue
    assert queue is not None
    assert not queue.patience
    begun: list[int] = []
    original = type(store._engine)._begin_batch

    def begin_batch(self: Any, queue: _writers.WriterQueue, deadline: float) -> Any:
        begun.append(threading.get_ident())
        return original(self, queue, deadline)

    monkeypatch.setattr(type(store._engine), "_begin_batch", begin_batch)
    for i in range(20):
        store.hits[f"alone-{i}"] = i
    assert begun == []  # no transaction of its own for a lone thread's single writes
    queue.turn.acquire()  # as a writer would: the next two writers queue
    writers = [
        threading.Thread(target=store.hits.__setitem__, args=(f"queued-{t}", t)) for t in range(2)
    ]
    for writer in writers:
        writer.start()
    while len(queue._waiting) < 2:
        time.sleep(0.001)
    queue.give_back()  # the first waiter leads a batch, the second joins it
    for writer in writers:
        writer.join()
    assert len(begun) == 1
    assert queue.gathering
    store.hits["next"] = 1  # a batch of its own, though nobody else comes
    assert len(begun) == 2
    assert begun[-1] == threading.get_ident()
    assert not queue.gathering
    store.hits["after"] = 2  # alone again
    assert len(begun) == 2
    store.close()
    with Shop(tmp_path / "shop.db") as again:
        assert len(again.hits) == 24


CHILD = textwrap.dedent(
    """
    import os, sys, threading
    sys.path.insert(0, {tests!r})
    from test_writers import Shop
    store = Shop({path!r}, durability="normal")
    out = threading.Lock()

    def work(t):
        i = 0
        while True:
            store.items.update({{f"{{t}}-{{i}}-a": {{"n": i, "tag": "a"}},
                                 f"{{t}}-{{i}}-b": {{"n": i, "tag": "b"}}}})
            with out:
                os.write(1, f"{{t}} {{i}}\\n".encode())
            i += 1

    for t in range({threads}):
        threading.Thread(target=work, args=(t,), daemon=True).start()
    threading.Event().wait()
    """
)


@pytest.mark.slow
@fork_only
def test_sigkill_during_group_commits_leaves_whole_acknowledged_operations(
    tmp_path: Path,
) -> None:
    """A process with 8 writer threads killed mid-batch: every operation acknowledged
    after it returned is there, plus at most one more per thread, never half of one."""
    path = tmp_path / "shop.db"
    Shop(path).close()
    for _ in range(3):
        script = CHILD.format(tests=str(Path(__file__).parent), path=str(path), threads=THREADS)
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout is not None
        acked: dict[int, int] = {}
        while len(acked) < THREADS or sum(acked.values()) < 400:
            line = child.stdout.readline()
            assert line, "the child stopped writing"
            t, i = map(int, line.split())
            acked[t] = max(acked.get(t, -1), i)
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # acknowledgements written before the kill
        child.stdout.close()
        child.wait()
        for line in rest.splitlines():
            t, i = map(int, line.split())
            acked[t] = max(acked.get(t, -1), i)
        with Shop(path) as store:
            found: dict[int, set[int]] = {}
            pairs: dict[tuple[int, int], set[str]] = {}
            for key in store.items:
                t, i, half = key.split("-")
                pairs.setdefault((int(t), int(i)), set()).add(half)
                found.setdefault(int(t), set()).add(int(i))
            assert all(halves == {"a", "b"} for halves in pairs.values())
            for t, last in acked.items():
                written = found.get(t, set())
                assert set(range(last + 1)) <= written
                assert written <= set(range(last + 2))  # at most the one in flight
            store.items.clear()


# -- the writer queue -----------------------------------------------------------------


def hold_the_lock(path: str, seconds: float, ready: Connection, wal: bool | None = None) -> None:
    """In another process: hold the store's write lock for `seconds`."""
    store = Shop(path, wal=wal)
    with store.transaction():
        store.hits["holder"] = 1
        ready.send(True)
        time.sleep(seconds)
    store.close()


@pytest.mark.slow
@fork_only
@pytest.mark.parametrize("durability", ["full", "normal"])
def test_waiting_writers_give_up_after_timeout_and_not_before(
    shared_location: str, durability: str
) -> None:
    """With another process holding the lock, every waiting thread raises BusyError
    once `timeout` has passed, not earlier (single operations and transactions), also
    where the queue is patient (commits that do not sync)."""
    waiters_give_up_after_timeout(shared_location, durability=durability)


@pytest.mark.slow
@fork_only
def test_waiting_writers_give_up_after_timeout_with_the_rollback_journal(
    tmp_path: Path,
) -> None:
    """The same with the rollback journal, where SQLite's own handler waits for the
    lock: the time a thread queued for its turn counts against its `timeout` too."""
    waiters_give_up_after_timeout(str(tmp_path / "store.db"), wal=False)


def waiters_give_up_after_timeout(
    path: str, wal: bool | None = None, durability: str = "full"
) -> None:
    """Threads writing while another process holds the lock for 4 s: each raises
    BusyError once its 1 s `timeout` has passed, not earlier, and not much later."""
    # (opening a store takes the write lock too)
    store = Shop(path, timeout=1.0, wal=wal, durability=durability)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    holder = context.Process(target=hold_the_lock, args=(path, 4.0, send, wal))
    holder.start()
    assert receive.poll(10)
    waited: list[float] = []

    def write(t: int) -> None:
        if t % 3 == 0:
            with store.transaction():
                store.hits[f"{t}"] = t
        elif t % 3 == 1:
            store.hits[f"{t}"] = t
        else:
            store.hits.increment(f"{t}")

    def work(t: int) -> None:
        if t:  # the others queue behind the first: the turn passes on 0.1 s before
            time.sleep(0.1)  # their timeout ends, and the wait after it is short
        began = time.monotonic()
        with pytest.raises(BusyError):
            write(t)
        waited.append(time.monotonic() - began)

    try:
        run_threads(THREADS, work)
    finally:
        holder.join()
    assert len(waited) == THREADS
    assert min(waited) >= 1.0
    # A second full wait after the queue's would take 2 s. (On PostgreSQL, which has no
    # queue, waits of about 2 s are seen too, from the server's lock waits.)
    assert max(waited) < (3.0 if path.startswith("postgres") else 1.9), waited
    store.hits["after"] = 1  # the lock is free again: writing works
    store.close()


def test_every_writing_thread_makes_progress(shared_location: str) -> None:
    """Threads that write all the time, alone and in transactions, all get their turn."""
    store = Shop(shared_location, durability="normal", timeout=30.0)
    done = [0] * THREADS
    stop = time.monotonic() + 2.0

    def work(t: int) -> None:
        while time.monotonic() < stop:
            if t % 2:
                with store.transaction():
                    store.hits.increment(f"{t}")
                    time.sleep(0.001)
            else:
                store.hits.increment(f"{t}")
            done[t] += 1

    run_threads(THREADS, work)
    assert all(done), done
    assert dict(store.hits.items()) == {str(t): n for t, n in enumerate(done)}
    store.close()


def test_a_thread_writing_without_pause_lets_a_waiting_one_in(shared_location: str) -> None:
    """Where commits do not sync, a thread ending its turn may take the next one at once
    (the queue is patient): two threads that write without pause still let a third,
    writing now and then, have its turn promptly every time."""
    store = Shop(shared_location, durability="normal", timeout=30.0)
    queue = store._engine._queue
    if not shared_location.startswith("postgresql"):
        assert queue is not None
        assert queue.patience > 0, "the test would prove nothing"
    stop = threading.Event()

    def write_without_pause(t: int) -> None:
        i = 0
        while not stop.is_set():
            store.hits[f"{t}-{i % 50}"] = i
            i += 1

    writers = [threading.Thread(target=write_without_pause, args=(t,)) for t in range(2)]
    for writer in writers:
        writer.start()
    waits: list[float] = []
    try:
        for i in range(200):
            began, queued = time.monotonic(), queued_for_a_cpu()
            store.items[f"{i}"] = Item(n=i, tag="now and then")
            waits.append(time.monotonic() - began - (queued_for_a_cpu() - queued))
            time.sleep(0.002)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert len(store.items) == 200
    store.close()
    # Without the hand-over after `PATIENCE`, the first waiter would only get in when
    # it happened to find the turn free, and waits of seconds were seen.
    assert max(waits) < 0.5, sorted(waits)[-5:]


# -- across processes ----------------------------------------------------------------------


def busy_loop(path: str, role: str, stop: Any) -> None:
    """One of three processes working a Deque in a tight loop (until `stop` is set)."""
    store = Shop(path)
    item = Item(n=0, tag=role)
    while not stop.is_set():
        try:
            if role == "append":
                store.log.append(item)
            elif role == "popleft":
                store.log.popleft()
            else:
                with store.transaction():
                    store.log.popleft()
        except IndexError:
            pass
    store.close()


def queued_for_a_cpu() -> float:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (Linux's
    schedstat; 0.0 where the system does not say)."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def newcomer(path: str, repetitions: int, writes: int, out: Connection) -> None:
    """Open the store and write `writes` times, `repetitions` times; send the longest
    wait of a write, or the error that ended it.

    A write's wait leaves out the time this process was ready to run but had no CPU:
    on a machine busy with other work (a test suite beside this one) that is the
    scheduler's doing, not the lock's.
    """
    longest = 0.0
    try:
        for repetition in range(repetitions):
            store = Shop(path)
            for i in range(writes):
                began, queued = time.monotonic(), queued_for_a_cpu()
                store.hits[f"{repetition}-{i}"] = i
                waited = time.monotonic() - began - (queued_for_a_cpu() - queued)
                longest = max(longest, waited)
            store.close()
    except tpstore.TpStoreError as exc:
        out.send(repr(exc))
        return
    out.send(longest)


@pytest.mark.slow
@fork_only
def test_a_newcomer_gets_the_lock_from_busy_processes_within_a_second(tmp_path: Path) -> None:
    """Three processes work a Deque in tight loops (one pops inside transaction()); a
    fourth opens the store and writes 50 times, 100 times over: every one of its writes
    gets the lock within 1 s, with the default timeout."""
    path = str(tmp_path / "shop.db")
    Shop(path).close()
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    loops = [
        context.Process(target=busy_loop, args=(path, role, stop))
        for role in ("append", "popleft", "transaction")
    ]
    for loop in loops:
        loop.start()
    try:
        receive, send = context.Pipe(duplex=False)
        fourth = context.Process(target=newcomer, args=(path, 100, 50, send))
        fourth.start()
        assert receive.poll(600), "the newcomer did not finish"
        result = receive.recv()
        fourth.join()
    finally:
        stop.set()
        for loop in loops:
            loop.join()
    assert isinstance(result, float), result
    assert result < 1.0
