"""The public surface: `__all__` lists exactly the public names, sorted and documented.

Modelled on httpx's test: a name added to the package but not to `__all__` (or the
other way round) fails here, so the public API never drifts by accident.
"""

from __future__ import annotations

import inspect
import re
import types
from typing import Any

import pytest

import tpstore
import tpstore.codecs
import tpstore.errors


def _isort_key(name: str) -> tuple[int, str]:
    """The order of ruff's RUF022: CONSTANTS, then CamelCase, then everything else."""
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def _public_names(module: types.ModuleType) -> set[str]:
    """Names a user can reach that are not private and not a stray submodule import."""
    names = set()
    for name, member in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(member, types.ModuleType) and not member.__name__.startswith(
            module.__name__ + "."
        ):
            continue  # a module imported for the package's own use (typing, os...)
        if isinstance(member, types.ModuleType) and member.__name__.split(".")[-1].startswith("_"):
            continue  # a private submodule, bound as an attribute by the import system
        names.add(name)
    return names


@pytest.mark.parametrize(
    "module", [tpstore, tpstore.errors, tpstore.codecs], ids=lambda m: m.__name__
)
def test_all_is_sorted(module: types.ModuleType) -> None:
    """`__all__` is in ruff's isort-style order, without duplicates."""
    names = list(module.__all__)
    assert names == sorted(names, key=_isort_key)
    assert len(names) == len(set(names))


def test_all_equals_the_public_names_of_the_package() -> None:
    """Every public name of `tpstore` is in `__all__`, and every entry exists."""
    assert set(tpstore.__all__) - {"__version__"} == _public_names(tpstore)
    assert isinstance(tpstore.__version__, str)
    assert tpstore.__version__


def test_errors_all_equals_its_public_names() -> None:
    """`tpstore.errors.__all__` lists exactly its exception classes."""
    defined_here = {
        name
        for name in _public_names(tpstore.errors)
        if getattr(getattr(tpstore.errors, name), "__module__", None) == "tpstore.errors"
    }
    assert set(tpstore.errors.__all__) == defined_here


def test_every_error_is_reexported_from_the_package() -> None:
    """All exceptions of `tpstore.errors` are importable from `tpstore` itself."""
    for name in tpstore.errors.__all__:
        assert getattr(tpstore, name) is getattr(tpstore.errors, name)
        assert name in tpstore.__all__


def test_every_codecs_name_resolves() -> None:
    """Each name of `tpstore.codecs.__all__` can be reached (codec modules lazily)."""
    for name in tpstore.codecs.__all__:
        assert getattr(tpstore.codecs, name) is not None


def _documentation(member: Any) -> str:
    if isinstance(member, type | types.ModuleType | types.FunctionType):
        return member.__doc__ or ""
    # An instance (the MISSING sentinel): its class says what it is.
    return type(member).__doc__ or ""


@pytest.mark.parametrize("name", [n for n in tpstore.__all__ if n != "__version__"])
def test_every_public_name_is_documented(name: str) -> None:
    """Each public name has its own docstring (rendered in the API reference)."""
    member = getattr(tpstore, name)
    doc = _documentation(member)
    assert doc.strip(), f"tpstore.{name} has no docstring"
    if isinstance(member, type):
        # Not inherited: a class must say what it is itself.
        assert vars(member).get("__doc__"), name


@pytest.mark.parametrize("name", tpstore.codecs.__all__)
def test_every_codecs_name_is_documented(name: str) -> None:
    """Each public name of `tpstore.codecs` has a docstring."""
    member = getattr(tpstore.codecs, name)
    if isinstance(member, tuple):  # AFFINITIES: documented beside its definition
        return
    assert (inspect.getdoc(member) or "").strip(), f"tpstore.codecs.{name} has no docstring"


def test_errors_form_the_documented_tree() -> None:
    """Every error derives from `TpStoreError`; `ValidationError` is a `ValueError`."""
    for name in tpstore.errors.__all__:
        error = getattr(tpstore.errors, name)
        if not issubclass(error, Warning):
            assert issubclass(error, tpstore.TpStoreError), name
        assert name in (tpstore.errors.__doc__ or ""), f"{name} is missing from the tree"
    assert issubclass(tpstore.ValidationError, ValueError)


_CLASSES = [
    getattr(tpstore, name) for name in tpstore.__all__ if isinstance(getattr(tpstore, name), type)
]


def _defined_on(cls: type, name: str) -> type:
    """The class of `cls.__mro__` whose body defines `name`."""
    return next(base for base in cls.__mro__ if name in vars(base))


@pytest.mark.parametrize("cls", [c for c in _CLASSES if not issubclass(c, BaseException)], ids=str)
def test_public_classes_carry_the_methods_users_call(cls: type) -> None:
    """Every public method and property is defined on a public class, never a private base.

    Type checkers name the class that defines a method (`"append" of "Deque"`); a
    method inherited from `_Positioned` or a mixin of twins would show that name to
    users (`tests/test_typing.py` checks the messages themselves). The
    `collections.abc` classes are public too.
    """
    public = set(_CLASSES)
    private = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = _defined_on(cls, name)
        member = vars(owner)[name]
        if not (callable(member) or isinstance(member, property | classmethod)):
            continue  # class attributes the catalog reads (`kind_name`, `layout`...)
        if owner.__module__.startswith("tpstore") and owner not in public:
            private.append(f"{name} (from {owner.__name__})")
    assert not private, f"{cls.__name__}: {private}"


def test_the_kinds_of_a_family_are_instances_of_its_first_kind() -> None:
    """`OrderedMapping`, the expiring kinds... are `Mapping`s; the same for `Set`.

    They inherit the family's methods from `Mapping` (or `Set`); an insertion-ordered
    kind takes `range()` and `arange()` away again (see the next test), and `Sequence`
    and `Deque` stay apart, as `list` and `deque` do.
    """
    for kind in (tpstore.OrderedMapping, tpstore.ExpiringMapping, tpstore.ExpiringOrderedMapping):
        assert issubclass(kind, tpstore.Mapping)
    assert issubclass(tpstore.ExpiringOrderedMapping, tpstore.OrderedMapping)
    for kind in (tpstore.OrderedSet, tpstore.ExpiringSet, tpstore.ExpiringOrderedSet):
        assert issubclass(kind, tpstore.Set)
    assert issubclass(tpstore.ExpiringOrderedSet, tpstore.OrderedSet)
    assert not issubclass(tpstore.Deque, tpstore.Sequence)
    assert not issubclass(tpstore.Sequence, tpstore.Deque)
    for kind in (tpstore.Mapping, tpstore.ExpiringMapping):
        assert callable(kind.range)
        assert callable(kind.arange)


def test_a_taken_away_method_is_absent_from_instances() -> None:
    """`app.recent.range` raises `AttributeError` naming the kind, as a missing one does."""

    class App(tpstore.Store):
        recent: tpstore.OrderedMapping[str, int]
        tokens: tpstore.ExpiringOrderedMapping[str, int] = tpstore.field(lifespan=60)

    with App(None) as app:
        for collection, kind in (
            (app.recent, "OrderedMapping"),
            (app.tokens, "ExpiringOrderedMapping"),
        ):
            with pytest.raises(AttributeError, match=f"'{kind}' object has no attribute 'arange'"):
                collection.arange  # noqa: B018
            assert not hasattr(collection, "range")
