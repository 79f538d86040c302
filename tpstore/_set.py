"""The Set family: `Set`, `OrderedSet` and their expiring kinds.

A set is stored like a mapping without values (`_Keyed` with `has_value = False`):
elements are keys, validated strictly, and an element of the wrong type is simply
absent. Operators that build a new set return plain Python `set`s; the in-place
operators and `update` write in one transaction.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Generic, Self, TypeVar

from tpstore._convert import INVALID
from tpstore._keyed import _Expiring, _Keyed, _ReinsertExpired

T = TypeVar("T")
S = TypeVar("S")


class _SetBase(_Keyed[T], collections.abc.MutableSet[T], Generic[T]):
    """What every kind of the Set family shares."""

    type_params = ("K",)
    has_value = False

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
            self._engine.write(self._sql.delete, (raw, *self._live()))

    def remove(self, value: T) -> None:
        """Remove `value`; `KeyError` if it is absent."""
        raw = self._key.lookup(value)  # type: ignore[union-attr]
        if raw is INVALID:
            self._engine.check_writable()
            raise KeyError(value)
        if not self._engine.write(self._sql.delete, (raw, *self._live())):
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
            self._engine.write(self._sql.delete, (row[0], *self._live()))
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

    def __and__(self, other: Iterable[Any]) -> set[T]:
        if not isinstance(other, Iterable):
            return NotImplemented
        return set(self._found(other).values())

    __rand__ = __and__

    def __rsub__(self, other: Iterable[Any]) -> set[Any]:
        if not isinstance(other, Iterable):
            return NotImplemented
        others = set(other)
        return others.difference(self._found(others).values())

    def __xor__(self, other: Iterable[Any]) -> set[Any]:
        if not isinstance(other, Iterable):
            return NotImplemented
        return set(self) ^ set(other)

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

    # -- in-place operators: one transaction each -----------------------------------------

    def __ior__(self, it: Iterable[T]) -> Self:  # type: ignore[override, misc]
        self.update(it)
        return self

    def __iand__(self, it: Iterable[Any]) -> Self:
        if it is self:
            return self
        keep = it if isinstance(it, collections.abc.Set) else set(it)
        decode = self._key.decode  # type: ignore[union-attr]
        at = self._key_at
        with self._engine.atomic():
            doomed = [row[at] for row in self._scan(keys_only=True) if decode(row[at]) not in keep]
            self._delete_raws(doomed)
        return self

    def __isub__(self, it: Iterable[Any]) -> Self:
        if it is self:
            self.clear()
            return self
        with self._engine.atomic():
            self._delete_raws(list(self._lookup_many(it)))
        return self

    def __ixor__(self, it: Iterable[Any]) -> Self:
        if it is self:
            self.clear()
            return self
        others = it if isinstance(it, collections.abc.Set) else set(it)
        with self._engine.atomic():
            found = self._found(others)
            present = set(found.values())
            lifespan = self._spec.lifespan
            rows = [
                self._row_params(value, None, lifespan) for value in others if value not in present
            ]
            self._delete_raws(list(found))
            self._write_rows(rows)
        return self


class Set(_SetBase[T]):
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


class OrderedSet(_SetBase[T]):
    """A persistent `set` that remembers insertion order.

    Re-adding an element keeps its place; removing and re-adding moves it to the end.
    `pop()` removes the oldest element.
    """

    kind_name = "OrderedSet"
    layout = "inserted"


class _ExpiringSet(_Expiring):
    """Expiring elements for the Set family."""

    def add(self, value: Any, *, lifespan: timedelta | float | None = None) -> None:
        """Add `value` (or restart its lifespan), living `lifespan` (default: the field's)."""
        self._put(value, None, self._lifespan_of(lifespan))  # type: ignore[attr-defined]


class ExpiringSet(_ExpiringSet, Set[T]):
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


class ExpiringOrderedSet(_ReinsertExpired, _ExpiringSet, OrderedSet[T]):
    """An `OrderedSet` (insertion order) whose elements expire.

    Re-adding an expired element places it at the end.
    """

    kind_name = "ExpiringOrderedSet"
