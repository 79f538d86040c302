"""Runs the type checkers on `tests/typing/`: inference, and the messages users see.

`test_inference.py` pins the API's inference with `assert_type`; `misuse.py` misuses
every public collection kind and its asyncio twins, and the messages must name the
public classes a user declared, never the private bases that share their code.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import ROOT, mypy_strict, run_mypy

import tpstore

TYPING = ROOT / "tests" / "typing"
MISUSE = TYPING / "misuse.py"


def test_declared_collections_infer_their_types() -> None:
    """`app.users["a"]` is a `User` to mypy, `app.hits.increment("x")` an `int`, ..."""
    pytest.importorskip("mypy", reason="mypy is not installed")
    mypy_strict(str(TYPING / "test_inference.py"), cwd=ROOT)


def marked_lines() -> dict[int, str]:
    """Line number → the public class named by its `# error: Name` mark, in misuse.py."""
    marks = {}
    for number, line in enumerate(MISUSE.read_text(encoding="utf-8").splitlines(), 1):
        found = re.search(r"# error: (\w+)$", line)
        if found:
            marks[number] = found[1]
    return marks


def private_class_names() -> set[str]:
    """Names of tpstore's classes that public classes inherit from but users never see."""
    public = {getattr(tpstore, name) for name in tpstore.__all__}
    names = set()
    for cls in public:
        if inspect.isclass(cls):
            for base in cls.__mro__:
                if base.__module__.startswith("tpstore") and base not in public:
                    names.add(base.__name__)
    return names


def quoted_private_names(message: str, private: set[str]) -> list[str]:
    """The class names in `message` (as the checkers quote them) that are private."""
    quoted = re.findall(r'"([^"]*)"', message)
    found = []
    for text in quoted:
        for name in re.findall(r"[A-Za-z_][\w.]*", text):
            short = name.rsplit(".", 1)[-1]
            if re.match(r"_[A-Z]", short) or short in private:  # a class, not `tpstore._deque`
                found.append(name)
    return found


def public_ancestors(name: str) -> set[str]:
    """`name` and the public classes it inherits from (`Mapping` for `ExpiringMapping`)."""
    public = {getattr(tpstore, name) for name in tpstore.__all__}
    return {cls.__name__ for cls in getattr(tpstore, name).__mro__ if cls in public}


def named_classes(message: str) -> list[str]:
    """The classes a mypy message speaks of: `"get" of "Mapping"`, `"Deque[str]" has ...`."""
    names = re.findall(r'"\w+" of "([\w.]+)"', message)
    names += re.findall(r'^"([\w.]+)\[.*\]" has no attribute', message)
    names += re.findall(r'self argument "([\w.]+)\[', message)
    names += re.findall(r'defined in "([A-Z][\w]*)"', message)
    return [name.rsplit(".", 1)[-1] for name in names]


def check_messages(messages: dict[int, list[str]], checker: str, *, names_class: bool) -> None:
    """Every marked line has an error, no other line has one, no message is private."""
    marks = marked_lines()
    private = private_class_names()
    problems = []
    for line in sorted(set(marks) | set(messages)):
        texts = messages.get(line, [])
        if line not in marks:
            problems.append(f"line {line}: unexpected {texts}")
        elif not texts:
            problems.append(f"line {line}: the misuse of {marks[line]} is not reported")
        else:
            hidden = [name for text in texts for name in quoted_private_names(text, private)]
            if hidden:
                problems.append(f"line {line}: names {hidden}: {texts}")
            if names_class:
                allowed = public_ancestors(marks[line])
                named = {name for text in texts for name in named_classes(text)}
                if not named <= allowed:
                    problems.append(f"line {line}: names {named - allowed}, not {marks[line]}")
    assert not problems, f"{checker}:\n" + "\n".join(problems)


def test_mypy_names_the_public_classes(tmp_path: Path) -> None:
    """mypy says `"append" of "Deque"`, never `"append" of "_Positioned"`.

    Public classes carry every method users call, sync and async, so each message
    about a misused collection names the class the user declared (or the public
    class it is documented to be, as `Store` for a store class).
    """
    pytest.importorskip("mypy", reason="mypy is not installed")
    result = run_mypy(str(MISUSE), cwd=ROOT, cache_dir=tmp_path / ".mypy_cache")
    assert result.returncode == 1, result.stdout + result.stderr
    messages: dict[int, list[str]] = defaultdict(list)
    for line in result.stdout.splitlines():
        found = re.match(r".*misuse\.py:(\d+): (error|note): (.*)", line)
        assert found, line
        messages[int(found[1])].append(found[3])
    check_messages(messages, "mypy", names_class=True)


@pytest.mark.slow  # pyright starts a Node.js process
def test_pyright_never_names_a_private_class(tmp_path: Path) -> None:
    """pyright reports every misuse too, without private names (it names the function).

    pyright's messages name the receiver's class (`for class "Deque[str]"`) or only
    the function (`in function "append"`), so they are checked for private names and
    for catching each misuse.
    """
    if importlib.util.find_spec("pyright") is None:
        pytest.skip("pyright is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            str(MISUSE),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    messages: dict[int, list[str]] = defaultdict(list)
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            messages[diagnostic["range"]["start"]["line"] + 1].append(diagnostic["message"])
    check_messages(messages, "pyright", names_class=False)
