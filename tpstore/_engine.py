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

Processes: a store object used in a child after `os.fork()` opens new connections;
the parent's are abandoned, never closed, because closing a copied connection can
disturb the locks and WAL files the parent still uses.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpstore._sqlite import Dialect, Features
from tpstore.errors import BusyError, ClosedError, ReadOnlyError, TpStoreError

Params = Sequence[Any]

# Connections copied into a forked child: kept referenced so that garbage collection
# never closes them (see the module docstring).
_abandoned: list[sqlite3.Connection] = []

_SQLITE_HEADER = b"SQLite format 3\x00"


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
        self._shared: _Connection | None = None
        for file in ([path] if path else []) + list(self.attach.values()):
            _check_file(file, mode)
        # The journal mode is written into the file, so it is switched only once the
        # store has checked its catalog (`settle_journal`): a file refused with
        # SchemaError keeps its bytes (test_foreign_table_of_the_same_name_...).
        self._journal_settled = False
        self._conn()  # open now, so that a bad file fails here and not on first use

    # -- connections --------------------------------------------------------------------

    def _open(self) -> _Connection:
        if self.memory:
            target, uri = ":memory:", False
        else:
            target, uri = _uri(str(self.path), self.mode), True
        try:
            raw = sqlite3.connect(
                target, timeout=self.timeout, isolation_level=None,
                check_same_thread=False, cached_statements=256, uri=uri,
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
                raw.execute("ATTACH DATABASE ? AS " + _quote(name), (_uri(file, self.mode),))
            if self._journal_settled:
                self._set_journal(raw)
            synchronous = "FULL" if self.durability == "full" else "NORMAL"
            for schema in self.schemas:
                raw.execute(f"PRAGMA {_quote(schema)}.synchronous = {synchronous}")
            if self.mode != "rw":
                raw.execute("PRAGMA query_only = ON")
            # Reading the schema forces SQLite to read the file header: a file that is
            # not a database fails here, while nothing has been written to it.
            for schema in self.schemas:
                raw.execute(f"SELECT count(*) FROM {_quote(schema)}.sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, f"cannot open {self.path}") from exc

    def _set_journal(self, raw: sqlite3.Connection) -> None:
        if self.mode != "rw" or self.memory:
            return
        journal = "WAL" if self.wal else "DELETE"
        for schema in self.schemas:
            current = raw.execute(f"PRAGMA {_quote(schema)}.journal_mode").fetchone()
            if current and str(current[0]).upper() == journal:
                continue
            raw.execute(f"PRAGMA {_quote(schema)}.journal_mode = {journal}")

    def settle_journal(self) -> None:
        """Switch every file to the store's journal mode (after the catalog check)."""
        self._journal_settled = True
        self.run_outside_transaction(self._set_journal)

    def _conn(self) -> _Connection:
        """The connection of the calling thread (the shared one for in-memory stores)."""
        if self._closed:
            raise ClosedError("the store is closed; open it again to use it")
        if os.getpid() != self._pid:
            self._after_fork()
        if self.memory:
            if self._shared is None:
                self._shared = self._open()
                self._all.append(self._shared)
            return self._shared
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._registry_lock:
                self._all.append(conn)
        return conn

    def _after_fork(self) -> None:
        if self.memory:
            raise TpStoreError(
                "an in-memory store cannot be used in a forked child process; "
                "give the store a file to share it between processes"
            )
        _abandoned.extend(conn.raw for conn in self._all)
        self._all = []
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        self._pid = os.getpid()

    def _turn_taken(self) -> _Turn | _NoTurn:
        """The in-memory store's turn (a no-op for file stores), for a `with` block."""
        return self._guard

    def close(self) -> None:
        """Close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._pid:
            _abandoned.extend(conn.raw for conn in self._all)
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

    def fetchone(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return its first row, or `None`."""
        conn = self._conn()
        with self._turn_taken():
            try:
                return conn.raw.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise translate(exc) from exc

    def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a query (or a statement with RETURNING) and return all its rows."""
        conn = self._conn()
        with self._turn_taken():
            try:
                return conn.raw.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc) from exc

    def write(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement (atomic by itself) and return the rows changed."""
        conn = self._conn()
        with self._turn_taken():
            self._check_writable(conn)
            try:
                return conn.raw.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise translate(exc) from exc

    def write_returning(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one writing statement with RETURNING and return its rows."""
        conn = self._conn()
        with self._turn_taken():
            self._check_writable(conn)
            try:
                return conn.raw.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc) from exc

    def write_many(self, sql: str, rows: Iterator[Params] | Sequence[Params]) -> int:
        """Run one writing statement for many parameter rows; call inside `atomic()`."""
        conn = self._conn()
        with self._turn_taken():
            self._check_writable(conn)
            try:
                return conn.raw.executemany(sql, rows).rowcount
            except sqlite3.Error as exc:
                raise translate(exc) from exc

    def _check_writable(self, conn: _Connection) -> None:
        if self.mode != "rw":
            raise ReadOnlyError(f"the store was opened with mode={self.mode!r}; it cannot write")
        if conn.readonly and conn.readonly[-1]:
            raise ReadOnlyError("cannot write inside a transaction(readonly=True)")

    def check_writable(self) -> None:
        """Raise `ReadOnlyError` if the calling thread may not write now."""
        self._check_writable(self._conn())

    # -- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a `transaction()` (or `atomic()`)."""
        return self._conn().depth > 0

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[None]:
        """Open a transaction, or a SAVEPOINT when one is already open on this thread."""
        conn = self._conn()
        with self._turn_taken():
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
                    # A deferred transaction starts its snapshot at the first read.
                    self._run(conn, "SELECT 1 FROM sqlite_master LIMIT 1")
            else:
                self._run(conn, f"SAVEPOINT tpstore_{level}")
            conn.depth += 1
            conn.readonly.append(readonly or outer_readonly)
            try:
                yield
            except BaseException:
                conn.depth -= 1
                conn.readonly.pop()
                self._rollback(conn, level)
                raise
            conn.depth -= 1
            conn.readonly.pop()
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
            else:
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

    # -- maintenance --------------------------------------------------------------------

    def raw_connection(self) -> sqlite3.Connection:
        """The calling thread's sqlite3 connection, for maintenance statements."""
        return self._conn().raw

    def run_outside_transaction(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn(connection)` with no transaction open on this thread (VACUUM needs it)."""
        conn = self._conn()
        if conn.depth:
            raise TpStoreError("this operation cannot run inside a transaction")
        with self._turn_taken():
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

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()


class _NoTurn:
    """File stores need no Python lock: each thread has its own connection."""

    __slots__ = ()

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: object) -> None:
        pass


def translate(exc: sqlite3.Error, context: str | None = None) -> TpStoreError:
    """Turn an sqlite3 exception into the tpstore error a user can act on."""
    message = str(exc)
    lowered = message.lower()
    prefix = f"{context}: " if context else ""
    if "locked" in lowered or "busy" in lowered:
        return BusyError(
            f"{prefix}the database stayed locked by another connection past the timeout "
            f"({message}); retry, or open the store with a longer timeout"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return ReadOnlyError(f"{prefix}the database cannot be written ({message})")
    if "not a database" in lowered or "file is encrypted" in lowered:
        return TpStoreError(f"{prefix}the file is not an SQLite database ({message})")
    return TpStoreError(f"{prefix}{message}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _uri(path: str, mode: str) -> str:
    from urllib.parse import quote as url_quote

    absolute = os.path.abspath(path)
    query = {"rw": "mode=rwc", "ro": "mode=ro", "immutable": "immutable=1"}[mode]
    return f"file:{url_quote(absolute)}?{query}"


def _check_file(path: str, mode: str) -> None:
    """Refuse, before SQLite touches it, a path that cannot be a store file."""
    absolute = os.path.abspath(path)
    parent = os.path.dirname(absolute)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"the folder {parent} does not exist (needed for {path})")
    if not os.path.exists(absolute):
        if mode != "rw":
            raise FileNotFoundError(f"{path} does not exist (mode={mode!r} cannot create it)")
        return
    if os.path.isdir(absolute):
        raise IsADirectoryError(f"{path} is a folder, not a store file")
    with open(absolute, "rb") as file:
        header = file.read(len(_SQLITE_HEADER))
    # A 0-byte file would be taken by SQLite as an empty database and written to;
    # refuse it like any other file that is not a database, leaving it untouched.
    if header != _SQLITE_HEADER:
        raise TpStoreError(f"{path} is not an SQLite database; it was left unchanged")
