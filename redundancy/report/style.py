"""One look for every report figure: a colour-blind-safe palette, print-sized fonts, fixed roles.

The palette is Okabe & Ito's eight colours ("Color Universal Design", 2008),
which stay distinguishable under the common colour-vision deficiencies and in
greyscale when paired with line styles. Colours are tied to *roles* (a pruning
criterion, a subspace basis, a lottery control, a data split), not to the order
in which curves happen to be drawn, so the same criterion has the same colour in
every figure of every report. Direction is carried by line style, never by
colour alone.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through
``pyplot``: no global figure registry, no interactive backend, nothing to close.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure

# The palette and role colours are shared with the TUI (redundancy.present.format).
from redundancy.present.format import (
    BLACK,
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PALETTE,
    PURPLE,
    ROLE_COLOURS,
    SKY_BLUE,
    VERMILLION,
    YELLOW,
    colour,
)

__all__ = ["BLACK", "BLUE", "GREEN", "GREY", "ORANGE", "PALETTE", "PURPLE", "ROLE_COLOURS", "SKY_BLUE", "VERMILLION", "YELLOW", "colour"]

DIRECTION_STYLES: dict[str, str] = {"smallest": "-", "largest": "--"}
DIRECTION_MARKERS: dict[str, str] = {"smallest": "o", "largest": "s"}

# Print sizes: a full text-width figure in a paper is about 6.3 in; fonts stay legible at that size.
WIDTH_IN = 6.3
HEIGHT_IN = 3.6
PNG_DPI = 150

# Keys typed Any: matplotlib types rc names as a Literal of every known one.
RC: dict[Any, Any] = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "axes.grid": True,
    "grid.color": "#D9D9D9",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "lines.linewidth": 1.5,
    "lines.markersize": 3.5,
    "errorbar.capsize": 2.0,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text stays text in the SVG: searchable, editable in a paper
    "svg.hashsalt": "redundancy-report",  # stable element ids, so re-running gives the same SVG
    "figure.dpi": 100,
    "text.parse_math": False,  # labels carry store text: a "$" in a name is a dollar sign, never mathtext
}


@contextmanager
def report_style() -> Iterator[None]:
    """Apply the report's rc settings while figures are drawn and saved."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = WIDTH_IN, height: float = HEIGHT_IN) -> tuple[Figure, list[Any]]:
    """A constrained-layout figure with an ``nrows`` × ``ncols`` grid of axes, returned row by row."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


def percent_axis(ax: Any, axis: str = "y") -> None:
    """Label accuracies (stored as fractions) as percentages."""
    from matplotlib.ticker import PercentFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))  # as many decimals as the ticks need


def _log_label(value: float, span_decades: float, minor: bool) -> str:
    """Label ``value`` on a log axis: powers of ten always, 2 and 5 below two decades, every tick below one."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
    if not minor or span_decades < 1.0 or (span_decades < 2.0 and mantissa in (2.0, 5.0)):
        return f"{value:g}"
    return ""


def plain_ticks(ax: Any, axis: str = "x") -> None:
    """Tick labels ``0.5, 1, 10`` rather than ``10⁰, 10¹`` on a log or symlog axis: easier to read in print.

    On a log axis spanning less than two decades the intermediate ticks are
    labelled too, so a short range is never left with a single label.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    if target.get_scale() == "log":

        def label(minor: bool) -> FuncFormatter:
            def fmt(value: float, _pos: int | None) -> str:
                lo, hi = sorted(target.get_view_interval())
                span = math.log10(hi / lo) if lo > 0 else 10.0
                return _log_label(value, span, minor)

            return FuncFormatter(fmt)

        target.set_major_formatter(label(minor=False))
        target.set_minor_formatter(label(minor=True))
    else:
        target.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        target.set_minor_formatter(NullFormatter())


def integer_ticks(ax: Any, axis: str = "y") -> None:
    """Only whole-number ticks, for counts (units, pairs, rounds)."""
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))
