"""The base every collection kind derives from."""

from __future__ import annotations

import contextlib
import reprlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from tpstore import _catalog
from tpstore._bridge import running_for

if TYPE_CHECKING:
    from tpstore._engine import Engine, Params
    from tpstore._schema import CollectionSpec

T = TypeVar("T")

PAGE = 512
"""Rows of the first page of an iteration: iteration never runs one query per item."""

PAGE_GROWTH = 4
"""Each following page of an iteration holds this many times the rows of the one before
(up to `MAX_PAGE`): a loop that stops early reads little, and a whole collection takes
few queries (2,000 items: two pages)."""

MAX_PAGE = 8192

REPR_ITEMS = 5
"""Items a collection's `repr()` shows before the count of the rest."""


class _Watch:
    """One thread's view of one collection while it iterates over it.

    `iterators` counts the thread's unfinished iterations; `changes` counts the changes
    it made (of the size, for mappings and sets). An iteration remembers `changes` when
    it starts and compares at every step, as CPython's dict and deque iterators compare
    a size or a state counter: changes made by other threads, processes or store
    objects never count. `rewrites` counts the thread's other writes (a value
    replaced, a deque reversed): an iteration goes on, but reads its next rows
    afresh, so that it sees them as the builtin's iterator would.
    """

    __slots__ = ("changes", "iterators", "rewrites")

    def __init__(self) -> None:
        self.iterators = 0
        self.changes = 0
        self.rewrites = 0


