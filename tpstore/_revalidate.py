"""What validation must do beyond one pydantic call, compiled once per declared type.

pydantic returns a model or dataclass instance unchecked when it is already one
(`revalidate_instances="never"`), at any depth, so a mutation that broke a field's
type would be stored and then be unreadable. `compile_refresh` compiles a declared
type's core schema into a function that replaces every instance the schema places in
a value (a `User` in `list[User]`, in `Optional[User]`, in a union, in another model
or a dataclass) by the data of its fields, so that the one validation of the value
that follows rebuilds it, validated. Types that can hold no instance compile to `None`
and cost nothing.

`Shape` finds, from the same schema, what a codec that does not keep types exactly
(JSON, msgpack...) could give back as another type: parts under `Any`, dict keys JSON
cannot carry, unions. `same` compares a value with what was read back.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydantic
import pydantic_core

__all__ = ["Refused", "Shape", "compile_refresh", "same"]

Refresh = Callable[[Any], Any]
Matches = Callable[[Any], bool]


class Refused(Exception):  # noqa: N818 - internal signal, turned into ValidationError
    """An instance inside a value failed re-validation.

    Attributes:
        errors: pydantic's error list, locations from the top of the value.
        cause: pydantic's own error, for the instance that failed.
    """

    def __init__(self, errors: list[dict[str, Any]], cause: pydantic.ValidationError) -> None:
        super().__init__(errors)
        self.errors = errors
        self.cause = cause

    def under(self, *loc: Any) -> Refused:
        """This refusal with `loc` put in front of every error's location."""
        for error in self.errors:
            error["loc"] = (*loc, *error["loc"])
        return self


def _validate_instance(validator: Any, data: Any) -> Any:
    try:
        return validator.validate_python(data, by_name=True)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise Refused([dict(error) for error in errors], exc) from exc


_dataclass_validators: dict[type, Any] = {}


def _dataclass_validator(cls: type) -> Any:
    validator = cls.__dict__.get("__pydantic_validator__")
    if isinstance(validator, pydantic_core.SchemaValidator):
        return validator  # a pydantic dataclass
    found = _dataclass_validators.get(cls)
    if found is None:
        found = _dataclass_validators[cls] = pydantic.TypeAdapter(cls).validator
    return found


# The two ways an instance is refreshed. As *input*: replaced by the data of its fields
# (a dict), which the one validation of the whole value that follows turns back into
# an instance, validated; it costs no pydantic call of its own. As an *instance*:
# validated from that data at once, for places where a dict would lose what the
# instance says (a union member: a dict of a `Dog` may validate as a `Cat`; strict
# mode, which takes no dict for a model).
_INPUT, _INSTANCE = "input", "instance"


