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
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

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


# Legends sit outside the plot area, in a row of their own under the axes: a legend inside the axes
# (even at loc="best") covers data as soon as the curves fill the panel, as they do on full-size stores.
# The row is a near-zero-height axes without frame or ticks; the legend hangs from its top edge and
# the constrained layout makes room for it as for any axes decoration, so it can never overlap
# the axes, tick labels or axis labels above it, and panels in one row stay aligned.
SLOT_RATIO = 1e-3  # height of a legend row relative to a row of axes (the legend itself adds the rest)
LEGEND_ROW_EM = 1.7  # height of one legend entry in font sizes (text plus label spacing)
_SLOTS: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()  # data axes -> the axes its legend goes in
_GROWN: WeakKeyDictionary[Any, dict[int, float]] = WeakKeyDictionary()  # figure -> legend row -> inches added


def new_figure(
    ncols: int = 1, nrows: int = 1, *, width: float = WIDTH_IN, height: float = HEIGHT_IN, legends: str = "none",
) -> tuple[Figure, list[Any]]:
    """A constrained-layout figure with an ``nrows`` × ``ncols`` grid of axes, returned row by row.

    ``legends="each"`` adds a legend row under every row of axes, one slot per panel;
    ``legends="shared"`` adds one legend row under the whole grid, spanning every column.
    :func:`legend_below` fills a panel's slot.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    if legends == "none":
        axes = fig.subplots(nrows, ncols, squeeze=False)
        return fig, list(axes.ravel())
    if legends == "each":
        gs = fig.add_gridspec(2 * nrows, ncols, height_ratios=[1.0, SLOT_RATIO] * nrows)
        cells = [(fig.add_subplot(gs[2 * r, c]), gs[2 * r + 1, c]) for r in range(nrows) for c in range(ncols)]
        out = []
        for ax, spec in cells:
            _SLOTS[ax] = _slot(fig, spec)
            out.append(ax)
        return fig, out
    if legends == "shared":
        gs = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1.0] * nrows + [SLOT_RATIO])
        out = [fig.add_subplot(gs[r, c]) for r in range(nrows) for c in range(ncols)]
        slot = _slot(fig, gs[nrows, :])
        for ax in out:
            _SLOTS[ax] = slot
        return fig, out
    raise ValueError(f"legends must be 'none', 'each' or 'shared', not {legends!r}")


SLOT_LABEL = "legend"  # the label of a legend row's axes, to tell it from a panel


def _slot(fig: Figure, spec: Any) -> Any:
    slot = fig.add_subplot(spec, label=SLOT_LABEL)
    slot.set_axis_off()
    slot.set_navigate(False)
    return slot


def legend_below(ax: Any, handles: list[Any] | None = None, labels: list[str] | None = None, *, ncols: int = 1,
                 fontsize: float | None = None, **kwargs: Any) -> Any:
    """The legend of ``ax`` (or of ``handles``/``labels``) in its slot under the axes, never over the data.

    The figure grows by the legend's height, so the axes keep their size. Returns the legend,
    or None when there is nothing to show.
    """
    slot = _SLOTS[ax]
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    size = FontProperties(size=fontsize if fontsize is not None else matplotlib.rcParams["legend.fontsize"]).get_size_in_points()
    ncols = max(1, min(ncols, len(handles)))
    legend = slot.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), borderaxespad=0.0,
                         ncols=ncols, fontsize=size, **kwargs)
    rows = math.ceil(len(handles) / ncols) + (1 if kwargs.get("title") else 0)
    fig = slot.figure
    grown = _GROWN.setdefault(fig, {})
    row = slot.get_subplotspec().rowspan.start
    need = rows * LEGEND_ROW_EM * size / 72.0
    if need > grown.get(row, 0.0):  # the legends of one row share its height: grow by the tallest
        fig.set_figheight(fig.get_figheight() + need - grown.get(row, 0.0))
        grown[row] = need
    return legend


def legend_of(ax: Any) -> Any:
    """The legend drawn for ``ax``: in its slot when the figure has legend rows, else its own (or None)."""
    slot = _SLOTS.get(ax)
    return slot.get_legend() if slot is not None else ax.get_legend()


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (at spaces where it can), for axis labels
    that must fit under a narrow panel whatever names a store gives them."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)) or text


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
