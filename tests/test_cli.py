"""The `tpstore` command line, run as a real subprocess on stores made by the tests."""

from __future__ import annotations

import concurrent.futures
import io
import json
import marshal
import os
import pickle
import pty
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import tpstore
from tpstore._cli import values
from tpstore._cli.storefile import KINDS

pytestmark = pytest.mark.slow  # every test here starts Python processes


class User(BaseModel):
    name: str
    email: str
    age: int = 0


class UserWithPhone(User):
    phone: str | None = None


class Settings(BaseModel):
    theme: str = "light"


class Opener:
    """Pickled as a call to `open(path, "w")`: unpickling it creates a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


class App(tpstore.Store):
    users: tpstore.Mapping[str, User]
    hits: tpstore.Mapping[str, int]
    flags: tpstore.Mapping[int, bool]
    recent: tpstore.OrderedMapping[tuple[str, int], bytes]
    days: tpstore.Mapping[date, float]
    sessions: tpstore.ExpiringMapping[str, str] = tpstore.field(lifespan=timedelta(hours=1))
    queue: tpstore.ExpiringOrderedMapping[str, int]
    settings: tpstore.Value[Settings] = tpstore.field(default_factory=Settings)
    unset: tpstore.Value[int]
    tags: tpstore.Set[str]
    seen: tpstore.OrderedSet[tuple[str, int]]
    tokens: tpstore.ExpiringSet[str] = tpstore.field(lifespan=600)
    recent_ids: tpstore.ExpiringOrderedSet[int]
    log: tpstore.Sequence[str]
    jobs: tpstore.Deque[dict[str, int]] = tpstore.field(maxlen=3)
    packed: tpstore.Mapping[str, list[str]] = tpstore.field(codec=tpstore.codecs.compressed("json"))
    blobs: tpstore.Mapping[str, object] = tpstore.field(codec="pickle")


def fill(app: App) -> None:
    """Items of every kind, including some that have already expired."""
    app.users["ada"] = User(name="Ada", email="ada@example.org", age=36)
    app.users["bob"] = {"name": "Bob", "email": "bob@example.org"}
    app.hits.increment("home", 3)
    app.hits["big"] = 2**62
    app.flags[1] = True
    app.flags[2] = False
    app.recent[("b", 2)] = b"\x00\xff"
    app.recent[("a", -1)] = b""
    app.days[date(2024, 2, 29)] = float("inf")
    app.days[date(2023, 1, 1)] = -0.5
    app.sessions["live"] = "ada"
    app.sessions.set("gone", "bob", lifespan=0.001)
    app.queue["z"] = 1
    app.queue["a"] = 2
    app.settings.value = Settings(theme="dark")
    app.tags.update(["b", "a", "c"])
    app.seen.add(("x", 2))
    app.seen.add(("x", 1))
    app.tokens.add("t1")
    app.recent_ids.add(3)
    app.recent_ids.add(1)
    app.log.extend(["first", "second", "third"])
    for n in range(5):
        app.jobs.append({"n": n})
    app.jobs.appendleft({"n": -1})
    app.packed["words"] = ["spam"] * 50
    app.blobs["numbers"] = {1, 2, 3}
    time.sleep(0.01)  # "gone" expires


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tpstore ARGS...` in a subprocess, with its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "tpstore", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def records(output: str) -> list[dict[str, Any]]:
    """The records of a jsonl dump."""
    return [json.loads(line) for line in output.splitlines()]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding items of every kind."""
    path = tmp_path_factory.mktemp("cli") / "source.db"
    with App(path) as app:
        fill(app)
    return path


@pytest.fixture(scope="module")
def dumped(source: Path) -> list[dict[str, Any]]:
    """`tpstore dump` of the source store."""
    result = run("dump", str(source))
    assert result.returncode == 0, result.stderr
    return records(result.stdout)


def by_collection(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["collection"], []).append(row)
    return grouped


# -- info --------------------------------------------------------------------------------


INFO_COLUMNS = ["collection", "kind", "key", "value", "items", "size", "versions", "options"]
"""The columns of `info` where the terminal is wide enough, and of its text output."""


def test_info_lists_every_collection_with_kind_codecs_and_live_counts(source: Path) -> None:
    result = run("info", str(source))
    assert result.returncode == 0, result.stderr
    lines = {
        line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines() if "\t" in line
    }
    assert lines["collection"] == INFO_COLUMNS
    assert lines["users"][1:5] == ["Mapping", "str · native", "User · json", "2"]
    assert lines["users"][6] == "1"
    assert lines["sessions"][4] == "1 (+1 expired)"
    assert lines["sessions"][7] == "lifespan 1 h"
    assert lines["jobs"][1] == "Deque"
    assert lines["jobs"][4] == "3"
    assert lines["jobs"][7] == "maxlen 3"
    assert lines["seen"][2] == "tuple[str, int] · tuple_key"
    assert lines["unset"][4] == "0"
    assert set(lines) - {"collection"} == set(App.__tpstore_fields__)


class Order(BaseModel):
    id: int
    items: list[str]


