"""The Mapping family: `Mapping`, `OrderedMapping` and their expiring kinds.

`Mapping` carries every method of the family (the key side of the storage lives in
`_Keyed`); the other kinds inherit from it, so type checkers name a public class in
their messages. `OrderedMapping` takes `range()` away again: key ranges need key order.
"""

from __future__ import annotations

import collections.abc
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Never, Self, TypeVar, overload

from tpstore._bridge import Outcomes, outcome
from tpstore._collection import _shown
from tpstore._fields import MISSING
from tpstore._keyed import _Expiring, _Keyed, _ReinsertExpired
from tpstore._validation import INVALID
from tpstore.codecs._types import strip_annotated
from tpstore.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tpstore._engine import Engine
    from tpstore._schema import CollectionSpec

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class _Absent:
    """A method a subclass inherits but must not have: instances raise `AttributeError`.

    `OrderedMapping` takes `Mapping.range` away with it (`hasattr()` is false on its
    instances). Read on the class it is this marker, so that tools walking a class's
    attributes (documentation, `inspect`) see something rather than an error.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, instance: object, owner: type | None = None) -> Self:
        if instance is None:
            return self
        raise AttributeError(f"{type(instance).__name__!r} object has no attribute {self._name!r}")


class Mapping(_Keyed[K], collections.abc.MutableMapping[K, V], Generic[K, V]):
    """A persistent `dict` whose iteration is in ascending key order.

    Keys need an order-preserving codec (native int/float/str/bytes, tuples, dates,
    UUIDs). Besides the `MutableMapping` API it offers `get_many`, `peekitem`,
    `range`, `increment` and `edit`.

    Example:
        ```python
        import tpstore

        class Counters(tpstore.Store):
            hits: tpstore.Mapping[str, int]

        with Counters(None) as store:
            store.hits.increment("home")
            store.hits["about"] = 3
            assert list(store.hits) == ["about", "home"]
        ```
    """

    kind_name = "Mapping"
    layout = "keyed"
    key_ordered = True
    type_params = ("K", "V")

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        super().__init__(engine, spec, table, clock)
        self._numeric = _numeric_type(spec)

    # -- helpers ------------------------------------------------------------------------

    def _items_of(self, rows: Iterable[Any]) -> Iterator[tuple[K, V]]:
        decode_key = self._key.decode  # type: ignore[union-attr]
        decode_value = self._value.decode  # type: ignore[union-attr]
        plain_key = self._key.plain  # type: ignore[union-attr]
        plain_value = self._value.plain  # type: ignore[union-attr]
        at = self._key_at
        for row in rows:
            # What `decode` does first, without a call per item (iteration's hot path).
            key = row[at]
            if type(key) is not plain_key:
                key = decode_key(key)
            value: Any = row[at + 1]
            if type(value) is not plain_value:
                value = decode_value(value, key)
            yield key, value

    # -- the MutableMapping protocol -----------------------------------------------------

    def __getitem__(self, key: K) -> V:
        return self._item_of(self._row_of(self._sql.get, key), key)  # type: ignore[no-any-return]

    def _item_of(self, row: tuple[Any, ...] | None, key: Any) -> Any:
        """`mapping[key]` from the row read for `key` (`_row_of`, `_rows_of`)."""
        if row is None:
            raise KeyError(key)
        return self._value.decode(row[0], key)  # type: ignore[union-attr]

    def _getitem_each(self, requests: list[tuple[Any, ...]]) -> Outcomes:
        """`mapping[key]` for each `(key,)`, read in one query (`Bridge.read`)."""
        rows = self._rows_of([key for (key,) in requests])
        return [
            outcome(self._item_of, row, key) for row, (key,) in zip(rows, requests, strict=True)
        ]

    def __setitem__(self, key: K, value: V) -> None:
        self._put(key, value, self._spec.lifespan)

    def __delitem__(self, key: K) -> None:
        raw = self._key.lookup(key)  # type: ignore[union-attr]
        if raw is INVALID:
            self._engine.check_writable()
            raise KeyError(key)
        if not self._write(self._sql.delete, (raw, *self._live())):
            raise KeyError(key)

    def keys(self) -> KeysView[K]:
        """A live view of the keys (supports `len`, `in`, iteration and `reversed()`)."""
        return KeysView(self)

    def values(self) -> ValuesView[V]:
        """A live view of the values (supports `len`, `in`, iteration and `reversed()`)."""
        return ValuesView(self)

    def items(self) -> ItemsView[K, V]:
        """A live view of `(key, value)` pairs (`len`, `in`, iteration, `reversed()`)."""
        return ItemsView(self)

    def _iter_items(self, descending: bool = False) -> Iterator[tuple[K, V]]:
        return self._items_of(self._scan(keys_only=False, descending=descending, iterating=True))

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, /, default: V | T) -> V | T: ...

    def get(self, key: K, /, default: Any = None) -> Any:
        """The value for `key`, or `default` when it is absent."""
        return self._value_of(self._row_of(self._sql.get, key), key, default)

    def _value_of(self, row: tuple[Any, ...] | None, key: Any, default: Any) -> Any:
        """`get(key, default)` from the row read for `key` (`_row_of`, `_rows_of`)."""
        if row is None:
            return default
        return self._value.decode(row[0], key)  # type: ignore[union-attr]

    def _get_each(self, requests: list[tuple[Any, ...]]) -> Outcomes:
        """`get(key, default)` for each `(key, default)`, read in one query.

        The `aget`s that many tasks queue together run as one of these (`Bridge.read`).
        """
        rows = self._rows_of([key for key, _ in requests])
        return [
            outcome(self._value_of, row, key, default)
            for row, (key, default) in zip(rows, requests, strict=True)
        ]

    def pop(self, key: K, /, default: Any = MISSING) -> Any:
        """Remove `key` and return its value, or `default`; `KeyError` if absent."""
        raw = self._key.lookup(key)  # type: ignore[union-attr]
        if raw is not INVALID:
            with self._engine.atomic():
                row = self._engine.fetchone(self._sql.get, (raw, *self._live()))
                if row is not None:
                    value = self._value.decode(row[0], key)  # type: ignore[union-attr]
                    self._write(self._sql.delete, (raw, *self._live()))
                    return value
        else:
            self._engine.check_writable()
        if default is MISSING:
            raise KeyError(key)
        return default

    def popitem(self, last: bool = True) -> tuple[K, V]:
        """Remove and return the last (or, with `last=False`, the first) item."""
        with self._engine.atomic():
            row = self._engine.fetchone(self._sql.last if last else self._sql.first, self._live())
            if row is None:
                raise KeyError("popitem(): the mapping is empty")
            item = self._first_or_last(row)
            self._write(self._sql.delete, (row[0], *self._live()))
            return item

    def setdefault(self, key: K, default: V = None) -> V:  # type: ignore[assignment]
        """The value for `key`; when absent, store `default` first and return it."""
        with self._engine.atomic():
            raw = self._key.encode(key, key)  # type: ignore[union-attr]
            row = self._engine.fetchone(self._sql.get, (raw, *self._live()))
            if row is not None:
                return self._value.decode(row[0], key)  # type: ignore[union-attr, no-any-return]
            params = self._row_params(key, default, self._spec.lifespan)
            self._write_row(params)
            return self._value.decode(params[1], key)  # type: ignore[union-attr, no-any-return]

    def update(self, other: Any = (), /, **kwargs: V) -> None:
        """Write many items in one transaction; nothing is written if one is invalid."""
        if isinstance(other, collections.abc.Mapping):
            pairs: Iterable[Any] = other.items()
        elif hasattr(other, "keys"):
            pairs = ((k, other[k]) for k in other.keys())  # noqa: SIM118 - a duck-typed mapping
        else:
            pairs = other
        lifespan = self._spec.lifespan
        rows = []
        for number, pair in enumerate(pairs):
            key, value = _pair(pair, number)
            rows.append(self._row_params(key, value, lifespan))
        rows.extend(self._row_params(key, value, lifespan) for key, value in kwargs.items())
        if not rows:
            self._engine.check_writable()
            return
        with self._engine.atomic():
            self._write_rows(rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        if len(self) != len(other):
            return False
        return dict(self._iter_items()) == dict(other.items())

    # -- what dict has beyond MutableMapping ----------------------------------------------

    def copy(self) -> dict[K, V]:
        """Every item, as a plain `dict` in the collection's order."""
        return dict(self._iter_items())

    def __or__(self, other: collections.abc.Mapping[Any, Any]) -> dict[Any, Any]:
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        merged: dict[Any, Any] = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: collections.abc.Mapping[Any, Any]) -> dict[Any, Any]:
        if not isinstance(other, collections.abc.Mapping):
            return NotImplemented
        merged = dict(other)
        merged.update(self._iter_items())
        return merged

    def __ior__(self, other: Any) -> Self:  # type: ignore[misc]
        """`m |= other`: an `update(other)`, in one transaction."""
        self.update(other)
        return self

    def __repr__(self) -> str:
        return self._describe(
            lambda rows: ", ".join(
                f"{_shown(key)}: {_shown(value)}" for key, value in self._items_of(rows)
            ),
            "{",
            "}",
            "{}",
        )

    # -- beyond MutableMapping ------------------------------------------------------------

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The values of the `keys` present, as a dict in the order given; one query.

        Keys that are absent (or of the wrong type) are left out. More than 500 keys
        take one query per 500.
        """
        wanted = self._lookup_many(keys)
        raws = list(wanted)
        found = dict(self._fetch_many(raws))
        decode = self._value.decode  # type: ignore[union-attr]
        return {wanted[raw]: decode(found[raw], wanted[raw]) for raw in raws if raw in found}

    def peekitem(self, last: bool = True) -> tuple[K, V]:
        """The last (or, with `last=False`, the first) item; `KeyError` when empty."""
        row = self._engine.fetchone(self._sql.last if last else self._sql.first, self._live())
        if row is None:
            raise KeyError("peekitem(): the mapping is empty")
        return self._first_or_last(row)

    def _first_or_last(self, row: Any) -> tuple[K, V]:
        # The `first`/`last` statements select (key, value) in every layout, without
        # the `seq` column that `_items_of` expects for insertion-ordered tables.
        key = self._key.decode(row[0])  # type: ignore[union-attr]
        return key, self._value.decode(row[1], key)  # type: ignore[union-attr]

    def increment(self, key: K, delta: int | float = 1, *, default: int | float = 0) -> V:
        """Add `delta` to the value of `key` (`default` when absent); atomic.

        Returns:
            The new value.

        Raises:
            TypeError: the mapping's values are not `int` or `float` (`bool` is not a
                number here), or `delta` is a float on an `int` mapping.
        """
        numeric = self._numeric
        if numeric is None:
            raise TypeError(
                f"increment() needs int or float values; {self._spec.name!r} holds "
                f"{_show(self._spec.value.declared)}"  # type: ignore[union-attr]
            )
        for name, number in (("delta", delta), ("default", default)):
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or (numeric is int and not isinstance(number, int))
            ):
                raise TypeError(
                    f"increment() {name} must be {'an int' if numeric is int else 'a number'}"
                    f", not {number!r}"
                )
        if self._sql.increment is not None and self._value.plain is numeric:  # type: ignore[union-attr]
            # One statement the database makes atomic: no store-wide lock, so writers
            # of different keys on many machines never wait for each other. (When
            # `default + delta` cannot be stored, only an existing value may make the
            # sum valid: the read-and-write below decides.)
            raw_key = self._key.encode(key, key)  # type: ignore[union-attr]
            try:
                first = self._value.encode(default + delta, key)  # type: ignore[union-attr]
            except ValidationError:
                first = MISSING
            if first is not MISSING:
                engine = self._engine
                write = self._through(engine.write_returning)
                rows = write(self._sql.increment, (raw_key, first, delta))
                self._watch().changes += 1
                return self._value.decode(rows[0][0], key)  # type: ignore[union-attr, no-any-return]
        with self._engine.atomic():
            current: Any = self.get(key, MISSING)
            new = (default if current is MISSING else current) + delta
            params = self._row_params(key, new, self._spec.lifespan)
            self._write_row(params)
            return self._value.decode(params[1], key)  # type: ignore[union-attr, no-any-return]

    @contextlib.contextmanager
    def edit(self, key: K, *, default: Any = MISSING) -> Iterator[V]:
        """Read the value of `key`, let the block change it, and write it back.

        On normal exit the (possibly mutated) value is validated and written,
        atomically with the read; on an exception nothing is written.

        The object yielded is the one written back, so the block must change it in
        place. An immutable value (`int`, `str`, a tuple, a frozen model) cannot be:
        rebinding the name inside the block writes the old value back. Assign
        (`m[key] = new`) instead, or use `increment()` for numbers.

        Raises:
            KeyError: `key` is absent and no `default` was given.

        Example:
            ```python
            from pydantic import BaseModel
            import tpstore

            class User(BaseModel):
                age: int = 0

            class App(tpstore.Store):
                users: tpstore.Mapping[str, User]
                hits: tpstore.Mapping[str, int]

            with App(None) as app:
                with app.users.edit("ada", default=User()) as user:  # changed in place
                    user.age += 1
                with app.hits.edit("home", default=0) as count:  # an int: this rebinds
                    count += 1                                   # `count` only, so 0
                assert app.hits["home"] == 0                     # is written back;
                app.hits.increment("home")                       # increment() works
                assert app.users["ada"].age == app.hits["home"] == 1
            ```
        """
        with self._engine.atomic():
            current: Any = self.get(key, MISSING)
            if current is MISSING:
                if default is MISSING:
                    raise KeyError(key)
                # Validated (a dict becomes the declared model) and copied, never shared.
                current = self._value.decode(self._value.encode(default, key), key)  # type: ignore[union-attr]
            yield current
            self._write_row(self._row_params(key, current, self._spec.lifespan))

    def range(
        self, start: K | None = None, stop: K | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[K, V]]:
        """Iterate `(key, value)` with `start <= key < stop` in key order.

        Args:
            start: the smallest key included; `None` for no lower bound.
            stop: the first key excluded; `None` for no upper bound.
            reverse: walk from the largest key down.
        """
        lower = None if start is None else self._key.encode(start, start)  # type: ignore[union-attr]
        upper = None if stop is None else self._key.encode(stop, stop)  # type: ignore[union-attr]
        return self._items_of(
            self._scan(keys_only=False, descending=reverse, lower=lower, upper=upper)
        )

    def clear(self) -> None:
        """Remove every item, in one statement."""
        self._clear()

    @property
    def name(self) -> str:
        """The collection's field name in its store."""
        return self._spec.name

    def migrate(self) -> int:
        """Rewrite every stored value that needs the `field(migrate=...)` hook.

        Values that do not validate as the declared type are upgraded by the hook and
        written back, in batches inside one transaction; the others are left as they
        are. Without a hook there is nothing to do.

        Returns:
            How many values were rewritten.

        Raises:
            CorruptValueError: a value the hook cannot upgrade (it raises, or its result
                does not validate), naming the collection and the key; the hook's error
                is the `__cause__`, and nothing is written.
        """
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

    def __aiter__(self) -> AsyncIterator[K]:
        """`async for key in collection`: the keys (elements) in the collection's order."""
        return self._aiter(lambda: iter(self))

    def areversed(self) -> AsyncIterator[K]:
        """The keys (elements) in reverse order, as an async iterator."""
        return self._aiter(lambda: reversed(self))

    async def agetitem(self, key: K) -> V:
        """`mapping[key]`, awaited; `KeyError` if absent."""
        return await self._aread(self._getitem_each, self.__getitem__, key)

    async def aset(self, key: K, value: V) -> None:
        """`mapping[key] = value`, awaited."""
        return await self._awrite(self.__setitem__, key, value)

    async def adelete(self, key: K) -> None:
        """`del mapping[key]`, awaited; `KeyError` if absent."""
        return await self._awrite(self.__delitem__, key)

    @overload
    async def aget(self, key: K, /) -> V | None: ...
    @overload
    async def aget(self, key: K, /, default: V | T) -> V | T: ...

    async def aget(self, key: K, /, default: Any = None) -> Any:
        """`get(key, default)`, awaited."""
        return await self._aread(self._get_each, self.get, key, default)

    async def aget_many(self, keys: Iterable[K]) -> dict[K, V]:
        """`get_many(keys)`, awaited."""
        return await self._twin(self.get_many, keys)

    @overload
    async def apop(self, key: K, /) -> V: ...
    @overload
    async def apop(self, key: K, /, default: V | T) -> V | T: ...

    async def apop(self, key: K, /, default: Any = MISSING) -> Any:
        """`pop(key[, default])`, awaited."""
        return await self._twin(self.pop, key, default)

    async def apopitem(self, last: bool = True) -> tuple[K, V]:
        """`popitem(last)`, awaited."""
        return await self._twin(self.popitem, last)

    async def asetdefault(self, key: K, default: V = None) -> V:  # type: ignore[assignment]
        """`setdefault(key, default)`, awaited."""
        return await self._twin(self.setdefault, key, default)

    async def aupdate(self, other: Any = (), /, **kwargs: V) -> None:
        """`update(other, **kwargs)`, awaited: one transaction."""
        return await self._twin(self.update, other, **kwargs)

    async def aincrement(self, key: K, delta: int | float = 1, *, default: int | float = 0) -> V:
        """`increment(key, delta, default=...)`, awaited: atomic; the new value."""
        return await self._awrite(self.increment, key, delta, default=default)

    async def apeekitem(self, last: bool = True) -> tuple[K, V]:
        """`peekitem(last)`, awaited."""
        return await self._twin(self.peekitem, last)

    async def acopy(self) -> dict[K, V]:
        """`copy()`, awaited: a plain `dict`."""
        return await self._twin(self.copy)

    def akeys(self) -> AsyncIterator[K]:
        """The keys, as an async iterator."""
        return self._aiter(lambda: iter(self.keys()))

    def avalues(self) -> AsyncIterator[V]:
        """The values, as an async iterator."""
        return self._aiter(lambda: iter(self.values()))

    def aitems(self) -> AsyncIterator[tuple[K, V]]:
        """The `(key, value)` pairs, as an async iterator."""
        return self._aiter(lambda: iter(self.items()))

    def aedit(self, key: K, *, default: Any = MISSING) -> AbstractAsyncContextManager[V]:
        """`edit(key, default=...)` as an async context manager.

        The read, the block and the write back form one transaction, which belongs to
        the task (as in `atransaction()`): use the `a`-methods inside the block.
        """
        return self._ahold(lambda: self.edit(key, default=default))

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin(self.migrate)

    def arange(
        self, start: K | None = None, stop: K | None = None, *, reverse: bool = False
    ) -> AsyncIterator[tuple[K, V]]:
        """`range(start, stop, reverse=...)` as an async iterator."""
        return self._aiter(lambda: self.range(start, stop, reverse=reverse), watched=False)


