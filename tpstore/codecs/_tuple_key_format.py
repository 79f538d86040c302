"""The byte format of the tuple_key codec: `encode`, `decode` and their parts.

`tpstore.codecs.tuple_key` documents the format (its module docstring is the
reference) and re-exports `encode` and `decode`; `for_type` and `TupleKeyCodec`
there add the declared-type checks on top. Nothing here knows of declared types.
"""

from __future__ import annotations

import datetime as _dt
import math
import typing
import uuid
from collections.abc import Callable
from typing import Any

from tpstore.codecs._types import Raw

try:  # pydantic's fixed-offset tzinfo, which it gives to datetimes parsed from text
    from pydantic_core import TzInfo as _PydanticTzInfo
except ImportError:  # pragma: no cover - pydantic_core always provides it today
    _PydanticTzInfo = _dt.timezone  # type: ignore[assignment,misc]

__all__ = ["decode", "encode"]

# -- tags ---------------------------------------------------------------------------
# Changing any of these changes the file format: they are written into every key.

_END = 0x00  # end of a tuple; lowest, so a prefix sorts first
_NONE = 0x01
_NEG_INF = 0x02
_NEG_BIG = 0x03  # negative integer of more than _MAX_SHORT bytes
_ZERO = 0x14  # integer 0; _ZERO - n / _ZERO + n: negative / positive integer of n bytes
_POS_BIG = 0x25
_POS_INF = 0x26
_BYTES = 0x30
_STR = 0x31
_DATE = 0x40
_DATETIME = 0x41  # naive
_DATETIME_TZ = 0x42  # aware
_UUID = 0x48
_TUPLE = 0x50
# Follows an integer to make it the floor of a non-integral float. It must be higher
# than every tag and than _END, so that `n` followed by anything sorts before `n + 0.5`.
# It never follows a string's terminating 00 (only tags, _END or a suffix record do),
# which is what lets the string decoder tell an escaped 00 FF from a terminator.
_FRACTION = 0xFF

_MAX_SHORT = 16  # integers up to 16 bytes (128 bits) get a tag of their own
_MASKS = tuple((1 << (8 * n)) - 1 for n in range(_MAX_SHORT + 1))
_INVERT = bytes(255 - i for i in range(256))

# Variant suffix records (see the module docstring).
_V_INT = 0
_V_BOOL = 1
_V_FLOAT = 2

_EPOCH = _dt.datetime(1, 1, 1)  # naive on purpose: the epoch of naive datetimes
_EPOCH_UTC = _dt.datetime(1, 1, 1, tzinfo=_dt.UTC)
_MAX_MICROS = (_dt.datetime.max - _EPOCH) // _dt.timedelta(microseconds=1)
_UTC = _dt.UTC
_ONE_US = _dt.timedelta(microseconds=1)

_Buffer = bytearray
_Flags = list[bool]


# -- encoding -----------------------------------------------------------------------


def encode(value: Any) -> bytes:
    """Encode a key (any supported value, usually a tuple) to order-preserving bytes.

    Args:
        value: `None`, `bool`, `int`, `float`, `str`, `bytes`, `date`, `datetime`,
            `UUID`, or a tuple of these (nested to any depth).

    Returns:
        The encoded key; `memcmp` order of the results is Python's order of the values.

    Raises:
        TypeError: the value (or an element) is of an unsupported type.
        ValueError: the value cannot be stored faithfully (NaN, a lone surrogate, a
            datetime with a non-fixed-offset zone).
    """
    buf = bytearray()
    flags: _Flags = []
    _encode_into(value, buf, flags)
    if flags:  # some element differs from a Python-equal value: say how, at the end
        _variants_into(value, buf)
    return bytes(buf)


def _encode_into(value: Any, buf: _Buffer, flags: _Flags) -> None:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        _unsupported(value)
    encoder(value, buf, flags)


def _unsupported(value: Any) -> typing.NoReturn:
    kind = type(value)
    raise TypeError(
        f"the tuple_key codec cannot store a {kind.__module__}.{kind.__qualname__}: it "
        "stores None, bool, int, float, str, bytes, date, datetime, UUID and tuples of "
        "these (exact types, not subclasses)"
    )


