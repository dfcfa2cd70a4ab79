"""The ``redundancy tui`` application: a tree of stores on the left, the selection on the right.

Threads and messages: listing stores, reading attributes and reading datasets
all happen in worker threads, and their results come back to the UI thread as
plain data (``details.Detail``, ``source.Listing``). A poll timer checks the
stores' file stamps (``stat`` only) every ``poll`` seconds; at most one rescan
runs at a time and it re-lists only the stores whose stamps changed, so a burst
of stage files written by a run becomes one tree update. Stage files and
``index.h5`` are replaced atomically by the writer, so a reader sees a whole
file or none; a file that still cannot be read becomes an error node.

Each screen area is a widget that owns its state: the tree (:mod:`.tree`:
listings, nodes, marks), the detail pane (:mod:`.pane`: what is on show), the
search box (:mod:`.search`: the matches) and the status line (:mod:`.status`).
They post messages up (the cursor moved, the marks changed, a search is done)
and the app, which holds the layout, the bindings and scanning, answers by
calling down: it passes each area what it needs from another.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer
from textual.widgets.tree import TreeNode

from redundancy.present.text import clean
from redundancy.tui import source
from redundancy.tui.export import default_export_dir, export_detail
from redundancy.tui.model import Detail
from redundancy.tui.pane import DetailPane
from redundancy.tui.search import SearchBox
from redundancy.tui.source import Listing, Source
from redundancy.tui.status import StatusLine, summary
from redundancy.tui.tree import NodeRef, StoreTree
from redundancy.tui.widgets import HelpScreen

DEFAULT_POLL_SECONDS = 1.0
MIN_PANE = 30  # columns the detail pane keeps when the tree is widened


class Rescanned(Message):
    """A rescan's result: the sources now named, and fresh listings of the stores that changed."""

    def __init__(self, sources: list[Source], listings: dict[Path, Listing], forced: bool) -> None:
        super().__init__()
        self.sources = sources
        self.listings = listings
        self.forced = forced


