"""The files of a store on disk: checks before SQLite opens them, atomic creation, and
detection of network filesystems.

Everything here runs before SQLite touches a file, so that a path that cannot be a store
(a missing folder, a file that is not a database) is refused with the file left exactly
as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import sys
import warnings
from collections.abc import Iterable
from types import FrameType
from typing import Final
from urllib.parse import quote as url_quote

from tpstore.errors import TpStoreError, TpStoreWarning

SQLITE_HEADER: Final = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

NETWORK_FILESYSTEMS: Final = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ncpfs",
        "coda",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "ocfs2",
        "gfs2",
        "beegfs",
        "orangefs",
        "pvfs2",
        "davfs",
        "vboxsf",
        "vmhgfs",
        "prl_fs",
        "fuse.sshfs",
        "sshfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.ceph-fuse",
        "fuse.davfs2",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.vmhgfs-fuse",
        "fuse.juicefs",
        "fuse.lizardfs",
        "fuse.moosefs",
        "fuse.mfs",
    }
)
"""Filesystem types (as `/proc/mounts` names them) whose locking SQLite cannot trust,
and on which WAL's shared memory does not work across machines."""

_URI_QUERY: Final = {"rw": "mode=rwc", "ro": "mode=ro", "immutable": "immutable=1"}


def uri(path: str, mode: str) -> str:
    """The SQLite URI opening `path` in one of the store modes.

    The path is percent-encoded from its filesystem bytes, so names that are not valid
    UTF-8 (held by Python as lone surrogates) open the right file.
    """
    absolute = os.fsencode(os.path.abspath(path))
    return f"file:{url_quote(absolute)}?{_URI_QUERY[mode]}"


def check(path: str, mode: str) -> bool:
    """Refuse, before SQLite touches it, a path that cannot be a store file.

    Returns:
        Whether the file exists (only `"rw"` may go on with a missing file).

    Raises:
        ValueError: the path holds a NUL character.
        FileNotFoundError: the parent folder is missing, or the file is missing and
            `mode` is `"ro"` or `"immutable"`.
        IsADirectoryError: the path is a folder.
        TpStoreError: the file exists but is not an SQLite database (including 0- and
            1-byte files); it is left unchanged.
    """
    if "\x00" in path:
        raise ValueError(f"the path {path!r} holds a NUL character")
    absolute = os.path.abspath(path)
    parent = os.path.dirname(absolute)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"the folder {parent} does not exist (needed for {path})")
    if not os.path.exists(absolute):
        if mode != "rw":
            raise FileNotFoundError(f"{path} does not exist (mode={mode!r} cannot create it)")
        return False
    if os.path.isdir(absolute):
        raise IsADirectoryError(f"{path} is a folder, not a store file")
    try:
        with open(absolute, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise TpStoreError(f"cannot read {path}: {exc}") from exc
    # SQLite takes a 0-byte file for an empty database and writes to it; refuse it like
    # any other file that is not a database, leaving it untouched. (tpstore never leaves
    # a 0-byte file behind: see `create`.)
    if header != SQLITE_HEADER:
        raise TpStoreError(f"{path} is not an SQLite database; it was left unchanged")
    return True


def create(path: str, statements: Iterable[str]) -> None:
    """Create a new database file at `path` holding `statements`' tables, atomically.

    The database is built under a temporary name in the same folder and then linked to
    `path`, so another process never sees a half-made (0-byte) file, and two processes
    creating the same store at once both end up opening the one that was linked first.
    Does nothing when `path` appeared meanwhile.
    """
    absolute = os.path.abspath(path)
    folder, name = os.path.split(absolute)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tpstore")
    try:
        try:
            connection = sqlite3.connect(temporary, isolation_level=None)
            try:
                for statement in statements:
                    connection.execute(statement)
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise TpStoreError(f"cannot create {path}: {exc}") from exc
        try:
            os.link(temporary, absolute)
        except FileExistsError:
            return
        except OSError:  # a filesystem without hard links: copy, never replacing a file
            _copy_exclusive(temporary, absolute)
        sync_folder(folder)
    finally:
        for leftover in (temporary, temporary + "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _copy_exclusive(source: str, target: str) -> None:
    with open(source, "rb") as file:
        data = file.read()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, os.stat(source).st_mode)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def sync_folder(folder: str) -> None:
    """Make the new file's name durable (a power loss must not make it vanish)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - folders cannot be opened on some systems
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def same_files(paths: Iterable[str]) -> str | None:
    """The first path that names the same file as an earlier one, else `None`."""
    seen: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            return path
        seen.add(real)
    return None


def filesystem_type(path: str) -> str | None:
    """The type of the filesystem holding `path` (`"ext4"`, `"nfs4"`...), if known.

    Read from `/proc/mounts` (Linux); `None` where there is no such file.
    """
    try:
        with open("/proc/mounts", encoding="utf-8", errors="surrogateescape") as file:
            mounts = file.read()
    except OSError:
        return None
    return mount_type(os.path.realpath(path), mounts)


def mount_type(path: str, mounts: str) -> str | None:
    """The filesystem type of the longest mount point in `mounts` holding `path`.

    Args:
        path: an absolute path without symbolic links.
        mounts: the text of `/proc/mounts` (device, mount point, type, ... per line;
            spaces and other characters in mount points written as octal escapes).
    """
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = _unescape(parts[1])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), parts[2])
    return best[1] if best else None


def _unescape(field: str) -> str:
    r"""Undo /proc/mounts' octal escapes (`\040` is a space)."""
    if "\\" not in field:
        return field
    out = bytearray()
    i = 0
    raw = os.fsencode(field)
    while i < len(raw):
        if raw[i : i + 1] == b"\\" and len(raw) >= i + 4 and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def warn_if_network(path: str, *, wal: bool) -> None:
    """Warn (`TpStoreWarning`) when `path` is on a network filesystem.

    Looks up the filesystem through this module's `filesystem_type`, so tests can
    replace that function.
    """
    kind = filesystem_type(os.path.dirname(os.path.abspath(path)))
    if kind is None or kind.lower() not in NETWORK_FILESYSTEMS:
        return
    journal = (
        "WAL needs shared memory that only works between processes of one machine, and "
        if wal
        else ""
    )
    warnings.warn(
        f"{path} is on a network filesystem ({kind}): {journal}SQLite's file locks are "
        "unreliable there, so use from several machines, or from several processes, can "
        "corrupt the file. Keep store files on a local disk.",
        TpStoreWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The `stacklevel` that makes a warning point at the first frame outside tpstore."""
    # tpstore/_backends/sqlite/files.py -> tpstore/
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return level
