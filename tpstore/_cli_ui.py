"""What the command line prints: rich tables and progress bars on a terminal, plain text
otherwise.

`rich` comes with the `cli` extra (`pip install 'tpstore[cli]'`). Without it, or when
the output is not a terminal (a pipe, a file), tables are printed as tab-separated
lines with a header and progress bars are not shown, so the output is easy to read
from scripts. On a terminal without `rich`, one note says how to get it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

PROGRESS_MIN = 2000
"""Items below which no progress bar is shown: small jobs finish before one helps."""

EXTRA_HINT = "pip install 'tpstore[cli]'"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Ui:
    """The command line's output.

    Args:
        stdout: where results go (tables, dumps, problems).
        stderr: where errors, warnings and progress bars go.
    """

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._tty_out = _isatty(self.stdout)
        self._tty_err = _isatty(self.stderr)
        self._rich: Any = None
        self._noted = False
        if self._tty_out or self._tty_err:
            try:
                import rich.box
                import rich.console
                import rich.progress
                import rich.table
                import rich.text
            except ImportError:
                pass
            else:
                self._rich = rich

    def _note_missing_rich(self) -> None:
        if not self._noted and self._rich is None and self._tty_out:
            self._noted = True
            self.stderr.write(f"tpstore: note: {EXTRA_HINT} for tables and progress bars\n")

    # -- results --------------------------------------------------------------------------

    def line(self, text: str = "") -> None:
        """One line of plain output."""
        self.stdout.write(text + "\n")

    def write(self, text: str) -> None:
        """Raw output (dumps), with no newline added."""
        self.stdout.write(text)

    def facts(self, pairs: Sequence[tuple[str, str]]) -> None:
        """`name: value` lines; on a terminal an aligned, highlighted grid."""
        if self._rich is not None and self._tty_out:
            grid = self._rich.table.Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            for name, value in pairs:
                grid.add_row(name, self._text(value))
            self._console().print(grid)
            return
        self._note_missing_rich()
        for name, value in pairs:
            self.line(f"{name}: {value}")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
        right: Sequence[str] = (),
        whole: Sequence[str] = (),
    ) -> None:
        """A table; tab-separated lines (header first) when not on a terminal.

        Args:
            columns: the column headers.
            rows: the cells, as text.
            title: shown above the table on a terminal.
            right: the columns to align right (numbers).
            whole: the columns never wrapped on a narrow terminal (names); the others
                wrap between words.
        """
        if self._rich is not None and self._tty_out:
            # No vertical rules: more room for the cells on a narrow terminal.
            table = self._rich.table.Table(
                title=title,
                title_justify="left",
                header_style="bold",
                pad_edge=False,
                collapse_padding=True,
                show_edge=False,
                box=self._rich.box.SIMPLE_HEAD,
            )
            for column in columns:
                table.add_column(
                    column,
                    justify="right" if column in right else "left",
                    no_wrap=column in whole,
                    overflow="fold",
                )
            for row in rows:
                table.add_row(*(self._text(cell) for cell in row))
            self._console().print(table)
            return
        self._note_missing_rich()
        self.line("\t".join(columns))
        for row in rows:
            self.line("\t".join(cell.replace("\t", " ") for cell in row))

    def _text(self, cell: str) -> Any:
        # Text, not markup: "tuple[str, int]" must not be read as a style tag.
        return self._rich.text.Text(cell)

    def _console(self) -> Any:
        return self._rich.console.Console(file=self.stdout, highlight=False)

    # -- diagnostics ----------------------------------------------------------------------

    def error(self, text: str) -> None:
        """One line on stderr: `tpstore: error: ...`."""
        self.stderr.write(f"tpstore: error: {_one_line(text)}\n")

    def warn(self, text: str) -> None:
        """One line on stderr: `tpstore: warning: ...`."""
        self.stderr.write(f"tpstore: warning: {_one_line(text)}\n")

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr for long work; yields `advance(n)`.

        Shown only when stderr is a terminal, `rich` is installed and the work is large
        (`total` items at least `PROGRESS_MIN`, or unknown); it disappears when done.
        """
        if self._rich is None or not self._tty_err or (total is not None and total < PROGRESS_MIN):
            yield lambda n: None
            return
        progress_module = self._rich.progress
        console = self._rich.console.Console(file=self.stderr)
        columns = [
            progress_module.TextColumn("{task.description}"),
            progress_module.BarColumn(),
            progress_module.MofNCompleteColumn(),
            progress_module.TimeElapsedColumn(),
        ]
        with progress_module.Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


def _one_line(text: str) -> str:
    return " ".join(text.split())
