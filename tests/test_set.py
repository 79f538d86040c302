"""The Set family against builtin models.

Stateful machines run `Set` against a `set` read in sorted order and `OrderedSet`
against an insertion-ordered set (the keys of a `dict`), including operators,
comparisons and in-place operators against plain sets, and nested transactions that
roll back against a snapshot of the model. Example tests below pin what a machine
cannot see.
"""

from __future__ import annotations

import collections.abc
import operator
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
from helpers import execute
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from machines import FileMachine, StoreMachine, as_test_case, on_postgres

from tpstore import (
    CorruptValueError,
    OrderedMapping,
    OrderedSet,
    SchemaError,
    Set,
    Store,
    ValidationError,
    field,
)


class IntSet(Store):
    s: Set[int]


class TextSet(Store):
    s: OrderedSet[str]


class SetMachine(StoreMachine):
    """A persistent set and its model agree after every step.

    The model is a `dict` whose keys are the elements: insertion-ordered like an
    `OrderedSet`, and sorted for a `Set`. Transactions, rolled back against a
    snapshot of the model, come from `StoreMachine`.
    """

    store_class: type[Store] = IntSet
    key_ordered = True
    elements: st.SearchStrategy[Any] = st.integers(-4, 4)
    # Never valid elements; `foreign` ones also equal no valid element in Python (True
    # == 1, so a plain set would find True where the strict persistent set does not).
    foreign: st.SearchStrategy[Any] = st.sampled_from(["1", 1.5, None, b"1"])
    wrong: st.SearchStrategy[Any] = foreign | st.just(True)
    model: dict[Any, None]

    def new_model(self) -> dict[Any, None]:
        return {}

    @property
    def s(self) -> Any:
        return self.store.s

    def ordered(self) -> list[Any]:
        return sorted(self.model) if self.key_ordered else list(self.model)

    def others(self, data: st.DataObject) -> set[Any]:
        return data.draw(st.sets(self.elements, max_size=5))

    @invariant()
    def agrees_with_model(self) -> None:
        assert len(self.s) == len(self.model)
        assert list(self.s) == self.ordered()

    # -- reading ---------------------------------------------------------------------

    @rule(data=st.data())
    def contains(self, data: st.DataObject) -> None:
        element = data.draw(self.elements)
        assert (element in self.s) == (element in self.model)
        assert data.draw(self.wrong) not in self.s

    @rule()
    def reversed_order(self) -> None:
        assert list(reversed(self.s)) == self.ordered()[::-1]

    @rule(data=st.data())
    def operators_return_plain_sets(self, data: st.DataObject) -> None:
        other, mine = self.others(data), set(self.model)
        with_wrong = other | {data.draw(self.foreign)}
        results = {
            "|": (self.s | other, mine | other),
            "&": (self.s & other, mine & other),
            "-": (self.s - other, mine - other),
            "^": (self.s ^ other, mine ^ other),
            "r|": (other | self.s, other | mine),
            "r&": (with_wrong & self.s, with_wrong & mine),
            "r-": (with_wrong - self.s, with_wrong - mine),
            "r^": (other ^ self.s, other ^ mine),
        }
        for name, (got, expected) in results.items():
            assert type(got) is set, name
            assert got == expected, name
        assert self.s.copy() == mine
        assert type(self.s.copy()) is set

    @rule(
        data=st.data(),
        op=st.sampled_from([operator.or_, operator.and_, operator.sub, operator.xor]),
        reflected=st.booleans(),
    )
    def operators_refuse_non_sets(self, data: st.DataObject, op: Any, reflected: bool) -> None:
        # As for `set`: `s | [1]` raises TypeError, `s.union([1])` takes any iterable.
        other = data.draw(st.sampled_from([list(self.others(data)), "ab", (1,)]))
        left, right = (other, self.s) if reflected else (self.s, other)
        with pytest.raises(TypeError):
            op(left, right)

    @rule(data=st.data())
    def named_methods_take_any_iterables(self, data: st.DataObject) -> None:
        mine = set(self.model)
        first, second = self.others(data), self.others(data)
        with_wrong = [*first, data.draw(self.foreign)]
        results = {
            "union": (self.s.union(iter(first), second), mine.union(first, second)),
            "intersection": (self.s.intersection(with_wrong, second), mine & first & second),
            "intersection()": (self.s.intersection(), mine),
            "difference": (self.s.difference(iter(first), second), mine.difference(first, second)),
            "symmetric_difference": (self.s.symmetric_difference(list(first)), mine ^ first),
        }
        for name, (got, expected) in results.items():
            assert type(got) is set, name
            assert got == expected, name
        assert self.s.issubset(iter(first)) == mine.issubset(first)
        assert self.s.issuperset(list(first)) == mine.issuperset(first)
        assert self.s.issuperset(with_wrong) is False

    @rule(data=st.data())
    def comparisons(self, data: st.DataObject) -> None:
        mine = set(self.model)
        for other in (
            self.others(data),
            set(mine),
            mine | {data.draw(self.elements)},
            set(list(mine)[:-1]),
            frozenset(mine) | {data.draw(self.foreign)},
        ):
            assert (self.s == other) == (mine == other)
            assert (other == self.s) == (mine == other)
            assert (self.s != other) == (mine != other)
            assert (self.s <= other) == (mine <= other)
            assert (self.s < other) == (mine < other)
            assert (self.s >= other) == (mine >= other)
            assert (self.s > other) == (mine > other)
            assert (other <= self.s) == (other <= mine)
            assert (other >= self.s) == (other >= mine)
            assert self.s.isdisjoint(other) == mine.isdisjoint(other)
            assert self.s.isdisjoint(iter(other)) == mine.isdisjoint(other)
        assert self.s == self.s
        assert self.s != list(self.model)  # a set never equals a list
        assert (self.s == list(self.model)) is False

    # -- writing ---------------------------------------------------------------------

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        element = data.draw(self.elements)
        self.s.add(element)
        self.model[element] = None

    @rule(data=st.data())
    def discard(self, data: st.DataObject) -> None:
        element = data.draw(self.elements)
        self.s.discard(element)
        self.model.pop(element, None)
        self.s.discard(data.draw(self.wrong))  # absent, whatever Python finds equal

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        element = data.draw(self.elements)
        if element in self.model:
            self.s.remove(element)
            del self.model[element]
        else:
            with pytest.raises(KeyError):
                self.s.remove(element)
        with pytest.raises(KeyError):
            self.s.remove(data.draw(self.wrong))

    @rule()
    def pop(self) -> None:
        if not self.model:
            with pytest.raises(KeyError):
                self.s.pop()
            return
        first = self.ordered()[0]
        assert self.s.pop() == first
        del self.model[first]

    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        groups = data.draw(st.lists(st.lists(self.elements, max_size=4), max_size=3))
        self.s.update(*groups)
        for group in groups:
            self.model.update(dict.fromkeys(group))

    @rule(data=st.data(), how=st.sampled_from(["|=", "&=", "-=", "^="]), named=st.booleans())
    def in_place(self, data: st.DataObject, how: str, named: bool) -> None:
        # The operators take sets; the named methods (`update`...) any iterables.
        other = self.others(data)
        given: Any = sorted(other) if named and how != "^=" else other
        store = self.store
        mine = set(self.model)
        if how == "|=":
            if named:
                self.s.update(given)
            else:
                store.s |= given  # type: ignore[attr-defined]
            self.model.update(dict.fromkeys(given))
        elif how == "&=":
            if named:
                self.s.intersection_update(given, iter(given))
            else:
                store.s &= given  # type: ignore[attr-defined]
            self.model = {k: None for k in self.model if k in other}
        elif how == "-=":
            if named:
                self.s.difference_update(given[:1], iter(given[1:]))
            else:
                store.s -= given  # type: ignore[attr-defined]
            self.model = {k: None for k in self.model if k not in other}
        else:
            if named:
                self.s.symmetric_difference_update(given)
            else:
                store.s ^= given  # type: ignore[attr-defined]
            self.model = {k: None for k in self.model if k not in other}
            # Elements added by ^= arrive in the order the operand iterates them.
            self.model.update(dict.fromkeys(k for k in given if k not in mine))
        assert set(self.s) == set(self.model)

    @rule(data=st.data(), how=st.sampled_from(["|=", "&=", "-=", "^="]))
    def in_place_operators_refuse_non_sets(self, data: st.DataObject, how: str) -> None:
        store = self.store
        given = sorted(self.others(data))

        def write() -> None:
            if how == "|=":
                store.s |= given  # type: ignore[attr-defined]
            elif how == "&=":
                store.s &= given  # type: ignore[attr-defined]
            elif how == "-=":
                store.s -= given  # type: ignore[attr-defined]
            else:
                store.s ^= given  # type: ignore[attr-defined]

        with pytest.raises(TypeError):
            write()

    @rule(how=st.sampled_from(["-=", "^=", "&=", "|="]))
    def in_place_with_itself(self, how: str) -> None:
        store = self.store
        if how == "-=":
            store.s -= store.s  # type: ignore[attr-defined]
        elif how == "^=":
            store.s ^= store.s  # type: ignore[attr-defined]
        elif how == "&=":
            store.s &= store.s  # type: ignore[attr-defined]
        else:
            store.s |= store.s  # type: ignore[attr-defined]
        if how in ("-=", "^="):
            self.model.clear()

    @rule()
    def clear(self) -> None:
        self.s.clear()
        self.model.clear()

    # -- refused writes change nothing -----------------------------------------------

    @rule(
        data=st.data(),
        how=st.sampled_from(["add", "update", "|=", "^=", "symmetric_difference_update"]),
    )
    def invalid_element_changes_nothing(self, data: st.DataObject, how: str) -> None:
        bad = data.draw(self.wrong if how in ("add", "update") else self.foreign)
        good = data.draw(st.lists(self.elements, max_size=3))
        store = self.store

        def write() -> None:
            if how == "add":
                self.s.add(bad)
            elif how == "update":
                self.s.update(good, [bad])
            elif how == "|=":
                store.s |= {*good, bad}  # type: ignore[attr-defined]
            elif how == "symmetric_difference_update":
                self.s.symmetric_difference_update([*good, bad])
            else:
                store.s ^= {*good, bad}  # type: ignore[attr-defined]

        with pytest.raises(ValidationError) as caught:
            write()
        assert caught.value.collection == "s"
        assert caught.value.key == bad