def _encode_tuple(value: tuple[Any, ...], buf: _Buffer, flags: _Flags) -> None:
    buf.append(_TUPLE)
    encoders = _ENCODERS
    for item in value:
        kind = type(item)
        # The two commonest key elements are inlined: this loop is on every key read.
        # The str branch is `_encode_str` written out on purpose: calling it instead
        # makes encoding a (str, int, str) key about 7% slower, a key of strs 15%.
        if kind is int:
            if 0 < item < 256:
                buf.append(0x15)
                buf.append(item)
            else:
                _encode_int(item, buf)
        elif kind is str:
            try:
                data = item.encode()
            except UnicodeEncodeError as exc:
                raise _surrogate_error(item, exc) from exc
            buf.append(_STR)
            buf += data.replace(b"\x00", b"\x00\xff")
            buf.append(0)
        else:
            encoder = encoders.get(kind)
            if encoder is None:
                _unsupported(item)
            encoder(item, buf, flags)
    buf.append(_END)


def _encode_int(value: int, buf: _Buffer, flags: _Flags | None = None) -> None:
    if value > 0:
        size = (value.bit_length() + 7) >> 3
        if size <= _MAX_SHORT:
            buf.append(_ZERO + size)
            buf += value.to_bytes(size, "big")
        else:
            buf.append(_POS_BIG)
            buf += _big_magnitude(value, size)
    elif value == 0:
        buf.append(_ZERO)
    else:
        size = ((-value).bit_length() + 7) >> 3
        if size <= _MAX_SHORT:
            buf.append(_ZERO - size)
            buf += (value + _MASKS[size]).to_bytes(size, "big")
        else:
            buf.append(_NEG_BIG)
            buf += _big_magnitude(-value, size).translate(_INVERT)


def _big_magnitude(magnitude: int, size: int) -> bytes:
    # length-of-length, length, magnitude: each compares as the number grows.
    size_size = (size.bit_length() + 7) >> 3
    return bytes((size_size,)) + size.to_bytes(size_size, "big") + magnitude.to_bytes(size, "big")


def _encode_bool(value: bool, buf: _Buffer, flags: _Flags) -> None:
    buf.append(0x15 if value else _ZERO)
    if value:
        buf.append(1)
    flags.append(True)


def _encode_float(value: float, buf: _Buffer, flags: _Flags) -> None:
    if value.is_integer():  # finite and integral, -0.0 included (int(-0.0) == 0)
        _encode_int(int(value), buf)
        flags.append(True)
    elif math.isnan(value):
        raise ValueError("NaN cannot be stored in a key: it is not equal to itself")
    elif value == math.inf:
        buf.append(_POS_INF)
    elif value == -math.inf:
        buf.append(_NEG_INF)
    else:
        buf += _fractional_float(value)


def _fractional_float(value: float) -> bytes:
    """The encoding of a finite, non-integral float (shared with its decoder's check)."""
    whole = int(value)  # towards zero
    fraction = value - whole  # exact: a float minus its truncation is representable
    buf = bytearray()
    if fraction > 0:
        _encode_int(whole, buf)
        buf.append(_FRACTION)
        buf += _fraction_bytes(fraction)
    else:
        # value = (whole - 1) + (1 - |fraction|): store the floor, and the fraction's
        # bytes inverted so that a larger |fraction| (a more negative value) sorts first.
        _encode_int(whole - 1, buf)
        buf.append(_FRACTION)
        buf += _fraction_bytes(-fraction).translate(_INVERT)
    return bytes(buf)


def _fraction_bytes(fraction: float) -> bytes:
    # fraction = m * 2**-zeros with m in [0.5, 1): more leading zeros means smaller, so
    # store 0xFFFF - zeros, then m's (at most 53) significant bits in 56 bits.
    mantissa, exponent = math.frexp(fraction)
    return ((0xFFFF + exponent) << 56 | int(math.ldexp(mantissa, 56))).to_bytes(9, "big")


def _encode_str(value: str, buf: _Buffer, flags: _Flags) -> None:
    # Written out again inside `_encode_tuple`'s loop: change both together.
    try:
        data = value.encode()
    except UnicodeEncodeError as exc:
        raise _surrogate_error(value, exc) from exc
    buf.append(_STR)
    buf += data.replace(b"\x00", b"\x00\xff")
    buf.append(0)


def _surrogate_error(value: str, exc: UnicodeEncodeError) -> ValueError:
    return ValueError(
        f"the string {value[:40]!r} holds a lone surrogate at index {exc.start}, which has "
        "no UTF-8 form and cannot be stored in a key"
    )


