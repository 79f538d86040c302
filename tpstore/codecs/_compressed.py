"""A codec wrapper that compresses another codec's output with zlib.

`tpstore.codecs.compressed(codec, level=6)` builds one around anything
`field(codec=...)` accepts. What is stored depends on the inner codec's affinity:

| inner codec's affinity | inner output | stored as | affinity |
|---|---|---|---|
| TEXT (`json`, `cattrs`, stdlib `json` module...) | `str` | zlib stream of its UTF-8 bytes | BLOB |
| BLOB (`pickle`, `msgpack`, `marshal`...) | `bytes` | zlib stream of the bytes | BLOB |
| ANY (the untyped `native` codec) | `str` | `b"t"` + zlib stream of its UTF-8 bytes | BLOB |
| ANY | `bytes` | `b"b"` + zlib stream of the bytes | BLOB |
| ANY | `int` | `b"i"` + its decimal digits (not compressed) | BLOB |
| ANY | `float` | `b"f"` + `float.hex()` (exact, not compressed) | BLOB |
| any | `None` (SQL NULL, e.g. `Optional` in native) | SQL NULL | BLOB |

So the data of a TEXT or BLOB inner codec is a plain zlib stream that any zlib tool
inflates; an ANY inner codec needs the one-byte tag to tell text from bytes on the
way back. INTEGER and REAL inner codecs are refused with `SchemaError`: there is
nothing to gain by compressing an 8-byte number.

The codec's name is `"compressed(<inner name>)"`, for example `"compressed(json)"`;
the compression level is not part of it, since any level reads back the same way.
The codec is never order-preserving. It is type-aware: `for_type(tp)` specialises the
inner codec (`resolve(inner, tp)`), so `compressed("json")` on a `User` field uses
pydantic's serializer for `User`. It has the inner codec's optional capabilities
(`exact`, `executes_code`), and when the (specialised) inner codec offers
`decode_validate`, the compressed codec does too.
"""

from __future__ import annotations

import zlib
from typing import Any

from tpstore.codecs import Codec, resolve
from tpstore.codecs._types import Raw
from tpstore.errors import SchemaError

__all__ = ["CompressedCodec", "FusedCompressedCodec"]

_TEXT, _BYTES, _INT, _FLOAT = b"t", b"b", b"i", b"f"


class CompressedCodec:
    """Compresses the output of an inner codec with zlib; BLOB affinity.

    Args:
        codec: anything `tpstore.codecs.resolve` accepts: a `Codec`, a codec name, or
            a module with `dumps`/`loads`.
        level: the zlib compression level, from 0 (none) to 9 (smallest), or -1 for
            zlib's default.

    Raises:
        SchemaError: the inner codec stores INTEGER or REAL values, or is no codec.
        ValueError: `level` is out of range.

    Attributes:
        inner: the resolved inner codec.
        level: the compression level.

    Constructing one around an inner codec with a `decode_validate` method gives a
    `FusedCompressedCodec`, which has it too.

    Example:
        ```python
        from tpstore.codecs import compressed
        codec = compressed("json")
        assert codec.name == "compressed(json)"
        assert codec.decode(codec.encode(["spam"] * 1000)) == ["spam"] * 1000
        ```
    """

    affinity = "BLOB"
    order_preserving = False
    inner: Codec

    def __new__(cls, codec: Any, *, level: int = 6) -> CompressedCodec:
        inner = resolve(codec)
        chosen = FusedCompressedCodec if cls is CompressedCodec and _has_fused(inner) else cls
        self = super().__new__(chosen)
        # Resolved here, not in __init__, because it decides the class; resolving twice
        # would build (and probe) a module codec twice.
        self.inner = inner
        return self

    def __init__(self, codec: Any, *, level: int = 6) -> None:
        if not -1 <= level <= 9:
            raise ValueError(f"the zlib compression level must be -1 or 0-9, not {level}")
        inner_affinity = self.inner.affinity
        if inner_affinity in ("INTEGER", "REAL"):
            raise SchemaError(
                f"compressed({self.inner.name}) would compress {inner_affinity} values, "
                "which gains nothing: use the codec without compressed()."
            )
        self.level = level
        self.name = f"compressed({self.inner.name})"
        # Compression changes neither what comes back nor whether decoding runs code.
        self.exact: bool = bool(getattr(self.inner, "exact", False))
        self.executes_code: bool = bool(getattr(self.inner, "executes_code", False))
        self._tagged = inner_affinity not in ("TEXT", "BLOB")

    def for_type(self, tp: Any) -> CompressedCodec:
        """This codec with its inner codec specialised to the declared type `tp`.

        Returns `self` when the inner codec is not type-aware.
        """
        inner = resolve(self.inner, tp)
        if inner is self.inner:
            return self
        return CompressedCodec(inner, level=self.level)

    def encode(self, value: Any) -> Raw:
        """Encode `value` with the inner codec and compress the result."""
        return self._compress(self.inner.encode(value))

    def decode(self, raw: Raw) -> Any:
        """Inflate a stored BLOB and decode it with the inner codec."""
        return self.inner.decode(self._inflate(raw))

    def _compress(self, out: Raw) -> bytes | None:
        if out is None:
            return None
        if not self._tagged:
            if isinstance(out, str) and self.inner.affinity == "TEXT":
                return zlib.compress(out.encode("utf-8"), self.level)
            if isinstance(out, bytes) and self.inner.affinity == "BLOB":
                return zlib.compress(out, self.level)
            raise TypeError(
                f"{self.inner.name} (affinity {self.inner.affinity}) returned a "
                f"{type(out).__name__}, which compressed() cannot store"
            )
        # bool is an int; the inner codec decides what it reads back as.
        if isinstance(out, str):
            return _TEXT + zlib.compress(out.encode("utf-8"), self.level)
        if isinstance(out, bytes):
            return _BYTES + zlib.compress(out, self.level)
        if isinstance(out, int):
            return _INT + str(int(out)).encode("ascii")
        if isinstance(out, float):
            return _FLOAT + out.hex().encode("ascii")
        raise TypeError(f"{self.inner.name} returned a {type(out).__name__}: not an SQLite value")

    def _inflate(self, raw: Raw) -> Raw:
        if raw is None:
            return None
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise ValueError(f"{self.name} expected a BLOB, found {type(raw).__name__}")
        data = bytes(raw)
        if not self._tagged:
            inflated = zlib.decompress(data)
            return inflated.decode("utf-8") if self.inner.affinity == "TEXT" else inflated
        tag, body = data[:1], data[1:]
        if tag == _TEXT:
            return zlib.decompress(body).decode("utf-8")
        if tag == _BYTES:
            return zlib.decompress(body)
        if tag == _INT:
            return int(body.decode("ascii"))
        if tag == _FLOAT:
            return float.fromhex(body.decode("ascii"))
        raise ValueError(f"{self.name}: unknown type tag {tag!r} in the stored value")

    def __repr__(self) -> str:
        return f"<codec {self.name} (level {self.level})>"


class FusedCompressedCodec(CompressedCodec):
    """A `CompressedCodec` around an inner codec with a `decode_validate` method.

    tpstore's validation layer prefers `decode_validate` on reads when a codec has it;
    this one inflates and delegates to the inner codec's.
    """

    def decode_validate(self, raw: Raw) -> Any:
        """Inflate a stored BLOB, then parse it into the declared type (inner codec)."""
        fused: Any = self.inner
        return fused.decode_validate(self._inflate(raw))


def _has_fused(codec: Any) -> bool:
    return callable(getattr(codec, "decode_validate", None))
