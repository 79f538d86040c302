"""The SQLite driver: connections, the session pool, transaction verbs and maintenance.

Sessions: a file store keeps a small pool of configured connections (sqlite3 caches
each connection's prepared statements). A thread takes one for the length of a
statement, or of an outermost transaction, and gives it back; the pool keeps at most
`MAX_IDLE` idle connections and closes the rest, so threads that come and go leak no
connection (test_files.py::test_short_lived_threads_leave_few_connections_and_files).
The pool is last-in first-out, so a single thread keeps reusing one warm connection.
(SQLite itself keeps the file descriptor of a closed connection open while other
connections of the process hold locks on the file, as WAL connections always do, and
reuses it for the next connection it opens: descriptors follow the most connections
ever open at once, not the number open now.)

The one-writer guarantee of the seam (`tpstore._backends.base`): a writing transaction
starts with `BEGIN IMMEDIATE`, which takes the file's write lock at once; a single
writing statement outside a transaction is its own implicit transaction, which takes
the same lock. Waiting for it is bounded by `timeout`. The threads of one process wait
in the engine's writer queue (`tpstore._writers`), so only one of them at a time asks
SQLite for the lock. For a WAL file (the default) this driver waits for it itself, in
short random pauses (`retry_locked`), with SQLite's busy handler switched off
(`busy_timeout = 0`): that handler sleeps up to 100 ms between tries, so a process
waiting for a lock that other processes take and give back all the time could wait out
the whole timeout (bench_writers.py: up to 5 s and `BusyError`s, against at most a
few hundred milliseconds with short pauses). Maintenance statements, which wait for
readers in ways a retry could not, still use SQLite's handler (`_sqlite_waits`); so do
files with the rollback journal, whose readers must wait for writers too (a writer
there lets it wait only what is left of its `timeout` after its turn came).

A private in-memory store has only one connection (an in-memory database cannot be
shared between connections without SQLite's shared-cache mode, whose table locks do
not honour the busy timeout). Its threads take turns through a re-entrant lock, held
for a statement or a whole transaction; waiting longer than `timeout` raises
`BusyError`.

Processes: a store object used in a child after `os.fork()` opens new connections of
its own; it never runs a statement on a copy of the parent's. SQLite keeps per-process
bookkeeping of the locks each open file holds, and the child inherits a copy of it that
no longer matches the locks the child really holds (POSIX locks are not inherited).
A child that kept those copies would believe it holds locks it does not, and the parent
could then, for instance, delete the WAL the child is still writing to. So right after
a fork (`os.register_at_fork`) the child closes its copies of the parent's connections,
which is safe when no session was taken from a pool at that moment (each session is
marked `busy` while a thread runs a statement or a transaction on it): no lock is held
then, and closing only frees the stale bookkeeping. If one was, the copies are kept
open forever instead (closing one that is inside a transaction would roll the parent's
transaction back underneath it), and the files involved cannot be used in the child:
that raises `TpStoreError`
(test_processes.py::test_forked_child_does_not_lose_writes_when_the_parent_closes).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from tpstore._backends.base import Params, Session
from tpstore._backends.sqlite import files
from tpstore._backends.sqlite.dialect import Dialect, Features, quote
from tpstore._backends.sqlite.errors import primary, translate, translate_statement_error
from tpstore.errors import BusyError, ClosedError, TpStoreError, TpStoreWarning

T = TypeVar("T")

MAX_IDLE: Final = 6
"""Idle connections a file store keeps for reuse; more are closed when given back."""

# The pauses of `SQLiteDriver.changes` between two looks for commits: the first one,
# and the longest (the pause doubles while nothing changes).
_FIRST_PAUSE: Final = 0.001
_LONGEST_PAUSE: Final = 0.010

# The pauses of `SQLiteDriver.retry_locked` between two tries for a lock another
# connection holds: random, up to the first one doubled after each try, never above the
# longest one.
_FIRST_LOCK_PAUSE: Final = 0.0001
_LONGEST_LOCK_PAUSE: Final = 0.002

# Connections copied into a forked child that could not be closed safely: kept open
# and referenced for ever (see the module docstring and `_keep_forever`).
_abandoned: list[sqlite3.Connection] = []

# Every open driver, so that a forked child can deal with its copies at once.
_drivers: weakref.WeakSet[SQLiteDriver] = weakref.WeakSet()

# Files (real paths) whose SQLite lock bookkeeping this process inherited mid-use from
# its parent; they cannot be used safely here. Maps each to the reason.
_tainted: dict[str, str] = {}

# Whether a session of any store was in use when the process forked (set just before
# the fork, read in the child).
_busy_at_fork = False


class _Session(Session):
    """A session of this driver: with a cursor of its own for point reads."""

    __slots__ = ("reader",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self.reader = connection.cursor()


class SQLiteDriver:
    """Owns the connections of one SQLite store (a file, or a private in-memory one)."""

    errors: Final = (sqlite3.Error, UnicodeEncodeError, OverflowError)

    def __init__(
        self,
        path: str | None,
        *,
        attach: dict[str, str],
        mode: str,
        wal: bool | None,
        durability: str,
        timeout: float,
    ) -> None:
        self.path = path
        self.location = path
        self.attach = dict(attach)
        self.mode = mode
        self.durability = durability
        self.timeout = float(timeout)
        self.memory = path is None
        # An in-memory store's one connection is held by one thread at a time (its
        # re-entrant turn lock): it cannot be handed from thread to thread.
        self.group_commit = not self.memory
        self.wal = (not self.attach) if wal is None else bool(wal)
        # durability="normal" relaxes syncing only with WAL, where SQLite guarantees
        # that a power loss can lose the newest commits but never corrupt the file.
        # With the rollback journal, NORMAL can corrupt a file on power loss (SQLite's
        # documentation of PRAGMA synchronous), so those files stay at FULL.
        self.commits_sync = not (durability == "normal" and self.wal)
        # Whether this driver waits for a WAL file's write lock itself, in short random
        # pauses, instead of in SQLite's busy handler (`retry_locked`).
        self.own_wait = self.wal and mode == "rw" and not self.memory
        self.features = Features.detect()
        self.dialect = Dialect(self.features)
        self.schemas = ("main", *self.attach)
        self._closed = False
        self._pid = os.getpid()
        # Every open session (idle or taken), for close() and the fork hook.
        self._sessions: list[Session] = []
        self._idle: list[Session] = []
        self._registry_lock = threading.Lock()
        # Only the in-memory store serializes threads in Python (see module docstring).
        self._turn: threading.RLock | None = None
        if self.memory:
            self._turn = threading.RLock()
            self.acquire = self._take_turn  # type: ignore[method-assign]
            self.release = self._release_turn  # type: ignore[method-assign]
            self.fetch_point = self._fetch_point_in_turn  # type: ignore[method-assign]
        self._shared: Session | None = None
        # Why the store cannot be used in this process (set in a forked child).
        self._unusable: str | None = None
        # False once closed or unusable here: the one flag `acquire` looks at.
        self._usable = True
        found = ([path] if path else []) + list(self.attach.values())
        missing = [file for file in found if not files.check(file, mode)]
        twice = files.same_files(found)
        if twice is not None:
            raise ValueError(f"{twice} is given twice; each file of a store must be distinct")
        for file in found:
            reason = _tainted.get(os.path.realpath(file))
            if reason is not None:
                raise TpStoreError(reason)
        for file in missing:
            # A new file is made whole under another name and then linked into place,
            # so no process ever finds it empty (test_files.py::test_new_files_...).
            files.create(file, self.dialect.create_catalog("main"))
        if mode != "immutable":
            for file in found:
                files.warn_if_network(file, wal=self.wal)
        if mode == "immutable":
            for file in found:
                _check_no_wal(file)
        # The journal mode is written into the file, so it is switched only once the
        # store has checked its catalog (`settle`): a file refused with SchemaError
        # keeps its bytes (test_foreign_table_of_the_same_name_...).
        self._journal_settled = False
        # Open now, so that a bad file fails here and not on first use.
        self.release(self.acquire())
        _drivers.add(self)

    # -- sessions -----------------------------------------------------------------------

    def acquire(self) -> Session:
        """A session for one statement or one outermost transaction.

        The path every statement outside a transaction takes: one flag, a pop from the
        pool. (A forked child learns of the fork from `os.register_at_fork`, so no
        `getpid()` system call is made per statement; a connection is opened only in
        the process that checked its pid.)
        """
        if not self._usable:
            self.check_usable()
        try:
            session = self._idle.pop()
        except IndexError:
            self.check_usable()
            session = self._open()
        session.busy = True
        return session

    def release(self, session: Session) -> None:
        """Give `session` back: to the pool, or closed when the pool is full."""
        session.busy = False
        if session.live:  # (else closed or abandoned meanwhile: close(), a fork)
            idle = self._idle
            idle.append(session)
            if len(idle) > MAX_IDLE:
                self._shrink()

    def fetch_point(self, sql: str, params: Params) -> Any:
        """The row of a query that selects at most one row, run outside a transaction.

        `acquire`, the query and `release` in one call, on the session's own cursor (no
        new cursor per query): the path of every point read (`m[k]`, `in`, `len()`).
        Only for queries of at most one row: sqlite3 resets a statement once it has
        stepped past its last row, which a cursor kept for reuse must be, or the
        connection would keep an old snapshot of the file open (test_sessions.py::
        test_point_reads_see_every_commit_and_hold_no_snapshot). An error propagates
        untranslated, with the session back in the pool; the engine deals with it.
        """
        if not self._usable:
            self.check_usable()
        idle = self._idle
        try:
            session: _Session = idle.pop()  # type: ignore[assignment]
        except IndexError:
            self.check_usable()
            session = self._open()
        session.busy = True
        try:
            return session.reader.execute(sql, params).fetchone()
        finally:
            session.busy = False
            if session.live:  # (else closed or abandoned meanwhile: close(), a fork)
                idle.append(session)
                if len(idle) > MAX_IDLE:
                    self._shrink()

    def _fetch_point_in_turn(self, sql: str, params: Params) -> Any:
        """`fetch_point` of an in-memory store: its one connection, in turn."""
        session = self._take_turn()
        try:
            return session.connection.execute(sql, params).fetchone()
        finally:
            self._release_turn(session)

    def _shrink(self) -> None:
        # Close the least recently used idle connection. (Two threads giving back at
        # once may both see a full pool; each then closes one, never the other's.)
        try:
            extra = self._idle.pop(0)
        except IndexError:  # pragma: no cover - another thread emptied the pool
            return
        self._discard(extra)

    def _release_turn(self, session: Session) -> None:
        """`release` of an in-memory store: its turn passes on."""
        session.busy = False
        # (A forked child has a new lock, not held: the parent's session is dropped.)
        with contextlib.suppress(RuntimeError):
            self._turn.release()  # type: ignore[union-attr]

    def _take_turn(self) -> Session:
        """`acquire` of an in-memory store: its one connection, in turn with other threads."""
        if not self._usable:
            self.check_usable()
        assert self._turn is not None
        if not self._turn.acquire(timeout=self.timeout):
            raise BusyError(
                f"another thread held the in-memory store for more than {self.timeout} s"
            )
        try:
            if self._closed:
                raise ClosedError("the store is closed; open it again to use it")
            if self._shared is None:
                self._shared = self._open()
        except BaseException:
            self._turn.release()
            raise
        self._shared.busy = True
        return self._shared

    def _discard(self, session: Session) -> None:
        with self._registry_lock, contextlib.suppress(ValueError):
            self._sessions.remove(session)
        session.live = False
        with contextlib.suppress(sqlite3.Error):
            session.connection.close()  # type: ignore[attr-defined]

    def check_usable(self) -> None:
        """Raise `ClosedError` after `close()`, or why the store cannot be used here."""
        if self._usable and self._pid == os.getpid():
            return
        if self._closed:
            raise ClosedError("the store is closed; open it again to use it")
        if os.getpid() != self._pid:
            self._forked(close=False)  # a fork the hook did not see (made from C code)
        if self._unusable is not None:
            raise TpStoreError(self._unusable)

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def raw(self) -> sqlite3.Connection:
        """The connection the calling thread's next statement outside a transaction uses.

        For tests and tools that inspect a connection (tracing, pragmas); the pool hands
        a single thread the same connection every time.
        """
        session = self.acquire()
        self.release(session)
        return session.connection  # type: ignore[return-value]

    # -- connections --------------------------------------------------------------------

    def _open(self) -> _Session:
        # Always a URI, so that ATTACH takes URIs (and modes) even where SQLite was not
        # built to accept them by default; "file::memory:" is a private in-memory database.
        target = "file::memory:" if self.memory else files.uri(str(self.path), self.mode)
        try:
            raw = sqlite3.connect(
                target,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
                uri=True,
            )
        except sqlite3.Error as exc:
            raise translate(exc, f"cannot open {self.path}") from exc
        try:
            self._configure(raw)
        except BaseException:
            raw.close()
            raise
        session = _Session(raw)
        with self._registry_lock:
            self._sessions.append(session)
        return session

    def _configure(self, raw: sqlite3.Connection) -> None:
        try:
            for name, file in self.attach.items():
                raw.execute("ATTACH DATABASE ? AS " + quote(name), (files.uri(file, self.mode),))
            if self._journal_settled:
                self._set_journal(raw)
            relaxed = not self.commits_sync
            synchronous = "NORMAL" if relaxed else "FULL"
            for schema in self.schemas:
                raw.execute(f"PRAGMA {quote(schema)}.synchronous = {synchronous}")
            # On macOS, fsync() does not reach the disk's platter; F_FULLFSYNC does.
            raw.execute(f"PRAGMA fullfsync = {'OFF' if relaxed else 'ON'}")
            if self.mode != "rw":
                raw.execute("PRAGMA query_only = ON")
            # Reading the schema forces SQLite to read the file header: a file that is
            # not a database fails here, while nothing has been written to it.
            for schema in self.schemas:
                raw.execute(f"SELECT count(*) FROM {quote(schema)}.sqlite_master").fetchone()
            if self.own_wait:  # (the lock waits are `retry_locked`'s)
                raw.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            raise translate(exc, f"cannot open {self.path}") from exc

    def _set_journal(self, raw: sqlite3.Connection) -> None:
        if self.mode != "rw":
            return
        journal = "WAL" if self.wal else "DELETE"
        for schema, file in zip(self.schemas, (self.path, *self.attach.values()), strict=True):
            if file is not None:  # (the in-memory main database has a journal of its own)
                self._switch_journal(raw, schema, file, journal)

    def _switch_journal(
        self, raw: sqlite3.Connection, schema: str, file: str, journal: str
    ) -> None:
        # Switching needs the file's exclusive lock for a moment. SQLite gives up at
        # once, without waiting, when several connections ask for it together (say,
        # processes opening a new store at the same time: test_processes.py::
        # test_processes_creating_one_new_store_at_once_all_succeed), so retry until
        # `timeout`; each retry first looks whether another connection switched it.
        deadline = time.monotonic() + self.timeout
        while True:
            current = raw.execute(self.dialect.journal_mode(schema)).fetchone()
            now = str(current[0]).upper() if current else "?"
            if now == journal:
                return
            try:
                row = raw.execute(f"PRAGMA {quote(schema)}.journal_mode = {journal}").fetchone()
                break
            except sqlite3.Error as exc:
                if primary(exc) not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                    raise
                if time.monotonic() < deadline:
                    time.sleep(random.uniform(0.002, 0.02))
                    continue
                if now == "WAL":  # leaving WAL needs the file to itself
                    raise BusyError(
                        f"cannot switch {file} to the {journal} journal: another connection "
                        "has it open in WAL mode. Stores that use a file at the same time "
                        "must agree on its journal: with attached files tpstore uses the "
                        "rollback journal (DELETE), without them WAL; pass the same wal= to "
                        "all of them"
                    ) from exc
                raise BusyError(
                    f"cannot switch {file} to the {journal} journal: other connections kept "
                    f"it locked for more than {self.timeout} s; retry, or open the store "
                    "with a longer timeout"
                ) from exc
        if not row or str(row[0]).upper() != journal:
            warnings.warn(
                f"SQLite kept {file} in the {row[0] if row else '?'} journal instead of "
                f"{journal}; the filesystem may not support it",
                TpStoreWarning,
                stacklevel=2,
            )

    def settle(self) -> None:
        """Switch every file to the store's journal mode (after the catalog check)."""
        self._journal_settled = True
        session = self.acquire()
        try:
            self._set_journal(session.connection)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        finally:
            self.release(session)

    # -- transactions -------------------------------------------------------------------

    def begin(self, session: Session, *, write: bool, deadline: float | None = None) -> None:
        """BEGIN IMMEDIATE (the file's write lock, now) or a deferred read snapshot.

        Waiting for the lock ends at `deadline` (`time.monotonic()`), by default
        `timeout` from now.
        """
        # BEGIN IMMEDIATE takes the write lock now, so a read-modify-write inside the
        # transaction can lose no update to another process: the seam's guarantee.
        connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
        if write:
            statement = "BEGIN IMMEDIATE"
            if not self.own_wait and deadline is not None:
                # SQLite's handler waits: only for what is left of the caller's timeout
                # (a thread that queued for its turn has spent some of it already).
                with self._handler_waits(connection, deadline - time.monotonic()):
                    _run(connection, statement)
                return
            try:
                connection.execute(statement)
            except sqlite3.Error as exc:
                if not self.lock_taken(exc):
                    raise translate(exc) from exc
                self.retry_locked(lambda: connection.execute(statement), deadline)
            return
        _run(connection, "BEGIN DEFERRED")
        # A deferred transaction starts its snapshot of each file at its first read of
        # it: read every file now, so they are all read as of now.
        for schema in self.schemas:
            statement = f"SELECT 1 FROM {quote(schema)}.sqlite_master LIMIT 1"
            try:
                connection.execute(statement).fetchall()
            except sqlite3.Error as exc:
                if not self.lock_taken(exc):
                    raise translate(exc) from exc
                self.retry_locked(functools.partial(_fetch, connection, statement), deadline)

    def lock_taken(self, exc: BaseException) -> bool:
        """Whether `exc` only says that another connection had the lock, so the statement
        did nothing and this driver retries it itself (`retry_locked`)."""
        return (
            self.own_wait
            and isinstance(exc, sqlite3.OperationalError)
            and primary(exc) == "SQLITE_BUSY"
        )

    def retry_locked(self, run: Callable[[], T], deadline: float | None = None) -> T:
        """Run a statement again until it gets the lock it found taken, or `BusyError`.

        SQLite's busy handler sleeps longer and longer between tries (up to 100 ms), so
        a waiter that keeps finding the lock taken by busy writers retries rarely and
        may wait out the whole timeout although no transaction lasts long. Here the
        pauses stay short (at most 2 ms) and random, so a waiter tries often
        and waiters do not retry in step; the wait ends at `deadline`
        (`time.monotonic()`), by default `timeout` from now.
        """
        end = time.monotonic() + self.timeout if deadline is None else deadline
        pause = _FIRST_LOCK_PAUSE
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise BusyError(
                    f"{self.path} stayed locked by other writers for more than "
                    f"{self.timeout:g} s; retry, or open the store with a longer timeout"
                )
            time.sleep(min(random.uniform(0, pause), left))
            pause = min(pause * 2, _LONGEST_LOCK_PAUSE)
            try:
                return run()
            except sqlite3.Error as exc:
                if not self.lock_taken(exc):
                    raise translate(exc) from exc

    def savepoint(self, session: Session, level: int) -> None:
        """SAVEPOINT tpstore_{level}."""
        _run(session.connection, f"SAVEPOINT tpstore_{level}")  # type: ignore[arg-type]

    def release_savepoint(self, session: Session, level: int) -> None:
        """RELEASE tpstore_{level}."""
        _run(session.connection, f"RELEASE tpstore_{level}")  # type: ignore[arg-type]

    def rollback_to(self, session: Session, level: int) -> None:
        """Undo savepoint `level` (unless SQLite already rolled everything back)."""
        connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
        if self._closed or not connection.in_transaction:
            return
        try:
            connection.execute(f"ROLLBACK TO tpstore_{level}")
            connection.execute(f"RELEASE tpstore_{level}")
        except sqlite3.Error as exc:  # pragma: no cover - rollback fails only on I/O errors
            raise translate(exc, "rolling back failed") from exc

    def commit(self, session: Session) -> None:
        """COMMIT (retried while another connection holds a lock it needs)."""
        connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            # With the rollback journal (a new file, before its journal is settled), a
            # commit waits for readers to finish; the transaction stays open meanwhile.
            if not self.lock_taken(exc):
                raise translate(exc) from exc
            self.retry_locked(functools.partial(connection.execute, "COMMIT"))

    def rollback(self, session: Session) -> None:
        """ROLLBACK, unless SQLite already rolled the transaction back (or it is closed)."""
        connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
        if self._closed or not connection.in_transaction:
            return
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error as exc:  # pragma: no cover - rollback fails only on I/O errors
            raise translate(exc, "rolling back failed") from exc

    def in_transaction(self, session: Session) -> bool:
        """Whether SQLite still has the session's transaction open.

        After some errors (a full disk, an I/O error) SQLite rolls the whole transaction
        back by itself.
        """
        return bool(session.connection.in_transaction)  # type: ignore[attr-defined]

    translate = staticmethod(translate_statement_error)

    # -- waiting for other writers ------------------------------------------------------

    def changes(self, schema: str, deadline: float) -> Iterator[None]:
        """Yield now, then after every change committed to file `schema`, until `deadline`.

        SQLite cannot notify, so this polls two cheap counters with a pause growing
        from 1 ms to 10 ms (a wake-up well within 50 ms of the commit): `PRAGMA
        data_version`, which changes when another connection (a process, another store
        object, another thread's session) commits to the file, and the connection's
        `total_changes`, which counts the writes made on that connection itself (an
        in-memory store has one connection for all its threads). Both are read on one
        connection for the whole wait, since their values are per connection: a file
        store sets a session aside for it (idle between looks, so it holds no lock);
        an in-memory store takes its turn for each look only.
        """
        if deadline <= time.monotonic():  # one try, no waiting (inside a transaction)
            yield
            return
        statement = self.dialect.data_version(schema)
        held = None if self.memory else self.acquire()
        if held is not None:
            held.busy = False  # (only while it reads: see the fork hook)

        def mark() -> tuple[int, int]:
            self.check_usable()
            session = held if held is not None else self.acquire()
            session.busy = True
            connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
            try:
                return int(connection.execute(statement).fetchone()[0]), connection.total_changes
            except sqlite3.Error as exc:
                raise translate(exc) from exc
            finally:
                if held is None:
                    self.release(session)
                else:
                    session.busy = False

        try:
            seen = mark()  # before the first try: nothing committed after it is missed
            yield
            pause = _FIRST_PAUSE
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(pause, left))
                now = mark()
                if now != seen:
                    seen, pause = now, _FIRST_PAUSE
                    yield
                else:
                    pause = min(pause * 2, _LONGEST_PAUSE)
        finally:
            if held is not None:
                self.release(held)

    # -- maintenance --------------------------------------------------------------------

    def _sqlite_waits(self, session: Session) -> contextlib.AbstractContextManager[None]:
        """Let SQLite's busy handler wait for locks (up to `timeout`) inside the block.

        Maintenance statements wait for readers and writers in ways a retry of the
        whole statement would not (a checkpoint waits for readers to move on).
        """
        if not self.own_wait:
            return contextlib.nullcontext()
        return self._handler_waits(session.connection, self.timeout)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def _handler_waits(self, connection: sqlite3.Connection, seconds: float) -> Iterator[None]:
        """Let SQLite's busy handler wait up to `seconds` inside the block; then as before
        (`timeout`, or no waiting at all where this driver waits itself)."""
        # Rounded up: the handler's wait must not end before `timeout` does.
        connection.execute(f"PRAGMA busy_timeout = {max(0, math.ceil(seconds * 1000))}")
        try:
            yield
        finally:
            after = 0 if self.own_wait else math.ceil(self.timeout * 1000)
            with contextlib.suppress(sqlite3.Error):
                connection.execute(f"PRAGMA busy_timeout = {after}")

    def vacuum(self, session: Session) -> None:
        """VACUUM every file, then checkpoint it (with WAL the pages go through the WAL)."""
        with self._sqlite_waits(session):
            for schema in self.schemas:
                session.connection.execute(self.dialect.vacuum(schema))
                session.connection.execute(self.dialect.checkpoint(schema)).fetchall()

    def optimize(self, session: Session) -> None:
        """PRAGMA optimize."""
        with self._sqlite_waits(session):
            session.connection.execute(self.dialect.optimize)

    def checkpoint(self, session: Session) -> None:
        """Checkpoint and truncate the WAL of every file."""
        with self._sqlite_waits(session):
            for schema in self.schemas:
                session.connection.execute(self.dialect.checkpoint(schema)).fetchall()

    def backup(self, session: Session, schema: str, target: str) -> None:
        """Copy one file to `target` with SQLite's online backup, in one step.

        The copy is written under a temporary name next to `target` and renamed into
        place, so `target` never holds a half-written copy.
        """
        if any(os.path.realpath(file) == os.path.realpath(target) for file in self.files()):
            raise ValueError(f"cannot back a store up onto one of its own files ({target})")
        files.check(target, "rw")  # the folder exists; a file there is a database
        folder, name = os.path.split(os.path.abspath(target))
        temporary = os.path.join(folder, f".{name}.{os.getpid()}-{id(session):x}.backup")
        connection: sqlite3.Connection = session.connection  # type: ignore[assignment]
        try:
            destination = sqlite3.connect(temporary)
            try:
                # One step (pages=-1) copies one snapshot; a copy in several steps would
                # start again each time another process writes.
                connection.backup(destination, name=schema)
            finally:
                destination.close()
            os.replace(temporary, target)
            files.sync_folder(folder)
        except sqlite3.Error as exc:  # pragma: no cover - raised by the destination file
            raise translate(exc, f"backup to {target} failed") from exc
        finally:
            for leftover in (temporary, temporary + "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def files(self) -> list[str]:
        """The store's files (main first), empty for an in-memory store."""
        return [file for file in (self.path, *self.attach.values()) if file is not None]

    # -- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._usable = False
        with self._registry_lock:
            sessions, self._sessions, self._idle = self._sessions, [], []
        for session in sessions:
            session.live = False
        if os.getpid() != self._pid:
            for session in sessions:
                _keep_forever(session.connection)  # type: ignore[arg-type]
        else:
            for session in sessions:
                with contextlib.suppress(sqlite3.Error):
                    session.connection.close()  # type: ignore[attr-defined]
        self._shared = None

    def _forked(self, *, close: bool) -> None:
        """Drop the parent's connections in a forked child (see the module docstring).

        Args:
            close: whether closing the copies is safe (no session of the parent was in
                use); otherwise they are kept for ever and the store's files become
                unusable in this process.
        """
        copies, self._sessions, self._idle = self._sessions, [], []
        for session in copies:
            session.live = False
        if self.memory:
            for session in copies:
                _keep_forever(session.connection)  # type: ignore[arg-type]
            self._unusable = (
                "an in-memory store cannot be used in a forked child process; "
                "give the store a file to share it between processes"
            )
        elif close:
            for session in copies:
                with contextlib.suppress(sqlite3.Error):
                    session.connection.close()  # type: ignore[attr-defined]
        elif copies:
            for session in copies:
                _keep_forever(session.connection)  # type: ignore[arg-type]
            self._unusable = (
                f"this process was forked while its parent was using {self.path} (a "
                "transaction was open, or a thread was inside SQLite), so SQLite's lock "
                "state for the file is unreliable here; fork while the stores are idle, or "
                "use the 'spawn' start method of multiprocessing"
            )
            for file in self.files():
                _tainted[os.path.realpath(file)] = self._unusable
        self._usable = self._unusable is None and not self._closed
        self._shared = None
        self._registry_lock = threading.Lock()
        if self._turn is not None:
            self._turn = threading.RLock()
        self._pid = os.getpid()

    def _in_use(self) -> bool:
        """Whether a session is taken, or a connection is inside a transaction."""
        return any(session.busy or _in_transaction(session) for session in self._sessions)


def _fetch(connection: sqlite3.Connection, sql: str) -> list[object]:
    return connection.execute(sql).fetchall()


def _run(connection: sqlite3.Connection, sql: str) -> None:
    try:
        connection.execute(sql).fetchall()
    except sqlite3.Error as exc:
        raise translate(exc) from exc


def _in_transaction(session: Session) -> bool:
    try:
        return bool(session.connection.in_transaction)  # type: ignore[attr-defined]
    except sqlite3.Error:
        return False


def _keep_forever(raw: sqlite3.Connection) -> None:
    """Never close `raw`, not even when the interpreter exits (see the module docstring)."""
    _abandoned.append(raw)
    try:  # garbage collection at exit would close it: hold a reference nothing releases
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(raw))
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        pass


def _check_no_wal(path: str) -> None:
    """Refuse an immutable open of a file whose WAL holds commits SQLite would not see."""
    wal = os.path.abspath(path) + "-wal"
    with contextlib.suppress(FileNotFoundError):
        if os.path.getsize(wal) > 0:
            raise TpStoreError(
                f"{path} has a non-empty WAL file ({wal}), which mode='immutable' would "
                "ignore, reading an old state; let its writers finish (or call "
                "checkpoint()) first, or open it with mode='ro'"
            )


def _before_fork() -> None:
    global _busy_at_fork
    _busy_at_fork = any(driver._in_use() for driver in list(_drivers) if not driver.closed)


def _after_fork_in_child() -> None:
    drivers = [driver for driver in list(_drivers) if not driver.closed]
    busy = _busy_at_fork or any(driver._in_use() for driver in drivers)
    for driver in drivers:
        driver._forked(close=not busy)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
