"""`Sequence` against `list`.

A stateful machine runs every `MutableSequence` operation (indexes, slices with any
step, insert, pop, remove, reverse...) against a `list`, with nested transactions that
roll back against a snapshot of the model, in memory and on a reopened file. Example
tests below pin error messages, validation and corruption reporting, and that the
ends and `len()` never scan the table.
"""

from __future__ import annotations

import collections.abc
import operator
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, query, query_plans
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from machines import FileMachine, RollbackError, StoreMachine, as_test_case, on_postgres, outcome
from pydantic import BaseModel

from tpstore import CorruptValueError, SchemaError, Sequence, Store, ValidationError, field


class Log(Store):
    s: Sequence[int]
    other: Sequence[int]


values = st.integers(-3, 3)
bad_values = st.sampled_from(["x", 1.5, None, [1], 2**63])
indexes = st.integers(-7, 7)
slice_parts = st.none() | st.integers(-7, 7)
# Steps beyond 64 bits too: `s[9::1 << 333]` is `[s[9]]`, as for list.
slices = st.builds(
    slice,
    slice_parts,
    slice_parts,
    st.none() | st.sampled_from([1, 2, 3, -1, -2, -3, 1 << 333, -(1 << 333)]),
)
# What `list` raises on a wrong index, value or type, with a message to match.
LIST_ERRORS = (IndexError, ValueError, TypeError)


