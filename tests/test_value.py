"""`Value[T]`: one persisted value with an optional default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import execute
from pydantic import BaseModel

from tpstore import CorruptValueError, Store, ValidationError, Value, field


class Settings(BaseModel):
    theme: str = "light"
    size: int = 12


class BoomError(Exception):
    """Raised inside an `edit()` block."""


class App(Store):
    settings: Value[Settings] = field(default_factory=Settings)
    plain: Value[Settings]
    tags: Value[list[str]] = field(default=[])
    count: Value[int] = field(default=0)
    maybe: Value[int | None]
    name: Value[str] = field(default="anonymous")


@pytest.fixture
def app(location: str | None) -> Iterator[App]:
    with App(location) as opened:
        yield opened


def test_unset_without_default_raises_lookup_error(app: App) -> None:
    """`get()`, `.value` and `edit()` of an unset value without default: `LookupError`."""
    assert not app.plain.is_set
    with pytest.raises(LookupError):
        app.plain.get()
    with pytest.raises(LookupError):
        app.plain.value  # noqa: B018 - the property read is the test
    with pytest.raises(LookupError), app.plain.edit():
        pass  # pragma: no cover - never entered


def test_get_with_default_argument(app: App) -> None:
    """`get(default)` returns the argument while unset, the stored value once set."""
    fallback = Settings(theme="x")
    assert app.plain.get(fallback) is fallback
    assert app.plain.get(None) is None
    assert app.settings.get("given") == "given"  # the argument wins over the field default
    app.plain.set(Settings(theme="dark"))
    assert app.plain.get(fallback) == Settings(theme="dark")


def test_field_default_and_default_factory(app: App) -> None:
    """An unset value reads as the field's default or a fresh `default_factory()`."""
    assert app.settings.get() == Settings()
    assert app.count.get() == 0
    assert app.name.value == "anonymous"
    assert app.tags.value == []
    assert not app.settings.is_set
    assert not app.count.is_set


def test_default_factory_is_called_per_use(app: App) -> None:
    """Each read of an unset value gets a new object from the factory."""
    first = app.settings.get()
    first.theme = "changed"
    assert app.settings.get() == Settings()
    assert app.settings.get() is not app.settings.get()


def test_mutable_default_is_copied_per_use(app: App) -> None:
    """A mutable `default` is copied for each use, never shared or changed."""
    tags = app.tags.get()
    tags.append("leak")
    assert app.tags.get() == []
    assert App.__tpstore_fields__["tags"].default == []
    with app.tags.edit() as edited:
        edited.append("a")
    assert app.tags.get() == ["a"]
    assert App.__tpstore_fields__["tags"].default == []


def test_set_get_and_value_property(app: App) -> None:
    """`set()` and assigning `.value` store a validated value that `get()` returns."""
    app.count.set(3)
    assert app.count.get() == 3
    assert app.count.is_set
    app.count.value = 4
    assert app.count.value == 4
    app.settings.value = {"theme": "dark"}  # type: ignore[assignment]  # lax: dict → model
    assert app.settings.value == Settings(theme="dark")
    assert type(app.settings.value) is Settings


def test_none_is_a_value_not_unset(app: App) -> None:
    """`None` stored in a `Value[int | None]` is set, and reads back as `None`."""
    app.maybe.set(None)
    assert app.maybe.is_set
    assert app.maybe.get() is None
    assert app.maybe.get(5) is None


def test_delete_goes_back_to_unset(app: App) -> None:
    """`delete()` removes the value (reads fall back to the default)."""
    app.count.set(9)
    app.count.delete()
    assert not app.count.is_set
    assert app.count.get() == 0
    app.plain.set(Settings())
    app.plain.delete()
    with pytest.raises(LookupError):
        app.plain.get()


def test_delete_on_unset_does_nothing(app: App) -> None:
    """`delete()` of an unset value is a no-op, not an error."""
    app.plain.delete()
    app.plain.delete()
    assert not app.plain.is_set


def test_edit_starts_from_the_default_and_writes_back(app: App) -> None:
    """`edit()` of an unset value starts from the default, and writes on normal exit."""
    with app.settings.edit() as settings:
        assert settings == Settings()
        settings.theme = "dark"
    assert app.settings.is_set
    assert app.settings.get() == Settings(theme="dark")
    with app.settings.edit() as settings:
        settings.size += 1
    assert app.settings.get() == Settings(theme="dark", size=13)


def test_edit_writes_nothing_on_exception(app: App) -> None:
    """An exception in the block leaves the value (and its unset state) unchanged."""
    with pytest.raises(BoomError), app.settings.edit() as settings:  # noqa: PT012
        settings.theme = "dark"
        raise BoomError
    assert not app.settings.is_set
    app.settings.set(Settings(theme="blue"))
    with pytest.raises(BoomError), app.settings.edit() as settings:  # noqa: PT012
        settings.theme = "dark"
        raise BoomError
    assert app.settings.get() == Settings(theme="blue")


def test_edit_that_breaks_the_type_is_refused(app: App) -> None:
    """A mutation into a wrong type is refused on write-back, leaving the old value."""
    app.settings.set(Settings())
    with pytest.raises(ValidationError) as caught, app.settings.edit() as settings:
        settings.size = "big"  # type: ignore[assignment]
    assert caught.value.collection == "settings"
    assert caught.value.key is None
    assert app.settings.get() == Settings()


def test_invalid_set_writes_nothing(app: App) -> None:
    """`set()` of an invalid value raises `ValidationError` and keeps the old one."""
    app.count.set(1)
    with pytest.raises(ValidationError):
        app.count.set("many")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        app.count.set(2**64)
    assert app.count.get() == 1
    with pytest.raises(ValidationError):
        app.plain.set({"size": "x"})  # type: ignore[arg-type]
    assert not app.plain.is_set


def test_value_persists_across_reopen(db_path: Any) -> None:
    """A set value is there after close and reopen; an unset one stays unset."""
    with App(db_path) as app:
        app.settings.set(Settings(theme="dark"))
        app.count.set(7)
    with App(db_path) as app:
        assert app.settings.get() == Settings(theme="dark")
        assert app.count.get() == 7
        assert not app.plain.is_set


def test_corrupt_value_raises_corrupt_value_error(db_path: Any) -> None:
    """A stored value that no longer validates raises `CorruptValueError`, key `None`."""
    with App(db_path) as app:
        app.settings.set(Settings())
    execute(db_path, 'UPDATE settings SET value = \'{"size": "huge"}\'')
    with App(db_path) as app:
        with pytest.raises(CorruptValueError) as caught:
            app.settings.get()
        assert caught.value.collection == "settings"
        assert caught.value.key is None
        assert app.settings.is_set
        app.settings.delete()
        assert app.settings.get() == Settings()


def test_value_in_transaction_rolls_back(app: App) -> None:
    """A `set()` inside a transaction that fails is undone."""
    app.count.set(1)
    with pytest.raises(BoomError), app.transaction():  # noqa: PT012
        app.count.set(2)
        assert app.count.get() == 2
        raise BoomError
    assert app.count.get() == 1


def test_repr_shows_the_stored_value_or_unset(app: App) -> None:
    assert repr(app.count) == "<Value 'count': unset>"  # a default is not stored
    app.settings.value = Settings(theme="dark")
    assert repr(app.settings) == "<Value 'settings': Settings(theme='dark', size=12)>"
    app.close()
    assert repr(app.settings) == "<Value 'settings' (closed)>"