class OrderedMapping(Mapping[K, V]):
    """A persistent `dict` that remembers insertion order.

    Re-assigning a key keeps its place; deleting and re-inserting moves it to the end.
    There is no `range()`: key ranges need key order.
    """

    kind_name = "OrderedMapping"
    layout = "inserted"
    key_ordered = False

    if TYPE_CHECKING:
        # Inherited from `Mapping` but absent: a type checker refuses the call, naming
        # this class ("Invalid self argument "OrderedMapping[...]" to ... "range"").
        def range(self: Never, *args: Never, **kwargs: Never) -> None: ...  # type: ignore[override, misc]
        def arange(self: Never, *args: Never, **kwargs: Never) -> None: ...  # type: ignore[override, misc]
    else:
        range = arange = _Absent()


class ExpiringMapping(_Expiring, Mapping[K, V]):
    """A `Mapping` (key order) whose items expire `lifespan` after their last write.

    Example:
        ```python
        import tpstore

        class Cache(tpstore.Store):
            pages: tpstore.ExpiringMapping[str, str] = tpstore.field(lifespan=60)

        with Cache(None) as cache:
            cache.pages["/"] = "<html>"
            cache.pages.set("/tmp", "<p>", lifespan=5)
            assert "/" in cache.pages
        ```
    """

    kind_name = "ExpiringMapping"

    def set(self, key: K, value: V, *, lifespan: timedelta | float | None = None) -> None:
        """Store `value` under `key`, living `lifespan` (default: the field's lifespan).

        `lifespan=math.inf`: the item never expires (`expires_at` returns `None`).
        """
        self._put(key, value, self._lifespan_of(lifespan))

    def touch(self, key: K, lifespan: timedelta | float | None = None) -> None:
        """Restart the lifespan of `key` (the field's, or `lifespan` if given).

        `lifespan=math.inf`: from now on the item never expires.

        Raises:
            KeyError: `key` is absent or expired.
        """
        self._touch(key, lifespan)

    def expires_at(self, key: K) -> float | None:
        """When `key` expires (POSIX seconds), or `None` if it never does.

        Raises:
            KeyError: `key` is absent or expired.
        """
        return self._expires_at(key)

    def purge(self) -> int:
        """Delete the expired items now and return how many there were."""
        return self._purge()

    async def aset(self, key: K, value: V, *, lifespan: timedelta | float | None = None) -> None:
        """`set(key, value, lifespan=...)`, awaited."""
        return await self._awrite(self.set, key, value, lifespan=lifespan)

    async def atouch(self, key: K, lifespan: timedelta | float | None = None) -> None:
        """`touch(key, lifespan)`, awaited."""
        return await self._twin(self.touch, key, lifespan)

    async def aexpires_at(self, key: K) -> float | None:
        """`expires_at(key)`, awaited."""
        return await self._twin(self.expires_at, key)

    async def apurge(self) -> int:
        """`purge()`, awaited: the number of expired items dropped."""
        return await self._twin(self.purge)


