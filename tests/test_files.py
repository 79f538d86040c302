"""Files, journals, durability, namespaces, modes, maintenance and hostile input.

Everything here runs in one process; the claims that need several processes (crashes,
forks, concurrent writers) are in `test_processes.py`.
"""

from __future__ import annotations

import os
import pickle
import random
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, query
from pydantic import BaseModel

import tpstore
from tpstore import (
    BusyError,
    ClosedError,
    Deque,
    ExpiringMapping,
    Mapping,
    ReadOnlyError,
    SchemaError,
    Sequence,
    Set,
    Store,
    TpStoreError,
    TpStoreWarning,
    ValidationError,
    Value,
    field,
)
from tpstore._backends.sqlite import files as _files
from tpstore._backends.sqlite.dialect import Features

# -- stores used below ------------------------------------------------------------------


class Item(BaseModel):
    name: str
    size: int = 0


class Main(Store):
    """Collections of the main file only."""

    m: Mapping[str, int]


class Both(Store):
    """One collection in the main file, one in the attached file named `archive`."""

    m: Mapping[str, int]
    am: Mapping[str, int] = field(database="archive", table="m")


class ArchiveOnly(Store):
    """Only the attached file's collection."""

    am: Mapping[str, int] = field(database="archive", table="m")


class Models(Store):
    items: Mapping[str, Item]
    tuples: Mapping[tuple[str, int], str]
    note: Value[str] = field(default="")
    tags: Set[str]
    log: Sequence[str]
    queue: Deque[str]


def fds_on(path: Path) -> int:
    """How many file descriptors of this process are open on `path` (or its journals)."""
    real = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(real):
            count += 1
    return count


def journal_mode(path: Path) -> str:
    """The journal mode recorded in a file, read with plain sqlite3."""
    return str(query(path, "PRAGMA journal_mode")[0][0])


def tables_of(path: Path) -> set[str]:
    return {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def catalog_names(path: Path) -> set[str]:
    return {row[0] for row in query(path, "SELECT name FROM _tpstore_catalog")}


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc"
)


# -- attached files ---------------------------------------------------------------------


def test_transaction_spanning_two_files_commits_in_both(tmp_path: Path) -> None:
    """One transaction writes both files; after reopening, both hold the writes."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Both(main, attach={"archive": archive}) as store, store.transaction():
        store.m["a"] = 1
        store.am["a"] = 2
    with Both(main, attach={"archive": archive}) as store:
        assert (store.m["a"], store.am["a"]) == (1, 2)


def test_transaction_spanning_two_files_rolls_back_in_both(tmp_path: Path) -> None:
    """An exception leaving the transaction undoes the writes to both files."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Both(main, attach={"archive": archive}) as store:
        store.m["kept"] = 0
        store.am["kept"] = 0

        def fail() -> None:
            with store.transaction():
                store.m["a"] = 1
                store.am["a"] = 2
                store.m["kept"] = 10
                store.am["kept"] = 20
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail()
        assert dict(store.m) == {"kept": 0}
        assert dict(store.am) == {"kept": 0}
    with Both(main, attach={"archive": archive}) as store:
        assert dict(store.m) == {"kept": 0}
        assert dict(store.am) == {"kept": 0}


def test_nested_savepoint_rolls_back_only_its_level_in_both_files(tmp_path: Path) -> None:
    """A rolled-back savepoint undoes its writes to both files; the outer level commits."""
    with Both(tmp_path / "m.db", attach={"archive": tmp_path / "a.db"}) as store:

        def fail() -> None:
            with store.transaction():
                store.m["inner"] = 2
                store.am["inner"] = 2
                raise KeyError

        with store.transaction():
            store.m["outer"] = 1
            with pytest.raises(KeyError):
                fail()
            store.am["outer"] = 1
        assert dict(store.m) == {"outer": 1}
        assert dict(store.am) == {"outer": 1}


