"""The asyncio bridge: the synchronous implementation, run off the event loop.

The `a`-methods do not reimplement anything. Each one calls its synchronous twin on a
worker thread and awaits the result, so both APIs share every line that validates,
encodes, chooses statements and decodes (aiosqlite's pattern; measured against
splitting each operation into a pure part on the loop and statements sent to a
thread one at a time, which costs a thread round trip per statement instead of one
per operation: an atomic `increment` took 121 µs that way against 48 µs here).

Two kinds of worker threads serve one store:

- the *pool*: up to `POOL_SIZE` threads serving one queue, for single operations
  outside any transaction (each one is atomic by itself, as in the synchronous API);
  only `EAGER_THREADS` of them run at once unless the queue moves slowly (`_Queue`);
  the point reads of one collection that tasks queue in one turn of the loop go to
  it as one job, read in one query (`Bridge.read`), and so do the single writes to
  the store, committed together (`Bridge.write`);
- *lanes*: one thread with a queue of its own, leased for the life of an
  `atransaction()` (or an `aedit()` block outside one). The synchronous engine binds a
  transaction to the thread that opened it (its session, found through the engine's
  `ContextVar`, which each thread has its own value of), so running the whole block on one lane
  gives "a transaction belongs to the task that opened it" (DESIGN §3) for free.
  The task finds its lane through a `ContextVar`, which the tasks it starts inside
  the block (`asyncio.gather`, `create_task`) inherit: they share the transaction,
  and the lane runs their statements one at a time, in order.

Lanes are reused; at most `IDLE_LANES` wait for the next transaction, and the
others end. A thread holds no connection between transactions (the engine takes a
session from its pool for each transaction or statement), so a lane that ends leaves
nothing behind.

The loop never waits on a thread: a worker hands its result back with
`call_soon_threadsafe` (`_Answers`, which delivers the results that arrive together
in one wake-up of the loop). A task cancelled while its statement runs cannot stop the
statement; a transaction block that a cancellation leaves still waits (without
blocking the loop) for its statements to finish, then rolls back, then re-raises the
cancellation (test_asyncio.py::test_a_cancelled_transaction_rolls_back).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from tpstore._writers import MAX_BATCH
from tpstore.errors import BusyError, ClosedError, TpStoreError

T = TypeVar("T")

POOL_SIZE = 8
"""Threads running single operations outside transactions, per store."""

IDLE_LANES = 8
"""Transaction threads kept waiting for the next transaction, per store."""

EAGER_THREADS = 2
"""Pool threads woken at once for queued jobs; more only when the backlog moves slowly."""

STALL = 0.001
"""Seconds between the loop's looks at a pool's backlog (while it has one)."""

SLOW_JOB = 50e-6
"""Seconds per job above which a backlog moves slowly: the loop wakes another thread.

Jobs that take longer wait mostly without the interpreter lock (a server round trip,
a durable commit, a lock wait), and more threads run more of them at once; a point
read from a file takes a few microseconds, mostly holding the lock.
"""

# A job: where to answer (its loop), the future to answer, the task it runs for, the call.
_Job = tuple[
    "_Answers",
    "asyncio.Future[Any]",
    "asyncio.Task[Any] | None",
    Callable[..., Any],
    tuple[Any, ...],
]

# What a gathered job returns: for each request, its result and its error (or None).
Outcomes = list[tuple[Any, BaseException | None]]


# What the calling worker thread runs now: `.task` is the task of its job.
_running = threading.local()


def running_for() -> asyncio.Task[Any] | None:
    """The asyncio task whose operation the calling thread runs, if it is a worker.

    Collections count the changes an iterating thread makes by thread; on a worker
    thread they count them by this task instead (DESIGN §4: "the iterating thread (or
    asyncio task)"), since one task's operations run on several threads and one
    thread serves several tasks.
    """
    task: asyncio.Task[Any] | None = getattr(_running, "task", None)
    return task


_names = itertools.count(1)


class _Answers:
    """The results workers hand back to one event loop, delivered in batches.

    The first result since the loop's last delivery wakes it (`call_soon_threadsafe`,
    a write to its self-pipe); the ones that come before it runs are delivered with
    it. Under many concurrent tasks that saves the loop a wake-up per operation.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the loop is this object's key in `_answers`.
        self._loop = weakref.ref(loop)
        self._lock = threading.Lock()
        self._results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def post(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """Hand a result to the loop (called by a worker thread)."""
        with self._lock:
            self._results.append((future, result, error))
            if len(self._results) > 1:  # a wake-up is on its way already
                return
        loop = self._loop()
        if loop is None:
            return
        # A loop closed meanwhile raises RuntimeError: nobody waits for the answer then.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            results, self._results = self._results, []
        for future, result, error in results:
            if future.done():  # the awaiting task was cancelled
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


_answers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Answers] = (
    weakref.WeakKeyDictionary()
)


