"""The PostgreSQL driver: sessions on a server, the writer lock, savepoints, fork safety.

Sessions: a small pool of configured psycopg connections in autocommit mode; a thread
takes one for the length of a statement or of an outermost transaction, as on SQLite.

**The seam's guarantee under MVCC.** PostgreSQL runs transactions side by side and, at
READ COMMITTED, a read-modify-write in one of them loses the update another commits in
between. Inside `with store.transaction():` and `edit()` user code runs, so a conflicting
transaction cannot simply be retried. So:

- a writing transaction starts by locking the store's lock row (one per schema, `SELECT
  ... FOR UPDATE`, in schema order), the analogue of SQLite's `BEGIN IMMEDIATE`: writing
  transactions of a store run one at a time, on any number of machines;
- a single writing statement outside a transaction takes the same rows `FOR KEY SHARE`,
  which only a writing transaction's lock excludes: it never runs in the middle of a
  transaction (whose reads must stay true until it commits), but single statements do
  not wait for each other. Each of them is atomic by itself: an UPSERT, a `DELETE ...
  RETURNING` pop that skips the rows other pops have locked (`SKIP LOCKED`), counters
  kept in per-process rows. An UPSERT takes the lock inside the statement itself
  (`tpstore._backends.postgresql.rewrites.locked_upsert`), prepared as any statement;
  other statements go with the lock in one round trip, as one simple query, which the
  server runs as one implicit transaction: each statement of it reads the data
  committed before it started, so the statement sees whatever a transaction it waited
  for committed (an append's `max(pos) + 1` must; inside one statement, a lock taken
  in a `WITH` would not do: the statement reads the data as it was before it waited,
  and an append after a transaction that removed the last items would leave a gap).
  The lock and the write are prepared on the session the first time and sent as
  `EXECUTE name(literals)` (`PostgresConnection.bound`), so the server neither parses
  nor plans them again. A single statement that collided with another one (two appends
  choosing the same position, a deadlock) changed nothing and is run again, until
  `timeout`.
- a pop (`Engine.take`) is checked before its commit, so that an item that does not
  decode stays queued: `BEGIN`, the lock and the `DELETE ... RETURNING` in one round
  trip, then `COMMIT` or `ROLLBACK`. A value stored as it is (an `int`, `str`, `bytes`
  or `float` column) decodes whatever it holds but NULL: its pop takes the item only
  when it is not NULL and commits in the same round trip; a NULL item is left to the
  checked pop, which raises and keeps it.
- a read-only transaction is a REPEATABLE READ snapshot and takes no lock.

**A failed statement aborts a PostgreSQL transaction**, where SQLite fails only the
statement. Every write inside a transaction therefore runs inside a savepoint of its own
(sent with it, in one simple query), so a refused write leaves the user's transaction usable,
as on SQLite.

**Forks.** Closing a connection sends the server a "terminate" message on the socket,
which a forked child shares with its parent: a child that closed (or garbage-collected)
its copy would end the parent's session. So a forked child never touches the parent's
connections: it keeps them referenced for ever, unused, and opens its own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Final, TypeVar

import psycopg
from psycopg import conninfo, pq

from tpstore._backends import shown
from tpstore._backends.base import CATALOG, COUNTS, HISTORY, Session
from tpstore._backends.postgresql.counting import Target, counted, target
from tpstore._backends.postgresql.dialect import LOCKS, Dialect, lock_row, quote
from tpstore._backends.postgresql.errors import redact, translate, translate_statement_error
from tpstore._backends.postgresql.rewrites import chunked, locked_upsert, typed
from tpstore.errors import BusyError, ClosedError, TpStoreError

MAX_IDLE: Final = 8
"""Idle connections a store keeps for reuse; more are closed when given back."""

_UNIQUE_VIOLATION: Final = "23505"

_UNPREPARED: Final = "26000"
"""The SQLSTATE of an `EXECUTE` of a statement no longer prepared: psycopg deallocates
every statement of a session after a `ROLLBACK` or a `DROP` once it has prepared some of
its own. The write changed nothing and runs again, prepared anew."""

_STATEMENT_TIMEOUT: Final = "57014"

_SAVEPOINT: Final = "SAVEPOINT tpstore_statement"
_RELEASE: Final = "RELEASE SAVEPOINT tpstore_statement"


_RETRY: Final = frozenset({_UNIQUE_VIOLATION, "40001", "40P01", _UNPREPARED})

MAX_PREPARED: Final = 256
"""Writing statements a session prepares (`PostgresConnection.bound`); others are sent
as they are."""

MAX_PARAMS_PREPARED: Final = 65_536

_PARSED_ONCE: Final = 50
"""The most parameters of a statement whose parsing psycopg keeps for the next call."""

_UNPREPARABLE: Final = frozenset({"42P18", "42804", "42725", "42P08"})
"""SQLSTATEs of a `PREPARE` refused for the statement itself (a parameter whose type
the server cannot tell): it is sent as it is from then on."""

_STALE_PLAN: Final = frozenset({"0A000", "42804", "42P01", "42703", "3F000"})
"""SQLSTATEs an `EXECUTE` may answer when a prepared plan outlived its table's shape."""