def test_each_file_opens_as_main_or_as_attachment(tmp_path: Path) -> None:
    """The attached file's own catalog lets it open alone, and the main file alone."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Both(main, attach={"archive": archive}) as store:
        store.m["x"] = 1
        store.am["y"] = 2
    assert catalog_names(main) == {"m"}
    assert catalog_names(archive) == {"m"}
    with Main(archive) as alone:  # the archive opened as a main file
        assert dict(alone.m) == {"y": 2}
        alone.m["z"] = 3
    with Main(main) as alone:
        assert dict(alone.m) == {"x": 1}
    with ArchiveOnly(tmp_path / "other.db", attach={"archive": archive}) as store:
        assert dict(store.am) == {"y": 2, "z": 3}


def test_field_naming_a_database_not_attached_is_a_schema_error(tmp_path: Path) -> None:
    """SchemaError names field and database; the file is left as it was."""
    path = tmp_path / "main.db"
    with Main(path) as store:
        store.m["a"] = 1
    before = path.read_bytes()
    with pytest.raises(SchemaError, match=r"Both\.am.*'archive'.*not attached"):
        Both(path)
    with pytest.raises(SchemaError, match="archive"):
        Both(path, attach={"other": tmp_path / "other.db"})
    with pytest.raises(SchemaError, match="archive"):
        Both(tmp_path / "new.db")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.db"]  # nothing created


def test_a_file_given_twice_is_refused(tmp_path: Path) -> None:
    """The main file cannot also be attached, nor one file attached twice."""
    path = tmp_path / "main.db"
    with pytest.raises(ValueError, match="twice"):
        Both(path, attach={"archive": path})
    with pytest.raises(ValueError, match="twice"):
        Both(path, attach={"archive": tmp_path / "a.db", "again": tmp_path / "." / "a.db"})


def test_in_memory_main_with_an_attached_file(tmp_path: Path) -> None:
    """A private in-memory store can keep collections in an attached file."""
    archive = tmp_path / "archive.db"
    with Both(None, attach={"archive": archive}) as store:
        store.am["kept"] = 1
        store.m["gone"] = 1
    with Both(None, attach={"archive": archive}) as store:
        assert dict(store.am) == {"kept": 1}
        assert dict(store.m) == {}


def test_attached_database_names_are_validated(tmp_path: Path) -> None:
    """Reserved and invalid schema names are refused before any file is touched."""
    for name in ("main", "temp", "MAIN", "", "sqlite_x", "a\x00b", "\ud800"):
        with pytest.raises(SchemaError):
            Both(tmp_path / "m.db", attach={name: tmp_path / "a.db"})
    assert not (tmp_path / "m.db").exists()
    assert not (tmp_path / "a.db").exists()


# -- journal modes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wal", "attached", "expected"),
    [
        (None, False, "wal"),
        (None, True, "delete"),
        (True, False, "wal"),
        (True, True, "wal"),
        (False, False, "delete"),
        (False, True, "delete"),
    ],
)
def test_journal_mode_policy(
    tmp_path: Path, wal: bool | None, attached: bool, expected: str
) -> None:
    """wal=None: WAL alone, rollback journal (DELETE) with attachments; True/False force."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    if attached:
        store: Store = Both(main, attach={"archive": archive}, wal=wal)
    else:
        store = Main(main, wal=wal)
    with store:
        raw = store._engine.driver.raw()
        assert raw.execute("PRAGMA main.journal_mode").fetchone()[0] == expected
        if attached:
            assert raw.execute('PRAGMA "archive".journal_mode').fetchone()[0] == expected
    assert journal_mode(main) == expected
    if attached:
        assert journal_mode(archive) == expected


def test_a_file_changes_journal_when_opened_with_attachments(tmp_path: Path) -> None:
    """A file used alone (WAL) switches to DELETE when it is next opened as an attachment."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Main(archive) as alone:
        alone.m["a"] = 1
    assert journal_mode(archive) == "wal"
    with Both(main, attach={"archive": archive}) as store:
        assert store.am["a"] == 1
    assert journal_mode(archive) == "delete"
    with Main(archive) as alone:
        assert alone.m["a"] == 1
    assert journal_mode(archive) == "wal"


def test_leaving_wal_while_another_connection_uses_the_file_is_a_busy_error(
    tmp_path: Path,
) -> None:
    """The rollback journal needs the file to itself: BusyError explains the conflict."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Main(archive) as alone:  # keeps the archive open in WAL mode
        alone.m["a"] = 1
        with pytest.raises(BusyError, match="journal"):
            Both(main, attach={"archive": archive}, timeout=0.1)
        assert alone.m["a"] == 1


