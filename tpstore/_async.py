"""What the `a`-prefixed coroutine twins of the storage operations share (DESIGN §11).

Each twin is one line on the public class it belongs to: it runs its synchronous twin,
named there, through the store's `Bridge` (`tpstore._bridge`) with `_Twins._twin`, and
returns or raises exactly what that does. The twins live on the public classes, next to
their synchronous twins and with the same key and value types, so that type checkers
infer the same types for both APIs and name the class a user declared in their
messages (`tests/test_typing.py`). Twins of operations that a kind lacks are absent too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from tpstore._async_iteration import AsyncIteration
from tpstore._bridge import Outcomes, bridge_of
from tpstore._collection import PAGE, wait_seconds

if TYPE_CHECKING:
    from tpstore._engine import Engine

# The pauses of a waiting `apop`/`apopleft` between two looks at the deque's length.
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.010

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class _Twins:
    """The base of every class with coroutine twins: the store's engine, a call by name."""

    _engine: Engine

    def _twin(
        self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[R]:
        """The synchronous `method` of this object, run on a worker thread: await it.

        Typed through `method`, so a twin takes and returns what its synchronous twin
        does, as a type checker sees it. A function rather than a coroutine: each twin
        is one coroutine frame, not three.
        """
        if kwargs:
            return bridge_of(self._engine).run(lambda: method(*args, **kwargs))
        return bridge_of(self._engine).run(method, *args)

    def _aread(
        self,
        each: Callable[[list[tuple[Any, ...]]], Outcomes],
        one: Callable[..., R],
        *args: Any,
    ) -> asyncio.Future[R]:
        """`one(*args)`, a point read, gathered with other tasks' (`Bridge.read`)."""
        return bridge_of(self._engine).read(each, one, args)

    def _awrite(
        self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[R]:
        """`method(*args)`, a single write, committed with other tasks' (`Bridge.write`).

        Only where the store groups commits (SQLite); elsewhere each write is its own
        statement, as `_twin` runs it.
        """
        engine = self._engine
        if not engine.driver.group_commit:
            return self._twin(method, *args, **kwargs)
        if kwargs:
            return bridge_of(engine).write(
                engine.atomic, engine.transaction, lambda: method(*args, **kwargs), ()
            )
        return bridge_of(engine).write(engine.atomic, engine.transaction, method, args)

    def _aiter(
        self, start: Callable[[], Iterator[T]], *, watched: bool = True, follow: bool = False
    ) -> AsyncIterator[T]:
        """An async iteration over `start()`; see `tpstore._async_iteration.AsyncIteration`.

        `watched`: the synchronous iterator reacts to the iterating task's changes
        (it raises `RuntimeError`, or with `follow` goes on from the index reached).
        """
        engine = self._engine
        return AsyncIteration(
            bridge_of(engine),
            start,
            lambda: engine.closed,
            page=PAGE,
            watch=self._watch_of if watched else None,  # type: ignore[attr-defined]
            message=self._changed_during_iteration,  # type: ignore[attr-defined]
            follow=follow,
        )

    def _ahold(
        self, open_: Callable[[], AbstractContextManager[T]]
    ) -> AbstractAsyncContextManager[T]:
        return bridge_of(self._engine).hold(open_)

    async def _apop_waiting(self, pop: Callable[..., T], timeout: float | None) -> T:
        """`pop`/`popleft` of a deque, awaited; with a `timeout`, without holding a thread.

        Between tries the task sleeps on the loop, looking at the deque's length (a
        cheap read) after pauses growing from 1 ms to 10 ms.
        """
        bridge = bridge_of(self._engine)
        if timeout is None or bridge.in_transaction():
            # Inside a transaction the synchronous pop does not wait: the transaction
            # holds the write lock, so no one else could append.
            return await self._twin(pop, timeout=timeout)
        deadline = time.monotonic() + wait_seconds(timeout)
        pause = _FIRST_PAUSE
        while True:
            try:
                return await self._twin(pop)
            except IndexError:
                pass
            while not await self._twin(self.__len__):  # type: ignore[attr-defined]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise IndexError("pop from an empty deque")
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE)
            pause = _FIRST_PAUSE
