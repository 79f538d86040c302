"""Misuses of every public collection kind, for `tests/test_typing.py` (not a test module).

Each line ending in `# error: Name` must draw at least one error from the type checker,
and every message about it must speak of the public class `Name` (or none at all),
never of a private base such as `_Positioned`. Lines without the mark must check
clean. Nothing here runs.
"""

from __future__ import annotations

from pydantic import BaseModel

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
    Value,
    field,
)


class User(BaseModel):
    name: str


class App(Store):
    users: Mapping[str, User]
    hits: Mapping[str, int]
    recent: OrderedMapping[str, User]
    sessions: ExpiringMapping[str, User] = field(lifespan=60)
    tokens: ExpiringOrderedMapping[str, User] = field(lifespan=60)
    tags: Set[str]
    seen: OrderedSet[str]
    fresh: ExpiringSet[str] = field(lifespan=60)
    newest: ExpiringOrderedSet[str] = field(lifespan=60)
    log: Sequence[str]
    jobs: Deque[str]
    settings: Value[User]


def mappings(app: App) -> None:
    app.users.get(1)  # error: Mapping
    app.users.setdefault("a", 1)  # error: Mapping
    app.users.pop(1)  # error: Mapping
    app.users.popitem(1, 2)  # error: Mapping
    app.users.range(1)  # error: Mapping
    app.users.increment(1)  # error: Mapping
    app.users.edit(1)  # error: Mapping
    app.users.clear(1)  # error: Mapping
    app.users.migrate(1)  # error: Mapping
    app.users.frob()  # error: Mapping
    app.users.name = "x"  # error: Mapping
    app.hits.increment("a", "1")  # error: Mapping
    app.recent.get(1)  # error: OrderedMapping
    app.recent.pop(1)  # error: OrderedMapping
    app.recent.peekitem(1, 2)  # error: OrderedMapping
    app.recent.clear(1)  # error: OrderedMapping
    app.recent.range("a")  # error: OrderedMapping
    app.sessions.set("a", 1)  # error: ExpiringMapping
    app.sessions.set(1, User(name="a"))  # error: ExpiringMapping
    app.sessions.touch(1)  # error: ExpiringMapping
    app.sessions.expires_at(1)  # error: ExpiringMapping
    app.sessions.purge(1)  # error: ExpiringMapping
    app.sessions.get(1)  # error: ExpiringMapping
    app.tokens.set("a", 1)  # error: ExpiringOrderedMapping
    app.tokens.touch(1)  # error: ExpiringOrderedMapping
    app.tokens.get(1)  # error: ExpiringOrderedMapping
    app.tokens.range("a")  # error: ExpiringOrderedMapping


def sets(app: App) -> None:
    app.tags.add(1)  # error: Set
    app.tags.discard(1)  # error: Set
    app.tags.remove(1)  # error: Set
    app.tags.update([1])  # error: Set
    app.tags.pop(1)  # error: Set
    app.tags.union(1)  # error: Set
    app.tags.clear(1)  # error: Set
    app.tags.frob()  # error: Set
    app.seen.add(1)  # error: OrderedSet
    app.seen.discard(1)  # error: OrderedSet
    app.seen.clear(1)  # error: OrderedSet
    app.fresh.add(1)  # error: ExpiringSet
    app.fresh.add(1, lifespan=5)  # error: ExpiringSet
    app.fresh.touch(1)  # error: ExpiringSet
    app.fresh.expires_at(1)  # error: ExpiringSet
    app.fresh.remove(1)  # error: ExpiringSet
    app.newest.add(1)  # error: ExpiringOrderedSet
    app.newest.remove(1)  # error: ExpiringOrderedSet
    app.newest.touch(1)  # error: ExpiringOrderedSet


