"""A study's summary and a grid's headline numbers as plain tables, for ``show``, the TUI and the report.

Each medium used to lay these out itself (three summary-to-table and three grid
renderers, each with its own orientation rule and cell text). Here they are
built once, as :class:`TableData` of strings: ``show`` turns one into a Rich
table, the TUI into its table model, the report into HTML and Markdown. No
Rich, Textual or matplotlib here.

Summary layout: every dict below the top level that holds scalars is a row
(its key path joined with `` / `` labels it, its scalars are the cells); rows
with the same keys form one table, so a summary that mixes two shapes of rows
(a unit-ticket study's per-arm rows and per-keep-fraction comparisons) reads as
two tables instead of one table of mostly empty, truncated columns. A table is
transposed (a column per row) when it has more than :data:`MAX_COLUMNS` columns
and more columns than rows, or when only the transpose fits the given width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redundancy.present.format import MISSING, fmt, mean_std

# More value columns than this (and more columns than rows) and a summary table reads better
# transposed, a column per row: a dozen statistics for two or three layers read down, not across.
MAX_COLUMNS = 8

SEED_AXIS = "seed"

Row = tuple[str, dict[str, Any]]


@dataclass
class TableData:
    """A table: ``columns`` name every column (the first labels the rows, often ``""``), ``rows``
    hold one cell per column, the stored value itself (each medium writes it with
    :func:`redundancy.present.format.fmt`, an export keeps it whole) or, for a grid, its text.
    ``transposed`` says a column stands for a stored row."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    transposed: bool = False


# --- a study's summary -------------------------------------------------------------------------