def test_wal_and_mode_arguments_are_checked(tmp_path: Path) -> None:
    """Unknown option values raise ValueError before any file is created."""
    path = tmp_path / "x.db"
    with pytest.raises(ValueError, match="wal"):
        Main(path, wal="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        Main(path, mode="rwc")
    with pytest.raises(ValueError, match="durability"):
        Main(path, durability="paranoid")
    assert not path.exists()


# -- network filesystems ----------------------------------------------------------------


def test_a_file_on_a_network_filesystem_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TpStoreWarning, pointing at the caller's line, for a file on NFS."""
    monkeypatch.setattr(_files, "filesystem_type", lambda path: "nfs4")
    with pytest.warns(TpStoreWarning, match=r"network filesystem \(nfs4\)") as caught:
        Main(tmp_path / "x.db").close()
    assert caught[0].filename == __file__
    with pytest.warns(TpStoreWarning, match="network filesystem"):
        Both(tmp_path / "y.db", attach={"archive": tmp_path / "z.db"}).close()


def test_a_file_on_a_local_filesystem_does_not_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No warning for local filesystems, nor for immutable files nobody writes."""
    Main(tmp_path / "x.db").close()
    monkeypatch.setattr(_files, "filesystem_type", lambda path: "ext4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Main(tmp_path / "x.db").close()
        monkeypatch.setattr(_files, "filesystem_type", lambda path: "cifs")
        Main(tmp_path / "x.db", mode="immutable").close()


def test_mount_type_picks_the_longest_mount_point() -> None:
    """/proc/mounts parsing: longest prefix wins, octal escapes decoded, no false prefix."""
    mounts = (
        "/dev/vda / ext4 rw 0 0\n"
        "server:/export /mnt/data nfs4 rw 0 0\n"
        "//host/share /mnt/my\\040share cifs rw 0 0\n"
        "tmpfs /mnt/data/tmp tmpfs rw 0 0\n"
    )
    assert _files.mount_type("/home/user/x.db", mounts) == "ext4"
    assert _files.mount_type("/mnt/data/x.db", mounts) == "nfs4"
    assert _files.mount_type("/mnt/data", mounts) == "nfs4"
    assert _files.mount_type("/mnt/database/x.db", mounts) == "ext4"
    assert _files.mount_type("/mnt/my share/x.db", mounts) == "cifs"
    assert _files.mount_type("/mnt/data/tmp/x.db", mounts) == "tmpfs"
    assert _files.mount_type("/x", "") is None


def test_filesystem_type_of_this_machine_is_read() -> None:
    """On Linux the real /proc/mounts gives a type for the test folder."""
    if not os.path.exists("/proc/mounts"):
        pytest.skip("no /proc/mounts")
    assert _files.filesystem_type(os.getcwd())


# -- durability -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("durability", "wal", "synchronous"),
    [("full", True, 2), ("full", False, 2), ("normal", True, 1), ("normal", False, 2)],
)
def test_durability_sets_synchronous(
    tmp_path: Path, durability: str, wal: bool, synchronous: int
) -> None:
    """full → synchronous=FULL; normal → NORMAL with WAL, FULL with the rollback journal."""
    with Both(
        tmp_path / "m.db", attach={"archive": tmp_path / "a.db"}, wal=wal, durability=durability
    ) as store:
        store.m["a"] = 1
        raw = store._engine.driver.raw()
        assert raw.execute("PRAGMA main.synchronous").fetchone()[0] == synchronous
        assert raw.execute('PRAGMA "archive".synchronous').fetchone()[0] == synchronous
        assert raw.execute("PRAGMA fullfsync").fetchone()[0] == (synchronous == 2)


def test_durability_applies_to_every_thread_connection(tmp_path: Path) -> None:
    """A connection opened later by another thread gets the same pragmas."""
    import threading

    seen: list[Any] = []
    with Main(tmp_path / "m.db", durability="normal") as store:

        def work() -> None:
            raw = store._engine.driver.raw()
            seen.append(
                (
                    raw.execute("PRAGMA synchronous").fetchone()[0],
                    raw.execute("PRAGMA journal_mode").fetchone()[0],
                )
            )

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert seen == [(1, "wal")]


# -- namespaces -------------------------------------------------------------------------


def test_namespaces_share_a_file_independently(tmp_path: Path) -> None:
    """Two namespaces and the bare store are three independent sets of tables."""
    path = tmp_path / "shared.db"
    with Main(path, namespace="t1") as t1, Main(path, namespace="t2") as t2, Main(path) as bare:
        t1.m["a"] = 1
        t2.m["a"] = 2
        t2.m["b"] = 2
        assert (dict(t1.m), dict(t2.m), dict(bare.m)) == ({"a": 1}, {"a": 2, "b": 2}, {})
        t1.m.clear()
        assert len(t1.m) == 0
        assert len(t2.m) == 2
    assert {"t1.m", "t2.m", "m"} <= tables_of(path)


def test_namespaces_may_declare_the_same_table_differently(tmp_path: Path) -> None:
    """Tenants are independent: one namespace's declaration never conflicts with another's."""

    class Text(Store):
        m: Mapping[str, str]

    path = tmp_path / "shared.db"
    with Main(path, namespace="ints") as ints, Text(path, namespace="texts") as texts:
        ints.m["a"] = 1
        texts.m["a"] = "one"
    with pytest.raises(SchemaError):
        Text(path, namespace="ints")


HOSTILE = [
    'x"; DROP TABLE victim; --',
    "x'); DROP TABLE victim; --",
    "[victim]",
    "`victim`",
    "tab\tand\nnewline",
    " spaces ",
    "ünïcødé 名前 🗄️",
    "a" * 300,
    '"',
    "'",
]


def test_table_names_shaped_like_tpstore_index_names_are_refused() -> None:
    """A table named like another table's trigger ("{table}/count+") is refused up front."""
    with pytest.raises(SchemaError, match="cannot contain '/'"):

        class Shadow(Store):
            m: Mapping[str, int] = field(table="/count+")


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_namespace_and_table_names_cannot_inject_sql(tmp_path: Path, name: str) -> None:
    """Any valid name is quoted: the store works and no other table is touched."""
    path = tmp_path / "x.db"
    execute(path, "CREATE TABLE victim (x)")
    execute(path, "INSERT INTO victim VALUES (1)")

    class Hostile(Store):
        m: Mapping[str, int] = field(table=name)
        e: ExpiringMapping[str, int] = field(table=name + "-e", lifespan=60)

    with Hostile(path, namespace=name, attach={name: tmp_path / "a.db"}) as store:
        store.m[name] = 1
        store.e[name] = 2
        assert dict(store.m) == {name: 1}
        assert dict(store.e) == {name: 2}
        assert store.purge() == 0
    with Hostile(path, namespace=name, attach={name: tmp_path / "a.db"}) as store:
        assert len(store.m) == 1
    assert f"{name}.{name}" in tables_of(path)
    assert query(path, "SELECT x FROM victim") == [(1,)]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "sqlite_master",
        "SQLITE_temp",
        "sqlite_x",
        "_tpstore_catalog",
        "_tpstore_counts",
        "_tpstore_anything",
        "a\x00b",
        "\ud800",
        "a\udcffb",
        "a.b",
        42,
    ],
)
def test_invalid_namespace_names_are_schema_errors(tmp_path: Path, name: Any) -> None:
    """Reserved, empty, NUL-holding, unencodable and dotted namespaces are refused."""
    with pytest.raises(SchemaError):
        Main(tmp_path / "x.db", namespace=name)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "table",
    [
        "",
        "sqlite_master",
        "Sqlite_stat1",
        "_tpstore_catalog",
        "_tpstore_counts",
        "a\x00b",
        "\ud800",
    ],
)
def test_invalid_table_names_are_schema_errors_at_class_creation(table: str) -> None:
    """A reserved or invalid table name fails when the class is created, naming the field."""
    with pytest.raises(SchemaError, match=r"Bad\.m"):

        class Bad(Store):
            m: Mapping[str, int] = field(table=table)


