"""Export what is on screen to CSV, into a folder the user sees (``~/redundancy-exports`` unless
``tui --export-dir`` names another), never inside a store.

The table is written as shown (all its rows, not only those in view; a dataset's
values table holds at most its first 500 rows and 64 columns, as its title says); a plot panel
in long form, one row per point (``series, x, y[, std]``), because the series of
one panel need not share their x values; a heatmap as its matrix.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from redundancy.tui.model import Detail, HeatmapPanel, Panel, PlotPanel, Table, TablePanel


def _cell(value: Any) -> Any:
    """A cell as CSV text: floats to 12 significant digits (``0.538``, not the ``0.5379999999999999`` a
    mean over seeds leaves; far finer than any accuracy measured here), nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".12g")
    return value


def _write_table(path: Path, table: Table) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(table.columns)
        for row in table.rows:
            w.writerow([_cell(c) for c in row])


def _write_panel(path: Path, panel: Panel) -> None:
    if isinstance(panel, TablePanel):
        _write_table(path, panel.table)
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if isinstance(panel, HeatmapPanel):
            w.writerow(["row", *range(panel.matrix.shape[1])])
            for i, row in enumerate(panel.matrix.tolist()):
                w.writerow([i, *(_cell(v) for v in row)])
            return
        assert isinstance(panel, PlotPanel)
        has_std = any(s.std is not None for s in panel.series)
        w.writerow(["series", panel.xlabel, panel.ylabel, *(["std"] if has_std else [])])
        for s in panel.series:
            for i, (x, y) in enumerate(zip(s.x, s.y)):
                extra = [_cell(s.std[i]) if s.std is not None else ""] if has_std else []
                w.writerow([s.label, _cell(x), _cell(y), *extra])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60].rstrip("_") or "panel"


DEFAULT_EXPORT_DIR = Path("~") / "redundancy-exports"


def default_export_dir() -> Path:
    return DEFAULT_EXPORT_DIR.expanduser()


def _free(path: Path) -> Path:
    """``path``, or ``name-2.csv``, ``name-3.csv`` ... when it exists: an export never replaces a file."""
    candidate, n = path, 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return candidate


def export_detail(detail: Detail, panel_index: int | None, folder: Path) -> list[Path]:
    """Write the detail's table and its current panel into ``folder`` (made when missing);
    returns the files written, as absolute paths."""
    if not detail.exportable:
        raise OSError("nothing to export here")
    folder = folder.expanduser().absolute()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if detail.table is not None:
        path = _free(folder / f"{detail.export_stem}-table.csv")
        _write_table(path, detail.table)
        written.append(path)
    if panel_index is not None and 0 <= panel_index < len(detail.panels):
        panel = detail.panels[panel_index]
        path = _free(folder / f"{detail.export_stem}-{_slug(panel.title)}.csv")
        _write_panel(path, panel)
        written.append(path)
    return written
