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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redundancy.present.format import MISSING, fmt, mean_std

if TYPE_CHECKING:
    from redundancy.replicates import NetworkComparison

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


def grid_cell(cell: Mapping[str, Any] | None) -> str:
    """``0.912 ± 0.004`` (mean ± std), the mean alone for one value; ``n/a`` when no value is a finite number."""
    if not cell:
        return MISSING
    return mean_std(cell["mean"], cell["std"], missing=cell["missing"])


def point_label(point: Mapping[str, Any]) -> str:
    """``width=0.5, lr=0.1`` for a grid point (the last part of each axis name)."""
    return ", ".join(f"{axis.split('.')[-1]}={value}" for axis, value in point.items()) or "all runs"


def seeds_note(summary: Mapping[str, Any]) -> str:
    """``, mean ± std over 5 seeds`` for a grid with a seed axis, else nothing."""
    seeds = summary["axes"].get(SEED_AXIS) if summary.get("seed_axis") else None
    return f", mean ± std over {len(seeds)} seeds" if seeds else ""


def grid_table_title(t: Mapping[str, Any], over: str, *, prefix: str = "grid: ") -> str:
    kind = f" ({t['kind']})" if t["kind"] not in (t["study"], "train") else ""
    return f"{prefix}{t['study']}{kind}{over}"


def grid_table_data(summary: Mapping[str, Any], *, max_columns: int = MAX_COLUMNS, transpose: bool | None = None,
                    prefix: str = "grid: ") -> list[TableData]:
    """One table per study of :func:`redundancy.grid.grid_summary`'s result: a row per grid point and
    a column per headline number, transposed (a column per grid point) when there are more numbers
    than points or more than ``max_columns`` (``transpose`` forces either). The ``done`` column
    counts finished stages of the study at the point, with failures named."""
    over = seeds_note(summary)
    tables = []
    for t in summary["tables"]:
        rows = t["rows"]
        if not rows:
            continue
        status = [f"{r['done']}/{r['done'] + r['failed'] + r['pending']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
                  for r in rows]
        title = grid_table_title(t, over, prefix=prefix)
        flip = (len(t["metrics"]) > len(rows) or len(t["metrics"]) > max_columns) if transpose is None else transpose
        if flip:
            lines = [["done", *status]]
            lines += [[m, *(grid_cell(r["cells"].get(m)) for r in rows)] for m in t["metrics"]]
            tables.append(TableData(title, ["", *(point_label(r["point"]) for r in rows)], lines, transposed=True))
        else:
            lines = [[*(str(r["point"].get(a)) for a in summary["group_axes"]), s, *(grid_cell(r["cells"].get(m)) for m in t["metrics"])]
                     for r, s in zip(rows, status)]
            tables.append(TableData(title, [*summary["group_axes"], "done", *t["metrics"]], lines))
    return tables


# --- arms compared across networks ---------------------------------------------------------------


#: Differences are shown in points: accuracy (and the area under an accuracy curve) × 100.
POINTS = 100.0


def _signed(v: float | None) -> str:
    return MISSING if v is None or not math.isfinite(v) else f"{v * POINTS:+.2f}"


def _interval(low: float | None, high: float | None) -> str:
    return MISSING if low is None or high is None else f"[{low * POINTS:+.2f}, {high * POINTS:+.2f}]"


def _t(v: float | None) -> str:
    return MISSING if v is None else (f"{v:+.2f}" if math.isfinite(v) else ("+inf" if v > 0 else "-inf"))


def comparison_table_data(c: NetworkComparison) -> list[TableData]:
    """A comparison of arms across networks (:class:`redundancy.replicates.NetworkComparison`): a table
    per level (keep fraction, ``auc``) with a row per arm: the mean paired difference against the
    reference in points (× 100), its interval, t, p and Holm's p over every arm × level; then, when a
    best arm is named, a row per level with its margin on the held-out networks. The last table's
    caption says what the numbers rest on (and that they are conditional, for one network)."""
    where = f" at {point_label(c.point)}" if c.point else ""
    n = len(c.networks)
    references = list(dict.fromkeys(e.reference for e in c.effects))
    against = f" − {references[0]}" if len(references) == 1 else " − reference"
    pct = f"{c.confidence:.0%} CI"
    tables = []
    for level in c.levels:
        effects = [e for e in c.effects if e.level == level]
        if not effects:
            continue
        title = f"across networks: {c.study} ({c.kind}){where}, {level}: arm{against}, points, {n} network{'s' if n != 1 else ''}"
        columns = ["arm", *(["against"] if len(references) > 1 else []), "diff", pct, "t", "p", "p (Holm)"]
        rows = [[e.arm, *([e.reference] if len(references) > 1 else []), _signed(e.test.difference.mean),
                 _interval(e.test.difference.low, e.test.difference.high), _t(e.test.t), fmt(e.test.p_value), fmt(e.p_holm)]
                for e in effects]
        tables.append(TableData(title, columns, rows))
    if c.best:
        best_rows = []
        for b in c.best:
            m = b.margin
            best_rows.append([b.level, b.arm, ", ".join(b.chosen_on), ", ".join(b.measured_on),
                              _signed(None if m is None else m.difference.mean),
                              MISSING if m is None else _interval(m.difference.low, m.difference.high),
                              MISSING if m is None else fmt(m.p_value)])
        tables.append(TableData(f"best arm: {c.study}{where}, chosen on some networks, margin (points) on the others",
                                ["level", "best", "chosen on", "measured on", "margin", pct, "p"], best_rows))
    if tables:
        tables[-1].caption = c.note()
    return tables


def grid_runs_table(doc: Mapping[str, Any], table: Mapping[str, Any], *, transposed: bool = False) -> TableData | None:
    """The runs behind one grid table (a table of :func:`redundancy.grid.grid_summary`): a row per run
    with its own headline numbers (a column per run when ``transposed``, as its grid table), so a
    mean ± std never hides the runs it averages."""
    from redundancy.grid import headline_numbers

    metrics = list(table["metrics"])
    rows: list[list[Any]] = []
    if table["kind"] == "train":
        rows = [[r.get("name"), *(r.get(m) for m in metrics)] for r in doc["runs"] if r.get("status") == "done"]
    else:
        for st in doc["studies"]:
            if st.get("name") == table["study"] and st.get("kind") == table["kind"] and st.get("status") == "done":
                numbers = headline_numbers(str(st["kind"]), st.get("summary") or {})
                rows.append([st.get("run"), *(numbers.get(m) for m in metrics)])
    if len(rows) < 2:
        return None
    title = f"runs of {grid_table_title(table, '', prefix='grid: ')}"
    if transposed:
        return TableData(title, ["", *(str(r[0]) for r in rows)], [[m, *(r[i + 1] for r in rows)] for i, m in enumerate(metrics)], transposed=True)
    return TableData(title, ["run", *metrics], rows)
