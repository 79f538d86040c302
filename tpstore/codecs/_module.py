"""A codec made from any `dumps`/`loads` (or file-style `dump`/`load`) pair.

`tpstore.codecs.from_module(obj)` builds one, and so does passing such a module
straight to `field(codec=...)`: `marshal`, the stdlib `json`, a bson module, or any
object with those methods. (The stdlib `pickle` module passed to `field(codec=...)`
means the built-in `"pickle"` codec instead; `from_module(pickle)` still adapts it
as `"module:pickle"`.) The codec is exactly as faithful as the module: `marshal`
keeps every type it knows; the stdlib `json` turns tuples into lists, which
validation turns back into the declared type. Where the declared type holds `Any`,
tpstore reads each written value back and refuses one that would change.

| Python value | stored as | affinity |
|---|---|---|
| what the module serializes, `dumps` returning `bytes` | the bytes | BLOB |
| what the module serializes, `dumps` returning `str` | the text | TEXT |
| the same, `binary=True` and `dumps` returning `str` | the text as UTF-8 | BLOB |
| the same, `binary=False` and `dumps` returning `bytes` | the bytes as UTF-8 text | TEXT |
| `inf`, `NaN` with the stdlib `json` module | refused (`ValueError`) | |

`marshal`, `pickle` and bson modules return `bytes`; the stdlib `json` returns `str`.
With `binary=False`, bytes that are not valid UTF-8 are refused with `ValueError`. The
stdlib `json` module is called with `allow_nan=False`, because it would otherwise
write `Infinity` and `NaN`, which are not JSON (SQLite's JSON functions reject them).

**How the affinity is chosen.** `binary=True` gives BLOB and `binary=False` TEXT.
With `binary=None` (the default) the stdlib `json` module is TEXT; for anything else
`dumps` (or `dump` into an in-memory file) is called once, when the codec is made, on
each of the probe values `0`, `{}`, `[]`, `""` in turn until one succeeds: `str`
means TEXT, `bytes` BLOB. If no probe succeeds the affinity cannot be known and
`SchemaError` asks for `binary=`. The same probe tells the codec whether `loads` wants
text or bytes; when an explicit `binary=` disagrees with it, values are converted
through UTF-8 on the way in and out.

The codec's `name`, recorded in the file's catalog, is `"module:"` followed by the
module's name (`"module:marshal"`, `"module:json"`); for an object that is not a
module, by its class's import path. It is not order-preserving.

Capabilities (`tpstore.codecs.Codec`): a module writing the pickle format (`pickle`,
`dill`, `cloudpickle`...) gives `exact = True` and `executes_code = True`, as the
built-in `"pickle"` codec does; any other module neither.
"""

from __future__ import annotations

import io
import json as _stdlib_json
import types
from typing import Any, Literal

from tpstore.codecs._types import Raw
from tpstore.errors import SchemaError

__all__ = ["PICKLE_FORMAT", "ModuleCodec"]

PICKLE_FORMAT = frozenset({"pickle", "_pickle", "cPickle", "dill", "cloudpickle"})
"""Top-level names of modules writing the pickle format: loading their output runs code
chosen by its writer, and gives every picklable value back exactly."""

_Kind = Literal["text", "bytes"]

# Probe values, simplest first: most serializers take `0`; some only take mappings
# (bson) or containers (TOML writers take only tables).
_PROBES: tuple[Any, ...] = (0, {}, [], "")