class OrderedSetMachine(SetMachine):
    """`OrderedSet`: re-adding keeps the place, remove and re-add moves to the end."""

    store_class = TextSet
    key_ordered = False
    elements = st.text(alphabet="ab\u00e9\U0001f600", max_size=2)
    foreign = wrong = st.sampled_from([1, None, b"a", ("a",)])


class FileOrderedSetMachine(FileMachine, OrderedSetMachine):
    """The insertion-ordered machine on a file, closed and reopened between steps."""


TestSet = as_test_case(SetMachine, stateful_step_count=30)
TestOrderedSet = as_test_case(OrderedSetMachine, stateful_step_count=30)
TestOrderedSetOnFile = as_test_case(FileOrderedSetMachine, stateful_step_count=25, max_examples=20)
TestSetOnPostgres = on_postgres(SetMachine, stateful_step_count=25, max_examples=20)
TestOrderedSetOnPostgres = on_postgres(OrderedSetMachine, stateful_step_count=25, max_examples=20)


# -- example tests ------------------------------------------------------------------------


class Tags(Store):
    tags: Set[str]
    seen: OrderedSet[tuple[str, int]]
    numbers: Set[int]


@pytest.fixture
def tags(location: str | None) -> Any:
    with Tags(location) as opened:
        yield opened


