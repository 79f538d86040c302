"""Every coroutine twin returns and raises exactly what its synchronous twin does.

One scenario, two stores: a random list of operations runs through the synchronous
API on one store and through the `a`-methods on the other; every result (or
exception) and the final contents must be equal, for every collection kind. The
comparisons run in memory and, when `TPSTORE_TEST_POSTGRES` names a server, on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import postgres_server as postgres
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import tpstore


class User(BaseModel):
    name: str
    age: int = 0


class App(tpstore.Store):
    users: tpstore.Mapping[str, User]
    hits: tpstore.Mapping[str, int]
    recent: tpstore.OrderedMapping[int, User]
    sessions: tpstore.ExpiringMapping[str, User] = tpstore.field(lifespan=60)
    ordered_sessions: tpstore.ExpiringOrderedMapping[str, int] = tpstore.field(lifespan=60)
    tags: tpstore.Set[str]
    seen: tpstore.OrderedSet[int]
    fresh: tpstore.ExpiringSet[str] = tpstore.field(lifespan=60)
    fresh_ordered: tpstore.ExpiringOrderedSet[str] = tpstore.field(lifespan=60)
    log: tpstore.Sequence[User]
    jobs: tpstore.Deque[User]
    recent_jobs: tpstore.Deque[int] = tpstore.field(maxlen=3)
    settings: tpstore.Value[User]
    counter: tpstore.Value[int] = tpstore.field(default=0)


# An operation: (synchronous method, its coroutine twin, positional args, keyword args).
Op = tuple[str, str, tuple[Any, ...], dict[str, Any]]

names = st.sampled_from(["a", "b", "c", "d"])
# Mostly valid users; sometimes a dict (validated into a User), sometimes invalid.
users = st.one_of(
    st.builds(User, name=names, age=st.integers(-5, 5)),
    st.fixed_dictionaries({"name": names, "age": st.integers(0, 3)}),
    st.just({"name": 1}),
)
small = st.integers(-3, 3)
lifespans = st.sampled_from([None, 5, 120, 0.5])


def op(sync: str, twin: str, *args: st.SearchStrategy[Any], **kwargs: Any) -> Any:
    """A strategy of one operation whose arguments are drawn from `args`/`kwargs`."""
    return st.tuples(st.just(sync), st.just(twin), st.tuples(*args), st.just(kwargs))


def kw(sync: str, twin: str, args: Any, kwargs: Any) -> Any:
    return st.tuples(st.just(sync), st.just(twin), args, kwargs)


def keyed_ops(keys: Any) -> list[Any]:
    return [
        op("__contains__", "acontains", keys),
        op("__len__", "alen"),
        op("clear", "aclear"),
    ]


def mapping_ops(keys: Any, values: Any) -> list[Any]:
    return [
        *keyed_ops(keys),
        op("__getitem__", "agetitem", keys),
        op("__setitem__", "aset", keys, values),
        op("__delitem__", "adelete", keys),
        op("get", "aget", keys),
        op("get", "aget", keys, values),
        op("get_many", "aget_many", st.lists(keys, max_size=3)),
        op("pop", "apop", keys),
        op("pop", "apop", keys, values),
        op("popitem", "apopitem", st.booleans()),
        op("setdefault", "asetdefault", keys, values),
        op("update", "aupdate", st.dictionaries(keys, values, max_size=3)),
        op("peekitem", "apeekitem", st.booleans()),
        op("copy", "acopy"),
    ]


def expiring_ops(keys: Any) -> list[Any]:
    return [
        op("touch", "atouch", keys, lifespans),
        op("expires_at", "aexpires_at", keys),
        op("purge", "apurge"),
    ]


def set_ops(elements: Any) -> list[Any]:
    others = st.lists(elements, max_size=3)
    return [
        *keyed_ops(elements),
        op("add", "aadd", elements),
        op("discard", "adiscard", elements),
        op("remove", "aremove", elements),
        op("pop", "apop"),
        op("update", "aupdate", st.lists(elements, max_size=3), st.sets(elements, max_size=2)),
        op("isdisjoint", "aisdisjoint", st.lists(elements, max_size=3)),
        op("copy", "acopy"),
        op("union", "aunion", others, others),
        op("intersection", "aintersection", others),
        op("difference", "adifference", others, others),
        op("symmetric_difference", "asymmetric_difference", others),
        op("issubset", "aissubset", others),
        op("issuperset", "aissuperset", others),
        op("intersection_update", "aintersection_update", others),
        op("difference_update", "adifference_update", others, others),
        op("symmetric_difference_update", "asymmetric_difference_update", others),
    ]


def positioned_ops(values: Any) -> list[Any]:
    return [
        op("__len__", "alen"),
        op("__contains__", "acontains", values),
        op("append", "aappend", values),
        op("extend", "aextend", st.lists(values, max_size=3)),
        op("clear", "aclear"),
        op("insert", "ainsert", indexes, values),
        op("index", "aindex", values),
        op("index", "aindex", values, indexes, indexes),
        op("count", "acount", values),
        op("remove", "aremove", values),
        op("reverse", "areverse"),
        op("copy", "acopy"),
    ]


indexes = st.integers(-4, 4)
slices = st.builds(
    slice, st.none() | indexes, st.none() | indexes, st.sampled_from([None, 1, 2, -1])
)


def _by_name(user: Any) -> Any:
    return user.name if isinstance(user, User) else str(user)


# `None` sorts by the items themselves: users are not ordered, so that one raises.
sort_keys = st.sampled_from([None, _by_name, str])


def sequence_ops(values: Any) -> list[Any]:
    return [
        *positioned_ops(values),
        op("__getitem__", "agetitem", indexes | slices),
        op("__setitem__", "asetitem", indexes, values),
        op("__setitem__", "asetitem", slices, st.lists(values, max_size=3)),
        op("__delitem__", "adelitem", indexes | slices),
        op("pop", "apop"),
        op("pop", "apop", indexes),
        kw(
            "sort",
            "asort",
            st.just(()),
            st.fixed_dictionaries({"key": sort_keys, "reverse": st.booleans()}),
        ),
    ]


# Blocking pops: no wait, a short one, and refused timeouts.
waits = st.sampled_from([None, 0, 0.01, -1, "1"])


def deque_ops(values: Any) -> list[Any]:
    return [
        *positioned_ops(values),
        op("appendleft", "aappendleft", values),
        op("extendleft", "aextendleft", st.lists(values, max_size=3)),
        op("pop", "apop"),
        op("popleft", "apopleft"),
        op("peek", "apeek"),
        op("peekleft", "apeekleft"),
        op("rotate", "arotate", st.integers(-3, 3)),
        op("__getitem__", "agetitem", indexes),
        op("__setitem__", "asetitem", indexes, values),
        op("__delitem__", "adelitem", indexes),
        kw("pop", "apop", st.just(()), st.fixed_dictionaries({"timeout": waits})),
        kw("popleft", "apopleft", st.just(()), st.fixed_dictionaries({"timeout": waits})),
    ]


def value_ops(values: Any) -> list[Any]:
    return [
        op("get", "aget"),
        op("get", "aget", values),
        op("set", "aset", values),
        op("delete", "adelete"),
    ]


# What the final contents of each kind are, read through each API.
def sync_contents(collection: Any) -> Any:
    if isinstance(collection, tpstore.Value):
        return (collection.is_set, collection.get(None))
    contents: list[Any] = [list(collection), list(reversed(collection))]
    if hasattr(collection, "items"):
        contents += [list(collection.keys()), list(collection.values()), list(collection.items())]
    if hasattr(collection, "range"):
        contents.append(list(collection.range("b")))
    return contents


async def async_contents(collection: Any) -> Any:
    if isinstance(collection, tpstore.Value):
        return (await collection.ais_set(), await collection.aget(None))
    contents: list[Any] = [
        [item async for item in collection],
        [item async for item in collection.areversed()],
    ]
    if hasattr(collection, "items"):
        contents += [
            [key async for key in collection.akeys()],
            [value async for value in collection.avalues()],
            [item async for item in collection.aitems()],
        ]
    if hasattr(collection, "range"):
        contents.append([item async for item in collection.arange("b")])
    return contents


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("returned", call())
    except Exception as exc:  # compared with the twin's
        return ("raised", type(exc), str(exc))


async def async_outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("returned", await call())
    except Exception as exc:  # compared with the twin's
        return ("raised", type(exc), str(exc))


def clock() -> float:
    return 1_000.0


class Stores:
    """Where a test's two stores live: the sync API's and the async API's.

    In memory, each example gets two new stores. On PostgreSQL, two stores in schemas of
    their own serve every test of the module (a store's tables take longer to create
    than an example takes to run), and each example starts by emptying the collection
    it works on in both.
    """

    def __init__(self, urls: tuple[str, str] | None = None) -> None:
        self._open = (
            None if urls is None else (App(urls[0], clock=clock), App(urls[1], clock=clock))
        )

    @contextmanager
    def pair(self, field: str) -> Iterator[tuple[App, App]]:
        """The two stores, with `field` empty in both."""
        if self._open is None:
            with App(None, clock=clock) as sync_app, App(None, clock=clock) as async_app:
                yield sync_app, async_app
            return
        for app in self._open:
            collection = getattr(app, field)
            if isinstance(collection, tpstore.Value):
                collection.delete()
            else:
                collection.clear()
        yield self._open

    def close(self) -> None:
        for app in self._open or ():
            app.close()


@pytest.fixture(scope="module", params=["memory", *(["postgresql"] if postgres.SERVER_URL else [])])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    """The stores of a comparison: in memory, then on PostgreSQL when a server is set."""
    if request.param == "memory":
        yield Stores()
        return
    assert postgres.SERVER_URL is not None
    with (
        postgres.fresh_schema(postgres.SERVER_URL) as sync_url,
        postgres.fresh_schema(postgres.SERVER_URL) as async_url,
    ):
        opened = Stores((sync_url, async_url))
        try:
            yield opened
        finally:
            opened.close()


def run_both(stores: Stores, field: str, ops: list[Op]) -> None:
    """Run `ops` on `field` through both APIs and compare each outcome and the end state."""
    with stores.pair(field) as (sync_app, async_app):
        collection = getattr(sync_app, field)
        expected = [outcome(lambda o=o: getattr(collection, o[0])(*o[2], **o[3])) for o in ops]
        expected.append(outcome(lambda: sync_contents(collection)))

        async def scenario() -> list[Any]:
            collection = getattr(async_app, field)
            results = [
                await async_outcome(lambda o=o: getattr(collection, o[1])(*o[2], **o[3]))
                for o in ops
            ]
            results.append(await async_outcome(lambda: async_contents(collection)))
            return results

        actual = asyncio.run(scenario())
    for operation, sync_result, async_result in zip(
        [*ops, "contents"], expected, actual, strict=True
    ):
        assert async_result == sync_result, operation


def scenarios(ops: list[Any]) -> Any:
    return st.lists(st.one_of(ops), max_size=25)


# What each mapping field holds, for the gathered reads below.
mapping_fields = {
    "users": (names, st.builds(User, name=names, age=small)),
    "hits": (names, small),
    "recent": (st.integers(0, 4), st.builds(User, name=names)),
    "sessions": (names, st.builds(User, name=names)),
    "ordered_sessions": (names, small),
}


@given(field=st.sampled_from(sorted(mapping_fields)), data=st.data())
def test_agets_of_many_tasks_return_what_each_get_returns(
    stores: Stores, field: str, data: st.DataObject
) -> None:
    """Concurrent `aget`s (read together, in one query) each return what `get` returns.

    Keys present, absent, repeated and of the wrong type; defaults of any type.
    """
    keys, values = mapping_fields[field]
    contents = data.draw(st.dictionaries(keys, values, max_size=4))
    requests = data.draw(
        st.lists(
            st.tuples(names | st.integers(0, 4), st.none() | small | st.just("default")),
            min_size=2,
            max_size=10,
        )
    )
    with stores.pair(field) as (app, _):
        collection = getattr(app, field)
        collection.update(contents)
        expected = [outcome(lambda k=k, d=d: collection.get(k, d)) for k, d in requests]

        async def scenario() -> list[Any]:
            return await asyncio.gather(
                *(async_outcome(lambda k=k, d=d: collection.aget(k, d)) for k, d in requests)
            )

        assert asyncio.run(scenario()) == expected


@given(scenarios(mapping_ops(names, users)))
def test_mapping_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "users", ops)


@given(
    scenarios(
        [
            *mapping_ops(names, small),
            op("increment", "aincrement", names),
            op("increment", "aincrement", names, small),
            kw(
                "increment",
                "aincrement",
                st.tuples(names),
                st.fixed_dictionaries({"default": small}),
            ),
            op("increment", "aincrement", names, st.just(0.5)),
        ]
    )
)
def test_counter_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "hits", ops)


@given(scenarios(mapping_ops(st.integers(0, 4), users)))
def test_ordered_mapping_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "recent", ops)


@given(
    scenarios(
        [
            *mapping_ops(names, users),
            *expiring_ops(names),
            kw(
                "set",
                "aset",
                st.tuples(names, users),
                st.fixed_dictionaries({"lifespan": lifespans}),
            ),
        ]
    )
)
def test_expiring_mapping_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "sessions", ops)


@given(scenarios([*mapping_ops(names, small), *expiring_ops(names)]))
def test_expiring_ordered_mapping_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "ordered_sessions", ops)


@given(scenarios(set_ops(names | st.just(3))))
def test_set_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "tags", ops)


@given(scenarios(set_ops(st.integers(0, 4))))
def test_ordered_set_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "seen", ops)


@given(
    scenarios(
        [
            *set_ops(names),
            *expiring_ops(names),
            kw("add", "aadd", st.tuples(names), st.fixed_dictionaries({"lifespan": lifespans})),
        ]
    )
)
def test_expiring_set_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "fresh", ops)


@given(scenarios([*set_ops(names), *expiring_ops(names)]))
def test_expiring_ordered_set_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "fresh_ordered", ops)


@given(scenarios(sequence_ops(users)))
def test_sequence_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "log", ops)


@given(scenarios(deque_ops(users)))
def test_deque_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "jobs", ops)


@given(scenarios(deque_ops(small | st.just("x"))))
def test_bounded_deque_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "recent_jobs", ops)


@given(scenarios(value_ops(users)))
def test_value_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "settings", ops)


@given(scenarios(value_ops(small | st.just("x"))))
def test_value_with_a_default_twins(stores: Stores, ops: list[Op]) -> None:
    run_both(stores, "counter", ops)


def test_edit_twins_write_back_or_nothing(location: str | None) -> None:
    """`aedit` writes the changed value back, and nothing when the block raises."""

    async def scenario() -> None:
        async with App(location) as app:
            await app.users.aset("a", User(name="A"))
            async with app.users.aedit("a") as user:
                user.age = 7
            assert await app.users.agetitem("a") == User(name="A", age=7)
            with pytest.raises(RuntimeError):  # noqa: PT012 - the block is what raises
                async with app.users.aedit("a") as user:
                    user.age = 99
                    raise RuntimeError("no")
            assert (await app.users.agetitem("a")).age == 7
            async with app.users.aedit("new", default={"name": "N"}) as user:
                assert user == User(name="N")
            with pytest.raises(KeyError, match="missing"):
                async with app.users.aedit("missing"):
                    raise AssertionError("not reached")
            with pytest.raises(LookupError):
                async with app.settings.aedit():
                    raise AssertionError("not reached")
            async with app.counter.aedit() as count:
                assert count == 0
            await app.counter.aset(count + 1)
            assert await app.counter.aget() == 1

    asyncio.run(scenario())


# Changing a collection while iterating over it: `async for` reacts to the iterating
# task's own changes exactly as `for` reacts to the thread's.
CHANGES = {
    "hits": [
        ("__setitem__", "aset", ("new", 1)),
        ("__setitem__", "aset", ("k1", 9)),
        ("__delitem__", "adelete", ("k3",)),
        ("clear", "aclear", ()),
    ],
    "tags": [("add", "aadd", ("zz",)), ("add", "aadd", ("k1",)), ("discard", "adiscard", ("k2",))],
    "log": [
        ("append", "aappend", (User(name="new"),)),
        ("insert", "ainsert", (0, User(name="first"))),
        ("pop", "apop", (0,)),
        ("__setitem__", "asetitem", (-1, User(name="last"))),
        ("clear", "aclear", ()),
    ],
    "jobs": [
        ("append", "aappend", (User(name="new"),)),
        ("popleft", "apopleft", ()),
        ("__setitem__", "asetitem", (0, User(name="first"))),
        ("rotate", "arotate", (1,)),
    ],
}
FILLS: dict[str, Callable[[Any], Any]] = {
    "hits": lambda c: c.update({f"k{i}": i for i in range(8)}),
    "tags": lambda c: c.update(f"k{i}" for i in range(8)),
    "log": lambda c: c.extend(User(name=f"u{i}") for i in range(8)),
    "jobs": lambda c: c.extend(User(name=f"u{i}") for i in range(8)),
}


@given(
    field=st.sampled_from(sorted(CHANGES)),
    plan=st.dictionaries(st.integers(0, 9), st.integers(0, 4), max_size=3),
    reverse=st.booleans(),
)
def test_changing_while_iterating_twins(
    stores: Stores, field: str, plan: dict[int, int], reverse: bool
) -> None:
    """The items seen and the error raised when the loop changes its own collection."""
    changes = CHANGES[field]

    with stores.pair(field) as (sync_app, async_app):
        collection = getattr(sync_app, field)
        FILLS[field](collection)
        expected: list[Any] = []
        try:
            for step, item in enumerate(reversed(collection) if reverse else collection):
                expected.append(item)
                if step in plan:
                    sync_name, _, args = changes[plan[step] % len(changes)]
                    getattr(collection, sync_name)(*args)
        except Exception as exc:  # compared with the async iteration's
            expected.append(("raised", type(exc), str(exc)))
        expected.append(list(collection))

        async def scenario() -> list[Any]:
            collection = getattr(async_app, field)
            FILLS[field](collection)
            seen: list[Any] = []
            try:
                step = 0
                async for item in collection.areversed() if reverse else collection:
                    seen.append(item)
                    if step in plan:
                        _, async_name, args = changes[plan[step] % len(changes)]
                        await getattr(collection, async_name)(*args)
                    step += 1
            except Exception as exc:  # compared with the sync iteration's
                seen.append(("raised", type(exc), str(exc)))
            seen.append([item async for item in collection])
            return seen

        actual = asyncio.run(scenario())
    assert actual == expected


def test_other_tasks_changes_never_break_an_iteration(location: str | None) -> None:
    """Writes by other tasks (on the same worker threads) never raise in an `async for`."""

    async def scenario() -> int:
        async with App(location) as app:
            await app.hits.aupdate({f"k{i}": i for i in range(50)})
            seen = 0

            async def writer() -> None:
                for i in range(50):
                    await app.hits.aset(f"w{i}", i)

            async def reader() -> None:
                nonlocal seen
                async for _ in app.hits:
                    seen += 1
                    await asyncio.sleep(0)

            await asyncio.gather(reader(), writer(), writer())
            return seen

    assert asyncio.run(scenario()) >= 50
