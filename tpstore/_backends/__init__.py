"""Backends: one package per kind of database, each a dialect and a driver (DESIGN.md §10).

`open_driver` picks the backend from the store's location: a URL whose scheme a backend
registers (`postgresql://...`), otherwise a file path (or `None`, in memory) for SQLite.
What a backend provides is written down in `tpstore._backends.base`.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from tpstore._backends.base import Driver

BACKENDS: Final = {
    "sqlite": "tpstore._backends.sqlite",
    "postgresql": "tpstore._backends.postgresql",
}
"""Backend name -> the package holding it (imported on first use)."""

SCHEMES: Final = {"postgresql": "postgresql", "postgres": "postgresql"}
"""URL scheme -> backend name. Any other location is an SQLite file."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def backend_name(location: str | None) -> str:
    """The name of the backend that opens `location`."""
    if location is None:
        return "sqlite"
    match = _URL.match(location)
    if match is None:
        return "sqlite"
    return SCHEMES.get(match.group(1).lower(), "sqlite")


def open_driver(
    location: str | None,
    *,
    attach: dict[str, str],
    mode: str,
    wal: bool | None,
    durability: str,
    timeout: float,
) -> Driver:
    """Check the store's options and open the driver of the backend `location` selects.

    Raises:
        ValueError: an option has a value no backend accepts.
        ImportError: the backend `location` selects is not available.
    """
    if mode not in ("rw", "ro", "immutable"):
        raise ValueError(f"mode must be 'rw', 'ro' or 'immutable', not {mode!r}")
    if durability not in ("full", "normal"):
        raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
    if not isinstance(timeout, int | float) or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
    if wal not in (None, True, False):
        raise ValueError(f"wal must be None, True or False, not {wal!r}")
    name = backend_name(location)
    try:
        backend = importlib.import_module(BACKENDS[name])
    except ModuleNotFoundError as exc:
        if exc.name is None or not BACKENDS[name].startswith(exc.name):
            raise
        raise ImportError(
            f"opening {location.split('://', 1)[0] if location else location}:// locations "
            f"needs tpstore's {name} backend (the tpstore[{name}] extra), which this "
            "installation of tpstore does not have"
        ) from exc
    driver: Driver = backend.connect(
        location, attach=attach, mode=mode, wal=wal, durability=durability, timeout=timeout
    )
    return driver


def is_server(location: str | None) -> bool:
    """Whether `location` names a database server (a URL) rather than an SQLite file."""
    return backend_name(location) != "sqlite"


def shown(location: str | None) -> str:
    """`location` as tpstore shows it: a URL's password (in the authority or the query)
    replaced by `***`; a file path as it is."""
    if location is None:
        return ":memory:"
    if not is_server(location):
        return location
    try:
        parts = urlsplit(location)
    except ValueError:
        return location.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        if ":" in credentials:
            netloc = f"{credentials.split(':', 1)[0]}:***@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        query = urlencode(
            [(key, "***" if key == "password" else value) for key, value in pairs], safe="/*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