class _Compiler:
    """Compiles a core schema into a refresh function (see the module)."""

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}
        self.compiled: dict[tuple[str, str], Refresh | None] = {}
        self.pending: dict[tuple[str, str], list[Refresh | None]] = {}
        # Refreshes that give a dict back as it is (models and dataclasses with no
        # instance inside): a list of plain dicts for them is skipped in one loop.
        self.dicts_unchanged: set[Refresh] = set()

    def node(self, node: Any, mode: str) -> Refresh | None:
        if not isinstance(node, dict):
            return None
        kind = node.get("type")
        if kind == "definitions":
            for definition in node.get("definitions", ()):
                self.definitions[definition["ref"]] = definition
            return self.node(node["schema"], mode)
        if kind == "definition-ref":
            return self._ref(node["schema_ref"], mode)
        if kind == "model":
            return self._model(node, mode)
        if kind == "dataclass":
            return self._dataclass(node, mode)
        if kind in ("list", "set", "frozenset"):
            item = self.node(node.get("items_schema"), mode)
            return _items(item, dicts_unchanged=item in self.dicts_unchanged)
        if kind == "tuple":
            return self._tuple(node, mode)
        if kind == "dict":
            return _values(self.node(node.get("values_schema"), mode))
        if kind in ("union", "tagged-union"):
            return self._union(node)
        if kind == "json-or-python":
            return self.node(node.get("python_schema"), mode)
        if kind == "lax-or-strict":
            return self.node(node.get("lax_schema"), mode)
        if kind == "typed-dict":
            fields = node["fields"].items()
            return _keys({name: self.node(f.get("schema"), mode) for name, f in fields})
        if kind == "chain":
            steps = node.get("steps") or [None]
            return self.node(steps[0], mode)
        if "schema" in node and kind in _WRAPPERS:
            return self.node(node["schema"], mode)
        return None

    def _ref(self, ref: str, mode: str) -> Refresh | None:
        key = (ref, mode)
        if key in self.compiled:
            return self.compiled[key]
        if key in self.pending:
            # A recursive type: look the compiled function up when it runs.
            cell = self.pending[key]
            return lambda value: cell[0](value) if cell[0] is not None else value
        definition = self.definitions.get(ref)
        if definition is None:
            return None
        slot: list[Refresh | None] = [None]
        self.pending[key] = slot
        compiled = self.node(definition, mode)
        slot[0] = compiled
        del self.pending[key]
        self.compiled[key] = compiled
        return compiled

    def _model(self, node: dict[str, Any], mode: str) -> Refresh:
        cls = node["cls"]
        if node.get("root_model"):
            root = self.node(node.get("schema"), _INPUT)

            def refresh_root(value: Any) -> Any:
                if not isinstance(value, cls):
                    return value
                data = value.__dict__["root"]
                if root is not None:
                    data = _at(root, data, "root")
                if mode == _INPUT:
                    return data
                return _validate_instance(cls.__pydantic_validator__, data)

            return refresh_root
        children: dict[str, Refresh] = {}
        aliases: dict[str, Refresh] = {}
        for name, field in _model_fields(node.get("schema")).items():
            child = self.node(field.get("schema"), _INPUT)
            if child is not None:
                children[name] = child
                alias = field.get("validation_alias")
                aliases[alias if isinstance(alias, str) else name] = child
        by_key = _keys({**aliases, **children})
        as_input = mode == _INPUT

        def refresh_model(value: Any) -> Any:
            if isinstance(value, cls):
                data = dict(value.__dict__)
                extra = value.__pydantic_extra__
                if extra:
                    data.update(extra)
                for name, child in children.items():
                    if name in data:
                        data[name] = _at(child, data[name], name)
                if as_input:
                    return data
                return _validate_instance(cls.__pydantic_validator__, data)
            if by_key is not None:
                return by_key(value)
            return value

        if by_key is None:
            self.dicts_unchanged.add(refresh_model)
        return refresh_model

    def _dataclass(self, node: dict[str, Any], mode: str) -> Refresh:
        cls = node["cls"]
        names: list[str] = []
        children: dict[str, Refresh] = {}
        for field in node.get("schema", {}).get("fields", ()):
            if not field.get("init", True):
                continue
            names.append(field["name"])
            child = self.node(field.get("schema"), _INPUT)
            if child is not None:
                children[field["name"]] = child
        by_key = _keys(children)
        as_input = mode == _INPUT

        def refresh_dataclass(value: Any) -> Any:
            if isinstance(value, cls):
                data = {name: getattr(value, name) for name in names}
                for name, child in children.items():
                    data[name] = _at(child, data[name], name)
                if as_input:
                    return data
                return _validate_instance(_dataclass_validator(cls), data)
            if by_key is not None:
                return by_key(value)
            return value

        if by_key is None:
            self.dicts_unchanged.add(refresh_dataclass)
        return refresh_dataclass

    def _tuple(self, node: dict[str, Any], mode: str) -> Refresh | None:
        items = [self.node(item, mode) for item in node.get("items_schema", ())]
        if all(item is None for item in items):
            return None
        variadic = node.get("variadic_item_index")

        def refresh_tuple(value: Any) -> Any:
            if type(value) is not tuple and type(value) is not list:
                return value
            out = []
            # `tuple[A, *tuple[B, ...], C]`: the fixed items around the variadic one.
            suffix = len(value) - (len(items) - variadic - 1) if variadic is not None else 0
            for index, item in enumerate(value):
                if variadic is None or index < variadic:
                    child = items[index] if index < len(items) else None
                elif index < suffix:
                    child = items[variadic]
                else:
                    child = items[variadic + 1 + index - suffix]
                out.append(item if child is None else _at(child, item, index))
            return type(value)(out)

        return refresh_tuple

    def _union(self, node: dict[str, Any]) -> Refresh | None:
        choices = node.get("choices")
        if isinstance(choices, dict):
            choices = list(choices.values())
        compiled: list[tuple[Matches, Refresh]] = []
        for choice in choices or ():
            schema = choice[0] if isinstance(choice, tuple) else choice
            refresh = self.node(schema, _INSTANCE)
            if refresh is not None:
                compiled.append((self._matches(schema), refresh))
        if not compiled:
            return None

        def refresh_union(value: Any) -> Any:
            for matches, refresh in compiled:
                if matches(value):
                    return refresh(value)
            return value

        return refresh_union

    def _matches(self, node: Any) -> Matches:
        """Whether a value is one the refresh of `node` rebuilds (for unions)."""
        while isinstance(node, dict):
            kind = node.get("type")
            if kind == "definition-ref":
                node = self.definitions.get(node["schema_ref"])
            elif kind == "definitions":
                for definition in node.get("definitions", ()):
                    self.definitions[definition["ref"]] = definition
                node = node["schema"]
            elif kind in ("model", "dataclass"):
                cls = node["cls"]
                return lambda value: isinstance(value, cls)
            elif kind in ("list", "set", "frozenset", "tuple"):
                return lambda value: isinstance(value, list | tuple | set | frozenset)
            elif kind in ("dict", "typed-dict"):
                return lambda value: isinstance(value, dict)
            elif kind == "json-or-python":
                node = node.get("python_schema")
            elif kind == "lax-or-strict":
                node = node.get("lax_schema")
            elif "schema" in node and kind in _WRAPPERS:
                node = node["schema"]
            else:
                break
        return lambda value: True


