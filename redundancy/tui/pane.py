"""The right-hand pane: a node's detail (title, table, plot panels, provenance), loaded off the UI thread.

:func:`build_detail` picks what to read for a node; :class:`DetailPane` owns
what is shown: it runs the read in a worker, cleans the result's text for the
terminal and draws it: the table (first and headline columns frozen), the
current panel with its legend, the provenance tab. It keeps the detail on show,
the panel, the log scale of loss axes and whether a comparison shows every row;
the app tells it what to load and asks it to step, zoom and toggle.
"""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from rich.table import Table as RichTable
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, DataTable, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from redundancy.tui.compare import Item
from redundancy.tui.model import Detail, HeatmapPanel, PlotPanel, TablePanel
from redundancy.tui.nodes import NodeRef, node_kind
from redundancy.tui.source import Listing
from redundancy.tui.text import clean_detail
from redundancy.tui.widgets import CurvePlot, Heatmap, fill_table, legend

MAX_LEGEND = 12


class DetailPane(Vertical):
    """The selection's detail: a View tab (table, note, caption, plot or preview, legend) and a Provenance tab."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: Detail | None = None  # what is on show
        self.ref: NodeRef | None = None  # the node asked for last (its detail may still be loading)
        self.panel_index = 0
        self.log_y = False  # loss axes on a log scale
        self.all_rows = False  # a comparison shows every row, not only those that differ

    def compose(self) -> ComposeResult:
        yield Static(Text("reading stores…"), id="title")
        with TabbedContent(initial="view", id="tabs"):
            with TabPane("View", id="view"):
                yield DataTable(id="table", zebra_stripes=True, cursor_type="row")
                yield Static(Text(""), id="note")
                yield Static(Text(""), id="caption")
                with ContentSwitcher(initial="message", id="area"):
                    yield CurvePlot(id="plot")
                    yield Heatmap(id="heatmap")
                    yield DataTable(id="values", zebra_stripes=True)
                    yield Static(Text(""), id="message")
                yield Static(Text(""), id="legend")
            with TabPane("Provenance", id="provenance"):
                with VerticalScroll(id="provenance-scroll"):
                    yield Static(Text(""), id="facts")
                    yield Static(Text(""), id="spec")

    # --- loading (worker thread) and showing (UI thread) ---------------------------------------------------
    def load(self, ref: NodeRef, listings: dict[Path, Listing], items: list[Item], *, keep_panel: bool) -> None:
        """Read ``ref``'s detail from ``listings`` (``items``: the marked runs or studies, for a comparison)."""
        self.ref = ref
        self._detail_worker(ref, listings, items, self.all_rows, keep_panel)

    @work(thread=True, exclusive=True, group="detail")
    def _detail_worker(self, ref: NodeRef, listings: dict[Path, Listing], items: list[Item], all_rows: bool, keep_panel: bool) -> None:
        detail = build_detail(ref, listings, items, all_rows=all_rows)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._loaded, detail, keep_panel)

    def _loaded(self, detail: Detail, keep_panel: bool) -> None:
        if self.is_attached:  # the app may have closed while the detail was read
            self.show_detail(detail, keep_panel)

    def show_detail(self, detail: Detail, keep_panel: bool = False) -> None:
        detail = clean_detail(detail)
        same = self.detail is not None and self.detail.key == detail.key
        self.detail = detail
        if not (keep_panel and same):
            self.panel_index = 0
        self.panel_index = min(self.panel_index, max(0, len(detail.panels) - 1))
        self.query_one("#title", Static).update(Text(detail.title, style="bold"))
        table = self.query_one("#table", DataTable)
        fill_table(table, detail.table)
        table.set_class(detail.table is None, "-empty")
        self.draw_panel()
        self._draw_provenance()

    def draw_panel(self) -> None:
        detail = self.detail
        if detail is None:
            return
        area = self.query_one("#area", ContentSwitcher)
        caption = self.query_one("#caption", Static)
        note = self.query_one("#note", Static)
        notes = [t for t in (detail.table.caption if detail.table else "", detail.message if detail.panels else "") if t]
        note.update(Text("\n".join(notes), style="dim"))
        note.set_class(not notes, "-empty")
        legend_widget = self.query_one("#legend", Static)
        legend_widget.update(Text(""))
        legend_widget.display = False
        if not detail.panels:
            caption.display = False
            self.query_one("#message", Static).update(Text(detail.message))
            area.current = "message"
            return
        caption.display = True
        panel = detail.panels[self.panel_index]
        head = Text(f"‹ {self.panel_index + 1}/{len(detail.panels)} › ", style="bold") if len(detail.panels) > 1 else Text("")
        head.append(panel.title)
        caption.update(head)
        if isinstance(panel, PlotPanel):
            self.query_one("#plot", CurvePlot).show_panel(panel, logy=self.log_y)
            area.current = "plot"
            legend_widget.update(legend(panel))
            # Past a handful of series (unit trajectories) a legend is noise; the caption says what they are.
            legend_widget.display = 0 < len(panel.series) <= MAX_LEGEND and not panel.bars
        elif isinstance(panel, HeatmapPanel):
            self.query_one("#heatmap", Heatmap).show_matrix(panel.matrix)
            area.current = "heatmap"
        elif isinstance(panel, TablePanel):
            fill_table(self.query_one("#values", DataTable), panel.table)
            area.current = "values"

    def _draw_provenance(self) -> None:
        detail = self.detail
        facts = self.query_one("#facts", Static)
        spec = self.query_one("#spec", Static)
        if detail is None or detail.provenance is None:
            facts.update(Text("no provenance for this node", style="dim"))
            spec.update(Text(""))
            return
        table = RichTable(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1, overflow="fold")
        for key, value in detail.provenance.facts:
            table.add_row(Text(key), Text(value))
        facts.update(table)
        if detail.provenance.text:
            theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
            spec.update(Syntax(detail.provenance.text, "yaml", theme=theme, word_wrap=True, background_color="default"))
        else:
            spec.update(Text(""))

    # --- what the app asks of the pane -----------------------------------------------------------------
    def toggle_zoom(self) -> None:
        """Hide the summary table so the plot gets the whole pane (useful at 80 × 24), or show it again."""
        self.query_one("#view", TabPane).toggle_class("-zoom")

    def show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    def step_panel(self, step: int) -> None:
        """Show the next (``step`` 1) or previous (-1) panel, on the View tab."""
        if self.detail is None or not self.detail.panels:
            return
        self.panel_index = (self.panel_index + step) % len(self.detail.panels)
        self.show_tab("view")
        self.draw_panel()

    def toggle_log_y(self) -> bool:
        """Draw loss axes on a log scale, or back on a linear one; returns whether they are on a log scale."""
        self.log_y = not self.log_y
        self.draw_panel()
        return self.log_y

    def toggle_all_rows(self) -> bool:
        """In a comparison, switch between the rows that differ and every row; False when no comparison is on show."""
        if self.ref is None or self.ref.kind != "compare":
            return False
        self.all_rows = not self.all_rows
        return True


def build_detail(ref: NodeRef, listings: dict[Path, Listing], items: list[Item], *, all_rows: bool = False) -> Detail:
    """The detail for one node, read in a worker thread from the current listings (its kind says what to read)."""
    return node_kind(ref.kind).detail(ref, listings, items, all_rows)