def sequences(app: App) -> None:
    app.log.append(1)  # error: Sequence
    app.log.extend([1])  # error: Sequence
    app.log.insert(0, 1)  # error: Sequence
    app.log.remove(1)  # error: Sequence
    app.log.index(1, "a")  # error: Sequence
    app.log.count()  # error: Sequence
    app.log.reverse(1)  # error: Sequence
    app.log.clear(1)  # error: Sequence
    app.log.pop("a")  # error: Sequence
    app.log.sort(key=1)  # error: Sequence
    app.log.migrate(1)  # error: Sequence
    app.log.frob()  # error: Sequence
    app.jobs.append(1)  # error: Deque
    app.jobs.appendleft(1)  # error: Deque
    app.jobs.extend([1])  # error: Deque
    app.jobs.insert(0, 1)  # error: Deque
    app.jobs.remove(1)  # error: Deque
    app.jobs.index(1, "a")  # error: Deque
    app.jobs.count()  # error: Deque
    app.jobs.reverse(1)  # error: Deque
    app.jobs.clear(1)  # error: Deque
    app.jobs.rotate("a")  # error: Deque
    app.jobs.sort()  # error: Deque
    app.jobs.frob()  # error: Deque
    app.jobs.name = "x"  # error: Deque


def values(app: App) -> None:
    app.settings.set(1)  # error: Value
    app.settings.get(1, 2)  # error: Value
    app.settings.migrate(1)  # error: Value
    app.settings.frob()  # error: Value


async def twins(app: App) -> None:
    await app.users.aset("a", 1)  # error: Mapping
    await app.users.aget(1)  # error: Mapping
    await app.users.aupdate(a=1)  # error: Mapping
    await app.users.aincrement(1)  # error: Mapping
    await app.users.acontains()  # error: Mapping
    await app.users.alen(1)  # error: Mapping
    await app.users.aclear(1)  # error: Mapping
    await app.users.amigrate(1)  # error: Mapping
    await app.users.afrob()  # error: Mapping
    await app.recent.aset("a", 1)  # error: OrderedMapping
    await app.recent.apop(1)  # error: OrderedMapping
    await app.recent.arange()  # error: OrderedMapping
    await app.sessions.aset("a", 1)  # error: ExpiringMapping
    await app.sessions.atouch(1)  # error: ExpiringMapping
    await app.sessions.aexpires_at(1)  # error: ExpiringMapping
    await app.sessions.apurge(1)  # error: ExpiringMapping
    await app.tokens.aset("a", 1)  # error: ExpiringOrderedMapping
    await app.tags.aadd(1)  # error: Set
    await app.tags.aupdate([1])  # error: Set
    await app.tags.alen(1)  # error: Set
    await app.seen.adiscard(1)  # error: OrderedSet
    await app.fresh.aadd(1)  # error: ExpiringSet
    await app.fresh.atouch(1)  # error: ExpiringSet
    await app.newest.aadd(1)  # error: ExpiringOrderedSet
    await app.log.aappend(1)  # error: Sequence
    await app.log.ainsert(0, 1)  # error: Sequence
    await app.log.asetitem(0, 1)  # error: Sequence
    await app.log.aremove(1)  # error: Sequence
    await app.log.aindex(1, "a")  # error: Sequence
    await app.log.alen(1)  # error: Sequence
    await app.log.amigrate(1)  # error: Sequence
    await app.jobs.aappend(1)  # error: Deque
    await app.jobs.aappendleft(1)  # error: Deque
    await app.jobs.aextend([1])  # error: Deque
    await app.jobs.asetitem(0, 1)  # error: Deque
    await app.jobs.ainsert(0, 1)  # error: Deque
    await app.jobs.acount()  # error: Deque
    await app.jobs.aclear(1)  # error: Deque
    await app.jobs.apop(1)  # error: Deque
    await app.settings.aset(1)  # error: Value
    await app.settings.amigrate(1)  # error: Value
    await app.settings.afrob()  # error: Value


def store(app: App) -> None:
    app.purge(1)  # error: Store
    app.migrate(1)  # error: Store


async def async_store(app: App) -> None:
    await app.apurge(1)  # error: Store
    await app.abackup(1)  # error: Store
    await app.amigrate(1)  # error: Store
    async with app.atransaction(True):  # error: Store
        pass


def correct(app: App) -> None:
    """The same calls, used as documented: no message."""
    app.users.get("a")
    app.users["a"] = User(name="a")
    app.sessions.set("a", User(name="a"), lifespan=5)
    app.sessions.touch("a")
    app.tokens.set("a", User(name="a"))
    app.fresh.add("a", lifespan=5)
    app.newest.touch("a")
    app.seen.add("a")
    app.log.insert(0, "a")
    app.jobs.insert(0, "a")
    app.jobs.rotate(1)
    app.settings.set(User(name="a"))