class SequenceMachine(StoreMachine):
    """A persistent `Sequence` and a `list` must agree after every step.

    Transactions, rolled back against a snapshot of the model, come from `StoreMachine`.
    """

    store_class = Log
    model: list[int]

    def new_model(self) -> list[int]:
        return []

    @property
    def s(self) -> Sequence[int]:
        return self.store.s  # type: ignore[no-any-return]

    def same(self, action_on: Any) -> None:
        """Run one action on the sequence and on the model: same result or same error."""
        assert outcome(lambda: action_on(self.s), LIST_ERRORS) == outcome(
            lambda: action_on(self.model), LIST_ERRORS
        )

    @invariant()
    def agrees_with_model(self) -> None:
        assert len(self.s) == len(self.model)
        assert list(self.s) == self.model
        assert list(reversed(self.s)) == self.model[::-1]

    # -- reading ---------------------------------------------------------------------

    @rule(i=indexes)
    def getitem(self, i: int) -> None:
        self.same(lambda seq: seq[i])

    @rule(part=slices)
    def getitem_slice(self, part: slice) -> None:
        result = self.s[part]
        assert type(result) is list
        assert result == self.model[part]

    @rule(value=values, start=st.integers(-7, 7), stop=st.none() | st.integers(-7, 7))
    def index_count_contains(self, value: int, start: int, stop: int | None) -> None:
        assert (value in self.s) == (value in self.model)
        assert self.s.count(value) == self.model.count(value)
        self.same(lambda seq: seq.index(value))
        if stop is None:
            self.same(lambda seq: seq.index(value, start))
        else:
            self.same(lambda seq: seq.index(value, start, stop))

    @rule(change=st.booleans())
    def equality(self, change: bool) -> None:
        other = [*self.model, 0] if change else list(self.model)
        assert (self.s == other) is (not change)
        assert (self.s != other) is change
        assert self.s == self.s
        assert self.s != tuple(self.model)  # like list, never equal to a tuple

    @rule(tail=st.lists(values, max_size=3), shared=st.integers(0, 7), as_sequence=st.booleans())
    def ordering_like_list(self, tail: list[int], shared: int, as_sequence: bool) -> None:
        # Against a list or another Sequence that starts with some of the same items.
        other = self.model[:shared] + tail
        theirs: Any = other
        if as_sequence:
            self.store.other.clear()
            self.store.other.extend(other)
            theirs = self.store.other
        for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq):
            assert op(self.s, theirs) == op(self.model, other), op
            assert op(theirs, self.s) == op(other, self.model), op
        with pytest.raises(TypeError):
            self.s < tuple(other)  # noqa: B015 - like list, only lists compare

    @rule(other=st.lists(values, max_size=3), n=st.integers(-1, 3))
    def plain_lists_from_operators(self, other: list[int], n: int) -> None:
        results = {
            "+": (self.s + other, self.model + other),
            "r+": (other + self.s, other + self.model),
            "*": (self.s * n, self.model * n),
            "r*": (n * self.s, n * self.model),
            "copy": (self.s.copy(), self.model.copy()),
        }
        for name, (got, expected) in results.items():
            assert type(got) is list, name
            assert got == expected, name
        with pytest.raises(TypeError):
            self.s + tuple(other)  # like list, only lists concatenate

    # -- writing ---------------------------------------------------------------------

    @rule(n=st.integers(-1, 3))
    def repeat_in_place(self, n: int) -> None:
        store = self.store
        store.s *= n
        self.model *= n

    @rule(reverse=st.booleans(), by=st.sampled_from([None, abs, lambda v: -v]))
    def sort(self, reverse: bool, by: Any) -> None:
        # Stable: with `abs` as the key, equal keys keep their order (both directions).
        self.s.sort(key=by, reverse=reverse)
        self.model.sort(key=by, reverse=reverse)

    @rule()
    def sort_with_a_failing_key_changes_nothing(self) -> None:
        def fails(value: int) -> int:
            raise RollbackError

        if self.model:
            with pytest.raises(RollbackError):
                self.s.sort(key=fails)

    @rule(value=values)
    def append(self, value: int) -> None:
        self.s.append(value)
        self.model.append(value)

    @rule(given=st.lists(values, max_size=4), how=st.sampled_from(["extend", "+=", "iter"]))
    def extend(self, given: list[int], how: str) -> None:
        if how == "extend":
            self.s.extend(given)
        elif how == "iter":
            self.s.extend(iter(given))
        else:
            self.store.s += given
        self.model.extend(given)

    @precondition(lambda self: len(self.model) <= 16)  # doubling must not run away
    @rule()
    def extend_with_itself(self) -> None:
        self.s.extend(self.s)
        self.model.extend(list(self.model))

    @rule(i=indexes, value=values)
    def insert(self, i: int, value: int) -> None:
        self.s.insert(i, value)
        self.model.insert(i, value)

    @rule(i=indexes, value=values)
    def setitem(self, i: int, value: int) -> None:
        def assign(seq: Any) -> None:
            seq[i] = value

        self.same(assign)

    @rule(part=slices, given=st.lists(values, max_size=4))
    def setitem_slice(self, part: slice, given: list[int]) -> None:
        def assign(seq: Any) -> None:
            seq[part] = given

        self.same(assign)

    @rule(i=indexes)
    def delitem(self, i: int) -> None:
        def delete(seq: Any) -> None:
            del seq[i]

        self.same(delete)

    @rule(part=slices)
    def delitem_slice(self, part: slice) -> None:
        def delete(seq: Any) -> None:
            del seq[part]

        self.same(delete)

    @rule(i=st.none() | indexes)
    def pop(self, i: int | None) -> None:
        if i is None:
            self.same(lambda seq: seq.pop())
        else:
            self.same(lambda seq: seq.pop(i))

    @rule(value=values)
    def remove(self, value: int) -> None:
        self.same(lambda seq: seq.remove(value))

    @rule()
    def reverse(self) -> None:
        self.s.reverse()
        self.model.reverse()

    @rule()
    def clear(self) -> None:
        self.s.clear()
        self.model.clear()

    # -- refused writes change nothing -----------------------------------------------

    @rule(value=bad_values, i=indexes, how=st.sampled_from(["append", "setitem", "insert"]))
    def invalid_single_write_names_its_index(self, value: Any, i: int, how: str) -> None:
        n = len(self.model)
        if how == "setitem" and not -n <= i < n:
            with pytest.raises(IndexError):
                self.s[i] = value
            return

        def write() -> None:
            if how == "append":
                self.s.append(value)
            elif how == "setitem":
                self.s[i] = value
            else:
                self.s.insert(i, value)

        with pytest.raises(ValidationError) as caught:
            write()
        expected = {
            "append": n,
            "setitem": i % max(n, 1),
            "insert": min(max(i + n, 0) if i < 0 else i, n),
        }[how]
        assert caught.value.collection == "s"
        assert caught.value.key == expected

    @rule(
        given=st.lists(values, max_size=3),
        bad=bad_values,
        part=slices,
        how=st.sampled_from(["extend", "slice"]),
    )
    def invalid_bulk_write_has_no_key(
        self, given: list[int], bad: Any, part: slice, how: str
    ) -> None:
        given = [*given, bad]

        def write() -> None:
            if how == "extend":
                self.s.extend(given)
            else:
                self.s[part] = given

        with pytest.raises(ValidationError) as caught:
            write()
        assert caught.value.key is None