_AT_ONCE: Final = 3
"""Tries run again without a pause after a unique violation (see `_retrying`)."""
"""SQLSTATEs after which a single statement outside a transaction is run again: it
collided with a concurrent one (unique violation, serialization failure, deadlock)
and changed nothing."""

T = TypeVar("T")

_WRITES: Final = frozenset({"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER"})

# Connections a forked child inherited: never closed, never used (module docstring).
_abandoned: list[psycopg.Connection[Any]] = []

_drivers: weakref.WeakSet[PostgresDriver] = weakref.WeakSet()

_names = itertools.count()
"""Numbers the statements sessions prepare (`PostgresConnection.bound`)."""

_TOKENS = re.compile(r"\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|\$\$.*?\$\$|\?|%", re.DOTALL)


@lru_cache(maxsize=4096)
def convert(sql: str) -> tuple[str, bool]:
    """The statement in psycopg's parameter style, and whether it writes.

    The dialects write `?` placeholders; psycopg takes `%s` and reads every other `%`
    (also inside quoted names) as the start of one, so those are doubled.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    words = sql.lstrip().split(None, 1)
    return _TOKENS.sub(replace, sql), bool(words) and words[0].upper() in _WRITES


class PostgresConnection:
    """A session's psycopg connection, as the engine runs statements on it."""

    __slots__ = ("binder", "driver", "prepared", "raw", "reader", "writer")

    def __init__(self, raw: psycopg.Connection[Any], driver: PostgresDriver) -> None:
        self.raw = raw
        self.driver = driver
        # Binds parameters on the client (`mogrify`), for the writes sent as one simple
        # query with the statements around them (module docstring).
        self.binder = psycopg.ClientCursor(raw)
        # Runs the point reads (`PostgresDriver.fetch_point`): no new cursor per read.
        self.reader = raw.cursor()
        # Runs the single UPSERTs outside a transaction (`execute`), as `reader`.
        self.writer = raw.cursor()
        # Writes prepared on this session, by statement: the name to EXECUTE, or "" for
        # a statement the server cannot prepare (`bound`).
        self.prepared: dict[str, str] = {}

    def bound(self, query: str, parameters: Sequence[Any]) -> str:
        """`query` with its parameters bound, as text to send in a simple query.

        Sent as it is, the server would parse and plan it at every call; so a writing
        statement is prepared on the session the first time (while no transaction is
        open, where a failed `PREPARE` harms nothing) and sent as `EXECUTE name(...)`,
        each parameter a literal the server casts to the type the statement gave it.
        """
        name = self.prepared.get(query)
        if name is None:
            name = self._prepare(query)
        if not name:
            return self.binder.mogrify(query, parameters)
        if not parameters:
            return f"EXECUTE {name}"
        return self.binder.mogrify(f"EXECUTE {name}({_marks(len(parameters))})", parameters)

    def _prepare(self, query: str) -> str:
        """Prepare `query` on this session when it can be: its name, or ""."""
        raw = self.raw
        if len(self.prepared) >= MAX_PREPARED or (
            raw.info.transaction_status != pq.TransactionStatus.IDLE
        ):
            return ""
        name = f"tpstore_{next(_names)}"
        try:
            raw.execute(f"PREPARE {name} AS {_numbered(query)}")
        except psycopg.Error as exc:
            _end_transaction(raw)
            if exc.sqlstate in _UNPREPARABLE:
                self.prepared[query] = ""
            return ""  # (the statement itself, sent as it is, reports any other error)
        self.prepared[query] = name
        return name

    def forget(self, exc: BaseException) -> None:
        """After an error: drop the prepared statements when it may come from their
        plans (a table dropped or changed since), so they are prepared anew."""
        if not isinstance(exc, psycopg.Error) or not self.prepared:
            return
        if exc.sqlstate == _UNPREPARED:
            self.prepared.clear()  # (deallocated already)
        elif exc.sqlstate in _STALE_PLAN:
            names = [name for name in self.prepared.values() if name]
            self.prepared.clear()
            raw = self.raw
            if (
                names
                and not raw.closed
                and raw.info.transaction_status == pq.TransactionStatus.IDLE
            ):
                with contextlib.suppress(psycopg.Error):
                    self.simple("; ".join(f"DEALLOCATE {name}" for name in names))

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Run one statement: reads as they are, writes as the module docstring says."""
        raw = self.raw
        idle = raw.info.transaction_status == pq.TransactionStatus.IDLE
        if idle and (upsert := self.driver.upserts.get(sql)) and typed(parameters):
            # The path of `m[k] = v` and `increment`: one statement, as prepared by psycopg.
            writer = self.writer
            return self._retrying(lambda: writer.execute(upsert, parameters))
        query, write = convert(sql)
        if not write:
            return raw.execute(query, parameters)
        if idle and (locked := locked_upsert(query)) is not None:
            self.driver.upserts[sql] = locked = self.counted(locked)
            if typed(parameters):
                return self._retrying(lambda: raw.execute(locked, parameters))
        if not idle:
            return self._in_savepoint(counted(query), parameters)
        query = self.counted(query)
        skipped = self.driver.skipped
        return self._retrying(
            lambda: self.simple(self.bound_locks + self.bound(query, parameters), skipped)
        )

    def counted(self, query: str) -> str:
        """`query` keeping its collection's counter row (`counting.counted`), with the
        collection's catalog id written in: call it outside a transaction, where the
        id read is a committed one (a catalog row is never deleted, so a table keeps
        its id for its whole life)."""
        driver = self.driver
        text = driver.counted.get(query)
        if text is None:
            found = target(query)
            catalog_id = None if found is None else self._catalog_id(found)
            text = counted(query, catalog_id)
            if found is None or catalog_id is not None:
                driver.counted[query] = text
        return text

    def _catalog_id(self, found: Target) -> int | None:
        ids = self.driver.catalog_ids
        catalog_id = ids.get(found)
        if catalog_id is None:
            try:
                row = self.reader.execute(
                    f"SELECT id FROM {found.schema}.{CATALOG} WHERE name = %s",
                    (found.table.replace("%%", "%"),),
                ).fetchone()
            except psycopg.Error:
                _end_transaction(self.raw)
                return None  # (the statement reads it itself, and reports any error)
            if row is None:
                return None
            catalog_id = ids[found] = int(row[0])
        return catalog_id

    @property
    def bound_locks(self) -> str:
        """The lock rows a single write outside a transaction takes in shared mode, as
        the head of its simple query (prepared, as `bound`)."""
        driver = self.driver
        return "".join(f"{self.bound(lock, ())}; " for lock in driver.shared)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> _ManyResult:
        """Run one writing statement for many parameter rows, in few statements
        (`tpstore._backends.postgresql.rewrites`)."""
        query, _ = convert(sql)
        rows = parameters if isinstance(parameters, list | tuple) else list(parameters)
        raw = self.raw

        def run() -> int:
            cursor = raw.cursor()
            numbered = psycopg.RawCursor(raw)
            changed = 0
            for chunk, values in chunked(query, rows):
                statement = counted(chunk)
                if len(values) > _PARSED_ONCE:
                    # psycopg would parse a statement of so many parameters again at every
                    # call (10,000 rows: most of the client's time); in the server's own
                    # style (`$1`) it is not parsed at all.
                    changed += max(0, numbered.execute(_numbered(statement), values).rowcount)
                else:
                    changed += max(0, cursor.execute(statement, values).rowcount)
            return changed

        if raw.info.transaction_status != pq.TransactionStatus.IDLE:

            def savepointed() -> int:
                raw.execute(_SAVEPOINT)
                changed = run()
                raw.execute(_RELEASE)
                return changed

            return _ManyResult(self._savepointed(savepointed))

        def single() -> int:
            self.simple(self.driver.begin_shared)
            changed = run()
            raw.execute("COMMIT")
            return changed

        return _ManyResult(self._retrying(single))

    def _in_savepoint(self, query: str, parameters: Sequence[Any]) -> psycopg.Cursor[Any]:
        """Run a writing statement inside the open transaction, in a savepoint of its own
        sent with it, so that its failure leaves the transaction usable."""
        # Bound first: a value psycopg cannot send raises here, before anything is sent.
        bound = self.bound(query, parameters)
        try:
            return self._savepointed(lambda: self.simple(f"{_SAVEPOINT}; {bound}; {_RELEASE}", 1))
        except psycopg.Error as exc:
            if exc.sqlstate != _UNPREPARED:
                raise
            self.prepared.clear()
        return self._in_savepoint(query, parameters)  # (not prepared inside a transaction)

    def simple(self, text: str, skipped: int = 0) -> psycopg.Cursor[Any]:
        """Send `text` (bound statements, `;`-separated) as one simple query, on the
        session's client-side cursor; it stands on the result of the statement after
        the first `skipped` ones (read it before the session's next statement)."""
        cursor = self.binder
        cursor.execute(text)
        for _ in range(skipped):
            cursor.nextset()
        return cursor

    def _savepointed(self, run: Callable[[], T]) -> T:
        """`run()` inside the open transaction, in a savepoint of its own that `run`
        opens with `_SAVEPOINT` and releases with `_RELEASE` (sent with its statements
        where it can): when it fails, the savepoint is undone, so the transaction stays
        usable."""
        try:
            return run()
        except BaseException:
            raw = self.raw
            if not raw.closed and raw.info.transaction_status != pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    self.simple(f"ROLLBACK TO SAVEPOINT tpstore_statement; {_RELEASE}")
            raise

    def _retrying(self, run: Callable[[], T]) -> T:
        """`run()` as a transaction of its own, run again while it collides with another
        (it changed nothing) until `timeout`.

        After a unique violation it runs again at once, the first few times: the server
        reports one only once the other writer of that row has committed, so the next
        try sees its row (two appends that chose the same position). Otherwise it waits
        a few random milliseconds first.
        """
        raw = self.raw
        deadline = time.monotonic() + self.driver.timeout
        attempt = 0
        while True:
            try:
                return run()
            except Exception as exc:
                _end_transaction(raw)
                self.forget(exc)
                if (
                    not isinstance(exc, psycopg.Error)
                    or exc.sqlstate not in _RETRY
                    or time.monotonic() > deadline
                ):
                    raise
                if exc.sqlstate != _UNIQUE_VIOLATION or attempt >= _AT_ONCE:
                    time.sleep(random.uniform(0.0005, 0.005))
                attempt += 1


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


_PLACEHOLDERS = re.compile(r"%[s%]")


@lru_cache(maxsize=64)
def _numbered(query: str) -> str:
    """`query` (psycopg's `%s` style) with the server's `$1, $2, ...` placeholders."""
    numbers = iter(range(1, MAX_PARAMS_PREPARED))
    return _PLACEHOLDERS.sub(lambda m: "%" if m.group(0) == "%%" else f"${next(numbers)}", query)


class _ManyResult:
    """What `executemany` returns: a row count, and no rows."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        """No row."""
        return None

    def fetchall(self) -> list[Any]:
        """No rows."""
        return []

    def fetchmany(self, size: int, /) -> list[Any]:
        """No rows."""
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


def _end_transaction(raw: psycopg.Connection[Any]) -> None:
    """Roll back whatever transaction `raw` has open (after an error)."""
    if raw.closed:
        return
    if raw.info.transaction_status != pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            raw.execute("ROLLBACK")


class PostgresDriver:
    """Owns the server sessions of one store."""

    errors: Final = (psycopg.Error, UnicodeEncodeError)

    group_commit: Final = False
    """No writer queue nor group commit in the engine (`tpstore._writers`): single
    writing statements do not wait for each other here (`FOR KEY SHARE`), and the server
    already flushes the commits of concurrent sessions together; writing transactions
    wait for the lock rows in the server's lock queue, first come first served."""

    def __init__(
        self,
        url: str,
        *,
        attach: dict[str, str],
        mode: str,
        wal: bool | None,
        durability: str,
        timeout: float,
    ) -> None:
        if mode == "immutable":
            raise ValueError(
                "mode='immutable' is for SQLite files nobody writes; a PostgreSQL store "
                "takes mode='rw' or mode='ro'"
            )
        if wal is not None:
            raise ValueError("wal= chooses an SQLite file's journal; leave it unset for PostgreSQL")
        self.url = url
        self.location = shown(url)
        self.mode = mode
        self.durability = durability
        self.timeout = float(timeout)
        # lock_timeout = 0 would mean "wait for ever".
        self._lock_wait = max(1, round(self.timeout * 1000))
        # The session's timeouts again, once a writing transaction holds its locks
        # (`begin`); the session never sets `statement_timeout` (the URL's options may).
        self._after_locks = (
            f"; SET LOCAL lock_timeout = {self._lock_wait}; SET LOCAL statement_timeout TO DEFAULT"
        )
        self.attach = dict(attach)
        self._closed = False
        self._pid = os.getpid()
        self._sessions: list[Session] = []
        self._idle: list[Session] = []
        self._registry_lock = threading.Lock()
        self._unusable: str | None = None
        self._offset = 0.0
        info = _conninfo(url)
        self._where = (
            f"database {info.get('dbname') or '(default)'!r} on "
            f"{info.get('host') or info.get('hostaddr') or 'the default host'}"
        )
        first = self._open()
        try:
            main = self._current_schema(first)
            self.schemas = ("main", *self.attach)
            real = {"main": main, **self.attach}
            self.dialect = Dialect(real)
            order = sorted(set(real.values()))
            self.locks = tuple(lock_row(quote(s), "UPDATE") for s in order)
            shared = [lock_row(quote(s), "KEY SHARE") for s in order]
            # A single write outside a transaction goes out as one simple query: the lock
            # rows in shared mode, then the statement (one implicit transaction).
            self.shared = [convert(lock)[0] for lock in shared]
            self.skipped = len(shared)
            # Texts a session sends outside a transaction (`PostgresConnection.execute`
            # and `counted`), by statement, with the catalog ids written in them.
            self.upserts: dict[str, str] = {}
            self.counted: dict[str, str] = {}
            self.catalog_ids: dict[Target, int] = {}
            # ... and a bulk one opens its transaction with the same locks.
            self.begin_shared = "; ".join(["BEGIN", *shared])
            self._measure_clock(first)
            if mode == "rw":
                self._bootstrap(first, [real[name] for name in self.schemas])
        except BaseException:
            self._discard(first)
            raise
        self.release(first)
        _drivers.add(self)

    # -- sessions -----------------------------------------------------------------------

    def acquire(self) -> Session:
        """A session for one statement or one outermost transaction."""
        if self._closed or self._unusable is not None or os.getpid() != self._pid:
            self.check_usable()
        try:
            session = self._idle.pop()
        except IndexError:
            session = self._open()
        session.busy = True
        return session

    def fetch_point(self, sql: str, params: Sequence[Any]) -> Any:
        """The row of a query that selects at most one row, run outside a transaction.

        `acquire`, the query and `release` in one call, on the session's own cursor:
        the path of every point read (`m[k]`, `in`, `len()`). An error propagates
        untranslated, with the session given back; the engine deals with it.
        """
        session = self.acquire()
        try:
            connection: PostgresConnection = session.connection  # type: ignore[assignment]
            return connection.reader.execute(convert(sql)[0], params).fetchone()
        finally:
            self.release(session)

    def release(self, session: Session) -> None:
        """Give `session` back: to the pool, or closed when the pool is full."""
        session.busy = False
        if not session.live:
            return
        raw = _raw(session)
        if raw.closed or raw.info.transaction_status != pq.TransactionStatus.IDLE:
            _end_transaction(raw)
            if raw.closed or raw.info.transaction_status != pq.TransactionStatus.IDLE:
                self._discard(session)
                return
        self._idle.append(session)
        if len(self._idle) > MAX_IDLE:
            try:
                extra = self._idle.pop(0)
            except IndexError:  # pragma: no cover - another thread emptied the pool
                return
            self._discard(extra)

    def _discard(self, session: Session) -> None:
        with self._registry_lock, contextlib.suppress(ValueError):
            self._sessions.remove(session)
        self._let_go(session)

    def _let_go(self, session: Session) -> None:
        """Close a session's connection; in a forked child, only forget it."""
        session.live = False
        if os.getpid() == self._pid:
            with contextlib.suppress(psycopg.Error):
                _raw(session).close()
        else:
            _keep_forever(_raw(session))

    def check_usable(self) -> None:
        """Raise `ClosedError` after `close()`, or why the store cannot be used here."""
        if self._closed:
            raise ClosedError("the store is closed; open it again to use it")
        if os.getpid() != self._pid:
            self._forked()
        if self._unusable is not None:
            raise TpStoreError(self._unusable)

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection the calling thread's next statement outside a
        transaction uses (for tests and tools; it is in autocommit mode)."""
        session = self.acquire()
        self.release(session)
        return _raw(session)

    def clock(self) -> float:
        """The server's clock, in POSIX seconds: this machine's, corrected by the offset
        measured when the store connected (so clients whose clocks differ agree)."""
        return time.time() + self._offset

    # -- connections --------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection to the store's database."""
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self.url:
            options["connect_timeout"] = max(2, round(self.timeout))
        try:
            return psycopg.connect(self.url, **options)
        except psycopg.Error as exc:
            raise TpStoreError(
                f"cannot connect to {self._where} ({self.location}): {redact(str(exc).strip())}"
            ) from exc

    def _open(self) -> Session:
        raw = self._connect()
        try:
            raw.execute(f"SET lock_timeout = {self._lock_wait}")
            raw.execute(
                "SET synchronous_commit = " + ("off" if self.durability == "normal" else "on")
            )
            if self.mode != "rw":
                raw.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                raw.close()
            raise translate(exc, f"cannot configure a session on {self._where}") from exc
        session = Session(PostgresConnection(raw, self))
        with self._registry_lock:
            self._sessions.append(session)
        return session

    def _current_schema(self, session: Session) -> str:
        """The schema the URL's `search_path` selects (created when missing, mode rw)."""
        raw = _raw(session)
        try:
            row = raw.execute("SELECT current_schema()").fetchone()
            if row and row[0]:
                return str(row[0])
            path = raw.execute("SHOW search_path").fetchone()
        except psycopg.Error as exc:
            raise translate(exc, f"cannot read the current schema of {self._where}") from exc
        names = [
            name.strip().strip('"')
            for name in str(path[0] if path else "").split(",")
            if name.strip() and name.strip() != '"$user"'
        ]
        if not names:
            raise TpStoreError(
                f"the session on {self._where} has no current schema (its search_path is "
                "empty); choose one with ?options=-csearch_path%3Dmyschema in the URL"
            )
        return names[0]

    def _measure_clock(self, session: Session) -> None:
        raw = _raw(session)
        best: tuple[float, float] | None = None
        for _ in range(3):
            before = time.time()
            row = raw.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
            after = time.time()
            if row is None:  # pragma: no cover - the query always answers one row
                continue
            sample = (after - before, float(row[0]) - (before + after) / 2)
            if best is None or sample[0] < best[0]:
                best = sample
        self._offset = best[1] if best else 0.0

    def _bootstrap(self, session: Session, schemas: list[str]) -> None:
        """Create each schema's catalog, counts and lock tables when missing.

        Under a transaction-scoped advisory lock per schema, so stores opening a new
        schema at the same moment do not collide on the DDL (whose catalog rows
        PostgreSQL does not let two transactions create at once).
        """
        raw = _raw(session)
        for schema in sorted(set(schemas)):
            try:
                found = raw.execute(
                    "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s",
                    (schema, LOCKS),
                ).fetchone()
                if found:
                    self._drop_old_triggers(raw, schema)
                    continue
                with raw.transaction():
                    raw.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tpstore {schema}",)
                    )
                    for statement in self.dialect.create_catalog(
                        next(name for name, real in self.dialect.schemas.items() if real == schema)
                    ):
                        raw.execute(convert(statement)[0], ())
            except psycopg.Error as exc:
                raise translate(exc, f"cannot create tpstore's tables on {self._where}") from exc

    def _drop_old_triggers(self, raw: psycopg.Connection[Any], schema: str) -> None:
        """Turn a store made when triggers kept the counts into one of today (under the
        same lock as `_bootstrap`'s): the writing statements count now, and the
        triggers would count every change twice."""
        if not raw.execute(self.dialect.old_triggers(), (schema,)).fetchone():
            return
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tpstore {schema}",))
            found = raw.execute(self.dialect.old_triggers(), (schema,)).fetchall()
            for statement in self.dialect.drop_old_triggers(schema, found):
                raw.execute(statement)

    def settle(self) -> None:
        """Nothing: a server has no per-file settings to apply."""

    # -- transactions -------------------------------------------------------------------

    def begin(self, session: Session, *, write: bool, deadline: float | None = None) -> None:
        """BEGIN; a writing transaction takes the store's lock rows `FOR UPDATE` first.

        The server waits for the lock rows, in the order the waiters came, for at most
        the store's `timeout` (or what is left until `deadline`) in all. `lock_timeout`
        alone would not bound that: it applies to each lock a statement waits for, and
        a `FOR UPDATE` behind other waiters waits for two in turn (the row's place in
        the queue, then the holder's transaction), each for the whole `lock_timeout`.
        So the lock statements run under a `statement_timeout` of what is left.
        """
        raw = _raw(session)
        try:
            if not write:
                raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return
            end = time.monotonic() + self.timeout if deadline is None else deadline
            connection: PostgresConnection = session.connection  # type: ignore[assignment]
            head = "BEGIN; "
            # One round trip a schema: each statement of a simple query has a
            # `statement_timeout` of its own.
            for lock in self.locks:
                left = max(1, round((end - time.monotonic()) * 1000))
                tail = self._after_locks if lock is self.locks[-1] else ""
                connection.simple(
                    f"{head}SET LOCAL lock_timeout = {left}; "
                    f"SET LOCAL statement_timeout = {left}; {lock}{tail}"
                )
                head = ""
        except psycopg.Error as exc:
            _end_transaction(raw)
            if exc.sqlstate == _STATEMENT_TIMEOUT:
                raise BusyError(
                    f"the store's write lock stayed held by another transaction past the "
                    f"timeout ({self.timeout:g} s); retry, or open the store with a longer "
                    "timeout"
                ) from exc
            raise translate(exc) from exc

    def take(
        self,
        session: Session,
        sql: str,
        params: Sequence[Any],
        check: Callable[[list[Any]], T],
        at_once: str | None = None,
    ) -> T:
        """One writing statement outside a transaction, its rows checked before commit.

        `BEGIN`, the lock rows in shared mode and the statement go out as one simple
        query; `check(rows)` runs with the transaction open (holding only the shared
        locks and the rows the statement changed), then `COMMIT`, or `ROLLBACK` when it
        raises. A pop therefore keeps an item that does not decode queued, without the
        store-wide lock: other consumers pass over its locked row meanwhile.

        `at_once` (see `Engine.take`) runs first, as a single write committed in the
        same round trip; only when it changes nothing does `sql` run as above.
        """
        connection: PostgresConnection = session.connection  # type: ignore[assignment]
        raw = connection.raw
        skipped = self.skipped
        if at_once is not None:
            rows = connection.execute(at_once, params).fetchall()  # a single write
            if rows:
                return check(rows)
        query = connection.counted(convert(sql)[0])

        def run() -> T:
            text = f"BEGIN; {connection.bound_locks}{connection.bound(query, params)}"
            rows = connection.simple(text, skipped + 1).fetchall()
            try:
                result = check(rows)
            except BaseException:
                _end_transaction(raw)
                raise
            raw.execute("COMMIT")
            return result

        return connection._retrying(run)

    def lock_taken(self, exc: BaseException) -> bool:
        """Never: the server itself waits for locks (up to `lock_timeout`)."""
        return False

    def retry_locked(self, run: Callable[[], T], deadline: float | None = None) -> T:
        """Run `run()` once: waiting for a lock is the server's (see `lock_taken`)."""
        return run()

    def savepoint(self, session: Session, level: int) -> None:
        """SAVEPOINT tpstore_{level}."""
        self._run(session, f"SAVEPOINT tpstore_{level}")

    def release_savepoint(self, session: Session, level: int) -> None:
        """RELEASE tpstore_{level}."""
        self._check_not_aborted(session)
        self._run(session, f"RELEASE SAVEPOINT tpstore_{level}")

    def rollback_to(self, session: Session, level: int) -> None:
        """Undo savepoint `level`; this also ends an aborted state the level caused."""
        raw = _raw(session)
        if self._closed or raw.closed or raw.info.transaction_status == pq.TransactionStatus.IDLE:
            return
        try:
            raw.execute(f"ROLLBACK TO SAVEPOINT tpstore_{level}")
            raw.execute(f"RELEASE SAVEPOINT tpstore_{level}")
        except psycopg.Error as exc:
            raise translate(exc, "rolling back failed") from exc

    def commit(self, session: Session) -> None:
        """COMMIT; refused when the server aborted the transaction (it would roll back)."""
        self._check_not_aborted(session)
        self._run(session, "COMMIT")

    def rollback(self, session: Session) -> None:
        """ROLLBACK, unless nothing is open."""
        if self._closed:
            return
        _end_transaction(_raw(session))

    def in_transaction(self, session: Session) -> bool:
        """Whether the server holds the session's transaction open and usable."""
        status = _raw(session).info.transaction_status
        return status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.ACTIVE)

    def _check_not_aborted(self, session: Session) -> None:
        # PostgreSQL answers COMMIT of an aborted transaction by rolling it back,
        # without an error: never let that pass for a commit.
        if _raw(session).info.transaction_status == pq.TransactionStatus.INERROR:
            raise TpStoreError(
                "the database aborted this transaction after an earlier error, so nothing "
                "of it was committed; leave the transaction() block and start again"
            )

    @staticmethod
    def _run(session: Session, sql: str) -> None:
        try:
            _raw(session).execute(sql)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    translate = staticmethod(translate_statement_error)

    # -- waiting for other writers ------------------------------------------------------

    def changes(self, schema: str, deadline: float) -> Iterator[None]:
        """Yield now, then after every append committed to a deque of `schema`.

        A connection of its own LISTENs on the schema's channel, which a trigger on
        every deque table notifies at commit; it holds no lock and no transaction while
        it waits. Once a second it yields anyway, so a notification lost with a broken
        connection costs at most that second.
        """
        if deadline <= time.monotonic():  # one try, no waiting (inside a transaction)
            yield
            return
        self.check_usable()
        listener = self._connect()
        try:
            listener.execute(f"LISTEN {quote(self.dialect.channel(schema))}")
            yield
            while (left := deadline - time.monotonic()) > 0:
                self.check_usable()
                for _ in listener.notifies(timeout=min(left, 1.0), stop_after=1):
                    pass
                if deadline - time.monotonic() > 0:
                    yield
        except psycopg.Error as exc:
            raise translate(exc, f"waiting for changes on {self._where}") from exc
        finally:
            if os.getpid() == self._pid:
                with contextlib.suppress(psycopg.Error):
                    listener.close()
            else:
                _keep_forever(listener)

    # -- maintenance --------------------------------------------------------------------

    def _tables(self, session: Session) -> list[tuple[str, str]]:
        """Every table tpstore keeps for this store: `(schema, table)`."""
        found = []
        for schema in self.schemas:
            names = (
                _raw(session)
                .execute(f"SELECT name FROM {self.dialect.schema(schema)}.{CATALOG}")
                .fetchall()
            )
            found += [(schema, CATALOG), (schema, COUNTS), (schema, HISTORY)]
            found += [(schema, str(name)) for (name,) in names]
        return found

    def vacuum(self, session: Session) -> None:
        """VACUUM every table of the store."""
        for schema, table in self._tables(session):
            _raw(session).execute(self.dialect.vacuum(schema, table))

    def optimize(self, session: Session) -> None:
        """ANALYZE every table of the store."""
        for schema, table in self._tables(session):
            _raw(session).execute(self.dialect.analyze(schema, table))

    def checkpoint(self, session: Session) -> None:
        """Nothing: the server checkpoints by itself."""

    def backup(self, session: Session, schema: str, target: str) -> None:
        """Refused: a server database is backed up with its own tools."""
        raise NotImplementedError(
            "backup() copies SQLite files; back a PostgreSQL database up with pg_dump "
            "(pg_dump --schema=... for one store's schema)"
        )

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; idempotent. A forked child only forgets them."""
        if self._closed:
            return
        self._closed = True
        with self._registry_lock:
            sessions, self._sessions, self._idle = self._sessions, [], []
        for session in sessions:
            self._let_go(session)

    def _forked(self) -> None:
        """In a forked child: forget the parent's connections without closing them."""
        with contextlib.suppress(RuntimeError):
            copies, self._sessions, self._idle = self._sessions, [], []
            for session in copies:
                session.live = False
                _keep_forever(_raw(session))
        self._registry_lock = threading.Lock()
        self._pid = os.getpid()


def _raw(session: Session) -> psycopg.Connection[Any]:
    connection: PostgresConnection = session.connection  # type: ignore[assignment]
    return connection.raw


def _conninfo(url: str) -> dict[str, Any]:
    try:
        return conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return {}


def _keep_forever(raw: psycopg.Connection[Any]) -> None:
    """Never close `raw`, not even at exit (it shares its socket with the parent's)."""
    _abandoned.append(raw)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(raw))
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        pass


def _after_fork_in_child() -> None:
    for driver in list(_drivers):
        if not driver.closed:
            driver._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
