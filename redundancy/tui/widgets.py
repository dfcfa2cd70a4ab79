"""Widgets of the right-hand pane and help: the plot with its legend, the heatmap, tables, the help screen.

Every piece of text that comes from a store (names, labels, spec values) is put
on screen as a :class:`rich.text.Text`, never as a string, because Textual reads
strings in trees, tables and statics as markup: a run named ``[red]x`` must show
those characters, not turn red.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from redundancy.present.format import fmt, terminal_palette
from redundancy.present.text import clean
from redundancy.tui.model import PlotPanel, Table

# The report's Okabe–Ito colors in the same order, black shown as light grey on a terminal.
PALETTE: tuple[tuple[int, int, int], ...] = terminal_palette()


def color_text(rgb: tuple[int, int, int]) -> Style:
    return Style(color=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})")


def log_axis(xs: list[float]) -> list[float]:
    """log10(1 + x): keeps x = 0 (the initialization, k = 0) on a log-like axis."""
    return [math.log10(1 + x) if x > -1 else math.nan for x in xs]


def log10_values(ys: list[float]) -> list[float]:
    """log10(y), NaN where y is not positive (left out of the plot)."""
    return [math.log10(y) if y > 0 else math.nan for y in ys]


def decade_ticks(ys: list[float]) -> tuple[list[float], list[str]]:
    """Tick positions (log10) and labels for the decades that ``ys`` span, at least two."""
    positive = [y for y in ys if y > 0 and math.isfinite(y)]
    if not positive:
        return [0.0], ["1"]
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    exps = list(range(lo, max(hi, lo + 1) + 1))
    return [float(e) for e in exps], [f"{10.0**e:g}" for e in exps]


def _finite(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    return [a for a, _ in pairs], [b for _, b in pairs]


# Plots fewer lines high than this leave out their axis labels (the caption names the axes).
SMALL_PLOT = 12


class CurvePlot(PlotextPlot):
    """A plotext plot of one :class:`PlotPanel`; the legend is drawn below it, not over the data."""

    panel: PlotPanel | None = None
    logy = False  # the panel's y axis is drawn on a log scale

    def render(self) -> RenderResult:
        # Axis labels depend on the size at drawing time: in a small plot they would take a data row.
        if self.panel is not None:
            big = self.size.height >= SMALL_PLOT
            self.plt.xlabel(self.panel.xlabel + (" (log scale)" if self.panel.logx else "") if big else "")
            self.plt.ylabel(self.panel.ylabel + (" (log scale)" if self.logy else "") if big else "")
        return super().render()

    def show_panel(self, panel: PlotPanel, *, logy: bool = False) -> None:
        """Draw ``panel``; ``logy`` draws its y axis on a log scale when the panel allows it (a loss)."""
        plt = self.plt
        plt.clear_figure()  # the panel's title is in the caption line above, not repeated here
        self.panel = panel
        self.logy = logy and panel.logy_ok
        scale = log_axis if panel.logx else (lambda xs: xs)
        yscale = log10_values if self.logy else (lambda ys: ys)
        if panel.logx:
            top = max((max(s.x) for s in panel.series if s.x), default=1.0)
            ticks = [0.0] + [10.0**e for e in range(int(math.log10(max(top, 1.0))) + 1)]
            plt.xticks(log_axis(ticks), [f"{t:g}" for t in ticks])
        if self.logy:
            plt.yticks(*decade_ticks([v for s in panel.series for v in s.y]))
        for i, s in enumerate(panel.series):
            color = PALETTE[i % len(PALETTE)]
            x, y = _finite(scale(s.x), yscale(s.y))
            if not x:
                continue
            if panel.bars:
                width = (x[1] - x[0]) * 0.9 if len(x) > 1 else 0.8
                plt.bar(x, y, color=color, width=width)
                continue
            if s.std is not None:
                upper = [a + b for a, b in zip(s.y, s.std)]
                lower = [a - b for a, b in zip(s.y, s.std)]
                for band in (upper, lower):
                    bx, by = _finite(scale(s.x), yscale(band))
                    plt.plot(bx, by, color=color, marker="·")
            plt.plot(x, y, color=color, marker="braille")
        self.refresh()


def legend(panel: PlotPanel) -> Text:
    """Colored line keys for a panel's series (the band, when there is one, is the dotted pair)."""
    text = Text()
    for i, s in enumerate(panel.series):
        if text:
            text.append("  ")
        text.append("━ ", style=color_text(PALETTE[i % len(PALETTE)]))
        text.append(clean(s.label, one_line=True) + (" ±std ···" if s.std is not None else ""))
    return text


# Diverging (negative, zero, positive) and sequential color maps for heatmaps.
DIVERGING = ((33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43))
SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _interpolate(stops: tuple[tuple[int, int, int], ...], t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    a, b = stops[i], stops[i + 1]
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), round(a[2] + (b[2] - a[2]) * f))