class ModuleCodec:
    """A codec calling an object's `dumps`/`loads`, or its `dump`/`load` with a file.

    Args:
        obj: a module or object with callable `dumps` and `loads`, or `dump` and
            `load` taking a file object (`dumps`/`loads` are preferred when it has
            both).
        binary: `True` for BLOB, `False` for TEXT, `None` to decide by what `dumps`
            returns (see the module documentation).

    Raises:
        SchemaError: `obj` has neither pair, or `binary` is `None` and no probe value
            could be serialized.

    Attributes:
        module: the adapted module or object.
        name: `"module:<name>"`, recorded in the file's catalog.
        affinity: `"BLOB"` or `"TEXT"`.
        exact: values come back as themselves (pickle-format modules).
        executes_code: loading runs code (pickle-format modules).

    Example:
        ```python
        import marshal
        from tpstore.codecs import from_module
        codec = from_module(marshal)
        assert (codec.name, codec.affinity) == ("module:marshal", "BLOB")
        assert codec.decode(codec.encode({"a": [1, 2.5]})) == {"a": [1, 2.5]}
        ```
    """

    order_preserving = False

    def __init__(self, obj: Any, *, binary: bool | None = None) -> None:
        self.module = obj
        module_name = _module_name(obj)
        self.name = f"module:{module_name}"
        self.executes_code = module_name.partition(".")[0] in PICKLE_FORMAT
        self.exact = self.executes_code
        self._is_stdlib_json = obj is _stdlib_json
        self._file_style = not (_callable(obj, "dumps") and _callable(obj, "loads"))
        if self._file_style and not (_callable(obj, "dump") and _callable(obj, "load")):
            raise SchemaError(
                f"{obj!r} cannot be used as a codec: it has neither dumps()/loads() "
                "nor dump()/load()."
            )
        if self._is_stdlib_json:
            kind: _Kind | None = "text"
        else:
            kind = self._probe()
        if binary is None:
            if kind is None:
                raise SchemaError(
                    f"cannot tell whether {module_name} writes text or bytes: its "
                    f"dumps() failed on every probe value {_PROBES!r}. Pass binary=True "
                    "(BLOB) or binary=False (TEXT) to from_module()."
                )
            binary = kind == "bytes"
        self.affinity = "BLOB" if binary else "TEXT"
        # What the module itself produces and reads back; when the probe failed, assume
        # it matches the affinity that was asked for.
        self._kind: _Kind = kind if kind is not None else ("bytes" if binary else "text")

    def encode(self, value: Any) -> Raw:
        """Serialize `value` with the module.

        Raises:
            ValueError: the stdlib `json` module was given inf or NaN, or bytes that are
                not UTF-8 were to be stored as TEXT.
            TypeError: the module returned neither `str` nor `bytes`.
            Exception: whatever the module raises for a value it cannot serialize.
        """
        if self._is_stdlib_json:
            try:
                out: Any = _stdlib_json.dumps(value, allow_nan=False)
            except ValueError as exc:
                raise ValueError(
                    f"the stdlib json module cannot store this value faithfully: {exc} "
                    "(inf and NaN have no JSON form)."
                ) from exc
        elif self._file_style:
            buffer = io.BytesIO() if self._kind == "bytes" else io.StringIO()
            self.module.dump(value, buffer)
            out = buffer.getvalue()
        else:
            out = self.module.dumps(value)
        if isinstance(out, bytearray | memoryview):
            out = bytes(out)
        if self.affinity == "TEXT":
            if isinstance(out, bytes):
                try:
                    return out.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ValueError(
                        f"{self.name} produced bytes that are not UTF-8 text; store them "
                        "as BLOB with from_module(..., binary=True)."
                    ) from exc
            if isinstance(out, str):
                return out
        else:
            if isinstance(out, str):
                return out.encode("utf-8")
            if isinstance(out, bytes):
                return out
        raise TypeError(
            f"{self.name}: dumps() returned a {type(out).__name__}; a codec needs str or bytes"
        )

    def decode(self, raw: Raw) -> Any:
        """Deserialize a stored value with the module."""
        data: str | bytes
        if isinstance(raw, str):
            data = raw if self._kind == "text" else raw.encode("utf-8")
        elif isinstance(raw, bytes | bytearray | memoryview):
            data = bytes(raw) if self._kind == "bytes" else bytes(raw).decode("utf-8")
        else:
            found = "NULL" if raw is None else type(raw).__name__
            raise ValueError(f"{self.name} expected text or bytes, found {found}")
        if self._file_style:
            buffer = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
            return self.module.load(buffer)
        return self.module.loads(data)

    def _probe(self) -> _Kind | None:
        """What the module writes, `"text"` or `"bytes"`; `None` if no probe worked."""
        for probe in _PROBES:
            if self._file_style:
                for make_buffer in (io.BytesIO, io.StringIO):
                    buffer: Any = make_buffer()
                    try:
                        self.module.dump(probe, buffer)
                    except Exception:  # a failed probe is an answer: try the next one
                        continue
                    return "bytes" if isinstance(buffer, io.BytesIO) else "text"
                continue
            try:
                out = self.module.dumps(probe)
            except Exception:
                continue
            if isinstance(out, str):
                return "text"
            if isinstance(out, bytes | bytearray | memoryview):
                return "bytes"
        return None

    def __repr__(self) -> str:
        return f"<codec {self.name} ({self.affinity})>"


def _callable(obj: Any, attr: str) -> bool:
    return callable(getattr(obj, attr, None))


def _module_name(obj: Any) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