def _encode_bytes(value: bytes, buf: _Buffer, flags: _Flags) -> None:
    buf.append(_BYTES)
    buf += value.replace(b"\x00", b"\x00\xff")
    buf.append(0)


def _encode_none(value: None, buf: _Buffer, flags: _Flags) -> None:
    buf.append(_NONE)


def _encode_date(value: _dt.date, buf: _Buffer, flags: _Flags) -> None:
    buf.append(_DATE)
    buf += value.toordinal().to_bytes(3, "big")


def _encode_datetime(value: _dt.datetime, buf: _Buffer, flags: _Flags) -> None:
    tz = value.tzinfo
    if tz is None:
        buf.append(_DATETIME)
        buf += ((value - _EPOCH) // _ONE_US).to_bytes(8, "big")
        if value.fold:
            flags.append(True)
        return
    offset = _fixed_offset(value)
    micros = (value.replace(tzinfo=None) - _EPOCH - offset) // _ONE_US
    if not 0 <= micros <= _MAX_MICROS:
        raise ValueError(
            f"{value.isoformat()} cannot be stored in a key: its UTC time is outside the "
            "range of datetime"
        )
    buf.append(_DATETIME_TZ)
    buf += micros.to_bytes(8, "big")
    if offset or value.fold:
        flags.append(True)


def _fixed_offset(value: _dt.datetime) -> _dt.timedelta:
    tz = value.tzinfo
    kind = type(tz)
    if kind is not _dt.timezone and kind is not _PydanticTzInfo:
        raise ValueError(
            f"{value!r} cannot be stored in a key: its tzinfo {tz!r} is a time zone with "
            "rules, and only its current UTC offset could be kept; convert it first with "
            "dt.astimezone(datetime.timezone(dt.utcoffset()))"
        )
    offset = value.utcoffset()
    assert offset is not None  # a fixed-offset tzinfo always has one
    return offset


def _encode_uuid(value: uuid.UUID, buf: _Buffer, flags: _Flags) -> None:
    buf.append(_UUID)
    buf += value.bytes


_Encoder = Callable[[Any, _Buffer, _Flags], None]
_ENCODERS: dict[type, _Encoder] = {
    tuple: _encode_tuple,
    int: _encode_int,
    str: _encode_str,
    bytes: _encode_bytes,
    float: _encode_float,
    bool: _encode_bool,
    type(None): _encode_none,
    _dt.date: _encode_date,
    _dt.datetime: _encode_datetime,
    uuid.UUID: _encode_uuid,
}


def _variants_into(value: Any, buf: _Buffer) -> None:
    """Append one variant record per int-like number and datetime, depth first."""
    kind = type(value)
    if kind is tuple:
        for item in value:
            _variants_into(item, buf)
    elif kind is int:
        buf.append(_V_INT)
    elif kind is bool:
        buf.append(_V_BOOL)
    elif kind is float:
        if value.is_integer():
            buf.append(_V_FLOAT)
    elif kind is _dt.datetime:
        buf.append(value.fold)
        if value.tzinfo is not None:
            buf += (value.utcoffset() // _ONE_US).to_bytes(8, "big", signed=True)


# -- decoding -----------------------------------------------------------------------


def decode(raw: Raw | bytearray | memoryview) -> Any:
    """Decode bytes written by `encode` back to the same value, types included.

    Args:
        raw: the stored BLOB (`bytes`; `bytearray` and `memoryview` are accepted).

    Returns:
        The key: tuples as tuples, `bool` as `bool`, `int` as `int`, each datetime
        with its offset.

    Raises:
        ValueError: `raw` is not an encoding this codec produces (not bytes, empty,
            truncated, an unknown tag, a non-canonical form, or trailing bytes).
    """
    data = raw if type(raw) is bytes else _as_bytes(raw)
    try:
        value, pos = _decode_item(data, 0)
        if pos != len(data):
            value = _apply_variants(value, data, pos)
    except ValueError as exc:
        raise ValueError(f"malformed tuple_key bytes {_show(data)}: {exc}") from exc
    except (IndexError, OverflowError) as exc:
        message = f"malformed tuple_key bytes {_show(data)}: truncated or out of range"
        raise ValueError(message) from exc
    return value


def _as_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    raise ValueError(f"a tuple_key value must be a BLOB, not {type(raw).__name__} {raw!r:.60}")


def _show(data: bytes) -> str:
    return data[:48].hex(" ") + (" ..." if len(data) > 48 else "")


def _decode_item(raw: bytes, pos: int) -> tuple[Any, int]:
    return _DECODERS[raw[pos]](raw, pos)


def _decode_tuple(raw: bytes, pos: int) -> tuple[Any, int]:
    items: list[Any] = []
    append = items.append
    decoders = _DECODERS
    pos += 1
    while True:
        tag = raw[pos]
        if tag == _END:
            return tuple(items), pos + 1
        # Inlined fast paths for the commonest elements: a short str, a small int.
        if tag == _STR:
            end = raw.find(0, pos + 1)
            if end < 0 or (end + 1 < len(raw) and raw[end + 1] == 0xFF):
                value, pos = _decode_str(raw, pos)
                append(value)
                continue
            append(raw[pos + 1 : end].decode())
            pos = end + 1
        elif tag == 0x15 and raw[pos + 1] and (pos + 2 == len(raw) or raw[pos + 2] != _FRACTION):
            append(raw[pos + 1])
            pos += 2
        else:
            value, pos = decoders[tag](raw, pos)
            append(value)


def _decode_int(raw: bytes, pos: int) -> tuple[Any, int]:
    tag = raw[pos]
    start = pos + 1
    if tag > _ZERO:
        size = tag - _ZERO
        end = start + size
        if end > len(raw) or raw[start] == 0:
            raise ValueError("bad positive integer")
        value = int.from_bytes(raw[start:end], "big")
    elif tag < _ZERO:
        size = _ZERO - tag
        end = start + size
        if end > len(raw) or raw[start] == 0xFF:
            raise ValueError("bad negative integer")
        value = int.from_bytes(raw[start:end], "big") - _MASKS[size]
    else:
        value, end = 0, start
    if end < len(raw) and raw[end] == _FRACTION:
        return _decode_fraction(raw, pos, value, end)
    return value, end


def _decode_big_int(raw: bytes, pos: int) -> tuple[Any, int]:
    negative = raw[pos] == _NEG_BIG
    size_size = raw[pos + 1] ^ (0xFF if negative else 0)
    head = raw[pos + 2 : pos + 2 + size_size]
    if negative:
        head = head.translate(_INVERT)
    size = int.from_bytes(head, "big")
    start = pos + 2 + size_size
    end = start + size
    if not size_size or len(head) != size_size or head[0] == 0 or size <= _MAX_SHORT:
        raise ValueError("bad integer length")
    if end > len(raw):
        raise ValueError("truncated integer")
    magnitude = raw[start:end]
    if negative:
        magnitude = magnitude.translate(_INVERT)
    if magnitude[0] == 0:
        raise ValueError("bad integer")
    value = int.from_bytes(magnitude, "big")
    if negative:
        value = -value
    if end < len(raw) and raw[end] == _FRACTION:
        return _decode_fraction(raw, pos, value, end)
    return value, end


def _decode_fraction(raw: bytes, pos: int, floor: int, marker: int) -> tuple[Any, int]:
    end = marker + 10
    if end > len(raw):
        raise ValueError("truncated float")
    bits = raw[marker + 1 : end]
    if floor < 0:
        bits = bits.translate(_INVERT)
    packed = int.from_bytes(bits, "big")
    fraction = math.ldexp(packed & ((1 << 56) - 1), (packed >> 56) - 0xFFFF - 56)
    value = float(floor) + fraction if floor >= 0 else float(floor + 1) - fraction
    # Rebuilding the bytes from the float rejects every non-canonical or inexact form.
    if value.is_integer() or not math.isfinite(value) or _fractional_float(value) != raw[pos:end]:
        raise ValueError("bad float")
    return value, end


def _decode_str(raw: bytes, pos: int) -> tuple[Any, int]:
    start = pos + 1
    data, end = _unescape(raw, start)
    return data.decode(), end  # strict UTF-8: surrogates and bad bytes raise


def _decode_bytes(raw: bytes, pos: int) -> tuple[Any, int]:
    return _unescape(raw, pos + 1)


def _unescape(raw: bytes, start: int) -> tuple[bytes, int]:
    search = start
    escaped = False
    while True:
        zero = raw.find(0, search)
        if zero < 0:
            raise ValueError("unterminated string")
        if zero + 1 < len(raw) and raw[zero + 1] == 0xFF:  # an escaped 00 in the value
            escaped = True
            search = zero + 2
            continue
        data = raw[start:zero]
        return (data.replace(b"\x00\xff", b"\x00") if escaped else data), zero + 1


def _decode_none(raw: bytes, pos: int) -> tuple[Any, int]:
    return None, pos + 1


def _decode_neg_inf(raw: bytes, pos: int) -> tuple[Any, int]:
    return -math.inf, pos + 1


def _decode_pos_inf(raw: bytes, pos: int) -> tuple[Any, int]:
    return math.inf, pos + 1


def _fixed(raw: bytes, pos: int, size: int) -> bytes:
    data = raw[pos + 1 : pos + 1 + size]
    if len(data) != size:
        raise ValueError("truncated value")
    return data


def _decode_date(raw: bytes, pos: int) -> tuple[Any, int]:
    return _dt.date.fromordinal(int.from_bytes(_fixed(raw, pos, 3), "big")), pos + 4


def _decode_datetime(raw: bytes, pos: int) -> tuple[Any, int]:
    micros = int.from_bytes(_fixed(raw, pos, 8), "big")
    return _EPOCH + _dt.timedelta(microseconds=micros), pos + 9


def _decode_datetime_tz(raw: bytes, pos: int) -> tuple[Any, int]:
    micros = int.from_bytes(_fixed(raw, pos, 8), "big")
    return _EPOCH_UTC + _dt.timedelta(microseconds=micros), pos + 9


def _decode_uuid(raw: bytes, pos: int) -> tuple[Any, int]:
    return uuid.UUID(bytes=_fixed(raw, pos, 16)), pos + 17


def _bad_tag(raw: bytes, pos: int) -> tuple[Any, int]:
    raise ValueError(f"unknown tag {raw[pos]:02x} at offset {pos}")


_Decoder = Callable[[bytes, int], tuple[Any, int]]
_DECODERS: list[_Decoder] = [_bad_tag] * 256
_DECODERS[_NONE] = _decode_none
_DECODERS[_NEG_INF] = _decode_neg_inf
_DECODERS[_POS_INF] = _decode_pos_inf
_DECODERS[_NEG_BIG] = _decode_big_int
_DECODERS[_POS_BIG] = _decode_big_int
for _tag in range(_ZERO - _MAX_SHORT, _ZERO + _MAX_SHORT + 1):
    _DECODERS[_tag] = _decode_int
_DECODERS[_BYTES] = _decode_bytes
_DECODERS[_STR] = _decode_str
_DECODERS[_DATE] = _decode_date
_DECODERS[_DATETIME] = _decode_datetime
_DECODERS[_DATETIME_TZ] = _decode_datetime_tz
_DECODERS[_UUID] = _decode_uuid
_DECODERS[_TUPLE] = _decode_tuple


class _Records:
    """A cursor over the variant suffix."""

    def __init__(self, raw: bytes, pos: int) -> None:
        self.raw = raw
        self.pos = pos
        self.changed = False

    def byte(self) -> int:
        value = self.raw[self.pos]
        self.pos += 1
        return value

    def apply(self, value: Any) -> Any:
        kind = type(value)
        if kind is tuple:
            return tuple([self.apply(item) for item in value])
        if kind is int:
            return self._number(value)
        if kind is _dt.datetime:
            return self._datetime(value)
        return value

    def _number(self, value: int) -> Any:
        code = self.byte()
        if code == _V_INT:
            return value
        self.changed = True
        if code == _V_BOOL and value in (0, 1):
            return bool(value)
        if code == _V_FLOAT and float(value) == value:
            return float(value)
        raise ValueError(f"bad number variant {code:02x} for {value}")

    def _datetime(self, value: _dt.datetime) -> _dt.datetime:
        fold = self.byte()
        if fold not in (0, 1):
            raise ValueError("bad datetime fold")
        if value.tzinfo is not None:
            offset_bytes = self.raw[self.pos : self.pos + 8]
            if len(offset_bytes) != 8:
                raise ValueError("truncated datetime offset")
            self.pos += 8
            micros = int.from_bytes(offset_bytes, "big", signed=True)
            if micros:
                self.changed = True
                value = value.astimezone(_dt.timezone(_dt.timedelta(microseconds=micros)))
        if fold:
            self.changed = True
            value = value.replace(fold=1)
        return value


def _apply_variants(value: Any, raw: bytes, pos: int) -> Any:
    records = _Records(raw, pos)
    value = records.apply(value)
    if records.pos != len(raw):
        raise ValueError(f"trailing bytes at offset {records.pos}")
    if not records.changed:
        raise ValueError("a variant suffix that changes nothing")
    return value
