"""The positioned base that `Sequence` and `Deque` share.

Items live in a `positioned` table (`pos INTEGER PRIMARY KEY, value`) whose positions
stay contiguous: the item at index `i` is at `min(pos) + i`. Indexing, assignment and
both ends are O(log n); an insert or delete in the middle moves the rows of the
shorter side by one, in the same transaction.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, TypeVar

from tpstore._async import _Twins
from tpstore._collection import Collection, _shown
from tpstore.errors import CorruptValueError, ValidationError

if TYPE_CHECKING:
    from tpstore._backends.statements import SequenceSQL
    from tpstore._engine import Engine
    from tpstore._schema import CollectionSpec
    from tpstore.codecs._types import Raw

T = TypeVar("T")

_INDEX_LIMIT = 2**62  # far beyond any real length; keeps position arithmetic in 64 bits


class _Positioned(Collection, _Twins, Generic[T]):
    """What `Sequence` and `Deque` share: the positioned table and both of its ends.

    Class attributes hold the builtin's name and its error messages, so that each kind
    raises exactly what `list` or `collections.deque` raises.
    """

    type_params = ("V",)
    layout = "positioned"
    _builtin: ClassVar[str] = "list"
    _index_error: ClassVar[str] = "list index out of range"
    _assign_error: ClassVar[str] = "list assignment index out of range"
    _assignment_changes: ClassVar[bool] = True
    """Whether item assignment and `reverse()` count as changes for an iteration."""

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        super().__init__(engine, spec, table, clock)
        self._sql: SequenceSQL = engine.dialect.sequence(spec.database, table)

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count()

    def __iter__(self) -> Iterator[T]:
        return self._values(self._rows(iterating=True))

    def __reversed__(self) -> Iterator[T]:
        return self._values(self._rows(descending=True, iterating=True))

    def _bounds(self) -> tuple[int, int]:
        """`(min(pos), len)` in one statement; `(0, 0)` when empty."""
        low, high = self._engine.fetchone(self._sql.bounds)
        return (0, 0) if low is None else (low, high - low + 1)

    def _rows(
        self,
        lower: int | None = None,
        upper: int | None = None,
        *,
        step: int = 1,
        anchor: int = 0,
        descending: bool = False,
        iterating: bool = False,
    ) -> Iterator[Any]:
        """`(pos, raw)` rows with `lower <= pos < upper`, a page at a time.

        With `step > 1`, only the positions `anchor + k * step`. `iterating`: the scan
        is an iteration the user drives (see `Collection._pages`), bounded by the
        position of the last item in its direction when it reads its third page.
        """
        bounds: tuple[str, ...] = ()
        params: tuple[Any, ...] = ()
        if lower is not None:
            bounds, params = (">=", "<"), (lower, upper)
        stepping = (anchor, step) if step > 1 else ()
        first = self._sql.scan(bounds=bounds, stepped=bool(stepping), descending=descending)
        resume = "<" if descending else ">"
        following = self._sql.scan(
            bounds=(*bounds, resume), stepped=bool(stepping), descending=descending
        )
        if not iterating:
            return self._pages(first, following, params, lambda: stepping)
        bounded = self._sql.scan(
            bounds=(*bounds, resume, ">=" if descending else "<="),
            stepped=bool(stepping),
            descending=descending,
        )

        def end() -> int | None:
            low, high = self._engine.fetchone(self._sql.bounds)
            return low if descending else high  # type: ignore[no-any-return]

        return self._pages(first, following, params, lambda: stepping, end=end, bounded=bounded)

    def _span(self, low: int, indexes: range) -> Iterator[Any]:
        """The rows at `indexes` (a non-empty range of indexes), in the range's order."""
        first, last = indexes[0], indexes[-1]
        return self._rows(
            low + min(first, last),
            low + max(first, last) + 1,
            # One index needs no step (which may not even fit in 64 bits: `s[9::1 << 333]`).
            step=abs(indexes.step) if len(indexes) > 1 else 1,
            anchor=low + first,
            descending=indexes.step < 0,
        )

    def _values(self, rows: Iterable[Any], low: int | None = None) -> Iterator[T]:
        decode = self._value.decode  # type: ignore[union-attr]
        for pos, raw in rows:
            try:
                value = decode(raw)
            except CorruptValueError:
                self._corrupt(pos, raw, low)
            yield value

    def _decode(self, pos: int, raw: Raw, low: int | None = None) -> T:
        try:
            return self._value.decode(raw)  # type: ignore[union-attr, no-any-return]
        except CorruptValueError:
            self._corrupt(pos, raw, low)

    def _corrupt(self, pos: int, raw: Raw, low: int | None) -> NoReturn:
        """Raise the `CorruptValueError` of the item at `pos`, naming its index."""
        if low is None:
            row = self._engine.fetchone(self._sql.bounds)
            low = pos if row[0] is None else min(row[0], pos)
        self._corrupt_at(raw, pos - low)

    def _corrupt_at(self, raw: Raw, index: int) -> NoReturn:
        """Raise the `CorruptValueError` of the item at `index`."""
        try:
            self._value.decode(raw, index)  # type: ignore[union-attr]
        except CorruptValueError as exc:
            exc.__suppress_context__ = True  # the first attempt, without the index, is noise
            raise
        raise AssertionError("unreachable: the value decoded the second time")  # pragma: no cover

    # -- writing ---------------------------------------------------------------------------

    def _encode(self, value: Any, index: Callable[[], int]) -> Raw:
        """Validate and encode one item; a `ValidationError` names its index.

        The index is worked out only when the value is refused, so a valid write
        costs no extra query.
        """
        column = self._value
        try:
            return column.encode(value)  # type: ignore[union-attr]
        except ValidationError:
            pass  # refused: encode again, outside this handler, to name the index
        return column.encode(value, index())  # type: ignore[union-attr]

    def _encode_all(self, values: Iterable[Any]) -> list[Raw]:
        """Validate every value of a bulk write (no single index is at fault)."""
        encode = self._value.encode  # type: ignore[union-attr]
        return [encode(value) for value in values]

    def _pop_end(self, last: bool, empty: str) -> T:
        """Remove and return the first or last item, atomically, even across processes.

        The row is deleted and decoded in one transaction (or a savepoint inside one),
        so two consumers never pop the same item and a value that cannot be decoded
        stays where it was. Where the dialect pops in one statement (RETURNING), that
        statement runs through `Engine.take`: on a server database its transaction
        takes no store-wide lock, so consumers do not wait for each other.
        """
        sql = self._sql
        pop = sql.pop_last if last else sql.pop_first
        engine = self._engine

        def decoded(rows: list[Any]) -> T:
            if not rows:
                raise IndexError(empty)
            row = rows[0]
            return self._decode(row[0], row[1], None if last else row[0])

        if pop is not None and not self._unrecorded:
            # A value stored as it is decodes whatever it holds, but NULL.
            present = sql.pop_last_present if last else sql.pop_first_present
            plain = self._value.plain is self._value.declared  # type: ignore[union-attr]
            value = engine.take(pop, (), decoded, at_once=present if plain else None)
            self._watch().changes += 1
            return value
        with engine.atomic():
            if pop is not None:
                rows = self._through(engine.write_returning)(pop)
                if rows:
                    self._watch().changes += 1
                return decoded(rows)
            row = engine.fetchone(sql.last if last else sql.first)
            if row is not None:
                self._write(sql.delete_at, (row[0],))
            return decoded([row] if row is not None else [])

    def _peek_end(self, last: bool, empty: str) -> T:
        row = self._engine.fetchone(self._sql.last if last else self._sql.first)
        if row is None:
            raise IndexError(empty)
        return self._decode(row[0], row[1], None if last else row[0])

    def _append_raws(self, raws: list[Raw]) -> None:
        """Append encoded items at the end; call inside `atomic()` for more than one.

        Several items go to the positions after the last one, read once (nobody else
        appends inside `atomic()`), as rows of one statement that a backend may send in
        a few multi-row statements.
        """
        if len(raws) == 1:
            self._write(self._sql.append, (raws[0],))
            return
        low, size = self._bounds()
        top = low + size
        self._write_many(self._sql.insert_at, [(top + i, raw) for i, raw in enumerate(raws)])

    def _prepend_raws(self, raws: list[Raw]) -> None:
        """Add encoded items on the left, one after the other (so the last one ends up
        first); call inside `atomic()`. As `_append_raws`, at positions read once."""
        low, size = self._bounds()
        bottom = low - 1 if size else 0
        self._write_many(self._sql.insert_at, [(bottom - i, raw) for i, raw in enumerate(raws)])

    def _clear(self) -> None:
        self._write(self._sql.clear)

    def _move(self, lower: int, upper: int, delta: int, top: int) -> None:
        """Move the rows with `lower <= pos < upper` by `delta`, onto free positions.

        `top` is the current `max(pos)`. The rows first go past every position in use
        and past their targets, then to their targets: no step puts two rows on one
        position (see `SequenceSQL`).
        """
        if lower >= upper or delta == 0:
            return
        away = top - lower + abs(delta) + 1
        move = self._sql.move
        self._write(move, (1, away, lower, upper))
        self._write(move, (1, delta - away, lower + away, upper + away))

    # -- indexing ---------------------------------------------------------------------------

    def _maxlen(self) -> int | None:
        """The most items the collection may hold (`None`: unbounded)."""
        return None

    def _get_at(self, i: int) -> T:
        """The item at index `i` (negative from the end): one primary-key lookup."""
        if i >= 0:
            row = self._engine.fetchone(self._sql.get_from_first, (i,))
        else:
            row = self._engine.fetchone(self._sql.get_from_last, (i,))
        if row is None:
            raise IndexError(self._index_error)
        try:
            return self._value.decode(row[0])  # type: ignore[union-attr, no-any-return]
        except CorruptValueError:
            self._corrupt_at(row[0], i if i >= 0 else i + self._count())

    def _set_at(self, i: int, value: Any) -> None:
        """Replace the item at index `i` (negative from the end)."""

        def refused_at() -> int:
            n = self._count()
            if not -n <= i < n:
                raise IndexError(self._assign_error)
            return i % n

        raw = self._encode(value, refused_at)
        sql = self._sql.set_from_first if i >= 0 else self._sql.set_from_last
        write = self._write if self._assignment_changes else self._rewrite
        if not write(sql, (raw, i)):
            raise IndexError(self._assign_error)

    def _delete_at(self, i: int) -> None:
        """Remove the item at index `i` (negative from the end), closing the gap."""
        with self._engine.atomic():
            low, n = self._bounds()
            if not -n <= i < n:
                raise IndexError(self._assign_error)
            i %= n
            self._splice(low, n, i, i + 1, [])

    def _splice(self, low: int, n: int, start: int, stop: int, raws: list[Raw]) -> None:
        """Replace the items `start:stop` with `raws`; call inside `atomic()`.

        The rows on the shorter side of the change move to make room or close the
        gap, so a change near either end stays O(log n).
        """
        delta = len(raws) - (stop - start)
        if stop > start:
            self._write(self._sql.delete_range, (low + start, low + stop))
        top = low + n - 1
        if n - stop <= start:  # the tail is shorter: it moves
            self._move(low + stop, low + n, delta, top)
            at = low + start
        else:  # the head moves, down by `delta`
            self._move(low, low + start, -delta, top)
            at = low - delta + start
        if raws:
            self._write_many(self._sql.insert_at, [(at + j, raw) for j, raw in enumerate(raws)])

    # -- what list and deque share beyond their ends ------------------------------------------
    # The public methods (`insert`, `remove`, `index`, `count`, `reverse`, `clear`) are on
    # `Sequence` and `Deque`, each documented as its builtin behaves, and call these.

    def _insert(self, index: int, value: T) -> None:
        i = _as_index(index)
        with self._engine.atomic():
            low, n = self._bounds()
            if i < 0:
                i = max(0, i + n)
            i = min(i, n)
            if n == self._maxlen():
                raise IndexError("deque already at its maximum size")
            raw = self._value.encode(value, i)  # type: ignore[union-attr]
            self._splice(low, n, i, i, [raw])

    def _remove(self, value: T) -> None:
        with self._engine.atomic():
            try:
                i = self._index(value, 0, None)
            except ValueError:
                if self._builtin == "deque":  # deque says what index() says, list does not
                    raise
                raise ValueError("list.remove(x): x not in list") from None
            low, n = self._bounds()
            self._splice(low, n, i, i + 1, [])

    def _index(self, value: Any, start: int, stop: int | None) -> int:
        with self._engine.transaction(readonly=True):
            low, n = self._bounds()
            indexes = range(*slice(start, stop).indices(n))
            if indexes:
                for pos, raw in self._span(low, indexes):
                    item = self._decode(pos, raw, low)
                    if item is value or item == value:
                        return int(pos - low)
        raise ValueError(f"{_shown(value)} is not in {self._builtin}")

    def _count_equal(self, value: Any) -> int:
        return sum(1 for item in self if item is value or item == value)

    def _reverse(self) -> None:
        # Positions only: no value is decoded or moved.
        with self._engine.atomic():
            low, n = self._bounds()
            if n < 2:
                return
            top = low + n - 1
            # pos -> low + top - pos, through the free positions past `top` (two steps).
            # A deque's iterator goes on over the reversed items, as `deque`'s does.
            write = self._write if self._assignment_changes else self._rewrite
            away = n
            write(self._sql.move, (-1, low + top + away, low, top + 1))
            write(self._sql.move, (1, -away, low + away, top + away + 1))

    def _repeat(self, n: int) -> None:
        """`*= n` in place: the items `n` times over (none for `n <= 0`), one transaction."""
        times = operator.index(n)
        if times <= 0:
            self._clear()
            return
        with self._engine.atomic():
            raws = [raw for _, raw in self._rows()]
            maxlen = self._maxlen()
            if maxlen is not None:
                times = min(times, 1 + -(-maxlen // max(len(raws), 1)))
            for _ in range(times - 1):
                self._append_raws(raws)
            if maxlen is not None:
                self._write(self._sql.trim_first, (maxlen,))

    _comparable: ClassVar[tuple[type, ...]] = ()
    """What `==` and the orderings compare with (a `list` or `Sequence`, a `deque` or
    `Deque`); anything else is `NotImplemented`, as for the builtin."""

    def __lt__(self, other: Any) -> bool:
        return self._ordered(other, operator.lt)

    def __le__(self, other: Any) -> bool:
        return self._ordered(other, operator.le)

    def __gt__(self, other: Any) -> bool:
        return self._ordered(other, operator.gt)

    def __ge__(self, other: Any) -> bool:
        return self._ordered(other, operator.ge)

    def _ordered(self, other: Any, op: Callable[[Any, Any], Any]) -> bool:
        if not isinstance(other, self._comparable):
            return NotImplemented  # type: ignore[no-any-return]
        return self._compare(other, op)

    def _compare(self, other: Any, op: Callable[[Any, Any], Any]) -> bool:
        """`op(self, other)` in the lexicographic order of `list` and `deque`.

        The first items that differ (neither `is` nor `==`) decide; when one side runs
        out first, the longer side is the greater.
        """
        end = object()
        for mine, theirs in itertools.zip_longest(self, other, fillvalue=end):
            if mine is end or theirs is end:
                return bool(op(mine is not end, theirs is not end))
            if mine is not theirs and mine != theirs:
                return bool(op(mine, theirs))
        return bool(op(0, 0))

    def _head(self, n: int) -> list[Any]:
        return self._engine.fetchall(self._sql.scan(), (n,))


def _as_index(index: Any) -> int:
    """`index` as an int, refused as `list` refuses it."""
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(
            f"list indices must be integers or slices, not {type(index).__name__}"
        ) from None
    if not -_INDEX_LIMIT < i < _INDEX_LIMIT:
        raise IndexError("cannot fit 'int' into an index-sized integer")
    return i


def _same_items(left: Iterable[Any], right: Iterable[Any]) -> bool:
    """Whether two iterables yield equal items (`is` or `==`, as `list` compares)."""
    end = object()
    return all(a is b or a == b for a, b in itertools.zip_longest(left, right, fillvalue=end))