def test_sets_are_mutable_sets(tags: Any) -> None:
    assert isinstance(tags.tags, collections.abc.MutableSet)
    assert isinstance(tags.seen, collections.abc.MutableSet)


def test_tuple_elements_keep_insertion_order(tags: Any) -> None:
    tags.seen.update([("b", 1), ("a", 2)])
    tags.seen.add(("b", 1))
    assert list(tags.seen) == [("b", 1), ("a", 2)]
    tags.seen.remove(("b", 1))
    tags.seen.add(("b", 1))
    assert list(tags.seen) == [("a", 2), ("b", 1)]
    assert tags.seen.pop() == ("a", 2)


def test_elements_are_strict_keys(tags: Any) -> None:
    tags.numbers.add(1)
    assert "1" not in tags.numbers
    assert 1.0 not in tags.numbers
    tags.numbers.discard("1")
    with pytest.raises(KeyError):
        tags.numbers.remove("1")
    with pytest.raises(ValidationError) as caught:
        tags.numbers.add("2")
    assert caught.value.key == "2"
    assert caught.value.__cause__ is not None
    assert list(tags.numbers) == [1]


def test_pop_on_empty_raises_key_error(tags: Any) -> None:
    with pytest.raises(KeyError):
        tags.tags.pop()


def test_update_takes_many_iterables_in_one_transaction(tags: Any) -> None:
    tags.tags.update(["b"], ("a",), iter(["c"]), {"d": 1})
    assert list(tags.tags) == ["a", "b", "c", "d"]
    with pytest.raises(ValidationError):
        tags.tags.update(["x"], ["y", 5])
    assert list(tags.tags) == ["a", "b", "c", "d"]