def _answers_of(loop: asyncio.AbstractEventLoop) -> _Answers:
    answers = _answers.get(loop)
    if answers is None:
        answers = _answers.setdefault(loop, _Answers(loop))
    return answers


class _Queue:
    """Jobs served in order by up to `limit` threads (started as needed); stoppable.

    Jobs wait in one backlog, first in first out. A thread takes job after job from it
    and sleeps only when it is empty, on a lock of its own; the thread that went idle
    last is the first woken (a stack), so that a task awaiting one operation after
    another is served by one warm thread.

    Only `EAGER_THREADS` threads are woken (or started) at once for the jobs queued:
    under the GIL, more threads running Python at the same time only take the
    interpreter from each other (a context switch each time one of them releases it
    for a statement). But a thread may also spend its job waiting without holding the
    interpreter (a server round trip, a durable commit, another writer's lock): while
    there is a backlog, the loop looks at it every `STALL` seconds, and if its busy
    threads took fewer jobs than one per `SLOW_JOB` seconds each meanwhile, it wakes
    another one, up to `limit`.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._threads = 0
        self._idle: list[_Worker] = []
        self._backlog: deque[_Job] = deque()
        self._taken = 0  # jobs taken from the backlog so far
        self._watched = False  # a look at the backlog is scheduled
        self._lock = threading.Lock()
        self._stopped = False
        # The answers of the loop seen last (a store is mostly used from one loop).
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._answers: _Answers | None = None

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue `fn(*args)`; the future returned settles on the calling task's loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.put(loop, future, fn, args)
        return future

    def put(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        """Queue `fn(*args)`, its result or error for `future` (of `loop`, running here)."""
        answers = self._answers
        if answers is None or self._loop is None or self._loop() is not loop:
            answers = self._answers = _answers_of(loop)
            self._loop = weakref.ref(loop)
        woken = None
        with self._lock:
            if self._stopped:
                raise ClosedError("the store is closed; open it again to use it")
            self._backlog.append((answers, future, asyncio.current_task(loop), fn, args))
            if self._threads - len(self._idle) < min(EAGER_THREADS, self._limit):
                woken = self._wake()
            elif not self._watched and (self._threads < self._limit or self._idle):
                self._watched = True
                loop.call_later(STALL, self._watch, self._taken)
        if woken is not None:  # (once `_lock` is free: the thread takes it first thing)
            woken.wake.release()

    def _wake(self) -> _Worker | None:
        """An idle thread to wake (once `_lock` is released), or None: one was started."""
        if self._idle:
            return self._idle.pop()
        if self._threads < self._limit:
            self._threads += 1
            name = f"tpstore-worker-{next(_names)}"
            threading.Thread(target=self._serve, name=name, daemon=True).start()
        return None

    def _watch(self, taken: int) -> None:
        """On the loop: one more thread if the backlog moved slowly since `taken`."""
        with self._lock:
            if self._stopped or not self._backlog:
                self._watched = False
                return
            busy = self._threads - len(self._idle)
            slow = self._taken - taken < busy * STALL / SLOW_JOB
            woken = self._wake() if slow else None
            watching = self._watched = self._threads < self._limit or bool(self._idle)
            taken = self._taken
        if woken is not None:
            woken.wake.release()
        if watching:
            asyncio.get_running_loop().call_later(STALL, self._watch, taken)

    def _serve(self) -> None:
        worker = _Worker()
        job = self._take(worker)
        while job is not None or not worker.ended:
            if job is None:  # idle until woken
                worker.wake.acquire()
                job = self._take(worker)
                continue
            answers, future, _running.task, fn, args = job
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the awaiting task, whatever it is
                result, error = None, exc
            _running.task = None
            # The next job (or idleness) before answering: the task answered may queue
            # its next job at once, and should find this thread free and `_lock` too.
            job = self._take(worker)
            answers.post(future, result, error)
            del answers, future, fn, args, result, error  # hold nothing while waiting

    def _take(self, worker: _Worker) -> _Job | None:
        """The next job from the backlog, or None: `worker` is idle, or `ended`."""
        with self._lock:
            if self._backlog:
                self._taken += 1
                return self._backlog.popleft()
            if self._stopped:
                self._threads -= 1
                worker.ended = True
            else:
                self._idle.append(worker)
            return None

    def stop(self) -> None:
        """Let the threads finish the jobs queued so far, then end; refuse new ones."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.wake.release()