class Collection:
    """A persisted collection bound to one table of an open store.

    Subclasses describe themselves with class attributes, which the `Store` metaclass
    and the catalog read:

    - `kind_name`: the kind recorded in the catalog (`""` for abstract bases).
    - `type_params`: `("K", "V")`, `("K",)` or `("V",)`.
    - `layout`: the table layout (see the dialect's `create_table`).
    - `key_ordered`: keys are kept in Python's order, so the key codec must preserve it.
    - `expiring`: items carry an expiry time.
    - `options`: the `field()` options the kind accepts besides codecs and table.
    """

    kind_name: ClassVar[str] = ""
    type_params: ClassVar[tuple[str, ...]] = ()
    layout: ClassVar[str] = ""
    key_ordered: ClassVar[bool] = False
    expiring: ClassVar[bool] = False
    options: ClassVar[frozenset[str]] = frozenset()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the builtin containers

    _changed_during_iteration: ClassVar[str | None] = None
    """The `RuntimeError` message of an iteration whose collection the iterating thread
    changed (see `_Watch`); `None` when iteration goes on (a `Sequence`, live like `list`)."""

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        self._engine = engine
        self._spec = spec
        self._table = table
        self._clock = clock
        self._key = spec.key
        self._value = spec.value
        if not getattr(engine.dialect, "text_holds_nul", True):
            self._key = self._key and self._key.refusing_nul()
            self._value = self._value and self._value.refusing_nul()
        # Written once, with its parameters: len() runs it on every call. The count row
        # belongs to the table for its whole life (its triggers name the row's id).
        self._count_sql = engine.dialect.count(spec.database)
        found = engine.fetchone(engine.dialect.catalog(spec.database).id_of, (table,))
        self._count_params = (found[0] if found else None,)
        # The declaration's schemas or options differ from what the catalog records:
        # the first write through it records them (`_recording`). Set by the store.
        self._unrecorded = False
        self._watches = threading.local()
        # `(thread, n)`: the length that thread read last, until an iteration of it
        # sizes its first page by it (`_pages`).
        self._length_hint: tuple[int, int] | None = None
        # The same for the asyncio API, by task (see `tpstore._bridge.running_for`).
        self._task_watches: weakref.WeakKeyDictionary[object, _Watch] = weakref.WeakKeyDictionary()

    # -- changes made while iterating ------------------------------------------------------

    def _watch(self) -> _Watch:
        """The calling thread's (or asyncio task's) iterators and the changes it made."""
        task = running_for()
        if task is not None:
            return self._watch_of(task)
        try:
            watch: _Watch = self._watches.watch
        except AttributeError:
            watch = self._watches.watch = _Watch()
        return watch

    def _watch_of(self, task: object) -> _Watch:
        """An asyncio task's iterators of this collection and the changes it made."""
        watch = self._task_watches.get(task)
        if watch is None:
            watch = self._task_watches.setdefault(task, _Watch())
        return watch

    # -- writing ---------------------------------------------------------------------------
    #
    # Every write of a collection runs one of the engine's writing methods through
    # `_through`: one flag test per write, and nothing more once the declaration is
    # recorded.

    def _through(self, write: Callable[..., T]) -> Callable[..., T]:
        """`write`, or `write` recording a changed declaration while it is unrecorded."""
        return self._recording(write) if self._unrecorded else write

    def _recording(self, write: Callable[..., T]) -> Callable[..., T]:
        """`write`, recording the declaration in the catalog when it changes something.

        The record joins the write's transaction (one is opened around a single
        statement), so a write that rolls back records nothing and the next one tries
        again; the flag clears once a transaction with the record in it commits
        (DESIGN.md §6: a changed declaration is recorded by its first write, never by
        opening).
        """

        def recording(*args: Any) -> T:
            engine = self._engine
            engine.check_writable()
            with contextlib.nullcontext() if engine.in_transaction else engine.transaction():
                result = write(*args)
                key = ("record", self._spec.database, self._table)
                if result and engine.once_per_commit(key, self._recorded):
                    _catalog.record(engine, self._spec, self._table, self._clock())
            return result

        return recording

    def _recorded(self) -> None:
        self._unrecorded = False

    def _write(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement of a change that iterators must notice."""
        engine = self._engine
        changed = self._through(engine.write)(sql, params)
        if changed:
            self._watch().changes += 1
        return changed

    def _write_many(self, sql: str, rows: Sequence[Params]) -> int:
        """`_write` for many parameter rows; call inside `atomic()`."""
        engine = self._engine
        write_many = self._through(engine.write_many)
        changed = write_many(sql, rows)
        if changed:
            self._watch().changes += 1
        return changed

    def _rewrite(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement that iterations go on over (see `_Watch`)."""
        engine = self._engine
        changed = self._through(engine.write)(sql, params)
        if changed:
            self._watch().rewrites += 1
        return changed

    def _count(self) -> int:
        row = self._engine.fetch_point(self._count_sql, self._count_params)
        count = int(row[0]) if row else 0
        if count >= PAGE:  # (a first page of `PAGE` rows holds a shorter collection)
            self._length_hint = (get_ident(), count)
        return count

    def _pages(
        self,
        first: str,
        following: str,
        before: tuple[Any, ...],
        after: Callable[[], tuple[Any, ...]],
        *,
        end: Callable[[], Any] | None = None,
        bounded: str = "",
    ) -> Iterator[Any]:
        """Every row of a keyset-paginated scan, fetched a page at a time (`PAGE` rows,
        then more each page: `PAGE_GROWTH`).

        `first` selects the first page, `following` the page after a given value of the
        order column (each row's first column). Their parameters are `before`, then
        (for `following`) that value, then `after()` (read again for each page: the
        current time of an expiring table), then the page size.

        `end` and `bounded` make the scan an iteration of the collection. `end` returns
        the last value of the order column in the scan's direction (or `None`: nothing
        is left); it is read before the third page, and `bounded` (`following` with
        that value as one more parameter, after the first value) reads every page from
        then on, so that other processes adding rows all the time cannot make the
        iteration endless. And when the iterating thread changes the collection
        meanwhile, the next step raises `RuntimeError` with the kind's
        `_changed_during_iteration` message.

        When the thread has just read the collection's length (`list()` asks `len()`
        first), the first page is sized to hold every row: one query, where a loop
        reads two pages and, before a third, the bound.
        """
        engine = self._engine
        watch = self._watch()
        seen, rewritten = watch.changes, watch.rewrites
        message = self._changed_during_iteration if end is not None else None
        watch.iterators += 1
        try:
            size = PAGE
            hint = self._length_hint
            if hint is not None and hint[0] == get_ident():
                self._length_hint = None
                size = min(max(size, hint[1] + 1), MAX_PAGE)
            rows = engine.fetchall(first, (*before, *after(), size))
            pages = 1
            bound: tuple[Any, ...] = ()
            driver = engine.driver
            while True:
                for row in rows:
                    if driver.closed:  # rows fetched before close() are not handed out after it
                        engine.check_open()
                    yield row
                    if watch.changes == seen and watch.rewrites == rewritten:
                        continue  # (the loop's one test per row, as long as nothing changed)
                    if message is not None and watch.changes != seen:
                        raise RuntimeError(message)
                    if end is not None and watch.rewrites != rewritten:
                        rewritten = watch.rewrites  # the rows after this one read afresh
                        break
                else:
                    if len(rows) < size:
                        return
                if end is not None and pages >= 2 and not bound:
                    last = end()
                    if last is None:
                        return
                    bound = (last,)
                size = min(size * PAGE_GROWTH, MAX_PAGE)
                query = bounded if bound else following
                rows = engine.fetchall(query, (*before, row[0], *bound, *after(), size))
                pages += 1
        finally:
            watch.iterators -= 1

    def _head(self, n: int) -> list[Any]:
        """The first `n` rows in the collection's order, for `repr()`."""
        raise NotImplementedError

    def _describe(
        self, render: Callable[[list[Any]], str], opening: str, closing: str, empty: str
    ) -> str:
        """`<Kind 'name': {first items, … N items}>`, reading only the first few items.

        `render` turns the rows of `_head()` into text. When the items cannot be read
        (a closed store, a value that no longer decodes) only kind and name are shown:
        `repr()` never raises.
        """
        head = f"<{self.kind_name or type(self).__name__} {self._spec.name!r}"
        if self._engine.closed:
            return f"{head} (closed)>"
        try:
            total = len(self)  # type: ignore[arg-type]
            rows = self._head(REPR_ITEMS) if total else []
            shown = render(rows)
        except Exception:  # repr() must describe even a broken collection
            return f"{head}>"
        if not rows:
            return f"{head}: {empty}>"
        if total > len(rows):
            shown += f", … {total:,} items"
        return f"{head}: {opening}{shown}{closing}>"

    def _migrate(self) -> int:
        """`migrate()` of every kind: rewrite the stored values that need the hook.

        In batches inside one transaction; returns how many values were rewritten. A
        value the hook cannot upgrade raises `CorruptValueError` and nothing is written.
        """
        converter = self._value
        if converter is None or converter.migrate is None:
            return 0
        sql = self._engine.dialect.values(self._spec.database, self._table, self.layout)
        rewritten = 0
        index = 0
        with self._engine.transaction():
            rows = self._engine.fetchall(sql.first, (PAGE,))
            while rows:
                updates = []
                for primary, raw_key, raw in rows:
                    if not converter.is_current(raw):
                        key = self._key.decode(raw_key) if self._key is not None else None
                        if self.layout == "positioned":
                            key = index
                        value = converter.upgrade(raw, key)
                        updates.append((converter.encode(value, key), primary))
                    index += 1
                if updates:
                    # Values rewritten through the declaration: it is recorded.
                    rewritten += self._recording(self._engine.write_many)(sql.update, updates)
                rows = self._engine.fetchall(sql.after, (rows[-1][0], PAGE))
        return rewritten

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._spec.name!r} of {self._table!r}>"


_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = 60


def _shown(value: object) -> str:
    """A short `repr()` of one item for a collection's `repr()`; never raises."""
    try:
        return _reprs.repr(value)
    except Exception:  # a user object's __repr__ may raise anything
        return f"<{type(value).__name__} object>"


def wait_seconds(timeout: float) -> float:
    """A blocking pop's `timeout` in seconds, refused as `queue.Queue.get` refuses it."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
    if not timeout >= 0:
        raise ValueError("'timeout' must be a non-negative number")
    return float(timeout)