class Shop(tpstore.Store):
    customers: tpstore.Mapping[str, User]
    orders_by_day: tpstore.OrderedMapping[tuple[str, datetime], list[Order]]
    sessions: tpstore.ExpiringOrderedMapping[str, str] = tpstore.field(lifespan=3600)
    events: tpstore.Deque[dict[str, int]] = tpstore.field(maxlen=100_000)
    tags: tpstore.Value[set[str]]


def info_at(path: Path, width: int) -> list[str]:
    """`tpstore info` as a terminal of `width` columns shows it (drawn by rich)."""
    from tpstore._cli.commands import run as run_in_process
    from tpstore._cli.ui import Ui

    out, err = _Terminal(), _Terminal()
    assert run_in_process(["info", str(path)], Ui(out, err, width=width)) == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # colours and bold
    return [line.rstrip() for line in plain.splitlines()]


def test_info_fits_80_columns_without_breaking_a_type_or_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TERM", "dumb")  # rich would draw a dumb terminal 80 wide
    path = Path("shop.db")
    with Shop(path) as shop, shop.transaction():
        for n in range(2345):
            shop.orders_by_day[(f"c{n}", datetime(2024, 1, 1))] = [Order(id=n, items=["a"])]
        shop.customers["ada"] = User(name="Ada", email="a")
        shop.sessions["s"] = "ada"
        shop.events.append({"n": 1})
        shop.tags.value = {"a"}
    narrow = info_at(path, 80)
    assert max(len(line) for line in narrow) <= 80
    text = "\n".join(narrow)
    for token in ("tuple[str, datetime]", "list[Order]", "dict[str, int]", "2,345", "set[str]"):
        assert token in text, token
    assert "…" not in text
    assert "ExpiringOrderedMapping" in text
    assert "lifespan 1 h" in text
    wide = info_at(path, 160)
    assert max(len(line) for line in wide) <= 160
    header = next(line for line in wide if line.startswith("collection "))
    assert header.split() == INFO_COLUMNS
    assert any("tuple[str, datetime] · tuple_key" in line for line in wide)


class ShopV2(tpstore.Store):
    """`Shop` with a customer model that gained a field."""

    customers: tpstore.Mapping[str, UserWithPhone]


def test_info_shows_the_schema_versions_at_every_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column where it fits; at 80 columns a line below the kind where there are more
    than one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TERM", "dumb")
    path = Path("shop.db")
    with Shop(path) as shop:
        shop.orders_by_day[("c", datetime(2024, 1, 1))] = [Order(id=1, items=["a"])]
        shop.customers["ada"] = User(name="Ada", email="a")
    with ShopV2(path) as shop:
        shop.customers["bob"] = UserWithPhone(name="Bob", email="b", phone="1")
    wide = info_at(path, 160)
    header = next(line for line in wide if line.startswith("collection "))
    at = header.index("versions") + len("versions")
    row = next(line for line in wide if line.startswith("customers "))
    assert row[:at].split()[-1] == "2"
    row = next(line for line in wide if line.startswith("orders_by_day "))
    assert row[:at].split()[-1] == "1"
    narrow = info_at(path, 80)
    assert max(len(line) for line in narrow) <= 80
    assert sum("2 schema versions" in line for line in narrow) == 1
    text = run("info", str(path)).stdout
    lines = {line.split("\t")[0]: line.split("\t") for line in text.splitlines() if "\t" in line}
    assert lines["customers"][6] == "2"
    assert lines["tags"][6] == "1"


def test_info_on_a_terminal_draws_a_table(source: Path) -> None:
    """With a terminal on stdout the output is a rich table, not tab-separated text."""
    leader, follower = pty.openpty()
    chunks = []
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "tpstore", "info", str(source)],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
        ) as process:
            os.close(follower)
            follower = -1
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closes when the child exits
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            assert process.wait(timeout=60) == 0, process.stderr
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "──────" in screen  # the rule under the header
    assert "\t" not in screen
    assert "ExpiringOrderedSet" in screen
    assert "tuple[str, int] · tuple_key" in screen  # cells are text, not rich markup


# -- dump --------------------------------------------------------------------------------


def test_dump_writes_the_record_format_of_the_design(dumped: list[dict[str, Any]]) -> None:
    grouped = by_collection(dumped)
    assert grouped["users"] == [
        {
            "collection": "users",
            "key": "ada",
            "value": {"name": "Ada", "email": "ada@example.org", "age": 36},
        },
        {
            "collection": "users",
            "key": "bob",
            "value": {"name": "Bob", "email": "bob@example.org", "age": 0},
        },
    ]
    assert [r["value"] for r in grouped["flags"]] == [True, False]
    # insertion order, tuple keys as arrays, bytes marked
    assert grouped["recent"] == [
        {"collection": "recent", "key": ["b", 2], "value": {"$bytes": "AP8="}},
        {"collection": "recent", "key": ["a", -1], "value": {"$bytes": ""}},
    ]
    assert [(r["key"], r["value"]) for r in grouped["days"]] == [
        ("2023-01-01", -0.5),
        ("2024-02-29", {"$float": "inf"}),
    ]
    # sets, sequences and deques have values only, in their order
    assert grouped["tags"] == [{"collection": "tags", "value": v} for v in "abc"]
    assert [r["value"] for r in grouped["seen"]] == [["x", 2], ["x", 1]]
    assert [r["value"] for r in grouped["log"]] == ["first", "second", "third"]
    # five appends to a deque of maxlen 3 keep 2, 3, 4; appendleft then drops the right end
    assert [r["value"] for r in grouped["jobs"]] == [{"n": -1}, {"n": 2}, {"n": 3}]
    assert grouped["settings"] == [{"collection": "settings", "value": {"theme": "dark"}}]
    assert "unset" not in grouped


