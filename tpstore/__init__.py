"""tpstore: typed, transactional, persistent collections in one SQLite file.

Declare a `Store` whose annotated fields are collections; each becomes a table,
validated by pydantic on every write and read, stored through a pluggable codec.
"""

from tpstore import codecs, errors
from tpstore._deque import Deque
from tpstore._fields import MISSING, field
from tpstore._mapping import ExpiringMapping, ExpiringOrderedMapping, Mapping, OrderedMapping
from tpstore._sequence import Sequence
from tpstore._set import ExpiringOrderedSet, ExpiringSet, OrderedSet, Set
from tpstore._store import Store
from tpstore._value import Value
from tpstore._version import __version__
from tpstore.errors import (
    BusyError,
    ClosedError,
    CorruptValueError,
    ReadOnlyError,
    SchemaError,
    TpStoreError,
    TpStoreWarning,
    ValidationError,
)

__all__ = [
    "MISSING",
    "BusyError",
    "ClosedError",
    "CorruptValueError",
    "Deque",
    "ExpiringMapping",
    "ExpiringOrderedMapping",
    "ExpiringOrderedSet",
    "ExpiringSet",
    "Mapping",
    "OrderedMapping",
    "OrderedSet",
    "ReadOnlyError",
    "SchemaError",
    "Sequence",
    "Set",
    "Store",
    "TpStoreError",
    "TpStoreWarning",
    "ValidationError",
    "Value",
    "__version__",
    "codecs",
    "errors",
    "field",
]
