"""What the Mapping and Set families share: tables of the `keyed` and `inserted` layouts.

A set is a mapping without values: both families keep one row per key, in key order
(`keyed`) or insertion order (`inserted`), with the statements of `MappingSQL`. This
module holds the key side of that machinery (membership, length, paged iteration,
writing rows) and expiry, which works the same for both families.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from tpstore._async import _Twins
from tpstore._bridge import Outcomes
from tpstore._collection import Collection, _Watch
from tpstore._validation import INVALID

if TYPE_CHECKING:
    from tpstore._backends.statements import MappingSQL
    from tpstore._engine import Engine, Params
    from tpstore._schema import CollectionSpec

K = TypeVar("K")


class _Keyed(Collection, _Twins, Generic[K]):
    """A collection stored one row per key: the base of the Mapping and Set families.

    Class attribute `has_value` says whether rows carry a value column (mappings) or
    only the key (sets, whose elements are keys).
    """

    has_value: ClassVar[bool] = True

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        super().__init__(engine, spec, table, clock)
        self._sql: MappingSQL = engine.dialect.mapping(
            spec.database, table, self.layout, has_value=self.has_value, expiring=self.expiring
        )
        # Rows of the `inserted` layout start with `seq`; the key follows it.
        self._key_at = 0 if self._sql.order == "key" else 1

    # -- hooks of the expiring kinds ---------------------------------------------------------

    def _live(self) -> tuple[float, ...]:
        """The extra parameter of every read of an expiring table: the current time."""
        return ()

    def _expiry(self, lifespan: float | None) -> tuple[float | None, ...]:
        """The `expires` column of a row written now (nothing for non-expiring kinds)."""
        return ()

    # -- writing --------------------------------------------------------------------------

    _changed_during_iteration = "dictionary changed size during iteration"

    def _write(self, sql: str, params: Params = ()) -> int:
        # What counts for an iteration is a change of the size, as for dict and set. It
        # is measured only while the thread iterates: two reads of the item count
        # around the statement, in one transaction so no other writer comes between.
        engine = self._engine
        write = self._through(engine.write)
        watch = self._watch()
        if not watch.iterators:
            return write(sql, params)
        with self._sized(watch):
            return write(sql, params)

    def _write_many(self, sql: str, rows: Sequence[Params]) -> int:
        engine = self._engine
        write_many = self._through(engine.write_many)
        watch = self._watch()
        if not watch.iterators:
            return write_many(sql, rows)
        with self._sized(watch):
            return write_many(sql, rows)

    @contextlib.contextmanager
    def _sized(self, watch: _Watch) -> Iterator[None]:
        """Count the block's write in `watch`: a change if the number of rows changed."""
        self._engine.check_writable()
        with self._engine.atomic():
            before = Collection._count(self)
            yield
            if Collection._count(self) != before:
                watch.changes += 1
            else:
                watch.rewrites += 1

    def _row_params(self, key: Any, value: Any, lifespan: float | None) -> tuple[Any, ...]:
        """Validate and encode one row: `(key[, value][, expires])`."""
        if self.has_value:
            # The value is checked first, so that a bad value is reported even when the
            # key is bad too (as for the builtin `dict`, which never sees the value).
            raw_value = self._value.encode(value, key)  # type: ignore[union-attr]
            return (
                self._key.encode(key, key),  # type: ignore[union-attr]
                raw_value,
                *self._expiry(lifespan),
            )
        return (self._key.encode(key, key), *self._expiry(lifespan))  # type: ignore[union-attr]

    def _put(self, key: Any, value: Any, lifespan: float | None = None) -> Any:
        """Validate and write one row; returns the encoded key."""
        params = self._row_params(key, value, lifespan)
        self._write_row(params)
        return params[0]

    def _write_row(self, params: tuple[Any, ...]) -> None:
        self._write(self._sql.upsert, params)

    def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Write many encoded rows; call inside `atomic()`."""
        self._write_many(self._sql.upsert, rows)

    def _delete_raws(self, raws: list[Any]) -> int:
        """Delete the rows of these encoded keys; call inside `atomic()`."""
        live = self._live()
        return self._write_many(self._sql.delete, [(raw, *live) for raw in raws])

    def _clear(self) -> None:
        """`clear()` of both families: remove every row in one statement."""
        self._write(self._sql.clear)

    # -- reading --------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return self._row_of(self._sql.contains, key) is not None

    def _contains_each(self, requests: list[tuple[Any, ...]]) -> Outcomes:
        """`key in collection` for each `(key,)`, read in one query (`Bridge.read`)."""
        return [(row is not None, None) for row in self._rows_of([key for (key,) in requests])]

    def __len__(self) -> int:
        return self._count()

    def __iter__(self) -> Iterator[K]:
        return self._keys_of(self._scan(keys_only=True, iterating=True))

    def __reversed__(self) -> Iterator[K]:
        return self._keys_of(self._scan(keys_only=True, descending=True, iterating=True))

    def _head(self, n: int) -> list[Any]:
        return self._engine.fetchall(
            self._sql.scan(keys_only=not self.has_value), (*self._live(), n)
        )

    def _keys_of(self, rows: Iterable[Any]) -> Iterator[K]:
        decode = self._key.decode  # type: ignore[union-attr]
        plain = self._key.plain  # type: ignore[union-attr]
        at = self._key_at
        for row in rows:
            raw = row[at]
            # What `decode` does first, without a call per key (iteration's hot path).
            yield decode(raw) if type(raw) is not plain else cast(K, raw)

    def _scan(
        self,
        *,
        keys_only: bool,
        descending: bool = False,
        lower: Any = None,
        upper: Any = None,
        iterating: bool = False,
    ) -> Iterator[Any]:
        """Every live row in order, fetched a page at a time (keyset pagination).

        `iterating`: the scan is an iteration the user drives (see `Collection._pages`):
        bounded by the last row in its direction, and watching the thread's changes.
        """
        bounds: list[str] = []
        values: list[Any] = []
        if lower is not None:
            bounds.append(">=")
            values.append(lower)
        if upper is not None:
            bounds.append("<")
            values.append(upper)
        resume = "<" if descending else ">"
        first = self._sql.scan(keys_only=keys_only, bounds=tuple(bounds), descending=descending)
        following = self._sql.scan(
            keys_only=keys_only, bounds=(*bounds, resume), descending=descending
        )
        if not iterating:
            return self._pages(first, following, tuple(values), self._live)
        ending = "<=" if not descending else ">="
        bounded = self._sql.scan(
            keys_only=keys_only, bounds=(*bounds, resume, ending), descending=descending
        )
        edge = self._sql.lowest if descending else self._sql.highest

        def end() -> Any:
            return self._engine.fetchone(edge)[0]

        return self._pages(first, following, tuple(values), self._live, end=end, bounded=bounded)

    def _lookup_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """`{encoded key: key}` of the keys given, without those of the wrong type."""
        wanted: dict[Any, Any] = {}
        lookup = self._key.lookup  # type: ignore[union-attr]
        for key in keys:
            raw = lookup(key)
            if raw is not INVALID:
                wanted.setdefault(raw, key)
        return wanted

    def _row_of(self, sql: str, key: Any) -> Any:
        """The row that `sql` (a point query by key) reads for `key`, or None.

        A key of the wrong type is absent, without a query (but a closed store says so).
        """
        raw = self._key.lookup(key)  # type: ignore[union-attr]
        if raw is INVALID:
            self._engine.check_open()
            return None
        return self._engine.fetch_point(sql, (raw, *self._live()) if self.expiring else (raw,))

    def _rows_of(self, keys: list[Any]) -> list[tuple[Any, ...] | None]:
        """For each key, its live row without the key (`(value,)` as `_row_of` reads
        it, or `()` in a set), or None where it is absent; one query for all of them."""
        lookup = self._key.lookup  # type: ignore[union-attr]
        raws = [lookup(key) for key in keys]
        wanted = list(dict.fromkeys(raw for raw in raws if raw is not INVALID))
        found = {row[0]: tuple(row[1:]) for row in self._fetch_many(wanted)}
        return [None if raw is INVALID else found.get(raw) for raw in raws]

    def _fetch_many(self, raws: list[Any]) -> list[Any]:
        """The live rows (key[, value]) of these encoded keys, one query per batch of keys
        (the dialect sizes batches under its parameter limit)."""
        found: list[Any] = []
        if not raws:
            self._engine.check_open()
        live = self._live()
        batch = self._sql.batch
        for start in range(0, len(raws), batch):
            chunk = raws[start : start + batch]
            found.extend(self._engine.fetchall(self._sql.get_many(len(chunk)), (*chunk, *live)))
        return found


class _Expiring:
    """Expiry for any kind whose table has an `expires` column.

    An item written at time `t` with lifespan `L` is live while `clock() < t + L`.
    Expired items are absent for every operation, purged or not. The public methods
    (`touch`, `expires_at`, `purge` and their twins) are on `ExpiringMapping` and
    `ExpiringSet`, which call the ones here.
    """

    expiring = True
    options = frozenset({"lifespan"})
    _clock: Callable[[], float]
    _engine: Engine
    _spec: CollectionSpec
    _sql: Any
    _write: Callable[..., int]
    _write_many: Callable[..., int]
    _key: Any

    def _live(self) -> tuple[float, ...]:
        return (self._clock(),)

    def _expiry(self, lifespan: float | None) -> tuple[float | None, ...]:
        # No lifespan (a field without one) or an infinite one: never expires (NULL).
        if lifespan is None or lifespan == math.inf:
            return (None,)
        return (self._clock() + lifespan,)

    def _count(self) -> int:
        # The catalog counts every row; the expired ones are found through the partial
        # index on `expires`, so len() reads only the expired rows, never the table.
        total: int = super()._count()  # type: ignore[misc]
        expired = self._engine.fetchone(self._sql.count_expired, self._live())
        return total - int(expired[0])

    def _purge(self) -> int:
        return self._write(self._sql.purge, self._live())

    def _touch(self, key: Any, lifespan: timedelta | float | None) -> None:
        seconds = self._spec.lifespan if lifespan is None else _lifespan(lifespan)
        raw = self._key.lookup(key)
        if raw is INVALID:
            self._engine.check_writable()
            raise KeyError(key)
        if not self._write(self._sql.touch, (*self._expiry(seconds), raw, *self._live())):
            raise KeyError(key)

    def _expires_at(self, key: Any) -> float | None:
        raw = self._key.lookup(key)
        if raw is INVALID:
            self._engine.check_open()
            raise KeyError(key)
        row = self._engine.fetchone(self._sql.expires_at, (raw, *self._live()))
        if row is None:
            raise KeyError(key)
        return row[0]  # type: ignore[no-any-return]

    def _lifespan_of(self, lifespan: timedelta | float | None) -> float | None:
        """The lifespan of one write: the field's, or the per-item one given."""
        return self._spec.lifespan if lifespan is None else _lifespan(lifespan)


class _ReinsertExpired:
    """Insertion-ordered expiring kinds: re-writing an expired key moves it to the end.

    The expired row is deleted first (it may not have been purged yet), so the upsert
    inserts a new row, whose `seq` is past every other one.
    """

    _engine: Engine
    _sql: Any
    _write: Callable[..., int]
    _write_many: Callable[..., int]
    _clock: Callable[[], float]

    def _write_row(self, params: tuple[Any, ...]) -> None:
        with self._engine.atomic():
            self._write(self._sql.delete_expired_key, (params[0], self._clock()))
            self._write(self._sql.upsert, params)

    def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        now = self._clock()
        self._write_many(self._sql.delete_expired_key, [(row[0], now) for row in rows])
        self._write_many(self._sql.upsert, rows)


def _lifespan(lifespan: timedelta | float) -> float:
    seconds = lifespan.total_seconds() if isinstance(lifespan, timedelta) else lifespan
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"lifespan must be a positive timedelta or seconds, not {lifespan!r}")
    return float(seconds)
