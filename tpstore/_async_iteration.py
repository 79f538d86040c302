"""Async iteration over the synchronous iterators, a page of items per thread hop.

`AsyncIteration` runs a collection's synchronous iterator on the store's worker threads
(`tpstore._bridge.Bridge`), and follows the iterating task's own changes as the
synchronous iterator follows its thread's (DESIGN §4).
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from tpstore.errors import ClosedError

if TYPE_CHECKING:
    from tpstore._bridge import Bridge

T = TypeVar("T")


class _Watched(Protocol):
    """What a collection counts for one iterating task (`tpstore._collection._Watch`)."""

    iterators: int
    changes: int
    rewrites: int


class AsyncIteration(AsyncIterator[T], Generic[T]):
    """An async iterator over a synchronous one, fetched `page` items per thread hop.

    `start` makes the synchronous iterator; it runs on a worker, at the first step.
    An error met while fetching is raised after the items fetched before it. Items
    fetched before the store closed are not handed out after it (`closed()` says so),
    as for the synchronous iterators.

    With `watch(task)` (what the collection counts for the iterating task), the
    iteration reacts to the task's own changes as the synchronous one reacts to the
    thread's, although it has fetched items ahead: a change of the size raises
    `RuntimeError(message)` at the next step, or, without a `message` (a `Sequence`,
    live like `list`) and with `follow`, the iteration goes on from the index it
    reached; a rewrite (a value replaced in place) makes the items not handed out yet
    read afresh, from the same index.
    """

    def __init__(
        self,
        bridge: Bridge,
        start: Callable[[], Iterator[T]],
        closed: Callable[[], bool],
        *,
        page: int,
        watch: Callable[[asyncio.Task[Any] | None], _Watched] | None = None,
        message: str | None = None,
        follow: bool = False,
    ) -> None:
        self._bridge = bridge
        self._start = start
        self._closed = closed
        self._page = page
        self._watch = watch
        self._message = message
        self._follow = follow
        self._iterator: Iterator[T] | None = None
        self._items: deque[T] = deque()
        self._error: BaseException | None = None
        self._done = False
        self._handed = 0  # items handed out so far
        self._skip = 0  # items a restarted synchronous iterator skips
        self._seen = (0, 0)  # the task's (changes, rewrites) when the items were fetched
        self._watched: _Watched | None = None
        self._unwatch: Any = None

    def __aiter__(self) -> AsyncIteration[T]:
        return self

    async def __anext__(self) -> T:
        try:
            if self._watch is not None:
                self._react()
            if not self._items and not self._done:
                items, self._error, self._done = await self._bridge.run(self._fetch)
                self._items.extend(items)
            if self._items:
                if self._closed():
                    raise ClosedError("the store is closed; open it again to use it")
                self._handed += 1
                return self._items.popleft()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            raise StopAsyncIteration
        except BaseException:
            self._stop_watching()
            raise

    def _react(self) -> None:
        """Follow the iterating task's changes since the items were fetched."""
        assert self._watch is not None
        watch = self._watched
        if watch is None:  # the first step: the task iterates from now on
            watch = self._watched = self._watch(asyncio.current_task())
            watch.iterators += 1
            self._unwatch = weakref.finalize(self, _unwatch, watch)
            self._seen = (watch.changes, watch.rewrites)
            return
        changes, rewrites = self._seen
        if watch.changes != changes:
            if self._message is not None:
                raise RuntimeError(self._message)
            if self._follow:
                self._restart()
        elif watch.rewrites != rewrites:
            self._restart()
        self._seen = (watch.changes, watch.rewrites)

    def _restart(self) -> None:
        """Read again from the index reached, with a new synchronous iterator."""
        self._items.clear()
        self._iterator, self._error, self._done = None, None, False
        self._skip = self._handed

    def _stop_watching(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _fetch(self) -> tuple[list[T], BaseException | None, bool]:
        items: list[T] = []
        try:
            if self._iterator is None:
                self._iterator = itertools.islice(self._start(), self._skip, None)
            for item in self._iterator:
                items.append(item)
                if len(items) == self._page:
                    return items, None, False
        except Exception as exc:  # raised by the async iterator after the items before it
            return items, exc, True
        finally:
            if self._watched is not None:
                self._seen = (self._watched.changes, self._watched.rewrites)
        return items, None, True


def _unwatch(watch: _Watched) -> None:
    watch.iterators -= 1
