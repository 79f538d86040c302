"""Mapping and Sequence machines over model values, through the JSON and pickle codecs.

The machines of `test_mapping.py` and `test_sequence.py` store ints with the native
codec; these store `User` models — in a JSON column and in a pickle column — against a
dict and a list model, and also write instances mutated into an invalid state (outside
and inside `edit()`), which must be refused without changing anything. Values the
model keeps are deep copies, so no mutation of a written instance can reach them.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from machines import FileMachine, StoreMachine, as_test_case, on_postgres
from pydantic import BaseModel

from tpstore import Mapping, Sequence, Store, ValidationError, field


class Address(BaseModel):
    city: str
    zip: int = 0


class User(BaseModel):
    name: str
    age: int = 0
    tags: list[str] = []
    home: Address | None = None


class JsonStore(Store):
    m: Mapping[str, User]
    s: Sequence[User]


class PickleStore(Store):
    m: Mapping[str, User] = field(codec="pickle")
    s: Sequence[User] = field(codec="pickle")


keys = st.sampled_from(["a", "b", "c", "\u00e9", ""])
addresses = st.builds(Address, city=st.text(max_size=3), zip=st.integers(0, 99))
users = st.builds(
    User,
    name=st.text(max_size=4),
    age=st.integers(-5, 200),
    tags=st.lists(st.text(max_size=2), max_size=2),
    home=st.none() | addresses,
)
# Ways to break a valid instance in place, each reached through another level.
breakages = st.sampled_from(["age", "tags", "home", "home.zip"])


def _break(user: User, how: str) -> None:
    if how == "age":
        user.age = "old"  # type: ignore[assignment]
    elif how == "tags":
        user.tags.append(3)  # type: ignore[arg-type]
    elif how == "home":
        user.home = "nowhere"  # type: ignore[assignment]
    else:
        user.home = Address(city="x")
        user.home.zip = "z"  # type: ignore[assignment]


def _copy(user: User) -> User:
    return user.model_copy(deep=True)


class ModelMappingMachine(StoreMachine):
    """`Mapping[str, User]` against a dict of deep copies."""

    store_class: type[Store] = JsonStore
    model: dict[str, User]

    def new_model(self) -> dict[str, User]:
        return {}

    def snapshot(self) -> dict[str, User]:
        return {key: _copy(value) for key, value in self.model.items()}

    @invariant()
    def agrees_with_model(self) -> None:
        assert dict(self.store.m) == self.model
        assert list(self.store.m) == sorted(self.model)

    @rule(key=keys, user=users)
    def setitem(self, key: str, user: User) -> None:
        self.store.m[key] = user
        self.model[key] = _copy(user)
        user.age += 1  # the stored value is not the caller's object
        assert self.store.m[key] == self.model[key]

    @rule(key=keys, user=users, how=breakages)
    def setitem_a_broken_instance_writes_nothing(self, key: str, user: User, how: str) -> None:
        _break(user, how)
        with pytest.raises(ValidationError) as caught:
            self.store.m[key] = user
        assert caught.value.key == key

    @rule(key=keys, user=users)
    def setitem_dict(self, key: str, user: User) -> None:
        self.store.m[key] = user.model_dump()
        self.model[key] = _copy(user)

    @rule(pairs=st.lists(st.tuples(keys, users), max_size=3), broken=st.booleans(), how=breakages)
    def update(self, pairs: list[tuple[str, User]], broken: bool, how: str) -> None:
        if broken and pairs:
            _break(pairs[-1][1], how)
            with pytest.raises(ValidationError):
                self.store.m.update(pairs)
            return
        self.store.m.update(pairs)
        self.model.update((key, _copy(user)) for key, user in pairs)

    @rule(key=keys, user=users)
    def setdefault(self, key: str, user: User) -> None:
        expected = self.model.setdefault(key, _copy(user))
        assert self.store.m.setdefault(key, user) == expected

    @rule(key=keys)
    def pop(self, key: str) -> None:
        if key in self.model:
            assert self.store.m.pop(key) == self.model.pop(key)
        else:
            with pytest.raises(KeyError):
                self.store.m.pop(key)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), age=st.integers(0, 9))
    def edit(self, data: st.DataObject, age: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        with self.store.m.edit(key) as user:
            user.age = age
            user.tags.append("edited")
        self.model[key].age = age
        self.model[key].tags.append("edited")

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), how=breakages)
    def edit_into_a_broken_instance_writes_nothing(self, data: st.DataObject, how: str) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        with pytest.raises(ValidationError), self.store.m.edit(key) as user:
            _break(user, how)


class ModelSequenceMachine(StoreMachine):
    """`Sequence[User]` against a list of deep copies."""

    store_class: type[Store] = JsonStore
    model: list[User]

    def new_model(self) -> list[User]:
        return []

    def snapshot(self) -> list[User]:
        return [_copy(user) for user in self.model]

    @invariant()
    def agrees_with_model(self) -> None:
        assert list(self.store.s) == self.model

    @rule(user=users)
    def append(self, user: User) -> None:
        self.store.s.append(user)
        self.model.append(_copy(user))

    @rule(user=users, how=breakages)
    def append_a_broken_instance_writes_nothing(self, user: User, how: str) -> None:
        _break(user, how)
        with pytest.raises(ValidationError):
            self.store.s.append(user)

    @rule(values=st.lists(users, max_size=3), broken=st.booleans(), how=breakages)
    def extend(self, values: list[User], broken: bool, how: str) -> None:
        if broken and values:
            _break(values[0], how)
            with pytest.raises(ValidationError):
                self.store.s.extend(values)
            return
        self.store.s.extend(values)
        self.model.extend(_copy(user) for user in values)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), user=users, broken=st.booleans(), how=breakages)
    def setitem(self, data: st.DataObject, user: User, broken: bool, how: str) -> None:
        index = data.draw(st.integers(-len(self.model), len(self.model) - 1))
        if broken:
            _break(user, how)
            with pytest.raises(ValidationError) as caught:
                self.store.s[index] = user
            assert caught.value.key == index % len(self.model)
            return
        self.store.s[index] = user
        self.model[index] = _copy(user)

    @rule(data=st.data(), user=users)
    def insert(self, data: st.DataObject, user: User) -> None:
        index = data.draw(st.integers(-len(self.model) - 1, len(self.model) + 1))
        self.store.s.insert(index, user)
        self.model.insert(index, _copy(user))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def pop(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(-len(self.model), len(self.model) - 1))
        assert self.store.s.pop(index) == self.model.pop(index)

    @rule(data=st.data())
    def slice_assignment(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(0, len(self.model)))
        stop = data.draw(st.integers(start, len(self.model)))
        values = data.draw(st.lists(users, max_size=2))
        self.store.s[start:stop] = values
        self.model[start:stop] = [_copy(user) for user in values]


class PickleMappingMachine(ModelMappingMachine):
    store_class = PickleStore


class PickleSequenceMachine(ModelSequenceMachine):
    store_class = PickleStore


class FileJsonMappingMachine(FileMachine, ModelMappingMachine):
    pass


class FilePickleSequenceMachine(FileMachine, PickleSequenceMachine):
    pass


TestJsonModelMapping = as_test_case(ModelMappingMachine, stateful_step_count=25)
TestPickleModelMapping = as_test_case(PickleMappingMachine, stateful_step_count=25)
TestJsonModelMappingOnFile = as_test_case(FileJsonMappingMachine, stateful_step_count=25)
TestJsonModelSequence = as_test_case(ModelSequenceMachine, stateful_step_count=25)
TestPickleModelSequence = as_test_case(PickleSequenceMachine, stateful_step_count=25)
TestPickleModelSequenceOnFile = as_test_case(FilePickleSequenceMachine, stateful_step_count=25)
TestJsonModelMappingOnPostgres = on_postgres(
    ModelMappingMachine, stateful_step_count=25, max_examples=20
)
TestPickleModelSequenceOnPostgres = on_postgres(
    PickleSequenceMachine, stateful_step_count=25, max_examples=20
)


def test_the_machines_store_what_they_claim() -> None:
    """The two stores use the codecs the machines are named after."""
    assert JsonStore.__tpstore_fields__["m"].value.codec.name == "json"
    assert PickleStore.__tpstore_fields__["s"].value.codec.name == "pickle"
