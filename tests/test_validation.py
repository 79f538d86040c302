"""Validation on write and read (DESIGN.md §4): refusals write nothing, reads are typed."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from helpers import execute, query
from pydantic import BaseModel

from tpstore import (
    CorruptValueError,
    Mapping,
    OrderedMapping,
    Store,
    TpStoreError,
    ValidationError,
    Value,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class User(BaseModel):
    name: str
    age: int = 0


class Measure(BaseModel):
    value: float
    spare: float | None = None
    history: list[float] = []


@dataclass
class Point:
    x: float
    y: float


class App(Store):
    users: Mapping[str, User]
    recent: OrderedMapping[str, User]
    counts: Mapping[str, int]
    maybe_counts: Mapping[str, int | None]
    reals: Mapping[str, float]
    maybe_reals: Mapping[str, float | None]
    measures: Mapping[str, Measure]
    points: Mapping[str, Point]
    series: Mapping[str, list[float]]
    optional_json: Mapping[str, float | str | None]
    table: Mapping[str, dict[str, float]]
    setting: Value[Measure]


@pytest.fixture
def app(location: str | None) -> Iterator[App]:
    with App(location) as opened:
        yield opened


@pytest.fixture
def file_app(db_path: Path) -> Iterator[App]:
    with App(db_path) as opened:
        yield opened


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """The raw rows of a table, read with plain sqlite3 (another connection)."""
    return query(path, f'SELECT * FROM "{table}" ORDER BY 1')


# -- refusals on write --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("users", {"name": 3}),
        ("users", {"age": 1}),
        ("users", "not a user"),
        ("counts", "many"),
        ("counts", 1.5),
        ("counts", None),
        ("reals", "x"),
        ("points", {"x": 1}),
        ("series", [1.0, "b"]),
    ],
)
def test_invalid_value_raises_validation_error_with_context(
    file_app: App, db_path: Path, field: str, value: Any
) -> None:
    """An invalid value: `ValidationError` naming collection and key; pydantic's cause."""
    collection = getattr(file_app, field)
    collection["keep"] = _good(field)
    before = _rows(db_path, field)
    with pytest.raises(ValidationError) as caught:
        collection["k"] = value
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, TpStoreError)
    assert error.collection == field
    assert error.key == "k"
    assert error.errors()
    assert isinstance(error.__cause__, pydantic.ValidationError)
    assert error.errors() == _plain_errors(error.__cause__)
    assert "k" not in collection
    assert len(collection) == 1
    assert _rows(db_path, field) == before


def _good(field: str) -> Any:
    return {
        "users": User(name="A"),
        "counts": 1,
        "reals": 1.0,
        "points": Point(1.0, 2.0),
        "series": [1.0],
    }[field]


def _plain_errors(error: pydantic.ValidationError) -> list[dict[str, Any]]:
    """pydantic's error list as plain, picklable data, locations kept as tuples."""
    import json

    errors: list[dict[str, Any]] = json.loads(error.json(include_url=False))
    for entry in errors:
        entry["loc"] = tuple(entry["loc"])
    return errors


def test_refused_value_inside_a_transaction_writes_nothing(file_app: App, db_path: Path) -> None:
    """A refusal inside a transaction leaves the transaction usable and writes nothing."""
    with file_app.transaction():
        file_app.counts["a"] = 1
        with pytest.raises(ValidationError):
            file_app.counts["b"] = "many"  # type: ignore[assignment]
        file_app.counts["c"] = 3
    assert dict(file_app.counts) == {"a": 1, "c": 3}
    assert _rows(db_path, "counts") == [("a", 1), ("c", 3)]


def test_model_instance_mutated_into_a_wrong_type_is_refused(file_app: App, db_path: Path) -> None:
    """A model instance is re-validated on write, not trusted for being a model."""
    user = User(name="Ada")
    user.age = "old"  # type: ignore[assignment]
    with pytest.raises(ValidationError) as caught:
        file_app.users["ada"] = user
    assert caught.value.key == "ada"
    with pytest.raises(ValidationError):
        file_app.recent["ada"] = user
    with pytest.raises(ValidationError):
        file_app.users.update({"ada": user})
    assert _rows(db_path, "users") == []
    assert "ada" not in file_app.users


