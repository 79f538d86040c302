"""What the command line prints: rich tables and progress bars on a terminal, plain text
otherwise.

`rich` comes with the `cli` extra (`pip install -e '.[cli]'` from a clone). Without it, or when
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

EXTRA_HINT = (
    "install tpstore with its cli extra (from a clone: pip install -e '.[cli]'; "
    "once released: pip install 'tpstore[cli]')"
)


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
        width: the terminal's width in columns; `None`: as rich finds it (the
            terminal's size, or `COLUMNS`).
    """

    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        *,
        width: int | None = None,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._width = width
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
            self.stderr.write(f"tpstore: note: for tables and progress bars, {EXTRA_HINT}\n")

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
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(overflow="fold")  # a long path folds rather than loses its end
            for name, value in pairs:
                grid.add_row(name, self._text(value))
            self._console().print(grid)
            return
        self._note_missing_rich()
        for name, value in pairs:
            self.line(f"{name}: {value}")

    @property
    def width(self) -> int | None:
        """The width tables are drawn to, or `None` when they are printed as text lines."""
        if self._rich is not None and self._tty_out:
            return int(self._console().width)
        return None

    def table_width(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]], *, tight: bool = False
    ) -> int:
        """The columns `table` needs to draw these cells without shortening any."""
        table = self._table(columns, rows, right=(), tight=tight)
        # Width and height both given: rich takes neither from the terminal (a dumb
        # terminal would cap the width at 80).
        wide = self._rich.console.Console(width=10_000, height=100)
        return int(wide.measure(table).maximum)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
        right: Sequence[str] = (),
        tight: bool = False,
    ) -> None:
        """A table; tab-separated lines (header first) when not on a terminal.

        A cell is never broken inside: a line of a cell (cells may hold several, split
        by newlines) that does not fit is shortened with an ellipsis. Callers choose
        cells that fit the terminal's `width` (see `table_width`).

        Args:
            columns: the column headers.
            rows: the cells, as text; in the text form, a cell's lines are joined by
                spaces.
            title: shown above the table on a terminal.
            right: the columns to align right (numbers).
            tight: one space between columns instead of two.
        """
        if self._rich is not None and self._tty_out:
            table = self._table(columns, rows, right=right, title=title, tight=tight)
            self._console().print(table)
            return
        self._note_missing_rich()
        self.line("\t".join(columns))
        for row in rows:
            self.line("\t".join(" ".join(cell.split()) for cell in row))

    def _table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        right: Sequence[str],
        title: str | None = None,
        tight: bool = False,
    ) -> Any:
        # No vertical rules: more room for the cells on a narrow terminal.
        table = self._rich.table.Table(
            title=title,
            title_justify="left",
            header_style="bold",
            pad_edge=False,
            collapse_padding=True,
            show_edge=False,
            box=self._rich.box.SIMPLE_HEAD,
            padding=0 if tight else (0, 1),
        )
        for column in columns:
            table.add_column(
                column,
                justify="right" if column in right else "left",
                no_wrap=True,
                overflow="ellipsis",
            )
        for row in rows:
            table.add_row(*(self._text(cell) for cell in row))
        return table

    def _text(self, cell: str) -> Any:
        # Text, not markup: "tuple[str, int]" must not be read as a style tag.
        return self._rich.text.Text(cell)

    def _console(self) -> Any:
        # A width given with a height: rich then takes neither from the terminal.
        height = None if self._width is None else 25
        return self._rich.console.Console(
            file=self.stdout, highlight=False, width=self._width, height=height
        )

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
