"""The ``redundancy tui`` application: a tree of stores on the left, the selection on the right.

Threads and messages: listing stores, reading attributes and reading datasets
all happen in worker threads, and their results come back to the UI thread as
plain data (``details.Detail``, ``source.Listing``). A poll timer checks the
stores' file stamps (``stat`` only) every ``poll`` seconds; at most one rescan
runs at a time and it re-lists only the stores whose stamps changed, so a burst
of stage files written by a run becomes one tree update. Stage files and
``index.h5`` are replaced atomically by the writer, so a reader sees a whole
file or none; a file that still cannot be read becomes an error node.

The app is assembled from its screen areas: the tree (:mod:`.tree`), the
detail pane (:mod:`.pane`), search (:mod:`.search`) and marks with compare
(:mod:`.compare`); this module holds the layout, the bindings, scanning and
the status line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual.widgets.tree import TreeNode

from redundancy.tui import source
from redundancy.tui.compare import Marking
from redundancy.tui.export import default_export_dir
from redundancy.tui.model import Detail
from redundancy.tui.pane import DetailPane
from redundancy.tui.search import Search
from redundancy.tui.source import Listing, Source
from redundancy.tui.text import safe_text
from redundancy.tui.tree import NodeRef, StoreTree, TreeSync
from redundancy.tui.widgets import CurvePlot, Heatmap, HelpScreen

DEFAULT_POLL_SECONDS = 1.0
MIN_TREE = 12  # columns the tree keeps when narrowed
MIN_PANE = 30  # columns the detail pane keeps when the tree is widened


class Rescanned(Message):
    """A rescan's result: the sources now named, and fresh listings of the stores that changed."""

    def __init__(self, sources: list[Source], listings: dict[Path, Listing], forced: bool) -> None:
        super().__init__()
        self.sources = sources
        self.listings = listings
        self.forced = forced