class _Worker:
    """A pool thread's state: the lock it sleeps on when idle; whether it ends."""

    __slots__ = ("ended", "wake")

    def __init__(self) -> None:
        self.ended = False
        self.wake = threading.Lock()
        self.wake.acquire()


class Bridge:
    """Runs one store's synchronous operations for coroutines (see the module docstring)."""

    def __init__(self) -> None:
        self._pool = _Queue(POOL_SIZE)
        self._gathered: dict[tuple[Hashable, int], _Gathered] = {}
        self._idle_lanes: list[_Queue] = []
        self._lanes: set[_Queue] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, fn: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on the calling task's transaction lane, or else on the pool.

        A function returning the future to await rather than a coroutine: one frame less
        to start and resume per operation.
        """
        session = _sessions.get().get(self)
        if session is not None:
            return session.run(fn, args)
        return self._pool.submit(fn, args)

    def read(
        self,
        each: Callable[[list[tuple[Any, ...]]], Outcomes],
        one: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> asyncio.Future[Any]:
        """`one(*args)`, a point read, gathered with the others of its kind queued meanwhile.

        The reads of one kind (the same `each`, a bound method: one collection's
        `aget`s, say) that tasks queue in one turn of the loop (outside transactions)
        run as one job: `each(list of args)`, the outcome of each (its result or its
        error), read at once (one query). One read alone runs as `one(*args)`. If
        `each` fails as a whole, each read runs alone (on the same thread), so each
        gets its own result or error, as if it had not been gathered.
        """
        session = _sessions.get().get(self)
        if session is not None:
            return session.run(one, args)
        return self._gather(each, lambda: _Gathered(each, one, None), args)

    def write(
        self,
        together: Callable[[], AbstractContextManager[Any]],
        apart: Callable[[], AbstractContextManager[Any]],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> asyncio.Future[Any]:
        """`fn(*args)`, a write outside transactions, gathered with the others queued meanwhile.

        The writes to the store that tasks queue in one turn of the loop (outside
        transactions) run as one job, up to `MAX_BATCH` of them, one after another
        inside `together()`, the store's group commit (one transaction, committed
        once; each coroutine returns only after that commit, so each write is
        durable when it returns, as its synchronous twin is), each inside `apart()`
        (a savepoint: a refused write undoes only itself, and raises only in its own
        task). A write that fails ends its group: those before it commit, and those
        after it go on in the next group. The writes that no group could take in
        (`together()` itself failed: a closed or read-only store, a lock wait that
        timed out) run alone, so that each gets its own error.

        This saves the pool a job, and the store a commit, per write: the pool's few
        threads would otherwise form group commits of two or three writes where the
        synchronous API's many threads form large ones.
        """
        session = _sessions.get().get(self)
        if session is not None:
            return session.run(fn, args)
        request = (asyncio.current_task(), fn, args)
        return self._gather(
            self,
            lambda: _Gathered(
                functools.partial(_write_together, together, apart), _run_for, MAX_BATCH
            ),
            request,
        )

    def _gather(
        self, kind: Hashable, gathering: Callable[[], _Gathered], request: tuple[Any, ...]
    ) -> asyncio.Future[Any]:
        """Add `request` to the calling loop's gathering of `kind` (or to a new one)."""
        loop = asyncio.get_running_loop()
        key = (kind, id(loop))  # (the gathering holds the loop while it is queued)
        gathered = self._gathered.get(key)
        if gathered is None or gathered.full():
            gathered = self._gathered[key] = gathering()
            gathered.keep(loop)
            loop.call_soon(self._send, key, gathered)
        future = loop.create_future()
        gathered.futures.append(future)
        gathered.requests.append(request)
        return future

    def _send(self, key: tuple[Hashable, int], gathered: _Gathered) -> None:
        if self._gathered.get(key) is gathered:
            del self._gathered[key]
        first = gathered.futures[0]
        try:
            if len(gathered.futures) == 1:
                self._pool.put(gathered.loop, first, gathered.one, gathered.requests[0])
            else:
                self._pool.put(gathered.loop, first, gathered.run, ())
        except ClosedError as exc:
            for future in gathered.futures:
                if not future.done():
                    future.set_exception(ClosedError(*exc.args))

    async def run_alone(self, fn: Callable[..., T], /, *args: Any) -> T:
        """`fn(*args)` on a thread of its own, for calls that may wait long (blocking pops).

        Inside a transaction it runs on the transaction's lane, as every statement does.
        """
        session = _sessions.get().get(self)
        if session is not None:
            return await session.run(fn, args)  # type: ignore[no-any-return]
        lane = self.lease()
        try:
            return await lane.submit(fn, args)  # type: ignore[no-any-return]
        finally:
            self.release(lane)

    def in_transaction(self) -> bool:
        """Whether the calling task runs inside an `atransaction()` (or `aedit()`) block."""
        session = _sessions.get().get(self)
        return session is not None and not session.ended

    def hold(
        self, open_: Callable[[], AbstractContextManager[T]]
    ) -> AbstractAsyncContextManager[T]:
        """An async context manager running the synchronous one `open_()` makes on a lane.

        The block's statements run on that lane, inside what the manager opened.
        """
        return _Held(self, open_)

    def lease(self) -> _Queue:
        """A lane (a thread of one's own) for a transaction; give it back with `release`."""
        with self._lock:
            if self._closed:
                raise ClosedError("the store is closed; open it again to use it")
            if self._idle_lanes:
                return self._idle_lanes.pop()
            lane = _Queue(1)
            self._lanes.add(lane)
            return lane

    def release(self, lane: _Queue) -> None:
        """Give a lane back for the next transaction (or end it: enough are waiting)."""
        with self._lock:
            if not self._closed and len(self._idle_lanes) < IDLE_LANES:
                self._idle_lanes.append(lane)
                return
            self._lanes.discard(lane)
        lane.stop()

    def close(self) -> None:
        """Stop every thread once its queued jobs are done; later calls raise `ClosedError`."""
        with self._lock:
            self._closed = True
            lanes, self._lanes, self._idle_lanes = self._lanes, set(), []
        self._pool.stop()
        for lane in lanes:
            lane.stop()


