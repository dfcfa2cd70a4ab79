"""The ``redundancy`` command line: a thin layer over the engine, the store and the summaries.

One module per group of commands, all on one Typer app (:mod:`redundancy.cli.base`):
:mod:`~redundancy.cli.runs` (``run``, ``validate``), :mod:`~redundancy.cli.stores` (``ls``,
``show``, ``report``, ``gc``, ``tui``), and the tables they print (:mod:`~redundancy.cli.summary`).
Every error the user can cause is one message and a non-zero exit (2 for a bad spec), never a
traceback. Anything unexpected becomes one line and exit 1 too; ``--debug`` shows its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text

from redundancy.cli import runs, stores  # noqa: F401  (their commands register on the app, in this order)
from redundancy.cli.base import app, err, rich_table, state
from redundancy.cli.summary import summary_tables
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


def main() -> None:
    import signal
    import warnings

    warnings.showwarning = _show_warning
    if hasattr(signal, "SIGXFSZ"):  # past a file size limit (ulimit -f) a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    app(prog_name="redundancy")

