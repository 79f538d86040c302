"""The backend-neutral core: sessions, transaction levels, and the statement API.

Collections, the catalog, the store and the command line run every statement through
an `Engine`; the engine runs it on a session of its backend's driver
(`tpstore._backends.base`), the same way for every backend.

Sessions: outside a transaction, each statement takes a session from the driver's pool
and gives it back right after. An outermost `transaction()` takes one for its whole
length and publishes it in a `contextvars.ContextVar`, so the statements and nested
levels of the thread that opened it run on it. Other threads find no session there
(each thread has its own context), so they neither see its uncommitted writes nor
write inside it; their writes wait for its lock. A session in the context is used only
by the thread that opened its transaction: a context copied into another thread
(`contextvars.copy_context().run`, `asyncio.to_thread`) does not carry the transaction
along.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from threading import get_ident
from typing import Any, NoReturn, TypeVar

from tpstore._backends import open_driver
from tpstore._backends.base import Driver, Params, Session
from tpstore.errors import ReadOnlyError, TpStoreError

T = TypeVar("T")

__all__ = ["Engine", "Params"]


class Engine:
    """Runs the statements and transactions of one store on its backend's driver.

    Args:
        location: a file path (or `None` for a private in-memory store), or a URL a
            backend handles; the other options as `Store` takes them.
    """

    def __init__(
        self,
        location: str | None,
        *,
        attach: dict[str, str] | None = None,
        mode: str = "rw",
        wal: bool | None = None,
        durability: str = "full",
        timeout: float = 5.0,
    ) -> None:
        driver = open_driver(
            location,
            attach=dict(attach or {}),
            mode=mode,
            wal=wal,
            durability=durability,
            timeout=timeout,
        )
        self.driver: Driver = driver
        self.dialect: Any = driver.dialect
        self.schemas = driver.schemas
        self.mode = driver.mode
        self.timeout = driver.timeout
        self.path = driver.location
        self.memory = driver.location is None
        self.attach = dict(attach or {})
        self._current: ContextVar[Session | None] = ContextVar(
            f"tpstore session {id(self):x}", default=None
        )
        # Bound once: the statement path calls them on every statement.
        self._acquire = driver.acquire
        self._release = driver.release
        self._translate = driver.translate

    @property
    def features(self) -> Any:
        """What the backend's database can do (SQLite: STRICT tables, RETURNING)."""
        return getattr(self.dialect, "features", None)

    # -- sessions -----------------------------------------------------------------------

    def _transaction_session(self) -> Session | None:
        """The session of the calling thread's open transaction, if it has one."""
        session = self._current.get()
        if session is None or session.owner != get_ident():
            return None
        if not session.live:
            self._dead(session)
        return session

    def _dead(self, session: Session) -> NoReturn:
        """Raise for a transaction whose connection the driver closed or abandoned."""
        self.driver.check_usable()  # ClosedError, or why a forked child cannot use it
        raise TpStoreError(
            "a transaction opened before os.fork() cannot be finished in the child process; "
            "it stays the parent's"
        )

    def _raise_translated(self, exc: BaseException) -> None:
        """Raise the tpstore error for `exc` if it is the driver's; return otherwise."""
        error = self._translate(exc)
        if error is not None:
            raise error from exc

    def check_open(self) -> None:
        """Raise `ClosedError` after `close()` (or the error of an unusable forked store).

        For operations that answer without a statement (a wrong-typed key, an empty
        lookup) and for iterators resuming over rows they fetched earlier.
        """
        self.driver.check_usable()

    def check_writable(self) -> None:
        """Raise `ReadOnlyError` if the calling thread may not write now.

        Also `ClosedError` after `close()`, as for every statement; operations that
        end up writing nothing (an empty `update`) call it, so they refuse all the same.
        """
        self.driver.check_usable()
        self._check_writable(self._transaction_session())

    def _check_writable(self, session: Session | None) -> None:
        if self.mode != "rw":
            raise ReadOnlyError(f"the store was opened with mode={self.mode!r}; it cannot write")
        if session is None:
            return
        if session.readonly and session.readonly[-1]:
            raise ReadOnlyError("cannot write inside a transaction(readonly=True)")
        if session.depth and not self.driver.in_transaction(session):
            # After some errors (a full disk, an I/O error) SQLite rolls the whole
            # transaction back by itself; a write now would run outside of it.
            raise TpStoreError(
                "the database rolled this transaction back after an earlier error; leave "
                "the transaction() block and start again"
            )

    # -- statements ---------------------------------------------------------------------

    # The path every statement takes. Outside a transaction: one context lookup, a
    # session from the pool and back. Inside one: the context lookup and an owner check.
    # Errors leave through `_raise_translated` (zero-cost until one is raised).

    def fetchone(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return its first row, or `None`."""
        session = self._current.get()
        if session is None or session.owner != get_ident() or not session.live:
            session = self._acquire() if session is None else self._borrow(session)
            try:
                return session.connection.execute(sql, params).fetchone()
            except BaseException as exc:
                self._raise_translated(exc)
                raise
            finally:
                self._release(session)
        try:
            return session.connection.execute(sql, params).fetchone()
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a query (or a statement with RETURNING) and return all its rows."""
        return self._run(sql, params, _fetchall, write=False)

    def write(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement (atomic by itself) and return the rows changed."""
        session = self._current.get()
        if session is None or session.owner != get_ident() or not session.live:
            session = self._acquire() if session is None else self._borrow(session)
            try:
                if self.mode != "rw":
                    self._check_writable(None)
                return session.connection.execute(sql, params).rowcount
            except BaseException as exc:
                self._raise_translated(exc)
                raise
            finally:
                self._release(session)
        self._check_writable(session)
        try:
            return session.connection.execute(sql, params).rowcount
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    def write_returning(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one writing statement with RETURNING and return its rows."""
        return self._run(sql, params, _fetchall, write=True)

    def write_many(self, sql: str, rows: Iterator[Params] | Sequence[Params]) -> int:
        """Run one writing statement for many parameter rows; call inside `atomic()`."""
        return self._run(sql, rows, _executemany, write=True)

    def stream(self, sql: str, params: Params = (), *, page: int = 1000) -> Iterator[Any]:
        """Rows of a query, fetched `page` at a time as they are iterated.

        The query runs on one session, held until the iteration ends (or the iterator is
        closed). Run it inside `transaction(readonly=True)` for a consistent snapshot.
        """
        session = self._transaction_session()
        borrowed = session is None
        if session is None:
            session = self._acquire()
        try:
            try:
                cursor = session.connection.execute(sql, params)
                rows = cursor.fetchmany(page)
            except BaseException as exc:
                self._raise_translated(exc)
                raise
            while rows:
                yield from rows
                try:
                    rows = cursor.fetchmany(page)
                except BaseException as exc:
                    self._raise_translated(exc)
                    raise
        finally:
            if borrowed:
                self._release(session)

    def _borrow(self, current: Session | None) -> Session:
        if current is not None and current.owner == get_ident():
            self._dead(current)  # a transaction of this thread whose connection is gone
        return self._acquire()

    def _run(
        self, sql: str, params: Any, action: Callable[[Session, str, Any], T], *, write: bool
    ) -> T:
        """Run `action(session, sql, params)` on the right session, errors translated."""
        session = self._current.get()
        if session is None or session.owner != get_ident() or not session.live:
            session = self._acquire() if session is None else self._borrow(session)
            try:
                if write:
                    self._check_writable(None)
                return action(session, sql, params)
            except BaseException as exc:
                self._raise_translated(exc)
                raise
            finally:
                self._release(session)
        if write:
            self._check_writable(session)
        try:
            return action(session, sql, params)
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    # -- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a `transaction()` (or `atomic()`)."""
        self.driver.check_usable()
        session = self._transaction_session()
        return session is not None and session.depth > 0

    @contextlib.contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[None]:
        """Open a transaction, or a SAVEPOINT when one is already open on this thread."""
        session = self._transaction_session()
        if session is None:
            with self._outermost(readonly=readonly) as session:
                yield
            return
        outer_readonly = bool(session.readonly) and session.readonly[-1]
        if not readonly:
            self._check_may_write(outer_readonly)
        level = session.depth
        pid = os.getpid()
        self.driver.savepoint(session, level)
        session.depth += 1
        session.readonly.append(readonly or outer_readonly)
        try:
            yield
        except BaseException:
            if os.getpid() != pid:  # a forked child: the transaction is the parent's
                raise
            session.depth -= 1
            session.readonly.pop()
            if not self.driver.closed:
                self.driver.rollback_to(session, level)
            raise
        _check_same_process(pid)
        session.depth -= 1
        session.readonly.pop()
        if self.driver.closed:  # closed inside the block: nothing can commit any more
            self.check_open()
        self.driver.release_savepoint(session, level)

    @contextlib.contextmanager
    def _outermost(self, *, readonly: bool) -> Iterator[Session]:
        """The outermost level: a session for its whole length, published in the context."""
        if not readonly:
            self._check_may_write(False)
        pid = os.getpid()
        session = self._acquire()
        try:
            self.driver.begin(session, write=not readonly)
            session.owner = get_ident()
            session.depth = 1
            session.readonly.append(readonly)
            token = self._current.set(session)
            try:
                yield session
            except BaseException:
                if os.getpid() != pid:  # a forked child: the transaction is the parent's
                    raise
                self._end(session)
                if not self.driver.closed:
                    self.driver.rollback(session)
                raise
            finally:
                self._current.reset(token)
            _check_same_process(pid)
            self._end(session)
            if self.driver.closed:  # closed inside the block: nothing can commit any more
                self.check_open()
            try:
                self.driver.commit(session)
            except TpStoreError:
                self.driver.rollback(session)
                raise
        finally:
            if os.getpid() == pid:
                self._release(session)

    @staticmethod
    def _end(session: Session) -> None:
        session.depth = 0
        session.readonly.clear()
        session.owner = None

    def _check_may_write(self, outer_readonly: bool) -> None:
        if self.mode != "rw":
            raise ReadOnlyError(
                f"the store was opened with mode={self.mode!r}; "
                "use transaction(readonly=True) to read a snapshot"
            )
        if outer_readonly:
            raise ReadOnlyError("cannot open a writing transaction inside a readonly one")

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """A compound operation: its own transaction, or a savepoint inside one.

        Its writes are serialised with every other writer of the store (the seam's
        guarantee, `tpstore._backends.base`), so a read followed by a write inside it
        loses no update.
        """
        return self.transaction()

    # -- waiting for other writers ------------------------------------------------------

    def changes(self, schema: str, deadline: float) -> Iterator[None]:
        """Yield now, then after every change committed to file `schema` by anyone else.

        A blocking pop tries once per step: whatever was committed after the step
        before began is seen by the next try. Ends at `deadline` (a `time.monotonic()`
        value, `math.inf` for never). Holds no lock and no transaction while it waits.
        How the driver learns of commits is its own affair (SQLite polls; a server
        database can be notified).
        """
        return self.driver.changes(schema, deadline)

    # -- maintenance and life cycle -----------------------------------------------------

    def outside_transaction(self, action: Callable[[Session], T]) -> T:
        """Run `action(session)` with no transaction open (VACUUM needs it)."""
        self.driver.check_usable()
        if self._transaction_session() is not None:
            raise TpStoreError("this operation cannot run inside a transaction")
        session = self._acquire()
        try:
            return action(session)
        except BaseException as exc:
            self._raise_translated(exc)
            raise
        finally:
            self._release(session)

    def settle(self) -> None:
        """Let the driver apply what it writes into the files once the catalog passed."""
        self.driver.settle()

    def close(self) -> None:
        """Close every connection; idempotent."""
        self.driver.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self.driver.closed


def _fetchall(session: Session, sql: str, params: Params) -> list[Any]:
    return session.connection.execute(sql, params).fetchall()


def _executemany(session: Session, sql: str, rows: Any) -> int:
    return session.connection.executemany(sql, rows).rowcount


def _check_same_process(pid: int) -> None:
    """Refuse to finish, in a forked child, a transaction its parent opened."""
    if os.getpid() != pid:
        raise TpStoreError(
            "a transaction opened before os.fork() cannot be finished in the child process; "
            "it stays the parent's"
        )
