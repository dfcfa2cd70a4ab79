"""The ``redundancy tui`` application: a tree of stores on the left, the selection on the right.

Threads and messages: listing stores, reading attributes and reading datasets
all happen in worker threads, and their results come back to the UI thread as
plain data (``details.Detail``, ``source.Listing``). A poll timer checks the
stores' file stamps (``stat`` only) every ``poll`` seconds; at most one rescan
runs at a time and it re-lists only the stores whose stamps changed, so a burst
of stage files written by a run becomes one tree update. Stage files and
``index.h5`` are replaced atomically by the writer, so a reader sees a whole
file or none; a file that still cannot be read becomes an error node.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.table import Table as RichTable
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from redundancy.present.text import clean
from redundancy.tui import details, source
from redundancy.tui.export import export_detail
from redundancy.tui.model import Detail, HeatmapPanel, PlotPanel, TablePanel
from redundancy.tui.source import Listing, Source
from redundancy.tui.text import clean_detail, safe_text
from redundancy.tui.widgets import CurvePlot, Heatmap, HelpScreen, NodeRef, StoreTree, fill_table, legend

DEFAULT_POLL_SECONDS = 1.0
MAX_LEGEND = 12


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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("slash", "search", "Search", id="search"),
        Binding("c", "compare", "Compare", id="compare"),
        Binding("e", "export", "Export", id="export"),
        Binding("left_square_bracket", "panel(-1)", "Prev plot", show=False, id="panel.previous"),
        Binding("right_square_bracket", "panel(1)", "Plot", key_display="[ ]", id="panel.next"),
        Binding("p", "tab('provenance')", "Prov.", id="tab.provenance"),
        Binding("v", "tab('view')", "View", show=False, id="tab.view"),
        Binding("z", "zoom", "Zoom plot", show=False, id="zoom"),
        Binding("n", "next_match(1)", "Next match", show=False, id="search.next"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="search.previous"),
        Binding("r", "rescan", "Refresh", show=False, id="refresh"),
        Binding("escape", "close_search", "Close search", show=False, id="search.close"),
    ]

    def __init__(self, paths: Sequence[Path | str], *, poll: float = DEFAULT_POLL_SECONDS) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.poll = poll
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
        if first:
            tree.cursor_line = 0
            self.set_status(self._summary_status())
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

    def _apply_scan(self, sources: list[Source], fresh: dict[Path, Listing]) -> set[Path]:
        tree = self.query_one(StoreTree)
        self.sources = sources
        roots = {s.path for s in sources if s.kind == "store"}
        for root in list(self.listings):
            if root not in roots:
                del self.listings[root]
        self.listings.update(fresh)
        desired: list[tuple[str, NodeRef, Text, bool]] = []
        for src in sources:
            if src.kind == "store":
                listing = self.listings[src.path]
                key = details.store_key(src.path)
                desired.append((key, NodeRef("store", key, root=src.path), self._store_label(listing), True))
            elif src.kind == "file":
                key = details.h5_key(src.path, "/")
                ref = NodeRef("file", key, path=src.path, name="/")
                desired.append((key, ref, Text(f"≡ {src.path.name}"), True))
            else:
                key = f"problem:{src.path}"
                ref = NodeRef("problem", key, path=src.path, reason=src.reason)
                desired.append((key, ref, self._problem_label(str(src.path), src.reason), False))
        created = self._sync(tree.root, desired)
        for root in fresh:
            node = self.nodes.get(details.store_key(root))
            if node is not None:
                self._sync(node, self._store_children(self.listings[root]))
                if node in created:
                    node.expand()
        return set(fresh)

    def _store_children(self, listing: Listing) -> list[tuple[str, NodeRef, Text, bool]]:
        root = listing.root
        out: list[tuple[str, NodeRef, Text, bool]] = []
        for group in listing.runs:
            key = details.run_key(root, group.label)
            out.append((key, NodeRef("run", key, root=root, label=group.label), self._run_label(group), True))
        for problem in listing.problems:
            key = f"problem:{problem.path}"
            ref = NodeRef("problem", key, root=root, path=problem.path, reason=problem.reason)
            out.append((key, ref, self._problem_label(problem.path.name, problem.reason), False))
        return out

    def _run_children(self, listing: Listing, label: str) -> list[tuple[str, NodeRef, Text, bool]]:
        group = listing.group(label)
        if group is None:
            return []
        root = listing.root
        out: list[tuple[str, NodeRef, Text, bool]] = []
        for entry in group.studies:
            key = details.stage_key(root, entry.id)
            ref = NodeRef("study", key, root=root, label=group.label, stage_id=entry.id, path=entry.path, mtime_ns=entry.mtime_ns)
            out.append((key, ref, self._study_label(entry), entry.status == "done"))
        train = group.train
        if train is not None and train.status == "done" and train.path is not None:
            key = details.h5_key(train.path, "/")
            ref = NodeRef("group", key, root=root, path=train.path, name="/", mtime_ns=train.mtime_ns)
            out.append((key, ref, Text("≡ datasets ") + Text(train.id, style="dim"), True))
        elif train is not None and train.status == "unreadable":
            key = f"problem:{train.path}"
            name = train.path.name if train.path else train.id
            out.append((key, NodeRef("problem", key, root=root, path=train.path, reason=train.error), self._problem_label(name, train.error), False))
        return out

    def _sync(self, parent: TreeNode[NodeRef], desired: list[tuple[str, NodeRef, Text, bool]]) -> list[TreeNode[NodeRef]]:
        """Make ``parent``'s children match ``desired`` in place, keeping expansion and the cursor;
        returns the nodes it created."""
        created: list[TreeNode[NodeRef]] = []
        keep = {key for key, *_ in desired}
        for child in list(parent.children):
            if child.data is None or child.data.key not in keep:
                self._forget(child)
                child.remove()
        for position, (key, ref, label, expandable) in enumerate(desired):
            node = self.nodes.get(key)
            if node is not None and node.parent is parent:
                old = node.data
                stale = old is not None and (old.mtime_ns != ref.mtime_ns or old.path != ref.path)
                ref.loaded = bool(old and old.loaded and not stale)
                node.data = ref
                node.set_label(self._marked_label(key, label))
                node.allow_expand = expandable
                if stale:
                    for child in list(node.children):
                        self._forget(child)
                    node.remove_children()
                    if node.is_expanded:
                        self._expand_lazy(node)
                ref.title = label
                if ref.kind == "run" and node.children and ref.root in self.listings:
                    self._sync(node, self._run_children(self.listings[ref.root], ref.label))
                continue
            ref.title = label
            node = parent.add(self._marked_label(key, label), ref, before=position if position < len(parent.children) else None, allow_expand=expandable)
            self.nodes[key] = node
            created.append(node)
        return created

    def _forget(self, node: TreeNode[NodeRef]) -> None:
        for child in node.children:
            self._forget(child)
        if node.data is not None and self.nodes.get(node.data.key) is node:
            del self.nodes[node.data.key]

    # --- labels: Text only, so store contents are never read as markup -------------------------------
    def _marked_label(self, key: str, label: Text) -> Text:
        if key in self.marked:
            return Text("● ", style="bold") + safe_text(label)
        return safe_text(label)

    def _store_label(self, listing: Listing) -> Text:
        c = listing.counts()
        text = Text(listing.name, style="bold")
        text.append(f"  {c['runs']} run{'s' * (c['runs'] != 1)} · {c['studies']} stud{'ies' if c['studies'] != 1 else 'y'}", style="dim")
        if c["pending"]:
            text.append(f" · {c['pending']} pending", style="dim")
        if c["failed"] or c["errors"]:
            text.append(f" · {c['failed'] + c['errors']} bad", style="red")
        return text

    def _run_label(self, group: source.RunGroup) -> Text:
        text = Text(group.label)
        if group.train is None:
            text.append("  no train stage", style="dim")
        elif group.train.status != "done":
            text.append(f"  {group.train.status}", style="red" if group.train.status in ("failed", "unreadable") else "dim")
        elif group.train.record is not None and group.train.record.stale:
            text.append("  stale", style="dim italic")
        return text

    def _study_label(self, entry: source.StageEntry) -> Text:
        text = Text(entry.name)
        if entry.study_kind and entry.study_kind != entry.name:
            text.append(f"  {entry.study_kind}", style="dim")
        if entry.status != "done":
            text.append(f"  {entry.status}", style="red" if entry.status in ("failed", "unreadable") else "dim italic")
        elif entry.record is not None and entry.record.stale:
            text.append("  stale", style="dim italic")
        return text

    def _problem_label(self, name: str, reason: str) -> Text:
        return Text("⚠ ", style="red") + Text(name) + Text(f": {reason}", style="red")

    # --- lazy HDF5 children --------------------------------------------------------------------------
    def on_tree_node_expanded(self, event: StoreTree.NodeExpanded[NodeRef]) -> None:
        node = event.node
        ref = node.data
        if ref is None:
            return
        if ref.kind == "run" and ref.root in self.listings and not node.children:
            self._sync(node, self._run_children(self.listings[ref.root], ref.label))
        elif ref.kind in ("study", "group", "file") and not ref.loaded:
            self._expand_lazy(node)

    def _expand_lazy(self, node: TreeNode[NodeRef]) -> None:
        """List an HDF5 group's members (metadata only) under its node."""
        ref = node.data
        if ref is None or ref.path is None:
            return
        ref.loaded = True
        try:
            members = source.list_group(ref.path, ref.name, ref.root)
        except source.SourceError as exc:
            key = f"problem:{ref.path}:{ref.name}"
            child = node.add_leaf(safe_text(self._problem_label(ref.path.name, str(exc))), NodeRef("problem", key, root=ref.root, path=ref.path, reason=str(exc)))
            self.nodes[key] = child
            return
        for m in members:
            key = details.h5_key(ref.path, m.path)
            if m.is_group:
                label = Text(m.name) + Text(f"/  {m.members}", style="dim")
                child_ref = NodeRef("group", key, root=ref.root, path=ref.path, name=m.path, mtime_ns=ref.mtime_ns)
                child = node.add(safe_text(label), child_ref)
            else:
                shape = "×".join(map(str, m.shape)) or "scalar"
                label = Text(m.name) + Text(f"  {shape} {m.dtype}", style="dim")
                child = node.add_leaf(safe_text(label), NodeRef("dataset", key, root=ref.root, path=ref.path, name=m.path, mtime_ns=ref.mtime_ns))
            self.nodes[key] = child

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
        detail = build_detail(ref, listings, self.marked_items(ref, listings))
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.show_detail, detail, keep_panel)

    def marked_items(self, ref: NodeRef, listings: dict[Path, Listing]) -> list[details.Item]:
        if ref.kind != "compare":
            return []
        items = []
        for key in self.marked:
            node = self.nodes.get(key)
            data = node.data if node is not None else None
            if data is None or data.root not in listings:
                continue
            listing = listings[data.root]
            group = listing.group(data.label)
            if group is None:
                continue
            entry = listing.entry(data.stage_id) if data.kind == "study" else None
            items.append(details.Item(listing, group, entry))
        return items

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
            self.query_one("#plot", CurvePlot).show_panel(panel)
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

    # --- actions ------------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

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

    def action_rescan(self) -> None:
        if not self.scanning:
            self.scan(forced=True)
            self.set_status(Text("re-reading stores…"))

    def on_store_tree_mark_toggled(self, message: StoreTree.MarkToggled) -> None:
        ref = message.node.data
        if ref is None or not ref.markable:
            self.set_status(Text("only runs and studies can be marked for comparison"))
            return
        if ref.key in self.marked:
            self.marked.remove(ref.key)
        else:
            self.marked.append(ref.key)
        message.node.set_label(self._marked_label(ref.key, ref.title or Text(ref.key)))
        self.set_status(Text(f"{len(self.marked)} marked; c compares them"))

    def action_compare(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "view"
        self._load(NodeRef("compare", "compare"), keep_panel=False)

    def action_export(self) -> None:
        if self.detail is None:
            return
        panel = self.panel_index if self.detail.panels else None
        try:
            written = export_detail(self.detail, panel)
        except OSError as exc:
            self.set_status(Text(f"export failed: {exc}"))
            return
        if not written:
            self.set_status(Text("nothing to export here"))
            return
        self.set_status(Text("exported: " + ", ".join(str(p) for p in written)))
        self.notify("\n".join(clean(p) for p in written), title="CSV written", markup=False)

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("-active")
        box.focus()

    def action_close_search(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("-active"):
            box.remove_class("-active")
            self.query_one(StoreTree).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        query = event.value.strip()
        self.action_close_search()
        if query:
            self.set_status(Text(f"searching for {query!r}…"))
            self._search_worker(query, dict(self.listings))

    @work(thread=True, exclusive=True, group="search")
    def _search_worker(self, query: str, listings: dict[Path, Listing]) -> None:
        texts: list[tuple[str, str]] = []
        for listing in listings.values():
            texts += details.search_texts(listing)
        texts += [(key, node.label.plain if isinstance(node.label, Text) else str(node.label)) for key, node in list(self.nodes.items()) if key.startswith("h5:")]
        found = details.matches(texts, query)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._found, query, found)

    def _found(self, query: str, found: list[str]) -> None:
        if not self._mounted():
            return
        self.matches = found
        self.match_index = -1
        if not found:
            self.set_status(Text(f"no match for {query!r}"))
            return
        self.action_next_match(1)
        self.set_status(Text(f"{len(found)} match{'es' * (len(found) != 1)} for {query!r} · n / N: next / previous"))

    def action_next_match(self, step: int) -> None:
        if not self.matches:
            return
        self.match_index = (self.match_index + step) % len(self.matches)
        key = self.matches[self.match_index]
        self._reveal(key)
        node = self.nodes.get(key)
        if node is None:
            return
        tree = self.query_one(StoreTree)
        # Nodes just revealed get their line numbers at the next repaint; move after it.
        tree.call_after_refresh(tree.move_cursor, node)
        tree.focus()

    def _reveal(self, key: str) -> None:
        """Expand the ancestors of a search match, listing a run's studies if needed."""
        if key.startswith("stage:") and key not in self.nodes:
            for listing in self.listings.values():
                for group in listing.runs:
                    if any(details.stage_key(listing.root, e.id) == key for e in group.studies):
                        run = self.nodes.get(details.run_key(listing.root, group.label))
                        if run is not None:
                            run.expand()
                            self._sync(run, self._run_children(listing, group.label))
        node = self.nodes.get(key)
        parent = node.parent if node is not None else None
        while parent is not None:
            parent.expand()
            parent = parent.parent

    # --- status line -----------------------------------------------------------------------------------
    def set_status(self, text: Text) -> None:
        self.status_text = safe_text(text)
        self.query_one("#status", Static).update(self.status_text)

    def _summary_status(self) -> Text:
        n = sum(1 for s in self.sources if s.kind == "store")
        bad = sum(1 for s in self.sources if s.kind == "problem")
        text = Text(f"{n} store{'s' * (n != 1)}")
        if bad:
            text.append(f" · {bad} path{'s' * (bad != 1)} without a store", style="red")
        if self.poll > 0:
            text.append(f" · polled every {self.poll:g} s")
        text.append(" · ? for help")
        return text


def build_detail(ref: NodeRef, listings: dict[Path, Listing], items: list[details.Item]) -> Detail:
    """The detail for one node, read in a worker thread from the current listings."""
    export_dir = ref.root.parent if ref.root is not None else None
    if ref.kind == "compare":
        return details.compare_detail(items)
    if ref.kind == "problem":
        return details.problem_detail(ref.path or Path("?"), ref.reason)
    if ref.kind in ("group", "file", "dataset") and ref.path is None:
        return Detail(key=ref.key, title=ref.key, message="no file for this node")
    listing = listings.get(ref.root) if ref.root is not None else None
    if ref.kind == "store" and listing is not None:
        return details.store_detail(listing)
    if ref.kind == "run" and listing is not None:
        group = listing.group(ref.label)
        if group is not None:
            return details.run_detail(listing, group)
    if ref.kind == "study" and listing is not None:
        entry = listing.entry(ref.stage_id)
        if entry is not None:
            return details.study_detail(listing, entry)
    if ref.kind == "file" and ref.path is not None:
        return details.file_detail(ref.path)
    if ref.kind == "group" and ref.path is not None:
        return details.group_detail(ref.path, ref.name, export_dir, ref.root)
    if ref.kind == "dataset" and ref.path is not None:
        return details.dataset_detail(ref.path, ref.name, export_dir, ref.root)
    return Detail(key=ref.key, title=ref.key, message="this node is gone from the store (it was re-read)")


def run_tui(paths: Sequence[Path | str], *, poll: float = DEFAULT_POLL_SECONDS) -> None:
    RedundancyApp(paths, poll=poll).run()
