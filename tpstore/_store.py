"""`Store`: the declarative base class, its metaclass and the store-level methods."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self

from tpstore import _catalog
from tpstore._async import _Twins
from tpstore._bridge import bridge_of, close_bridge
from tpstore._collection import Collection
from tpstore._engine import Engine
from tpstore._schema import CollectionSpec, check_name, read_fields
from tpstore.errors import ClosedError, SchemaError


class StoreMeta(type):
    """Reads a store class's annotations into collection declarations at class creation."""

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> StoreMeta:
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if not any(isinstance(base, StoreMeta) for base in bases):
            cls.__tpstore_fields__ = {}  # type: ignore[attr-defined]
            return cls
        reserved = {attr for attr in dir(Store) if not attr.startswith("__")}
        # The frame running the class statement: a class made inside a function may
        # name that function's local types in string annotations.
        caller = sys._getframe(1)
        local_names = caller.f_locals if caller.f_locals is not caller.f_globals else None
        fields = read_fields(cls, reserved, local_names)
        for field_name in fields:
            if field_name in cls.__dict__:
                delattr(cls, field_name)  # the instance's collection takes its place
        cls.__tpstore_fields__ = fields  # type: ignore[attr-defined]
        return cls


class Store(_Twins, metaclass=StoreMeta):
    """A set of typed, persistent collections in one SQLite file (plus attachments).

    Subclass it and annotate each collection; opening an instance creates or opens the
    file, checks the declaration against the file's catalog and binds every collection
    as an attribute.

    Args:
        path: the file (`str` or path-like); `None` or `":memory:"` for a private
            in-memory store.
        attach: `{schema_name: path}` of extra files; fields declared with
            `field(database=schema_name)` live there, and one transaction spans all.
        namespace: a prefix for every table (`"{namespace}.{table}"`), so several
            stores share one file; it cannot contain `.`.
        mode: `"rw"` (create or open), `"ro"` (read only, sees others' commits) or
            `"immutable"` (never locked or written; only for files nobody writes).
        wal: `None` chooses the WAL journal without attachments and the rollback journal
            with them (multi-file commits are atomic only then); `True`/`False` force it.
        durability: `"full"`: a commit that returned survives power loss;
            `"normal"`: faster, and after power loss the newest commits may be lost
            (never corrupted). With the rollback journal it is the same as `"full"`.
        timeout: seconds to wait for another writer's lock before `BusyError`.
        clock: a zero-argument callable returning POSIX seconds, used for expiry.

    Raises:
        FileNotFoundError: the parent folder is missing, or the file is missing in
            `"ro"`/`"immutable"` mode.
        TpStoreError: the file is not an SQLite database (it is left unchanged).
        SchemaError: the declaration disagrees with the file's catalog, a field lives in
            a database that is not attached, or a name is reserved or invalid.
        BusyError: another connection held a lock the open needed past `timeout`.

    A file on a network filesystem opens with a `tpstore.TpStoreWarning`. A store
    pickles as the recipe to open it again (its path and options), so it can be passed
    to processes started with `multiprocessing`'s spawn method.

    Example:
        ```python
        from pydantic import BaseModel
        import tpstore

        class User(BaseModel):
            name: str
            age: int = 0

        class App(tpstore.Store):
            users: tpstore.Mapping[str, User]
            tags: tpstore.Set[str]

        with App(None) as app:
            app.users["ada"] = {"name": "Ada", "age": 36}
            assert app.users["ada"] == User(name="Ada", age=36)
        ```
    """

    __tpstore_fields__: ClassVar[dict[str, CollectionSpec]]

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        attach: dict[str, str | os.PathLike[str]] | None = None,
        namespace: str | None = None,
        mode: str = "rw",
        wal: bool | None = None,
        durability: str = "full",
        timeout: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if namespace is not None:
            check_name(namespace, "namespace")
            if "." in namespace:
                # Tables are named "{namespace}.{table}": a dot would make two
                # namespaces' tables collide ("a.b" + "c" and "a" + "b.c").
                raise SchemaError(f"namespace name {namespace!r} cannot contain '.'")
        for schema in attach or {}:
            check_name(schema, "attached database")
            if schema.lower() in ("main", "temp"):
                raise SchemaError(f"{schema!r} cannot name an attached database")
        file = None if path is None or path == ":memory:" else os.fspath(path)
        files = {name: os.fspath(p) for name, p in (attach or {}).items()}
        for spec in self.__tpstore_fields__.values():
            if spec.database != "main" and spec.database not in files:
                # Found before any file is opened or created (the catalog check repeats it).
                attached = ", ".join(repr(name) for name in ("main", *files))
                raise SchemaError(
                    f"{type(self).__qualname__}.{spec.name} lives in database "
                    f"{spec.database!r}, which is not attached (attached: {attached}); "
                    f"pass attach={{{spec.database!r}: path}}"
                )
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a zero-argument callable returning POSIX seconds")
        self._clock: Callable[[], float] = clock or time.time
        self._namespace = namespace
        self._options: dict[str, Any] = {
            "attach": files,
            "namespace": namespace,
            "mode": mode,
            "wal": wal,
            "durability": durability,
            "timeout": timeout,
            "clock": clock,
        }
        self._engine = Engine(
            file, attach=files, mode=mode, wal=wal, durability=durability, timeout=timeout
        )
        if clock is None:
            # A backend may keep time itself: PostgreSQL's is the server's clock, so
            # clients whose clocks differ agree on what has expired.
            self._clock = getattr(self._engine.driver, "clock", time.time)
        try:
            bindings = [
                (spec, self._table_name(spec.table)) for spec in self.__tpstore_fields__.values()
            ]
            # Backends with their own limits on names (PostgreSQL's 63 bytes) check them.
            check_name_here = getattr(self._engine.dialect, "check_name", None)
            for spec, table in bindings:
                if check_name_here is not None:
                    check_name_here(table, f"{type(self).__qualname__}.{spec.name}: table")
            unrecorded = _catalog.ensure(
                self._engine, type(self).__qualname__, bindings, self._clock
            )
            self._engine.settle()
        except BaseException:
            self._engine.close()
            raise
        self._collections: dict[str, Collection] = {}
        for spec, table in bindings:
            collection = spec.kind(self._engine, spec, table, self._clock)
            collection._unrecorded = (spec.database, table) in unrecorded
            self._collections[spec.name] = collection
            object.__setattr__(self, spec.name, collection)

    def _table_name(self, table: str) -> str:
        return f"{self._namespace}.{table}" if self._namespace else table

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).__tpstore_fields__:
            if value is self.__dict__.get(name):
                # `app.tags |= {...}` and `app.log += [...]` assign the collection
                # its own in-place result; that is no replacement.
                return
            raise AttributeError(
                f"{name!r} is a persistent collection and cannot be replaced; "
                "change its items instead"
            )
        super().__setattr__(name, value)

    # -- transactions and life cycle ------------------------------------------------------

    def transaction(self, *, readonly: bool = False) -> contextlib.AbstractContextManager[None]:
        """One atomic, isolated unit of work; nested calls are savepoints.

        An exception leaving the block rolls back exactly that level and propagates;
        normal exit of the outermost level commits. With `readonly=True` the block
        reads one consistent snapshot and writes raise `ReadOnlyError`.

        Example:
            ```python
            import tpstore

            class Bank(tpstore.Store):
                balances: tpstore.Mapping[str, int]

            with Bank(None) as bank:
                with bank.transaction():
                    bank.balances["alice"] = 10
                    try:
                        with bank.transaction():
                            bank.balances["alice"] -= 20
                            raise RuntimeError("overdrawn")
                    except RuntimeError:
                        pass
                assert bank.balances["alice"] == 10
            ```
        """
        return self._engine.transaction(readonly=readonly)

    def close(self) -> None:
        """Close the store's connections; idempotent. Later use raises `ClosedError`."""
        self._engine.close()
        close_bridge(self._engine)

    @property
    def closed(self) -> bool:
        """Whether the store has been closed."""
        return self._engine.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        if self._engine.memory:
            raise TypeError(
                "an in-memory store cannot be pickled (its data lives in this process); "
                "give it a file to share it with other processes"
            )
        if self.closed:
            raise ClosedError("the store is closed; a closed store cannot be pickled")
        return (_reopen, (type(self), self._engine.path, self._options))

    def __repr__(self) -> str:
        where = self._engine.path or ":memory:"
        state = " (closed)" if self.closed else ""
        return f"<{type(self).__qualname__} {where!r}{state}>"

    # -- maintenance ---------------------------------------------------------------------

    def purge(self) -> int:
        """Drop the expired items of every expiring collection; returns how many."""
        expiring = [c for c in self._collections.values() if c.expiring]
        with self._engine.transaction():
            return sum(c.purge() for c in expiring)  # type: ignore[attr-defined]

    def migrate(self) -> int:
        """Upgrade the stored values of every collection with a `field(migrate=...)` hook.

        One transaction over `collection.migrate()` of each: either every value that
        needs its hook is rewritten, or (a value the hook cannot upgrade raises
        `CorruptValueError`) nothing is.

        Returns:
            How many values were rewritten, in all collections.
        """
        with self._engine.transaction():
            return sum(collection._migrate() for collection in self._collections.values())

    def vacuum(self) -> None:
        """Rebuild every file of the store, returning free pages to the file system.

        Runs outside any transaction and needs a moment when no other connection is
        writing (it waits up to `timeout` for one). With WAL, the rebuilt pages go
        through the WAL, so the file shrinks at the checkpoint that `vacuum()` runs
        right after.

        Raises:
            ReadOnlyError: the store is not opened with mode `"rw"`.
            TpStoreError: called inside a transaction.
        """
        self._engine.check_writable()
        self._engine.outside_transaction(self._engine.driver.vacuum)

    def optimize(self) -> None:
        """Let SQLite refresh the statistics its query planner uses (`PRAGMA optimize`)."""
        self._engine.check_writable()
        self._engine.outside_transaction(self._engine.driver.optimize)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (no-op without WAL).

        SQLite checkpoints by itself as the WAL grows; call this before copying the
        files by other means, or to give the WAL's disk space back. It waits (up to
        `timeout`) for readers still using the old pages, and leaves the WAL as it is
        if they stay longer.

        Raises:
            ReadOnlyError: the store is not opened with mode `"rw"`.
        """
        self._engine.check_writable()
        self._engine.outside_transaction(self._engine.driver.checkpoint)

    def backup(self, path: str | os.PathLike[str], *, database: str = "main") -> None:
        """Write a consistent copy of one file of the store to `path`, online.

        Other threads and processes may keep writing meanwhile; the copy is a snapshot
        of one committed state, and opens as a store like the original. It is written
        under a temporary name next to `path` and renamed into place, so `path` never
        holds a half-written copy. With WAL, writers go on while the copy is made; with
        the rollback journal (attached files) they wait for it, up to their `timeout`.

        Args:
            path: the destination file; an existing SQLite file there is replaced.
            database: `"main"` or the name of an attached database.

        Raises:
            ValueError: `database` is not one of the store's, or `path` is one of the
                store's own files.
            FileNotFoundError: the destination folder does not exist.
            TpStoreError: `path` exists and is not an SQLite database (it is left
                alone), or the copy failed; called inside a transaction.

        Example:
            ```python
            import os, tempfile
            import tpstore

            class Notes(tpstore.Store):
                notes: tpstore.Mapping[str, str]

            folder = tempfile.mkdtemp()
            with Notes(os.path.join(folder, "notes.db")) as notes:
                notes.notes["a"] = "first"
                notes.backup(os.path.join(folder, "copy.db"))
            with Notes(os.path.join(folder, "copy.db"), mode="ro") as copy:
                assert copy.notes["a"] == "first"
            ```
        """
        if database not in self._engine.schemas:
            raise ValueError(
                f"no database named {database!r}; the store has {', '.join(self._engine.schemas)}"
            )
        target_path = os.fspath(path)
        self._engine.outside_transaction(
            lambda session: self._engine.driver.backup(session, database, target_path)
        )

    # -- asyncio (DESIGN §11) --------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: object, traceback: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store, like `close()`, without blocking the event loop; idempotent."""
        if self._engine.closed:
            return
        await bridge_of(self._engine).run_alone(self.close)

    def atransaction(
        self, *, readonly: bool = False
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The asyncio twin of `transaction()`: `async with store.atransaction(): ...`.

        The transaction belongs to the task that opened it: other tasks neither see its
        writes nor write inside it; their writes wait, without blocking the event loop,
        for its lock (up to `timeout`, then `BusyError`). Tasks started inside the block
        (`asyncio.gather`, `asyncio.create_task`) run inside it and share it, their
        statements one at a time. Nested blocks are savepoints. A task cancelled inside
        the block rolls it back (after its running statement ends) and the store stays
        usable.

        Inside the block, use the `a`-methods: a synchronous call from the event loop's
        thread runs outside the transaction, and its write would wait for the
        transaction's own lock.
        """
        return self._ahold(lambda: self._engine.transaction(readonly=readonly))

    async def apurge(self) -> int:
        """The asyncio twin of `purge()`: drop expired items; returns how many."""
        return await self._twin(self.purge)

    async def avacuum(self) -> None:
        """The asyncio twin of `vacuum()`."""
        return await self._twin(self.vacuum)

    async def aoptimize(self) -> None:
        """The asyncio twin of `optimize()`."""
        return await self._twin(self.optimize)

    async def acheckpoint(self) -> None:
        """The asyncio twin of `checkpoint()`."""
        return await self._twin(self.checkpoint)

    async def abackup(self, path: str | os.PathLike[str], *, database: str = "main") -> None:
        """The asyncio twin of `backup(path, database=...)`."""
        return await self._twin(self.backup, path, database=database)

    async def amigrate(self) -> int:
        """The asyncio twin of `migrate()`: upgrade stored values; returns how many."""
        return await self._twin(self.migrate)


def _reopen(cls: type[Store], path: str, options: dict[str, Any]) -> Store:
    """Open a store again from its pickled recipe (see `Store.__reduce__`)."""
    return cls(path, **options)
