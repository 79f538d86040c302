"""Static checks of the declarative API's inference, run by mypy (not pytest).

`tests/test_typing.py` runs mypy on this file; each `assert_type` fails the check
when a type checker would not infer what a user expects. Nothing here is a pytest
test, and importing the module runs no store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import assert_type

from pydantic import BaseModel

from tpstore import (
    Deque,
    ExpiringSet,
    Mapping,
    OrderedMapping,
    OrderedSet,
    Sequence,
    Set,
    Store,
    Value,
    field,
)


class User(BaseModel):
    name: str
    age: int = 0


class Settings(BaseModel):
    theme: str = "light"


class App(Store):
    users: Mapping[str, User]
    recent: OrderedMapping[int, User]
    hits: Mapping[str, int]
    scores: Mapping[str, float]
    settings: Value[Settings] = field(default_factory=Settings)


def check_mapping(app: App) -> None:
    assert_type(app.users, Mapping[str, User])
    assert_type(app.users["a"], User)
    assert_type(app.users.get("a"), User | None)
    assert_type(app.users.get_many(["a", "b"]), dict[str, User])
    assert_type(app.users.peekitem(), tuple[str, User])
    assert_type(app.users.popitem(), tuple[str, User])
    assert_type(app.users.setdefault("a", User(name="A")), User)
    assert_type(app.users.range("a", "z"), Iterator[tuple[str, User]])
    assert_type(len(app.users), int)
    assert_type("a" in app.users, bool)
    for key in app.users:
        assert_type(key, str)
    for key in reversed(app.users):
        assert_type(key, str)
    for value in app.users.values():
        assert_type(value, User)
    for key, value in app.users.items():
        assert_type(key, str)
        assert_type(value, User)
    with app.users.edit("a") as user:
        assert_type(user, User)
    app.users["b"] = User(name="B")


def check_ordered_mapping(app: App) -> None:
    assert_type(app.recent[1], User)
    assert_type(app.recent.peekitem(last=False), tuple[int, User])
    keys = app.recent.keys()
    for key in reversed(keys):
        assert_type(key, int)


def check_counters(app: App) -> None:
    assert_type(app.hits.increment("x"), int)
    assert_type(app.hits["x"], int)
    assert_type(app.scores.increment("x", 0.5), float)


def check_value(app: App) -> None:
    assert_type(app.settings.get(), Settings)
    assert_type(app.settings.value, Settings)
    assert_type(app.settings.is_set, bool)
    with app.settings.edit() as settings:
        assert_type(settings, Settings)
    app.settings.set(Settings(theme="dark"))
    app.settings.value = Settings()


def check_store() -> None:
    with App(None) as app:
        assert_type(app, App)
        assert_type(app.transaction(), AbstractContextManager[None])
    assert_type(App("app.db", timeout=1.0), App)


class Collections(Store):
    tags: Set[str]
    seen: OrderedSet[tuple[str, int]]
    fresh: ExpiringSet[str] = field(lifespan=60)
    log: Sequence[str]
    jobs: Deque[User]


def check_sets(store: Collections) -> None:
    assert_type("a" in store.tags, bool)
    assert_type(store.tags.pop(), str)
    assert_type(store.seen.pop(), tuple[str, int])
    assert_type(store.tags & {"a"}, set[str])
    assert_type(store.tags.isdisjoint(["a"]), bool)
    for tag in reversed(store.tags):
        assert_type(tag, str)
    store.fresh.add("a", lifespan=5)
    assert_type(store.fresh.expires_at("a"), float | None)


def check_sequences(store: Collections) -> None:
    assert_type(store.log[0], str)
    assert_type(store.log[1:3], list[str])
    assert_type(store.log.pop(), str)
    assert_type(store.log.index("a"), int)
    for line in reversed(store.log):
        assert_type(line, str)
    store.log[0:1] = ["b", "c"]
    assert_type(store.jobs.popleft(), User)
    assert_type(store.jobs.peek(), User)
    assert_type(store.jobs.maxlen, int | None)
    for job in store.jobs:
        assert_type(job, User)


async def check_async_twins(app: App, store: Collections) -> None:
    assert_type(await app.users.aget("a"), User | None)
    assert_type(await app.users.aget("a", User(name="A")), User)
    assert_type(await app.users.agetitem("a"), User)
    assert_type(await app.users.apop("a"), User)
    assert_type(await app.users.aget_many(["a"]), dict[str, User])
    assert_type(await app.users.apeekitem(), tuple[str, User])
    assert_type(await app.users.apopitem(), tuple[str, User])
    assert_type(await app.users.asetdefault("a", User(name="A")), User)
    assert_type(await app.users.acontains("a"), bool)
    assert_type(await app.users.alen(), int)
    assert_type(await app.hits.aincrement("x"), int)
    assert_type(await app.scores.aincrement("x", 0.5), float)
    async for key in app.users:
        assert_type(key, str)
    async for key, user in app.users.aitems():
        assert_type(key, str)
        assert_type(user, User)
    async for user in app.users.avalues():
        assert_type(user, User)
    async for key, user in app.users.arange("a", "z"):
        assert_type(key, str)
        assert_type(user, User)
    async for number in app.recent.akeys():
        assert_type(number, int)
    async with app.users.aedit("a") as user:
        assert_type(user, User)
    assert_type(await app.settings.aget(), Settings)
    async with app.settings.aedit() as settings:
        assert_type(settings, Settings)
    assert_type(await store.tags.apop(), str)
    assert_type(await store.seen.apop(), tuple[str, int])
    async for tag in store.tags.areversed():
        assert_type(tag, str)
    assert_type(await store.fresh.aexpires_at("a"), float | None)
    assert_type(await store.log.agetitem(0), str)
    assert_type(await store.log.agetitem(slice(0, 2)), list[str])
    assert_type(await store.log.apop(), str)
    assert_type(await store.jobs.apopleft(), User)
    assert_type(await store.jobs.apeek(), User)
    assert_type(await store.jobs.agetitem(-1), User)
    assert_type(await store.jobs.aindex(User(name="A")), int)
    assert_type(await store.log.acopy(), list[str])
    assert_type(await store.tags.acopy(), set[str])
    assert_type(await store.tags.aunion([1]), set[str | int])
    assert_type(await store.tags.aissubset(["a"]), bool)
    assert_type(await app.users.acopy(), dict[str, User])
    async for job in store.jobs:
        assert_type(job, User)


async def check_async_store() -> None:
    async with App(None) as app:
        assert_type(app, App)
        async with app.atransaction(readonly=True):
            assert_type(await app.apurge(), int)
        await app.aclose()
