"""Widgets of the browser: the store tree, the plot with its legend, the heatmap, help.

Every piece of text that comes from a store (names, labels, spec values) is put
on screen as a :class:`rich.text.Text`, never as a string, because Textual reads
strings in trees, tables and statics as markup: a run named ``[red]x`` must show
those characters, not turn red.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode
from textual_plotext import PlotextPlot

from redundancy.present.format import fmt, terminal_palette
from redundancy.present.text import clean
from redundancy.tui.model import PlotPanel, Table

# The report's Okabe–Ito colors in the same order, black shown as light grey on a terminal.
PALETTE: tuple[tuple[int, int, int], ...] = terminal_palette()


@dataclass
class NodeRef:
    """What a tree node stands for; ``key`` is stable across refreshes (see ``details.*_key``)."""

    kind: str  # store | run | study | group | dataset | file | problem | info
    key: str
    root: Path | None = None  # the store this node belongs to
    label: str = ""  # run label (run, study)
    stage_id: str = ""
    path: Path | None = None  # HDF5 file (study, group, dataset, file)
    name: str = "/"  # path inside that file
    reason: str = ""  # problem nodes
    loaded: bool = False  # children of a lazy node are listed
    mtime_ns: int = 0
    title: Text | None = None  # the label without the compare mark

    @property
    def markable(self) -> bool:
        return self.kind in ("run", "study")


class StoreTree(Tree[NodeRef]):
    """The tree of stores, runs, studies and datasets; space marks for compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="tree.mark"),
        Binding("right", "open", "Open", show=False, id="tree.open"),
        Binding("left", "close", "Close", show=False, id="tree.close"),
    ]

    def action_open(self) -> None:
        """Right: open a closed node, or step onto the first child of an open one."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close(self) -> None:
        """Left: close an open node, or step onto the parent of a closed one."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and not node.parent.is_root:
            self.move_cursor(node.parent)

    class MarkToggled(Message):
        """Space pressed on a node: mark or unmark it for comparison."""

        def __init__(self, node: TreeNode[NodeRef]) -> None:
            super().__init__()
            self.node = node

    def action_mark(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.post_message(self.MarkToggled(node))


def color_text(rgb: tuple[int, int, int]) -> Style:
    return Style(color=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})")


def log_axis(xs: list[float]) -> list[float]:
    """log10(1 + x): keeps x = 0 (the initialization, k = 0) on a log-like axis."""
    return [math.log10(1 + x) if x > -1 else math.nan for x in xs]


def _finite(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    return [a for a, _ in pairs], [b for _, b in pairs]


# Plots fewer lines high than this leave out their axis labels (the caption names the axes).
SMALL_PLOT = 12


class CurvePlot(PlotextPlot):
    """A plotext plot of one :class:`PlotPanel`; the legend is drawn below it, not over the data."""

    panel: PlotPanel | None = None

    def render(self) -> RenderResult:
        # Axis labels depend on the size at drawing time: in a small plot they would take a data row.
        if self.panel is not None:
            big = self.size.height >= SMALL_PLOT
            self.plt.xlabel(self.panel.xlabel + (" (log scale)" if self.panel.logx else "") if big else "")
            self.plt.ylabel(self.panel.ylabel if big else "")
        return super().render()

    def show_panel(self, panel: PlotPanel) -> None:
        plt = self.plt
        plt.clear_figure()  # the panel's title is in the caption line above, not repeated here
        self.panel = panel
        scale = log_axis if panel.logx else (lambda xs: xs)
        if panel.logx:
            top = max((max(s.x) for s in panel.series if s.x), default=1.0)
            ticks = [0.0] + [10.0**e for e in range(int(math.log10(max(top, 1.0))) + 1)]
            plt.xticks(log_axis(ticks), [f"{t:g}" for t in ticks])
        for i, s in enumerate(panel.series):
            color = PALETTE[i % len(PALETTE)]
            x, y = _finite(scale(s.x), s.y)
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
                    bx, by = _finite(scale(s.x), band)
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


def fill_table(widget: DataTable[Any], table: Table | None) -> None:
    """Put a :class:`Table` in a DataTable, every cell as literal text; columns holding only
    numbers are right-aligned so digits line up."""
    widget.clear(columns=True)
    widget.scroll_to(0, 0, animate=False)
    if table is None:
        return
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in table.rows if i < len(row)) and i > 0
        for i in range(len(table.columns))
    ]
    for i, column in enumerate(table.columns):
        widget.add_column(Text(clean(column, one_line=True), justify="right" if numeric[i] else "left"))
    for row in table.rows:
        widget.add_row(*(Text(clean(fmt(cell), one_line=True), justify="right" if numeric[i] else "left") for i, cell in enumerate(row)))
    # The table measures its new rows when idle; an auto-height table whose size changes then is
    # not always laid out again (it can stay 0 rows high), so ask for a layout after that.
    widget.call_after_refresh(widget.refresh, layout=True)


HELP_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓  ← →", "move in the tree; → or enter opens a node (datasets load when opened)"),
    ("enter", "open or close the node; the right pane shows whatever the cursor is on"),
    ("space", "mark or unmark a run or study for comparison"),
    ("c", "compare the marked runs, or marked studies of one kind: differing spec fields, summaries side by side, curves overlaid"),
    ("[  ]", "previous / next plot (or preview: heatmap, values, histogram)"),
    ("v  p", "View tab (table and plot) / Provenance tab (spec, hashes, versions, device, data)"),
    ("z", "zoom: hide the table so the plot gets the whole pane, and back"),
    ("/", "search names and spec values; n / N jump to the next / previous match"),
    ("e", "export the table and the shown curve to CSV next to the store (the path is shown)"),
    ("r", "re-read the stores now (they are also polled while the app runs)"),
    ("tab", "move focus between the tree, the table and the tabs"),
    ("?", "this help"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    """Key bindings, with what each does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        table = RichTable(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for key, what in HELP_KEYS:
            table.add_row(Text(key, style="bold"), Text(what))
        with Vertical(id="help"):
            yield Static(Text("redundancy tui — keys", style="bold"), id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(table, id="help-keys")
            yield Static(Text("escape or ? closes"), id="help-footer")
