"""The optional codec capabilities (`exact`, `executes_code`) and the registry by name."""

from __future__ import annotations

import marshal
import pickle

import pytest

from tpstore import codecs
from tpstore.codecs import compressed, from_module


@pytest.mark.parametrize(
    ("codec", "exact", "executes_code"),
    [
        ("pickle", True, True),
        (pickle, True, True),
        (compressed("pickle"), True, True),
        (from_module(pickle), True, True),
        ("json", False, False),
        (compressed("json"), False, False),
        ("native", False, False),
        ("cattrs", False, False),
        (marshal, False, False),
    ],
)
def test_capabilities_as_read_with_getattr(codec: object, exact: bool, executes_code: bool) -> None:
    """Each built-in codec declares what it is; codecs without the attributes have neither."""
    resolved = codecs.resolve(codec)
    assert bool(getattr(resolved, "exact", False)) is exact
    assert bool(getattr(resolved, "executes_code", False)) is executes_code


def test_from_name_rebuilds_what_the_catalog_records() -> None:
    """Built-in names, compressed ones, and None for modules and unknown codecs."""
    assert codecs.from_name("json") is codecs.resolve("json")
    inner = codecs.from_name("compressed(pickle)")
    assert inner is not None
    assert inner.name == "compressed(pickle)"
    assert getattr(inner, "executes_code", False)
    assert codecs.from_name("compressed(compressed(json))") is not None
    assert codecs.from_name("module:marshal") is None
    assert codecs.from_name("compressed(module:marshal)") is None
    assert codecs.from_name("money") is None
