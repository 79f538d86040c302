"""What a backend provides: the seam between tpstore's core and one kind of database.

A backend is two objects, after SQLAlchemy's split:

- a **dialect** (`Dialect`): pure, no I/O. Every statement the collections, the catalog,
  the store's maintenance and the command line run; the column type of each codec
  affinity; identifier rules; parameter style and batch limits; capability flags.
- a **driver** (`Driver`): connections, sessions, transaction verbs and savepoints,
  error translation into the tpstore error tree, maintenance, and what happens to
  connections in a forked child.

The core engine (`tpstore._engine.Engine`) keeps the transaction depth and readonly
levels of each `Session`, runs statements through it, and is the same for every
backend.

**The one guarantee every driver gives** (the collections rely on it): *a writing
transaction, or a single writing statement outside one, is serialised with every other
writer of the same store*, in this process and in every other. Compound operations
(`increment`, `pop`, `setdefault`, `edit`, deque pops, sequence splices...) are a read
followed by a write inside `Engine.atomic()`; they lose no update only because
`Driver.begin(session, write=True)` returns holding the store's write lock, held until
commit or rollback. SQLite provides it with `BEGIN IMMEDIATE` (the file's write lock);
a server database under MVCC must provide it its own way (a lock row taken `FOR
UPDATE`, say), or compound operations would silently lose updates. A driver may run a
*single* statement without that lock wherever the database itself makes that one
statement atomic, and may do the same for a single statement whose returned rows are
checked before they are committed (a deque's pop, decoding the item: `Driver.take`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar

from tpstore.errors import TpStoreError

T = TypeVar("T")

Params = Sequence[Any]
"""The parameters of one statement, in the dialect's parameter style."""

CATALOG: Final = "_tpstore_catalog"
"""The catalog table tpstore keeps in every file (or schema) it writes."""

COUNTS: Final = "_tpstore_counts"
"""Item counts per catalog row, in a narrow table of their own: the count triggers
rewrite one row per change, and a row holding only two integers is cheap to rewrite."""

HISTORY: Final = "_tpstore_history"
"""Every key and value schema each collection has had, in order, with the time each was
first recorded (DESIGN.md §6). A file made before it existed has none until its first
read-write open creates it."""

RESERVED_PREFIX: Final = "_tpstore_"
"""Table names starting with this belong to tpstore itself, on every backend."""

RESERVED_NAMES: Final = re.compile(r"^(?:_tpstore_|(?i:sqlite_))")
"""Names no declaration may use: tpstore's own, and those a backend reserves (SQLite's
`sqlite_...`, in any case). A declaration is refused when any backend reserves a name,
so every store class opens on every backend."""

FORMAT_VERSION: Final = 1
"""The layout version of the tables tpstore creates, recorded per collection."""

CATALOG_COLUMNS: Final = (
    "id",
    "name",
    "kind",
    "key_codec",
    "key_affinity",
    "value_codec",
    "value_affinity",
    "key_schema",
    "value_schema",
    "options",
    "format",
)
"""The catalog's columns, in the order every dialect declares them."""