def block_mean(m: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Shrink a matrix to at most rows × cols by averaging blocks (a mask becomes its density)."""
    r_edges = np.linspace(0, m.shape[0], min(rows, m.shape[0]) + 1).astype(int)
    c_edges = np.linspace(0, m.shape[1], min(cols, m.shape[1]) + 1).astype(int)
    out = np.empty((len(r_edges) - 1, len(c_edges) - 1))
    for i in range(len(r_edges) - 1):
        band = m[r_edges[i] : r_edges[i + 1]]
        for j in range(len(c_edges) - 1):
            block = band[:, c_edges[j] : c_edges[j + 1]]
            out[i, j] = np.nanmean(block) if np.isfinite(block).any() else np.nan
    return out


class Heatmap(Widget):
    """A matrix as colored half-block cells, two matrix rows per terminal line, with a scale."""

    DEFAULT_CSS = """
    Heatmap { width: 1fr; height: 1fr; }
    """

    matrix: np.ndarray | None = None

    def show_matrix(self, matrix: np.ndarray) -> None:
        self.matrix = matrix
        self.refresh()

    def render(self) -> Text:
        if self.matrix is None or self.matrix.size == 0:
            return Text("")
        width, height = max(1, self.size.width), max(1, self.size.height - 1)
        m = block_mean(self.matrix.astype(float), height * 2, width)
        # A small matrix is enlarged to fill the area; a half block is about square, so one factor.
        scale = max(1, min(width // m.shape[1], (height * 2) // m.shape[0]))
        m = np.repeat(np.repeat(m, scale, axis=0), scale, axis=1)
        finite = m[np.isfinite(m)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        diverging = lo < 0 < hi
        if diverging:
            bound = max(-lo, hi)
            lo, hi = -bound, bound
        stops = DIVERGING if diverging else SEQUENTIAL
        span = (hi - lo) or 1.0

        def rgb(v: float) -> str:
            if not math.isfinite(v):
                return "rgb(0,0,0)"
            r, g, b = _interpolate(stops, (v - lo) / span)
            return f"rgb({r},{g},{b})"

        text = Text()
        for i in range(0, m.shape[0], 2):
            for j in range(m.shape[1]):
                top = rgb(m[i, j])
                bottom = rgb(m[i + 1, j]) if i + 1 < m.shape[0] else "default"
                text.append("▀", style=Style.parse(f"{top} on {bottom}"))
            text.append("\n")
        text.append(f"{fmt(lo)} ")
        for k in range(12):
            r, g, b = _interpolate(stops, k / 11)
            text.append(" ", style=Style.parse(f"on rgb({r},{g},{b})"))
        text.append(f" {fmt(hi)}   ({self.matrix.shape[0]} × {self.matrix.shape[1]}, block means)")
        return text


def _is_number(cell: Any) -> bool:
    return isinstance(cell, (int, float, np.number)) and not isinstance(cell, bool)


def _cell_text(cell: Any, max_width: int | None) -> str:
    text = clean(fmt(cell), one_line=True)
    if max_width is not None and len(text) > max_width:
        return text[: max_width - 1] + "…"
    return text


def fill_table(widget: DataTable[Any], table: Table | None) -> None:
    """Put a :class:`Table` in a DataTable, every cell as literal text; columns holding only
    numbers are right-aligned so digits line up. The first column, and the headline column
    moved right after it, stay in view while the others scroll sideways."""
    widget.clear(columns=True)
    widget.scroll_to(0, 0, animate=False)
    widget.tooltip = None
    if table is None:
        widget.fixed_columns = 0
        return
    if table.definitions:  # hovering the table defines its metrics, units included
        widget.tooltip = Text("\n".join(f"{clean(k, one_line=True)}: {v}" for k, v in table.definitions.items()))
    order = list(range(len(table.columns)))
    if table.headline in table.columns[1:]:
        h = table.columns.index(table.headline)
        order = [0, h, *(i for i in order[1:] if i != h)]
    widget.fixed_columns = min(len(order), 2 if table.headline in table.columns[1:] else 1)
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in table.rows if i < len(row)) and i > 0
        for i in range(len(table.columns))
    ]
    for i in order:
        widget.add_column(Text(clean(table.columns[i], one_line=True), justify="right" if numeric[i] else "left"))
    for row in table.rows:
        cells = [row[i] if i < len(row) else None for i in order]
        widget.add_row(*(
            Text(_cell_text(cell, table.max_width if i else None), justify="right" if numeric[i] else "left")  # row labels stay whole
            for i, cell in zip(order, cells)
        ))
    # The table measures its new rows when idle; an auto-height table whose size changes then is
    # not always laid out again (it can stay 0 rows high), so ask for a layout after that.
    widget.call_after_refresh(widget.refresh, layout=True)


#: Keys as the help names them. The footer's ``key_display`` may stand for a pair of bindings (``[ ]``
#: for previous and next plot); the help lists each binding, so it names each one's own key.
KEY_NAMES = {
    "question_mark": "?", "slash": "/", "space": "space", "left_square_bracket": "[", "right_square_bracket": "]",
    "escape": "escape", "less_than_sign": "<", "greater_than_sign": ">", "right": "→", "left": "←",
}


def _key_text(binding: Binding) -> str:
    return " ".join(KEY_NAMES.get(k, k) for k in binding.key.split(","))


def help_rows(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) for every binding: its ``tooltip`` when it has one, else its description.
    The help screen is made from the bindings themselves, so it cannot fall out of step with them."""
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        what = binding.tooltip or binding.description
        if what:
            rows.append((_key_text(binding), what))
    return rows


class HelpScreen(ModalScreen[None]):
    """Key bindings, with what each does, from the bindings of the app and the tree."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, bindings: Iterable[BindingType]) -> None:
        super().__init__()
        self.rows = help_rows(bindings)

    def compose(self) -> ComposeResult:
        table = RichTable(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for key, what in self.rows:
            table.add_row(Text(key, style="bold"), Text(what))
        with Vertical(id="help"):
            yield Static(Text("redundancy tui — keys", style="bold"), id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(table, id="help-keys")
            yield Static(Text("escape or ? closes"), id="help-footer")
