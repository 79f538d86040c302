"""Reading a collection's rows from a file that may be physically damaged.

A damaged page of an SQLite file makes every statement that touches it fail with
"database disk image is malformed"; a plain scan of the table stops there, and the
items behind the damage are lost to it. `read_rows` pages through the table by its
ordering column instead (`key`, `seq`, `pos` or `id`, see `ToolSQL`), so when a page
fails it can go on *past* the damage: it finds the lowest ordering value from which a
read works again, by a galloping search and a bisection (a read that starts inside a
damaged page fails, one that starts beyond it does not), collects the rows just above
that point by reading backwards, and carries on. Every row that can still be read is
read; each part that could not be is reported once, as an `Unreadable` with the
readable values on both sides of it.

All reading goes through the engine's `fetchall`, which turns SQLite's errors into
tpstore's; this module and `StoreFile`'s catalog reading are the only places where the
command line reads a table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from tpstore._backends.statements import ToolSQL
from tpstore._engine import Engine
from tpstore.errors import BusyError, ClosedError, TpStoreError

PAGE: Final = 1000
"""Rows read per statement while the file reads cleanly."""

MAX_PROBES: Final = 400
"""Reads spent bisecting towards where a damaged part of a table ends."""

GALLOP: Final = 64
"""Doublings of the step with which the search for readable rows leaves a damaged part."""


class _Edge:
    """The start or the end of a table, where an `Unreadable` part may begin or end."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


START: Final = _Edge("START")
END: Final = _Edge("END")


@dataclass(frozen=True)
class Unreadable:
    """A part of a table that could not be read.

    Attributes:
        after: the ordering value of the last row read before it, or `START`.
        before: the ordering value of the first row read after it, or `END`.
        reason: what SQLite said.
    """

    after: Any
    before: Any
    reason: str


class DamageError(Exception):
    """A read failed because the file is damaged (or cannot be read) there."""