def summary_rows(summary: Mapping[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """A study's summary (nested JSON) as table rows, whatever the medium that shows them.

    Every dict that holds scalars (anything but a dict, so short lists too) below the top
    level is a row: its key path joined with " / " labels it, and its scalars (in their
    order) are its cells; the dicts it holds give further rows after it. The top level's
    own scalars come back apart, for a caption or a name/value table."""
    rows: list[Row] = []

    def walk(tree: Mapping[str, Any], path: tuple[str, ...]) -> None:
        cells = {k: v for k, v in tree.items() if not isinstance(v, Mapping)}
        if path and cells:
            rows.append((" / ".join(path), cells))
        for key, value in tree.items():
            if isinstance(value, Mapping):
                walk(value, (*path, str(key)))

    walk(summary, ())
    scalars = {k: v for k, v in summary.items() if not isinstance(v, Mapping)}
    return rows, scalars


def summary_columns(rows: list[Row]) -> list[str]:
    """Every cell key of ``rows``, in the order first seen."""
    columns: list[str] = []
    for _, cells in rows:
        columns += [c for c in cells if c not in columns]
    return columns


def orient(rows: list[Row], columns: list[str] | None = None) -> tuple[bool, list[str], list[list[Any]]]:
    """``rows`` laid out as a grid: (transposed, header, lines). The header names the value
    columns and each line starts with its label; a missing cell is ``None``. The grid is
    transposed (a column per row) when there are more than :data:`MAX_COLUMNS` columns and
    more columns than rows."""
    columns = summary_columns(rows) if columns is None else columns
    if len(columns) > MAX_COLUMNS and len(columns) > len(rows):
        return True, [label for label, _ in rows], [[c, *(cells.get(c) for _, cells in rows)] for c in columns]
    return False, list(columns), [[label, *(cells.get(c) for c in columns)] for label, cells in rows]


def row_groups(rows: list[Row]) -> list[list[Row]]:
    """``rows`` split into groups of the same cell keys, in the order first seen."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row[1]), []).append(row)
    return list(groups.values())


def shared_prefix(keys: list[str]) -> str:
    """The longest prefix of every key that ends at a separator (``/``, ``:``, ``@``, space)."""
    if len(keys) < 2:
        return ""
    prefix = keys[0]
    for k in keys[1:]:
        while not k.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind(sep) for sep in "/:@ ")
    return prefix[: cut + 1] if cut >= 0 else ""


def natural_width(label_width: int, columns: list[tuple[str, list[str]]]) -> int:
    """Width of a table whose columns are (header, cells) after a label column: one space each side of a cell."""
    return label_width + 2 + sum(max([len(h), *map(len, cells)]) + 2 for h, cells in columns)


def _one_table(title: str, members: list[Row], width: int | None, row_title: str, fold_prefix: bool) -> TableData:
    nested = dict(members)
    prefix = shared_prefix(list(nested)) if fold_prefix else ""
    if prefix:  # e.g. "fc1@final:update/top", ".../bottom": say the shared part once, in the title
        nested = {k[len(prefix):]: v for k, v in nested.items()}
        title = f"{title} — {prefix.rstrip('/:@ ')}" if title else prefix.rstrip("/:@ ")
    cols = summary_columns(members)
    cells = {(k, c): v.get(c) for k, v in nested.items() for c in cols}
    transpose = len(cols) > MAX_COLUMNS and len(cols) > len(nested)
    if width is not None:  # the orientation that fits the width without cutting names
        text = {kc: fmt(v) for kc, v in cells.items()}
        by_row = natural_width(max(map(len, nested)), [(c, [text[k, c] for k in nested]) for c in cols])
        by_col = natural_width(max(map(len, cols)), [(k, [text[k, c] for c in cols]) for k in nested])
        transpose = (by_row > width and by_col < by_row) or (by_col <= width and transpose)
    if transpose:
        return TableData(title, ["", *nested], [[c, *(cells[k, c] for k in nested)] for c in cols], transposed=True)
    return TableData(title, [row_title, *cols], [[k, *(cells[k, c] for c in cols)] for k in nested])


def summary_tables(summary: Mapping[str, Any], title: str = "", *, width: int | None = None,
                   row_title: str = "", fold_prefix: bool = False) -> list[TableData]:
    """A study's summary as tables: one per shape of row (see the module docstring), then the
    top-level scalars, as the first table's caption when there are rows, else as a name/value
    table. ``width`` (a terminal's columns) picks the orientation that fits; without it the
    :data:`MAX_COLUMNS` rule decides. ``fold_prefix`` says a key prefix every row shares
    (``fc1@final:update/``) once, in the title, instead of in every row label."""
    rows, top = summary_rows(summary)
    tables = [_one_table(title, members, width, row_title, fold_prefix) for members in row_groups(rows)]
    if not tables:
        return [TableData(title, ["", "value"], [[str(k), v] for k, v in top.items()])] if top else []
    if top:
        tables[0].caption = "; ".join(f"{k}: {fmt(v)}" for k, v in top.items())
    return tables


# --- a grid's headline numbers -------------------------------------------------------------------
#
# The grid summary is typed by its owner, :mod:`redundancy.grid` (a layer above this one); these
# protocols name the fields of it that the tables read.


class GridCellView(Protocol):
    """A :class:`redundancy.grid.Cell`: mean ± std over the finite values, ``missing`` the others."""

    mean: float | None
    std: float | None
    missing: int


class GridRowView(Protocol):
    """A :class:`redundancy.grid.GridRow`: one grid point, its stage counts and a cell per number."""

    point: dict[str, Any]
    done: int
    failed: int
    pending: int
    cells: Mapping[str, GridCellView]


class GridTableView(Protocol):
    """A :class:`redundancy.grid.GridTable`: one study's headline numbers by grid point."""

    study: str
    kind: str
    metrics: list[str]
    rows: Sequence[GridRowView]


class GridSummaryView(Protocol):
    """A :class:`redundancy.grid.GridSummary`: the axes and a table per study."""

    group_axes: list[str]
    tables: Sequence[GridTableView]

    @property
    def seeds(self) -> list[Any] | None: ...


def grid_cell(cell: GridCellView | None) -> str:
    """``0.912 ± 0.004`` (mean ± std), the mean alone for one value; ``n/a`` when no value is a finite number."""
    if cell is None:
        return MISSING
    return mean_std(cell.mean, cell.std, missing=cell.missing)


def point_label(point: Mapping[str, Any]) -> str:
    """``width=0.5, lr=0.1`` for a grid point (the last part of each axis name)."""
    return ", ".join(f"{axis.split('.')[-1]}={value}" for axis, value in point.items()) or "all runs"


def seeds_note(summary: GridSummaryView) -> str:
    """``, mean ± std over 5 seeds`` for a grid with a seed axis, else nothing."""
    seeds = summary.seeds
    return f", mean ± std over {len(seeds)} seeds" if seeds else ""


def grid_table_title(t: GridTableView, over: str, *, prefix: str = "grid: ") -> str:
    kind = f" ({t.kind})" if t.kind not in (t.study, "train") else ""
    return f"{prefix}{t.study}{kind}{over}"


def grid_table_data(summary: GridSummaryView, *, max_columns: int = MAX_COLUMNS, transpose: bool | None = None,
                    prefix: str = "grid: ") -> list[TableData]:
    """One table per study of :func:`redundancy.grid.summarize_grid`'s result: a row per grid point and
    a column per headline number, transposed (a column per grid point) when there are more numbers
    than points or more than ``max_columns`` (``transpose`` forces either). The ``done`` column
    counts finished stages of the study at the point, with failures named."""
    over = seeds_note(summary)
    tables = []
    for t in summary.tables:
        rows = t.rows
        if not rows:
            continue
        status = [f"{r.done}/{r.done + r.failed + r.pending}" + (f" ({r.failed} failed)" if r.failed else "") for r in rows]
        title = grid_table_title(t, over, prefix=prefix)
        flip = (len(t.metrics) > len(rows) or len(t.metrics) > max_columns) if transpose is None else transpose
        if flip:
            lines = [["done", *status]]
            lines += [[m, *(grid_cell(r.cells.get(m)) for r in rows)] for m in t.metrics]
            tables.append(TableData(title, ["", *(point_label(r.point) for r in rows)], lines, transposed=True))
        else:
            lines = [[*(str(r.point.get(a)) for a in summary.group_axes), s, *(grid_cell(r.cells.get(m)) for m in t.metrics)]
                     for r, s in zip(rows, status)]
            tables.append(TableData(title, [*summary.group_axes, "done", *t.metrics], lines))
    return tables