def test_operators_against_many_elements(tags: Any) -> None:
    """Lookups go a few hundred per query; results cross those chunks correctly."""
    tags.numbers.update(range(0, 3000, 2))
    other = set(range(1000, 2300))
    mine = set(range(0, 3000, 2))
    assert tags.numbers & other == mine & other
    assert other - tags.numbers == other - mine
    assert (tags.numbers >= set(range(0, 1200, 2))) is True
    assert (tags.numbers >= set(range(0, 1201))) is False
    assert tags.numbers.isdisjoint(range(1, 3000, 2))
    assert list(tags.numbers) == sorted(mine)
    assert list(reversed(tags.numbers)) == sorted(mine, reverse=True)


def test_set_takes_key_codec_not_codec() -> None:
    with pytest.raises(SchemaError, match="key_codec"):

        class Bad(Store):
            s: Set[str] = field(codec="json")


def test_key_ordered_set_needs_an_order_preserving_codec() -> None:
    with pytest.raises(SchemaError, match="order"):

        class Bad(Store):
            s: Set[str] = field(key_codec="json")

    class Fine(Store):
        s: OrderedSet[str] = field(key_codec="json")

    with Fine(None) as fine:
        fine.s.update(["b", "a"])
        assert list(fine.s) == ["b", "a"]


def test_sets_take_no_lifespan_or_maxlen() -> None:
    with pytest.raises(SchemaError, match="lifespan"):

        class Bad(Store):
            s: Set[str] = field(lifespan=5)

    with pytest.raises(SchemaError, match="maxlen"):

        class Worse(Store):
            s: OrderedSet[str] = field(maxlen=5)


def test_sets_have_no_expiry_methods(tags: Any) -> None:
    for name in ("touch", "expires_at", "purge"):
        assert not hasattr(tags.tags, name)


def test_contents_survive_reopen(db_path: Path) -> None:
    with Tags(db_path) as store:
        store.tags.update(["x", "y"])
        store.seen.add(("z", 1))
    with Tags(db_path) as store:
        assert store.tags == {"x", "y"}
        assert list(store.seen) == [("z", 1)]


def test_corrupt_element_raises_after_the_good_ones(db_path: Path) -> None:
    with Tags(db_path) as store:
        store.seen.update([("a", 1), ("b", 2), ("c", 3)])
    execute(db_path, "UPDATE seen SET key = x'ff00ff' WHERE seq = (SELECT max(seq) FROM seen)")
    with Tags(db_path) as store:
        seen = []
        with pytest.raises(CorruptValueError) as caught:
            seen.extend(store.seen)
        assert caught.value.collection == "seen"
        assert seen == [("a", 1), ("b", 2)]
        assert ("a", 1) in store.seen
        assert len(store.seen) == 3