# -- keys and values SQLite cannot store ------------------------------------------------


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\udcff" * 3])
def test_lone_surrogates_in_keys_and_values_are_validation_errors(
    location: str | None, bad: str
) -> None:
    """A lone surrogate is refused with ValidationError, and is a missing key on reads."""
    with Models(location) as store:
        for write in (
            lambda: store.items.__setitem__(bad, Item(name="x")),
            lambda: store.items.__setitem__("k", Item(name=bad)),
            lambda: store.items.__setitem__("k", {"name": bad}),
            lambda: store.tuples.__setitem__((bad, 1), "v"),
            lambda: store.tuples.__setitem__(("k", 1), bad),
            lambda: store.note.set(bad),
            lambda: store.items.update({bad: Item(name="x")}),
            lambda: store.tags.add(bad),
            lambda: store.tags.update(["fine", bad]),
            lambda: store.log.append(bad),
            lambda: store.log.extend(["fine", bad]),
            lambda: store.queue.appendleft(bad),
        ):
            with pytest.raises(ValidationError) as caught:
                write()
            assert not isinstance(caught.value, UnicodeEncodeError)
        assert bad not in store.items
        assert store.items.get(bad) is None
        assert (bad, 1) not in store.tuples
        with pytest.raises(KeyError):
            del store.items[bad]
        assert store.items.get_many([bad, "k"]) == {}
        assert len(store.items) == 0
        assert len(store.tuples) == 0
        assert not store.note.is_set
        assert bad not in store.tags
        assert (len(store.tags), len(store.log), len(store.queue)) == (0, 0, 0)
        with pytest.raises(KeyError):
            store.tags.remove(bad)


def test_a_path_that_is_not_utf8_opens_the_right_file(tmp_path: Path) -> None:
    """A file name holding undecodable bytes (a lone surrogate in Python) works."""
    path = str(tmp_path / "caf\udce9.db")  # the bytes b"caf\xe9.db"
    with Main(path) as store:
        store.m["a"] = 1
    assert os.path.exists(os.fsencode(path))
    with Main(path, mode="ro") as store:
        assert store.m["a"] == 1


def test_a_path_with_nul_is_a_value_error(tmp_path: Path) -> None:
    """Python paths cannot hold NUL: ValueError, as os.open raises."""
    with pytest.raises(ValueError, match="NUL"):
        Main(str(tmp_path / "a\x00b.db"))


# -- bad files --------------------------------------------------------------------------

_rng = random.Random(20260601)
BAD_CONTENTS = {
    "empty": b"",
    "one byte": b"\x00",
    "one letter": b"x",
    "text": b"hello, this is not a database\n" * 20,
    "header only": _files.SQLITE_HEADER,
    "header and zeros": _files.SQLITE_HEADER + bytes(84),
    "header and noise": _files.SQLITE_HEADER + bytes(_rng.randrange(256) for _ in range(5000)),
    "noise": bytes(_rng.randrange(256) for _ in range(4096)),
}


