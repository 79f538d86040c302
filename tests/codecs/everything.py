"""The shared "everything" model of the store-level codec tests, and its strategies.

`Everything` (pydantic) and `EverythingAttrs` (attrs, for the cattrs codec) have a
field of every kind the codecs document; `everything_fields` draws the field values
once, so each codec is tried on the same data.
"""

import datetime
import decimal
import enum
import uuid
from typing import Any, Literal, Optional

import attrs
import pydantic
from hypothesis import strategies as st

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Colour(enum.Enum):
    """A str-valued enum."""

    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    """An int enum."""

    LOW = 1
    HIGH = 2


class Inner(pydantic.BaseModel):
    """A nested model."""

    label: str
    weight: float


class Everything(pydantic.BaseModel):
    """One pydantic model with a field of every kind the codecs document."""

    number: int
    real: float
    text: str
    data: bytes
    flag: bool
    maybe: Optional[int]  # noqa: UP045 - the Optional spelling is part of what is tested
    items: list[Inner]
    tags: set[str]
    pair: tuple[int, str]
    by_id: dict[int, str]
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    span: datetime.timedelta
    ident: uuid.UUID
    amount: decimal.Decimal
    colour: Colour
    level: Level
    choice: Literal["a", "b"]


@attrs.frozen
class InnerAttrs:
    """A nested attrs class."""

    label: str
    weight: float


@attrs.define
class EverythingAttrs:
    """The attrs twin of `Everything` (the cattrs codec cannot store timedelta)."""

    number: int
    real: float
    text: str
    data: bytes
    flag: bool
    maybe: Optional[int]  # noqa: UP045
    items: list[InnerAttrs]
    tags: set[str]
    pair: tuple[int, str]
    by_id: dict[int, str]
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    ident: uuid.UUID
    amount: decimal.Decimal
    colour: Colour
    level: Level
    choice: str


finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(INT64_MIN, INT64_MAX)
# Text SQLite and UTF-8 can carry: everything but lone surrogates, NUL included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
# Whole-minute offsets: what every codec keeps (JSON refuses offsets with seconds,
# test_json_refuses_offsets_with_seconds).
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)
datetimes = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=st.none() | offsets,
)

everything_fields: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "number": int64,
        "real": finite,
        "text": text,
        # Bytes that are UTF-8: pydantic's JSON writes bytes as text (non-UTF-8 bytes
        # are refused, test_json_refuses_bytes_that_are_not_utf8).
        "data": text.map(str.encode),
        "flag": st.booleans(),
        "maybe": st.none() | int64,
        "items": st.lists(st.fixed_dictionaries({"label": text, "weight": finite}), max_size=3),
        "tags": st.sets(text, max_size=3),
        "pair": st.tuples(int64, text),
        "by_id": st.dictionaries(int64, text, max_size=3),
        "when": datetimes,
        "day": st.dates(),
        "at": st.times(timezones=st.none() | offsets),
        "span": st.timedeltas(),
        "ident": st.uuids(),
        "amount": st.decimals(allow_nan=False, allow_infinity=False),
        "colour": st.sampled_from(Colour),
        "level": st.sampled_from(Level),
        "choice": st.sampled_from(["a", "b"]),
    }
)


def make_model(fields: dict[str, Any]) -> Everything:
    """The pydantic `Everything` of drawn fields."""
    return Everything(**fields)


def make_attrs(fields: dict[str, Any]) -> EverythingAttrs:
    """The attrs `EverythingAttrs` of drawn fields."""
    values = {k: v for k, v in fields.items() if k != "span"}
    values["items"] = [InnerAttrs(**item) for item in fields["items"]]
    return EverythingAttrs(**values)


def exact(value: Any) -> Any:
    """A comparable form of a value that also tells UTC offsets and float signs apart."""
    if isinstance(value, pydantic.BaseModel):
        return (type(value).__name__, exact(dict(value)))
    if attrs.has(type(value)):
        return (type(value).__name__, exact(attrs.asdict(value, recurse=False)))
    if isinstance(value, dict):
        return {exact(k): exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [exact(v) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(map(repr, value)))
    if isinstance(value, datetime.datetime | datetime.time):
        return (type(value).__name__, value.isoformat())
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, decimal.Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)
