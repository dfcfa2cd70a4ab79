"""The command line's shared pieces: the Typer app, its consoles, and how text and errors are printed.

Every error the user can cause is one message and a non-zero exit (2 for a bad
spec), never a traceback. Anything unexpected becomes one line and exit 1 too;
``--debug`` shows its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from redundancy.errors import Problem, RedundancyError, SpecError
from redundancy.present.format import fmt
from redundancy.present.text import clean

DEBUG_HINT = "run with --debug for the traceback"


# What the command-line library raises on purpose (exits, usage errors): passed through as they are.
_EXPECTED: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    KeyboardInterrupt,
    SystemExit,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


class _Group(TyperGroup):
    """The command group: turns an unexpected exception in any command into one line and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _EXPECTED:
            raise
        except RedundancyError as exc:
            raise fail(exc) from None
        except Exception as exc:
            if state["debug"]:
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            err.print(Text("error: ", style="bold red") + Text(clean(f"{type(exc).__name__}: {reason} ({DEBUG_HINT})")), soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="redundancy",
    cls=_Group,
    help="Declarative, reproducible studies of where redundancy lives in trained neural networks.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags print as flags, not as "--force <bool>"
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Lines are never broken at a width: on a terminal the terminal wraps them, and piped output (a log,
# --quiet lines read by a program) keeps one message per line whatever the length.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
if not err.is_terminal:  # tables on stderr (a run's closing summary) are laid out unbounded too
    err = Console(stderr=True, soft_wrap=True, width=10_000)
state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from redundancy.version import __version__

        out.print(Text(f"redundancy {__version__}"))
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an unexpected error")] = False,
) -> None:
    """Declarative, reproducible studies of where redundancy lives in trained neural networks."""
    state["debug"] = debug

# Piped output is read by programs and people with wide editors: lay tables out this wide, so no
# name is cut or wrapped to fit an 80-column terminal that is not there.
PIPE_WIDTH = 10_000
Width = Annotated[Optional[int], typer.Option("--width", min=20, help="lay tables out for N columns (default: the terminal's width; no limit when piped)")]


def table_console(width: int | None) -> Console:
    """Where tables go: ``width`` columns when given, the terminal's width on a terminal, unlimited when piped."""
    if width is not None:
        return Console(width=width)
    if out.is_terminal:
        return out
    return Console(width=PIPE_WIDTH)


#: Above this many stages ``--dry-run`` prints plain aligned lines: laying out a Rich table measures
#: every cell, minutes for the 300,000 stages of a 100,000-point grid.
DRY_RUN_TABLE_ROWS = 2000


def print_plain(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """``rows`` as lines of columns padded to the widest cell (the last column unpadded), text cleaned."""
    cells = [tuple(clean(c, one_line=True) for c in row) for row in rows]
    widths = [max([len(header[i]), *(len(r[i]) for r in cells)]) for i in range(len(header) - 1)]
    lines = [clean(title, one_line=True)]
    for row in [header, *cells]:
        lines.append("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def as_text(value: object, style: str = "") -> Text:
    """Store or spec text as a Rich ``Text``: never read as markup, control characters shown as escapes."""
    return Text(clean(value, one_line=True), style=style)


def fail(exc: RedundancyError) -> typer.Exit:
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            err.print(Text("error: ", style="bold red") + Text(clean(problem)), soft_wrap=True)
        err.print(f"{len(exc.problems)} problem(s); nothing was run or written.", style="red")
    else:
        err.print(Text("error: ", style="bold red") + Text(clean(exc)), soft_wrap=True)
    return typer.Exit(code=exc.exit_code)


def warn(problems: list[Problem]) -> None:
    for problem in problems:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(problem)), soft_wrap=True)



def store_paths(paths: list[Path] | None) -> list[Path]:
    return paths or [Path("store")]

def print_warnings(lines: list[str]) -> None:
    """One line per thing a reader should know before trusting a store (its stages mix environments)."""
    for line in lines:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(line)), soft_wrap=True)

def print_problems(problems: list[str]) -> None:
    """One line per thing of a store that could not be read, then exit 1 when there was any."""
    for problem in problems:
        err.print(Text("error: ", style="bold red") + Text(clean(problem)), soft_wrap=True)
    if problems:
        raise typer.Exit(code=1)


def rich_table(data: Any, *, fold_numbers: bool = True) -> Table:
    """A :class:`redundancy.present.tables.TableData` as a Rich table: names fold onto a second line
    rather than end in an ellipsis; a ``mean ± std`` cell never breaks (``fold_numbers=False``, a
    grid's table, which keeps its frame)."""
    frame = dict(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True) if fold_numbers else {}
    table = Table(title=as_text(data.title) if data.title else None, **frame)
    for i, col in enumerate(data.columns):
        if i == 0:
            table.add_column(as_text(col), overflow="fold")
        elif fold_numbers:
            table.add_column(as_text(col), justify="right", overflow="fold")
        else:
            table.add_column(as_text(col), justify="right", no_wrap=True)
    for row in data.rows:
        table.add_row(*(as_text(fmt(cell)) for cell in row))
    if data.caption:
        table.caption = as_text(data.caption)
    return table