class FileSequenceMachine(FileMachine, SequenceMachine):
    """The same machine on a file, closed and reopened between steps."""


TestSequenceInMemory = as_test_case(SequenceMachine, stateful_step_count=40)
TestSequenceOnFile = as_test_case(FileSequenceMachine, stateful_step_count=30, max_examples=20)
TestSequenceOnPostgres = on_postgres(SequenceMachine, stateful_step_count=30, max_examples=20)


# -- example tests ------------------------------------------------------------------------


class Item(BaseModel):
    name: str
    n: int = 0


class Journal(Store):
    log: Sequence[str]
    items: Sequence[Item]
    numbers: Sequence[int]


@pytest.fixture
def journal(location: str | None) -> Any:
    with Journal(location) as opened:
        yield opened


def test_sequence_is_a_mutable_sequence(journal: Any) -> None:
    assert isinstance(journal.log, collections.abc.MutableSequence)


def test_items_come_back_as_the_declared_model(journal: Any) -> None:
    journal.items.append({"name": "a"})
    journal.items.extend([Item(name="b", n=2)])
    assert journal.items[0] == Item(name="a")
    assert journal.items[-1] == Item(name="b", n=2)
    assert all(isinstance(item, Item) for item in journal.items)


def test_index_errors_read_like_list(journal: Any) -> None:
    with pytest.raises(IndexError, match=r"^list index out of range$"):
        journal.log[0]
    with pytest.raises(IndexError, match=r"^pop from empty list$"):
        journal.log.pop()
    with pytest.raises(IndexError, match=r"^pop from empty list$"):
        journal.log.pop(3)
    journal.log.append("a")
    with pytest.raises(IndexError, match=r"^list index out of range$"):
        journal.log[-2]
    with pytest.raises(IndexError, match=r"^list assignment index out of range$"):
        journal.log[1] = "b"
    with pytest.raises(IndexError, match=r"^list assignment index out of range$"):
        del journal.log[1]
    with pytest.raises(IndexError, match=r"^pop index out of range$"):
        journal.log.pop(1)
    with pytest.raises(IndexError):
        journal.log[2**70]
    assert journal.log == ["a"]


def test_wrong_index_types_raise_type_error(journal: Any) -> None:
    journal.log.append("a")
    with pytest.raises(TypeError, match="must be integers or slices, not str"):
        journal.log["0"]
    with pytest.raises(TypeError):
        journal.log[1.0] = "b"
    with pytest.raises(TypeError, match="can only assign an iterable"):
        journal.log[0:1] = 5
    with pytest.raises(TypeError, match="must assign iterable to extended slice"):
        journal.log[::2] = 5
    assert journal.log[False] == "a"  # bool is an int, as for list


