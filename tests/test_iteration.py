"""Changing a collection while iterating over it (DESIGN.md §4).

As for the builtins: a mapping or set whose size the iterating thread changes through
the same store object raises `RuntimeError` at the next step, a deque raises on any
change but item assignment, and a sequence is live like a list. Writes by other
threads, store objects and processes never raise, are never seen twice, and never
make an iteration endless. 600 items take more than one page (512 rows).
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tpstore._collection
import tpstore._sequence
from tpstore import (
    Deque,
    ExpiringMapping,
    ExpiringOrderedMapping,
    ExpiringOrderedSet,
    ExpiringSet,
    Mapping,
    OrderedMapping,
    OrderedSet,
    Sequence,
    Set,
    Store,
    field,
)


class Everything(Store):
    mapping: Mapping[int, int]
    ordered_mapping: OrderedMapping[int, int]
    expiring_mapping: ExpiringMapping[int, int] = field(lifespan=3600)
    expiring_ordered_mapping: ExpiringOrderedMapping[int, int] = field(lifespan=3600)
    set: Set[int]
    ordered_set: OrderedSet[int]
    expiring_set: ExpiringSet[int] = field(lifespan=3600)
    expiring_ordered_set: ExpiringOrderedSet[int] = field(lifespan=3600)
    sequence: Sequence[int]
    deque: Deque[int]


MAPPINGS = ["mapping", "ordered_mapping", "expiring_mapping", "expiring_ordered_mapping"]
SETS = ["set", "ordered_set", "expiring_set", "expiring_ordered_set"]
SIZES = [1, 600]


@pytest.fixture
def store(location: str | None) -> Iterator[Any]:
    with Everything(location, durability="normal") as opened:
        yield opened


def fill(store: Any, name: str, n: int) -> Any:
    collection = getattr(store, name)
    if name in MAPPINGS:
        collection.update(dict.fromkeys(range(n), 0))
    else:
        collection.extend(range(n)) if name in ("sequence", "deque") else collection.update(
            range(n)
        )
    return collection


def steps_until_error(items: Iterator[Any], change: Callable[[Any], object]) -> tuple[int, Any]:
    """How many items a loop that calls `change(item)` sees, and what it raised."""
    steps = 0
    try:
        for item in items:
            change(item)
            steps += 1
    except RuntimeError as exc:
        return steps, str(exc)
    return steps, None


# -- the iterating thread changes the size: RuntimeError, as for dict and set -------------


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", MAPPINGS)
def test_growing_a_mapping_while_iterating_raises_like_dict(store: Any, name: str, n: int) -> None:
    m = fill(store, name, n)
    model = dict.fromkeys(range(n), 0)

    def grow(mapping: Any) -> Callable[[Any], None]:
        return lambda key: mapping.__setitem__(key + n, 0)

    expected = steps_until_error(iter(model), grow(model))
    assert expected == (1, "dictionary changed size during iteration")
    assert steps_until_error(iter(m), grow(m)) == expected


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", MAPPINGS)
@pytest.mark.parametrize("view", ["keys", "values", "items", "reversed"])
def test_shrinking_a_mapping_through_any_view_raises(
    store: Any, name: str, n: int, view: str
) -> None:
    m = fill(store, name, n + 1)
    items = reversed(m) if view == "reversed" else iter(getattr(m, view)())
    # Every step deletes an item (the last is never the one the view yields first).
    assert steps_until_error(items, lambda _: m.popitem()) == (
        1,
        "dictionary changed size during iteration",
    )


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", SETS)
def test_changing_a_sets_size_while_iterating_raises_like_set(
    store: Any, name: str, n: int
) -> None:
    s = fill(store, name, n)
    assert steps_until_error(iter(s), lambda e: s.add(e + n)) == (
        1,
        "Set changed size during iteration",
    )
    assert steps_until_error(iter(s), s.discard) == (1, "Set changed size during iteration")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", MAPPINGS + SETS)
def test_writes_that_keep_the_size_do_not_raise(store: Any, name: str, n: int) -> None:
    collection = fill(store, name, n)
    if name in MAPPINGS:
        seen = [key for key in collection if collection.__setitem__(key, 1) is None]
        assert set(collection.values()) == {1}
    else:
        seen = [e for e in collection if collection.add(e) is None]  # already present
    assert seen == list(collection)
    assert len(seen) == n


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", MAPPINGS)
def test_values_replaced_ahead_of_the_loop_are_seen_like_dict(
    store: Any, name: str, n: int
) -> None:
    m = fill(store, name, n)
    model = dict.fromkeys(range(n), 0)
    seen: dict[str, list[int]] = {"store": [], "model": []}
    for label, target in (("store", m), ("model", model)):
        for key, value in target.items():
            seen[label].append(value)
            if key + 1 < n:
                target[key + 1] = key + 1
    assert seen["store"] == seen["model"] == list(range(n))


@pytest.mark.parametrize("name", ["mapping", "set"])
def test_a_change_then_a_new_iteration_is_fine(store: Any, name: str) -> None:
    collection = fill(store, name, 3)
    for _ in collection:
        collection.clear()
        break
    assert list(collection) == []  # the first iteration is abandoned; the next starts afresh


# -- Deque: any change but item assignment, as for deque ----------------------------------


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "change",
    [
        lambda d, x: d.append(x),
        lambda d, x: d.appendleft(x),
        lambda d, x: d.pop(),
        lambda d, x: d.popleft(),
        lambda d, x: d.extend([x]),
        lambda d, x: d.extendleft([x]),
        lambda d, x: d.insert(1, x),
        lambda d, x: d.remove(x),
        lambda d, x: d.__delitem__(-1),
        lambda d, x: d.rotate(1),
        lambda d, x: d.clear(),
    ],
)
def test_changing_a_deque_while_iterating_raises_like_deque(
    store: Any, n: int, change: Callable[[Any, Any], object]
) -> None:
    d = fill(store, "deque", n + 1)
    model = collections.deque(range(n + 1))
    expected = steps_until_error(iter(model), lambda x: change(model, x))
    assert expected == (1, "deque mutated during iteration")
    assert steps_until_error(iter(d), lambda x: change(d, x)) == expected


@pytest.mark.parametrize("n", SIZES)
def test_item_assignment_and_reverse_while_iterating_a_deque_go_on_like_deque(
    store: Any, n: int
) -> None:
    d = fill(store, "deque", n)
    model = collections.deque(range(n))
    ahead, model_ahead = [], []
    for target, out in ((d, ahead), (model, model_ahead)):
        for i, x in enumerate(target):
            out.append(x)
            if i + 1 < n:
                target[i + 1] = -x  # seen at the next step, as for deque
    assert ahead == model_ahead
    seen, model_seen = [], []
    for target, out in ((d, seen), (model, model_seen)):
        for i, x in enumerate(target):
            out.append(x)
            if i == n // 2:
                target.reverse()
    assert seen == model_seen


# -- Sequence: live, like list ------------------------------------------------------------


@pytest.mark.parametrize("n", [*SIZES, 0])
def test_a_sequence_sees_what_the_loop_appends(store: Any, n: int) -> None:
    w = store.sequence
    w.extend(range(n))
    w.append(1_000)
    model = [*range(n), 1_000]
    for target in (w, model):
        for x in target:
            if x < 1_005 and x >= 1_000:
                target.append(x + 1)
    assert list(w) == model
    assert len(model) == n + 6


def test_the_issue_example_on_a_small_sequence(store: Any) -> None:
    w = store.sequence
    w.append(1)
    for x in w:
        if x < 5:
            w.append(x + 1)
    assert list(w) == [1, 2, 3, 4, 5]


programs = st.lists(
    st.tuples(
        st.sampled_from(["append", "pop", "pop0", "insert", "del", "set", "remove", "none"]),
        st.integers(0, 20),
    ),
    max_size=40,
)


@given(size=st.integers(0, 12), program=programs)
def test_a_loop_changing_a_sequence_sees_what_a_list_loop_sees(
    size: int, program: list[tuple[str, int]]
) -> None:
    """Any changes a loop makes, at pages of 3 items: the same items as over a list."""
    with (
        mock.patch.object(tpstore._sequence, "PAGE", 3),
        Everything(None) as opened,
    ):
        w = opened.sequence
        w.extend(range(size))
        model = list(range(size))
        assert run(w, program) == run(model, program)
        assert list(w) == model


def run(target: Any, program: list[tuple[str, int]]) -> list[Any]:
    """Iterate over `target`, doing one step of `program` per item; the items seen."""
    seen: list[Any] = []
    steps = iter(program)
    for item in target:
        seen.append(item)
        if len(seen) > 200:  # a program that keeps appending: the same prefix is enough
            break
        action, number = next(steps, ("none", 0))
        n = len(target)
        if action == "append":
            target.append(100 + number)
        elif action == "pop" and n:
            target.pop()
        elif action == "pop0" and n:
            target.pop(0)
        elif action == "insert":
            target.insert(number % (n + 1), 200 + number)
        elif action == "del" and n:
            del target[number % n]
        elif action == "set" and n:
            target[number % n] = 300 + number
        elif action == "remove" and item in target:
            target.remove(item)
    return seen


# -- other threads, store objects and processes never raise ------------------------------


@pytest.mark.parametrize("name", [*MAPPINGS, *SETS, "sequence", "deque"])
def test_writes_by_another_thread_never_raise(store: Any, name: str) -> None:
    collection = fill(store, name, 600)
    seen = []
    for i, item in enumerate(collection):
        seen.append(item)
        if i % 100 == 0:
            writer = threading.Thread(target=fill, args=(store, name, 3))
            writer.start()
            writer.join()
    assert len(seen) >= 600


@pytest.mark.parametrize("name", [*MAPPINGS, *SETS, "sequence", "deque"])
def test_writes_by_another_store_object_never_raise_nor_run_forever(
    db_path: Path, name: str
) -> None:
    with (
        Everything(db_path, durability="normal") as store,
        Everything(db_path, durability="normal") as other,
    ):
        fill(store, name, 600)
        added = getattr(other, name)
        seen = []
        for item in getattr(store, name):
            seen.append(item)
            grow(added, name, 10_000 + len(seen))  # one new item (at the end) per step
            assert len(seen) < 5_000
        assert sorted(seen)[:600] == list(range(600))
        assert len(seen) == len(set(seen))


def grow(collection: Any, name: str, number: int) -> None:
    """Add one item past every other (in key order and insertion order alike)."""
    if name in MAPPINGS:
        collection[number] = 0
    elif name in SETS:
        collection.add(number)
    else:
        collection.append(number)


def _grow_forever(path: str, name: str, started: Any, stop: Any) -> None:  # pragma: no cover
    with Everything(path, timeout=30, durability="normal") as store:
        collection = getattr(store, name)
        number = 10_000
        started.set()
        while not stop.is_set():
            grow(collection, name, number)
            number += 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mapping", "ordered_mapping", "set", "sequence", "deque"])
def test_another_process_writing_all_the_time_never_makes_iteration_endless(
    db_path: Path, name: str
) -> None:
    with Everything(db_path, durability="normal") as store:
        fill(store, name, 2_000)
        context = multiprocessing.get_context("spawn")
        started, stop = context.Event(), context.Event()
        writer = context.Process(target=_grow_forever, args=(str(db_path), name, started, stop))
        writer.start()
        try:
            assert started.wait(60)
            seen = []
            for item in getattr(store, name):
                seen.append(item)
                assert len(seen) < 100_000, "the iteration does not end"
        finally:
            stop.set()
            writer.join(60)
        assert writer.exitcode == 0
        assert seen[:2_000] == sorted(seen[:2_000]) == list(range(2_000))
        assert len(seen) == len(set(seen))


@pytest.mark.parametrize("name", ["mapping", "ordered_set", "expiring_mapping", "deque"])
def test_pages_that_grow_hand_out_every_item_once_in_order(store: Any, name: str) -> None:
    """Pages after the first hold `PAGE_GROWTH` times the rows of the one before (up to
    `MAX_PAGE`): a collection ending before, at and after a page's last row is read
    whole, forwards and backwards, and a loop changing it on a later page raises."""
    page, growth = tpstore._collection.PAGE, tpstore._collection.PAGE_GROWTH
    second_end = page + page * growth
    third_end = second_end + min(page * growth**2, tpstore._collection.MAX_PAGE)
    for size in (second_end - 1, second_end, second_end + 1, third_end + 1):
        getattr(store, name).clear()
        collection = fill(store, name, size)
        expected = list(range(size))
        assert [item[0] if isinstance(item, tuple) else item for item in collection] == (expected)
        assert list(reversed(collection)) == expected[::-1]
        if name in MAPPINGS:
            assert list(collection.items()) == [(i, 0) for i in expected]
    items = iter(collection)
    for _ in range(second_end + 1):
        next(items)
    collection.append(-1) if name == "deque" else collection.discard(0) if name in SETS else (
        collection.__setitem__(-1, 0)
    )
    with pytest.raises(RuntimeError):
        next(items)


@pytest.mark.parametrize("name", ["mapping", "expiring_ordered_mapping", "set", "deque"])
def test_list_reads_a_collection_in_one_page_after_its_length(store: Any, name: str) -> None:
    """`list()` asks `len()` first, and the iteration right after sizes its first page by
    it: 2,000 items in one query. A loop without `len()` reads two growing pages, and
    the bound against endless iteration only before a third."""
    collection = fill(store, name, 2_000)
    engine = store._engine
    expected = list(range(2_000))
    with (
        mock.patch.object(engine, "fetchall", wraps=engine.fetchall) as pages,
        mock.patch.object(engine, "fetchone", wraps=engine.fetchone) as others,
    ):
        keys = [item[0] if isinstance(item, tuple) else item for item in list(collection)]
        assert keys == expected
        assert pages.call_count == 1
        pages.reset_mock()
        others.reset_mock()
        assert [item[0] if isinstance(item, tuple) else item for item in collection] == (expected)
        assert pages.call_count == 2
        assert others.call_count == 0
        len(collection)
        pages.reset_mock()
        first = next(iter(collection))  # one page of every item; the length is used once
        assert (first[0] if isinstance(first, tuple) else first) == 0
        assert sum(1 for _ in collection) == 2_000
        assert pages.call_count == 1 + 2


def test_iterations_of_other_kinds_and_scans_are_unaffected(store: Any) -> None:
    # Internal scans (`&=`, `index`, `sort`) run inside operations and never raise.
    s = fill(store, "set", 600)
    s &= set(range(0, 600, 2))
    assert len(s) == 300
    w = fill(store, "sequence", 600)
    w.sort(reverse=True)
    assert w.index(0) == 599
    assert tpstore._collection.PAGE == 512