@needs_proc
@pytest.mark.parametrize("mode", ["rw", "ro", "immutable"])
@pytest.mark.parametrize("content", list(BAD_CONTENTS), ids=list(BAD_CONTENTS))
@pytest.mark.parametrize("role", ["main", "attached"])
def test_a_file_that_is_not_sqlite_is_refused_unchanged(
    tmp_path: Path, mode: str, content: str, role: str
) -> None:
    """TpStoreError; same bytes, no journal beside it, no file descriptor left open."""
    data = BAD_CONTENTS[content]
    bad = tmp_path / "bad.db"
    bad.write_bytes(data)
    good = tmp_path / "good.db"
    Both(good, attach={"archive": tmp_path / "good-archive.db"}).close()

    def open_it() -> Store:
        if role == "main":
            return Main(bad, mode=mode)
        return Both(good, attach={"archive": bad}, mode=mode)

    with pytest.raises(TpStoreError) as caught:
        open_it()
    assert type(caught.value) is TpStoreError
    assert bad.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("bad")) == ["bad.db"]
    assert fds_on(bad) == 0
    assert fds_on(good) == 0


def test_a_folder_is_not_a_store_file(tmp_path: Path) -> None:
    """A path naming a folder raises IsADirectoryError."""
    with pytest.raises(IsADirectoryError):
        Main(tmp_path)


@pytest.mark.parametrize("mode", ["rw", "ro", "immutable"])
def test_missing_parent_folder_raises_file_not_found_naming_it(tmp_path: Path, mode: str) -> None:
    """FileNotFoundError names the missing folder, for the main and attached files."""
    folder = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=str(folder)):
        Main(folder / "x.db", mode=mode)
    Main(tmp_path / "m.db").close()
    with pytest.raises(FileNotFoundError, match=str(folder)):
        Both(tmp_path / "m.db", attach={"archive": folder / "a.db"}, mode=mode)
    assert not folder.exists()


