"""The Set family: `Set`, `OrderedSet` and their expiring kinds.

A set is stored like a mapping without values (`_Keyed` with `has_value = False`):
elements are keys, validated strictly, and an element of the wrong type is simply
absent. Operators that build a new set return plain Python `set`s; the in-place
operators and `update` write in one transaction.

`Set` carries every method of the family; the other kinds inherit from it, so type
checkers name a public class in their messages.
"""

from __future__ import annotations

import collections.abc
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any, Generic, Self, TypeVar

from tpstore._collection import _shown
from tpstore._keyed import _Expiring, _Keyed, _ReinsertExpired
from tpstore._validation import INVALID

T = TypeVar("T")
S = TypeVar("S")


class Set(_Keyed[T], collections.abc.MutableSet[T], Generic[T]):
    """A persistent `set` whose iteration is in ascending order.

    Elements are keys: they need an order-preserving codec (native int/float/str/
    bytes, tuples, dates, UUIDs), are validated in strict mode, and one of the wrong
    type is simply absent (`"5" in s` is `False` for a `Set[int]`). `pop()` removes
    the smallest element; `| & - ^` return plain Python `set`s.

    Example:
        ```python
        import tpstore

        class Tags(tpstore.Store):
            tags: tpstore.Set[str]

        with Tags(None) as store:
            store.tags.update(["b", "a"], ["c"])
            assert list(store.tags) == ["a", "b", "c"]
            assert store.tags & {"a", "z"} == {"a"}
            assert store.tags.pop() == "a"
        ```
    """

    kind_name = "Set"
    layout = "keyed"
    key_ordered = True

    type_params = ("K",)
    has_value = False
    _changed_during_iteration = "Set changed size during iteration"

    # -- the MutableSet protocol --------------------------------------------------------

    def add(self, value: T) -> None:
        """Add `value` (validated; `ValidationError` if it is not a valid element)."""
        self._put(value, None, self._spec.lifespan)

    def discard(self, value: T) -> None:
        """Remove `value` if present."""
        raw = self._key.lookup(value)  # type: ignore[union-attr]
        if raw is INVALID:
            self._engine.check_writable()
        else:
            self._write(self._sql.delete, (raw, *self._live()))

    def remove(self, value: T) -> None:
        """Remove `value`; `KeyError` if it is absent."""
        raw = self._key.lookup(value)  # type: ignore[union-attr]
        if raw is INVALID:
            self._engine.check_writable()
            raise KeyError(value)
        if not self._write(self._sql.delete, (raw, *self._live())):
            raise KeyError(value)

    def pop(self) -> T:
        """Remove and return the first element in the set's order; `KeyError` if empty.

        The smallest element for key-ordered kinds, the oldest for insertion-ordered
        ones. Atomic: two processes popping at once never get the same element.
        """
        with self._engine.atomic():
            row = self._engine.fetchone(self._sql.first, self._live())
            if row is None:
                raise KeyError("pop from an empty set")
            value: T = self._key.decode(row[0])  # type: ignore[union-attr]
            self._write(self._sql.delete, (row[0], *self._live()))
            return value

    def update(self, *iterables: Iterable[T]) -> None:
        """Add every element of every iterable, in one transaction.

        Every element is validated before anything is written: one invalid element
        raises `ValidationError` and leaves the set unchanged.
        """
        lifespan = self._spec.lifespan
        rows = [
            self._row_params(value, None, lifespan) for iterable in iterables for value in iterable
        ]
        if not rows:
            self._engine.check_writable()
            return
        with self._engine.atomic():
            self._write_rows(rows)

    # -- building plain sets --------------------------------------------------------------

    @classmethod
    def _from_iterable(cls, it: Iterable[S]) -> set[S]:
        # Used by the operators of `collections.abc.Set`: their results are plain sets.
        return set(it)

    def _found(self, values: Iterable[Any]) -> dict[Any, Any]:
        """`{encoded: value}` of the given values that are elements, a few hundred per query."""
        wanted = self._lookup_many(values)
        return {row[0]: wanted[row[0]] for row in self._fetch_many(list(wanted))}

    def copy(self) -> set[T]:
        """Every element, as a plain `set`."""
        return set(self)

    def __repr__(self) -> str:
        return self._describe(
            lambda rows: ", ".join(_shown(element) for element in self._keys_of(rows)),
            "{",
            "}",
            "set()",
        )

    # -- operators: like `set`'s, they take only sets -------------------------------------

    def __or__(self, other: collections.abc.Set[S]) -> set[T | S]:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        return self.union(other)

    __ror__ = __or__

    def __and__(self, other: collections.abc.Set[Any]) -> set[T]:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        return set(self._found(other).values())

    __rand__ = __and__

    def __sub__(self, other: collections.abc.Set[Any]) -> set[T]:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        return self.difference(other)

    def __rsub__(self, other: collections.abc.Set[S]) -> set[S]:  # type: ignore[misc]
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        others = set(other)
        return others.difference(self._found(others).values())

    def __xor__(self, other: collections.abc.Set[S]) -> set[T | S]:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        return self.symmetric_difference(other)

    __rxor__ = __xor__

    def isdisjoint(self, other: Iterable[Any]) -> bool:
        """Whether the set has no element in common with `other`."""
        return not self._found(other)

    def __ge__(self, other: collections.abc.Set[Any]) -> bool:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        if len(self) < len(other):
            return False
        wanted = self._lookup_many(other)
        if len(wanted) < len(other):  # an element of the wrong type is never present
            return False
        return len(self._fetch_many(list(wanted))) == len(wanted)

    def __gt__(self, other: collections.abc.Set[Any]) -> bool:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        return len(self) > len(other) and self.__ge__(other)

    # -- the named methods of `set`: any iterables, plain sets back -----------------------

    def union(self, *others: Iterable[S]) -> set[T | S]:
        """The elements of the set and of every iterable, as a plain `set`."""
        result: set[Any] = set(self)
        result.update(*others)
        return result

    def intersection(self, *others: Iterable[Any]) -> set[T]:
        """The elements also in every iterable, as a plain `set`."""
        if not others:
            return set(self)
        result = set(self._found(others[0]).values())
        result.intersection_update(*others[1:])
        return result

    def difference(self, *others: Iterable[Any]) -> set[T]:
        """The elements in none of the iterables, as a plain `set`."""
        result = set(self)
        result.difference_update(*others)
        return result

    def symmetric_difference(self, other: Iterable[S]) -> set[T | S]:
        """The elements in exactly one of the set and `other`, as a plain `set`."""
        result: set[Any] = set(self)
        result.symmetric_difference_update(other)
        return result

    def issubset(self, other: Iterable[Any]) -> bool:
        """Whether every element is in `other` (any iterable)."""
        return self <= _as_set(other)

    def issuperset(self, other: Iterable[Any]) -> bool:
        """Whether every element of `other` (any iterable) is in the set."""
        return self >= _as_set(other)

    # -- changing in place: one transaction each ------------------------------------------

    def intersection_update(self, *others: Iterable[Any]) -> None:
        """Keep only the elements found in every iterable, in one transaction."""
        keeps = [_as_set(other) for other in others if other is not self]
        if not keeps:
            self._engine.check_writable()
            return
        decode = self._key.decode  # type: ignore[union-attr]
        at = self._key_at
        with self._engine.atomic():
            doomed = [
                row[at]
                for row in self._scan(keys_only=True)
                if not all(decode(row[at]) in keep for keep in keeps)
            ]
            self._delete_raws(doomed)

    def difference_update(self, *others: Iterable[Any]) -> None:
        """Remove every element found in any of the iterables, in one transaction."""
        if any(other is self for other in others):
            self.clear()
            return
        raws = [raw for other in others for raw in self._lookup_many(other)]
        with self._engine.atomic():
            self._delete_raws(raws)

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        """Remove the elements found in `other` and add the others, in one transaction.

        The elements to add are validated first: an invalid one raises
        `ValidationError` and leaves the set unchanged.
        """
        if other is self:
            self.clear()
            return
        others = _as_set(other)
        with self._engine.atomic():
            found = self._found(others)
            present = set(found.values())
            lifespan = self._spec.lifespan
            rows = [
                self._row_params(value, None, lifespan) for value in others if value not in present
            ]
            self._delete_raws(list(found))
            self._write_rows(rows)

    def __ior__(self, other: collections.abc.Set[T]) -> Self:  # type: ignore[override, misc]
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        self.update(other)
        return self

    def __iand__(self, other: collections.abc.Set[Any]) -> Self:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        self.intersection_update(other)
        return self

    def __isub__(self, other: collections.abc.Set[Any]) -> Self:
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        self.difference_update(other)
        return self

    def __ixor__(self, other: collections.abc.Set[Any]) -> Self:  # type: ignore[misc]
        if not isinstance(other, collections.abc.Set):
            return NotImplemented
        self.symmetric_difference_update(other)
        return self

    def clear(self) -> None:
        """Remove every element, in one statement."""
        self._clear()

    @property
    def name(self) -> str:
        """The collection's field name in its store."""
        return self._spec.name

    def migrate(self) -> int:
        """Nothing to upgrade: elements are keys, and keys have no upgrade hook; 0."""
        return self._migrate()

    # -- asyncio (DESIGN §11) ------------------------------------------------------------

    async def acontains(self, key: object) -> bool:
        """`key in collection`, awaited."""
        return await self._aread(self._contains_each, self.__contains__, key)

    async def alen(self) -> int:
        """`len(collection)`, awaited."""
        return await self._twin(self.__len__)

    async def aclear(self) -> None:
        """`clear()`, awaited."""
        return await self._twin(self.clear)

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for key in collection`: the keys (elements) in the collection's order."""
        return self._aiter(lambda: iter(self))

    def areversed(self) -> AsyncIterator[T]:
        """The keys (elements) in reverse order, as an async iterator."""
        return self._aiter(lambda: reversed(self))

    async def aadd(self, value: T) -> None:
        """`add(value)`, awaited."""
        return await self._twin(self.add, value)

    async def adiscard(self, value: T) -> None:
        """`discard(value)`, awaited."""
        return await self._twin(self.discard, value)

    async def aremove(self, value: T) -> None:
        """`remove(value)`, awaited; `KeyError` if absent."""
        return await self._twin(self.remove, value)

    async def apop(self) -> T:
        """`pop()`, awaited: the first element in the set's order."""
        return await self._twin(self.pop)

    async def aupdate(self, *iterables: Iterable[T]) -> None:
        """`update(*iterables)`, awaited: one transaction."""
        return await self._twin(self.update, *iterables)

    async def aisdisjoint(self, other: Iterable[Any]) -> bool:
        """`isdisjoint(other)`, awaited."""
        return await self._twin(self.isdisjoint, other)

    async def acopy(self) -> set[T]:
        """`copy()`, awaited: a plain `set`."""
        return await self._twin(self.copy)

    async def aunion(self, *others: Iterable[S]) -> set[T | S]:
        """`union(*others)`, awaited: a plain `set`."""
        return await self._twin(self.union, *others)

    async def aintersection(self, *others: Iterable[Any]) -> set[T]:
        """`intersection(*others)`, awaited: a plain `set`."""
        return await self._twin(self.intersection, *others)

    async def adifference(self, *others: Iterable[Any]) -> set[T]:
        """`difference(*others)`, awaited: a plain `set`."""
        return await self._twin(self.difference, *others)

    async def asymmetric_difference(self, other: Iterable[S]) -> set[T | S]:
        """`symmetric_difference(other)`, awaited: a plain `set`."""
        return await self._twin(self.symmetric_difference, other)

    async def aissubset(self, other: Iterable[Any]) -> bool:
        """`issubset(other)`, awaited."""
        return await self._twin(self.issubset, other)

    async def aissuperset(self, other: Iterable[Any]) -> bool:
        """`issuperset(other)`, awaited."""
        return await self._twin(self.issuperset, other)

    async def aintersection_update(self, *others: Iterable[Any]) -> None:
        """`intersection_update(*others)`, awaited: one transaction."""
        return await self._twin(self.intersection_update, *others)

    async def adifference_update(self, *others: Iterable[Any]) -> None:
        """`difference_update(*others)`, awaited: one transaction."""
        return await self._twin(self.difference_update, *others)

    async def asymmetric_difference_update(self, other: Iterable[Any]) -> None:
        """`symmetric_difference_update(other)`, awaited: one transaction."""
        return await self._twin(self.symmetric_difference_update, other)

    async def amigrate(self) -> int:
        """`migrate()`, awaited: 0, as for every set."""
        return await self._twin(self.migrate)


def _as_set(values: Iterable[Any]) -> collections.abc.Set[Any]:
    """`values` as a set to test membership in (a builtin one unless it is one already)."""
    return values if isinstance(values, set | frozenset) else set(values)


class OrderedSet(Set[T]):
    """A persistent `set` that remembers insertion order.

    Re-adding an element keeps its place; removing and re-adding moves it to the end.
    `pop()` removes the oldest element.
    """

    kind_name = "OrderedSet"
    layout = "inserted"
    key_ordered = False


class ExpiringSet(_Expiring, Set[T]):
    """A `Set` (ascending order) whose elements expire `lifespan` after their last add.

    Expired elements are absent for every operation, purged or not; `touch`,
    `expires_at` and `purge` work as for `ExpiringMapping`.

    Example:
        ```python
        import tpstore

        class Seen(tpstore.Store):
            ips: tpstore.ExpiringSet[str] = tpstore.field(lifespan=3600)

        with Seen(None) as store:
            store.ips.add("10.0.0.1")
            store.ips.add("10.0.0.2", lifespan=60)
            assert "10.0.0.1" in store.ips
        ```
    """

    kind_name = "ExpiringSet"

    def add(self, value: T, *, lifespan: timedelta | float | None = None) -> None:
        """Add `value` (or restart its lifespan), living `lifespan` (default: the field's).

        `lifespan=math.inf`: the element never expires (`expires_at` returns `None`).
        """
        self._put(value, None, self._lifespan_of(lifespan))

    def touch(self, value: T, lifespan: timedelta | float | None = None) -> None:
        """Restart the lifespan of `value` (the field's, or `lifespan` if given).

        Raises:
            KeyError: `value` is absent or expired.
        """
        self._touch(value, lifespan)

    def expires_at(self, value: T) -> float | None:
        """When `value` expires (POSIX seconds), or `None` if it never does.

        Raises:
            KeyError: `value` is absent or expired.
        """
        return self._expires_at(value)

    def purge(self) -> int:
        """Delete the expired elements now and return how many there were."""
        return self._purge()

    async def aadd(self, value: T, *, lifespan: timedelta | float | None = None) -> None:
        """`add(value, lifespan=...)`, awaited."""
        return await self._twin(self.add, value, lifespan=lifespan)

    async def atouch(self, value: T, lifespan: timedelta | float | None = None) -> None:
        """`touch(value, lifespan)`, awaited."""
        return await self._twin(self.touch, value, lifespan)

    async def aexpires_at(self, value: T) -> float | None:
        """`expires_at(value)`, awaited."""
        return await self._twin(self.expires_at, value)

    async def apurge(self) -> int:
        """`purge()`, awaited: the number of expired elements dropped."""
        return await self._twin(self.purge)


class ExpiringOrderedSet(_ReinsertExpired, ExpiringSet[T], OrderedSet[T]):
    """An `OrderedSet` (insertion order) whose elements expire.

    Re-adding an expired element places it at the end.
    """

    kind_name = "ExpiringOrderedSet"