class ExpiringOrderedMapping(_ReinsertExpired, ExpiringMapping[K, V], OrderedMapping[K, V]):
    """An `OrderedMapping` (insertion order) whose items expire.

    Re-setting an expired key places it at the end.
    """

    kind_name = "ExpiringOrderedMapping"


# -- views ------------------------------------------------------------------------------


class KeysView(collections.abc.KeysView[K]):
    """A live view of a persistent mapping's keys."""

    _mapping: Mapping[K, Any]

    def __reversed__(self) -> Iterator[K]:
        return reversed(self._mapping)


class ValuesView(collections.abc.ValuesView[V]):
    """A live view of a persistent mapping's values."""

    _mapping: Mapping[Any, V]

    def __iter__(self) -> Iterator[V]:
        for _, value in self._mapping._iter_items():
            yield value

    def __reversed__(self) -> Iterator[V]:
        for _, value in self._mapping._iter_items(descending=True):
            yield value


class ItemsView(collections.abc.ItemsView[K, V]):
    """A live view of a persistent mapping's `(key, value)` pairs."""

    _mapping: Mapping[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return self._mapping._iter_items()

    def __reversed__(self) -> Iterator[tuple[K, V]]:
        return self._mapping._iter_items(descending=True)


# -- helpers ----------------------------------------------------------------------------


def _pair(item: Any, number: int) -> tuple[Any, Any]:
    """One `(key, value)` pair of `update()`'s iterable, refused as `dict` refuses it."""
    try:
        pair = tuple(item)
    except TypeError:
        raise TypeError(
            f"cannot convert dictionary update sequence element #{number} to a sequence"
        ) from None
    if len(pair) != 2:
        raise ValueError(
            f"dictionary update sequence element #{number} has length {len(pair)}; 2 is required"
        )
    return pair[0], pair[1]


def _numeric_type(spec: CollectionSpec) -> type | None:
    """`int` or `float` when `increment()` may work on the values, else `None`."""
    if spec.value is None or not spec.value.stored_as_is:
        return None
    declared = strip_annotated(spec.value.declared)
    if declared is int or declared is float:
        return declared
    return None


def _show(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