@pytest.mark.parametrize("mode", ["ro", "immutable"])
def test_read_only_modes_on_a_missing_file_raise_file_not_found(tmp_path: Path, mode: str) -> None:
    """ro and immutable never create a file."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Main(tmp_path / "missing.db", mode=mode)
    assert list(tmp_path.iterdir()) == []


def test_new_files_are_complete_databases_even_when_the_open_fails(tmp_path: Path) -> None:
    """A new file is never left empty: a failed open leaves a valid, reopenable file."""

    class Text(Store):
        m: Mapping[str, str]

    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    Text(archive).close()  # holds `m` with other codecs than Both.am declares
    with pytest.raises(SchemaError, match=r"Both\.am"):
        Both(main, attach={"archive": archive})
    assert main.read_bytes()[:16] == _files.SQLITE_HEADER
    Both(main, attach={"archive": tmp_path / "other.db"}).close()

    class Nothing(Store):
        pass

    Nothing(tmp_path / "nothing.db").close()
    Nothing(tmp_path / "nothing.db", mode="ro").close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@needs_proc
def test_a_lock_held_past_the_timeout_is_a_busy_error(tmp_path: Path) -> None:
    """Opening and writing while another connection holds the lock: BusyError, no leak."""
    path = tmp_path / "x.db"
    Main(path, wal=False).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BusyError, match="timeout"):
            Main(path, wal=False, timeout=0.1)
        holder.execute("COMMIT")
        # (SQLite closes a file of a failed connection only once no connection of the
        # process holds a lock on it, so it is counted after the holder's commit.)
        assert fds_on(path) == 1  # only the holder's
        with Main(path, wal=False, timeout=0.1) as store:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(BusyError):
                store.m["a"] = 1
            with pytest.raises(BusyError), store.transaction():
                pass
            holder.execute("COMMIT")
            store.m["a"] = 1
    finally:
        holder.close()


def test_a_write_lock_does_not_block_wal_readers(tmp_path: Path) -> None:
    """With WAL, a reader sees the last commit while another connection writes."""
    path = tmp_path / "x.db"
    with Main(path, timeout=0.1) as store:
        store.m["a"] = 1
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute('UPDATE "m" SET value = 5')
        assert store.m["a"] == 1
        with pytest.raises(BusyError):
            store.m["b"] = 2
        holder.execute("ROLLBACK")
        holder.close()


@needs_proc
def test_a_failed_open_leaves_no_connection_behind(tmp_path: Path) -> None:
    """After SchemaError, BusyError or a bad attachment, no descriptor stays open."""
    path = tmp_path / "x.db"

    class Text(Store):
        m: Mapping[str, str]

    Main(path).close()
    with pytest.raises(SchemaError):
        Text(path)
    with pytest.raises(SchemaError):
        Both(path)
    (tmp_path / "bad.db").write_bytes(b"nope")
    with pytest.raises(TpStoreError):
        Both(path, attach={"archive": tmp_path / "bad.db"})
    assert fds_on(path) == 0
    # and no lock either: an exclusive lock is free at once
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("COMMIT")
    conn.close()


def test_writes_after_sqlite_rolled_the_transaction_back_are_refused(tmp_path: Path) -> None:
    """When SQLite aborts the whole transaction, later writes in the block raise.

    A trigger with RAISE(ROLLBACK) makes SQLite roll back by itself, as it may after a
    full disk; a write after it would otherwise run outside the transaction and stay.
    """
    path = tmp_path / "x.db"
    Main(path).close()
    execute(
        path,
        "CREATE TRIGGER boom BEFORE INSERT ON m WHEN NEW.key = 'boom' "
        "BEGIN SELECT RAISE(ROLLBACK, 'boom refused'); END",
    )
    with Main(path) as store:

        def body() -> None:
            with store.transaction():
                store.m["a"] = 1
                with pytest.raises(TpStoreError, match="boom refused"):
                    store.m["boom"] = 1
                with pytest.raises(TpStoreError, match="rolled this transaction back"):
                    store.m["b"] = 2

        with pytest.raises(TpStoreError):
            body()
        assert dict(store.m) == {}

        def nested() -> None:
            with store.transaction():
                store.m["a"] = 1
                with store.transaction():
                    store.m["boom"] = 1

        # The savepoint is gone with the transaction: its error is the one that surfaces.
        with pytest.raises(TpStoreError, match="boom refused"):
            nested()
        assert dict(store.m) == {}
        store.m["c"] = 3
        assert dict(store.m) == {"c": 3}


# -- modes ------------------------------------------------------------------------------


def test_read_only_store_reads_and_refuses_every_write(tmp_path: Path) -> None:
    """mode='ro': reads work, writes and writing transactions raise ReadOnlyError."""
    path = tmp_path / "x.db"

    class Full(Store):
        m: Mapping[str, int]
        e: ExpiringMapping[str, int] = field(lifespan=60)
        v: Value[int] = field(default=0)

    with Full(path) as store:
        store.m["a"] = 1
    with Full(path, mode="ro") as store:
        assert dict(store.m) == {"a": 1}
        assert store.v.get() == 0
        with store.transaction(readonly=True):
            assert store.m["a"] == 1
        writes = [
            lambda: store.m.__setitem__("b", 2),
            lambda: store.m.__delitem__("a"),
            lambda: store.m.pop("a"),
            lambda: store.m.update({"c": 3}),
            lambda: store.m.setdefault("d", 4),
            lambda: store.m.increment("a"),
            store.m.clear,
            lambda: store.e.set("x", 1),
            lambda: store.v.set(5),
            store.purge,
            store.vacuum,
            store.optimize,
            store.checkpoint,
            lambda: store.transaction().__enter__(),
        ]
        for write in writes:
            with pytest.raises(ReadOnlyError):
                write()
        assert dict(store.m) == {"a": 1}


@pytest.mark.parametrize("wal", [True, False])
def test_read_only_store_sees_another_writers_commits(tmp_path: Path, wal: bool) -> None:
    """An open ro store sees what a writer commits afterwards, in both journal modes."""
    path = tmp_path / "x.db"
    with Main(path, wal=wal) as writer:
        writer.m["a"] = 1
        with Main(path, mode="ro") as reader:
            assert dict(reader.m) == {"a": 1}
            writer.m["b"] = 2
            assert dict(reader.m) == {"a": 1, "b": 2}
            if wal:  # a snapshot that writers do not wait for
                with reader.transaction(readonly=True):
                    writer.m["c"] = 3
                    assert "c" not in reader.m
            else:  # with the rollback journal, a writer waits for the snapshot to end
                with (
                    Main(path, wal=False, timeout=0.1) as hasty,
                    reader.transaction(readonly=True),
                    pytest.raises(BusyError),
                ):
                    hasty.m["c"] = 3
                writer.m["c"] = 3
            assert reader.m["c"] == 3


@pytest.mark.parametrize("mode", ["ro", "immutable"])
def test_read_only_modes_leave_the_file_byte_for_byte_unchanged(tmp_path: Path, mode: str) -> None:
    """Opening, reading and closing in ro/immutable mode writes nothing."""
    path = tmp_path / "x.db"
    with Main(path, wal=False) as store:
        store.m["a"] = 1
    before = path.read_bytes()
    with Main(path, mode=mode) as store:
        assert dict(store.m) == {"a": 1}
        with store.transaction(readonly=True):
            assert len(store.m) == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]


@pytest.mark.parametrize("mode", ["ro", "immutable"])
def test_read_only_modes_refuse_a_collection_the_attached_file_lacks(
    tmp_path: Path, mode: str
) -> None:
    """A declared collection missing from the file is a SchemaError saying what to do."""
    path, archive = tmp_path / "x.db", tmp_path / "a.db"
    Main(path).close()
    Main(archive, namespace="other").close()
    with pytest.raises(SchemaError, match=r"Both\.am.*'archive'.*mode='rw'"):
        Both(path, attach={"archive": archive}, mode=mode)


def test_read_only_modes_refuse_a_collection_the_file_lacks_in_main(tmp_path: Path) -> None:
    """The same for a main-file collection: the message names the fix."""

    class Wider(Store):
        m: Mapping[str, int]
        extra: Mapping[str, int]

    path = tmp_path / "x.db"
    Main(path).close()
    for mode in ("ro", "immutable"):
        with pytest.raises(SchemaError, match=r"Wider\.extra.*open the file once"):
            Wider(path, mode=mode)
    with Wider(path) as store:
        store.extra["a"] = 1
    with Wider(path, mode="ro") as store:
        assert store.extra["a"] == 1


def test_immutable_store_refuses_a_file_with_unmerged_wal(tmp_path: Path) -> None:
    """immutable ignores the WAL, so a file whose WAL holds commits is refused."""
    path = tmp_path / "x.db"
    with Main(path) as writer:
        writer.m["a"] = 1
        with pytest.raises(TpStoreError, match="WAL"):
            Main(path, mode="immutable")
    with Main(path, mode="immutable") as store:  # the writer's close merged the WAL
        assert store.m["a"] == 1
        with pytest.raises(ReadOnlyError):
            store.m["b"] = 2


# -- maintenance ------------------------------------------------------------------------


@pytest.mark.parametrize("wal", [True, False])
def test_vacuum_shrinks_the_files_after_deletes(tmp_path: Path, wal: bool) -> None:
    """Deleting most items then vacuum() gives the space back, in every file."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Both(main, attach={"archive": archive}, wal=wal) as store:
        store.m.update({f"{i:0200}": i for i in range(3000)})
        store.am.update({f"{i:0200}": i for i in range(3000)})
        store.checkpoint()
        full = (main.stat().st_size, archive.stat().st_size)
        store.m.clear()
        store.am.clear()
        store.checkpoint()
        assert (main.stat().st_size, archive.stat().st_size) == full  # freed, not returned
        store.vacuum()
        small = (main.stat().st_size, archive.stat().st_size)
        assert small[0] < full[0] / 4
        assert small[1] < full[1] / 4
        store.m["again"] = 1
        assert dict(store.m) == {"again": 1}