def test_dump_gives_expiring_items_expires_at_and_skips_expired_ones(
    dumped: list[dict[str, Any]],
) -> None:
    grouped = by_collection(dumped)
    sessions = {r["key"]: r for r in grouped["sessions"]}
    assert set(sessions) == {"live"}
    assert sessions["live"]["expires_at"] == pytest.approx(time.time() + 3600, abs=600)
    assert [r["expires_at"] for r in grouped["queue"]] == [None, None]  # no lifespan
    assert all("expires_at" in r for r in grouped["tokens"] + grouped["queue"])
    assert all("expires_at" not in r for r in grouped["users"] + grouped["tags"])


def test_dump_keeps_pickles_as_stored_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "p.db"
    with App(path) as app:
        app.blobs["evil"] = Opener(str(marker))
    result = run("dump", str(path), "blobs")
    assert result.returncode == 0, result.stderr
    (record,) = records(result.stdout)
    assert set(record["value"]) == {"$pickle"}
    assert "--unsafe-pickle" in result.stderr
    assert run("check", str(path)).returncode == 0
    assert not marker.exists()
    assert run("dump", str(path), "blobs", "--unsafe-pickle").returncode == 0
    assert marker.exists()


def test_dump_json_maps_each_collection_to_its_records(
    source: Path, dumped: list[dict[str, Any]]
) -> None:
    result = run("dump", str(source), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    expected = {
        name: [{k: v for k, v in r.items() if k != "collection"} for r in rows]
        for name, rows in by_collection(dumped).items()
    }
    assert {name: rows for name, rows in document.items() if rows} == expected
    assert document["unset"] == []


def test_dump_of_one_collection(source: Path) -> None:
    result = run("dump", str(source), "log")
    assert [r["value"] for r in records(result.stdout)] == ["first", "second", "third"]


def test_dump_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """`tpstore dump FILE | head -1`: no traceback, no error about the pipe."""
    path = tmp_path / "big.db"
    with App(path) as app:
        app.log.extend(["x" * 200] * 5000)  # far more than a pipe buffers
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m tpstore dump {path} | head -1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.startswith('{"collection":"log"')
    assert result.stderr == ""
    assert result.returncode == 0  # with pipefail: dump's own status


def test_reading_commands_leave_no_new_files(tmp_path: Path, source: Path) -> None:
    """info, dump and check of a WAL file add no -wal or -shm file beside it."""
    folder = tmp_path / "alone"
    folder.mkdir()
    path = folder / "app.db"
    with App(path) as app:
        fill(app)
    before = sorted(p.name for p in folder.iterdir())
    assert before == ["app.db"]
    for args in (["info"], ["dump"], ["dump", "--format", "json"], ["check"]):
        result = run(args[0], str(path), *args[1:])
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in folder.iterdir()) == before, args
    # While a program has the file open, its files stay, and so do its commits.
    with App(path) as app:
        app.log.append("while open")
        assert run("dump", str(path), "log").stdout.count("while open") == 1
        assert (folder / "app.db-wal").exists()
        assert app.log[-1] == "while open"


# -- load --------------------------------------------------------------------------------


def test_dump_then_load_into_an_empty_store_gives_the_same_store(
    tmp_path: Path, source: Path, dumped: list[dict[str, Any]]
) -> None:
    target = tmp_path / "target.db"
    App(target).close()
    grouped = by_collection(dumped)
    for name, rows in grouped.items():
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # Loads of different collections may run at once: each waits for the write lock.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = dict(
            zip(
                grouped,
                pool.map(
                    lambda name: run("load", str(target), name, str(tmp_path / f"{name}.jsonl")),
                    grouped,
                ),
                strict=True,
            )
        )
    for name, result in results.items():
        assert result.returncode == 0, result.stderr
        count = len(grouped[name])
        noun = "item" if count == 1 else "items"
        assert result.stdout.strip() == f"loaded {count} {noun} into {name}"
    again = run("dump", str(target))
    assert records(again.stdout) == dumped
    # the store's own program reads what was loaded, and len() agrees (count triggers)
    with App(source, mode="ro") as original, App(target, mode="ro") as copy:
        for name in App.__tpstore_fields__:
            mine, theirs = getattr(original, name), getattr(copy, name)
            if isinstance(mine, tpstore.Value):
                assert mine.is_set == theirs.is_set
                assert mine.get(None) == theirs.get(None)
            else:
                assert len(mine) == len(theirs), name
                assert list(mine) == list(theirs), name
        assert dict(copy.recent) == dict(original.recent)
        assert copy.jobs.maxlen == 3
        assert copy.queue.expires_at("z") is None
        assert copy.sessions.expires_at("live") == original.sessions.expires_at("live")
    assert run("check", str(target)).returncode == 0