class Cursor(Protocol):
    """The result of one statement (the DB-API subset tpstore uses)."""

    @property
    def rowcount(self) -> int:
        """Rows a writing statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or `None`."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        ...

    def fetchmany(self, size: int, /) -> list[Any]:
        """At most `size` more rows."""
        ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A driver's connection, as the engine runs statements on it."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Cursor:
        """Run one statement once per parameter row."""
        ...


class Session:
    """One connection and the transaction state of whoever holds it right now.

    A session is taken from its driver's pool for the length of one statement or one
    outermost transaction, and given back afterwards; during a transaction the engine
    finds it through a `contextvars.ContextVar`, so the thread (later: the asyncio
    task) that opened the transaction, and only it, runs inside it.
    """

    __slots__ = ("busy", "connection", "depth", "live", "owner", "pending", "readonly")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # Transaction nesting depth: 0 outside a transaction.
        self.depth = 0
        # readonly[i] is True when nesting level i+1 was opened with readonly=True.
        self.readonly: list[bool] = []
        # The thread that opened the session's transaction (None outside one).
        self.owner: int | None = None
        # Taken from the pool right now (the fork hook reads it: see the SQLite driver).
        self.busy = False
        # False once the driver closed or abandoned the connection (close, fork).
        self.live = True
        # Work done once per transaction (`Engine.once_per_commit`): key -> [the nesting
        # level that did it, what to run after the outermost level commits].
        self.pending: dict[object, list[Any]] = {}


def owner() -> int:
    """Who owns a transaction opened now: the calling thread."""
    return threading.get_ident()


class Dialect(Protocol):
    """Pure statement text and rules of one backend (see the module docstring)."""

    mark: str
    """The parameter placeholder (`?` or `%s`)."""

    max_params: int
    """The most parameters one statement may take; `get_many` batches stay below it."""

    returning: bool
    """Whether writing statements may end in `RETURNING`."""


class Driver(Protocol):
    """Connections, sessions and transactions of one store (see the module docstring).

    Optional: `fetch_point(sql, params)`, the row of a query selecting at most one row,
    run outside a transaction on a pooled session (`acquire`, the query and `release`
    in one call), raising the database's own errors; the engine's point reads use it
    where a driver has it (the SQLite driver does).

    Optional: `take(session, sql, params, check)`, one writing statement with RETURNING
    outside a transaction whose rows `check` sees before they are committed (nothing is
    written when it raises), run without the store's write lock where the statement is
    atomic by itself; `Engine.take` uses it where a driver has it (the PostgreSQL
    driver does), and `atomic()` otherwise.
    """

    dialect: Any
    schemas: tuple[str, ...]
    mode: str
    timeout: float
    location: str | None
    """What `repr()` and error messages show for the store (a path, `None` in memory)."""

    errors: tuple[type[BaseException], ...]
    """Exceptions a statement may raise that `translate` turns into tpstore errors."""

    group_commit: bool
    """Whether the writers of one process queue in the engine and share commits
    (`tpstore._writers`): a session may then be used by several threads in turn, one at
    a time. False where the driver serialises threads itself (one shared connection).
    A driver whose commits do not sync to disk says so with `commits_sync = False` (an
    optional attribute, True when absent): its writers then take turns patiently
    (`tpstore._writers.PATIENCE`)."""

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        ...

    def check_usable(self) -> None:
        """Raise `ClosedError` after `close()`, or why the store cannot be used here."""
        ...

    def acquire(self) -> Session:
        """A session for one statement or one transaction: from the pool, or a new one.

        May wait (up to `timeout`, then `BusyError`) where the backend has a single
        connection.
        """
        ...

    def release(self, session: Session) -> None:
        """Give a session back to the pool (or close it when the pool is full)."""
        ...

    def begin(self, session: Session, *, write: bool, deadline: float | None = None) -> None:
        """Open a transaction; `write=True` holds the store's write lock until its end.

        Waiting for the lock ends at `deadline` (`time.monotonic()`; by default `timeout`
        from now) with `BusyError`.
        """
        ...

    def lock_taken(self, exc: BaseException) -> bool:
        """Whether a statement's `exc` only says another connection held a lock: the
        statement did nothing, and `retry_locked` may run it again."""
        ...

    def retry_locked(self, run: Callable[[], T], deadline: float | None = None) -> T:
        """Run `run()` (a statement that found a lock taken) until it gets the lock, or
        raise `BusyError` at `deadline` (by default `timeout` from now)."""
        ...

    def savepoint(self, session: Session, level: int) -> None:
        """Open the savepoint of nesting level `level` (1 or more)."""
        ...

    def release_savepoint(self, session: Session, level: int) -> None:
        """Keep the work of savepoint `level` in the enclosing level."""
        ...

    def rollback_to(self, session: Session, level: int) -> None:
        """Undo the work of savepoint `level` and drop it."""
        ...

    def commit(self, session: Session) -> None:
        """Commit the outermost transaction."""
        ...

    def rollback(self, session: Session) -> None:
        """Roll the outermost transaction back (nothing when the database already did)."""
        ...

    def in_transaction(self, session: Session) -> bool:
        """Whether the database still holds the session's transaction open."""
        ...

    def translate(self, exc: BaseException, context: str | None = None) -> TpStoreError | None:
        """The tpstore error for `exc` raised by a statement, or `None` to let it go."""
        ...

    def changes(self, schema: str, deadline: float) -> Iterator[None]:
        """Yield now, then after every commit to `schema` by anyone else, until `deadline`.

        `deadline` is a `time.monotonic()` value (`math.inf` for never). Holds no lock
        and no transaction while it waits; blocking pops (`Deque.popleft(timeout=...)`)
        try once per step.
        """
        ...

    def settle(self) -> None:
        """Apply the settings written into the files once the catalog check passed."""
        ...

    def close(self) -> None:
        """Close every connection; idempotent."""
        ...

    # Maintenance: each runs on a session outside any transaction.

    def vacuum(self, session: Session) -> None:
        """Give free space back (SQLite: `VACUUM` and a checkpoint of every file)."""
        ...

    def optimize(self, session: Session) -> None:
        """Refresh the query planner's statistics."""
        ...

    def checkpoint(self, session: Session) -> None:
        """Move committed work from the journal into the files (a no-op where there is none)."""
        ...

    def backup(self, session: Session, schema: str, target: str) -> None:
        """Write a consistent copy of one database (`schema`) to the file `target`."""
        ...
