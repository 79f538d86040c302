"""`Value[T]`: one persisted value."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tpstore._async import _Twins
from tpstore._bridge import bridge_of
from tpstore._collection import Collection, _shown
from tpstore._fields import MISSING

if TYPE_CHECKING:
    from tpstore._engine import Engine
    from tpstore._schema import CollectionSpec

T = TypeVar("T")


class Value(Collection, _Twins, Generic[T]):
    """One persisted, validated value, with an optional default.

    Example:
        ```python
        from pydantic import BaseModel
        import tpstore

        class Settings(BaseModel):
            theme: str = "light"

        class App(tpstore.Store):
            settings: tpstore.Value[Settings] = tpstore.field(default_factory=Settings)

        with App(None) as app:
            assert app.settings.get().theme == "light"
            with app.settings.edit() as settings:
                settings.theme = "dark"
            assert app.settings.value.theme == "dark"
        ```
    """

    kind_name = "Value"
    type_params = ("V",)
    layout = "single"
    options = frozenset({"default"})

    def __init__(
        self, engine: Engine, spec: CollectionSpec, table: str, clock: Callable[[], float]
    ) -> None:
        super().__init__(engine, spec, table, clock)
        self._sql = engine.dialect.single(spec.database, table)

    def get(self, default: Any = MISSING) -> T:
        """The stored value; when unset, `default` if given, else the field's default.

        Raises:
            LookupError: the value is unset and there is no default.
        """
        row = self._engine.fetchone(self._sql.get)
        if row is not None:
            return self._value.decode(row[0])  # type: ignore[union-attr, no-any-return]
        if default is not MISSING:
            return default  # type: ignore[no-any-return]
        fallback = self._spec.make_default()
        if fallback is MISSING:
            raise LookupError(f"{self._spec.name!r} is unset and has no default")
        return fallback  # type: ignore[no-any-return]

    def set(self, value: T) -> None:
        """Validate and store `value`."""
        raw = self._value.encode(value)  # type: ignore[union-attr]
        engine = self._engine
        self._through(engine.write)(self._sql.set, (raw,))

    @property
    def value(self) -> T:
        """The stored value (or the default); assigning stores a new one."""
        return self.get()

    @value.setter
    def value(self, value: T) -> None:
        self.set(value)

    @property
    def is_set(self) -> bool:
        """Whether a value is stored (a default does not count)."""
        return self._engine.fetchone(self._sql.get) is not None

    def delete(self) -> None:
        """Remove the stored value, back to unset; does nothing when already unset."""
        engine = self._engine
        self._through(engine.write)(self._sql.delete)

    def __repr__(self) -> str:
        head = f"<Value {self._spec.name!r}"
        if self._engine.closed:
            return f"{head} (closed)>"
        try:
            row = self._engine.fetchone(self._sql.get)
            shown = "unset" if row is None else _shown(self._value.decode(row[0]))  # type: ignore[union-attr]
        except Exception:  # repr() must describe even a value that no longer decodes
            return f"{head}>"
        return f"{head}: {shown}>"

    @contextlib.contextmanager
    def edit(self) -> Iterator[T]:
        """Read the value (or the default), let the block change it, write it back.

        On normal exit the value is validated and written, atomically with the read; on
        an exception nothing is written. The object yielded is the one written back, so
        the block must change it in place: for an immutable value (`int`, `str`, a
        tuple, a frozen model) rebinding the name writes the old value back; assign
        `value` (or call `set`) instead.

        Example:
            ```python
            from pydantic import BaseModel
            import tpstore

            class Settings(BaseModel):
                theme: str = "light"

            class App(tpstore.Store):
                settings: tpstore.Value[Settings] = tpstore.field(default_factory=Settings)
                runs: tpstore.Value[int] = tpstore.field(default=0)

            with App(None) as app:
                with app.settings.edit() as settings:  # a model: changed in place
                    settings.theme = "dark"
                with app.runs.edit() as runs:          # an int: this rebinds `runs`
                    runs += 1                          # only, and 0 is written back
                app.runs.value = app.runs.get() + 1    # assign instead
                assert app.runs.value == 1
            ```

        Raises:
            LookupError: the value is unset and there is no default.
        """
        column = self._value
        assert column is not None
        with self._engine.atomic():
            row = self._engine.fetchone(self._sql.get)
            if row is not None:
                current = column.decode(row[0])
            else:
                default = self._spec.make_default()
                if default is MISSING:
                    raise LookupError(f"{self._spec.name!r} is unset and has no default")
                # Validated, so the block sees the declared type even for a dict default.
                current = column.decode(column.encode(default))
            yield current
            self.set(current)

    @property
    def name(self) -> str:
        """The collection's field name in its store."""
        return self._spec.name

    def migrate(self) -> int:
        """Rewrite the stored value if it needs the `field(migrate=...)` hook.

        Returns:
            How many values were rewritten: 1 or 0.

        Raises:
            CorruptValueError: the hook cannot upgrade the value (its error is the
                `__cause__`); nothing is written.
        """
        return self._migrate()

    # -- asyncio (DESIGN §11) ------------------------------------------------------------

    async def aget(self, default: Any = MISSING) -> T:
        """`get(default)`, awaited."""
        return await self._twin(self.get, default)

    async def aset(self, value: T) -> None:
        """`set(value)`, awaited."""
        return await self._awrite(self.set, value)

    async def adelete(self) -> None:
        """`delete()`, awaited."""
        return await self._awrite(self.delete)

    async def ais_set(self) -> bool:
        """The `is_set` property, awaited."""
        return await bridge_of(self._engine).run(lambda: self.is_set)

    def aedit(self) -> contextlib.AbstractAsyncContextManager[T]:
        """`edit()` as an async context manager (one transaction, as `aedit` of mappings)."""
        return self._ahold(self.edit)

    async def amigrate(self) -> int:
        """`migrate()`, awaited: the number of stored values upgraded by the hook."""
        return await self._twin(self.migrate)