def test_slice_errors_read_like_list(journal: Any) -> None:
    journal.log.extend("abcd")
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        journal.log[::0]
    with pytest.raises(
        ValueError, match="attempt to assign sequence of size 1 to extended slice of size 2"
    ):
        journal.log[::2] = ["x"]
    assert journal.log == list("abcd")


def test_string_slice_assignment_splits_like_list(journal: Any) -> None:
    journal.log.extend(["a", "z"])
    journal.log[1:1] = "bcd"
    assert journal.log == ["a", "b", "c", "d", "z"]


def test_remove_and_index_messages(journal: Any) -> None:
    journal.log.extend(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"^list.remove\(x\): x not in list$"):
        journal.log.remove("z")
    with pytest.raises(ValueError, match=r"^'z' is not in list$"):
        journal.log.index("z")
    assert journal.log.index("a", 1) == 2
    journal.log.remove("a")
    assert journal.log == ["b", "a"]


def test_equality_like_list(journal: Any) -> None:
    journal.log.extend(["a", "b"])
    journal.numbers.extend([1, 2])
    assert journal.log == ["a", "b"]
    assert journal.log != ("a", "b")
    assert journal.log != ["a"]
    assert journal.numbers != journal.log
    assert journal.numbers == journal.numbers
    assert ["a", "b"] == journal.log  # noqa: SIM300 - the reflected comparison


def test_validation_error_keys(journal: Any) -> None:
    journal.numbers.extend([1, 2, 3])
    with pytest.raises(ValidationError) as caught:
        journal.numbers.append("x")
    assert caught.value.key == 3
    with pytest.raises(ValidationError) as caught:
        journal.numbers[-1] = "x"
    assert caught.value.key == 2
    with pytest.raises(ValidationError) as caught:
        journal.numbers.insert(-10, "x")
    assert caught.value.key == 0
    with pytest.raises(ValidationError) as caught:
        journal.numbers.extend([4, "x"])
    assert caught.value.key is None
    with pytest.raises(ValidationError) as caught:
        journal.numbers[1:2] = [4, "x"]
    assert caught.value.key is None
    assert caught.value.__cause__ is not None
    assert journal.numbers == [1, 2, 3]


def test_corrupt_item_names_its_index_and_the_rest_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        journal.items.extend([Item(name=str(i)) for i in range(5)])
    execute(
        path,
        'UPDATE "items" SET value = \'{"nope": 1}\' WHERE pos = (SELECT min(pos) FROM "items") + 3',
    )
    with Journal(path) as journal:
        for read in (
            lambda: journal.items[3],
            lambda: journal.items[-2],
            lambda: journal.items[2:4],
            lambda: journal.items.index(Item(name="z")),
        ):
            with pytest.raises(CorruptValueError) as caught:
                read()
            assert caught.value.collection == "items"
            assert caught.value.key == 3
        seen = []
        with pytest.raises(CorruptValueError) as caught:
            seen.extend(journal.items)
        assert caught.value.key == 3
        assert [item.name for item in seen] == ["0", "1", "2"]
        with pytest.raises(CorruptValueError) as caught:
            list(reversed(journal.items))
        assert caught.value.key == 3
        assert journal.items[4] == Item(name="4")
        assert journal.items.pop() == Item(name="4")
        with pytest.raises(CorruptValueError) as caught:
            journal.items.pop()
        assert caught.value.key == 3
        assert len(journal.items) == 4  # the corrupt item was not removed
        del journal.items[3]
        assert [item.name for item in journal.items] == ["0", "1", "2"]


def test_iteration_and_slices_page_through_many_items(journal: Any) -> None:
    model = list(range(1300))
    journal.numbers.extend(model)
    assert list(journal.numbers) == model
    assert list(reversed(journal.numbers)) == model[::-1]
    for part in (
        slice(100, 1200),
        slice(None, None, 3),
        slice(1250, 10, -7),
        slice(None, None, -1),
    ):
        assert journal.numbers[part] == model[part]
    del journal.numbers[10:1290:2]
    del model[10:1290:2]
    assert journal.numbers == model
    journal.numbers[::-5] = range(len(model[::-5]))
    model[::-5] = range(len(model[::-5]))
    assert journal.numbers == model


