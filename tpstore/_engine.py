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

Writers: the writing threads of one process take turns in a first-come, first-served
queue (patient where commits do not sync), and single operations outside a transaction
that wait there share one commit with each other (group commit: `tpstore._writers`).
Either way every operation outside a transaction is atomic, and durable when it returns.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from threading import get_ident
from typing import Any, NoReturn, TypeVar

from tpstore._backends import open_driver
from tpstore._backends.base import Driver, Params, Session
from tpstore._writers import PATIENCE, Batch, Waiter, WriterQueue
from tpstore.errors import ClosedError, ReadOnlyError, TpStoreError

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
        self._lock_taken = driver.lock_taken
        self._retry_locked = driver.retry_locked
        # A point read outside a transaction in one call, where the driver has it.
        self._point: Callable[[str, Params], Any] | None = getattr(driver, "fetch_point", None)
        # The turn to write, for the threads of this process (`tpstore._writers`); None
        # where the driver serialises them itself (an in-memory store's one connection).
        # Patient where commits do not sync (a driver without `commits_sync` syncs).
        patience = 0.0 if getattr(driver, "commits_sync", True) else PATIENCE
        self._queue = WriterQueue(patience) if driver.group_commit else None

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
                if self._lock_taken(exc):  # (a WAL file being recovered by another process)
                    taken = session
                    return self._retry_locked(
                        lambda: taken.connection.execute(sql, params).fetchone()
                    )
                self._raise_translated(exc)
                raise
            finally:
                self._release(session)
        try:
            return session.connection.execute(sql, params).fetchone()
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    def fetch_point(self, sql: str, params: Params = ()) -> Any:
        """`fetchone` of a query that selects at most one row (a key, a count row).

        The path of point reads: outside a transaction, the driver's `fetch_point` where
        it has one takes a session, runs the query and gives the session back in one call.
        """
        point = self._point
        if point is None or self._current.get() is not None:
            return self.fetchone(sql, params)
        try:
            return point(sql, params)
        except BaseException as exc:
            # Nothing was read: the query runs again, on the path that waits out a lock
            # (a WAL file being recovered by another process) and translates errors.
            if self._lock_taken(exc):
                return self.fetchone(sql, params)
            self._raise_translated(exc)
            raise

    def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a query (or a statement with RETURNING) and return all its rows."""
        return self._run(sql, params, _fetchall, write=False)

    def write(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement (atomic by itself) and return the rows changed."""
        session = self._current.get()
        if session is None or session.owner != get_ident() or not session.live:
            # The path of a single write: when no other thread writes, take the turn
            # and run the statement as its own transaction, as cheaply as a read.
            queue = self._queue
            if session is None and queue is not None and self.mode == "rw" and queue.take_free():
                try:
                    session = self._acquire()
                    try:
                        return session.connection.execute(sql, params).rowcount
                    except BaseException as exc:
                        return self._failed_alone(exc, session, sql, params, _rowcount)
                    finally:
                        self._release(session)
                finally:
                    queue.give_back()
            return self._write_alone(session, sql, params, _rowcount)
        self._check_writable(session)
        try:
            return session.connection.execute(sql, params).rowcount
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    def write_returning(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one writing statement with RETURNING and return its rows."""
        return self._run(sql, params, _fetchall, write=True)

    def take(
        self,
        sql: str,
        params: Params,
        check: Callable[[list[Any]], T],
        *,
        at_once: str | None = None,
    ) -> T:
        """Run one writing statement with RETURNING and return `check(rows)`.

        `check` sees the rows before they are committed; when it raises, the statement
        is undone and nothing is written (a popped value that no longer decodes stays
        queued). Inside a transaction it runs in a savepoint. Outside one it is a
        compound operation (`atomic()`), unless the driver runs it alone: a driver with
        a `take(session, sql, params, check, at_once)` method runs it as a short
        transaction of its own, without the store's write lock (the statement is
        atomic by itself).

        `at_once`: the same statement restricted to rows that `check` cannot refuse
        (a pop of a value stored as it is, when that value is not NULL). Such a driver
        runs it first, committed in the same round trip, and `sql` only when it
        returned no rows.
        """
        alone = getattr(self.driver, "take", None)
        if alone is None or self._transaction_session() is not None:
            with self.atomic():
                return check(self.write_returning(sql, params))
        self._check_may_write_alone()
        session = self._acquire()
        try:
            result: T = alone(session, sql, params, check, at_once)
        except BaseException as exc:
            self._raise_translated(exc)
            raise
        finally:
            self._release(session)
        return result

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
            if write:
                return self._write_alone(session, sql, params, action)
            session = self._acquire() if session is None else self._borrow(session)
            return self._run_pooled(session, sql, params, action)
        if write:
            self._check_writable(session)
        try:
            return action(session, sql, params)
        except BaseException as exc:
            self._raise_translated(exc)
            raise

    def _run_pooled(
        self, session: Session, sql: str, params: Any, action: Callable[[Session, str, Any], T]
    ) -> T:
        """Run `action` on `session`, taken from the pool outside a transaction; give it back.

        A statement that found a lock taken by another process did nothing: it runs again
        once the lock is free (the driver's wait, up to `timeout`).
        """
        try:
            return action(session, sql, params)
        except BaseException as exc:
            return self._failed_alone(exc, session, sql, params, action)
        finally:
            self._release(session)

    def _failed_alone(
        self,
        exc: BaseException,
        session: Session,
        sql: str,
        params: Any,
        action: Callable[[Session, str, Any], T],
    ) -> T:
        """After a statement outside a transaction raised `exc`: retry it if it found a
        lock taken by another process (it did nothing), else raise the tpstore error."""
        if self._lock_taken(exc):
            return self._retry_locked(lambda: action(session, sql, params))
        self._raise_translated(exc)
        raise exc

    def _check_may_write_alone(self) -> None:
        """Before a write outside a transaction: a closed store, then a read-only one,
        raise (a writable store's check is the statement's own)."""
        if self.mode != "rw":
            self.driver.check_usable()  # a closed store says so first
            self._check_writable(None)

    def _write_alone(
        self,
        current: Session | None,
        sql: str,
        params: Any,
        action: Callable[[Session, str, Any], T],
    ) -> T:
        """One writing statement outside a transaction: its turn, then its own commit.

        When no other thread of this process writes, the statement runs at once as its
        own transaction; otherwise it queues, and shares a group commit.
        """
        if current is not None and current.owner == get_ident():
            self._dead(current)  # a transaction of this thread whose connection is gone
        self._check_may_write_alone()
        queue = self._queue
        if queue is None or queue.take_free():
            try:
                return self._run_pooled(self._acquire(), sql, params, action)
            finally:
                if queue is not None:
                    queue.give_back()
        waiter = Waiter(lambda session: action(session, sql, params))
        deadline = time.monotonic() + self.timeout
        batch = queue.take(waiter, self.timeout)
        if batch is None:  # this thread leads a batch
            batch = self._begin_batch(queue, deadline)
            if self._serve(queue, batch, waiter) and self._carry_on(queue, batch):
                batch.wait()
        if waiter.error is not None:
            self._raise_translated(waiter.error)
            raise waiter.error
        if batch.error is not None:
            raise batch.error
        return waiter.result  # type: ignore[no-any-return]

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
            if session.pending:
                _forget_above(session.pending, level)
            if not self.driver.closed:
                self.driver.rollback_to(session, level)
            raise
        _check_same_process(pid)
        session.depth -= 1
        session.readonly.pop()
        if session.pending:
            _keep_at(session.pending, level)
        if self.driver.closed:  # closed inside the block: nothing can commit any more
            self.check_open()
        self.driver.release_savepoint(session, level)

    @contextlib.contextmanager
    def _outermost(self, *, readonly: bool) -> Iterator[Session]:
        """The outermost level: a session for its whole length, published in the context.

        A writing transaction first waits for its turn among this process's writers, and
        runs alone (it never joins a group commit).
        """
        queue = None if readonly else self._queue
        if not readonly:
            self._check_may_write(False)
        if queue is None:
            with self._open_outermost(readonly=readonly) as session:
                yield session
            return
        deadline = time.monotonic() + self.timeout
        queue.take(Waiter(None, joins=False), self.timeout)
        pid = os.getpid()
        try:
            with self._open_outermost(readonly=False, deadline=deadline) as session:
                yield session
        finally:
            if os.getpid() == pid:
                queue.give_back()

    @contextlib.contextmanager
    def _open_outermost(
        self, *, readonly: bool, deadline: float | None = None
    ) -> Iterator[Session]:
        pid = os.getpid()
        session = self._acquire()
        try:
            self.driver.begin(session, write=not readonly, deadline=deadline)
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
            committed = [entry[1] for entry in session.pending.values()]
            self._end(session)
            if self.driver.closed:  # closed inside the block: nothing can commit any more
                self.check_open()
            try:
                self.driver.commit(session)
            except TpStoreError:
                self.driver.rollback(session)
                raise
            for callback in committed:
                callback()
        finally:
            if os.getpid() == pid:
                self._release(session)

    @staticmethod
    def _end(session: Session) -> None:
        session.depth = 0
        session.readonly.clear()
        session.owner = None
        session.pending.clear()

    def once_per_commit(self, key: object, committed: Callable[[], None]) -> bool:
        """Whether the calling thread's transaction still has to do the work named `key`.

        The first call for `key` in a transaction answers `True` and remembers it; later
        calls answer `False`, until the savepoint (or transaction) of that first call
        rolls back, which forgets it. After the outermost level commits with the work
        in it, `committed()` runs. Call inside a writing transaction.
        """
        session = self._transaction_session()
        if session is None or not session.depth:
            raise TpStoreError("once_per_commit() needs a transaction")  # pragma: no cover
        if key in session.pending:
            return False
        session.pending[key] = [session.depth, committed]
        return True

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
        loses no update. Outside a transaction it may share one commit with the
        operations of other threads waiting to write (`tpstore._writers`).
        """
        if self._queue is None or self._transaction_session() is not None:
            return self.transaction()
        return self._grouped()

    @contextlib.contextmanager
    def _grouped(self) -> Iterator[None]:
        """A compound operation outside a transaction, committed with those queued.

        It leads a new batch (its own transaction) or joins the batch handed to it, in
        a savepoint; either way it returns only once the batch has committed, and
        raises only its own error (or the commit's, when that fails).
        """
        self._check_may_write(False)
        queue = self._queue
        assert queue is not None
        deadline = time.monotonic() + self.timeout
        batch = queue.take(Waiter(None), self.timeout)
        leader = batch is None
        if batch is None:
            batch = self._begin_batch(queue, deadline)
        session = batch.session
        if not leader:
            try:
                self.driver.savepoint(session, 1)
            except BaseException as exc:
                self._end_batch(queue, batch, exc)
                raise
            session.depth = 2
            session.readonly.append(False)
        pid = os.getpid()
        failure: BaseException | None = None
        session.owner = get_ident()
        token = self._current.set(session)
        try:
            yield
        except BaseException as exc:
            failure = exc
        finally:
            self._current.reset(token)
            session.owner = None
        if os.getpid() != pid:  # a forked child: the batch is the parent's
            if failure is not None:
                raise failure
            _check_same_process(pid)
        failure = self._leave_savepoint(queue, batch, failure, leader=leader)
        self._carry_on(queue, batch)
        if failure is not None:
            raise failure
        batch.wait()
        if batch.error is not None:
            raise batch.error

    def _leave_savepoint(
        self, queue: WriterQueue, batch: Batch, failure: BaseException | None, *, leader: bool
    ) -> BaseException | None:
        """Keep or undo the work of a compound operation that ran in `batch`.

        Returns its failure, if any, once the batch can go on; raises it when the batch
        cannot (it was the leader's, the store was closed, or the database rolled the
        whole transaction back), after ending the batch.
        """
        session = batch.session
        if self.driver.closed:  # closed inside the block: nothing can commit any more
            error = ClosedError("the store was closed before this operation was committed")
            batch.finish(error)
            queue.give_back()
            raise failure if failure is not None else error
        if leader:
            if failure is not None:  # the batch holds only this operation: drop it all
                self._end_batch(queue, batch, None)
                raise failure
            return None
        session.depth = 1
        session.readonly.pop()
        if failure is None:
            try:
                self.driver.release_savepoint(session, 1)
            except BaseException as exc:
                failure = exc
        if failure is not None:
            if session.pending:
                _forget_above(session.pending, 1)
            self.driver.rollback_to(session, 1)
            if not self.driver.in_transaction(session):
                self._end_batch(queue, batch, failure)
                raise failure
        elif session.pending:
            _keep_at(session.pending, 1)
        return failure

    def _begin_batch(self, queue: WriterQueue, deadline: float) -> Batch:
        """Begin the transaction of a new batch, led by the calling thread."""
        try:
            session = self._acquire()
        except BaseException:
            queue.give_back()
            raise
        try:
            self.driver.begin(session, write=True, deadline=deadline)
        except BaseException:
            self._release(session)
            queue.give_back()
            raise
        session.depth = 1
        session.readonly.append(False)
        return Batch(session)

    def _serve(self, queue: WriterQueue, batch: Batch, waiter: Waiter) -> bool:
        """Run a queued statement in `batch` for its thread; False if the batch ended."""
        assert waiter.work is not None
        batch.statements.append(waiter)
        try:
            waiter.result = waiter.work(batch.session)
        except BaseException as exc:
            waiter.error = exc
            if self.driver.closed or not self.driver.in_transaction(batch.session):
                self._end_batch(queue, batch, exc)
                return False
        return True

    def _carry_on(self, queue: WriterQueue, batch: Batch) -> bool:
        """After this thread's part of `batch`: serve the queue, hand on, or commit.

        Runs the single statements queued next in the batch, then hands the batch to
        the compound operation queued next, if any (returns True: it commits later);
        otherwise commits it (returns False).
        """
        while True:
            waiter = queue.next_member(batch)
            if waiter is None:
                self._commit_batch(queue, batch)
                return False
            if waiter.work is None:  # a compound operation: it runs in its own thread
                waiter.wake.release()
                return True
            if not self._serve(queue, batch, waiter):
                return False

    def _commit_batch(self, queue: WriterQueue, batch: Batch) -> None:
        """Commit `batch` for everyone in it, and let the next writer have its turn."""
        session = batch.session
        committed = [entry[1] for entry in session.pending.values()]
        queue.committing(batch)
        self._end(session)
        error: TpStoreError | None = None
        try:
            self.driver.commit(session)
        except TpStoreError as exc:
            error = exc
            with contextlib.suppress(TpStoreError):
                self.driver.rollback(session)
        finally:
            self._release(session)
            queue.give_back()
            batch.finish(error)
        if error is None:
            for callback in committed:
                callback()

    def _end_batch(self, queue: WriterQueue, batch: Batch, cause: BaseException | None) -> None:
        """Roll `batch` back and end it: what succeeded in it was not written."""
        session = batch.session
        self._end(session)
        try:
            if not self.driver.closed:
                with contextlib.suppress(TpStoreError):
                    self.driver.rollback(session)
        finally:
            self._release(session)
            queue.give_back()
            error = None
            if cause is not None:
                error = (
                    ClosedError("the store was closed before this operation was committed")
                    if self.driver.closed
                    else TpStoreError(
                        "the database rolled this operation back, with others committed "
                        f"together with it, after an error ({cause}); it was not written"
                    )
                )
            batch.finish(error)

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


def _rowcount(session: Session, sql: str, params: Params) -> int:
    return session.connection.execute(sql, params).rowcount


def _forget_above(pending: dict[object, list[Any]], level: int) -> None:
    """Forget the work done at nesting levels above `level` (they rolled back)."""
    for key in [key for key, entry in pending.items() if entry[0] > level]:
        del pending[key]


def _keep_at(pending: dict[object, list[Any]], level: int) -> None:
    """Hand the work done above `level` to `level` (their savepoints were released)."""
    for entry in pending.values():
        entry[0] = min(entry[0], level)


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