def test_nested_model_mutation_is_refused(app: App) -> None:
    """A list inside a model mutated to hold a wrong type is refused too."""
    measure = Measure(value=1.0, history=[1.0])
    measure.history.append("x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        app.measures["m"] = measure


# -- unfaithful values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("counts", INT64_MAX + 1),
        ("counts", INT64_MIN - 1),
        ("counts", 10**30),
        ("counts", math.inf),
        ("users", {"name": "a", "age": math.inf}),
        ("users", {"name": "a", "age": math.nan}),
        ("maybe_counts", INT64_MAX + 1),
        ("reals", math.nan),
        ("maybe_reals", math.nan),
        ("measures", Measure(value=math.inf)),
        ("measures", Measure(value=1.0, spare=-math.inf)),
        ("measures", Measure(value=math.nan)),
        ("measures", Measure(value=1.0, history=[1.0, math.inf])),
        ("measures", {"value": math.inf}),
        ("measures", {"value": 1.0, "spare": math.nan}),
        ("points", Point(math.inf, 0.0)),
        ("series", [0.0, math.nan]),
        ("optional_json", math.inf),
        ("table", {"a": -math.inf}),
    ],
)
def test_unfaithful_value_is_refused(file_app: App, db_path: Path, field: str, value: Any) -> None:
    """What a codec cannot store faithfully is a `ValidationError`; nothing is written."""
    collection = getattr(file_app, field)
    with pytest.raises(ValidationError) as caught:
        collection["k"] = value
    assert caught.value.collection == field
    assert caught.value.key == "k"
    assert caught.value.errors()
    assert "k" not in collection
    assert _rows(db_path, field) == []


def test_unfaithful_value_in_value_collection_is_refused(app: App) -> None:
    """`Value.set` refuses inf in JSON with `key=None`."""
    with pytest.raises(ValidationError) as caught:
        app.setting.set(Measure(value=math.inf))
    assert caught.value.collection == "setting"
    assert caught.value.key is None
    assert not app.setting.is_set


@pytest.mark.parametrize("value", [INT64_MIN, INT64_MAX, 0, -1])
def test_int64_bounds_are_stored_faithfully(app: App, value: int) -> None:
    """The extremes of the 64-bit range round-trip exactly."""
    app.counts["k"] = value
    assert app.counts["k"] == value
    assert type(app.counts["k"]) is int


@pytest.mark.parametrize("value", [math.inf, -math.inf, 5e-324, 1.7976931348623157e308, -1.5])
def test_reals_store_what_sqlite_keeps_faithfully(app: App, value: float) -> None:
    """REAL columns keep infinities and extreme floats exactly (only NaN is refused)."""
    app.reals["k"] = value
    assert app.reals["k"] == value
    app.maybe_reals["k"] = value
    assert app.maybe_reals["k"] == value


def test_negative_zero_value_reads_back_as_zero(app: App) -> None:
    """SQLite returns a stored `-0.0` as `0.0`, the one change the contract allows."""
    app.reals["k"] = -0.0
    assert app.reals["k"] == 0.0


def test_optional_native_stores_none_as_null(file_app: App, db_path: Path) -> None:
    """`Optional[X]` with a native codec stores `None` as SQL NULL."""
    file_app.maybe_counts["k"] = None
    assert file_app.maybe_counts["k"] is None
    assert "k" in file_app.maybe_counts
    assert _rows(db_path, "maybe_counts") == [("k", None)]


# -- lax values ---------------------------------------------------------------------------


def test_values_are_validated_in_lax_mode(app: App) -> None:
    """Values are lax: a dict becomes the model, `"5"` becomes `5`, a tuple a list."""
    app.users["a"] = {"name": "A", "age": "5"}  # type: ignore[assignment]
    assert app.users["a"] == User(name="A", age=5)
    assert isinstance(app.users["a"], User)
    app.counts["a"] = "7"  # type: ignore[assignment]
    assert app.counts["a"] == 7
    app.reals["a"] = 3
    assert app.reals["a"] == 3.0
    assert type(app.reals["a"]) is float
    app.points["a"] = {"x": 1, "y": "2.5"}  # type: ignore[assignment]
    assert app.points["a"] == Point(1.0, 2.5)
    app.series["a"] = (1, 2)  # type: ignore[assignment]
    assert app.series["a"] == [1.0, 2.0]


# -- corruption ---------------------------------------------------------------------------


def _corrupt(path: Path, table: str, key: str, raw_value: Any) -> None:
    changed = execute(path, f'UPDATE "{table}" SET value = ? WHERE key = ?', (raw_value, key))
    assert changed == 1


