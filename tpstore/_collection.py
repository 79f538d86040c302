"""The base every collection kind derives from."""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from tpstore._engine import Engine
    from tpstore._schema import CollectionSpec

PAGE = 512
"""Rows fetched per query while iterating: iteration never runs one query per item."""

REPR_ITEMS = 5
"""Items a collection's `repr()` shows before the count of the rest."""


class Collection:
    """A persisted collection bound to one table of an open store.

    Subclasses describe themselves with class attributes, which the `Store` metaclass
    and the catalog read:

    - `kind_name`: the kind recorded in the catalog (`""` for abstract bases).
    - `type_params`: `("K", "V")`, `("K",)` or `("V",)`.
    - `layout`: the table layout (see `tpstore._sqlite.Dialect.create_table`).
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

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        self._engine = engine
        self._spec = spec
        self._table = table
        self._clock = clock
        self._key = spec.key
        self._value = spec.value

    @property
    def name(self) -> str:
        """The collection's field name in its store."""
        return self._spec.name

    def _count(self) -> int:
        row = self._engine.fetchone(self._engine.dialect.count(self._spec.database), (self._table,))
        return int(row[0]) if row else 0

    def _pages(
        self,
        first: str,
        following: str,
        before: tuple[Any, ...],
        after: Callable[[], tuple[Any, ...]],
    ) -> Iterator[Any]:
        """Every row of a keyset-paginated scan, fetched `PAGE` rows at a time.

        `first` selects the first page, `following` the page after a given value of the
        order column (each row's first column). Their parameters are `before`, then
        (for `following`) that value, then `after()` (read again for each page: the
        current time of an expiring table), then the page size.
        """
        engine = self._engine
        rows = engine.fetchall(first, (*before, *after(), PAGE))
        while True:
            for row in rows:
                if engine.closed:  # rows fetched before close() are not handed out after it
                    engine.check_open()
                yield row
            if len(rows) < PAGE:
                return
            rows = engine.fetchall(following, (*before, rows[-1][0], *after(), PAGE))

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
