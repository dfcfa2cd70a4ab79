"""The store tree: a widget that keeps itself in step with the stores and holds the marks for compare.

:class:`StoreTree` owns what it shows: the stores' listings (see
:mod:`redundancy.tui.source`), one node per stable key, and the runs and studies
marked for comparison. :meth:`StoreTree.apply_scan` turns listings into nodes in
place, keeping what is expanded, marked and under the cursor across refreshes;
an HDF5 group's members are listed only when its node is opened. It says what
happens through messages: Textual's ``NodeHighlighted`` when the cursor moves
(the pane shows that node), :class:`StoreTree.MarksChanged` when a mark is set
or cleared. Every label is a ``Text`` with its store text made safe
(:func:`redundancy.tui.text.safe_text`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from redundancy.tui import details, source
from redundancy.tui.compare import Item
from redundancy.tui.labels import member_label, problem_label, run_label, store_label, study_label
from redundancy.tui.nodes import NodeRef, RunNode, marked_items, node_kind
from redundancy.tui.source import Listing, Source
from redundancy.tui.text import safe_text

__all__ = ["MIN_TREE", "NodeRef", "StoreTree", "member_label"]

MIN_TREE = 12  # columns the tree keeps when narrowed


class StoreTree(Tree[NodeRef]):
    """The tree of stores, runs, studies and datasets; space marks for compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="tree.mark", tooltip="mark or unmark a run or study for comparison"),
        Binding("right", "open", "Open", show=False, id="tree.open", key_display="→", tooltip="open a node (datasets load when opened), or step onto its first child"),
        Binding("left", "close", "Close", show=False, id="tree.close", key_display="←", tooltip="close a node, or step onto its parent"),
        Binding("enter", "select_cursor", "Open/close", show=False, tooltip="open or close the node; the right pane shows whatever the cursor is on"),
    ]

    class MarksChanged(Message):
        """A run or study was marked or unmarked (space); ``marked`` is every mark, in the order made."""

        def __init__(self, marked: tuple[str, ...]) -> None:
            super().__init__()
            self.marked = marked

    class NotMarkable(Message):
        """Space on a node that cannot be compared (a store, a dataset)."""

    def __init__(self, label: Text, *, id: str | None = None) -> None:
        super().__init__(label, id=id)
        self.show_root = False
        self.guide_depth = 2
        self.sources: list[Source] = []
        self.listings: dict[Path, Listing] = {}
        self.nodes: dict[str, TreeNode[NodeRef]] = {}
        self.marked: list[str] = []

    # --- keys ---------------------------------------------------------------------------------------
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

    def action_mark(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        ref = node.data
        if ref is None or not ref.markable:
            self.post_message(self.NotMarkable())
            return
        if ref.key in self.marked:
            self.marked.remove(ref.key)
        else:
            self.marked.append(ref.key)
        node.set_label(self._marked_label(ref.key, ref.title or Text(ref.key)))
        self.post_message(self.MarksChanged(tuple(self.marked)))

    # --- what others ask of the tree ------------------------------------------------------------------
    def marked_items(self) -> list[Item]:
        """The marked runs and studies still in the tree, resolved for a comparison."""
        refs = {key: node.data for key, node in self.nodes.items() if node.data is not None and key in self.marked}
        return marked_items(self.marked, refs, self.listings)

    def member_texts(self) -> list[tuple[str, str]]:
        """(key, label) of every HDF5 member listed so far, for search."""
        return [(key, node.label.plain if isinstance(node.label, Text) else str(node.label)) for key, node in list(self.nodes.items()) if key.startswith("h5:")]

    def go_to(self, key: str) -> None:
        """Open the tree down to the node with ``key`` and put the cursor on it."""
        self.reveal(key)
        node = self.nodes.get(key)
        if node is None:
            return
        # Nodes just revealed get their line numbers at the next repaint; move after it.
        self.call_after_refresh(self.move_cursor, node)
        self.focus()

    def resize(self, step: int, room: int) -> int:
        """Widen or narrow by ``step`` columns, to at least :data:`MIN_TREE` and at most ``room``; the new width."""
        width = max(MIN_TREE, min(self.outer_size.width + step, room))
        self.styles.min_width = MIN_TREE
        self.styles.max_width = width  # the stylesheet's bounds give way to the chosen width
        self.styles.width = width
        return width

    # --- keeping in step with the stores ------------------------------------------------------------------
    def apply_scan(self, sources: list[Source], fresh: dict[Path, Listing]) -> set[Path]:
        """Show ``sources``, with ``fresh`` listings of the stores that changed; returns those stores."""
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
                desired.append((key, NodeRef("store", key, root=src.path), store_label(listing), True))
            elif src.kind == "file":
                key = details.h5_key(src.path, "/")
                ref = NodeRef("file", key, path=src.path, name="/")
                desired.append((key, ref, Text(f"≡ {src.path.name}"), True))
            else:
                key = f"problem:{src.path}"
                ref = NodeRef("problem", key, path=src.path, reason=src.reason)
                desired.append((key, ref, problem_label(str(src.path), src.reason), False))
        created = self._sync(self.root, desired)
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
            out.append((key, NodeRef("run", key, root=root, label=group.label), run_label(group), True))
        for problem in listing.problems:
            key = f"problem:{problem.path}"
            ref = NodeRef("problem", key, root=root, path=problem.path, reason=problem.reason)
            out.append((key, ref, problem_label(problem.path.name, problem.reason), False))
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
            out.append((key, ref, study_label(entry), entry.status == "done"))
        train = group.train
        if train is not None and train.status == "done" and train.path is not None:
            key = details.h5_key(train.path, "/")
            ref = NodeRef("group", key, root=root, path=train.path, name="/", mtime_ns=train.mtime_ns)
            out.append((key, ref, Text("≡ datasets ") + Text(train.id, style="dim"), True))
        elif train is not None and train.status in ("unreadable", "corrupt"):
            key = f"problem:{train.path}"
            name = train.path.name if train.path else train.id
            out.append((key, NodeRef("problem", key, root=root, path=train.path, reason=train.error), problem_label(name, train.error), False))
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
                if node_kind(ref.kind) is RunNode and node.children and ref.root in self.listings:
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

    # --- lazy HDF5 children --------------------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        node = event.node
        ref = node.data
        if ref is None:
            return
        if node_kind(ref.kind) is RunNode and ref.root in self.listings and not node.children:
            self._sync(node, self._run_children(self.listings[ref.root], ref.label))
        elif node_kind(ref.kind).lazy and not ref.loaded:
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
            child = node.add_leaf(safe_text(problem_label(ref.path.name, str(exc))), NodeRef("problem", key, root=ref.root, path=ref.path, reason=str(exc)))
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
                label = Text(member_label(m.name)) + Text(f"  {shape} {m.dtype}", style="dim")
                child = node.add_leaf(safe_text(label), NodeRef("dataset", key, root=ref.root, path=ref.path, name=m.path, mtime_ns=ref.mtime_ns))
            self.nodes[key] = child

    def reveal(self, key: str) -> None:
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