@pytest.mark.parametrize(
    "raw_value",
    ['{"name": 5}', '{"age": 1}', "{not json", '"just text"', "null", ""],
)
def test_corrupted_value_raises_corrupt_value_error_and_the_rest_stays_readable(
    db_path: Path, raw_value: str
) -> None:
    """A value broken with plain sqlite3: `CorruptValueError` with collection and key."""
    with App(db_path) as app:
        app.users.update((k, User(name=k)) for k in "abcde")
    _corrupt(db_path, "users", "c", raw_value)
    with App(db_path) as app:
        with pytest.raises(CorruptValueError) as caught:
            app.users["c"]
        error = caught.value
        assert error.collection == "users"
        assert error.key == "c"
        assert isinstance(error, TpStoreError)
        assert error.__cause__ is not None
        assert "users" in str(error)
        for key in "abde":
            assert app.users[key] == User(name=key)
        assert "c" in app.users
        assert len(app.users) == 5
        assert list(app.users) == list("abcde")  # keys are still fine
        with pytest.raises(CorruptValueError):
            app.users.get("c")
        with pytest.raises(CorruptValueError):
            app.users.get_many(["a", "c"])
        app.users["c"] = User(name="fixed")
        assert app.users["c"] == User(name="fixed")


def test_iteration_yields_the_good_items_then_raises(db_path: Path) -> None:
    """Iterating over a bad item raises rather than skipping it."""
    with App(db_path) as app:
        app.users.update((k, User(name=k)) for k in "abcde")
        app.recent.update((k, User(name=k)) for k in "edcba")
    _corrupt(db_path, "users", "c", "{broken")
    _corrupt(db_path, "recent", "c", "{broken")
    with App(db_path) as app:
        for collection, before in ((app.users, ["a", "b"]), (app.recent, ["e", "d"])):
            seen = []
            with pytest.raises(CorruptValueError) as caught:  # noqa: PT012
                for key, value in collection.items():
                    seen.append(key)
                    assert value.name == key
            assert seen == before
            assert caught.value.key == "c"
            seen_values = []
            with pytest.raises(CorruptValueError):
                seen_values.extend(value.name for value in collection.values())
            assert seen_values == before
            after = []
            with pytest.raises(CorruptValueError):
                after.extend(key for key, _ in reversed(collection.items()))
            assert after == [k for k in reversed(list(collection)) if k not in before][:2]
        with pytest.raises(CorruptValueError):
            dict(app.users)
        with pytest.raises(CorruptValueError):
            app.users == dict.fromkeys("abcde")  # noqa: B015 - comparing reads the values
        with pytest.raises(CorruptValueError):
            app.users.pop("c")
        assert "c" in app.users


def test_popitem_of_a_corrupt_item_removes_nothing(db_path: Path) -> None:
    """A compound operation that hits a corrupt value writes nothing."""
    with App(db_path) as app:
        app.users.update((k, User(name=k)) for k in "ab")
    _corrupt(db_path, "users", "b", "{broken")
    with App(db_path) as app:
        with pytest.raises(CorruptValueError):
            app.users.popitem()
        assert len(app.users) == 2
        with pytest.raises(CorruptValueError), app.users.edit("b"):
            pass  # pragma: no cover - never entered
        assert len(app.users) == 2


# -- errors cross process boundaries ------------------------------------------------------


def test_validation_error_is_picklable(app: App) -> None:
    """A `ValidationError` survives pickling with its collection, key and errors."""
    with pytest.raises(ValidationError) as caught:
        app.users["k"] = {"age": "x"}  # type: ignore[assignment]
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is ValidationError
    assert str(copy) == str(caught.value)
    assert copy.collection == "users"
    assert copy.key == "k"
    assert copy.errors() == caught.value.errors()


def test_codec_refusal_is_picklable(app: App) -> None:
    """A codec's refusal (no pydantic cause in its errors) pickles too."""
    with pytest.raises(ValidationError) as caught:
        app.measures["k"] = {"value": math.inf}  # type: ignore[assignment]
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.key == "k"
    assert copy.errors() == caught.value.errors()


def test_corrupt_value_error_is_picklable(db_path: Path) -> None:
    """A `CorruptValueError` survives pickling with collection and key."""
    with App(db_path) as app:
        app.users["k"] = User(name="k")
    _corrupt(db_path, "users", "k", "{broken")
    with App(db_path) as app, pytest.raises(CorruptValueError) as caught:
        app.users["k"]
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is CorruptValueError
    assert (copy.collection, copy.key, str(copy)) == ("users", "k", str(caught.value))