def fetch(engine: Engine, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """`engine.fetchall`, with a read that fails on the file's content as `DamageError`.

    A lock held too long (`BusyError`) and a closed store are not damage and go on.
    """
    try:
        return engine.fetchall(sql, params)
    except (BusyError, ClosedError):
        raise
    except TpStoreError as exc:
        raise DamageError(reason(exc)) from exc


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[None]:
    """A read transaction, so that what is read is one consistent state of the file.

    After SQLite met a damaged page, ending the transaction may fail as well; a read
    transaction has nothing to commit, so that failure is of no consequence.
    """
    finished = False
    try:
        with engine.transaction(readonly=True):
            yield
            finished = True
    except TpStoreError:
        if not finished:
            raise


def reason(exc: BaseException) -> str:
    """SQLite's own words for an error (`database disk image is malformed`)."""
    cause = exc.__cause__
    return str(cause) if cause is not None and str(cause) else str(exc)


class _Pages:
    """The page statements of one table, with their parameters filled in."""

    def __init__(self, engine: Engine, sql: ToolSQL, now: float | None) -> None:
        self.engine = engine
        self.sql = sql
        self.live: tuple[Any, ...] = () if now is None else (now,)

    def forward(self, bound: Any, limit: int) -> list[Any]:
        if bound is START:
            return fetch(self.engine, self.sql.first, (*self.live, limit))
        return fetch(self.engine, self.sql.after, (bound, *self.live, limit))

    def backward(self, bound: Any, limit: int) -> list[Any]:
        if bound is END:
            return fetch(self.engine, self.sql.last, (*self.live, limit))
        return fetch(self.engine, self.sql.before, (bound, *self.live, limit))

    def readable_after(self, bound: Any) -> bool:
        try:
            self.forward(bound, 1)
        except DamageError:
            return False
        return True


def read_rows(
    engine: Engine,
    sql: ToolSQL,
    now: float | None,
    damaged: Callable[[Unreadable], None],
) -> Iterator[tuple[Any, ...]]:
    """Every readable live row of a table, in order, as `(ordering value, *columns)`.

    Args:
        engine: the open file.
        sql: the table's statements.
        now: the current time for an expiring table (rows expired by then are
            skipped), else `None`.
        damaged: called once for each part that could not be read.
    """
    pages = _Pages(engine, sql, now)
    bound: Any = START
    size = PAGE
    clean = 0  # rows read one at a time since the last failure
    pending: tuple[Any, str] | None = None  # (after, reason) of a gap not yet closed
    while True:
        try:
            page = pages.forward(bound, size)
        except DamageError as exc:
            if size > 1:
                size, clean = 1, 0  # walk up to the damaged row one row at a time
                continue
            resumed = _resume(pages, bound)
            if pending is None:
                pending = (bound, str(exc))
            if resumed is None:
                break
            bound, rows = resumed
            if rows:
                damaged(Unreadable(pending[0], rows[0][0], pending[1]))
                pending = None
                yield from rows
            continue
        if not page:
            break
        if pending is not None:
            damaged(Unreadable(pending[0], page[0][0], pending[1]))
            pending = None
        yield from page
        bound = page[-1][0]
        if size == 1:
            clean += 1
            if clean >= PAGE:
                size = PAGE
    if pending is not None:
        damaged(Unreadable(pending[0], END, pending[1]))


def _resume(pages: _Pages, bound: Any) -> tuple[Any, list[Any]] | None:
    """Where reading can go on past the damage just after `bound`.

    Returns `(resume, rows)`: the rows found between the damage and `resume` (in
    order), and a value past which forward reads work again; `None` when nothing
    past the damage can be read.
    """
    try:
        top = pages.backward(END, 1)
    except DamageError:
        return None  # the end of the table is damaged too: no way round it
    if not top:
        return None
    high = top[0][0]
    if bound is not START and not (_comparable(bound, high) and high > bound):
        return None
    low = _lowest(high) if bound is START else bound
    # With nothing to search, start from the last row and read backwards.
    searched = low is not None and not pages.readable_after(low)
    good = _first_readable(pages, low, high) if searched else high
    # The rows at or below `good` and past the damage: read backwards, one at a time,
    # until the damage (or `bound`) is reached.
    rows: list[Any] = []
    cursor = _successor(good)
    while cursor is not None:
        try:
            page = pages.backward(cursor, 1)
        except DamageError:
            break
        if not page or (bound is not START and not page[0][0] > bound):
            break
        rows.append(page[0])
        cursor = page[0][0]
    rows.reverse()
    return good, rows


def _first_readable(pages: _Pages, low: Any, high: Any) -> Any:
    """A value close above the damage that starts just past `low`, from which forward
    reads work again (`high` if no closer one is found).

    A file may be damaged in several places, with readable stretches between them, so
    a plain bisection of `low`..`high` could land past a later damaged part and skip a
    readable stretch. The search gallops up from `low` instead, with steps that double
    from a tiny share of the range, and stops at the first readable point; then it
    bisects between that point and the last unreadable one, towards the damage.
    """
    start, good = low, high
    for doubling in range(GALLOP + 1):
        probe = _point(start, high, Fraction(1, 2 ** (GALLOP - doubling)))
        if probe is None or not probe > low:
            continue
        if not probe < good:
            break
        if pages.readable_after(probe):
            good = probe
            break
        low = probe
    for _ in range(MAX_PROBES):
        middle = _point(low, good, Fraction(1, 2))
        if middle is None:
            break
        if pages.readable_after(middle):
            good = middle
        else:
            low = middle
    return good


# -- values between values, in SQLite's order ----------------------------------------

_TEXT_BASE: Final = 0x110000 - 0x800  # code points without the surrogates
_DIGITS: Final = 8  # digits past the common prefix that a point between two considers


def _comparable(a: Any, b: Any) -> bool:
    return type(a) is type(b) and isinstance(a, int | float | str | bytes)


def _lowest(like: Any) -> Any:
    """A value below every stored value of `like`'s type, or `None`."""
    if isinstance(like, bool) or not isinstance(like, int | float | str | bytes):
        return None
    if isinstance(like, int):
        return -(2**63)
    if isinstance(like, float):
        return float("-inf")
    return type(like)()


def _successor(value: Any) -> Any:
    """The least value above `value` in SQLite's order (within its type), or `None`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value + 1 if value < 2**63 - 1 else None
    if isinstance(value, str):
        return value + "\x00"
    if isinstance(value, bytes):
        return value + b"\x00"
    return None  # floats: the page statements never order by a float column


def _between(low: Any, high: Any) -> Any:
    """A value strictly between `low` and `high` (same type), near the middle; or `None`."""
    return _point(low, high, Fraction(1, 2))


def _point(low: Any, high: Any, share: Fraction) -> Any:
    """The value `share` of the way from `low` to `high` (same type), if it lies strictly
    between them; else `None`."""
    if not _comparable(low, high) or not low < high:
        return None
    found: Any
    if isinstance(low, int):
        found = low + int((high - low) * share)
    elif isinstance(low, float):
        bottom, top = max(low, -1e308), min(high, 1e308)
        found = bottom + (top - bottom) * float(share)
    elif isinstance(low, str):
        digits = _point_digits(_text_digits(low), _text_digits(high), _TEXT_BASE, share)
        found = "".join(_text_char(d) for d in digits)
    else:
        found = bytes(_point_digits(list(low), list(high), 256, share))
    return found if low < found < high else None


def _text_digits(text: str) -> list[int]:
    return [cp if cp < 0xD800 else cp - 0x800 for cp in map(ord, text)]


def _text_char(digit: int) -> str:
    return chr(digit if digit < 0xD800 else digit + 0x800)


def _point_digits(low: list[int], high: list[int], base: int, share: Fraction) -> list[int]:
    """The digit string `share` of the way from `low` to `high` in lexicographic order.

    Each string is read as a number in base `base + 1` whose digits are the string's
    digits plus one, padded with zeros ("the string ended here"); lexicographic order
    is then numeric order, and the point between the two numbers is turned back into
    digits.
    """
    common = 0
    while common < min(len(low), len(high)) and low[common] == high[common]:
        common += 1
    width = common + _DIGITS
    radix = base + 1

    def number(digits: list[int]) -> int:
        total = 0
        for index in range(width):
            total = total * radix + (digits[index] + 1 if index < len(digits) else 0)
        return total

    bottom = number(low)
    point = bottom + int((number(high) - bottom) * share)
    places = []
    for _ in range(width):
        point, place = divmod(point, radix)
        places.append(place)
    places.reverse()
    while places and places[-1] == 0:
        places.pop()
    # A zero inside the number ("ended") followed by more digits is not a string: use
    # the smallest digit there instead, which keeps the order.
    return [max(place, 1) - 1 for place in places]