def test_load_writes_pickles_back_byte_for_byte(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "target.db"
    App(target).close()
    result = run("dump", str(source), "blobs")
    assert run("load", str(target), "blobs", "-", stdin=result.stdout).returncode == 0
    query = "SELECT key, value FROM blobs"
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    with App(target) as app:
        assert app.blobs["numbers"] == {1, 2, 3}


def test_load_follows_collection_semantics(tmp_path: Path) -> None:
    """Mappings set (last wins, place kept), sets add, deques append past maxlen."""
    path = tmp_path / "s.db"
    with App(path) as app:
        app.recent[("k", 1)] = b"old"
        app.recent[("k", 2)] = b"two"
        app.tags.add("a")
        app.jobs.append({"n": 0})
    lines = [
        {"key": ["k", 1], "value": {"$bytes": "bmV3"}},
        {"key": ["k", 0], "value": "plain text"},
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    assert run("load", str(path), "recent", "-", stdin=stdin).returncode == 0
    assert (
        run("load", str(path), "tags", "-", stdin='{"value": "a"}\n{"value": "b"}\n').returncode
        == 0
    )
    jobs = "".join(json.dumps({"value": {"n": n}}) + "\n" for n in range(1, 5))
    assert run("load", str(path), "jobs", "-", stdin=jobs).returncode == 0
    with App(path) as app:
        assert list(app.recent.items()) == [
            (("k", 1), b"new"),
            (("k", 2), b"two"),
            (("k", 0), b"plain text"),
        ]
        assert list(app.tags) == ["a", "b"]
        assert list(app.jobs) == [{"n": 2}, {"n": 3}, {"n": 4}]
        assert app.sessions.get("x") is None


def test_load_gives_items_without_expires_at_the_collection_lifespan(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    App(path).close()
    before = time.time()
    assert (
        run("load", str(path), "sessions", "-", stdin='{"key": "a", "value": "x"}\n').returncode
        == 0
    )
    with App(path) as app:
        assert app.sessions.expires_at("a") == pytest.approx(before + 3600, abs=60)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"key": "c", "value": {"name": "C"}}', "'email' is a required property"),
        ('{"key": 5, "value": {"name": "C", "email": "c"}}', "not a str"),
        ('{"value": {"name": "C", "email": "c"}}', "no 'key'"),
        ('{"collection": "hits", "key": "c", "value": 1}', "belongs to collection 'hits'"),
        ('{"key": "c", "value": {"name": "C", "email": "c"}, "extra": 1}', "unexpected field"),
        ("[1, 2]", "a record is a JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_record_loads_nothing_and_names_its_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "s.db"
    with App(path) as app:
        app.users["ada"] = User(name="Ada", email="a")
    good = '{"key": "bob", "value": {"name": "Bob", "email": "b"}}\n'
    result = run("load", str(path), "users", "-", stdin=good + good + line + "\n")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("tpstore: error: line 3: ")
    assert message in result.stderr
    with App(path) as app:
        assert list(app.users) == ["ada"]


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_whole_store_dump_loads_into_another_store_in_one_go(
    tmp_path: Path, source: Path, dumped: list[dict[str, Any]], fmt: str, via: str
) -> None:
    """`dump FILE > x; load OTHER x`: each record goes to the collection it names."""
    target = tmp_path / "target.db"
    App(target).close()
    text = run("dump", str(source), "--format", fmt).stdout
    if via == "file":
        (tmp_path / "all.txt").write_text(text)
        result = run("load", str(target), str(tmp_path / "all.txt"))
    else:
        result = run("load", str(target), "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"loaded {len(dumped)} items into {len(by_collection(dumped))} collections"
    )
    assert records(run("dump", str(target)).stdout) == dumped
    assert run("check", str(target)).returncode == 0


def test_a_json_dump_of_one_collection_loads_with_or_without_its_name(
    tmp_path: Path, source: Path
) -> None:
    text = run("dump", str(source), "users", "--format", "json").stdout
    target = tmp_path / "target.db"
    App(target).close()
    assert run("load", str(target), "users", "-", stdin=text).returncode == 0
    assert run("load", str(target), "-", stdin=text).returncode == 0
    refused = run("load", str(target), "hits", "-", stdin=text)
    assert refused.returncode == 1
    assert "belongs to collection 'users', not 'hits'" in refused.stderr
    with App(target) as app:
        assert sorted(app.users) == ["ada", "bob"]
        assert len(app.hits) == 0


GOOD = '{"collection": "hits", "key": "x", "value": 1}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + '{"key": "a", "value": 1}\n', "line 2: the record names no collection"),
        (GOOD + '{"collection": "nosuch", "value": 1}\n', "has no collection named 'nosuch'"),
        (GOOD + "{not json\n", "line 2: not JSON"),
        ('{"hits": [{"key": "x", "value": "y"}]}\n', "record 1 of hits: the value"),
        ("{\n  not json\n}\n", "neither jsonl"),
        ("[1, 2]\n", "not one 'tpstore dump --format json' writes"),
    ],
)
def test_a_load_refuses_records_it_cannot_route_and_loads_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "s.db"
    App(path).close()
    result = run("load", str(path), "-", stdin=text)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "nothing was loaded" in result.stderr
    with App(path) as app:
        assert len(app.hits) == 0


# -- namespaces --------------------------------------------------------------------------


class Small(tpstore.Store):
    users: tpstore.Mapping[str, User]
    log: tpstore.Sequence[str]


def test_every_command_takes_a_namespace(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    with Small(path, namespace="acme") as acme, Small(path, namespace="globex") as globex:
        acme.users["ada"] = User(name="Ada", email="a")
        acme.log.append("acme")
        globex.log.append("globex")
    info = run("info", str(path), "--namespace", "acme")
    assert info.returncode == 0, info.stderr
    names = [line.split("\t")[0] for line in info.stdout.splitlines() if "\t" in line]
    assert names == ["collection", "log", "users"]
    assert run("info", str(path)).stdout.count("acme.") == 2  # all, by table name
    dumped = run("dump", str(path), "--namespace", "acme")
    assert records(dumped.stdout) == [
        {"collection": "log", "value": "acme"},
        {"collection": "users", "key": "ada", "value": {"name": "Ada", "email": "a", "age": 0}},
    ]
    loaded = run("load", str(path), "--namespace", "globex", "-", stdin=dumped.stdout)
    assert loaded.returncode == 0, loaded.stderr
    with Small(path, namespace="globex") as globex:
        assert list(globex.log) == ["globex", "acme"]
        assert globex.users["ada"].name == "Ada"
    assert run("check", str(path), "--namespace", "globex").stdout.startswith("ok: ")
    assert run("purge", str(path), "--namespace", "acme").returncode == 0
    assert run("vacuum", str(path), "--namespace", "acme").returncode == 0
    missing = run("dump", str(path), "--namespace", "initech")
    assert missing.returncode == 1
    assert "no collections in namespace 'initech' (namespaces: acme, globex)" in missing.stderr


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    result = run("info", "postgresql://app:s3cret@127.0.0.1:1/app")
    assert result.returncode == 1
    assert result.stderr.startswith("tpstore: error: cannot connect to database 'app'")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr


# -- check -------------------------------------------------------------------------------


def test_check_passes_then_lists_values_corrupted_with_sqlite3(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with App(path) as app:
        fill(app)
    result = run("check", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE users SET value = '{\"name\": 5}' WHERE key = 'ada'")
        conn.execute("""UPDATE jobs SET value = '{"n": "x"}'
                        WHERE pos = (SELECT max(pos) FROM jobs)""")
        conn.execute("UPDATE packed SET value = x'00'")
    result = run("check", str(path))
    assert result.returncode == 1
    problems = result.stdout.splitlines()
    assert any(
        line.startswith('users["ada"]: value does not match its schema') for line in problems
    )
    assert any(
        line.startswith("jobs[2]: value does not match its schema: n: 'x' is not of")
        for line in problems
    )
    assert any(line.startswith('packed["words"]: value') for line in problems)
    assert problems[-1].startswith("3 problems found")


def test_check_reports_a_count_the_triggers_did_not_keep(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with App(path) as app:
        app.tags.add("a")
    with sqlite3.connect(path) as conn:
        conn.execute('DROP TRIGGER "tags/count+"')
        conn.execute("INSERT INTO tags (key) VALUES ('b')")
    result = run("check", str(path))
    assert result.returncode == 1
    assert "tags: the catalog counts 1 items but the table holds 2" in result.stdout


def test_dump_keeps_undecodable_values_as_raw_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with App(path) as app:
        app.users["ada"] = User(name="Ada", email="a")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE users SET value = 'not json'")
    result = run("dump", str(path), "users")
    assert result.returncode == 1
    assert records(result.stdout) == [
        {"collection": "users", "key": "ada", "value": {"$raw": "not json"}}
    ]
    assert 'users["ada"]: is not valid JSON' in result.stderr


class Many(tpstore.Store):
    users: tpstore.Mapping[str, User]
    log: tpstore.Sequence[str]


def damage_pages(path: Path, table: str, offset: int, count: int = 3) -> int:
    """Overwrite 100 bytes at `offset` of `count` leaf pages of `table`; returns how many
    items those pages held."""
    with sqlite3.connect(path) as conn:
        leaves = conn.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        ).fetchall()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    chosen = leaves[1 : len(leaves) - 1 : max(1, (len(leaves) - 2) // count)][:count]
    with open(path, "r+b") as file:
        for number, _ in chosen:
            file.seek((number - 1) * page_size + offset)
            file.write(bytes(range(7, 107)))
    return sum(cells for _, cells in chosen)


@pytest.fixture
def damaged_source(tmp_path: Path) -> Path:
    path = tmp_path / "d.db"
    with Many(path) as app, app.transaction():
        for n in range(2000):
            app.users[f"user{n:05d}"] = User(name=f"U{n}", email=f"u{n}@example.org")
        app.log.extend(f"entry {n}" for n in range(2000))
    return path


@pytest.mark.parametrize("offset", [0, 3900], ids=["page-header", "cell-content"])
def test_check_and_dump_of_damaged_pages_report_salvage_and_exit_1(
    damaged_source: Path, offset: int
) -> None:
    lost = damage_pages(damaged_source, "users", offset)
    checked = run("check", str(damaged_source))
    assert checked.returncode == 1
    for output in (checked.stdout, checked.stderr):
        assert "Traceback" not in output
        assert "please report it" not in output
    lines = checked.stdout.splitlines()
    assert any(line.startswith("integrity: ") for line in lines)
    assert lines[-1].endswith("items checked)")
    dumped = run("dump", str(damaged_source))
    assert dumped.returncode == 1
    assert "Traceback" not in dumped.stderr
    rows = records(dumped.stdout)
    users = [r for r in rows if r["collection"] == "users"]
    # Every item of the undamaged pages is still dumped, and only real items are.
    assert len(users) >= 2000 - lost
    assert all(
        r["value"]
        == {"name": f"U{int(r['key'][4:])}", "email": f"u{int(r['key'][4:])}@example.org", "age": 0}
        for r in users
        if "$raw" not in r["value"]
    )
    assert [r["value"] for r in rows if r["collection"] == "log"] == [
        f"entry {n}" for n in range(2000)
    ]
    if len(users) < 2000:
        assert "users: could not read the items after key" in dumped.stderr
        assert f"users: {len(users):,} items dumped of the 2,000 the catalog counts" in (
            dumped.stderr
        )


def test_a_damaged_sequence_is_salvaged_past_its_damaged_pages(damaged_source: Path) -> None:
    lost = damage_pages(damaged_source, "log", 0)
    dumped = run("dump", str(damaged_source), "log")
    assert dumped.returncode == 1
    values = [r["value"] for r in records(dumped.stdout)]
    assert len(values) >= 2000 - lost
    assert values == sorted(values, key=lambda v: int(v.split()[1]))  # in order
    assert set(values) <= {f"entry {n}" for n in range(2000)}
    assert values[-1] == "entry 1999"
    assert "log: could not read the items after row " in dumped.stderr


@given(st.data())
def test_the_salvage_bisection_finds_values_strictly_between(data: st.DataObject) -> None:
    """`_between(a, b)` is `None` or a value of the same type with `a < value < b`."""
    from tpstore._cli.salvage import _between

    kind = data.draw(st.sampled_from([st.integers(-(2**63), 2**63 - 1), st.text(), st.binary()]))
    low, high = sorted(data.draw(st.lists(kind, min_size=2, max_size=2, unique=True)))
    found = _between(low, high)
    if found is not None:
        assert type(found) is type(low)
        assert low < found < high
        if isinstance(found, str):
            found.encode("utf-8")  # SQLite can bind it
    if isinstance(low, int) and high - low > 1:
        assert found is not None


def test_check_shows_the_first_integrity_findings_and_counts_them_all(
    damaged_source: Path,
) -> None:
    damage_pages(damaged_source, "users", 3900, count=12)
    damage_pages(damaged_source, "log", 3900, count=12)
    result = run("check", str(damaged_source))
    assert result.returncode == 1
    findings = [line for line in result.stdout.splitlines() if line.startswith("integrity: ")]
    assert len(findings) == 11  # ten shown, then the count
    assert "***" not in result.stdout  # SQLite's heading is not a finding
    total = int(findings[-1].split()[1].replace(",", ""))
    assert total > 10
    assert findings[-1].endswith(
        "problems in all found by SQLite's integrity check (the first 10 are shown)"
    )


def test_check_of_a_file_whose_catalog_is_damaged_reports_sqlites_findings(
    damaged_source: Path,
) -> None:
    with sqlite3.connect(damaged_source) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = '_tpstore_catalog'"
        ).fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(damaged_source, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * 300)
    result = run("check", str(damaged_source))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "integrity: " in result.stdout
    assert "catalog: cannot read the catalog" in result.stdout
    dumped = run("dump", str(damaged_source))
    assert dumped.returncode == 1
    assert dumped.stderr.startswith("tpstore: error: cannot read the catalog")


def test_check_reports_a_tpstore_table_without_its_catalog_entry(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with App(path) as app:
        fill(app)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM _tpstore_catalog WHERE name = 'tags'")
    conn.close()
    with pytest.raises(tpstore.SchemaError):
        App(path).close()
    result = run("check", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith("tags: a table tpstore created, but the catalog has no entry")
    info = run("info", str(path))
    assert "tags\t(no catalog entry)" in info.stdout


def test_check_summarises_a_problem_repeated_for_many_items(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with Many(path) as app:
        app.users.update({f"u{n:04d}": User(name="x", email="y") for n in range(500)})
    with sqlite3.connect(path) as conn:
        conn.execute("""UPDATE users SET value = '{"name": "x"}'""")
    conn.close()
    result = run("check", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 7  # five problems, one summary, the total
    assert lines[0] == (
        "users[\"u0000\"]: value does not match its schema: 'email' is a required property"
    )
    assert lines[5] == (
        "users: 495 more problems not shown: value does not match its schema: "
        "'email' is a required property (495)"
    )
    assert lines[6] == "500 problems found in r.db (500 items checked)".replace("r.db", str(path))


def test_check_and_load_name_the_extra_when_jsonschema_is_missing(source: Path) -> None:
    code = (
        "import sys; sys.modules['jsonschema'] = None\n"
        "from tpstore.__main__ import main\n"
        f"sys.exit(main(['check', {str(source)!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "pip install 'tpstore[cli]'" in result.stderr
    assert result.stderr.count("\n") == 1


# -- purge and vacuum --------------------------------------------------------------------


def test_purge_deletes_expired_items_and_keeps_counts(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with App(path, clock=lambda: time.time() - 7200) as app:  # written two hours ago
        app.sessions["old"] = "x"
        app.tokens.add("old")
    with App(path) as app:
        app.sessions["new"] = "y"
    result = run("purge", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "purged 2 expired items"
    assert run("purge", str(path)).stdout.splitlines()[-1] == "purged 0 expired items"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key FROM sessions").fetchall() == [("new",)]
    assert run("check", str(path)).returncode == 0


def test_vacuum_returns_free_space(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with App(path) as app:
        app.log.extend(["x" * 1000] * 500)
        app.log.clear()
        app.checkpoint()
    before = path.stat().st_size
    result = run("vacuum", str(path))
    assert result.returncode == 0, result.stderr
    assert path.stat().st_size < before / 4
    assert result.stdout.startswith(f"vacuumed {path}: ")


# -- errors ------------------------------------------------------------------------------


def bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    plain = tmp_path / "plain.db"
    with sqlite3.connect(plain) as conn:
        conn.execute("CREATE TABLE t (a)")
    return {"text": text, "plain": plain}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "{missing}"], "does not exist"),
        (["dump", "{text}"], "is not an SQLite database"),
        (["check", "{plain}"], "not a tpstore file"),
        (["dump", "{source}", "nosuch"], "has no collection named 'nosuch'"),
        (["load", "{source}", "users", "{missing}"], "does not exist"),
        (["info", "{tmp}"], "is a folder"),
        (["frobnicate", "{source}"], "invalid choice"),
        (["dump"], "required: FILE"),
        (["dump", "{source}", "--format", "xml"], "invalid choice: 'xml'"),
        (["load", "{source}"], "required: INPUT"),
        (["load", "{source}", "users"], "users does not exist"),
        ([], "required: COMMAND"),
    ],
)
def test_errors_are_one_line_and_a_nonzero_exit(
    tmp_path: Path, source: Path, args: list[str], message: str
) -> None:
    files = bad_files(tmp_path)
    names = {"missing": tmp_path / "missing.db", "source": source, "tmp": tmp_path, **files}
    before = files["text"].read_bytes()
    result = run(*(arg.format(**names) for arg in args))
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.startswith("tpstore: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert files["text"].read_bytes() == before


def test_help_and_version() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("info", "dump", "load", "check", "vacuum", "purge"):
        assert command in result.stdout
    assert run("--version").stdout.strip() == f"tpstore {tpstore.__version__}"


def test_the_console_script_runs(source: Path) -> None:
    """The installed `tpstore` command is the same program as `python -m tpstore`."""
    script = Path(sys.executable).with_name("tpstore")
    if not script.exists():
        pytest.skip("the package is not installed with its console script here")
    result = subprocess.run(
        [str(script), "dump", str(source), "log"], capture_output=True, text=True, check=False
    )
    assert [r["value"] for r in records(result.stdout)] == ["first", "second", "third"]


# -- the pieces, in-process --------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        name
        for name in tpstore.__all__
        if isinstance(getattr(tpstore, name), type)
        and getattr(getattr(tpstore, name), "kind_name", "")
    ],
)
def test_the_kind_table_agrees_with_the_collection_classes(kind: str) -> None:
    cls = getattr(tpstore, kind)
    known = KINDS[cls.kind_name]
    assert known.layout == cls.layout
    assert known.has_key == ("K" in cls.type_params)
    assert known.has_value == ("V" in cls.type_params)
    assert known.expiring == cls.expiring


@pytest.mark.parametrize(
    "declared",
    [
        int,
        bool,
        float,
        str,
        bytes,
        int | None,
        tuple[str, int],
        tuple[int, ...],
        tuple[tuple[int, str], bytes | None],
        datetime,
        date,
    ],
)
def test_declared_types_are_rebuilt_from_their_json_schema(declared: Any) -> None:
    from pydantic import TypeAdapter

    schema = json.dumps(TypeAdapter(declared).json_schema())
    rebuilt = values.declared_type(schema)
    assert TypeAdapter(rebuilt).json_schema() == TypeAdapter(declared).json_schema()


def test_marked_json_round_trips_bytes_floats_and_big_ints() -> None:
    value = {"b": b"\x00", "f": [float("-inf"), 0.5], "n": 2**100, "t": (1, "x")}
    marked = values.jsonable(value)
    text = values.dumps_json(marked)
    assert values.unmark(values.parse_json(text)) == {
        "b": b"\x00",
        "f": [float("-inf"), 0.5],
        "n": 2**100,
        "t": [1, "x"],
    }


def test_tuple_keys_load_to_the_bytes_the_store_writes() -> None:
    codec = tpstore.codecs.tuple_key.for_type(tuple[str, datetime])
    key = ("job", datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))))
    from pydantic import TypeAdapter

    schema = json.dumps(TypeAdapter(tuple[str, datetime]).json_schema())
    translator = values.translator("tuple_key", "BLOB", schema)
    raw = codec.encode(key)
    assert translator.load(translator.dump(raw)) == raw


def test_pickle_opcodes_are_checked_without_unpickling() -> None:
    translator = values.translator("pickle", "BLOB", None)
    good = pickle.dumps(Opener("/nonexistent/never-created"))
    assert translator.check(good) is values.UNCHECKED
    with pytest.raises(values.ProblemError):
        translator.check(good[:-1])


@attrs.define
class Point:
    x: int
    y: int


class Codecs(tpstore.Store):
    marshalled: tpstore.Mapping[str, list[int]] = tpstore.field(codec=marshal)
    packed: tpstore.Mapping[str, dict[str, bytes]] = tpstore.field(codec="msgpack")
    squeezed: tpstore.Mapping[str, str] = tpstore.field(codec=tpstore.codecs.compressed("native"))
    points: tpstore.OrderedMapping[str, Point]
    pickled: tpstore.Mapping[str, complex] = tpstore.field(
        codec=tpstore.codecs.compressed("pickle")
    )
    stamped: tpstore.Mapping[tuple[datetime, bool, float], int | None]


def test_every_codec_round_trips_through_dump_and_load(tmp_path: Path) -> None:
    source, target = tmp_path / "codecs.db", tmp_path / "copy.db"
    with Codecs(source) as app:
        app.marshalled["m"] = [1, 2, 3]
        app.packed["p"] = {"raw": b"\x00\x01"}
        app.squeezed["s"] = "spam " * 100
        app.points["o"] = Point(0, 0)
        app.pickled["c"] = 1 + 2j
        app.stamped[(datetime(2024, 1, 1, tzinfo=UTC), True, 1.0)] = None
        app.stamped[(datetime(2024, 1, 1), False, float("-inf"))] = 7
    Codecs(target).close()
    dumped = run("dump", str(source))
    assert dumped.returncode == 0, dumped.stderr
    grouped = by_collection(records(dumped.stdout))
    assert grouped["marshalled"][0]["value"] == {"$raw": {"$bytes": mock.ANY}}
    assert grouped["packed"][0]["value"] == {"raw": {"$bytes": "AAE="}}
    assert grouped["points"][0]["value"] == {"x": 0, "y": 0}
    assert set(grouped["pickled"][0]["value"]) == {"$pickle"}
    assert [r["key"] for r in grouped["stamped"]] == [
        ["2024-01-01T00:00:00", False, {"$float": "-inf"}],
        ["2024-01-01T00:00:00+00:00", True, 1.0],
    ]
    for name, rows in grouped.items():
        stdin = "".join(json.dumps(r) + "\n" for r in rows)
        result = run("load", str(target), name, "-", stdin=stdin)
        assert result.returncode == 0, result.stderr
    assert records(run("dump", str(target)).stdout) == records(dumped.stdout)
    with Codecs(source, mode="ro") as a, Codecs(target, mode="ro") as b:
        for name in Codecs.__tpstore_fields__:
            assert dict(getattr(a, name)) == dict(getattr(b, name)), name
    unsafe = run("dump", str(source), "marshalled", "--unsafe-pickle")
    assert records(unsafe.stdout)[0]["value"] == [1, 2, 3]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_rich_a_terminal_gets_plain_tables_and_one_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tpstore._cli.ui import Ui

    monkeypatch.setitem(sys.modules, "rich", None)
    out, err = _Terminal(), _Terminal()
    ui = Ui(out, err)
    ui.table(["a", "b"], [["1", "2"]])
    ui.facts([("file", "x.db")])
    assert out.getvalue() == "a\tb\n1\t2\nfile: x.db\n"
    assert err.getvalue().startswith("tpstore: note: for tables and progress bars, ")
    assert "pip install -e '.[cli]'" in err.getvalue()
    assert err.getvalue().count("\n") == 1
    with ui.progress("dumping", 10**6) as advance:
        advance(10)  # no bar, no error