def test_middle_changes_keep_positions_contiguous(tmp_path: Path) -> None:
    """After middle inserts and deletes, positions are `min(pos) + index` again."""
    path = tmp_path / "j.db"
    model = list(range(50))
    with Journal(path) as journal:
        journal.numbers.extend(model)
        for i, change in enumerate([7, 40, 25, 3, 48, 30]):
            journal.numbers.insert(change, -i)
            model.insert(change, -i)
            del journal.numbers[change // 2]
            del model[change // 2]
        journal.numbers[5:9] = [1]
        model[5:9] = [1]
        journal.numbers.reverse()
        model.reverse()
    ((low, high, count),) = query(path, 'SELECT min(pos), max(pos), count(*) FROM "numbers"')
    values = [v for (v,) in query(path, 'SELECT value FROM "numbers" ORDER BY pos')]
    assert high - low + 1 == count == len(model)
    assert values == model


@pytest.mark.parametrize(
    "operation",
    ["len", "append", "pop", "pop(0)", "getitem", "getitem(-1)", "setitem", "insert(0)", "del[0]"],
)
@pytest.mark.sqlite_only("reads SQLite's query plans")
def test_ends_and_len_never_scan_the_table(journal: Any, operation: str) -> None:
    journal.numbers.extend(range(100))
    seq = journal.numbers

    def setitem() -> None:
        seq[50] = 1

    def delete_first() -> None:
        del seq[0]

    actions = {
        "len": lambda: len(seq),
        "append": lambda: seq.append(1),
        "pop": seq.pop,
        "pop(0)": lambda: seq.pop(0),
        "getitem": lambda: seq[50],
        "getitem(-1)": lambda: seq[-1],
        "setitem": setitem,
        "insert(0)": lambda: seq.insert(0, 5),
        "del[0]": delete_first,
    }
    plans = query_plans(journal, actions[operation])
    assert plans
    assert not [line for line in plans if line.startswith("SCAN") and "CONSTANT" not in line]


def test_sequence_takes_no_maxlen_or_lifespan() -> None:
    with pytest.raises(SchemaError, match="maxlen"):

        class Bad(Store):
            s: Sequence[int] = field(maxlen=3)

    with pytest.raises(SchemaError, match="lifespan"):

        class Worse(Store):
            s: Sequence[int] = field(lifespan=3)


def test_contents_survive_reopen(db_path: Path) -> None:
    with Journal(db_path) as journal:
        journal.log.extend(["a", "b", "c"])
        journal.log.insert(0, "z")
    with Journal(db_path) as journal:
        assert journal.log == ["z", "a", "b", "c"]
        assert len(journal.log) == 4


def test_a_failed_compound_write_changes_nothing(journal: Any) -> None:
    journal.log.extend(["a", "b", "c"])
    with pytest.raises(RollbackError), journal.transaction():  # noqa: PT012 - the block under test
        journal.log.insert(1, "x")
        del journal.log[::2]
        journal.log.reverse()
        raise RollbackError
    assert journal.log == ["a", "b", "c"]


def test_repr_shows_the_first_items_and_the_count(journal: Any) -> None:
    assert repr(journal.log) == "<Sequence 'log': []>"
    journal.log.extend(str(i) for i in range(2000))
    assert repr(journal.log) == "<Sequence 'log': ['0', '1', '2', '3', '4', … 2,000 items]>"


def test_a_sort_whose_key_changes_the_sequence_raises_and_changes_nothing(journal: Any) -> None:
    journal.numbers.extend([3, 1, 2])

    def appending(value: int) -> int:
        journal.numbers.append(9)
        return value

    with pytest.raises(ValueError, match="list modified during sort"):
        journal.numbers.sort(key=appending)
    assert journal.numbers == [3, 1, 2]