class _Gathered:
    """Operations that tasks of one loop queue in one turn of it, run as one job.

    `each(requests)` runs them together and returns the outcome of each: of the first
    ones only, if it stops early (or raises). `one(*request)` runs one alone: the job
    runs so the requests that `each` left, so that each gets its own result or error,
    as if it had not been gathered.
    """

    __slots__ = ("answers", "each", "futures", "limit", "loop", "one", "requests")

    def __init__(
        self,
        each: Callable[[list[tuple[Any, ...]]], Outcomes],
        one: Callable[..., Any],
        limit: int | None,
    ) -> None:
        self.each = each
        self.one = one
        self.limit = limit
        self.futures: list[asyncio.Future[Any]] = []
        self.requests: list[tuple[Any, ...]] = []

    def keep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hold the loop to answer (its id is part of the gathering's key)."""
        self.loop = loop
        self.answers = _answers_of(loop)

    def full(self) -> bool:
        return self.limit is not None and len(self.requests) >= self.limit

    def run(self) -> Any:
        """On a worker: answer every request but the first, and return (or raise) its."""
        try:
            outcomes = self.each(self.requests)
        except BaseException:  # each request alone tells its own error (or its result)
            outcomes = []
        outcomes.extend(self._alone(request) for request in self.requests[len(outcomes) :])
        for future, (result, error) in zip(self.futures[1:], outcomes[1:], strict=True):
            self.answers.post(future, result, error)
        result, error = outcomes[0]
        if error is not None:
            raise error
        return result

    def _alone(self, request: tuple[Any, ...]) -> tuple[Any, BaseException | None]:
        return outcome(self.one, *request)


def outcome(fn: Callable[..., Any], /, *args: Any) -> tuple[Any, BaseException | None]:
    """`fn(*args)`'s result and None, or None and what it raised: one request's outcome."""
    try:
        return fn(*args), None
    except BaseException as exc:  # handed to the awaiting task, whatever it is
        return None, exc


def _run_for(task: asyncio.Task[Any] | None, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """`fn(*args)` for `task`'s operation (`running_for`), on the calling worker."""
    running, _running.task = getattr(_running, "task", None), task
    try:
        return fn(*args)
    finally:
        _running.task = running


def _write_together(
    together: Callable[[], AbstractContextManager[Any]],
    apart: Callable[[], AbstractContextManager[Any]],
    requests: list[tuple[Any, ...]],
) -> Outcomes:
    """`Bridge.write`'s gathered job: the writes requested, in groups (see there)."""
    outcomes: Outcomes = []
    while len(outcomes) < len(requests):
        start = len(outcomes)
        entered = False
        try:
            with together():
                entered = True
                for task, fn, args in requests[start:]:
                    try:
                        with apart():
                            outcomes.append((_run_for(task, fn, args), None))
                    except BaseException as exc:  # this write's own error: the group ends
                        outcomes.append((None, exc))
                        break
        except BaseException as exc:
            if not entered:
                if isinstance(exc, BusyError):  # alone, each would have waited as long
                    outcomes.extend((None, BusyError(*exc.args)) for _ in requests[start:])
                return outcomes  # the rest run alone, each to its own error
            # Not committed: the writes of this group that succeeded were not written.
            outcomes[start:] = [
                (None, exc) if error is None else (None, error) for _, error in outcomes[start:]
            ]
    return outcomes


class _Session:
    """One open `atransaction()` (or `aedit()`) block: its lane and who nests in it."""

    def __init__(self, bridge: Bridge, lane: _Queue) -> None:
        self.bridge = bridge
        self.lane = lane
        self.ended = False
        # Nested blocks of different tasks sharing the session take turns: savepoints
        # of two tasks interleaved on one connection would release each other.
        self.nesting = asyncio.Lock()
        self.nester: asyncio.Task[Any] | None = None
        self.nested = 0

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if self.ended:
            raise TpStoreError(
                "the transaction this task was started in has ended; a task that outlives "
                "an atransaction() block cannot use it any more"
            )
        return self.lane.submit(fn, args)

    async def enter_nested(self) -> None:
        task = asyncio.current_task()
        if self.nester is not task:
            await self.nesting.acquire()
            self.nester = task
        self.nested += 1

    def exit_nested(self) -> None:
        self.nested -= 1
        if self.nested == 0:
            self.nester = None
            self.nesting.release()


# The open sessions of the running task, one per store (by bridge). Never mutated: a
# new block sets a new dict, so the tasks started earlier keep the one they inherited.
_sessions: ContextVar[dict[Bridge, _Session]] = ContextVar("tpstore_sessions", default={})  # noqa: B039 - never mutated


async def _finish(future: asyncio.Future[Any]) -> bool:
    """Wait for `future` to settle even if the task is cancelled; whether it was."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


class _Held(AbstractAsyncContextManager[T]):
    """`Bridge.hold`: a synchronous context manager kept open on a lane for a block."""

    def __init__(self, bridge: Bridge, open_: Callable[[], AbstractContextManager[T]]) -> None:
        self._bridge = bridge
        self._open = open_
        self._session: _Session | None = None
        self._token: Any = None
        self._manager: AbstractContextManager[T] | None = None

    async def __aenter__(self) -> T:
        if self._session is not None:
            raise RuntimeError("this async context manager is already in use")
        sessions = _sessions.get()
        current = sessions.get(self._bridge)
        if current is not None and not current.ended:
            await current.enter_nested()
            self._session = current
        else:
            self._session = _Session(self._bridge, self._bridge.lease())
            self._token = _sessions.set({**sessions, self._bridge: self._session})
        try:
            future = self._session.run(self._enter, ())
        except BaseException:
            self._leave()
            raise
        cancelled = await _finish(future)
        try:
            value: T = future.result()
        except BaseException:
            self._leave()
            if cancelled:
                raise asyncio.CancelledError from None
            raise
        if cancelled:  # entered all the same: leave again, then let the cancellation go on
            error = asyncio.CancelledError()
            await self.__aexit__(type(error), error, None)
            raise error
        return value

    def _enter(self) -> T:
        manager = self._open()
        value = manager.__enter__()
        self._manager = manager
        return value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        session, manager = self._session, self._manager
        assert session is not None
        assert manager is not None
        try:
            future = session.lane.submit(manager.__exit__, (exc_type, exc, traceback))
            cancelled = await _finish(future)
            suppress: bool | None = future.result()
        finally:
            self._leave()
        if cancelled and not isinstance(exc, asyncio.CancelledError):
            raise asyncio.CancelledError
        return suppress

    def _leave(self) -> None:
        session, self._session, self._manager = self._session, None, None
        if session is None:
            return
        if self._token is None:
            session.exit_nested()
            return
        _sessions.reset(self._token)
        self._token = None
        session.ended = True
        self._bridge.release(session.lane)


_bridges: weakref.WeakKeyDictionary[object, Bridge] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()


def bridge_of(engine: object) -> Bridge:
    """The bridge of a store's engine, made at its first asynchronous call."""
    bridge = _bridges.get(engine)
    if bridge is not None:
        return bridge
    with _bridges_lock:
        bridge = _bridges.get(engine)
        if bridge is None:
            bridge = Bridge()
            _bridges[engine] = bridge
            weakref.finalize(engine, bridge.close)
        return bridge


# A forked child has none of its parent's threads: it makes bridges of its own.
os.register_at_fork(after_in_child=_bridges.clear)


def close_bridge(engine: object) -> None:
    """Stop the worker threads of a store's engine, if it ever had any (`Store.close`)."""
    bridge = _bridges.get(engine)
    if bridge is not None:
        bridge.close()
