"""A study's stored summary (nested JSON) as rows of a table, for ``show``, the TUI and the report.

Reading stores is :mod:`redundancy.store.reader`'s; this module only lays out
the summary dicts it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


# More value columns than this (and more columns than rows) and a summary table reads better
# transposed, a column per row: a dozen statistics for two or three layers read down, not across.
MAX_COLUMNS = 8

Row = tuple[str, dict[str, Any]]


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
