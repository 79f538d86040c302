"""Connections, transactions and error translation for one store.

Threads: a file store gives each thread its own connection, configured once and kept
for the store's life (sqlite3 caches each connection's prepared statements). A
transaction lives on its thread's connection, so other threads neither see its
uncommitted writes nor write inside it: their writes wait for the file lock (up to
`timeout`), and in WAL mode their reads see the last commit without waiting.

A private in-memory store has only one connection (an in-memory database cannot be
shared between connections without SQLite's shared-cache mode, whose table locks do
not honour the busy timeout). Its threads take turns through a re-entrant lock, held
for a whole transaction; waiting longer than `timeout` raises `BusyError`.

Processes: a store object used in a child after `os.fork()` opens new connections of
its own; it never runs a statement on a copy of the parent's. SQLite keeps per-process
bookkeeping of the locks each open file holds, and the child inherits a copy of it that
no longer matches the locks the child really holds (POSIX locks are not inherited).
A child that kept those copies would believe it holds locks it does not, and the parent
could then, for instance, delete the WAL the child is still writing to. So right after
a fork (`os.register_at_fork`) the child closes its copies of the parent's connections,
which is safe when no thread of the parent was inside SQLite or inside a transaction
at that moment: no lock is held then, and closing only frees the stale bookkeeping. If
one was, the copies are kept open forever instead (closing one that is inside a
transaction would roll the parent's transaction back underneath it), and the files
involved cannot be used in the child: that raises `TpStoreError`
(test_processes.py::test_forked_child_does_not_lose_writes_when_the_parent_closes).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from tpstore import _files
from tpstore._sqlite import Dialect, Features
from tpstore.errors import (
    BusyError,
    ClosedError,
    ReadOnlyError,
    TpStoreError,
    TpStoreWarning,
    ValidationError,
)

Params = Sequence[Any]

# The pauses of `Engine.changes` between two looks for commits: the first one, and the
# longest (the pause doubles while nothing changes).
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.010

# Connections copied into a forked child that could not be closed safely: kept open
# and referenced for ever (see the module docstring and `_keep_forever`).
_abandoned: list[sqlite3.Connection] = []

# Every open engine, so that a forked child can deal with its copies at once.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()

# Files (real paths) whose SQLite lock bookkeeping this process inherited mid-use from
# its parent; they cannot be used safely here. Maps each to the reason.
_tainted: dict[str, str] = {}

# Whether another thread of the parent was running engine code when it forked (set
# just before the fork, read in the child).
_busy_at_fork = False


@dataclass
class _Connection:
    """One sqlite3 connection and the transaction state of the thread using it."""

    raw: sqlite3.Connection
    depth: int = 0
    # readonly[i] is True when nesting level i+1 was opened with readonly=True.
    readonly: list[bool] = field(default_factory=list)


class Engine:
    """Owns the connections of one store and runs every statement."""

    def __init__(
        self,
        path: str | None,
        *,
        attach: dict[str, str] | None = None,
        mode: str = "rw",
        wal: bool | None = None,
        durability: str = "full",
        timeout: float = 5.0,
    ) -> None:
        if mode not in ("rw", "ro", "immutable"):
            raise ValueError(f"mode must be 'rw', 'ro' or 'immutable', not {mode!r}")
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        if not isinstance(timeout, int | float) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
        if wal not in (None, True, False):
            raise ValueError(f"wal must be None, True or False, not {wal!r}")
        self.path = path
        self.attach = dict(attach or {})
        self.mode = mode
        self.durability = durability
        self.timeout = float(timeout)
        self.memory = path is None
        self.wal = (not self.attach) if wal is None else bool(wal)
        self.features = Features.detect()
        self.dialect = Dialect(self.features)
        self.schemas = ("main", *self.attach)
        self._closed = False
        self._pid = os.getpid()
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._registry_lock = threading.Lock()
        # Only the in-memory store serializes threads in Python (see module docstring).
        self._turn: threading.RLock | None = threading.RLock() if self.memory else None
        self._guard = _Turn(self._turn, self.timeout) if self._turn else _NoTurn()
        # The same, for one statement: also turns sqlite3's exceptions into tpstore's.
        self._statement = _StatementTurn(self._turn, self.timeout) if self._turn else _Statement()
        self._shared: _Connection | None = None
        # Why the store cannot be used in this process (set in a forked child).
        self._unusable: str | None = None
        files = ([path] if path else []) + list(self.attach.values())
        missing = [file for file in files if not _files.check(file, mode)]
        twice = _files.same_files(files)
        if twice is not None:
            raise ValueError(f"{twice} is given twice; each file of a store must be distinct")
        for file in files:
            reason = _tainted.get(os.path.realpath(file))
            if reason is not None:
                raise TpStoreError(reason)
        for file in missing:
            # A new file is made whole under another name and then linked into place,
            # so no process ever finds it empty (test_files.py::test_new_files_...).
            _files.create(file, self.dialect.create_catalog("main"))
        if mode != "immutable":
            for file in files:
                _files.warn_if_network(file, wal=self.wal)
        if mode == "immutable":
            for file in files:
                _check_no_wal(file)
        # The journal mode is written into the file, so it is switched only once the
        # store has checked its catalog (`settle_journal`): a file refused with
        # SchemaError keeps its bytes (test_foreign_table_of_the_same_name_...).
        self._journal_settled = False
        self._conn()  # open now, so that a bad file fails here and not on first use
        _engines.add(self)

    # -- connections --------------------------------------------------------------------

    def _open(self) -> _Connection:
        # Always a URI, so that ATTACH takes URIs (and modes) even where SQLite was not
        # built to accept them by default; "file::memory:" is a private in-memory database.
        target = "file::memory:" if self.memory else _files.uri(str(self.path), self.mode)
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
        return _Connection(raw)

    def _configure(self, raw: sqlite3.Connection) -> None:
        try:
            for name, file in self.attach.items():
                raw.execute("ATTACH DATABASE ? AS " + _quote(name), (_files.uri(file, self.mode),))
            if self._journal_settled:
                self._set_journal(raw)
            # durability="normal" relaxes syncing only with WAL, where SQLite guarantees
            # that a power loss can lose the newest commits but never corrupt the file.
            # With the rollback journal, NORMAL can corrupt a file on power loss (SQLite's
            # documentation of PRAGMA synchronous), so those files stay at FULL.
            relaxed = self.durability == "normal" and self.wal
            synchronous = "NORMAL" if relaxed else "FULL"
            for schema in self.schemas:
                raw.execute(f"PRAGMA {_quote(schema)}.synchronous = {synchronous}")
            # On macOS, fsync() does not reach the disk's platter; F_FULLFSYNC does.
            raw.execute(f"PRAGMA fullfsync = {'OFF' if relaxed else 'ON'}")
            if self.mode != "rw":
                raw.execute("PRAGMA query_only = ON")
            # Reading the schema forces SQLite to read the file header: a file that is
            # not a database fails here, while nothing has been written to it.
            for schema in self.schemas:
                raw.execute(f"SELECT count(*) FROM {_quote(schema)}.sqlite_master").fetchone()
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
            current = raw.execute(f"PRAGMA {_quote(schema)}.journal_mode").fetchone()
            now = str(current[0]).upper() if current else "?"
            if now == journal:
                return
            try:
                row = raw.execute(f"PRAGMA {_quote(schema)}.journal_mode = {journal}").fetchone()
                break
            except sqlite3.Error as exc:
                if _primary(exc) not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
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

    def settle_journal(self) -> None:
        """Switch every file to the store's journal mode (after the catalog check)."""
        self._journal_settled = True
        self.run_outside_transaction(self._set_journal)

    def _conn(self) -> _Connection:
        """The connection of the calling thread (the shared one for in-memory stores)."""
        # The path every statement takes: one thread-local lookup and three checks.
        conn: _Connection | None = getattr(self._local, "conn", None)
        if (
            conn is not None
            and not self._closed
            and self._unusable is None
            and os.getpid() == self._pid
        ):
            return conn
        return self._connect()

    def _connect(self) -> _Connection:
        """`_conn()` when the calling thread has no usable connection yet."""
        if self._closed:
            raise ClosedError("the store is closed; open it again to use it")
        if os.getpid() != self._pid:
            self._after_fork()
        if self._unusable is not None:
            raise TpStoreError(self._unusable)
        if self.memory:
            if self._shared is None:
                self._shared = self._open()
                self._all.append(self._shared)
            self._local.conn = self._shared
            return self._shared
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._registry_lock:
                self._all.append(conn)
        return conn

    def _after_fork(self) -> None:
        """First use in a child the fork hook did not see (a fork made from C code)."""
        self._forked(close=False)

    def _forked(self, *, close: bool) -> None:
        """Drop the parent's connections in a forked child (see the module docstring).

        Args:
            close: whether closing the copies is safe (no thread of the parent was
                inside SQLite or a transaction); otherwise they are kept for ever and
                the store's files become unusable in this process.
        """
        copies, self._all = self._all, []
        if self.memory:
            for conn in copies:
                _keep_forever(conn.raw)
            self._unusable = (
                "an in-memory store cannot be used in a forked child process; "
                "give the store a file to share it between processes"
            )
        elif close:
            for conn in copies:
                with contextlib.suppress(sqlite3.Error):
                    conn.raw.close()
        elif copies:
            for conn in copies:
                _keep_forever(conn.raw)
            self._unusable = (
                f"this process was forked while its parent was using {self.path} (a "
                "transaction was open, or a thread was inside SQLite), so SQLite's lock "
                "state for the file is unreliable here; fork while the stores are idle, or "
                "use the 'spawn' start method of multiprocessing"
            )
            for file in (self.path, *self.attach.values()):
                _tainted[os.path.realpath(str(file))] = self._unusable
        self._shared = None
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        if self._turn is not None:
            self._turn = threading.RLock()
            self._guard = _Turn(self._turn, self.timeout)
            self._statement = _StatementTurn(self._turn, self.timeout)
        self._pid = os.getpid()

    def close(self) -> None:
        """Close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._pid:
            for conn in self._all:
                _keep_forever(conn.raw)
        else:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.raw.close()
        self._all = []
        self._shared = None
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    # -- statements ---------------------------------------------------------------------

    # Each of these runs inside `self._statement`, whose exit translates sqlite3's
    # exceptions (and the binding errors of values sqlite3 cannot store): the guard
    # that every statement takes anyway does it, so the translation costs no extra call.

    def fetchone(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return its first row, or `None`."""
        conn = self._conn()
        with self._statement:
            return conn.raw.execute(sql, params).fetchone()

    def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a query (or a statement with RETURNING) and return all its rows."""
        conn = self._conn()
        with self._statement:
            return conn.raw.execute(sql, params).fetchall()

    def write(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement (atomic by itself) and return the rows changed."""
        conn = self._conn()
        with self._statement:
            self._check_writable(conn)
            return conn.raw.execute(sql, params).rowcount

    def write_returning(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one writing statement with RETURNING and return its rows."""
        conn = self._conn()
        with self._statement:
            self._check_writable(conn)
            return conn.raw.execute(sql, params).fetchall()

    def write_many(self, sql: str, rows: Iterator[Params] | Sequence[Params]) -> int:
        """Run one writing statement for many parameter rows; call inside `atomic()`."""
        conn = self._conn()
        with self._statement:
            self._check_writable(conn)
            return conn.raw.executemany(sql, rows).rowcount

    def _check_writable(self, conn: _Connection) -> None:
        if self.mode != "rw":
            raise ReadOnlyError(f"the store was opened with mode={self.mode!r}; it cannot write")
        if conn.readonly and conn.readonly[-1]:
            raise ReadOnlyError("cannot write inside a transaction(readonly=True)")
        if conn.depth and not conn.raw.in_transaction:
            # After some errors (a full disk, an I/O error) SQLite rolls the whole
            # transaction back by itself; a write now would run outside of it.
            raise TpStoreError(
                "SQLite rolled this transaction back after an earlier error; leave the "
                "transaction() block and start again"
            )

    def check_writable(self) -> None:
        """Raise `ReadOnlyError` if the calling thread may not write now.

        Also `ClosedError` after `close()`, as for every statement; operations that
        end up writing nothing (an empty `update`) call it, so they refuse all the same.
        """
        self._check_writable(self._conn())

    def check_open(self) -> None:
        """Raise `ClosedError` after `close()` (or the error of an unusable forked store).

        For operations that answer without a statement (a wrong-typed key, an empty
        lookup) and for iterators resuming over rows they fetched earlier.
        """
        self._conn()

    # -- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a `transaction()` (or `atomic()`)."""
        return self._conn().depth > 0

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[None]:
        """Open a transaction, or a SAVEPOINT when one is already open on this thread."""
        conn = self._conn()
        pid = self._pid  # this process's id: `_conn()` has just checked it
        with self._guard:
            outer_readonly = bool(conn.readonly) and conn.readonly[-1]
            if not readonly:
                if self.mode != "rw":
                    raise ReadOnlyError(
                        f"the store was opened with mode={self.mode!r}; "
                        "use transaction(readonly=True) to read a snapshot"
                    )
                if outer_readonly:
                    raise ReadOnlyError("cannot open a writing transaction inside a readonly one")
            level = conn.depth
            if level == 0:
                # BEGIN IMMEDIATE takes the write lock now, so a read-modify-write inside
                # the transaction can lose no update to another process.
                self._run(conn, "BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")
                if readonly:
                    # A deferred transaction starts its snapshot of each file at its first
                    # read of it: read every file now, so they are all read as of now.
                    for schema in self.schemas:
                        self._run(conn, f"SELECT 1 FROM {_quote(schema)}.sqlite_master LIMIT 1")
            else:
                self._run(conn, f"SAVEPOINT tpstore_{level}")
            conn.depth += 1
            conn.readonly.append(readonly or outer_readonly)
            try:
                yield
            except BaseException:
                if os.getpid() != pid:  # a forked child: the transaction is the parent's
                    raise
                conn.depth -= 1
                conn.readonly.pop()
                self._rollback(conn, level)
                raise
            _check_same_process(pid)
            conn.depth -= 1
            conn.readonly.pop()
            if self._closed:  # closed inside the block: nothing can commit any more
                self.check_open()
            if level == 0:
                try:
                    self._run(conn, "COMMIT")
                except TpStoreError:
                    self._rollback(conn, 0)
                    raise
            else:
                self._run(conn, f"RELEASE tpstore_{level}")

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """A compound operation: its own transaction, or a savepoint inside one."""
        return self.transaction()

    def _rollback(self, conn: _Connection, level: int) -> None:
        if self._closed:
            return
        try:
            if level == 0:
                if conn.raw.in_transaction:
                    conn.raw.execute("ROLLBACK")
            elif conn.raw.in_transaction:  # (else SQLite already rolled it all back)
                conn.raw.execute(f"ROLLBACK TO tpstore_{level}")
                conn.raw.execute(f"RELEASE tpstore_{level}")
        except sqlite3.Error as exc:  # pragma: no cover - rollback fails only on I/O errors
            raise translate(exc, "rolling back failed") from exc

    @staticmethod
    def _run(conn: _Connection, sql: str) -> None:
        try:
            conn.raw.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    # -- waiting for other writers ------------------------------------------------------

    def changes(self, schema: str, deadline: float) -> Iterator[None]:
        """Yield now, then after every change committed to file `schema` by anyone else.

        A blocking pop tries once per step: whatever was committed after the step
        before began is seen by the next try. Ends at `deadline` (a `time.monotonic()`
        value, `math.inf` for never). Holds no lock and no transaction while it waits.

        SQLite cannot notify, so this polls two cheap counters with a pause growing
        from 1 ms to 10 ms (a wake-up well within 50 ms of the commit): `PRAGMA
        data_version`, which changes when another connection (a process, another store
        object, another thread's connection) commits to the file, and the connection's
        `total_changes`, which counts the writes of the other threads sharing it (an
        in-memory store has one connection for all its threads). A PostgreSQL backend
        yields on LISTEN/NOTIFY instead.
        """
        statement = self.dialect.data_version(schema)

        def mark() -> tuple[int, int]:
            conn = self._conn()
            return int(self.fetchone(statement)[0]), conn.raw.total_changes

        seen = mark()  # before the first try, so that nothing committed after it is missed
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

    # -- maintenance --------------------------------------------------------------------

    def raw_connection(self) -> sqlite3.Connection:
        """The calling thread's sqlite3 connection, for maintenance statements."""
        return self._conn().raw

    def run_outside_transaction(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn(connection)` with no transaction open on this thread (VACUUM needs it)."""
        conn = self._conn()
        if conn.depth:
            raise TpStoreError("this operation cannot run inside a transaction")
        with self._guard:
            try:
                return fn(conn.raw)
            except sqlite3.Error as exc:
                raise translate(exc) from exc


class _Turn:
    """Holds the in-memory store's lock for a `with` block, waiting up to `timeout`."""

    __slots__ = ("lock", "timeout")

    def __init__(self, lock: threading.RLock, timeout: float) -> None:
        self.lock = lock
        self.timeout = timeout

    def __enter__(self) -> None:
        if not self.lock.acquire(timeout=self.timeout):
            raise BusyError(
                f"another thread held the in-memory store for more than {self.timeout} s"
            )

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.lock.release()


class _NoTurn:
    """File stores need no Python lock: each thread has its own connection."""

    __slots__ = ()

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        pass


class _Statement(_NoTurn):
    """The guard of one statement of a file store: translates the errors leaving it."""

    __slots__ = ()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            _raise_translated(exc)


class _StatementTurn(_Turn):
    """The guard of one statement of an in-memory store: its turn, then translation."""

    __slots__ = ()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.lock.release()
        if exc is not None:
            _raise_translated(exc)


def _raise_translated(exc: BaseException) -> None:
    """Raise the tpstore error for an exception a statement raised; others go on as they are."""
    if isinstance(exc, sqlite3.Error):
        raise translate(exc) from exc
    if isinstance(exc, UnicodeEncodeError | OverflowError):
        raise _unbindable(exc) from exc


def translate(exc: sqlite3.Error, context: str | None = None) -> TpStoreError:
    """Turn an sqlite3 exception into the tpstore error a user can act on.

    Decided by SQLite's result code (`sqlite_errorname`), falling back to the message
    for errors that carry none.
    """
    message = str(exc)
    prefix = f"{context}: " if context else ""
    name = getattr(exc, "sqlite_errorname", None) or ""
    primary = _primary(exc)
    if primary in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return BusyError(
            f"{prefix}the database stayed locked by another connection past the timeout "
            f"({message}); retry, or open the store with a longer timeout"
        )
    if name == "SQLITE_READONLY_ROLLBACK":
        return TpStoreError(
            f"{prefix}a writer stopped in the middle of a transaction and left its journal "
            f"behind, which a read-only store cannot roll back ({message}); open the file "
            "once with mode='rw' to recover it"
        )
    if name == "SQLITE_READONLY_DBMOVED":
        return TpStoreError(f"{prefix}the file was moved or deleted while open ({message})")
    if primary == "SQLITE_READONLY":
        return ReadOnlyError(
            f"{prefix}the database cannot be written ({message}); check the permissions of "
            "the file and its folder, or open the store with mode='ro'"
        )
    if primary == "SQLITE_NOTADB":
        return TpStoreError(f"{prefix}the file is not an SQLite database ({message})")
    if primary == "SQLITE_FULL" or (primary == "SQLITE_IOERR" and "full" in message.lower()):
        return TpStoreError(
            f"{prefix}the disk is full, or the file reached its size limit ({message}); "
            "the operation was not written, and earlier commits are intact"
        )
    if primary == "SQLITE_IOERR":
        return TpStoreError(
            f"{prefix}the operating system reported an I/O error ({message}); the operation "
            "was not written, and earlier commits are intact"
        )
    if primary == "SQLITE_CORRUPT":
        hint = (
            " It may have been written by a newer SQLite (STRICT tables need 3.37);"
            if "malformed database schema" in message
            else ""
        )
        return TpStoreError(
            f"{prefix}the database file is damaged ({message}).{hint} Check it with "
            "`tpstore check`, or restore it from a backup"
        )
    if primary == "SQLITE_CANTOPEN":
        return TpStoreError(
            f"{prefix}SQLite cannot open the file ({message}); check that it and its folder "
            "exist and are readable (and writable, for mode='rw')"
        )
    if primary == "SQLITE_TOOBIG":
        return TpStoreError(f"{prefix}a value is larger than SQLite allows ({message})")
    if not name:  # errors raised by the sqlite3 module itself carry no result code
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            return BusyError(f"{prefix}the database stayed locked ({message}); retry")
        if "not a database" in lowered:
            return TpStoreError(f"{prefix}the file is not an SQLite database ({message})")
    return TpStoreError(f"{prefix}{message}")


def _primary(exc: sqlite3.Error) -> str:
    """SQLite's primary result code name of `exc` (`SQLITE_IOERR` for `SQLITE_IOERR_WRITE`)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    return "_".join(name.split("_")[:2])


def _unbindable(exc: UnicodeEncodeError | OverflowError) -> ValidationError:
    """A parameter sqlite3 could not bind (the codecs normally refuse these first)."""
    if isinstance(exc, UnicodeEncodeError):
        problem = "a string holds a lone surrogate, which cannot be stored as UTF-8"
    else:
        problem = "an integer does not fit in SQLite's 64 bits"
    return ValidationError(f"invalid value: {problem} ({exc})")


def _check_same_process(pid: int) -> None:
    """Refuse to finish, in a forked child, a transaction its parent opened."""
    if os.getpid() != pid:
        raise TpStoreError(
            "a transaction opened before os.fork() cannot be finished in the child process; "
            "it stays the parent's"
        )


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


def _threads_inside_engine() -> bool:
    """Whether a thread other than the calling one is running this module's code."""
    frames = getattr(sys, "_current_frames", None)
    if frames is None:  # pragma: no cover - not CPython: assume the worst
        return True
    current = threading.get_ident()
    for ident, top in frames().items():
        frame: FrameType | None = top
        while frame is not None and ident != current:
            if frame.f_code.co_filename == __file__:
                return True
            frame = frame.f_back
    return False


def _before_fork() -> None:
    global _busy_at_fork
    _busy_at_fork = _threads_inside_engine()


def _after_fork_in_child() -> None:
    engines = list(_engines)
    busy = _busy_at_fork or any(
        conn.depth or _in_transaction(conn.raw) for engine in engines for conn in engine._all
    )
    for engine in engines:
        if not engine.closed:
            engine._forked(close=not busy)


def _in_transaction(raw: sqlite3.Connection) -> bool:
    try:
        return raw.in_transaction
    except sqlite3.Error:
        return False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
