"""The ``redundancy`` command line: a thin layer over the engine, the store and the summaries.

One module per group of commands, all on one Typer app (:mod:`redundancy.commands.base`):
:mod:`~redundancy.commands.runs` (``run``, ``validate``), :mod:`~redundancy.commands.stores`
(``ls``, ``show``, ``report``, ``gc``) and the tables they print
(:mod:`~redundancy.commands.summary`); ``tui`` is here, the one command that loads Textual.
Every error the user can cause is one message and a non-zero exit (2 for a bad spec), never a
traceback. Anything unexpected becomes one line and exit 1 too; ``--debug`` shows its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from redundancy.commands import runs, stores  # noqa: F401  (their commands register on the app, in this order)
from redundancy.commands.base import app, as_text, err, rich_table, state, store_paths
from redundancy.commands.summary import summary_tables
from redundancy.present.format import fmt
from redundancy.present.text import clean

__all__ = ["app", "fmt", "main", "rich_table", "summary_tables"]

_shown_warnings: set[str] = set()


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """A library's warning (torch, matplotlib, numpy) as one of the tool's own log lines, once per message.

    Python's default prints the warning's source line and file path, often several lines, into
    the middle of progress output; here it is ``warning: <library>: <first line>``, and
    ``--debug`` adds where it was raised.
    """
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    origin = Path(filename).parts
    library = next((p for p in ("torch", "matplotlib", "numpy", "scipy", "h5py", "textual", "sklearn") if p in origin), Path(filename).stem)
    line_text = f"{library}: {text}" + (f" ({category.__name__} at {filename}:{lineno})" if state["debug"] else "")
    if line_text in _shown_warnings:
        return
    _shown_warnings.add(line_text)
    err.print(Text("warning: ", style="yellow") + Text(clean(line_text, one_line=True)), soft_wrap=True)


@app.command()
def tui(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="[STORE_OR_FOLDER]...", help="default: store/")] = None,
    poll: Annotated[float, typer.Option(help="seconds between checks for new stages (0: never)")] = 1.0,
    export_dir: Annotated[Optional[Path], typer.Option(help="folder for CSV exports (key e); default ~/redundancy-exports")] = None,
) -> None:
    """Browse stores in the terminal: tree, summary tables, plots, datasets, provenance, compare."""
    targets = store_paths(paths)
    if not any(p.exists() for p in targets):
        err.print(as_text(f"no stores under {', '.join(map(str, targets))}; fill one with: redundancy run specs/quickstart.yaml"))
        raise typer.Exit(code=1)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Without a terminal the app would draw escape codes into a pipe and wait for keys for ever.
        err.print(Text("error: ", style="bold red") + as_text("tui needs a terminal (stdin and stdout are not one); for piped output use: redundancy show STORE, or redundancy report"))
        raise typer.Exit(code=1)
    from redundancy.store.bounds import read_limit
    from redundancy.tui import run_tui  # Textual loads only for this command

    read_limit()  # a bad REDUNDANCY_READ_LIMIT is one line here, not an error in a worker thread
    run_tui(targets, poll=poll, export_dir=export_dir)


def main() -> None:
    import signal
    import warnings

    warnings.showwarning = _show_warning
    if hasattr(signal, "SIGXFSZ"):  # past a file size limit (ulimit -f) a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    app(prog_name="redundancy")


if __name__ == "__main__":  # python -m redundancy.cli
    main()
