"""The right-hand pane: a node's detail (title, table, plot panels, provenance), loaded off the UI thread.

:func:`build_detail` picks what to read for a node; :class:`DetailPane` runs it
in a worker, cleans the result's text for the terminal and draws it: the table
(first and headline columns frozen), the current panel with its legend, the
provenance tab. Export writes what is shown to CSV in the export folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.table import Table as RichTable
from rich.text import Text
from textual import work
from textual.widgets import ContentSwitcher, DataTable, Static, TabbedContent, TabPane
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from redundancy.present.text import clean
from redundancy.tui import compare
from redundancy.tui.export import export_detail
from redundancy.tui.model import Detail, HeatmapPanel, PlotPanel, TablePanel
from redundancy.tui.nodes import node_kind
from redundancy.tui.source import Listing
from redundancy.tui.text import clean_detail
from redundancy.tui.tree import NodeRef, StoreTree
from redundancy.tui.widgets import CurvePlot, Heatmap, fill_table, legend

MAX_LEGEND = 12


class DetailPane:
    """Loading and drawing the detail of the node under the cursor (a part of :class:`redundancy.tui.app.RedundancyApp`)."""

    detail: Detail | None
    detail_ref: NodeRef | None
    panel_index: int
    listings: dict[Path, Listing]
    export_dir: Path
    compare_all: bool
    log_y: bool = False
    query_one: Any

    # --- the right-hand pane ---------------------------------------------------------------------------
    def on_tree_node_highlighted(self, event: StoreTree.NodeHighlighted[NodeRef]) -> None:
        self._show(event.node)

    def _show(self, node: TreeNode[NodeRef]) -> None:
        if node.data is not None:
            self._load(node.data, keep_panel=False)

    def _load(self, ref: NodeRef, *, keep_panel: bool) -> None:
        self.detail_ref = ref
        self._detail_worker(ref, dict(self.listings), keep_panel)

    @work(thread=True, exclusive=True, group="detail")
    def _detail_worker(self, ref: NodeRef, listings: dict[Path, Listing], keep_panel: bool) -> None:
        detail = build_detail(ref, listings, self.marked_items(ref, listings), all_rows=self.compare_all)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.show_detail, detail, keep_panel)

    def show_detail(self, detail: Detail, keep_panel: bool = False) -> None:
        if not self._mounted():
            return
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
        self._draw_panel()
        self._draw_provenance()

    def _draw_panel(self) -> None:
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
            theme = "ansi_dark" if self.current_theme.dark else "ansi_light"
            spec.update(Syntax(detail.provenance.text, "yaml", theme=theme, word_wrap=True, background_color="default"))
        else:
            spec.update(Text(""))

    def action_zoom(self) -> None:
        """Hide the summary table so the plot gets the whole pane (useful at 80 × 24)."""
        self.query_one("#view", TabPane).toggle_class("-zoom")

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    def action_panel(self, step: int) -> None:
        if self.detail is None or not self.detail.panels:
            return
        self.panel_index = (self.panel_index + step) % len(self.detail.panels)
        self.query_one("#tabs", TabbedContent).active = "view"
        self._draw_panel()

    def action_export(self) -> None:
        """Write the table and the shown panel to CSV in the export folder; the paths are shown whole."""
        if self.detail is None:
            return
        panel = self.panel_index if self.detail.panels else None
        try:
            written = export_detail(self.detail, panel, self.export_dir)
        except OSError as exc:
            self.set_status(Text(clean(f"export failed: {exc}", one_line=True)))
            return
        if not written:
            self.set_status(Text("nothing to export here"))
            return
        # The folder once, then the file names: the status line wraps rather than cutting the last name.
        self.set_status(Text(clean(f"exported to {written[0].parent}: " + ", ".join(p.name for p in written), one_line=True)))
        self.notify("\n".join(clean(p) for p in written), title="CSV written", markup=False, timeout=10)


def build_detail(ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], *, all_rows: bool = False) -> Detail:
    """The detail for one node, read in a worker thread from the current listings (its kind says what to read)."""
    return node_kind(ref.kind).detail(ref, listings, items, all_rows)