def test_vacuum_and_checkpoint_refuse_to_run_inside_a_transaction(tmp_path: Path) -> None:
    """Both need the connection outside any transaction: TpStoreError says so."""
    with Main(tmp_path / "x.db") as store, store.transaction():
        for call in (
            store.vacuum,
            store.checkpoint,
            store.optimize,
            lambda: store.backup(tmp_path / "b.db"),
        ):
            with pytest.raises(TpStoreError, match="inside a transaction"):
                call()


def test_checkpoint_empties_the_wal(tmp_path: Path) -> None:
    """After writes the WAL holds pages; checkpoint() moves them and truncates it."""
    path = tmp_path / "x.db"
    wal = tmp_path / "x.db-wal"
    with Main(path) as store:
        store.m.update({f"k{i}": i for i in range(500)})
        assert wal.stat().st_size > 0
        store.checkpoint()
        assert wal.stat().st_size == 0
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        assert conn.execute('SELECT count(*) FROM "m"').fetchone()[0] == 500
        conn.close()


def test_checkpoint_without_wal_is_a_no_op(tmp_path: Path) -> None:
    """With the rollback journal there is no WAL: checkpoint() changes nothing."""
    with Main(tmp_path / "x.db", wal=False) as store:
        store.m["a"] = 1
        store.checkpoint()
        assert store.m["a"] == 1
    with Main(None) as store:
        store.checkpoint()


def test_optimize_runs(location: str | None) -> None:
    """optimize() succeeds on a store with data and leaves it intact."""
    with Main(location) as store:
        store.m.update({f"k{i}": i for i in range(100)})
        store.optimize()
        assert len(store.m) == 100


def test_purge_counts_expired_items_of_every_expiring_collection(tmp_path: Path) -> None:
    """Store.purge() drops expired items everywhere and returns how many."""
    now = [1000.0]

    class Cache(Store):
        a: ExpiringMapping[str, int] = field(lifespan=10)
        b: ExpiringMapping[str, int] = field(lifespan=100, database="archive")
        plain: Mapping[str, int]

    with Cache(
        tmp_path / "c.db", attach={"archive": tmp_path / "a.db"}, clock=lambda: now[0]
    ) as store:
        store.a.update({"x": 1, "y": 2})
        store.b.update({"x": 1})
        store.plain["x"] = 1
        now[0] += 50
        assert store.purge() == 2
        now[0] += 100
        assert store.purge() == 1
        assert store.purge() == 0
        assert dict(store.plain) == {"x": 1}


