"""The pickle codec: any picklable Python object, as a pickle in a BLOB. Opt-in only.

!!! danger "Only for files you trust"
    Loading a pickle runs code chosen by whoever wrote it: a store file holding
    pickled values that came from an untrusted source (downloaded, uploaded, shared
    with a less trusted process) can run arbitrary code the moment a value is read.
    This is why tpstore never picks this codec by itself: it is used only where you
    ask for it with `field(codec="pickle")` (or `codec=pickle`, the stdlib module) or
    `register(type_, "pickle")`. Prefer
    the `json` or `cattrs` codec whenever the type allows it; their data is inert.

| Python value | stored as | affinity |
|---|---|---|
| any picklable object | `pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)` | BLOB |
| an object that cannot be pickled (lambda, open file, lock) | refused (`TypeError`) | |

Capabilities (`tpstore.codecs.Codec`): `exact = True`, `executes_code = True`.

Everything picklable round-trips exactly: ints of any size, `NaN`, `-0.0`, strings
with lone surrogates, class instances (by reference to their class).

The highest pickle protocol of the running Python is used (5 on Python 3.8 and
later), so a file written by a newer Python may not load on an older one. The
pickle records classes by import path: renaming or moving a class makes its stored
values unreadable (`CorruptValueError`).
"""

from __future__ import annotations

import pickle
from typing import Any

from tpstore.codecs._types import Raw

__all__ = ["affinity", "decode", "encode", "exact", "executes_code", "name", "order_preserving"]

name = "pickle"
affinity = "BLOB"
order_preserving = False
exact = True
"""Every picklable value comes back as itself, same types: tpstore never reads a write
back to check it (which would run the pickle's code)."""
executes_code = True
"""Unpickling runs code chosen by the writer: the CLI never decodes these values
without `--unsafe-pickle`."""

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def encode(value: Any) -> Raw:
    """Pickle `value` with the highest protocol.

    Raises:
        TypeError: the value cannot be pickled.
    """
    try:
        return pickle.dumps(value, protocol=_PROTOCOL)
    except Exception as exc:
        # Unpicklable objects raise PicklingError, TypeError or AttributeError depending
        # on the object; tpstore expects a codec to refuse a value with TypeError.
        message = f"the pickle codec cannot store this {type(value).__name__}: {exc}"
        raise TypeError(message) from exc


def decode(raw: Raw) -> Any:
    """Unpickle a stored BLOB.

    Only call this on data you trust: unpickling runs code chosen by its writer.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        found = "NULL" if raw is None else type(raw).__name__
        raise ValueError(f"expected a pickle BLOB, found {found}")
    return pickle.loads(raw)
