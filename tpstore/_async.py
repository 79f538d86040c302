"""The `a`-prefixed coroutine twins of the storage operations (DESIGN §11).

Each twin is one line: it runs its synchronous twin, named here, through the store's
`Bridge` (`tpstore._bridge`) and returns or raises exactly what that does. The mixins
only add the typed signatures, so that a type checker infers the same key and value
types for both APIs; every collection kind lists the mixin of its family among its
bases. Twins of operations that a collection kind lacks are absent too.
"""

# Each twin returns what the bridge's `run` hands back from its synchronous twin,
# typed `Any` there; the twin's own annotation is the type (the sync method's).
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from tpstore._bridge import AsyncIteration, bridge_of
from tpstore._collection import PAGE, wait_seconds
from tpstore._fields import MISSING

if TYPE_CHECKING:
    from tpstore._engine import Engine

# The pauses of a waiting `apop`/`apopleft` between two looks at the deque's length.
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.010

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
S = TypeVar("S")


class _Twins:
    """What every mixin below needs: the store's engine and a way to call by name."""

    _engine: Engine

    async def _twin(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Await the synchronous method `name` of this object, run on a worker thread."""
        method = getattr(self, name)
        if kwargs:
            return await bridge_of(self._engine).run(lambda: method(*args, **kwargs))
        return await bridge_of(self._engine).run(method, *args)

    def _aiter(
        self, start: Callable[[], Iterator[T]], *, watched: bool = True, follow: bool = False
    ) -> AsyncIterator[T]:
        """An async iteration over `start()`; see `tpstore._bridge.AsyncIteration`.

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

    async def amigrate(self) -> int:
        """The asyncio twin of `migrate()`: values rewritten through the upgrade hooks."""
        return await self._twin("migrate")

    def _ahold(
        self, open_: Callable[[], AbstractContextManager[T]]
    ) -> AbstractAsyncContextManager[T]:
        return bridge_of(self._engine).hold(open_)


# -- stores ------------------------------------------------------------------------------


class AsyncStoreMethods(_Twins):
    """`Store`'s coroutine twins: `async with`, `aclose`, `atransaction`, `apurge`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: object, traceback: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store, like `close()`, without blocking the event loop; idempotent."""
        if self._engine.closed:
            return
        await bridge_of(self._engine).run_alone(self.close)  # type: ignore[attr-defined]

    def atransaction(self, *, readonly: bool = False) -> AbstractAsyncContextManager[None]:
        """The asyncio twin of `transaction()`: `async with store.atransaction(): ...`.

        The transaction belongs to the task that opened it: other tasks neither see its
        writes nor write inside it; their writes wait, without blocking the event loop,
        for its lock (up to `timeout`, then `BusyError`). Tasks started inside the block
        (`asyncio.gather`, `asyncio.create_task`) run inside it and share it, their
        statements one at a time. Nested blocks are savepoints. A task cancelled inside
        the block rolls it back (after its running statement ends) and the store stays
        usable.

        Inside the block, use the `a`-methods: a synchronous call from the event loop's
        thread runs outside the transaction, and its write would wait for the
        transaction's own lock.
        """
        return self._ahold(lambda: self._engine.transaction(readonly=readonly))

    async def apurge(self) -> int:
        """The asyncio twin of `purge()`: drop expired items; returns how many."""
        return await self._twin("purge")

    async def avacuum(self) -> None:
        """The asyncio twin of `vacuum()`."""
        return await self._twin("vacuum")

    async def aoptimize(self) -> None:
        """The asyncio twin of `optimize()`."""
        return await self._twin("optimize")

    async def acheckpoint(self) -> None:
        """The asyncio twin of `checkpoint()`."""
        return await self._twin("checkpoint")

    async def abackup(self, path: str | os.PathLike[str], *, database: str = "main") -> None:
        """The asyncio twin of `backup(path, database=...)`."""
        return await self._twin("backup", path, database=database)

    async def amigrate(self) -> int:
        """The asyncio twin of `migrate()`: upgrade stored values; returns how many."""
        return await self._twin("migrate")


# -- the Mapping and Set families --------------------------------------------------------


class AsyncKeyedMethods(_Twins, Generic[K]):
    """Twins shared by mappings and sets (whose elements are keys)."""

    async def acontains(self, key: object) -> bool:
        """`key in collection`, awaited."""
        return await self._twin("__contains__", key)

    async def alen(self) -> int:
        """`len(collection)`, awaited."""
        return await self._twin("__len__")

    async def aclear(self) -> None:
        """`clear()`, awaited."""
        return await self._twin("clear")

    def __aiter__(self) -> AsyncIterator[K]:
        """`async for key in collection`: the keys (elements) in the collection's order."""
        return self._aiter(lambda: iter(self))  # type: ignore[call-overload]

    def areversed(self) -> AsyncIterator[K]:
        """The keys (elements) in reverse order, as an async iterator."""
        return self._aiter(lambda: reversed(self))  # type: ignore[call-overload]


class AsyncMappingMethods(AsyncKeyedMethods[K], Generic[K, V]):
    """The coroutine twins of the Mapping family (DESIGN §11)."""

    async def agetitem(self, key: K) -> V:
        """`mapping[key]`, awaited; `KeyError` if absent."""
        return await self._twin("__getitem__", key)

    async def aset(self, key: K, value: V) -> None:
        """`mapping[key] = value`, awaited."""
        return await self._twin("__setitem__", key, value)

    async def adelete(self, key: K) -> None:
        """`del mapping[key]`, awaited; `KeyError` if absent."""
        return await self._twin("__delitem__", key)

    @overload
    async def aget(self, key: K, /) -> V | None: ...
    @overload
    async def aget(self, key: K, /, default: V | T) -> V | T: ...

    async def aget(self, key: K, /, default: Any = None) -> Any:
        """`get(key, default)`, awaited."""
        return await self._twin("get", key, default)

    async def aget_many(self, keys: Iterable[K]) -> dict[K, V]:
        """`get_many(keys)`, awaited."""
        return await self._twin("get_many", keys)

    @overload
    async def apop(self, key: K, /) -> V: ...
    @overload
    async def apop(self, key: K, /, default: V | T) -> V | T: ...

    async def apop(self, key: K, /, default: Any = MISSING) -> Any:
        """`pop(key[, default])`, awaited."""
        return await self._twin("pop", key, default)

    async def apopitem(self, last: bool = True) -> tuple[K, V]:
        """`popitem(last)`, awaited."""
        return await self._twin("popitem", last)

    async def asetdefault(self, key: K, default: V = None) -> V:  # type: ignore[assignment]
        """`setdefault(key, default)`, awaited."""
        return await self._twin("setdefault", key, default)

    async def aupdate(self, other: Any = (), /, **kwargs: V) -> None:
        """`update(other, **kwargs)`, awaited: one transaction."""
        return await self._twin("update", other, **kwargs)

    async def aincrement(self, key: K, delta: int | float = 1, *, default: int | float = 0) -> V:
        """`increment(key, delta, default=...)`, awaited: atomic; the new value."""
        return await self._twin("increment", key, delta, default=default)

    async def apeekitem(self, last: bool = True) -> tuple[K, V]:
        """`peekitem(last)`, awaited."""
        return await self._twin("peekitem", last)

    async def acopy(self) -> dict[K, V]:
        """`copy()`, awaited: a plain `dict`."""
        return await self._twin("copy")

    def akeys(self) -> AsyncIterator[K]:
        """The keys, as an async iterator."""
        return self._aiter(lambda: iter(self.keys()))  # type: ignore[attr-defined]

    def avalues(self) -> AsyncIterator[V]:
        """The values, as an async iterator."""
        return self._aiter(lambda: iter(self.values()))  # type: ignore[attr-defined]

    def aitems(self) -> AsyncIterator[tuple[K, V]]:
        """The `(key, value)` pairs, as an async iterator."""
        return self._aiter(lambda: iter(self.items()))  # type: ignore[attr-defined]

    def aedit(self, key: K, *, default: Any = MISSING) -> AbstractAsyncContextManager[V]:
        """`edit(key, default=...)` as an async context manager.

        The read, the block and the write back form one transaction, which belongs to
        the task (as in `atransaction()`): use the `a`-methods inside the block.
        """
        return self._ahold(lambda: self.edit(key, default=default))  # type: ignore[attr-defined]

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin("migrate")


class AsyncRangeMethods(_Twins, Generic[K, V]):
    """`arange`, for the key-ordered mappings."""

    def arange(
        self, start: K | None = None, stop: K | None = None, *, reverse: bool = False
    ) -> AsyncIterator[tuple[K, V]]:
        """`range(start, stop, reverse=...)` as an async iterator."""
        return self._aiter(lambda: self.range(start, stop, reverse=reverse), watched=False)  # type: ignore[attr-defined]


class AsyncExpiringMethods(_Twins):
    """Twins of the expiring kinds of both families."""

    async def atouch(self, key: Any, lifespan: timedelta | float | None = None) -> None:
        """`touch(key, lifespan)`, awaited."""
        return await self._twin("touch", key, lifespan)

    async def aexpires_at(self, key: Any) -> float | None:
        """`expires_at(key)`, awaited."""
        return await self._twin("expires_at", key)

    async def apurge(self) -> int:
        """`purge()`, awaited: the number of expired items dropped."""
        return await self._twin("purge")


class AsyncExpiringMappingMethods(_Twins):
    """`aset` with a per-item lifespan, for the expiring mappings."""

    async def aset(
        self, key: Any, value: Any, *, lifespan: timedelta | float | None = None
    ) -> None:
        """`set(key, value, lifespan=...)`, awaited."""
        return await self._twin("set", key, value, lifespan=lifespan)


class AsyncSetMethods(AsyncKeyedMethods[T], Generic[T]):
    """The coroutine twins of the Set family (DESIGN §11)."""

    async def aadd(self, value: T) -> None:
        """`add(value)`, awaited."""
        return await self._twin("add", value)

    async def adiscard(self, value: T) -> None:
        """`discard(value)`, awaited."""
        return await self._twin("discard", value)

    async def aremove(self, value: T) -> None:
        """`remove(value)`, awaited; `KeyError` if absent."""
        return await self._twin("remove", value)

    async def apop(self) -> T:
        """`pop()`, awaited: the first element in the set's order."""
        return await self._twin("pop")

    async def aupdate(self, *iterables: Iterable[T]) -> None:
        """`update(*iterables)`, awaited: one transaction."""
        return await self._twin("update", *iterables)

    async def aisdisjoint(self, other: Iterable[Any]) -> bool:
        """`isdisjoint(other)`, awaited."""
        return await self._twin("isdisjoint", other)

    async def acopy(self) -> set[T]:
        """`copy()`, awaited: a plain `set`."""
        return await self._twin("copy")

    async def aunion(self, *others: Iterable[S]) -> set[T | S]:
        """`union(*others)`, awaited: a plain `set`."""
        return await self._twin("union", *others)

    async def aintersection(self, *others: Iterable[Any]) -> set[T]:
        """`intersection(*others)`, awaited: a plain `set`."""
        return await self._twin("intersection", *others)

    async def adifference(self, *others: Iterable[Any]) -> set[T]:
        """`difference(*others)`, awaited: a plain `set`."""
        return await self._twin("difference", *others)

    async def asymmetric_difference(self, other: Iterable[S]) -> set[T | S]:
        """`symmetric_difference(other)`, awaited: a plain `set`."""
        return await self._twin("symmetric_difference", other)

    async def aissubset(self, other: Iterable[Any]) -> bool:
        """`issubset(other)`, awaited."""
        return await self._twin("issubset", other)

    async def aissuperset(self, other: Iterable[Any]) -> bool:
        """`issuperset(other)`, awaited."""
        return await self._twin("issuperset", other)

    async def aintersection_update(self, *others: Iterable[Any]) -> None:
        """`intersection_update(*others)`, awaited: one transaction."""
        return await self._twin("intersection_update", *others)

    async def adifference_update(self, *others: Iterable[Any]) -> None:
        """`difference_update(*others)`, awaited: one transaction."""
        return await self._twin("difference_update", *others)

    async def asymmetric_difference_update(self, other: Iterable[Any]) -> None:
        """`symmetric_difference_update(other)`, awaited: one transaction."""
        return await self._twin("symmetric_difference_update", other)


class AsyncExpiringSetMethods(_Twins):
    """`aadd` with a per-element lifespan, for the expiring sets."""

    async def aadd(self, value: Any, *, lifespan: timedelta | float | None = None) -> None:
        """`add(value, lifespan=...)`, awaited."""
        return await self._twin("add", value, lifespan=lifespan)


# -- sequences and deques -----------------------------------------------------------------


class AsyncPositionedMethods(_Twins, Generic[T]):
    """Twins shared by `Sequence` and `Deque`."""

    async def alen(self) -> int:
        """`len(collection)`, awaited."""
        return await self._twin("__len__")

    async def aappend(self, value: T) -> None:
        """`append(value)`, awaited."""
        return await self._twin("append", value)

    async def aextend(self, values: Iterable[T]) -> None:
        """`extend(values)`, awaited: one transaction."""
        return await self._twin("extend", values)

    async def aclear(self) -> None:
        """`clear()`, awaited."""
        return await self._twin("clear")

    async def acontains(self, value: object) -> bool:
        """`value in collection`, awaited."""
        return await self._twin("__contains__", value)

    async def ainsert(self, index: int, value: T) -> None:
        """`insert(index, value)`, awaited."""
        return await self._twin("insert", index, value)

    async def aindex(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """`index(value, start, stop)`, awaited."""
        return await self._twin("index", value, start, stop)

    async def acount(self, value: Any) -> int:
        """`count(value)`, awaited."""
        return await self._twin("count", value)

    async def aremove(self, value: T) -> None:
        """`remove(value)`, awaited."""
        return await self._twin("remove", value)

    async def areverse(self) -> None:
        """`reverse()`, awaited: one transaction."""
        return await self._twin("reverse")

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for item in collection`: the items in order."""
        return self._aiter(lambda: iter(self))  # type: ignore[call-overload]

    def areversed(self) -> AsyncIterator[T]:
        """The items from the last to the first, as an async iterator."""
        return self._aiter(lambda: reversed(self))  # type: ignore[call-overload]

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin("migrate")


class AsyncSequenceMethods(AsyncPositionedMethods[T], Generic[T]):
    """The coroutine twins of `Sequence` (DESIGN §11)."""

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for item in sequence`: live, as over a `list`.

        When the iterating task changes the sequence, the iteration goes on from the
        index it reached, as the synchronous one (and `list`'s) does.
        """
        return self._aiter(lambda: iter(self), follow=True)  # type: ignore[call-overload]

    def areversed(self) -> AsyncIterator[T]:
        """The items from the last to the first, as an async iterator."""
        return self._aiter(lambda: reversed(self), watched=False)  # type: ignore[call-overload]

    @overload
    async def agetitem(self, index: int) -> T: ...
    @overload
    async def agetitem(self, index: slice) -> list[T]: ...

    async def agetitem(self, index: int | slice) -> T | list[T]:
        """`sequence[index]` (an index or a slice), awaited."""
        return await self._twin("__getitem__", index)

    @overload
    async def asetitem(self, index: int, value: T) -> None: ...
    @overload
    async def asetitem(self, index: slice, value: Iterable[T]) -> None: ...

    async def asetitem(self, index: int | slice, value: Any) -> None:
        """`sequence[index] = value` (an index or a slice), awaited."""
        return await self._twin("__setitem__", index, value)

    async def adelitem(self, index: int | slice) -> None:
        """`del sequence[index]` (an index or a slice), awaited."""
        return await self._twin("__delitem__", index)

    async def apop(self, index: int = -1) -> T:
        """`pop(index)`, awaited."""
        return await self._twin("pop", index)

    async def asort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        """`sort(key=..., reverse=...)`, awaited: stable, one transaction."""
        return await self._twin("sort", key=key, reverse=reverse)

    async def acopy(self) -> list[T]:
        """`copy()`, awaited: a plain `list`."""
        return await self._twin("copy")


class AsyncDequeMethods(AsyncPositionedMethods[T], Generic[T]):
    """The coroutine twins of `Deque` (DESIGN §11)."""

    async def agetitem(self, index: int) -> T:
        """`deque[index]`, awaited (an index, as for `collections.deque`)."""
        return await self._twin("__getitem__", index)

    async def asetitem(self, index: int, value: T) -> None:
        """`deque[index] = value`, awaited."""
        return await self._twin("__setitem__", index, value)

    async def adelitem(self, index: int) -> None:
        """`del deque[index]`, awaited."""
        return await self._twin("__delitem__", index)

    async def acopy(self) -> collections.deque[T]:
        """`copy()`, awaited: a `collections.deque` with the same `maxlen`."""
        return await self._twin("copy")

    async def aappendleft(self, value: T) -> None:
        """`appendleft(value)`, awaited."""
        return await self._twin("appendleft", value)

    async def aextendleft(self, values: Iterable[T]) -> None:
        """`extendleft(values)`, awaited: one transaction."""
        return await self._twin("extendleft", values)

    async def apop(self, *, timeout: float | None = None) -> T:
        """`pop(timeout=...)`, awaited: removes and returns the last item."""
        return await self._apop_waiting("pop", timeout)

    async def apopleft(self, *, timeout: float | None = None) -> T:
        """`popleft(timeout=...)`, awaited: removes and returns the first item.

        With a `timeout`, an empty deque is waited on without holding a worker thread:
        between tries the task sleeps on the loop, looking at the deque's length (a
        cheap read) after pauses growing from 1 ms to 10 ms.
        """
        return await self._apop_waiting("popleft", timeout)

    async def _apop_waiting(self, name: str, timeout: float | None) -> T:
        bridge = bridge_of(self._engine)
        if timeout is None or bridge.in_transaction():
            # Inside a transaction the synchronous pop does not wait: the transaction
            # holds the write lock, so no one else could append.
            return await self._twin(name, timeout=timeout)
        deadline = time.monotonic() + wait_seconds(timeout)
        pause = _FIRST_PAUSE
        while True:
            try:
                return await self._twin(name)
            except IndexError:
                pass
            while not await self._twin("__len__"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise IndexError("pop from an empty deque")
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE)
            pause = _FIRST_PAUSE

    async def apeek(self) -> T:
        """`peek()`, awaited."""
        return await self._twin("peek")

    async def apeekleft(self) -> T:
        """`peekleft()`, awaited."""
        return await self._twin("peekleft")

    async def arotate(self, n: int = 1) -> None:
        """`rotate(n)`, awaited: one transaction."""
        return await self._twin("rotate", n)


# -- values ------------------------------------------------------------------------------


class AsyncValueMethods(_Twins, Generic[T]):
    """The coroutine twins of `Value` (DESIGN §11)."""

    async def aget(self, default: Any = MISSING) -> T:
        """`get(default)`, awaited."""
        return await self._twin("get", default)

    async def aset(self, value: T) -> None:
        """`set(value)`, awaited."""
        return await self._twin("set", value)

    async def adelete(self) -> None:
        """`delete()`, awaited."""
        return await self._twin("delete")

    async def ais_set(self) -> bool:
        """The `is_set` property, awaited."""
        return await bridge_of(self._engine).run(lambda: self.is_set)  # type: ignore[attr-defined]

    def aedit(self) -> AbstractAsyncContextManager[T]:
        """`edit()` as an async context manager (one transaction, as `aedit` of mappings)."""
        return self._ahold(self.edit)  # type: ignore[attr-defined]

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin("migrate")
