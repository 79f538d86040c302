"""`Sequence`: a persistent `list` (the positioned storage is `tpstore._positioned`)."""

from __future__ import annotations

import collections.abc
import operator
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Self, TypeVar, overload

from tpstore._collection import PAGE, _shown
from tpstore._positioned import _as_index, _Positioned, _same_items
from tpstore.errors import CorruptValueError

T = TypeVar("T")


class Sequence(_Positioned[T], collections.abc.MutableSequence[T]):
    """A persistent `list`.

    Full `MutableSequence` semantics: negative indexes, slices (reading returns a
    `list`; assignment and deletion, extended slices included, work as for `list`),
    `insert`, `append`, `extend`, `pop`, `remove`, `index`, `count`, `reverse`,
    `sort`, `copy`, `+`, `*`, `+=`, `*=`, and `==` and ordering against a `list` or
    another `Sequence` (never a `tuple`, like `list`). Results are plain `list`s.
    Indexing, `append` and `pop()` at either end are O(log n); `len()` reads a count.
    An insert or delete in the middle moves the rows of the shorter side, in one
    transaction.

    Example:
        ```python
        import tpstore

        class Journal(tpstore.Store):
            log: tpstore.Sequence[str]

        with Journal(None) as journal:
            journal.log.extend(["boot", "login", "logout"])
            journal.log.insert(1, "update")
            assert journal.log[1:3] == ["update", "login"]
            assert journal.log.pop() == "logout"
            del journal.log[::2]
            assert journal.log == ["update"]
        ```
    """

    kind_name = "Sequence"

    # -- indexing --------------------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self._get_slice(index)
        return self._get_at(_as_index(index))

    def __iter__(self) -> Iterator[T]:
        """Iterate live, as over a `list`: changes the loop makes are seen by it.

        Pages are read by position; when the iterating thread changes the sequence,
        the next page is read from the index the iteration has reached, as `list`'s
        iterator goes on by index. Other writers never make the iteration endless: a
        page never goes past the last position of the sequence when the page before
        was read.
        """
        engine, sql = self._engine, self._sql
        watch = self._watch()
        watch.iterators += 1
        try:
            seen = watch.changes
            index = 0  # the index of the next item
            rows = engine.fetchall(sql.from_index, (index, PAGE))
            limit: int | None = None
            while True:
                for _, raw in rows:
                    if engine.closed:  # rows fetched before close() are not handed out after it
                        engine.check_open()
                    try:
                        item = self._value.decode(raw)  # type: ignore[union-attr]
                    except CorruptValueError:
                        self._corrupt_at(raw, index)
                    yield item
                    index += 1
                    if watch.changes != seen:
                        break
                else:
                    if len(rows) < PAGE:
                        return
                    if limit is None:
                        limit = engine.fetchone(sql.bounds)[1]
                        if limit is None:
                            return
                    after = rows[-1][0]
                    rows = engine.fetchall(sql.scan(bounds=(">", "<=")), (after, limit, PAGE))
                    continue
                # The loop changed the sequence: go on from the index reached, like list.
                seen, limit = watch.changes, None
                rows = engine.fetchall(sql.from_index, (index, PAGE))
        finally:
            watch.iterators -= 1

    def _get_slice(self, index: slice) -> list[T]:
        with self._engine.transaction(readonly=True):  # bounds and rows from one snapshot
            low, n = self._bounds()
            indexes = range(*index.indices(n))
            if not indexes:
                return []
            return list(self._values(self._span(low, indexes), low))

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            self._set_slice(index, value)
            return
        self._set_at(_as_index(index), value)

    def _set_slice(self, index: slice, values: Any) -> None:
        if not isinstance(values, Iterable):
            what = (
                "can only assign an iterable"
                if index.step in (None, 1)
                else ("must assign iterable to extended slice")
            )
            raise TypeError(what)
        raws = self._encode_all(values)
        with self._engine.atomic():
            low, n = self._bounds()
            start, stop, step = index.indices(n)
            if step == 1:  # a simple slice may change the length, as for list
                self._splice(low, n, start, max(start, stop), raws)
                return
            indexes = range(start, stop, step)
            if len(raws) != len(indexes):
                raise ValueError(
                    f"attempt to assign sequence of size {len(raws)} "
                    f"to extended slice of size {len(indexes)}"
                )
            self._write_many(
                self._sql.update_at, [(raw, low + i) for raw, i in zip(raws, indexes, strict=True)]
            )

    def __delitem__(self, index: int | slice) -> None:
        if not isinstance(index, slice):
            self._delete_at(_as_index(index))
            return
        with self._engine.atomic():
            low, n = self._bounds()
            self._delete_slice(low, n, index)

    def _delete_slice(self, low: int, n: int, index: slice) -> None:
        start, stop, step = index.indices(n)
        if step == 1:
            self._splice(low, n, start, max(start, stop), [])
            return
        indexes = range(start, stop, step)
        if not indexes:
            return
        if indexes.step < 0:
            indexes = indexes[::-1]
        first, count = low + indexes[0], len(indexes)
        stride = indexes.step if count > 1 else 1  # the step may not fit in 64 bits
        self._write(self._sql.delete_stepped, (first, low + indexes[-1] + 1, first, stride))
        # Close the gaps in two steps, past the last position and back (see SequenceSQL).
        away = n + 1
        top = low + n - 1
        self._write(self._sql.close_gaps, (away, count, first, stride, stride, first))
        self._write(self._sql.move, (1, -away, top + 1, top + away + 1))

    # -- the rest of MutableSequence -----------------------------------------------------

    def pop(self, index: int = -1) -> T:
        """Remove and return the item at `index` (the last by default).

        Raises:
            IndexError: the sequence is empty or `index` is out of range.
        """
        i = _as_index(index)
        if i == -1:
            return self._pop_end(True, "pop from empty list")
        if i == 0:
            return self._pop_end(False, "pop from empty list")
        with self._engine.atomic():
            low, n = self._bounds()
            if n == 0:
                raise IndexError("pop from empty list")
            if not -n <= i < n:
                raise IndexError("pop index out of range")
            i %= n
            row = self._engine.fetchone(self._sql.get_from_first, (i,))
            value = self._decode(low + i, row[0], low)
            self._splice(low, n, i, i + 1, [])
            return value

    def sort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        """Sort the items in place, stably, as `list.sort` does, in one transaction.

        Only the stored values move (no item is decoded and encoded again); if `key` or
        a comparison raises, nothing is written. If they change the sequence, the sort
        raises `ValueError` (as `list.sort` does) and every change is rolled back.
        """
        watch = self._watch()
        with self._engine.atomic():
            low, _ = self._bounds()
            rows = list(self._rows())
            items = list(self._values(rows, low))
            changes = watch.changes
            keys: list[Any] = items if key is None else [key(item) for item in items]
            order = sorted(range(len(rows)), key=keys.__getitem__, reverse=reverse)
            if watch.changes != changes:  # `key` or a comparison changed the sequence
                raise ValueError("list modified during sort")
            self._write_many(
                self._sql.update_at,
                [(rows[j][1], low + i) for i, j in enumerate(order) if i != j],
            )

    def copy(self) -> list[T]:
        """Every item, as a plain `list`."""
        return list(self)

    def __add__(self, other: list[T] | Sequence[T]) -> list[T]:
        if not isinstance(other, list | Sequence):
            return NotImplemented
        return [*self, *other]

    def __radd__(self, other: list[T]) -> list[T]:
        if not isinstance(other, list):
            return NotImplemented
        return [*other, *self]

    def __mul__(self, n: int) -> list[T]:
        try:
            times = operator.index(n)
        except TypeError:
            return NotImplemented
        return list(self) * times

    __rmul__ = __mul__

    def __iadd__(self, values: Iterable[T]) -> Self:
        """`s += values`: an `extend(values)`, in one transaction."""
        self.extend(values)
        return self

    def __imul__(self, n: int) -> Self:
        """`s *= n`: the items `n` times over, in place, in one transaction."""
        self._repeat(n)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | Sequence):
            return NotImplemented
        return other is self or (len(self) == len(other) and _same_items(self, other))

    def __repr__(self) -> str:
        return self._describe(
            lambda rows: ", ".join(_shown(item) for item in self._values(rows)), "[", "]", "[]"
        )

    # -- adding and what list and deque share ----------------------------------------------

    def append(self, value: T) -> None:
        """Add `value` at the end (O(log n))."""
        raw = self._encode(value, self._count)
        self._write(self._sql.append, (raw,))

    def extend(self, values: Iterable[T]) -> None:
        """Append every item of `values`, in one transaction.

        Every item is validated first: one invalid item raises `ValidationError`
        (with `key=None`) and nothing is written.
        """
        raws = self._encode_all(values)
        if not raws:
            self._engine.check_writable()
            return
        with self._engine.atomic():
            self._append_raws(raws)

    def clear(self) -> None:
        """Remove every item, in one statement."""
        self._clear()

    def insert(self, index: int, value: T) -> None:
        """Insert `value` before `index` (clamped like `list.insert`)."""
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

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin(self.migrate)

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for item in sequence`: live, as over a `list`.

        When the iterating task changes the sequence, the iteration goes on from the
        index it reached, as the synchronous one (and `list`'s) does.
        """
        return self._aiter(lambda: iter(self), follow=True)

    def areversed(self) -> AsyncIterator[T]:
        """The items from the last to the first, as an async iterator."""
        return self._aiter(lambda: reversed(self), watched=False)

    @overload
    async def agetitem(self, index: int) -> T: ...
    @overload
    async def agetitem(self, index: slice) -> list[T]: ...

    async def agetitem(self, index: int | slice) -> T | list[T]:
        """`sequence[index]` (an index or a slice), awaited."""
        return await self._twin(self.__getitem__, index)

    @overload
    async def asetitem(self, index: int, value: T) -> None: ...
    @overload
    async def asetitem(self, index: slice, value: Iterable[T]) -> None: ...

    async def asetitem(self, index: int | slice, value: Any) -> None:
        """`sequence[index] = value` (an index or a slice), awaited."""
        return await self._twin(self.__setitem__, index, value)

    async def adelitem(self, index: int | slice) -> None:
        """`del sequence[index]` (an index or a slice), awaited."""
        return await self._twin(self.__delitem__, index)

    async def apop(self, index: int = -1) -> T:
        """`pop(index)`, awaited."""
        return await self._twin(self.pop, index)

    async def asort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        """`sort(key=..., reverse=...)`, awaited: stable, one transaction."""
        return await self._twin(self.sort, key=key, reverse=reverse)

    async def acopy(self) -> list[T]:
        """`copy()`, awaited: a plain `list`."""
        return await self._twin(self.copy)


Sequence._comparable = (list, Sequence)
