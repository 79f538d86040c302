"""How the writing threads of one store in this process take turns, and commit together.

**The writer queue.** A thread that wants to write waits here, first come first served,
instead of retrying in the database's lock wait: only the thread whose turn it is
contends for the store's write lock with other processes, and no thread of this
process is passed over. The wait is bounded by the store's `timeout`; then `BusyError`.

**Group commit.** Single operations outside a transaction that queue behind one another
share one transaction, a *batch*: the first one begins it; then, in queue order, each
waiting operation joins it, and the last one commits. One commit (one fsync under
`durability="full"`) serves them all, and each of them returns only after it: every
operation is durable when it returns, as without batching. Nothing waits to fill a
batch: a thread that finds nobody writing runs at once, alone.

How an operation joins:

- a single statement (a put, a delete, an append) is run by whichever thread holds the
  batch at that moment, on the batch's session, while its own thread sleeps until the
  commit: a failing statement undoes only itself (SQLite's statements are atomic), and
  its thread raises its own error;
- a compound operation (an increment, a pop, `edit()`...) is handed the batch and runs
  in its own thread, in a savepoint of its own (so a refusal rolls back only itself).

A transaction opened with `transaction()` never joins a batch: it waits for its turn
and runs alone.

**When commits do not sync** (`durability="normal"` on a WAL file), a commit costs
less than waking a sleeping thread, so handing the turn to the next waiter after every
operation would cost each operation a wake-up (and keep every thread contending for
the GIL). There the queue is *patient*: a thread that ends its turn while the first
waiter has waited less than `PATIENCE` leaves the turn free instead of handing it on,
and the thread that finds it free first takes it (usually the one that just wrote,
going on with its next operation while the others sleep). A waiter that has waited
`PATIENCE` is handed the turn by the next thread ending one, or takes it itself if it
is free: it then leads a batch of everything queued behind it. No one waits more than
about `PATIENCE` plus the operations queued before it, and `timeout` still bounds the
wait. When commits sync, an fsync costs more than a wake-up: the turn passes on at
once, and the queue fills the batches. There, after a commit shared by several
threads, the thread that finds the turn free does not commit its statement alone (the
threads of that commit are about to write again, and would queue behind its fsync): it
begins a batch, and they join it as they come, while it runs. It does not wait for
them; once a batch holds only its leader, single statements commit alone again.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from tpstore._backends.base import Session
from tpstore.errors import BusyError, TpStoreError

MAX_BATCH: Final = 64
"""The most operations one group commit holds; the waiters after them start another."""

PATIENCE: Final = 0.002
"""Seconds the first waiter lets other threads take a free turn before it, when commits
do not sync (the queue's `patience`; 8 threads writing at `durability="normal"` measured
fastest at 2 ms, see docs/benchmarks.md)."""


class Waiter:
    """A thread waiting for its turn to write.

    Args:
        work: for a single statement, runs it on a session (whichever thread serves
            the batch calls it); `None` for a compound operation, which joins a batch
            in its own thread.
        joins: whether it may join a batch (not for a `transaction()`).
    """

    __slots__ = ("batch", "error", "joins", "result", "since", "wake", "work")

    def __init__(self, work: Callable[[Session], Any] | None, *, joins: bool = True) -> None:
        self.work = work
        self.joins = joins
        # The batch it joined, or None when it leads (begins its own transaction).
        self.batch: Batch | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        # When it began to wait (`time.monotonic()`; set only by a patient queue).
        self.since = 0.0
        self.wake = threading.Lock()
        self.wake.acquire()


class Batch:
    """One transaction shared by single operations of several threads.

    Args:
        session: the session holding the transaction, with the write lock taken.
    """

    __slots__ = ("_done", "error", "session", "size", "statements")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.size = 1
        # The statements run in it for other threads, woken when it ends.
        self.statements: list[Waiter] = []
        # Why the batch's work was not committed (its commit failed, or the database
        # rolled it back), for every operation of it that had succeeded.
        self.error: TpStoreError | None = None
        # Held until the batch ends. (A lock, not an Event: this is made for every
        # compound operation, and an Event costs ten times as much to make.)
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self, error: TpStoreError | None = None) -> None:
        """Record the commit (or why there was none) and wake everyone waiting for it."""
        self.error = error
        self._done.release()
        for waiter in self.statements:
            waiter.wake.release()

    def wait(self) -> None:
        """Wait until the batch has ended (then `error` says whether it committed)."""
        with self._done:  # each waiter takes it and gives it back, for the next one
            pass


class WriterQueue:
    """The turn to write, passed between the threads of one process in arrival order
    (a patient queue lets a thread that finds the turn free take it before the first
    waiter, for up to `patience`).

    Args:
        patience: how long (seconds) the first waiter lets threads that find the turn
            free take it before it; 0 hands the turn to the first waiter at once.
    """

    def __init__(self, patience: float = 0.0) -> None:
        self.patience = patience
        self._mutex = threading.Lock()
        # Held by whoever has the turn. `turn.acquire(False)` takes it when nobody has
        # it, without waiting (without patience it is never free while someone waits:
        # `give_back` passes it on directly); waiting for it goes through `take`.
        self.turn = threading.Lock()
        self._waiting: deque[Waiter] = deque()
        # Whether the last batch committed served several threads (kept where commits
        # sync, the queue not patient). Its threads are coming back to write, so the
        # thread that finds the turn free then begins a batch that they can join as
        # they come, instead of committing alone: else its fsync would serve one
        # operation while the others queue behind it. A batch of one clears it.
        self.gathering = False
        _queues.add(self)

    def take_free(self) -> bool:
        """Take the turn when it is free, without waiting: whether it was taken. (Not
        while the threads of a shared commit are coming back: see `gathering`; such a
        thread goes through `take`, where a free turn makes it lead a batch.)"""
        return not self.gathering and self.turn.acquire(False)

    def committing(self, batch: Batch) -> None:
        """Note that `batch` commits now: where commits sync, the next thread that finds
        the turn free begins a batch when this one served several threads."""
        if not self.patience:
            self.gathering = batch.size > 1

    def take(self, waiter: Waiter, timeout: float) -> Batch | None:
        """Wait up to `timeout` seconds for `waiter`'s turn.

        Returns:
            `None` when `waiter` has the turn and begins its own transaction; else the
            batch it joined: a compound operation now runs in it, and a statement's
            batch has ended (its `result` or `error` is set).

        Raises:
            BusyError: the turn did not come within `timeout`.
        """
        with self._mutex:
            if self.turn.acquire(False):
                return None
            if self.patience:  # (set before `give_back` can see it first in line)
                waiter.since = time.monotonic()
            self._waiting.append(waiter)
            place = len(self._waiting)
        if self.patience:
            return self._take_patiently(waiter, timeout, place)
        if not waiter.wake.acquire(timeout=max(timeout, 0.0)):
            with self._mutex:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    raise _busy(timeout)
            waiter.wake.acquire()  # picked just as the wait ended: its batch will end
        return waiter.batch

    def _take_patiently(self, waiter: Waiter, timeout: float, place: int) -> Batch | None:
        """`take` for a patient queue: wake up now and then to take a free turn.

        A waiter wakes first after `patience` for each waiter before it (it will hardly
        be first before), then every `patience`: when the turn is free (the thread that
        had it did not hand it on, as it had waited less than `patience`), it takes it.
        """
        now = waiter.since
        deadline = now + max(timeout, 0.0)
        pause = self.patience * place
        while not waiter.wake.acquire(timeout=max(min(pause, deadline - now), 0.0)):
            pause = self.patience
            with self._mutex:
                if waiter not in self._waiting:
                    break  # picked just as the wait ended: its wake-up comes
                if self.turn.acquire(False):
                    self._waiting.remove(waiter)
                    return None
                now = time.monotonic()
                if now >= deadline:
                    self._waiting.remove(waiter)
                    raise _busy(timeout)
        else:
            return waiter.batch
        waiter.wake.acquire()
        return waiter.batch

    def next_member(self, batch: Batch) -> Waiter | None:
        """The next waiter, taken out of the queue, if it may join `batch`; else `None`.

        The caller runs a statement's `work` itself; a compound operation must be woken
        (`waiter.wake.release()`), and then holds the batch.
        """
        with self._mutex:
            if not self._waiting or batch.size >= MAX_BATCH:
                return None
            waiter = self._waiting[0]
            if not waiter.joins:
                return None
            self._waiting.popleft()
            batch.size += 1
            waiter.batch = batch
            return waiter

    def give_back(self) -> None:
        """End the current turn: the next waiter leads, or the turn is free (nobody
        waits, or the first waiter has waited less than `patience`)."""
        with self._mutex:
            waiting = self._waiting
            if not waiting or (
                self.patience and time.monotonic() - waiting[0].since < self.patience
            ):
                self.turn.release()
                return
            waiter = waiting.popleft()
        waiter.wake.release()

    def _forked(self) -> None:
        """In a forked child: the parent's writers are not here, nor is their turn."""
        # The same lock objects (the engine holds `turn.acquire`), released if a thread
        # of the parent held them at the fork.
        for lock in (self._mutex, self.turn):
            if lock.locked():
                lock.release()
        self._waiting = deque()
        self.gathering = False


def _busy(timeout: float) -> BusyError:
    return BusyError(
        f"other writers kept the store busy for more than {timeout:g} s; "
        "retry, or open the store with a longer timeout"
    )


# Every queue, so that a forked child can reset them all.
_queues: weakref.WeakSet[WriterQueue] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for queue in list(_queues):
        queue._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