_WRAPPERS = frozenset({"nullable", "default", "function-before", "function-after", "function-wrap"})


def _model_fields(node: Any) -> dict[str, Any]:
    while isinstance(node, dict):
        if node.get("type") == "model-fields":
            fields: dict[str, Any] = node.get("fields", {})
            return fields
        node = node.get("schema")
    return {}


def _at(refresh: Refresh, value: Any, loc: Any) -> Any:
    try:
        return refresh(value)
    except Refused as refused:
        raise refused.under(loc) from refused.cause


def _items(item: Refresh | None, *, dicts_unchanged: bool = False) -> Refresh | None:
    if item is None:
        return None

    def refresh_items(value: Any) -> Any:
        kind = type(value)
        if kind is not list and kind is not tuple and kind is not set and kind is not frozenset:
            return value
        if dicts_unchanged:
            # The common input, a list of plain dicts, costs one loop and no calls.
            for x in value:
                if type(x) is not dict:
                    break
            else:
                return value
        # Copied only when an element changes: dicts of fresh data pass as they are.
        out: list[Any] | None = None
        index = 0
        try:
            for index, x in enumerate(value):
                y = item(x)
                if y is not x:
                    if out is None:
                        out = list(value)
                    out[index] = y
        except Refused as refused:
            raise refused.under(index) from refused.cause
        return value if out is None else kind(out)

    return refresh_items


def _values(child: Refresh | None) -> Refresh | None:
    if child is None:
        return None

    def refresh_values(value: Any) -> Any:
        if type(value) is not dict:
            return value
        return _replaced(value, [(key, child) for key in value])

    return refresh_values


def _keys(children: Mapping[str, Refresh | None]) -> Refresh | None:
    pairs = tuple((key, child) for key, child in children.items() if child is not None)
    if not pairs:
        return None

    def refresh_keys(value: Any) -> Any:
        if type(value) is not dict:
            return value
        return _replaced(value, pairs)

    return refresh_keys


def _replaced(value: dict[Any, Any], children: Sequence[tuple[Any, Refresh]]) -> dict[Any, Any]:
    """`value` with the item of each given key it has refreshed; copied only on a change."""
    out = value
    for key, child in children:
        if key not in value:
            continue
        item = value[key]
        new = _at(child, item, key)
        if new is not item:
            if out is value:
                out = dict(value)
            out[key] = new
    return out


def compile_refresh(schema: Any, *, strict: bool = False) -> Refresh | None:
    """A function preparing a value so that one validation re-validates its instances.

    Model and dataclass instances become the data of their fields, which the
    validation that follows (with `by_name=True`) turns back into validated instances;
    union members and, with `strict` (keys), every instance are validated at once
    instead. `None` when the core schema places no model or dataclass anywhere. The
    function raises `Refused` (locations from the top of the value) when an instance
    validated at once fails.
    """
    return _Compiler().node(schema, _INSTANCE if strict else _INPUT)


# -- what a codec could give back as another type ------------------------------------

