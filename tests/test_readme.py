"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import mypy_strict

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    """The shell commands of the README's "Set up" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    """One command runs the demo, one runs the tests; nothing else to set up."""
    commands = setup_commands()
    assert len(commands) == 2
    assert "examples/demo.py" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` calls the README's test command word for word."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert setup_commands()[1] in ci.splitlines()


_PYTHON_BLOCK = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.M | re.S)
_TITLE = re.compile(r'title="(?P<name>[^"]+)"')


@pytest.mark.slow  # a mypy process per page
@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/quickstart.md"])
def test_the_first_examples_type_check_with_mypy_strict(page: str, tmp_path: Path) -> None:
    """The examples a new user copies first hold for a type checker, not only at run time.

    Each python block becomes a module (a block with `title="shop.py"` becomes that
    file, which later blocks import), and mypy --strict checks them all.
    """
    pytest.importorskip("mypy", reason="mypy is not installed")
    text = (ROOT / page).read_text(encoding="utf-8")
    files = []
    for number, block in enumerate(_PYTHON_BLOCK.finditer(text)):
        title = _TITLE.search(block["info"])
        name = title["name"] if title else f"example_{number}.py"
        (tmp_path / name).write_text(block["body"], encoding="utf-8")
        files.append(name)
    assert files, f"{page} has no python examples"
    try:
        mypy_strict(*files, cwd=tmp_path, cache_dir=tmp_path / ".mypy_cache")
    except AssertionError as exc:
        raise AssertionError(f"{page}: {exc}") from None