def test_repr_shows_kind_field_and_first_elements(tags: Any) -> None:
    assert repr(tags.tags) == "<Set 'tags': set()>"
    tags.numbers.update(range(100, 0, -1))
    assert repr(tags.numbers) == "<Set 'numbers': {1, 2, 3, 4, 5, … 100 items}>"
    tags.seen.add(("b", 2))
    tags.seen.add(("a", 1))
    assert repr(tags.seen) == "<OrderedSet 'seen': {('b', 2), ('a', 1)}>"


class _Frozen(pydantic.BaseModel, frozen=True):
    items: list[int]


class _FrozenWithTags(pydantic.BaseModel, frozen=True):
    tags: frozenset[str]


def test_unhashable_key_types_are_refused_at_class_creation() -> None:
    """As `set` and `dict` refuse them: a list, a dict, a set, a non-frozen model."""
    for annotation in (
        OrderedSet[list[int]],
        OrderedSet[set[int]],
        OrderedMapping[dict[str, int], int],
    ):
        with pytest.raises(SchemaError, match="must be hashable") as caught:
            type("Broken", (Store,), {"__annotations__": {"things": annotation}})
        assert "Broken.things" in str(caught.value)


def test_unhashable_keys_are_refused(location: str | None) -> None:
    """An unhashable value is no key: refused on write, absent on read, nothing written."""

    class Anything(Store):
        s: OrderedSet[Any] = field(key_codec="pickle")
        m: OrderedMapping[Any, int]
        frozen: OrderedSet[_Frozen]

    with Anything(location) as store:
        for write in (
            lambda: store.s.add([1, 2]),
            lambda: store.m.__setitem__({"a": 1}, 1),
            lambda: store.frozen.add(_Frozen(items=[1])),  # hashing it hashes the list
        ):
            with pytest.raises(ValidationError, match="unhashable type"):
                write()
        assert [1, 2] not in store.s
        with pytest.raises(KeyError):
            store.m[{"a": 1}]  # type: ignore[index]
        assert (len(store.s), len(store.m), len(store.frozen)) == (0, 0, 0)


_SET_KEYS_CHILD = """
import sys
from tpstore import OrderedMapping, OrderedSet, Store

class SetKeys(Store):
    tags: OrderedSet[frozenset[str]]
    counts: OrderedMapping[tuple[frozenset[str], int], int]

with SetKeys(sys.argv[1]) as store:
    if sys.argv[2] == "write":
        store.tags.add(frozenset(["alpha", "beta", "gamma", "delta", "epsilon"]))
        store.counts[(frozenset(["x", "yy", "zzz"]), 1)] = 7
    else:
        print(frozenset(["epsilon", "delta", "gamma", "beta", "alpha"]) in store.tags,
              store.counts.get((frozenset(["zzz", "yy", "x"]), 1)))
"""


def _child(*args: str, seed: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONHASHSEED": seed}
    command = [sys.executable, "-c", _SET_KEYS_CHILD, *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, check=False)


def test_equal_set_keys_are_found_by_every_process(tmp_path: Path) -> None:
    """A frozenset's JSON follows its iteration order, which varies with the hash seed:
    keys must be written in one order, or another process misses them."""
    path = str(tmp_path / "sets.db")
    written = _child(path, "write", seed="1")
    assert written.returncode == 0, written.stderr
    for seed in ("2", "3", "4", "5"):
        read = _child(path, "read", seed=seed)
        assert read.stdout.split() == ["True", "7"], read.stderr


def test_sets_inside_a_model_key_are_refused_under_json() -> None:
    """A model writes its sets itself, in iteration order: such a key could not be found."""
    with pytest.raises(SchemaError, match="holds a set"):

        class Bad(Store):
            tags: OrderedSet[_FrozenWithTags]
