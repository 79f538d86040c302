"""`Deque`: a persistent `collections.deque`, usable as a work queue between processes."""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import math
import operator
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Self, TypeVar

from tpstore._collection import _shown, wait_seconds
from tpstore._positioned import _as_index, _Positioned, _same_items

T = TypeVar("T")

_EMPTY_POP = "pop from an empty deque"
_EMPTY_PEEK = "peek from an empty deque"


class Deque(_Positioned[T], collections.abc.MutableSequence[T]):
    """A persistent `collections.deque`: O(log n) appends, pops and indexing at both ends.

    `append`, `appendleft`, `pop`, `popleft`, `extend`, `extendleft`, `peek`,
    `peekleft`, `rotate`, `clear`, `len`, `iter`, `reversed`, `maxlen`, indexing
    (`d[i]`, `d[i] = v`, `del d[i]`), `index`, `count`, `remove`, `insert`, `reverse`,
    `copy`, `+`, `*` and comparisons behave as for `collections.deque` (a
    `MutableSequence` too); empty pops and peeks raise `IndexError`. With
    `field(maxlen=n)`, appending past `n` items drops items from the other end in the
    same transaction.

    It is a work queue between threads and processes: `pop` and `popleft` remove and
    return one item in one transaction, so every item appended is popped exactly
    once, by exactly one consumer. A stored item that no longer decodes raises
    `CorruptValueError` and stays in place.

    Example:
        ```python
        import tpstore

        class Jobs(tpstore.Store):
            queue: tpstore.Deque[dict[str, int]]
            recent: tpstore.Deque[str] = tpstore.field(maxlen=2)

        with Jobs(None) as jobs:
            jobs.queue.append({"id": 1})
            jobs.queue.append({"id": 2})
            assert jobs.queue.popleft() == {"id": 1}
            jobs.recent.extend(["a", "b", "c"])
            assert list(jobs.recent) == ["b", "c"]
        ```
    """

    kind_name = "Deque"
    options = frozenset({"maxlen"})
    _builtin = "deque"
    _index_error = _assign_error = "deque index out of range"
    _assignment_changes = False  # as for deque, whose iterators ignore item assignment
    _changed_during_iteration = "deque mutated during iteration"

    @property
    def maxlen(self) -> int | None:
        """The maximum length (`field(maxlen=...)`), or `None` when unbounded."""
        return self._spec.maxlen

    def _maxlen(self) -> int | None:
        return self._spec.maxlen

    # -- indexing: integers only, as for deque ------------------------------------------------

    def __getitem__(self, index: int) -> T:  # type: ignore[override]
        return self._get_at(_deque_index(index))

    def __setitem__(self, index: int, value: T) -> None:  # type: ignore[override]
        self._set_at(_deque_index(index), value)

    def __delitem__(self, index: int) -> None:  # type: ignore[override]
        self._delete_at(_deque_index(index))

    # -- adding -----------------------------------------------------------------------------

    def append(self, value: T) -> None:
        """Add `value` on the right; past `maxlen`, drop from the left (atomically)."""
        raw = self._encode(value, self._count)
        maxlen = self._spec.maxlen
        if maxlen is None:
            self._write(self._sql.append, (raw,))
            return
        with self._engine.atomic():
            self._write(self._sql.append, (raw,))
            self._write(self._sql.trim_first, (maxlen,))

    def appendleft(self, value: T) -> None:
        """Add `value` on the left; past `maxlen`, drop from the right (atomically)."""
        raw = self._encode(value, lambda: 0)
        maxlen = self._spec.maxlen
        if maxlen is None:
            self._write(self._sql.appendleft, (raw,))
            return
        with self._engine.atomic():
            self._write(self._sql.appendleft, (raw,))
            self._write(self._sql.trim_last, (maxlen,))

    def __iadd__(self, values: Iterable[T]) -> Self:
        """`deque += values`: the same as `extend(values)`, as for `collections.deque`."""
        self.extend(values)
        return self

    def extend(self, values: Iterable[T]) -> None:
        """Append every item of `values` on the right, in one transaction.

        Every item is validated first (`ValidationError` with `key=None`, nothing
        written). Past `maxlen`, items are dropped from the left.
        """
        raws = self._encode_all(values)
        if not raws:
            self._engine.check_writable()
            return
        maxlen = self._spec.maxlen
        with self._engine.atomic():
            if maxlen is None:
                self._append_raws(raws)
                return
            # Only the last `maxlen` items can survive; the others are never written.
            self._append_raws(raws[max(0, len(raws) - maxlen) :])
            self._write(self._sql.trim_first, (maxlen,))

    def extendleft(self, values: Iterable[T]) -> None:
        """Append every item of `values` on the left, one after the other (so their
        order is reversed), in one transaction; past `maxlen`, drop from the right."""
        raws = self._encode_all(values)
        if not raws:
            self._engine.check_writable()
            return
        maxlen = self._spec.maxlen
        if maxlen is not None:
            raws = raws[max(0, len(raws) - maxlen) :]
        with self._engine.atomic():
            self._prepend_raws(raws)
            if maxlen is not None:
                self._write(self._sql.trim_last, (maxlen,))

    # -- removing and looking ---------------------------------------------------------------

    def pop(self, *, timeout: float | None = None) -> T:  # type: ignore[override]
        """Remove and return the rightmost item; `IndexError` when empty.

        With a `timeout`, an empty deque is waited on (see `popleft`).
        """
        return self._pop_waiting(True, timeout)

    def popleft(self, *, timeout: float | None = None) -> T:
        """Remove and return the leftmost item; `IndexError` when empty.

        Atomic across processes: concurrent consumers never receive the same item.

        Args:
            timeout: `None` (the default) never waits, as for `collections.deque`. A
                number of seconds (`math.inf`: forever) waits for an item when the
                deque is empty, then raises `IndexError`. The waiting consumer holds
                no lock, and wakes within a few milliseconds of another process's or
                thread's append. Inside a `transaction()` it does not wait: the
                transaction holds the write lock, so no one else could append.
        """
        return self._pop_waiting(False, timeout)

    def _pop_waiting(self, last: bool, timeout: float | None) -> T:
        if timeout is None:
            return self._pop_end(last, _EMPTY_POP)
        deadline = time.monotonic() + wait_seconds(timeout)
        engine = self._engine
        if engine.in_transaction:
            deadline = -math.inf
        for _ in engine.changes(self._spec.database, deadline):
            with contextlib.suppress(IndexError):
                return self._pop_end(last, _EMPTY_POP)
        raise IndexError(_EMPTY_POP)

    def peek(self) -> T:
        """The rightmost item, left in place; `IndexError` when empty."""
        return self._peek_end(True, _EMPTY_PEEK)

    def peekleft(self) -> T:
        """The leftmost item, left in place; `IndexError` when empty."""
        return self._peek_end(False, _EMPTY_PEEK)

    def rotate(self, n: int = 1) -> None:
        """Rotate `n` steps to the right (to the left if `n` is negative), atomically.

        Only the rows of the shorter side move, each by the length, onto free
        positions past the other end: O(min(k, len - k)) for `k = n % len`.
        """
        steps = operator.index(n)
        with self._engine.atomic():
            low, size = self._bounds()
            if size < 2 or steps % size == 0:
                return
            right = steps % size
            top = low + size - 1
            # One step suffices: the targets lie outside [low, top], so no two rows
            # ever share a position (compare SequenceSQL's two-step moves).
            if right <= size - right:  # the last `right` items go to the front
                self._write(self._sql.move, (1, -size, top - right + 1, top + 1))
            else:  # the first `size - right` items go to the back
                self._write(self._sql.move, (1, size, low, low + size - right))

    # -- copies: collections.deque objects with the same maxlen -------------------------------

    def copy(self) -> collections.deque[T]:
        """Every item, as a `collections.deque` with the same `maxlen`."""
        return collections.deque(self, self._spec.maxlen)

    def __add__(self, other: Deque[T] | collections.deque[T]) -> collections.deque[T]:
        if not isinstance(other, Deque | collections.deque):
            return NotImplemented
        joined = self.copy()
        joined.extend(other)
        return joined

    def __radd__(self, other: collections.deque[T]) -> collections.deque[T]:
        if not isinstance(other, collections.deque):
            return NotImplemented
        joined = other.copy()
        joined.extend(self)
        return joined

    def __mul__(self, n: int) -> collections.deque[T]:
        try:
            times = operator.index(n)
        except TypeError:
            return NotImplemented
        return self.copy() * times

    __rmul__ = __mul__

    def __imul__(self, n: int) -> Self:
        """`d *= n`: the items `n` times over, in place (`maxlen` applied), atomically."""
        self._repeat(n)
        return self

    # -- comparing --------------------------------------------------------------------------

    def __contains__(self, value: object) -> bool:
        return any(item is value or item == value for item in self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Deque | collections.deque):
            return NotImplemented
        return other is self or (len(self) == len(other) and _same_items(self, other))

    def __repr__(self) -> str:
        maxlen = self._spec.maxlen
        return self._describe(
            lambda rows: ", ".join(_shown(item) for item in self._values(rows)),
            "[",
            "]" if maxlen is None else f"], maxlen={maxlen}",
            "[]" if maxlen is None else f"[], maxlen={maxlen}",
        )

    # -- what list and deque share ------------------------------------------------------------

    def clear(self) -> None:
        """Remove every item, in one statement."""
        self._clear()

    def insert(self, index: int, value: T) -> None:
        """Insert `value` before `index` (clamped as `deque.insert` does).

        Raises:
            IndexError: the deque is bounded and already holds `maxlen` items.
        """
        self._insert(index, value)

    def remove(self, value: T) -> None:
        """Remove the first item equal to `value`; `ValueError` if there is none."""
        self._remove(value)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The index of the first item equal to `value` within `start:stop`.

        Raises:
            ValueError: no such item.
        """
        return self._index(value, start, stop)

    def count(self, value: Any) -> int:
        """How many items equal `value`."""
        return self._count_equal(value)

    def reverse(self) -> None:
        """Reverse the items in place, in one transaction (positions only; no value moves)."""
        self._reverse()

    @property
    def name(self) -> str:
        """The collection's field name in its store."""
        return self._spec.name

    def migrate(self) -> int:
        """Rewrite every stored item that needs the `field(migrate=...)` hook.

        In batches inside one transaction; items that validate are left as they are.

        Returns:
            How many items were rewritten.

        Raises:
            CorruptValueError: an item the hook cannot upgrade, naming the collection
                and its index; the hook's error is the `__cause__`, and nothing is written.
        """
        return self._migrate()

    # -- asyncio (DESIGN §11) ------------------------------------------------------------

    async def alen(self) -> int:
        """`len(collection)`, awaited."""
        return await self._twin(self.__len__)

    async def aappend(self, value: T) -> None:
        """`append(value)`, awaited."""
        return await self._awrite(self.append, value)

    async def aextend(self, values: Iterable[T]) -> None:
        """`extend(values)`, awaited: one transaction."""
        return await self._twin(self.extend, values)

    async def aclear(self) -> None:
        """`clear()`, awaited."""
        return await self._twin(self.clear)

    async def acontains(self, value: object) -> bool:
        """`value in collection`, awaited."""
        return await self._twin(self.__contains__, value)

    async def ainsert(self, index: int, value: T) -> None:
        """`insert(index, value)`, awaited."""
        return await self._twin(self.insert, index, value)

    async def aindex(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """`index(value, start, stop)`, awaited."""
        return await self._twin(self.index, value, start, stop)

    async def acount(self, value: Any) -> int:
        """`count(value)`, awaited."""
        return await self._twin(self.count, value)

    async def aremove(self, value: T) -> None:
        """`remove(value)`, awaited."""
        return await self._twin(self.remove, value)

    async def areverse(self) -> None:
        """`reverse()`, awaited: one transaction."""
        return await self._twin(self.reverse)

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for item in collection`: the items in order."""
        return self._aiter(lambda: iter(self))

    def areversed(self) -> AsyncIterator[T]:
        """The items from the last to the first, as an async iterator."""
        return self._aiter(lambda: reversed(self))

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin(self.migrate)

    async def agetitem(self, index: int) -> T:
        """`deque[index]`, awaited (an index, as for `collections.deque`)."""
        return await self._twin(self.__getitem__, index)

    async def asetitem(self, index: int, value: T) -> None:
        """`deque[index] = value`, awaited."""
        return await self._twin(self.__setitem__, index, value)

    async def adelitem(self, index: int) -> None:
        """`del deque[index]`, awaited."""
        return await self._twin(self.__delitem__, index)

    async def acopy(self) -> collections.deque[T]:
        """`copy()`, awaited: a `collections.deque` with the same `maxlen`."""
        return await self._twin(self.copy)

    async def aappendleft(self, value: T) -> None:
        """`appendleft(value)`, awaited."""
        return await self._awrite(self.appendleft, value)

    async def aextendleft(self, values: Iterable[T]) -> None:
        """`extendleft(values)`, awaited: one transaction."""
        return await self._twin(self.extendleft, values)

    async def apop(self, *, timeout: float | None = None) -> T:
        """`pop(timeout=...)`, awaited: removes and returns the last item."""
        return await self._apop_waiting(self.pop, timeout)

    async def apopleft(self, *, timeout: float | None = None) -> T:
        """`popleft(timeout=...)`, awaited: removes and returns the first item.

        With a `timeout`, an empty deque is waited on without holding a worker thread:
        between tries the task sleeps on the loop, looking at the deque's length (a
        cheap read) after pauses growing from 1 ms to 10 ms.
        """
        return await self._apop_waiting(self.popleft, timeout)

    async def apeek(self) -> T:
        """`peek()`, awaited."""
        return await self._twin(self.peek)

    async def apeekleft(self) -> T:
        """`peekleft()`, awaited."""
        return await self._twin(self.peekleft)

    async def arotate(self, n: int = 1) -> None:
        """`rotate(n)`, awaited: one transaction."""
        return await self._twin(self.rotate, n)


Deque._comparable = (collections.deque, Deque)


def _deque_index(index: Any) -> int:
    """`index` as an int, refused as `collections.deque` refuses it."""
    if isinstance(index, slice) or not hasattr(index, "__index__"):
        raise TypeError(f"sequence index must be integer, not {type(index).__name__!r}")
    return _as_index(index)
