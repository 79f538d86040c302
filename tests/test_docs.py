"""The documentation's examples run, and its API reference names the whole public API.

The examples in the docstrings of the public API (rendered in the reference) run too.

Every ```python block of `docs/**/*.md` runs, page by page: the blocks of one page run
in order, each in a fresh namespace, in one temporary folder that is the current
directory (so a later block can reopen a file an earlier one wrote). A block with a
`title="name.py"` is written to that file instead of being run, so later blocks can
import it, as a reader following the page would. A block may be skipped only with a
reason: ```python norun="why". A page whose examples need optional packages names
them in a comment, `<!-- requires: fastapi, httpx2 -->`, and is skipped where one is
missing.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tpstore
import tpstore.__main__
import tpstore.codecs

DOCS = Path(__file__).resolve().parent.parent / "docs"

_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    language: str
    options: dict[str, str]
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(DOCS.parent)}:{self.line}"


def blocks(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a markdown page, in order."""
    text = page.read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        words = shlex.split(match["info"].strip()) if match["info"].strip() else [""]
        options = dict(word.split("=", 1) if "=" in word else (word, "") for word in words[1:])
        indent = len(match["indent"])
        code = "".join(line[indent:] for line in match["body"].splitlines(keepends=True))
        yield Block(page, text.count("\n", 0, match.start()) + 2, words[0], options, code)


@pytest.fixture(autouse=True)
def _own_codec_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples register codecs for their own types; keep those out of other tests."""
    monkeypatch.setattr(tpstore.codecs, "_registered", dict(tpstore.codecs._registered))  # type: ignore[attr-defined]


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_the_python_examples_of_the_page_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    needs = re.search(r"<!-- requires: ([\w, ]+)", page.read_text(encoding="utf-8"))
    missing = [
        name.strip()
        for name in (needs[1].split(",") if needs else [])
        if importlib.util.find_spec(name.strip()) is None
    ]
    if missing:  # optional test dependencies (the `test` extra has them all)
        pytest.skip(f"{page.name} needs {', '.join(missing)}")
    before = set(sys.modules)
    try:
        for block in blocks(page):
            if block.language != "python":
                continue
            if "norun" in block.options:
                assert block.options["norun"].strip(), (
                    f'{block.where}: a block that does not run must say why: norun="reason"'
                )
                continue
            if "title" in block.options:
                (tmp_path / block.options["title"]).write_text(block.code, encoding="utf-8")
                continue
            # A module of its own, as a script has: store classes find their annotations'
            # names through sys.modules[cls.__module__]. No __future__ flags are inherited
            # from this file.
            module = types.ModuleType(f"docs_example_{block.line}")
            monkeypatch.setitem(sys.modules, module.__name__, module)
            try:
                code = compile(block.code, block.where, "exec", dont_inherit=True)
                exec(code, module.__dict__)
            except Exception as exc:
                pytest.fail(f"the example at {block.where} raised {type(exc).__name__}: {exc}")
    finally:
        # Modules the page's files defined must not leak into the next page.
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(str(tmp_path)):
                del sys.modules[name]


def test_every_page_is_in_the_site_navigation() -> None:
    config = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    for page in pages():
        assert str(page.relative_to(DOCS)) in config, f"{page} is not in mkdocs.yml's nav"


def test_the_api_reference_renders_every_public_name() -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    rendered = set(re.findall(r"^::: tpstore\.(\S+)", reference, re.M))
    missing = [name for name in tpstore.__all__ if name not in rendered]
    assert not missing, f"docs/reference.md has no '::: tpstore.NAME' for {missing}"


def test_the_error_page_shows_the_error_tree() -> None:
    errors_page = (DOCS / "errors.md").read_text(encoding="utf-8")
    for name in tpstore.errors.__all__:
        assert name in errors_page, name


def test_the_fence_parser_reads_options_and_line_numbers(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text('text\n\n```python title="m.py"\nx = 1\n```\n\n  ```sh\n  ls\n  ```\n')
    found = list(blocks(page))
    assert [(b.language, b.options, b.code, b.line) for b in found] == [
        ("python", {"title": "m.py"}, "x = 1\n", 4),
        ("sh", {}, "ls\n", 8),
    ]


_DOC_FENCE = re.compile(r"^(?P<indent> *)```python\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


def docstring_examples() -> list[tuple[str, str]]:
    """`(name, code)` of every python example in the docstrings of the public API."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()

    def visit(obj: Any, name: str, depth: int) -> None:
        if id(obj) in seen or depth > 2:
            return
        seen.add(id(obj))
        for match in _DOC_FENCE.finditer(inspect.getdoc(obj) or ""):
            found.append((name, textwrap.dedent(match["body"])))
        if isinstance(obj, type):
            for attr in vars(obj):
                if not attr.startswith("_"):
                    visit(getattr(obj, attr), f"{name}.{attr}", depth + 1)
        elif isinstance(obj, types.ModuleType):
            for attr in getattr(obj, "__all__", []):
                visit(getattr(obj, attr), f"{name}.{attr}", depth + 1)

    for name in tpstore.__all__:
        visit(getattr(tpstore, name), f"tpstore.{name}", 0)
    for name in ("native", "json", "tuple_key", "cattrs", "pickle"):
        visit(getattr(tpstore.codecs, name), f"tpstore.codecs.{name}", 0)
    visit(tpstore.__main__.main, "tpstore.__main__.main", 0)
    return found


@pytest.mark.parametrize(
    ("name", "code"), docstring_examples(), ids=[name for name, _ in docstring_examples()]
)
def test_the_docstring_examples_run(
    name: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docstring_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, name, "exec", dont_inherit=True), module.__dict__)