# Key schemas whose JSON object key (a string) pydantic reads back as the same key.
_SAFE_KEY_TYPES = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "enum",
        "uuid",
        "date",
        "datetime",
        "time",
        "timedelta",
        "decimal",
        "literal",
        "bytes",
    }
)
_ARRAYS = frozenset({"list", "tuple", "set", "frozenset", "generator"})


class Shape:
    """What a core schema holds that a codec without exact types may not keep.

    Attributes:
        needs_read_back: values may come back as another type (parts under `Any`,
            dict keys JSON cannot carry, unions of several types): every write through
            such a codec is read back and compared.
        ambiguous: pairs of union members stored alike by such a codec (two kinds of
            array): a declaration holding one is refused.
    """

    def __init__(self, schema: Any) -> None:
        self.needs_read_back = False
        self.ambiguous: list[tuple[str, str]] = []
        self._definitions: dict[str, Any] = {}
        self._seen: set[str] = set()
        self._walk(schema)

    def _walk(self, node: Any) -> None:
        if isinstance(node, list | tuple):
            for item in node:
                self._walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "definitions":
            for definition in node.get("definitions", ()):
                self._definitions[definition["ref"]] = definition
        elif kind == "definition-ref":
            ref = node["schema_ref"]
            if ref not in self._seen:
                self._seen.add(ref)
                self._walk(self._definitions.get(ref))
            return
        elif kind == "any" or (kind == "dict" and not _safe_key(node.get("keys_schema"))):
            self.needs_read_back = True
        elif kind == "union":
            self._union(node)
        elif kind == "json-or-python":
            self._walk(node.get("python_schema"))
            return
        for key, child in node.items():
            if key not in ("metadata", "serialization", "ref", "schema_ref", "cls"):
                self._walk(child)

    def _union(self, node: dict[str, Any]) -> None:
        members = [
            self._unwrap(choice[0] if isinstance(choice, tuple) else choice)
            for choice in node.get("choices", ())
        ]
        members = [m for m in members if not (isinstance(m, dict) and m.get("type") == "none")]
        if len(members) > 1:
            self.needs_read_back = True
        arrays = [m for m in members if isinstance(m, dict) and m.get("type") in _ARRAYS]
        for first, second in itertools.pairwise(arrays):
            self.ambiguous.append((describe(first), describe(second)))

    def _unwrap(self, node: Any) -> Any:
        while isinstance(node, dict):
            kind = node.get("type")
            if kind == "definition-ref":
                node = self._definitions.get(node["schema_ref"])
            elif kind in ("nullable", "default"):
                node = node.get("schema")
            else:
                break
        return node


def describe(node: Any) -> str:
    """A core schema node as a short type expression (`tuple[int, ...]`, `User`)."""
    if not isinstance(node, dict):
        return "?"
    kind = node.get("type")
    cls = node.get("cls")
    if isinstance(cls, type):
        return cls.__qualname__
    if kind in ("list", "set", "frozenset", "generator"):
        return f"{kind}[{describe(node.get('items_schema'))}]"
    if kind == "tuple":
        items = [describe(item) for item in node.get("items_schema", ())]
        variadic = node.get("variadic_item_index")
        if variadic is not None:
            items.insert(variadic + 1, "...")
        return f"tuple[{', '.join(items)}]"
    if kind == "dict":
        return f"dict[{describe(node.get('keys_schema'))}, {describe(node.get('values_schema'))}]"
    if kind in ("nullable", "default"):
        return describe(node.get("schema"))
    return str(kind)


def _safe_key(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True  # no keys schema: pydantic defaults to str-like keys
    kind = schema.get("type")
    if kind in _SAFE_KEY_TYPES:
        return True
    if kind in ("function-after", "function-before") and "schema" in schema:
        return _safe_key(schema["schema"])
    return False


def same(a: Any, b: Any) -> bool:
    """Whether `b` is `a` read back unchanged: equal, with the same types at every level.

    A tuple read back as a list, `{1: x}` as `{"1": x}`, a `Decimal` as a string, a
    `Dog` as a `Cat` all count as changed. Aware datetimes must keep their UTC offset,
    floats their sign.
    """
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return bool(a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if kind is list or kind is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        # pydantic keeps the order of dict items through JSON.
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if kind is set or kind is frozenset:
        return bool(a == b) and {type(x) for x in a} == {type(x) for x in b}
    if isinstance(a, datetime.datetime | datetime.time):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    if isinstance(a, pydantic.BaseModel):
        return same(vars(a), vars(b)) and same(a.__pydantic_extra__, b.__pydantic_extra__)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)
