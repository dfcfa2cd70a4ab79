"""What a study kind's view provides, and helpers every view shares.

A view turns a study's ``summary`` and ``curves`` (the JSON the study wrote,
the same that ``redundancy show --json`` prints) into a :class:`Table` and a
list of plot panels. Views are lenient readers: a study may nest its curves per
layer or per checkpoint, and a field a view expects may be missing in an older
store, so curves are found by the keys they carry rather than by fixed paths,
and a missing piece means a missing line, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redundancy.summary import orient, summary_rows
from redundancy.tui.model import Panel, PlotPanel, Series, Table, fmt


@dataclass(frozen=True)
class StudyView:
    """A study kind's table and plots, registered in :data:`redundancy.tui.views.VIEWS`.

    ``tensors``, when given, adds panels drawn from the stage file's datasets (read when
    the study is selected) for what the JSON curves do not carry, such as trajectories."""

    kind: str
    table: Callable[[dict[str, Any]], Table]
    panels: Callable[[dict[str, Any]], list[Panel]]
    description: str = ""
    tensors: Callable[[Path], list[Panel]] | None = None


def numbers(value: Any) -> list[float] | None:
    """A JSON list of numbers (``null`` becomes NaN), or None when it is not one."""
    if not isinstance(value, list) or not value:
        return None
    out: list[float] = []
    for v in value:
        if v is None:
            out.append(math.nan)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        else:
            out.append(float(v))
    return out


def find_curves(obj: Any, xkey: str, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every dict below ``obj`` that carries the x axis ``xkey``, with the keys leading to it."""
    if isinstance(obj, dict):
        if numbers(obj.get(xkey)) is not None:
            yield path, obj
        for key, value in obj.items():
            if isinstance(value, dict):
                yield from find_curves(value, xkey, (*path, str(key)))


def series(label: str, curve: dict[str, Any], xkey: str, ykey: str, stdkey: str | None = None) -> Series | None:
    """One line from a curve dict, cut to the shorter of x and y; None when y is absent."""
    x, y = numbers(curve.get(xkey)), numbers(curve.get(ykey))
    if x is None or y is None:
        return None
    n = min(len(x), len(y))
    std = numbers(curve.get(stdkey)) if stdkey else None
    if std is not None:
        std = std[:n] if len(std) >= n else None
    return Series(label, x[:n], y[:n], std)


def label_of(path: tuple[str, ...], fallback: str = "") -> str:
    return "/".join(path) or fallback


def short_paths(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop the leading keys every path shares (``fc1@best/...`` when there is one layer)."""
    if len(paths) < 2:
        return [p[-1:] for p in paths]
    common = 0
    while all(len(p) > common + 1 for p in paths) and len({p[common] for p in paths}) == 1:
        common += 1
    return [p[common:] for p in paths]


def curve_panel(
    curves: dict[str, Any], title: str, xkey: str, ykey: str, xlabel: str, ylabel: str, stdkey: str | None = "std"
) -> PlotPanel | None:
    """All curves carrying ``xkey`` and ``ykey`` on one panel, labeled by their distinct keys."""
    found = [(path, curve) for path, curve in find_curves(curves, xkey) if numbers(curve.get(ykey)) is not None]
    lines = []
    for short, (_, curve) in zip(short_paths([p for p, _ in found]), found):
        line = series(label_of(short, ykey), curve, xkey, ykey, stdkey)
        if line is not None:
            lines.append(line)
    return PlotPanel(title, xlabel, ylabel, lines, logx=spans_decades(lines)) if lines else None


def spans_decades(lines: list[Series]) -> bool:
    """True when x starts at 0 or 1, reaches 100 and half its points lie in the first tenth
    (log-spaced checkpoints): such an axis reads better on a log scale."""
    xs = sorted({x for s in lines for x in s.x if math.isfinite(x)})
    if len(xs) < 4 or not 0 <= xs[0] <= 1 or xs[-1] < 100:
        return False
    return xs[len(xs) // 2] <= xs[-1] / 10


def summary_table(summary: dict[str, Any], row_title: str = "") -> Table:
    """A summary dict as a table: nested dicts become rows, their keys columns (transposed when
    wide, see :func:`redundancy.summary.orient`); top-level scalars become the caption (or the
    whole table, as key/value rows, when nothing nests)."""
    rows, top = summary_rows(summary)
    if not rows:
        return Table(["", "value"], [[k, v] for k, v in top.items()])
    caption = "; ".join(f"{k}: {fmt(v)}" for k, v in top.items())
    transposed, header, lines = orient(rows)
    return Table(["" if transposed else row_title, *header], lines, caption)


def generic_panels(curves: dict[str, Any]) -> list[Panel]:
    """For a kind without a view: one panel per y key, against the first x-like key found."""
    for xkey in ("iteration", "units_removed", "k", "rounds", "round", "step", "x"):
        found = list(find_curves(curves, xkey))
        if not found:
            continue
        ykeys: list[str] = []
        for _, curve in found:
            ykeys += [k for k in curve if k not in ykeys and k not in (xkey, "std") and numbers(curve[k]) is not None]
        panels: list[Panel] = []
        for ykey in ykeys:
            panel = curve_panel(curves, f"{ykey} vs {xkey}", xkey, ykey, xkey, ykey)
            if panel is not None:
                panels.append(panel)
        return panels
    lines = [Series(key, [float(i) for i in range(len(ys))], ys) for key, raw in curves.items() if (ys := numbers(raw)) is not None]
    return [PlotPanel("curves", "index", "value", lines)] if lines else []


GENERIC = StudyView("generic", summary_table, generic_panels, "any study kind without its own view")