@pytest.mark.parametrize("wal", [True, False])
def test_backup_is_a_store_of_its_own(tmp_path: Path, wal: bool) -> None:
    """backup() of main and of an attachment gives files that open as stores."""
    main, archive = tmp_path / "main.db", tmp_path / "archive.db"
    with Both(main, attach={"archive": archive}, wal=wal) as store:
        store.m.update({"a": 1, "b": 2})
        store.am["z"] = 26
        store.backup(tmp_path / "main-copy.db")
        store.backup(tmp_path / "archive-copy.db", database="archive")
        store.m["after"] = 3
        store.backup(tmp_path / "main-copy.db")  # replaces the earlier copy
    with Main(tmp_path / "main-copy.db") as copy:
        assert dict(copy.m) == {"a": 1, "b": 2, "after": 3}
    with Main(tmp_path / "archive-copy.db") as copy:
        assert dict(copy.m) == {"z": 26}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_backup_of_an_in_memory_store_writes_a_file(tmp_path: Path) -> None:
    """An in-memory store can be saved to a file with backup()."""
    with Main(None) as store:
        store.m["a"] = 1
        store.backup(tmp_path / "saved.db")
    with Main(tmp_path / "saved.db", mode="ro") as saved:
        assert saved.m["a"] == 1


def test_backup_refuses_bad_destinations(tmp_path: Path) -> None:
    """Own file, unknown database, missing folder, a non-database file: refused."""
    path = tmp_path / "x.db"
    (tmp_path / "notes.txt").write_bytes(b"my notes")
    with Both(path, attach={"archive": tmp_path / "a.db"}) as store:
        with pytest.raises(ValueError, match="own"):
            store.backup(path)
        with pytest.raises(ValueError, match="own"):
            store.backup(tmp_path / "a.db")
        with pytest.raises(ValueError, match="no database named 'nope'"):
            store.backup(tmp_path / "b.db", database="nope")
        with pytest.raises(FileNotFoundError, match="missing"):
            store.backup(tmp_path / "missing" / "b.db")
        with pytest.raises(TpStoreError, match="not an SQLite database"):
            store.backup(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_bytes() == b"my notes"


# -- pickling (multiprocessing with spawn) ----------------------------------------------


def test_a_store_pickles_as_the_recipe_to_reopen_it(tmp_path: Path) -> None:
    """pickle gives an independent store on the same files with the same options."""
    with Both(
        tmp_path / "m.db", attach={"archive": tmp_path / "a.db"}, namespace="ns", timeout=1.5
    ) as store:
        store.am["a"] = 1
        with pickle.loads(pickle.dumps(store)) as twin:
            assert type(twin) is Both
            assert twin is not store
            assert twin.am["a"] == 1
            assert twin._namespace == "ns"
            assert twin._engine.timeout == 1.5
            twin.m["b"] = 2
        assert store.m["b"] == 2


def test_in_memory_and_closed_stores_do_not_pickle(tmp_path: Path) -> None:
    """An in-memory store has nothing to reopen; a closed one is closed."""
    with Main(None) as store, pytest.raises(TypeError, match="in-memory"):
        pickle.dumps(store)
    store = Main(tmp_path / "x.db")
    store.close()
    with pytest.raises(ClosedError):
        pickle.dumps(store)


# -- SQLite features and fallbacks ------------------------------------------------------


def test_forced_fallbacks_switch_every_feature_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """TPSTORE_SQLITE_FALLBACKS=1 turns STRICT, RETURNING and unixepoch off."""
    monkeypatch.setenv("TPSTORE_SQLITE_FALLBACKS", "1")
    assert Features.detect() == Features(strict=False, returning=False)
    monkeypatch.setenv("TPSTORE_SQLITE_FALLBACKS", "0")
    detected = Features.detect()
    version = sqlite3.sqlite_version_info
    assert detected.strict == (version >= (3, 37, 0))
    assert detected.returning == (version >= (3, 35, 0))


def test_an_sqlite_older_than_3_34_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a store on SQLite 3.33 raises TpStoreError naming both versions."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 33, 0))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.33.0")
    with pytest.raises(TpStoreError, match=r"3\.34\.0 or newer.*3\.33\.0"):
        Main(tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("fallbacks", ["0", "1"])
def test_tables_are_strict_only_when_the_feature_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallbacks: str
) -> None:
    """STRICT appears in the table's SQL exactly when detected, and both forms work."""
    monkeypatch.setenv("TPSTORE_SQLITE_FALLBACKS", fallbacks)
    path = tmp_path / "x.db"
    with Models(path) as store:
        store.items["a"] = Item(name="A", size=1)
        store.tuples[("a", 1)] = "x"
        strict = store._engine.features.strict
    ((sql,),) = query(path, "SELECT sql FROM sqlite_master WHERE name = 'items'")
    assert ("STRICT" in sql) == strict
    monkeypatch.setenv("TPSTORE_SQLITE_FALLBACKS", "1" if fallbacks == "0" else "0")
    with Models(path) as store:  # a file made either way opens the other way
        assert store.items["a"] == Item(name="A", size=1)
        store.items["b"] = Item(name="B")


def test_every_public_name_added_here_is_exported() -> None:
    """The warning class is part of the public API."""
    assert tpstore.TpStoreWarning is tpstore.errors.TpStoreWarning
    assert issubclass(tpstore.TpStoreWarning, UserWarning)
    assert not issubclass(tpstore.TpStoreWarning, TpStoreError)
    assert "TpStoreWarning" in tpstore.__all__
