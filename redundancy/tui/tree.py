"""The store tree: the widget, its node references, its labels, and keeping it in step with the stores.

:class:`TreeSync` is the part of the app that owns the tree: it turns listings
(see :mod:`redundancy.tui.source`) into nodes in place, keeping what is
expanded, marked and under the cursor across refreshes, and lists an HDF5
group's members only when its node is opened. Every label is a ``Text`` with
its store text made safe (:func:`redundancy.tui.text.safe_text`); the labels
themselves are made in :mod:`redundancy.tui.labels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from redundancy.tui import details, source
from redundancy.tui.labels import member_label, problem_label, run_label, store_label, study_label
from redundancy.tui.nodes import RunNode, node_kind
from redundancy.tui.source import Listing, Source
from redundancy.tui.text import safe_text

__all__ = ["NodeRef", "StoreTree", "TreeSync", "member_label", "problem_label", "run_label", "store_label", "study_label"]


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
        return node_kind(self.kind).markable


class StoreTree(Tree[NodeRef]):
    """The tree of stores, runs, studies and datasets; space marks for compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="tree.mark", tooltip="mark or unmark a run or study for comparison"),
        Binding("right", "open", "Open", show=False, id="tree.open", key_display="→", tooltip="open a node (datasets load when opened), or step onto its first child"),
        Binding("left", "close", "Close", show=False, id="tree.close", key_display="←", tooltip="close a node, or step onto its parent"),
        Binding("enter", "select_cursor", "Open/close", show=False, tooltip="open or close the node; the right pane shows whatever the cursor is on"),
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


class TreeSync:
    """Tree upkeep for the app: apply a scan, sync children in place, label nodes, list HDF5 groups."""

    nodes: dict[str, TreeNode[NodeRef]]
    marked: list[str]
    sources: list[Source]
    listings: dict[Path, Listing]
    query_one: Any

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
                desired.append((key, NodeRef("store", key, root=src.path), store_label(listing), True))
            elif src.kind == "file":
                key = details.h5_key(src.path, "/")
                ref = NodeRef("file", key, path=src.path, name="/")
                desired.append((key, ref, Text(f"≡ {src.path.name}"), True))
            else:
                key = f"problem:{src.path}"
                ref = NodeRef("problem", key, path=src.path, reason=src.reason)
                desired.append((key, ref, problem_label(str(src.path), src.reason), False))
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
    def on_tree_node_expanded(self, event: StoreTree.NodeExpanded[NodeRef]) -> None:
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