class RedundancyApp(App[None]):
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
        self.scanning = False
        self.loaded = False

    # --- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield StoreTree(Text("stores"), id="tree")
            yield DetailPane(id="detail")
        yield SearchBox(placeholder="search names and spec values (enter: go, escape: close)", id="search")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def store_tree(self) -> StoreTree:
        return self.query_one(StoreTree)

    @property
    def detail_pane(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def search_box(self) -> SearchBox:
        return self.query_one(SearchBox)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one(StatusLine)

    def set_status(self, text: Text, *, summary: bool = False) -> None:
        self.status_line.say(text, summary=summary)

    def _mounted(self) -> bool:
        """False once the app tears its screen down: a worker that finishes during shutdown
        (a poll's scan, a detail or a search) has nothing left to draw into."""
        return self.is_running and bool(self.query(StoreTree))

    def on_mount(self) -> None:
        self.store_tree.focus()
        self.scan(forced=True)
        if self.poll > 0:
            self.set_interval(self.poll, self._poll_tick)

    # --- each area's state, as callers and tests read it --------------------------------------------------
    @property
    def nodes(self) -> dict[str, TreeNode[NodeRef]]:
        return self.store_tree.nodes

    @property
    def listings(self) -> dict[Path, Listing]:
        return self.store_tree.listings

    @property
    def detail(self) -> Detail | None:
        return self.detail_pane.detail

    @property
    def panel_index(self) -> int:
        return self.detail_pane.panel_index

    @property
    def status_text(self) -> Text:
        return self.status_line.text

    def _reveal(self, key: str) -> None:
        self.store_tree.reveal(key)

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
        tree, status, ref = self.store_tree, self.status_line, self.detail_pane.ref
        try:
            changed = tree.apply_scan(message.sources, message.listings)
        finally:
            self.scanning = False
        first = not self.loaded
        self.loaded = True
        if first or status.is_summary:  # live while a run writes: a store appears, stages finish
            self.set_status(summary(tree.sources, tree.listings, self.poll), summary=True)
        if first:
            tree.cursor_line = 0
        elif ref is not None and ref.kind != "compare" and ref.key not in tree.nodes:
            # The node on show is gone (a problem path that became a store, a removed stage):
            # show whatever the cursor is on once the tree has its new lines.
            self.call_after_refresh(self._show_cursor)
        elif ref is not None and (message.forced or ref.root in changed or (ref.kind == "compare" and bool(changed))):
            self._load(ref, keep_panel=True)

    def _show_cursor(self) -> None:
        if not self._mounted():
            return
        node = self.store_tree.cursor_node
        if node is not None and node.data is not None:
            self._load(node.data, keep_panel=False)

    # --- the pane shows what the tree's cursor is on, or the comparison of the marks -----------------------
    def on_tree_node_highlighted(self, event: StoreTree.NodeHighlighted[NodeRef]) -> None:
        if event.node.data is not None:
            self._load(event.node.data, keep_panel=False)

    def _load(self, ref: NodeRef, *, keep_panel: bool) -> None:
        items = self.store_tree.marked_items() if ref.kind == "compare" else []
        self.detail_pane.load(ref, dict(self.listings), items, keep_panel=keep_panel)

    def show_detail(self, detail: Detail, keep_panel: bool = False) -> None:
        """Show ``detail`` in the pane, unless the app has closed."""
        if self._mounted():
            self.detail_pane.show_detail(detail, keep_panel)

    def on_store_tree_marks_changed(self, message: StoreTree.MarksChanged) -> None:
        self.set_status(Text(f"{len(message.marked)} marked; c compares them"))

    def on_store_tree_not_markable(self, message: StoreTree.NotMarkable) -> None:
        self.set_status(Text("only runs and studies can be marked for comparison"))

    def action_compare(self) -> None:
        self.detail_pane.show_tab("view")
        self._load(NodeRef("compare", "compare"), keep_panel=False)

    def action_compare_all(self) -> None:
        """In a comparison, switch between the rows that differ and every row."""
        pane = self.detail_pane
        if pane.toggle_all_rows() and pane.ref is not None:
            self._load(pane.ref, keep_panel=True)

    # --- search -------------------------------------------------------------------------------------------
    def action_search(self) -> None:
        self.search_box.open()

    def action_close_search(self) -> None:
        if self.search_box.close():
            self.store_tree.focus()

    def on_search_box_asked(self, message: SearchBox.Asked) -> None:
        self.action_close_search()
        if message.words:
            self.set_status(Text(f"searching for {message.words!r}…"))
            self.search_box.search(message.words, dict(self.listings), self.store_tree.member_texts())

    def on_search_box_found(self, message: SearchBox.Found) -> None:
        self._found(message.words, message.found)

    def _found(self, words: str, found: list[str]) -> None:
        if not self._mounted():
            return
        if not found:
            self.set_status(Text(f"no match for {words!r}"))
            return
        self.action_next_match(1)
        self.set_status(Text(f"{len(found)} match{'es' * (len(found) != 1)} for {words!r} · n / N: next / previous"))

    def action_next_match(self, step: int) -> None:
        key = self.search_box.step(step)
        if key is not None:
            self.store_tree.go_to(key)

    # --- the pane's keys ----------------------------------------------------------------------------------
    def action_panel(self, step: int) -> None:
        self.detail_pane.step_panel(step)

    def action_tab(self, tab: str) -> None:
        self.detail_pane.show_tab(tab)

    def action_zoom(self) -> None:
        """Hide the summary table so the plot gets the whole pane (useful at 80 × 24)."""
        self.detail_pane.toggle_zoom()

    def action_log_y(self) -> None:
        """Draw loss axes on a log scale, or back on a linear one."""
        log_y = self.detail_pane.toggle_log_y()
        self.set_status(Text(f"loss axes: {'log' if log_y else 'linear'} scale (l toggles)"))

    def action_export(self) -> None:
        """Write the table and the shown panel to CSV in the export folder; the paths are shown whole."""
        pane = self.detail_pane
        if pane.detail is None:
            return
        try:
            written = export_detail(pane.detail, pane.panel_index if pane.detail.panels else None, self.export_dir)
        except OSError as exc:
            self.set_status(Text(clean(f"export failed: {exc}", one_line=True)))
            return
        if not written:
            self.set_status(Text("nothing to export here"))
            return
        # The folder once, then the file names: the status line wraps rather than cutting the last name.
        self.set_status(Text(clean(f"exported to {written[0].parent}: " + ", ".join(p.name for p in written), one_line=True)))
        self.notify("\n".join(clean(p) for p in written), title="CSV written", markup=False, timeout=10)

    # --- the app's own keys ---------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen([*StoreTree.BINDINGS, *self.BINDINGS]))

    def action_tree_width(self, step: int) -> None:
        """Widen or narrow the tree, leaving the pane at least :data:`MIN_PANE` columns."""
        width = self.store_tree.resize(step, self.size.width - MIN_PANE)
        self.set_status(Text(f"tree: {width} columns (< narrower, > wider)"))

    def action_rescan(self) -> None:
        if not self.scanning:
            self.scan(forced=True)
            self.set_status(Text("re-reading stores…"))


def run_tui(paths: Sequence[Path | str], *, poll: float = DEFAULT_POLL_SECONDS, export_dir: Path | None = None) -> None:
    RedundancyApp(paths, poll=poll, export_dir=export_dir).run()