class RedundancyApp(TreeSync, DetailPane, Search, Marking, App[None]):
    """Browse stores: tree, summary tables, plots, dataset previews, provenance, compare."""

    CSS_PATH = "redundancy.tcss"
    TITLE = "redundancy"
    # The help screen is made from these (and the tree's): ``tooltip`` says what a key does.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="quit"),
        Binding("question_mark", "help", "Help", id="help", tooltip="this help"),
        Binding("slash", "search", "Search", id="search", tooltip="search names and spec values; n / N jump to the next / previous match"),
        Binding("c", "compare", "Compare", id="compare",
                tooltip="compare the marked runs, or marked studies of one kind: differing spec fields and summaries side by side, curves overlaid"),
        Binding("a", "compare_all", "All rows", show=False, id="compare.all", tooltip="in a comparison: every row, or only the rows that differ"),
        Binding("e", "export", "Export", id="export", tooltip="export the table and the shown plot to CSV in the export folder (the paths are shown)"),
        Binding("left_square_bracket", "panel(-1)", "Prev plot", show=False, id="panel.previous", tooltip="previous plot (or preview: heatmap, values, histogram)"),
        Binding("right_square_bracket", "panel(1)", "Plot", key_display="[ ]", id="panel.next", tooltip="next plot (or preview)"),
        Binding("p", "tab('provenance')", "Prov.", id="tab.provenance", tooltip="Provenance tab: spec, hashes, versions, device, data"),
        Binding("v", "tab('view')", "View", show=False, id="tab.view", tooltip="View tab: table and plot"),
        Binding("z", "zoom", "Zoom plot", show=False, id="zoom", tooltip="zoom: hide the table so the plot gets the whole pane, and back"),
        Binding("l", "log_y", "Log loss", show=False, id="plot.log", tooltip="loss axes on a log scale, and back"),
        Binding("less_than_sign", "tree_width(-4)", "Narrow tree", show=False, id="tree.narrower", key_display="<", tooltip="narrow the tree by 4 columns"),
        Binding("greater_than_sign", "tree_width(4)", "Widen tree", show=False, id="tree.wider", key_display=">", tooltip="widen the tree by 4 columns"),
        Binding("n", "next_match(1)", "Next match", show=False, id="search.next", tooltip="next search match"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="search.previous", tooltip="previous search match"),
        Binding("r", "rescan", "Refresh", show=False, id="refresh", tooltip="re-read the stores now (they are also polled while the app runs)"),
        Binding("escape", "close_search", "Close search", show=False, id="search.close", tooltip="close the search box"),
    ]

    def __init__(self, paths: Sequence[Path | str], *, poll: float = DEFAULT_POLL_SECONDS, export_dir: Path | None = None) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.poll = poll
        self.export_dir = export_dir if export_dir is not None else default_export_dir()
        self.compare_all = False
        self.sources: list[Source] = []
        self.listings: dict[Path, Listing] = {}
        self.nodes: dict[str, TreeNode[NodeRef]] = {}
        self.marked: list[str] = []
        self.detail: Detail | None = None
        self.detail_ref: NodeRef | None = None
        self.panel_index = 0
        self.matches: list[str] = []
        self.match_index = -1
        self.status_text = Text("")
        self.status_is_summary = False  # the status line shows the store counts, kept current by each scan
        self.log_y = False
        self.scanning = False
        self.loaded = False

    # --- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            tree = StoreTree(Text("stores"), id="tree")
            tree.show_root = False
            tree.guide_depth = 2
            yield tree
            with Vertical(id="detail"):
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
        yield Input(placeholder="search names and spec values (enter: go, escape: close)", id="search")
        yield Static(Text(""), id="status")
        yield Footer()

    def _mounted(self) -> bool:
        """False once the app tears its screen down: a worker that finishes during shutdown
        (a poll's scan, a detail or a search) has nothing left to draw into."""
        return self.is_running and bool(self.query(StoreTree))

    def on_mount(self) -> None:
        self.query_one(StoreTree).focus()
        self.scan(forced=True)
        if self.poll > 0:
            self.set_interval(self.poll, self._poll_tick)

    # --- scanning (worker thread) and applying (UI thread) ------------------------------------------
    def _poll_tick(self) -> None:
        if not self.scanning:
            self.scan(forced=False)

    def scan(self, *, forced: bool) -> None:
        self.scanning = True
        known = {root: listing.fingerprint for root, listing in self.listings.items()}
        self._scan_worker(known, forced)

    @work(thread=True, group="scan")
    def _scan_worker(self, known: dict[Path, tuple[Any, ...]], forced: bool) -> None:
        sources = source.discover(self.paths)
        fresh: dict[Path, Listing] = {}
        for src in sources:
            if src.kind != "store":
                continue
            if forced or src.path not in known or source.fingerprint(src.path) != known[src.path]:
                fresh[src.path] = source.list_store(src.path)
        self.post_message(Rescanned(sources, fresh, forced))

    def on_rescanned(self, message: Rescanned) -> None:
        if not self._mounted():
            self.scanning = False
            return
        try:
            changed = self._apply_scan(message.sources, message.listings)
        finally:
            self.scanning = False
        first = not self.loaded
        self.loaded = True
        tree = self.query_one(StoreTree)
        if first or self.status_is_summary:  # live while a run writes: a store appears, stages finish
            self.set_status(self._summary_status(), summary=True)
        if first:
            tree.cursor_line = 0
        elif self.detail_ref is not None and self.detail_ref.kind != "compare" and self.detail_ref.key not in self.nodes:
            # The node on show is gone (a problem path that became a store, a removed stage):
            # show whatever the cursor is on once the tree has its new lines.
            self.call_after_refresh(self._show_cursor)
        elif self.detail_ref is not None and (message.forced or self._affected(self.detail_ref, changed)):
            self._load(self.detail_ref, keep_panel=True)

    def _show_cursor(self) -> None:
        if not self._mounted():
            return
        node = self.query_one(StoreTree).cursor_node
        if node is not None:
            self._show(node)

    def _affected(self, ref: NodeRef, changed: set[Path]) -> bool:
        return ref.root in changed or (ref.kind == "compare" and bool(changed))

    # --- actions ------------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen([*StoreTree.BINDINGS, *self.BINDINGS]))

    def action_tree_width(self, step: int) -> None:
        """Widen or narrow the tree, leaving the pane at least :data:`MIN_PANE` columns."""
        tree = self.query_one(StoreTree)
        width = max(MIN_TREE, min(tree.outer_size.width + step, self.size.width - MIN_PANE))
        tree.styles.min_width = MIN_TREE
        tree.styles.max_width = width  # the stylesheet's bounds give way to the chosen width
        tree.styles.width = width
        self.set_status(Text(f"tree: {width} columns (< narrower, > wider)"))

    def action_log_y(self) -> None:
        """Draw loss axes on a log scale, or back on a linear one."""
        self.log_y = not self.log_y
        self.set_status(Text(f"loss axes: {'log' if self.log_y else 'linear'} scale (l toggles)"))
        self._draw_panel()

    def action_rescan(self) -> None:
        if not self.scanning:
            self.scan(forced=True)
            self.set_status(Text("re-reading stores…"))

    # --- status line -----------------------------------------------------------------------------------
    def set_status(self, text: Text, *, summary: bool = False) -> None:
        self.status_is_summary = summary
        self.status_text = safe_text(text)
        self.query_one("#status", Static).update(self.status_text)

    def _summary_status(self) -> Text:
        n = sum(1 for s in self.sources if s.kind == "store")
        bad = sum(1 for s in self.sources if s.kind == "problem")
        text = Text(f"{n} store{'s' * (n != 1)}")
        counts = [listing.counts() for listing in self.listings.values()]
        runs, studies, running = (sum(c.get(k, 0) for c in counts) for k in ("runs", "studies", "pending"))
        if n:
            text.append(f" · {runs} run{'s' * (runs != 1)}, {studies} stud{'ies' if studies != 1 else 'y'} done")
        if running:
            text.append(f" · {running} pending")
        if bad:
            text.append(f" · {bad} path{'s' * (bad != 1)} without a store", style="red")
        if self.poll > 0:
            text.append(f" · polled every {self.poll:g} s")
        text.append(" · ? for help")
        return text


def run_tui(paths: Sequence[Path | str], *, poll: float = DEFAULT_POLL_SECONDS, export_dir: Path | None = None) -> None:
    RedundancyApp(paths, poll=poll, export_dir=export_dir).run()
